"""Anonymous logins against the running server: what one client address can make it do.

- Password hashing is bounded: each login costs one Argon2 hash (64 MiB, ~0.1 s of a core);
  a per-address budget is spent before any hashing, and a process computes at most
  `password_hash_slots` hashes at once, refusing the rest at once (503) instead of queueing
  them in the thread pool the other routes need.
- Password spraying (one wrong password for each of many usernames) locks the address.
- The client address is the TCP peer unless a proxy is configured: a rotated
  X-Forwarded-For from loopback neither escapes the lock-out nor opens /metrics.

The hashing tests count hashes (and hold them open) instead of timing anything: latency
under load is a benchmark's business, the mechanism is the test's.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from argon2 import PasswordHasher, profiles
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlmodel import Session, select
from typer.testing import CliRunner

from cloud.api.ratelimit import AUTH_PATHS, ENROL_PATH, LOGIN_PATH
from cloud.auth import Role, create_user, issue_token, passwords
from cloud.auth.models import LoginThrottle, OpsSession
from cloud.auth.throttle import ADDRESS_FREE_FAILURES, FREE_FAILURES
from cloud.client_address import address_key
from cloud.db import init_db, make_engine
from cloud.main import create_app
from cloud.settings import Settings
from tests.support.server import uvicorn_thread
from tests.support.wait import wait_for
from waystation.cli.cloud import http_protocol
from waystation.mosquitto import free_port

ROOT = Path(__file__).resolve().parents[2]
WAYSTATION = str(Path(sys.executable).with_name("waystation"))
PASSWORD = "correct horse battery"
WRONG = "not the password"
NEARBY = "/api/v1/stations/nearby?lat=31.23&lon=121.47"


class CountingHasher:
    """Argon2 at its cheapest, counting the work and holding each `verify` (the hash a login
    costs) until `release` is set, so a test can see which requests wait on a hash."""

    def __init__(self, *, hold: bool = False) -> None:
        self.real = PasswordHasher.from_parameters(profiles.CHEAPEST)
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self._lock = threading.Lock()
        self.verifies = 0
        self.running = 0
        self.peak = 0

    def hash(self, password: str) -> str:
        return self.real.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        with self._lock:
            self.verifies += 1
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            self.release.wait(60)
            return self.real.verify(password_hash, password)
        finally:
            with self._lock:
                self.running -= 1

    def check_needs_rehash(self, password_hash: str) -> bool:
        return False


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2025, 6, 2, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _call(
    url: str, *, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as r:  # noqa: S310 (loopback)
            r.read()
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code, dict(exc.headers)


def _login(base: str, username: str, password: str = WRONG, **headers: str) -> int:
    body = {"username": username, "password": password}
    return _call(f"{base}{LOGIN_PATH}", body=body, headers=headers)[0]


@contextmanager
def _all_slots_taken() -> Iterator[None]:
    """Every hashing slot held (each by a thread of its own, as requests would hold them)."""
    gate, release = passwords.GATE, threading.Event()
    holding = threading.Semaphore(0)

    def hold() -> None:
        with gate.slot():
            holding.release()
            release.wait(30)

    threads = [threading.Thread(target=hold, daemon=True) for _ in range(gate.slots)]
    for t in threads:
        t.start()
    for _ in threads:
        assert holding.acquire(timeout=10)
    try:
        yield
    finally:
        release.set()
        for t in threads:
            t.join(10)


@pytest.fixture
def serve() -> Iterator[Callable[[FastAPI, Settings], str]]:
    """Run an app under uvicorn on 127.0.0.1 as `cloud serve` configures it (the corked
    protocol, the proxy options of its settings); its base URL."""
    with ExitStack() as stack:

        def start(app: FastAPI, settings: Settings) -> str:
            options = {"http": http_protocol(), **settings.proxy_options}
            return f"http://127.0.0.1:{stack.enter_context(uvicorn_thread(app, **options))}"

        yield start


@pytest.fixture
def sqlite(tmp_path: Path) -> str:
    """A migrated SQLite database with an admin (password PASSWORD, cheap hash)."""
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    engine = make_engine(url)
    init_db(engine)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(passwords, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))
        create_user(engine, "admin", Role.ADMIN, PASSWORD)
    engine.dispose()
    return url


# --- item: hashing can no longer stall the server --------------------------------------------


def test_48_concurrent_logins_hash_at_most_the_slots_and_health_stays_up(
    sqlite: str, serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Story: 48 concurrent anonymous logins each held an Argon2 hash (64 MiB) in the thread
    pool: /healthz went from 2 ms to 3.65 s, nearby to 1.3 s, the server to 1 GiB.

    Here every hash is held open until the test lets go. Only `password_hash_slots` logins
    may be hashing; every other one is answered at once (429 from the per-address budget,
    503 from the hashing gate), and /healthz and the nearby search answer while the hashes
    are still running. The old server started a hash for each of the 40 pool threads and
    answered nothing (health included) until they finished."""
    settings = Settings(db=sqlite, index_refresh_s=0)
    hasher = CountingHasher(hold=True)
    monkeypatch.setattr(passwords, "HASHER", hasher)
    base = serve(create_app(settings), settings)
    slots, burst, n = settings.password_hash_slots, settings.auth_burst, 48
    with ThreadPoolExecutor(n) as pool:
        futures: list[Future[int]] = [pool.submit(_login, base, f"ghost-{i}") for i in range(n)]
        try:
            wait_for(
                lambda: sum(f.done() for f in futures) >= n - slots,
                20,
                lambda: (
                    f"the logins not hashing to be answered at once (answered: "
                    f"{sum(f.done() for f in futures)} of {n}, hashing: {hasher.running})"
                ),
            )
            assert hasher.running == slots
            early = Counter(f.result() for f in futures if f.done())
            assert set(early) <= {429, 503}, early
            # the budget lets `burst` through (one more if a token came back meanwhile)
            assert early[429] >= n - burst - 1, early
            assert early[503] >= burst - slots - 1, early
            # the rest of the server answers while hashes are running
            assert _call(f"{base}/healthz")[0] == 200
            assert _call(f"{base}{NEARBY}")[0] == 200
            assert hasher.verifies == slots  # nobody else hashed, or waits to
        finally:
            hasher.release.set()
        late = [f.result(timeout=30) for f in futures]
    assert Counter(late)[401] == slots  # the hashed ones are ordinary refusals
    assert hasher.verifies == slots
    assert hasher.peak == slots


def test_the_address_budget_is_spent_before_any_hashing(
    tmp_path: Path, sqlite: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Story: a login was hashed for anyone who asked, as often as they asked (and an
    enrolment signed as often), so one address could keep the server's cores busy.

    With a budget of 3, the 4th login from an address is a 429 without a hash, the 4th
    enrolment a 429 before its body is read; another address has a budget of its own; an
    IPv6 client is counted by its /64."""
    hasher = CountingHasher()
    monkeypatch.setattr(passwords, "HASHER", hasher)
    settings = Settings(db=sqlite, auth_burst=3, auth_rate_per_s=0.001)
    app = create_app(settings)
    body = {"username": "admin", "password": WRONG}
    with ExitStack() as stack:

        def client(host: str) -> TestClient:
            return stack.enter_context(TestClient(app, client=(host, 40000)))

        one = client("198.51.100.1")
        statuses = [one.post(LOGIN_PATH, json=body).status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
        assert hasher.verifies == 3
        refused = one.post(LOGIN_PATH, json=body)
        assert int(refused.headers["retry-after"]) >= 1
        enrolments = [one.post(ENROL_PATH, json={}).status_code for _ in range(4)]
        assert enrolments == [422, 422, 422, 429]  # its own budget, spent before validation
        assert client("198.51.100.2").post(LOGIN_PATH, json=body).status_code == 401
        # IPv6: one subscriber's /64 is one client
        for _ in range(3):
            assert client("2001:db8:1:2::1").post(LOGIN_PATH, json=body).status_code == 401
        assert client("2001:db8:1:2::ffff").post(LOGIN_PATH, json=body).status_code == 429
        assert client("2001:db8:1:3::1").post(LOGIN_PATH, json=body).status_code == 401
    assert hasher.verifies == 3 + 1 + 3 + 1


def test_the_limited_paths_are_the_real_login_and_enrolment_routes(tmp_path: Path) -> None:
    """A renamed route would silently fall out of the per-address budget."""
    app = create_app(Settings(db=f"sqlite:///{tmp_path / 'r.db'}"))
    paths = app.openapi()["paths"]
    posts = {path for path, operations in paths.items() if "post" in operations}
    assert set(AUTH_PATHS) <= posts


def test_address_keys() -> None:
    assert address_key("203.0.113.9") == "203.0.113.9"
    assert address_key("::ffff:203.0.113.9") == "203.0.113.9"
    assert address_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert address_key(None) == "unknown"
    assert address_key("testclient") == "testclient"


def test_every_hash_goes_through_the_slots(sqlite: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Story: account creation and password changes hashed without any bound, like logins.

    With every slot taken, each hashing path refuses at once: login (503, nothing counted
    against the throttle: no password was checked), an admin creating an account or setting
    a password (503), and the functions themselves."""
    monkeypatch.setattr(passwords, "HASHER", CountingHasher())
    app = create_app(Settings(db=sqlite, cookie_secure=False))
    engine = app.state.ctx.engine
    admin = {"Authorization": f"Bearer {issue_token(engine, 'admin')}"}
    new_user = {"username": "newbie", "role": "viewer", "password": "another good pass"}
    with TestClient(app) as client, ExitStack() as held:
        held.enter_context(_all_slots_taken())
        for attempt in (
            lambda: passwords.hash_password(PASSWORD),
            lambda: passwords.verify_password("$argon2id$x", PASSWORD),
            lambda: passwords.burn(PASSWORD),
        ):
            with pytest.raises(passwords.HashingBusyError):
                attempt()
        busy = [
            client.post(LOGIN_PATH, json={"username": "admin", "password": PASSWORD}),
            client.post(LOGIN_PATH, json={"username": "ghost", "password": PASSWORD}),
            client.post("/api/v1/ops/auth/users", json=new_user, headers=admin),
            client.post(
                "/api/v1/ops/auth/users/admin/password",
                json={"password": "a new good password"},
                headers=admin,
            ),
        ]
        for r in busy:
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] == "1"
        with Session(engine) as s:
            assert s.exec(select(LoginThrottle)).all() == []
        held.close()  # slots free again: the same requests go through
        ok = client.post(LOGIN_PATH, json={"username": "admin", "password": PASSWORD})
        assert ok.status_code == 200
        assert (
            client.post("/api/v1/ops/auth/users", json=new_user, headers=admin).status_code == 201
        )


# --- item: password spraying and forwarded addresses -----------------------------------------


def test_password_spraying_from_one_address_locks_the_address(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Story: one wrong password for each of 60 usernames from one address was never
    throttled (the lock-out counted per username and address only).

    After ADDRESS_FREE_FAILURES failures the address is locked for every username, the right
    password of a real account included; another address is not; the lock ends and grows
    like the per-username one, and a success from the address does not reset its count."""
    monkeypatch.setattr(passwords, "HASHER", CountingHasher())
    clock = FakeClock()
    engine = make_engine(db_url)
    init_db(engine)
    create_user(engine, "admin", Role.ADMIN, PASSWORD)
    settings = Settings(db=db_url, auth_burst=10_000, cookie_secure=False)
    app = create_app(settings, engine=engine, clock=clock)
    right = {"username": "admin", "password": PASSWORD}
    try:
        with (
            TestClient(app, client=("198.51.100.7", 4000)) as sprayer,
            TestClient(app, client=("198.51.100.8", 4000)) as neighbour,
        ):
            statuses = [
                sprayer.post(LOGIN_PATH, json={"username": f"user{i}", "password": WRONG})
                for i in range(60)
            ]
            codes = [r.status_code for r in statuses]
            free = ADDRESS_FREE_FAILURES
            assert FREE_FAILURES < free < 60
            assert codes == [401] * free + [429] * (60 - free)
            r = sprayer.post(LOGIN_PATH, json={"username": "someone-new", "password": WRONG})
            assert r.status_code == 429
            locked = sprayer.post(LOGIN_PATH, json=right)
            assert locked.status_code == 429  # even the right password
            wait = int(locked.headers["retry-after"])
            assert 1 <= wait <= 15
            assert neighbour.post(LOGIN_PATH, json=right).status_code == 200
            clock.advance(wait)
            assert sprayer.post(LOGIN_PATH, json=right).status_code == 200
            # the success did not wipe the address's record: the next failure locks again,
            # for longer
            assert sprayer.post(LOGIN_PATH, json=right | {"password": WRONG}).status_code == 401
            again = sprayer.post(LOGIN_PATH, json={"username": "user0", "password": WRONG})
            assert again.status_code == 429
            assert int(again.headers["retry-after"]) > wait
    finally:
        engine.dispose()


@pytest.fixture
def cli_server(sqlite: str, tmp_path: Path) -> Iterator[str]:
    """`waystation cloud serve` with default settings (but a large login budget, so the
    database lock-out is what answers), in its own process; its base URL."""
    port = free_port()
    env = os.environ.copy() | {"WAYSTATION_AUTH_BURST": "10000"}
    for name in (
        "WAYSTATION_FORWARDED_ALLOW_IPS",
        "FORWARDED_ALLOW_IPS",
        "WAYSTATION_METRICS_TOKEN",
    ):
        env.pop(name, None)
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [WAYSTATION, "cloud", "serve", "--port", str(port), "--db", sqlite, "--no-access-log"],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                return _call(f"{base}/healthz")[0] == 200
            except OSError:
                return False

        wait_for(up, 60, "cloud serve to come up")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_a_rotated_x_forwarded_for_changes_nothing_by_default(cli_server: str) -> None:
    """Story: uvicorn believes X-Forwarded-For from 127.0.0.1 by default, so a client on (or
    relayed through) this host picked a fresh address for every attempt, past the login
    lock-out, and named itself 127.0.0.1 to /metrics.

    Against `cloud serve` with default settings: guesses at one username with a new
    X-Forwarded-For each time are locked after FREE_FAILURES; 60 sprayed usernames the
    same way lock the address; /metrics refuses a request that says it was forwarded."""
    base = cli_server
    fake = iter(f"203.0.113.{i}" for i in range(1, 250))
    codes = [_login(base, "admin", **{"X-Forwarded-For": next(fake)}) for _ in range(8)]
    assert codes == [401] * FREE_FAILURES + [429] * (8 - FREE_FAILURES)
    sprayed = [_login(base, f"user{i}", **{"X-Forwarded-For": next(fake)}) for i in range(60)]
    left = ADDRESS_FREE_FAILURES - FREE_FAILURES  # failures the address may still have
    assert sprayed == [401] * left + [429] * (60 - left)
    assert _call(f"{base}/metrics")[0] == 200  # a direct local scrape
    for header in ("X-Forwarded-For", "X-Real-IP", "Forwarded"):
        value = "for=127.0.0.1" if header == "Forwarded" else "127.0.0.1"
        assert _call(f"{base}/metrics", headers={header: value})[0] == 403, header


def test_a_configured_proxy_is_believed(
    sqlite: str, serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the proxy listed, the client is the address it forwards; without, the peer."""
    monkeypatch.setattr(passwords, "HASHER", CountingHasher())
    for trusted, expected in (("127.0.0.1", "203.0.113.9"), ("", "127.0.0.1")):
        settings = Settings(db=sqlite, cookie_secure=False, forwarded_allow_ips=trusted)
        app = create_app(settings)
        base = serve(app, settings)
        xff = {"X-Forwarded-For": "203.0.113.9"}
        assert _login(base, "admin", PASSWORD, **xff) == 200
        with Session(app.state.ctx.engine) as s:
            newest = max(s.exec(select(OpsSession)).all(), key=lambda row: row.created_at)
        assert newest.ip == expected


def test_forwarded_allow_ips_setting() -> None:
    assert Settings().proxy_options == {"proxy_headers": False}
    trusted = Settings(forwarded_allow_ips="127.0.0.1, 10.0.0.0/8,::1")
    assert trusted.proxy_options == {
        "proxy_headers": True,
        "forwarded_allow_ips": ["127.0.0.1", "10.0.0.0/8", "::1"],
    }
    for bad in ("*", "proxy.example.org", "127.0.0.1,*"):
        with pytest.raises(ValidationError):
            Settings(forwarded_allow_ips=bad)


def test_cloud_serve_passes_the_proxy_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cloud serve` hands uvicorn proxy_headers=False unless proxies are configured."""
    from waystation.cli.cloud import app as cloud_app

    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda _app, **kw: seen.append(kw))
    monkeypatch.delenv("WAYSTATION_FORWARDED_ALLOW_IPS", raising=False)
    db = f"sqlite:///{tmp_path / 's.db'}"
    runner = CliRunner()
    assert runner.invoke(cloud_app, ["serve", "--db", db]).exit_code == 0
    assert (
        runner.invoke(
            cloud_app, ["serve", "--db", db, "--forwarded-allow-ips", "10.1.2.3"]
        ).exit_code
        == 0
    )
    assert seen[0]["proxy_headers"] is False
    assert seen[1]["proxy_headers"] is True
    assert seen[1]["forwarded_allow_ips"] == ["10.1.2.3"]


def test_every_uvicorn_start_in_the_project_sets_the_proxy_options() -> None:
    """uvicorn's default believes X-Forwarded-For from loopback: every place that starts it
    must pass the settings' `proxy_options` (a new start would otherwise bring it back)."""
    starts = []
    for path in [*ROOT.joinpath("cloud").rglob("*.py"), *ROOT.joinpath("waystation").rglob("*.py")]:
        source = path.read_text(encoding="utf-8")
        if "uvicorn" not in source:
            continue
        tree = ast.parse(source)
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef):
                continue
            for call in ast.walk(fn):
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and isinstance(call.func.value, ast.Name)
                    and call.func.value.id == "uvicorn"
                    and call.func.attr in ("run", "Config")
                ):
                    starts.append(f"{path.relative_to(ROOT)}:{call.lineno}")
                    body = ast.get_source_segment(source, fn) or ""
                    assert "proxy_options" in body, f"{starts[-1]} starts uvicorn without them"
    assert len(starts) >= 4  # serve (2), the SO_REUSEPORT worker, the demo
