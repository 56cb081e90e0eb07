"""The compose stack's broker: provisioned, never anonymous, every client with its own login.

Story: the stack ran Mosquitto with `allow_anonymous true` because the simulated fleet had no
station passwords, so anything that reached port 1883 could publish as any station, and the
ACL and passwords `waystation provision broker` makes for a real install were never used
where most people first try the project (issue 16.10).

Without Docker, two kinds of check: the compose file's wiring (who provisions, who mounts
what, who waits for whom), and the commands the containers run, run here for real: the
one-shot `broker-setup` as the image runs it (a non-root user, the compose paths mapped into
a temporary directory), then the `mosquitto` service's own command on what it wrote, then
its clients with what they are given.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from protocol import topics
from protocol.broker import BrokerUrl
from tests.conftest import _need_mosquitto
from tests.docker.test_docker_files import (
    DOCKER,
    DOCKERFILES,
    ROOT,
    broker_clients,
    depends_on,
    dockerfile_of,
    entrypoint_and_command,
    parse_dockerfile,
    root_option,
    services,
    split_root_options,
)
from tests.support.wait import wait_for
from waystation.cloud_units import read_env_file
from waystation.mosquitto import free_port
from waystation.stack import HEALTH_FILE, HEALTH_LOGIN, cloud_env_files

SETUP = "broker-setup"
BROKER = "mosquitto"
SETTLE_S = 0.5  # time for a message that WOULD be delivered to arrive (loopback: ~ms)


# --- the compose file ---------------------------------------------------------------------------


def option(args: list[str], name: str) -> str:
    """The value of `--name X` or `--name=X` in `args`."""
    for i, token in enumerate(args):
        if token == name:
            return args[i + 1]
        if token.startswith(f"{name}="):
            return token.split("=", 1)[1]
    raise AssertionError(f"{name} not in {args}")


def setup_args() -> list[str]:
    entrypoint, command = entrypoint_and_command(SETUP)
    assert entrypoint == ["waystation"], entrypoint
    assert split_root_options(command)[1][:2] == ["provision", "stack"], command
    return command


def mounts(name: str) -> dict[str, tuple[str, bool]]:
    """Container path → (named volume, read-only) of service `name`."""
    found = {}
    for volume in services()[name].get("volumes", []):
        assert isinstance(volume, str), f"{name}: long volume syntax: teach this test to read it"
        source, target, *mode = volume.split(":")
        found[target] = (source, "ro" in mode)
    return found


def volume_at(name: str, path: str) -> tuple[str, bool, str]:
    """(volume, read-only, path inside it) of the mount of service `name` holding `path`."""
    for target, (source, ro) in mounts(name).items():
        if path == target or path.startswith(f"{target}/"):
            return source, ro, path[len(target) :].lstrip("/")
    raise AssertionError(f"{name}: {path} is on no volume: the container would not see it")


def test_no_file_in_docker_allows_anonymous_access() -> None:
    for path in DOCKER.iterdir():
        text = path.read_text(encoding="utf-8")
        assert "allow_anonymous true" not in text, path.name


def test_the_broker_runs_the_config_the_setup_step_provisions() -> None:
    args = setup_args()
    broker_dir = option(args, "--broker-dir")
    entrypoint, command = entrypoint_and_command(BROKER)
    assert [*entrypoint, *command] == ["/usr/sbin/mosquitto", "-c", f"{broker_dir}/mosquitto.conf"]
    assert dockerfile_of(BROKER) == dockerfile_of(SETUP), "provisioned and run by one image"
    written, _, _ = volume_at(SETUP, broker_dir)
    read, read_only, _ = volume_at(BROKER, broker_dir)
    assert (written, read_only) == (read, True)
    data = option(args, "--persistence-dir")
    assert volume_at(SETUP, data)[0] == volume_at(BROKER, data)[0]
    assert not volume_at(BROKER, data)[1], "Mosquitto writes its persistence file there"
    assert depends_on(services()[BROKER])[SETUP] == {"condition": "service_completed_successfully"}
    # the registry the setup gives a login per station is the one the fleet runs
    registry = option(args, "--registry")
    registry_write = entrypoint_and_command("registry-write")[1]
    assert option(registry_write, "--registry") == registry
    assert volume_at(SETUP, registry)[0] == volume_at("registry-write", registry)[0]
    assert depends_on(services()[SETUP])["registry-write"] == {
        "condition": "service_completed_successfully"
    }


def test_every_broker_client_reads_a_login_the_setup_step_wrote() -> None:
    args = setup_args()
    secrets = option(args, "--secrets")
    station_secrets = option(args, "--station-secrets")
    cloud_volume = volume_at(SETUP, secrets)[0]
    station_volume = volume_at(SETUP, station_secrets)[0]
    workers = int(option(args, "--ingest-workers"))
    expected_files = set(cloud_env_files(workers).values())
    clients = {name: broker_clients(name) for name in services() if broker_clients(name)}
    ingest = [
        n
        for n, runs in clients.items()
        if split_root_options(runs[0])[1][:2] == ["cloud", "ingest"]
    ]
    assert len(ingest) == workers, "one ingest login per ingest service"
    used_files = set()
    for name, runs in clients.items():
        assert depends_on(services()[name]).get(BROKER) == {"condition": "service_healthy"}, name
        for run in runs:
            sub = split_root_options(run)[1]
            if sub[0] == "cloud":
                (env_file,) = root_option(run, "--env-file")
                volume, read_only, inside = volume_at(name, env_file)
                assert (volume, read_only) == (cloud_volume, True), name
                assert inside in expected_files, (name, inside)
                used_files.add(inside)
                assert station_volume not in {v for v, _ in mounts(name).values()}, name
            else:
                assert sub[:2] == ["sim", "fleet"], sub
                url = BrokerUrl.parse(option(sub, "--broker"))
                assert url.username is None, "each station logs in as itself"
                assert url.password is None, "each station has a password of its own"
                assert (url.host, url.port) == ("mosquitto", 1883)
                volume, read_only, inside = volume_at(name, option(sub, "--password-dir"))
                assert (volume, read_only, inside) == (station_volume, True, "")
                assert cloud_volume not in {v for v, _ in mounts(name).values()}, name
                registry_write = entrypoint_and_command("registry-write")[1]
                for same in ("--stations", "--seed"):
                    assert option(sub, same) == option(registry_write, same), same
    assert used_files == expected_files, used_files


def test_every_image_runs_as_the_one_user_that_owns_the_secrets() -> None:
    """The setup step writes every secret 0600 as its user; the broker and the services read
    them as theirs: one uid in every image, or the broker could not read its password file
    (or the fleet its stations' passwords)."""
    users = set()
    for path in DOCKERFILES:
        dockerfile = parse_dockerfile(path)
        user = dockerfile.last("USER")
        assert user is not None
        made = [
            re.search(r"useradd\s[^&]*--uid (\d+)\s[^&]*?(\w+)\s*(?:&&|$)", i.args)
            for i in dockerfile.final
            if "useradd" in i.args
        ]
        assert len(made) == 1, path.name
        assert made[0] is not None, path.name
        assert made[0].groups() == ("10001", user.args), path.name
        users.add(user.args)
    assert users == {"waystation"}
    for name in (SETUP, BROKER, "fleet", "cloud", "ingest-1", "ingest-2"):
        assert "user" not in services()[name], f"{name} overrides its image's user"


def test_the_broker_has_a_health_check_with_a_login_and_is_published_on_this_host_only() -> None:
    dockerfile = dockerfile_of(BROKER)
    assert dockerfile is not None
    check = dockerfile.last("HEALTHCHECK")
    assert check is not None
    assert not services()[BROKER].get("healthcheck"), "the image's check, not another one"
    broker_dir = option(setup_args(), "--broker-dir")
    assert f"{broker_dir}/{HEALTH_FILE}" in check.args
    assert HEALTH_LOGIN in check.args
    assert services()[BROKER]["ports"] == ["127.0.0.1:1883:1883"]


# --- the commands, run ---------------------------------------------------------------------------


IMAGE_USER = ("nobody", "nogroup")  # when the tests run as root: a user that is not root


def as_image_user(argv: list[str]) -> list[str]:
    """`argv` run as a non-root user, as every image runs (uid 10001): as root, `nobody`
    (util-linux `setpriv`); otherwise ourselves. Root would change what Mosquitto does (it
    drops to `mosquitto`) and what provisioning does (it hands the files over)."""
    if os.geteuid() != 0:
        return argv
    user, group = IMAGE_USER
    return ["setpriv", f"--reuid={user}", f"--regid={group}", "--clear-groups", *argv]


def give_to_image_user(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, *IMAGE_USER)


@dataclass
class Container:
    """Compose paths (`/var/lib/waystation/…`) mapped under `root`, and the compose network's
    names (`mosquitto:1883`) on this host's free `port`."""

    root: Path
    port: int

    def path(self, token: str) -> str:
        name, eq, value = token.partition("=") if token.startswith("--") else ("", "", token)
        if value.startswith("/var/lib/waystation"):
            return f"{name}{eq}{self.root}{value}"
        return token

    def args(self, args: list[str]) -> list[str]:
        out = [self.path(t).replace("mosquitto:1883", f"127.0.0.1:{self.port}") for t in args]
        return ["--broker-host=127.0.0.1" if a == "--broker-host=mosquitto" else a for a in out]

    def run(self, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            as_image_user([sys.executable, "-m", "waystation.cli", *self.args(args)]),
            capture_output=True, text=True, timeout=120, check=False, cwd=self.root,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        )  # fmt: skip

    def popen(self, argv: list[str], log: Path, **env: str) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen(
                as_image_user(argv), stdout=out, stderr=subprocess.STDOUT, cwd=self.root,
                env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            )  # fmt: skip


@dataclass
class Stack:
    container: Container
    broker: subprocess.Popen[bytes]
    broker_dir: Path
    secrets: Path
    station_secrets: Path

    def env_login(self, name: str) -> BrokerUrl:
        return BrokerUrl.parse(read_env_file(self.secrets / name)["WAYSTATION_BROKER"])

    def station_password(self, sid: str) -> str:
        return (self.station_secrets / f"{sid}.password").read_text().strip()


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@dataclass(frozen=True)
class Provisioned:
    container: Container
    broker_dir: Path
    secrets: Path
    station_secrets: Path


@pytest.fixture(scope="module")
def provisioned() -> Iterator[Provisioned]:
    """registry-write and broker-setup as compose runs them (once for this module's tests)."""
    _need_mosquitto()
    root = Path(tempfile.mkdtemp(prefix="waystation-compose-"))
    try:
        for sub in ("", "var/lib/waystation", "var/lib/waystation/shared"):
            (root / sub).mkdir(parents=True, exist_ok=True)
            (root / sub).chmod(0o755)
            give_to_image_user(root / sub)
        container = Container(root, free_port())
        args = setup_args()
        # the image creates the volumes' directories, its user's, 0700 (Dockerfile.broker)
        for flag in ("--broker-dir", "--persistence-dir", "--secrets", "--station-secrets"):
            path = Path(container.path(option(args, flag)))
            path.mkdir(mode=0o700)
            give_to_image_user(path)
        for job, extra in (("registry-write", []), (SETUP, [f"--port={container.port}"])):
            done = container.run([*entrypoint_and_command(job)[1], *extra])
            assert done.returncode == 0, f"{job}: {done.stdout}{done.stderr}"
            assert "password" not in done.stdout.lower().replace("passwords", ""), done.stdout
        broker_dir, secrets, stations = (
            Path(container.path(option(args, flag)))
            for flag in ("--broker-dir", "--secrets", "--station-secrets")
        )
        yield Provisioned(container, broker_dir, secrets, stations)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def stack(provisioned: Provisioned) -> Iterator[Stack]:
    """The mosquitto service's own command on what broker-setup wrote."""
    container = provisioned.container
    entrypoint, command = entrypoint_and_command(BROKER)
    assert entrypoint[0].endswith("/mosquitto")
    argv = [shutil.which("mosquitto") or "/usr/sbin/mosquitto", *map(container.path, command)]
    log = container.root / "mosquitto.log"
    broker = container.popen(argv, log)
    try:

        def listening() -> bool:
            assert broker.poll() is None, log.read_text()
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", container.port)) == 0

        wait_for(listening, 10, what="the broker to listen")
        yield Stack(container, broker, provisioned.broker_dir, provisioned.secrets,
                    provisioned.station_secrets)  # fmt: skip
    finally:
        stop(broker)


class Client:
    """A paho client recording whether it got in and what it receives."""

    def __init__(self, port: int, user: str | None, password: str | None) -> None:
        self.connected, self.refused, self.subscribed = (threading.Event() for _ in range(3))
        self.received: list[tuple[str, bytes]] = []
        self.granted: list[object] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user or "anon",
                                  protocol=mqtt.MQTTv5)  # fmt: skip
        if user is not None:
            self.client.username_pw_set(user, password)
        self.client.on_connect = lambda _c, _u, _f, reason, _p: (
            self.refused if reason.is_failure else self.connected
        ).set()
        self.client.on_message = lambda _c, _u, m: self.received.append((m.topic, m.payload))

        def on_subscribe(_c: object, _u: object, _m: int, codes: list, _p: object) -> None:
            self.granted = codes
            self.subscribed.set()

        self.client.on_subscribe = on_subscribe
        self.client.connect_async("127.0.0.1", port)
        self.client.loop_start()

    def subscribe(self, topic: str) -> bool:
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(5)
        return not any(code.is_failure for code in self.granted)  # type: ignore[attr-defined]

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for client in made:
        client.stop()


def test_the_provisioned_stack_broker_refuses_anonymous_and_runs_the_acl(
    stack: Stack, clients: list[Client]
) -> None:
    """Anonymous and wrong logins are refused; a station publishes under its own prefix only;
    an ingest worker subscribes with the login its environment file holds."""
    conf = (stack.broker_dir / "mosquitto.conf").read_text().splitlines()
    assert "allow_anonymous false" in conf
    assert not [line for line in conf if line.startswith("user ")], "no user line"
    for secret in [stack.broker_dir / "passwd", stack.broker_dir / HEALTH_FILE,
                   *stack.secrets.iterdir(), *stack.station_secrets.iterdir()]:  # fmt: skip
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret

    port = stack.container.port
    sids = sorted(p.stem for p in stack.station_secrets.glob("*.password"))
    assert len(sids) == int(option(entrypoint_and_command("registry-write")[1], "--stations"))
    me, other = sids[0], sids[1]

    def connect(user: str | None, password: str | None) -> Client:
        client = Client(port, user, password)
        clients.append(client)
        return client

    for user, password in ((None, None), (me, "wrong"), (me, stack.station_password(other))):
        refused = connect(user, password)
        assert refused.refused.wait(5), user
        assert not refused.connected.is_set(), user

    ingest_url = stack.env_login("ingest-1.env")
    assert ingest_url.username == "cloud-ingest-1"
    assert (ingest_url.host, ingest_url.port) == ("127.0.0.1", port)
    ingest = connect(ingest_url.username, ingest_url.password)
    station = connect(me, stack.station_password(me))
    for client in (ingest, station):
        assert client.connected.wait(5)
    assert ingest.subscribe(topics.shared("ingest", topics.all_stations(topics.Kind.EVENTS)))
    station.publish(topics.events(me), b"mine")
    station.publish(topics.events(other), b"posing as another station")
    wait_for(lambda: ingest.received, 5, what="the station's own event at ingest")
    time.sleep(SETTLE_S)
    assert ingest.received == [(topics.events(me), b"mine")]

    api = stack.env_login("api.env")
    logins = {
        api.username,
        *(stack.env_login(f).username for f in ("ingest-1.env", "ingest-2.env")),
    }
    assert logins == {"cloud-api", "cloud-ingest-1", "cloud-ingest-2"}


def test_the_broker_health_check_passes_with_its_login(stack: Stack) -> None:
    dockerfile = parse_dockerfile(DOCKER / "Dockerfile.broker")
    assert dockerfile.path in DOCKERFILES
    check = dockerfile.last("HEALTHCHECK")
    assert check is not None
    argv = json.loads(check.args.split(" CMD ", 1)[1])
    assert argv[:2] == ["sh", "-c"]
    script = argv[2].replace("-p 1883", f"-p {stack.container.port}")
    script = script.replace("/var/lib/waystation", f"{stack.container.root}/var/lib/waystation")

    def check_once() -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            as_image_user(["sh", "-c", script]), capture_output=True, timeout=30, check=False
        )

    ok = check_once()
    assert ok.returncode == 0, ok.stderr
    stop(stack.broker)
    assert check_once().returncode != 0, "healthy with the broker down"


def test_the_fleet_and_an_ingest_worker_get_in_with_what_they_are_given(
    stack: Stack, clients: list[Client], tmp_path: Path
) -> None:
    """`sim fleet` as compose runs it: every station logs in with its own password and says
    `online`; `cloud ingest` with its `--env-file` subscribes (its /healthz says so)."""
    port = stack.container.port
    ingest_url = stack.env_login("ingest-2.env")
    watcher = Client(port, ingest_url.username, ingest_url.password)  # ingest-2 reads state
    clients.append(watcher)
    assert watcher.connected.wait(5)
    assert watcher.subscribe(topics.all_stations(topics.Kind.STATE))
    sids = {p.stem for p in stack.station_secrets.glob("*.password")}

    fleet_args = [
        *entrypoint_and_command("fleet")[1],
        "--for=60",
        "--plain",
        "--telemetry-interval=5",
    ]
    fleet = stack.container.popen(
        [sys.executable, "-m", "waystation.cli", *stack.container.args(fleet_args)],
        stack.container.root / "fleet.log",
    )
    ingest_run = next(r for r in broker_clients("ingest-1"))
    metrics = free_port()
    ingest_run = [a if a != "9100" else str(metrics) for a in ingest_run]
    db = stack.container.root / "var/lib/waystation/cloud.db"
    ingest = stack.container.popen(
        [sys.executable, "-m", "waystation.cli", *stack.container.args(ingest_run),
         "--metrics-addr", "127.0.0.1"],
        stack.container.root / "ingest.log", WAYSTATION_DB=f"sqlite:///{db}",
    )  # fmt: skip
    try:

        def online() -> set[str]:
            assert fleet.poll() is None, (stack.container.root / "fleet.log").read_text()[-3000:]
            return {
                t.split("/")[2]
                for t, p in watcher.received
                if json.loads(p).get("status") == "online"
            }

        wait_for(
            lambda: online() >= sids, 60, what=lambda: f"{len(online())} of {len(sids)} online"
        )

        def healthy() -> bool:
            assert ingest.poll() is None, (stack.container.root / "ingest.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/healthz", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_for(healthy, 30, what="cloud ingest subscribed with its env file's login")
    finally:
        stop(fleet)
        stop(ingest)
