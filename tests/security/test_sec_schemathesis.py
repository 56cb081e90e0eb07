"""schemathesis against the app's own OpenAPI schema (`/openapi.json` of `create_app`).

Every operation gets a bounded number of generated requests (valid and invalid), sent with
credentials that get past the door: an ops admin's API token (ops and member administration
alike), on SQLite and on PostgreSQL. Checks: no 5xx, the body of every 2xx
matches its schema, headers and content types are the documented ones. A few stations, a
member, an issuer key, a worker's report and a suggestion are in the database, and a second
pass pins path parameters to them (`st-001`, `shanghai`, `m-1`, report and suggestion 1) to
get past "not found".
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)
from sqlmodel import select

from cloud.auth import Role, create_user, issue_token, passwords
from cloud.auth.models import ApiToken
from cloud.credentials import issuer as I  # noqa: N812
from cloud.credentials.context import CredentialContext, CredentialSettings
from cloud.credentials.keys import Passphrase
from cloud.db import init_db, make_engine, session
from cloud.feedback import records
from cloud.main import create_app
from cloud.models import Station
from cloud.settings import Settings

OPS_USER = "root"
# Per operation and mode (~50 operations); WS_FUZZ_EXAMPLES=200 for a deeper run by hand.
# ~30 s per database on an idle 2-core machine; no wall-clock assertion (a loaded runner is
# slower, and speed is the benchmarks' business), pytest's timeout bounds a hang.
MAX_EXAMPLES = int(os.environ.get("WS_FUZZ_EXAMPLES", "8"))


def success_schema_conformance(ctx: Any, response: Any, case: Any) -> bool | None:
    """The body of a 2xx matches its schema. Error bodies are not checked: the app's own
    4xx answers say `{"detail": "<why>"}` while FastAPI documents every 422 as its
    validation-error list, so checking them would only test FastAPI's documentation."""
    if 200 <= response.status_code < 300:
        return response_schema_conformance(ctx, response, case)
    return None


# Path parameters naming rows the fixture made, for a pass that gets past "not found".
KNOWN = {
    "sid": "st-001", "station_id": "st-001", "city": "shanghai", "member_id": "m-1",
    "kind": "report", "item_id": "1", "report_id": "1", "suggestion_id": "1",
}  # fmt: skip
CHECKS = [
    not_a_server_error,
    success_schema_conformance,
    response_headers_conformance,
    content_type_conformance,
]


@dataclass
class Run:
    """What a fuzz run needs between requests."""

    app: Any
    ops_token: str
    ops_token_id: int
    published: list[Any] = field(default_factory=list)
    succeeded: set[str] = field(default_factory=set)  # operations that answered a 2xx


@pytest.fixture
def run(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    """The app on SQLite and on PostgreSQL (which refuses more: NUL in text, big numbers)."""
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))
    url = db_url
    engine = make_engine(url)
    init_db(engine)
    now = datetime.now(UTC)
    vault = I.KeyVault(Passphrase("schemathesis test passphrase"))
    with session(engine) as s:
        I.create_issuer(s, vault, kid="st-1", now=now)
        for n in range(1, 4):
            s.add(Station(id=f"st-00{n}", name=f"S{n}", lat=31.23, lon=121.47, city="shanghai"))
    with engine.begin() as conn:  # a worker's report and suggestion: report 1, suggestion 1
        records.add_report(conn, station_id="st-001", kind="dirty", text="", now=now)
        records.add_suggestion(conn, lat=31.24, lon=121.48, name="S", note="", now=now)
    create_user(engine, OPS_USER, Role.ADMIN, "correct horse battery")
    token = issue_token(engine, OPS_USER, name="schemathesis")
    with session(engine) as s:
        token_id = s.exec(select(ApiToken.id)).one() or 0
    app = create_app(
        Settings(db=url, index_refresh_s=0, rate_limit_burst=100_000, cookie_secure=False),
        engine=engine,
    )
    app.state.credentials = CredentialContext(CredentialSettings(), vault)
    state = Run(app, token, token_id)
    app.state.publish = state.published.extend  # ops commands: recorded, no broker needed
    with TestClient(app) as client:  # lifespan: migrations, nearby index
        admin = {"Authorization": f"Bearer {token}"}
        assert client.put("/api/v1/members/m-1", json={}, headers=admin).is_success
        yield state
    engine.dispose()


@pytest.mark.timeout(300)
def test_api_has_no_server_errors(run: Run) -> None:
    """Every operation, positive and negative data; all failures are listed at the end."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", run.app)
    failures: list[str] = []
    labels: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)
        names = set(re.findall(r"{(\w+)}", operation.path))
        passes: list[tuple[str, dict[str, str] | None]] = [("positive", None), ("negative", None)]
        if names and names <= KNOWN.keys():  # again on rows that exist: past the 404s
            passes.append(("positive", {n: KNOWN[n] for n in names}))
        for mode, pinned in passes:
            try:
                _fuzz(run, operation.as_strategy(GenerationMode(mode), path_parameters=pinned))
            except Unsatisfiable:
                pass  # nothing to make invalid (no parameters, no body) in negative mode
            except (FailureGroup, Exception) as exc:  # FailureGroup: a check failed
                failures.append(f"{operation.label} ({mode}): {exc}")
    assert len(labels) >= 40  # the whole API, not an empty schema
    # the credentials work: most operations were reached past auth, ops ones included
    missed = sorted(set(labels) - run.succeeded)
    assert len(run.succeeded) > len(labels) // 2, missed
    assert "GET /api/v1/ops/fleet" in run.succeeded
    assert "POST /api/v1/ops/stations/{sid}/commands" in run.succeeded
    assert not failures, "\n\n".join(failures)


def _fuzz(run: Run, strategy: Any) -> None:
    @given(strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,  # SQLite and Argon2 vary on a loaded CI machine; BUDGET_S bounds time
        suppress_health_check=list(HealthCheck),
        derandomize=True,  # the same requests every run: a failure is reproducible
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report the first failure
    )
    def one(case: Any) -> None:
        _keep_our_credentials(run, case)
        response = case.call_and_validate(
            headers={"Authorization": f"Bearer {run.ops_token}"}, checks=CHECKS
        )
        if response.status_code < 300:
            run.succeeded.add(case.operation.label)

    one()


def _keep_our_credentials(run: Run, case: Any) -> None:
    """Random ids may name the account or token this run logs in with: revoking, disabling or
    re-passwording it would turn the rest of the run into 401s. Aim those at another one."""
    params = case.path_parameters or {}
    if params.get("token_id") == run.ops_token_id:
        params["token_id"] = run.ops_token_id + 1
    if str(params.get("username", "")).strip().lower() == OPS_USER:
        params["username"] = "someone-else"


def test_schema_covers_every_api_route(tmp_path: Path) -> None:
    """The fuzz above only reaches what the schema lists: every JSON route must be in it."""
    app = create_app(Settings(db=f"sqlite:///{tmp_path / 'x.db'}"))
    paths = set(app.openapi()["paths"])
    for needed in (
        "/api/v1/stations/nearby",
        "/api/v1/ops/stations/{sid}/commands",
        "/api/v1/ops/auth/tokens/{token_id}/revoke",
        "/api/v1/members/{member_id}/tokens",
        "/api/v1/reports",
    ):
        assert needed in paths
