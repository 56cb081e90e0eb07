"""Every WAYSTATION_* variable is documented, and a misspelt one stops the cloud at start.

Story: `WAYSTATION_BATCH_MAXX=200` (or a leftover retired variable) was silently ignored by
pydantic-settings, and config/cloud.example.env set `BATCH_MAX=200` against a tuned default
of 5,000 that no document listed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from cloud import environment
from cloud.main import create_app
from cloud.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "settings_docs", ROOT / "scripts" / "settings_docs.py"
    )
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_and_example_env_are_current() -> None:
    assert _script().main(["--check"]) == 0, "run scripts/settings_docs.py --write"


def test_every_field_of_every_settings_class_is_a_known_variable() -> None:
    names = {v.name for v in environment.variables()}
    doc = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    for cls in environment.SETTINGS_CLASSES:
        prefix = str(cls.model_config.get("env_prefix", "")).upper()
        for field in cls.model_fields:
            name = f"{prefix}{field.upper()}"
            assert name in names
            assert f"`{name}`" in doc


def test_the_example_env_keeps_the_defaults() -> None:
    """Only the values a server must set are set; the rest are commented defaults."""
    env = (ROOT / "config" / "cloud.example.env").read_text(encoding="utf-8")
    active = [line.split("=", 1)[0] for line in env.splitlines() if line[:1] not in ("", "#")]
    assert sorted(active) == sorted(_script().EXAMPLE_VALUES)
    assert "# WAYSTATION_BATCH_MAX=5000" in env


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("WAYSTATION_BATCH_MAXX", "did you mean WAYSTATION_BATCH_MAX?"),
        ("WAYSTATION_STALE_GRACE_S", "did you mean WAYSTATION_STALE_OPEN_GRACE_S?"),
        ("WAYSTATION_FINDER_TILE", "did you mean WAYSTATION_FINDER_TILE_URL?"),
        ("WAYSTATION_ADMIN_TOKEN", "retired"),
        ("WAYSTATION_SOMETHING", "docs/settings.md"),
    ],
)
def test_unknown_or_retired_variables_are_refused_naming_the_fix(name: str, hint: str) -> None:
    with pytest.raises(SettingsError, match=name) as refused:
        environment.check({name: "200", "PATH": "/usr/bin"})
    assert hint in str(refused.value)


def test_every_documented_variable_passes_the_check() -> None:
    environment.check({v.name: v.default for v in environment.variables()} | {"HOME": "/"})


def test_the_server_does_not_start_with_a_misspelt_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAYSTATION_BATCH_MAXX", "200")
    with pytest.raises(SettingsError, match="WAYSTATION_BATCH_MAX\\?"):
        create_app(Settings(db=f"sqlite:///{tmp_path / 'x.db'}"))
