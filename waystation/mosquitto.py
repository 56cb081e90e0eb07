"""Run a real Mosquitto with the project's ACL: for integration tests, chaos runs, provisioning.

The config written here follows `config/mosquitto/mosquitto.conf` (persistence, raised ingest
queues) with paths and port of the caller's choosing.

Logins: a station logs in with its station id; every cloud process has a login of its own,
named `cloud-<role>` or `cloud-<role>-<n>` (`cloud-api`, `cloud-ingest-1`, …), and the role in
the name decides its ACL block (`CLOUD_ROLES`). The listener sets `use_username_as_clientid`,
so the broker takes the login as the client id: a station that knows only its own password
cannot connect as another station's client id (which would disconnect that station and fire
its `lost` will), and two processes sharing one login would disconnect each other.
"""

from __future__ import annotations

import getpass
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from waystation.ports import free_port as free_port  # harnesses and tests import it here
from waystation.ports import listens_on
from waystation.private_files import write_private_file as write_private_file

ACL_PATH = Path(__file__).resolve().parent.parent / "config" / "mosquitto" / "acl"
INSTALL_HINT = "mosquitto is not installed: apt-get install mosquitto (Debian/Ubuntu)"

# What each cloud role may do (Mosquitto ACL `topic` lines). Mosquitto has no wildcard for
# user names, so every login gets a block of its own (`render_acl`).
CLOUD_ROLES: dict[str, tuple[str, ...]] = {
    # `cloud serve`: ops commands, desired configs, the signed lists after a revocation.
    "api": ("write ws/v1/+/cmd/#", "write ws/v1/+/config", "write ws/v1/trust/#"),
    # `members publish` (the issuing host) and `members publish-db`: the signed lists only.
    "trust": ("write ws/v1/trust/#",),
    # `cloud ingest` (the health monitor runs inside it): reads what stations send (shared
    # subscriptions are checked without their `$share/<group>/` prefix; `+/state` includes
    # the cloud's own `_cloud/state`), writes acks and the cloud's liveness (also its will).
    "ingest": (
        "read ws/v1/+/state",
        "read ws/v1/+/meta",
        "read ws/v1/+/telemetry",
        "read ws/v1/+/events",
        "read ws/v1/+/footfall",
        "read ws/v1/+/cmd_result",
        "write ws/v1/+/ack",
        "write ws/v1/_cloud/state",
    ),
    # An operator's diagnostics (mosquitto_sub), not a service: everything under ws/v1/.
    # The login `cloud` of earlier releases has this role.
    "admin": ("readwrite ws/v1/#",),
    # A container health check (docker/compose.yaml): logs in and reads the broker's uptime,
    # which proves the broker is up and checks passwords; nothing under ws/v1/.
    "health": ("read $SYS/broker/uptime",),
}
LEGACY_CLOUD_LOGIN = "cloud"
CLOUD_LOGIN_RE = re.compile(r"cloud-(?P<role>[a-z]+)(?:-[a-z0-9]+)*")
DEFAULT_INGEST_WORKERS = 2


def cloud_role(login: str) -> str | None:
    """The role of a cloud login (`cloud-ingest-2` → `ingest`); None for anything else."""
    if login == LEGACY_CLOUD_LOGIN:
        return "admin"
    match = CLOUD_LOGIN_RE.fullmatch(login)
    return match["role"] if match and match["role"] in CLOUD_ROLES else None


def reserved_for_cloud(login: str) -> bool:
    """Names a station may never have: `cloud` and everything starting `cloud-`."""
    return login == LEGACY_CLOUD_LOGIN or login.startswith(f"{LEGACY_CLOUD_LOGIN}-")


def default_cloud_logins(ingest_workers: int = DEFAULT_INGEST_WORKERS) -> list[str]:
    """One login per cloud process of a standard install: the API, the list publisher and
    `ingest_workers` ingest workers."""
    ingest = [f"cloud-ingest-{n}" for n in range(1, ingest_workers + 1)]
    return ["cloud-api", "cloud-trust", *ingest]


ACL_HEAD = """\
# Waystation broker ACL (DESIGN.md, "MQTT contract"). Mosquitto 2.x syntax.
# Written by `waystation provision` (waystation/mosquitto.py: render_acl); the listener sets
# use_username_as_clientid, so every login below is also its client id.
#
# Every station logs in with its station id as username. %u is replaced by that username;
# Mosquitto refuses to substitute usernames containing + or #, so those accounts match no
# pattern and can do nothing.
#
# A station may publish only under its own prefix, and never cmd/, config or ack there.
pattern write ws/v1/%u/state
pattern write ws/v1/%u/meta
pattern write ws/v1/%u/telemetry
pattern write ws/v1/%u/events
pattern write ws/v1/%u/footfall
pattern write ws/v1/%u/cmd_result
# …and may subscribe only to what the cloud sends it and to the global lists.
pattern read ws/v1/%u/cmd/#
pattern read ws/v1/%u/config
pattern read ws/v1/%u/ack
pattern read ws/v1/trust/#
pattern read ws/v1/_cloud/state

# Cloud logins: one per process, named cloud-<role>[-<n>]; the role decides the block
# (ingest: `cloud ingest`; api: `cloud serve`; trust: `members publish`/`publish-db`;
# admin: diagnostics). Mosquitto has no wildcard for user names: `waystation provision
# cloud-login NAME` adds a login and its block.
"""


def render_acl(logins: Iterable[str]) -> str:
    """The project ACL: the station patterns, then a block per cloud login in `logins`
    (anything that is not a cloud login, e.g. a station id, is covered by the patterns)."""
    blocks = []
    for login in sorted({u for u in logins if cloud_role(u)}, key=_login_order):
        role = cloud_role(login)
        assert role is not None
        blocks.append("\n".join([f"user {login}", *(f"topic {t}" for t in CLOUD_ROLES[role])]))
    return ACL_HEAD + "".join(f"\n{block}\n" for block in blocks)


def _login_order(login: str) -> tuple[int, str, int, str]:
    role = cloud_role(login) or ""
    number = re.search(r"-(\d+)$", login)
    return (list(CLOUD_ROLES).index(role), login.rstrip("0123456789"),
            int(number[1]) if number else 0, login)  # fmt: skip


def find_binary(name: str = "mosquitto") -> str:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and Path(candidate).exists():
            return candidate
    raise FileNotFoundError(INSTALL_HINT)


def run_mosquitto_passwd(passwd: Path, user: str, password: str) -> None:
    """Add or replace `user` in an existing password file with the real `mosquitto_passwd`
    (which rewrites it in place, keeping its owner and mode; umask 077 for its scratch file)."""
    subprocess.run(  # noqa: S603 - fixed binary, arguments are ours
        [find_binary("mosquitto_passwd"), "-b", str(passwd), user, password],
        check=True,
        capture_output=True,
        umask=0o077,
    )


def write_password_file(path: Path, users: dict[str, str]) -> None:
    """Hash `users` into a new Mosquitto password file (mode 0600 from its creation on)."""
    write_private_file(path, b"")
    for user, password in users.items():
        run_mosquitto_passwd(path, user, password)


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a TLS listener: the CA that signed the server (and client) certificates."""

    ca: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class BrokerConf:
    """A Mosquitto 2.x config for Waystation (the settings of config/mosquitto/mosquitto.conf)."""

    port: int = 1883
    bind: str | None = None  # None: every interface
    persistence_dir: Path | None = Path("/var/lib/mosquitto")
    password_file: Path | None = None  # None with anonymous=False refuses everyone
    acl_file: Path | None = None
    anonymous: bool = False
    tls: TlsFiles | None = None  # set: the only listener is TLS (no plain TCP at all)
    # The login is the client id: no client can take over another's session. Needs every
    # client to log in with a username (one without is refused), so anonymous test brokers,
    # whose clients often have none, leave it off.
    username_as_clientid: bool = True
    run_as: str | None = None  # `user`: Mosquitto started as root switches to it
    log_file: Path | None = None
    autosave_s: int = 30  # persistence flush period; the journal covers what a crash loses

    def render(self) -> str:
        listener = f"listener {self.port}" + (f" {self.bind}" if self.bind else "")
        lines = [
            "# Written by `waystation provision broker` (see config/mosquitto/mosquitto.conf).",
            "per_listener_settings false",
            f"allow_anonymous {'true' if self.anonymous else 'false'}",
        ]
        if self.password_file is not None:
            lines.append(f"password_file {self.password_file}")
        if self.acl_file is not None:
            lines.append(f"acl_file {self.acl_file}")
        if self.persistence_dir is not None:
            lines += [
                "persistence true",
                f"persistence_location {self.persistence_dir}/",
                f"autosave_interval {self.autosave_s}",
            ]
        else:
            lines.append("persistence false")
        lines += [
            # Ingest sessions must not drop: the default queue (1000) discards silently.
            "max_queued_messages 200000",
            "max_queued_bytes 134217728",
            "max_inflight_messages 200",
            # A payload is at most 64 KiB (protocol.messages.MAX_PAYLOAD_BYTES) + headers.
            "max_packet_size 70000",
        ]
        if self.run_as:
            lines.append(f"user {self.run_as}")
        if self.log_file is not None:
            lines += [f"log_dest file {self.log_file}", "log_type error", "log_type warning"]
            lines.append("log_type notice")
        lines.append(listener)
        if self.username_as_clientid:
            # A listener setting in Mosquitto 2.0 (also with per_listener_settings false):
            # above the `listener` line it would open a second, default listener on 1883.
            lines.append("use_username_as_clientid true")
        if self.tls is not None:
            lines += [
                f"cafile {self.tls.ca}",
                f"certfile {self.tls.cert}",
                f"keyfile {self.tls.key}",
                "tls_version tlsv1.2",
            ]
        return "\n".join(lines) + "\n"


@dataclass
class MosquittoProcess:
    """One broker process in `workdir`; `users=None` means anonymous (demo-style) access.

    With `users` (stations and cloud logins named as in `cloud_role`), the broker runs the
    project ACL for them (`render_acl`) and the login is the client id, as provisioned."""

    workdir: Path
    port: int = field(default_factory=free_port)
    users: dict[str, str] | None = None
    acl: Path | None = None  # None: the project ACL for `users`
    persistence: bool = True
    tls: TlsFiles | None = None
    conf_file: Path | None = None  # run this existing config instead of writing one
    proc: subprocess.Popen[bytes] | None = None
    # While stopped for a restart: a socket bound (not listening) to `port`, so no other
    # process is handed the port in between (`stop(hold_port=True)`).
    _hold: socket.socket | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    def write_config(self) -> Path:
        if self.conf_file is not None:
            return self.conf_file
        self.workdir.mkdir(parents=True, exist_ok=True)
        passwd = acl = None
        if self.users is not None:
            passwd = self.workdir / "passwd"
            write_password_file(passwd, self.users)
            acl = self.acl
            if acl is None:
                acl = self.workdir / "acl"
                acl.write_text(render_acl(self.users))
        conf = BrokerConf(
            port=self.port,
            bind="127.0.0.1",
            persistence_dir=self.workdir if self.persistence else None,
            password_file=passwd,
            acl_file=acl,
            anonymous=self.users is None,
            tls=self.tls,
            username_as_clientid=self.users is not None,
            # As root Mosquitto drops to user `mosquitto`, which cannot read our temp dirs.
            run_as=getpass.getuser(),
            log_file=self.workdir / "mosquitto.log",
            autosave_s=1,
        )
        path = self.workdir / "mosquitto.conf"
        path.write_text(conf.render())
        return path

    def start(self, timeout_s: float = 10.0) -> MosquittoProcess:
        return self._launch(self.write_config(), timeout_s)

    def restart(self, *, kill: bool = False, down_s: float = 0.0) -> MosquittoProcess:
        """Stop (SIGTERM, or SIGKILL with `kill`) and start again on the same port with the
        same config and persistence directory, like `systemctl restart mosquitto`.

        Mosquitto 2.0 on SIGTERM publishes every connected client's will at once (the will
        delay is not honoured at shutdown) and saves them as retained messages; on SIGKILL it
        sends none and keeps what its last autosave wrote."""
        conf = self.workdir / "mosquitto.conf" if self.conf_file is None else self.conf_file
        self.stop(kill=kill, hold_port=True)
        if down_s > 0:
            time.sleep(down_s)
        return self._launch(conf if conf.exists() else self.write_config(), 10.0)

    @property
    def stderr_path(self) -> Path:
        """What Mosquitto wrote to stderr (its log, unless the config sends it elsewhere)."""
        return self.workdir / "mosquitto.stderr"

    def _launch(self, conf: Path, timeout_s: float) -> MosquittoProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._release_port()
        with self.stderr_path.open("ab") as err_file:  # a file: a pipe nobody reads fills up
            self.proc = subprocess.Popen(  # noqa: S603 - fixed binary, our config
                [find_binary(), "-c", str(conf)],
                stdout=subprocess.DEVNULL,
                stderr=err_file,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:  # it could not start (e.g. the port is taken)
                code, self.proc = self.proc.returncode, None
                err = self.stderr_path.read_text(errors="replace")
                raise RuntimeError(f"mosquitto exited with {code}: {err}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
            except OSError:
                time.sleep(0.05)
                continue
            if listens_on(self.proc.pid, self.port) is not False:
                return self
            # Another process took the port while ours was down: clients would silently talk
            # to that broker (another test's, with the same logins), so refuse.
            self.stop()
            raise RuntimeError(f"port {self.port} is held by another process, not our mosquitto")
        self.stop()
        raise TimeoutError(f"mosquitto did not listen on {self.port} within {timeout_s} s")

    def stop(self, *, kill: bool = False, hold_port: bool = False) -> None:
        """Terminate (SIGTERM saves persistence) or kill (SIGKILL, like a power cut).

        `hold_port`: the broker will start again on this port (`start`, `restart`): keep it
        bound meanwhile, so that no other broker started on a "free" port takes it and the
        clients of this one reconnect to a stranger."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill() if kill else self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        if hold_port:
            self._hold_port()

    def _hold_port(self) -> None:
        """Bind (without listening: clients are refused as by a stopped broker) `port`.
        SO_REUSEADDR lets the bind succeed beside the old broker's TIME_WAIT sockets; a
        socket bound to port 0 (`free_port`) is still never handed a port bound here."""
        self._release_port()
        hold = socket.socket()
        hold.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            hold.bind(("127.0.0.1", self.port))
        except OSError:
            hold.close()
            return
        self._hold = hold

    def _release_port(self) -> None:
        if self._hold is not None:
            self._hold.close()
            self._hold = None

    def kill(self) -> None:
        """End abruptly, like a crashed broker or a power cut."""
        self.stop(kill=True)

    def log(self) -> str:
        path = self.workdir / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> MosquittoProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
