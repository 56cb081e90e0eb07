"""Every library module has a test that imports it.

A module exercised only through others (the writer through the ingest worker, the backoff
through a live link) breaks far from where the test fails, or without any test failing. So
each module of `protocol`, `edge` and `cloud` is imported by at least one test module
(`tests/**/test_*.py`), its direct test living at the mirrored path (`edge/link/backoff.py` →
`tests/edge/link/test_backoff.py`). Not counted: packages' `__init__`, Alembic migrations,
the web assets' packages and the API's route modules (their tests go through `create_app`
and HTTP, the path users take). The few modules left without a direct test are listed below
with the reason; a new one fails here.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from tests.support.imports import ROOT, imports, modules

LIBRARIES = ("protocol", "edge", "cloud")
SKIPPED_PREFIXES = ("cloud.migrations.", "cloud.web.")

# Modules deliberately without a test importing them, and why. Keep it short.
WITHOUT_DIRECT_TEST: dict[str, str] = {
    "cloud.api.deps": "FastAPI dependencies reading app.state; every API test goes through them",
    "cloud.auth.deps": "FastAPI auth dependencies; tests/cloud/auth/test_cloud_auth_api.py",
    "cloud.auth.auditlog": "one insert; the auth API tests read the audit rows it writes",
    "cloud.auth.login": "password login; tests/cloud/auth/test_cloud_auth_api.py and the CLI",
    "cloud.ops.fleet": "fleet views; tests/cloud/api/test_cloud_api_ops.py over HTTP",
    "edge.hw.pins": "real GPIO or a refusal to run on mock pins; tests/waystation/test_cli_edge.py",
    "cloud.credentials.bulk": "the import's writes; tests/credentials/test_cred_member_import.py "
    "on SQLite and PostgreSQL through the CLI",
    "cloud.credentials.passes": "printed passes; tests/waystation/test_cli_member_pass.py reads "
    "the codes back and verifies them at a door",
    "cloud.credentials.sheets": "pages of slips and passes; the import and pass tests read their "
    "QR codes back with zxing",
    "cloud.credentials.renewal": "renewal rules; tests/credentials/test_cred_renewal.py over the "
    "API on SQLite and PostgreSQL (revoked, suspended, ended, forged, stale, unknown)",
    "cloud.ingest.refusals": "counts and the rate-limited log; "
    "tests/cloud/ingest/test_refusals.py through the Ingestor",
    "edge.feedback.voice": "the player process; tests/edge/test_edge_feedback.py with a fake "
    "player on PATH",
}


def _route_module(path: Path) -> bool:
    """An API module that declares routes (`APIRouter(`): tested over HTTP."""
    return path.parent == ROOT / "cloud" / "api" and "APIRouter(" in path.read_text("utf-8")


def library_modules() -> dict[str, Path]:
    """The library modules that should have a direct test."""
    return {
        name: path
        for name, path in modules()
        if name.split(".")[0] in LIBRARIES
        and path.name != "__init__.py"
        and not name.startswith(SKIPPED_PREFIXES)
        and not _route_module(path)
    }


@cache
def imported_by_tests() -> frozenset[str]:
    """Every module some test module imports (any import, also inside a function)."""
    found: set[str] = set()
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found.update(target for target, _ in imports(name, path, top_level_only=False))
    return frozenset(found)


def test_every_library_module_is_imported_by_a_test() -> None:
    untested = set(library_modules()) - imported_by_tests()
    new = sorted(untested - set(WITHOUT_DIRECT_TEST))
    assert not new, (
        "library modules that no test imports (write tests/<package>/<path>/test_<name>.py, "
        "or say why not in WITHOUT_DIRECT_TEST):\n" + "\n".join(new)
    )


def test_the_allow_list_names_only_untested_modules() -> None:
    """An entry whose module is gone or has got a test is stale: remove it."""
    known = library_modules()
    tested = imported_by_tests()
    stale = sorted(m for m in WITHOUT_DIRECT_TEST if m not in known or m in tested)
    assert not stale, "stale WITHOUT_DIRECT_TEST entries:\n" + "\n".join(stale)


def test_a_route_module_is_told_apart_from_a_helper() -> None:
    api = ROOT / "cloud" / "api"
    assert _route_module(api / "health.py")
    assert not _route_module(api / "deps.py")
    assert "cloud.api.deps" in library_modules()
    assert "cloud.api.health" not in library_modules()
