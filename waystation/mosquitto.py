"""Run a real Mosquitto with the project's ACL: for integration tests, chaos runs, provisioning.

The config written here follows `config/mosquitto/mosquitto.conf` (persistence, raised ingest
queues) with paths and port of the caller's choosing.
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ACL_PATH = Path(__file__).resolve().parent.parent / "config" / "mosquitto" / "acl"
INSTALL_HINT = "mosquitto is not installed: apt-get install mosquitto (Debian/Ubuntu)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_binary(name: str = "mosquitto") -> str:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and Path(candidate).exists():
            return candidate
    raise FileNotFoundError(INSTALL_HINT)


def write_password_file(path: Path, users: dict[str, str]) -> None:
    """Hash `users` into a Mosquitto password file with the real `mosquitto_passwd`."""
    tool = find_binary("mosquitto_passwd")
    path.write_text("")
    for user, password in users.items():
        subprocess.run(  # noqa: S603 - fixed binary, arguments are ours
            [tool, "-b", str(path), user, password], check=True, capture_output=True
        )
    path.chmod(0o600)


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
    """One broker process in `workdir`; `users=None` means anonymous (demo-style) access."""

    workdir: Path
    port: int = field(default_factory=free_port)
    users: dict[str, str] | None = None
    acl: Path | None = ACL_PATH
    persistence: bool = True
    tls: TlsFiles | None = None
    conf_file: Path | None = None  # run this existing config instead of writing one
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    def write_config(self) -> Path:
        if self.conf_file is not None:
            return self.conf_file
        self.workdir.mkdir(parents=True, exist_ok=True)
        passwd = None
        if self.users is not None:
            passwd = self.workdir / "passwd"
            write_password_file(passwd, self.users)
        conf = BrokerConf(
            port=self.port,
            bind="127.0.0.1",
            persistence_dir=self.workdir if self.persistence else None,
            password_file=passwd,
            acl_file=self.acl if self.users is not None else None,
            anonymous=self.users is None,
            tls=self.tls,
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
        self.stop(kill=kill)
        if down_s > 0:
            time.sleep(down_s)
        return self._launch(conf if conf.exists() else self.write_config(), 10.0)

    def _launch(self, conf: Path, timeout_s: float) -> MosquittoProcess:
        self.proc = subprocess.Popen(  # noqa: S603 - fixed binary, our config
            [find_binary(), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {err}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"mosquitto did not listen on {self.port} within {timeout_s} s")

    def stop(self, *, kill: bool = False) -> None:
        """Terminate (SIGTERM saves persistence) or kill (SIGKILL, like a power cut)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill() if kill else self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

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
