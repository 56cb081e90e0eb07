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


@dataclass
class MosquittoProcess:
    """One broker process in `workdir`; `users=None` means anonymous (demo-style) access."""

    workdir: Path
    port: int = field(default_factory=free_port)
    users: dict[str, str] | None = None
    acl: Path | None = ACL_PATH
    persistence: bool = True
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        lines = [
            "per_listener_settings false",
            f"listener {self.port} 127.0.0.1",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            "autosave_interval 1",
            "max_queued_messages 200000",
            "max_inflight_messages 200",
            "max_packet_size 70000",
            # As root Mosquitto drops to user `mosquitto`, which cannot read our temp dirs.
            f"user {getpass.getuser()}",
            f"log_dest file {self.workdir / 'mosquitto.log'}",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if self.users is None:
            lines.append("allow_anonymous true")
        else:
            passwd = self.workdir / "passwd"
            write_password_file(passwd, self.users)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
            if self.acl is not None:
                lines.append(f"acl_file {self.acl}")
        conf = self.workdir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self, timeout_s: float = 10.0) -> MosquittoProcess:
        conf = self.write_config()
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
