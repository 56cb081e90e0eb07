"""One idempotent provisioning step for the docker compose stack (`waystation provision stack`).

Writes the broker directory exactly as `waystation provision broker` does (mosquitto.conf,
the project ACL, passwords hashed by the real `mosquitto_passwd`, anonymous access off) and
the secrets of every login the stack's services use, so no service runs on an anonymous
broker and none shares a login:

    SECRETS/api.env, SECRETS/ingest-<n>.env
                    `WAYSTATION_BROKER` with that cloud process's own login, read by
                    `waystation --env-file FILE cloud serve|ingest …`
    STATIONS/<sid>.password
                    one per station of the registry, read by `sim fleet --password-dir`
    BROKER/health.password
                    `cloud-health`, the broker container's own health check (reads $SYS only)

Cloud and station secrets are separate directories so each container mounts only its own.

Why a step of its own: compose reads `env_file:` and `secrets:` from the host, so secrets
made inside the stack can only reach the other containers through a volume. The step runs on
every `compose up`: logins that exist keep their passwords (the files already hold them), new
registry stations and lost files get new ones, and the config and ACL are rewritten from this
release. Passwords are never printed (compose keeps the logs).

The broker runs as the same user as this step (uid 10001 `waystation` in every image), so the
files stay that user's, mode 0600: no `user` line, no hand-over to `mosquitto`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from protocol.broker import BrokerUrl
from protocol.topics import check_sid
from waystation.cloud_units import broker_url, env_line, read_env_file
from waystation.mosquitto import reserved_for_cloud, write_private_file
from waystation.provision import (
    BrokerKit,
    ProvisionError,
    new_password,
    provision_broker,
    provision_cloud_login,
    set_password,
    users_in,
)

HEALTH_LOGIN = "cloud-health"
HEALTH_FILE = "health.password"  # in the broker directory: only the broker's container reads it
ID_COLUMNS = ("id", "编号")  # the registry CSV's station id column, English or Chinese header


@dataclass
class StackReport:
    """What one run did: logins given a password now, and logins whose files were kept."""

    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def summary(self) -> str:
        stations = sum(1 for login in self.created if not login.startswith("cloud"))
        return f"{len(self.created)} logins created ({stations} stations), {len(self.kept)} kept"


def cloud_env_files(ingest_workers: int) -> dict[str, str]:
    """Cloud login → its environment file in the secrets directory."""
    ingest = {f"cloud-ingest-{n}": f"ingest-{n}.env" for n in range(1, ingest_workers + 1)}
    return {"cloud-api": "api.env", **ingest}


def registry_ids(path: Path) -> list[str]:
    """The station ids of a registry CSV (`id` or `编号` column; UTF-8, with or without BOM),
    each checked as a station login."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        column = next((c for c in ID_COLUMNS if c in (reader.fieldnames or [])), None)
        if column is None:
            raise ProvisionError(f"{path}: no station id column ({' or '.join(ID_COLUMNS)})")
        ids = [row[column].strip() for row in reader]
    for sid in ids:
        check_sid(sid)
        if reserved_for_cloud(sid):
            raise ProvisionError(
                f"station id {sid!r}: names starting with 'cloud' are cloud logins"
            )
    return ids


def _password_in(path: Path) -> str | None:
    if not path.exists():
        return None
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[0].strip() if lines and lines[0].strip() else None


def provision_stack(
    broker_dir: Path,
    secrets: Path,
    station_secrets: Path,
    *,
    station_ids: list[str],
    broker_host: str,
    port: int | None = None,
    persistence_dir: Path,
    ingest_workers: int = 2,
) -> StackReport:
    """Provision (or bring up to date) the broker directory and the two secrets directories."""
    report = StackReport()
    created = provision_broker(
        broker_dir, port=port, persistence_dir=persistence_dir, ingest_workers=ingest_workers,
        owner=None, force=True,
    )  # fmt: skip
    kit = BrokerKit(broker_dir)
    known = users_in(kit.passwd)
    base = BrokerUrl.parse(f"mqtt://{broker_host}:{kit.port()}")
    for directory in (secrets, station_secrets):
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.chmod(0o700)  # only this user (the one every container runs as) reads them

    for login, name in cloud_env_files(ingest_workers).items():
        path = secrets / name
        password = created.get(login)
        if password is None and path.exists():
            held = BrokerUrl.parse(read_env_file(path).get("WAYSTATION_BROKER", "mqtt://x"))
            password = held.password if held.username == login else None
            if password is not None:
                report.kept.append(login)
        if password is None:  # a login without its file: a new password, the old one is lost
            password = provision_cloud_login(broker_dir, login, rotate=True)
        if login not in report.kept:
            report.created.append(login)
        # rewritten even when kept: the broker's host or port may have changed
        write_private_file(path, env_line("WAYSTATION_BROKER", broker_url(base, login, password)))

    health = broker_dir / HEALTH_FILE
    if HEALTH_LOGIN in known and _password_in(health):
        report.kept.append(HEALTH_LOGIN)
    else:
        write_private_file(health, provision_cloud_login(broker_dir, HEALTH_LOGIN, rotate=True)
                           + "\n")  # fmt: skip
        report.created.append(HEALTH_LOGIN)

    for sid in station_ids:
        path = station_secrets / f"{sid}.password"
        if sid in known and _password_in(path):
            report.kept.append(sid)
            continue
        password = new_password()
        set_password(kit.passwd, sid, password)
        write_private_file(path, password + "\n")
        report.created.append(sid)
    return report
