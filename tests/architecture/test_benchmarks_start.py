"""Every benchmark starts the way docs/benchmarks.md runs it (`python benchmarks/X.py` or
`python -m benchmarks.X`, from the checkout, nothing on PYTHONPATH): a benchmark that only
imports under pytest's path (it once took its SQL-only reference from `tests.support` and
failed as a script) is a figure nobody can reproduce."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
# Runnable ones (a module the others import, such as the footfall baseline counter, has no
# `__main__`).
SCRIPTS = sorted(
    p
    for p in (ROOT / "benchmarks").glob("*.py")
    if '__name__ == "__main__"' in p.read_text(encoding="utf-8")
)


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_the_benchmark_answers_help_as_documented(path: Path) -> None:
    module = f"benchmarks.{path.stem}"
    argv = ["-m", module] if f"-m {module}" in DOCS else [str(path.relative_to(ROOT))]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, *argv, "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "usage" in proc.stdout.lower()
