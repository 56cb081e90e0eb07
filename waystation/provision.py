"""Provisioning: a broker directory (config, ACL, password file) and one station's files.

The broker directory D holds `mosquitto.conf`, `acl` (the project ACL), `passwd` (hashed by
the real `mosquitto_passwd`) and, with TLS, copies of the CA, certificate and key. Passwords
are generated here, shown once to the caller, and stored only as hashes in D and in the
station's own password file (mode 0600), never in the station TOML.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from protocol.topics import check_sid
from waystation.mosquitto import ACL_PATH, BrokerConf, TlsFiles, find_binary

CLOUD_USER = "cloud"
PASSWORD_BYTES = 24  # 32 url-safe characters: brute force is not the weak point


class ProvisionError(ValueError):
    """A provisioning request that would break or weaken an existing set-up."""


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def set_password(passwd: Path, user: str, password: str) -> None:
    """Add or replace `user` in a Mosquitto password file with the real tool."""
    args = [find_binary("mosquitto_passwd"), "-b", str(passwd), user, password]
    if not passwd.exists():
        passwd.touch(mode=0o600)
    subprocess.run(args, check=True, capture_output=True)  # noqa: S603 - our binary and args
    passwd.chmod(0o600)


def users_in(passwd: Path) -> set[str]:
    if not passwd.exists():
        return set()
    return {line.split(":", 1)[0] for line in passwd.read_text().splitlines() if ":" in line}


@dataclass(frozen=True)
class BrokerKit:
    """Paths of a provisioned broker directory."""

    directory: Path

    @property
    def conf(self) -> Path:
        return self.directory / "mosquitto.conf"

    @property
    def passwd(self) -> Path:
        return self.directory / "passwd"

    @property
    def acl(self) -> Path:
        return self.directory / "acl"

    def tls(self) -> TlsFiles | None:
        files = TlsFiles(self.directory / "ca.crt", self.directory / "server.crt",
                         self.directory / "server.key")  # fmt: skip
        return files if files.ca.exists() else None

    def port(self) -> int:
        """The listener port written into mosquitto.conf."""
        for line in self.conf.read_text().splitlines():
            if line.startswith("listener "):
                return int(line.split()[1])
        raise ProvisionError(f"{self.conf} has no listener line")


def provision_broker(
    directory: Path,
    *,
    port: int | None = None,
    tls: TlsFiles | None = None,
    persistence_dir: Path | None = Path("/var/lib/mosquitto"),
    run_as: str | None = None,
    force: bool = False,
) -> str:
    """Write the broker directory; returns the generated password of the `cloud` account."""
    kit = BrokerKit(directory)
    if kit.conf.exists() and not force:
        raise ProvisionError(f"{kit.conf} exists; pass force to overwrite (passwords are kept)")
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ACL_PATH, kit.acl)
    if tls is not None:
        for src, dst in ((tls.ca, "ca.crt"), (tls.cert, "server.crt"), (tls.key, "server.key")):
            shutil.copyfile(src, directory / dst)
        (directory / "server.key").chmod(0o600)
    password = new_password()
    set_password(kit.passwd, CLOUD_USER, password)
    held = kit.tls()
    conf = BrokerConf(
        port=port or (8883 if tls else 1883),
        persistence_dir=persistence_dir,
        password_file=kit.passwd.resolve(),
        acl_file=kit.acl.resolve(),
        tls=TlsFiles(held.ca.resolve(), held.cert.resolve(), held.key.resolve()) if held else None,
        run_as=run_as,
    )
    kit.conf.write_text(conf.render())
    return password


def _toml_str(value: str) -> str:
    """A TOML basic string (JSON string escapes are valid TOML escapes)."""
    return json.dumps(value, ensure_ascii=False)


def station_toml(
    sid: str, *, broker_url: str, password_file: Path, ca_file: Path | None, journal: Path,
    trust_dir: Path,
) -> str:  # fmt: skip
    lines = [
        "# Written by `waystation provision station`. Unknown keys are refused at start-up.",
        f"station_id = {_toml_str(sid)}",
        f"journal_path = {_toml_str(str(journal))}",
        "",
        "[mqtt]",
        f"broker = {_toml_str(broker_url)}",
        f"password_file = {_toml_str(str(password_file))}",
    ]
    if ca_file is not None:
        lines.append(f"ca_file = {_toml_str(str(ca_file))}")
    lines += ["", "[access]", f"trust_dir = {_toml_str(str(trust_dir))}", ""]
    return "\n".join(lines)


SYSTEMD_UNIT = """\
[Unit]
Description=Waystation station agent ({sid})
Documentation=file:///opt/waystation/README.md
After=network-online.target time-sync.target
Wants=network-online.target

[Service]
# The agent tells systemd when it is ready and keeps the watchdog fed from its door loop;
# a hung loop is killed and restarted within WatchdogSec.
Type=notify
NotifyAccess=main
WatchdogSec=30
ExecStart={exe} edge run --config {config}
Restart=always
RestartSec=2
User=waystation
Group=waystation
SupplementaryGroups=gpio video
StateDirectory=waystation
ConfigurationDirectory=waystation
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ReadWritePaths=/var/lib/waystation

[Install]
WantedBy=multi-user.target
"""


@dataclass(frozen=True)
class StationFiles:
    config: Path
    password_file: Path
    unit: Path
    ca_file: Path | None


def provision_station(
    broker_dir: Path,
    sid: str,
    out: Path,
    *,
    broker_host: str,
    port: int | None = None,
    rotate: bool = False,
    exe: str = "/opt/waystation/.venv/bin/waystation",
    state_dir: Path = Path("/var/lib/waystation"),
) -> tuple[str, StationFiles]:
    """Add `sid` to the broker's password file and write its config, password file and unit.

    Returns the generated password (to be shown once) and the files written.
    """
    check_sid(sid)
    kit = BrokerKit(broker_dir)
    if not kit.conf.exists():
        raise ProvisionError(f"{broker_dir} is not a provisioned broker dir (no mosquitto.conf)")
    if sid in users_in(kit.passwd) and not rotate:
        raise ProvisionError(f"station {sid!r} already has a login; pass rotate for a new one")
    tls = kit.tls()
    password = new_password()
    set_password(kit.passwd, sid, password)
    out.parent.mkdir(parents=True, exist_ok=True)
    password_file = out.with_name(f"{out.stem}.password")
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    ca_file = None
    if tls is not None:
        ca_file = out.with_name("ca.crt")
        shutil.copyfile(tls.ca, ca_file)
    scheme = "mqtts" if tls else "mqtt"
    config_dir = Path("/etc/waystation")
    out.write_text(
        station_toml(
            sid,
            broker_url=f"{scheme}://{broker_host}:{port or kit.port()}",
            password_file=config_dir / password_file.name,
            ca_file=config_dir / "ca.crt" if ca_file else None,
            journal=state_dir / "journal.db",
            trust_dir=state_dir / "trust",
        )
    )
    unit = out.with_name("waystation-edge.service")
    unit.write_text(SYSTEMD_UNIT.format(sid=sid, exe=exe, config=config_dir / out.name))
    return password, StationFiles(out, password_file, unit, ca_file)
