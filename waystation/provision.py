"""Provisioning: a broker directory (config, ACL, password file) and one station's files.

The broker directory D holds `mosquitto.conf`, `acl` (the project ACL with a block per cloud
login), `passwd` (hashed by the real `mosquitto_passwd`) and, with TLS, copies of the CA,
certificate and key. Passwords are generated here, shown once to the caller, and stored only
as hashes in D and in the station's own password file (mode 0600), never in the station TOML.
Secret files are created with their final mode; nothing is ever readable by others, not even
for a moment.

Run as root, provisioning hands the password file and the TLS key to the user the broker
drops to (`mosquitto`), so `mosquitto -c D/mosquitto.conf` started by root can read them.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from protocol.topics import check_sid
from waystation.mosquitto import (
    DEFAULT_INGEST_WORKERS,
    LEGACY_CLOUD_LOGIN,
    BrokerConf,
    TlsFiles,
    cloud_role,
    default_cloud_logins,
    render_acl,
    reserved_for_cloud,
    run_mosquitto_passwd,
    write_private_file,
)

PASSWORD_BYTES = 24  # 32 url-safe characters: brute force is not the weak point
BROKER_USER = "mosquitto"  # who Mosquitto started as root runs as (Debian's package user)
AUTO_OWNER = "<auto>"  # provision_broker(owner=…): BROKER_USER when we are root and it exists


class ProvisionError(ValueError):
    """A provisioning request that would break or weaken an existing set-up."""


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def set_password(passwd: Path, user: str, password: str) -> None:
    """Add or replace `user` in a Mosquitto password file with the real tool (a new file is
    created 0600; `mosquitto_passwd` rewrites it in place, keeping its owner)."""
    if not passwd.exists():
        write_private_file(passwd, b"")
    run_mosquitto_passwd(passwd, user, password)
    passwd.chmod(0o600)


def broker_owner() -> str | None:
    """The user to hand the broker's secrets to: `mosquitto` when we are root and it
    exists; None otherwise (the files stay the caller's, for a broker the caller runs)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(BROKER_USER)
    except KeyError:
        return None
    return BROKER_USER


def hand_over(path: Path, owner: str | None) -> None:
    """chown `path` to `owner` (and its group), if one is given."""
    if owner is None:
        return
    entry = pwd.getpwnam(owner)
    os.chown(path, entry.pw_uid, entry.pw_gid)


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

    def cloud_logins(self) -> list[str]:
        return sorted(u for u in users_in(self.passwd) if cloud_role(u))

    def write_acl(self) -> None:
        """The project ACL with a block for every cloud login in the password file."""
        write_private_file(self.acl, render_acl(users_in(self.passwd)), mode=0o644)

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
    ingest_workers: int = DEFAULT_INGEST_WORKERS,
    owner: str | None = AUTO_OWNER,
    force: bool = False,
) -> dict[str, str]:
    """Write the broker directory; returns the generated passwords of the cloud logins it
    created (`cloud-api`, `cloud-trust`, `cloud-ingest-1…N`; existing ones are kept).

    `owner`: the user Mosquitto runs as, who gets the password file and TLS key (and a
    `user` line in the config); default `mosquitto` when run as root, else nobody."""
    kit = BrokerKit(directory)
    if kit.conf.exists() and not force:
        raise ProvisionError(f"{kit.conf} exists; pass force to overwrite (passwords are kept)")
    if ingest_workers < 1:
        raise ProvisionError("ingest_workers must be at least 1")
    if owner == AUTO_OWNER:
        owner = broker_owner()
    if owner is not None:
        try:
            pwd.getpwnam(owner)
        except KeyError as exc:
            raise ProvisionError(f"no user {owner!r} to run the broker as") from exc
    directory.mkdir(parents=True, exist_ok=True)
    if tls is not None:
        shutil.copyfile(tls.ca, directory / "ca.crt")
        shutil.copyfile(tls.cert, directory / "server.crt")
        write_private_file(directory / "server.key", tls.key.read_bytes())
        hand_over(directory / "server.key", owner)
    created: dict[str, str] = {}
    for login in default_cloud_logins(ingest_workers):
        if login not in users_in(kit.passwd):
            created[login] = new_password()
            set_password(kit.passwd, login, created[login])
    if not kit.passwd.exists():
        write_private_file(kit.passwd, b"")
    hand_over(kit.passwd, owner)
    kit.write_acl()
    if persistence_dir is not None and not persistence_dir.exists():
        persistence_dir.mkdir(mode=0o750, parents=True)
        hand_over(persistence_dir, owner)
    held = kit.tls()
    conf = BrokerConf(
        port=port or (8883 if tls else 1883),
        persistence_dir=persistence_dir,
        password_file=kit.passwd.resolve(),
        acl_file=kit.acl.resolve(),
        tls=TlsFiles(held.ca.resolve(), held.cert.resolve(), held.key.resolve()) if held else None,
        run_as=owner,
    )
    write_private_file(kit.conf, conf.render(), mode=0o644)
    return created


def provision_cloud_login(broker_dir: Path, login: str, *, rotate: bool = False) -> str:
    """Add the cloud login `login` (`cloud-<role>[-<n>]`) to the broker's password file and
    its block to the ACL; returns its generated password. Mosquitto reads both on SIGHUP."""
    kit = BrokerKit(broker_dir)
    if not kit.conf.exists():
        raise ProvisionError(f"{broker_dir} is not a provisioned broker dir (no mosquitto.conf)")
    if cloud_role(login) is None or login == LEGACY_CLOUD_LOGIN:
        roles = ", ".join(f"cloud-{r}" for r in ("api", "trust", "ingest-<n>", "admin", "health"))
        raise ProvisionError(f"{login!r} is not a cloud login: name it {roles} (…-<n> for more)")
    if login in users_in(kit.passwd) and not rotate:
        raise ProvisionError(f"{login!r} already has a login; pass rotate for a new password")
    password = new_password()
    set_password(kit.passwd, login, password)
    kit.write_acl()
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
SupplementaryGroups=gpio video audio
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
    if reserved_for_cloud(sid):
        raise ProvisionError(f"station id {sid!r}: names starting with 'cloud' are cloud logins")
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
    write_private_file(password_file, password + "\n")
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
