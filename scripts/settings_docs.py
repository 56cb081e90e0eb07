"""Generate the settings reference and the example environment from the settings classes.

    .venv/bin/python scripts/settings_docs.py --write   # docs/settings.md, cloud.example.env
    .venv/bin/python scripts/settings_docs.py --check   # exit 1 if either is stale

The variables, defaults and meanings come from `cloud.environment.variables()` (every
pydantic-settings class of the cloud, plus the few variables read elsewhere), so neither file
can drift from the code; tests/config/test_settings_docs.py runs `--check`.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from cloud.environment import variables

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "settings.md"
ENV = ROOT / "config" / "cloud.example.env"
BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"

# Set in the example (a production server needs them); every other line is a commented default.
EXAMPLE_VALUES = {
    "WAYSTATION_DB": "postgresql+psycopg://waystation:change-me@127.0.0.1:5432/waystation",
    "WAYSTATION_BROKER": "mqtt://cloud-api:change-me@127.0.0.1:1883",
    "WAYSTATION_ISSUER_PASSPHRASE_FILE": "/etc/waystation/issuer-passphrase",
}
# Read by a station or the scripts, not by the cloud: in the reference, not in the example.
NOT_CLOUD = {"WAYSTATION_MQTT_PASSWORD", "WAYSTATION_NO_APT", "WAYSTATION_TEST_PG"}

ENV_HEADER = """\
# Environment of `waystation cloud serve` and `waystation cloud ingest` (and the `members`
# tools). Generated from the settings classes by scripts/settings_docs.py; the meaning of each
# is in docs/settings.md. Lines starting with `# WAYSTATION_` show the built-in default.
# A WAYSTATION_* variable the cloud does not know stops it at start, naming the closest one.
#
# One broker login per process (the broker takes the login as the client id; two processes
# on one login disconnect each other): WAYSTATION_BROKER here is `cloud serve`'s; give each
# `cloud ingest` worker its own (cloud-ingest-1, …) with --broker or an environment of its own.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table() -> str:
    rows = ["| variable | default | read by | meaning |", "|---|---|---|---|"]
    for v in variables():
        default = f"`{v.default}`" if v.default else "(none)"
        rows.append(f"| `{v.name}` | {_cell(default)} | {v.read_by} | {_cell(v.meaning)} |")
    return "\n".join(rows)


def example_env() -> str:
    lines = [ENV_HEADER]
    for v in variables():
        if v.name in NOT_CLOUD:
            continue
        for part in textwrap.wrap(v.meaning, 96) or [""]:
            lines.append(f"# {part}".rstrip())
        if v.name in EXAMPLE_VALUES:
            lines.append(f"{v.name}={EXAMPLE_VALUES[v.name]}")
        else:
            lines.append(f"# {v.name}={v.default}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def render_doc(text: str) -> str:
    start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + table() + "\n" + text[stop:]


def main(argv: list[str]) -> int:
    doc = DOC.read_text(encoding="utf-8")
    fresh_doc, fresh_env = render_doc(doc), example_env()
    if argv == ["--check"]:
        stale = [p.name for p, ok in ((DOC, fresh_doc == doc),
                 (ENV, ENV.read_text(encoding="utf-8") == fresh_env)) if not ok]  # fmt: skip
        if stale:
            print(f"stale: {', '.join(stale)}: run scripts/settings_docs.py --write")
            return 1
        return 0
    if argv == ["--write"]:
        DOC.write_text(fresh_doc, encoding="utf-8")
        ENV.write_text(fresh_env, encoding="utf-8")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
