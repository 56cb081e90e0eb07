"""systemd units and environment files for the cloud: API, ingest workers, maintenance timer.

`waystation provision cloud` writes, into one output directory, what an operator copies to
`/etc/systemd/system/` and `/etc/waystation/`:

    waystation-api.service          `cloud serve` (one process, `--workers` for more cores)
    waystation-ingest@.service      `cloud ingest`, one instance per worker: @1, @2, …
    waystation-maintain.service     `cloud maintain` once (roll-ups, retention)
    waystation-maintain.timer       … every hour, one instance at a time
    cloud.env                       settings every process shares (`WAYSTATION_DB`, …), 0600
    api.env, ingest-<n>.env         each process's own broker login (`WAYSTATION_BROKER`), 0600

Why files per process: the broker ties the client id to the login, so two processes on one
login would disconnect each other (docs/operations.md "Broker logins"); each unit reads the
shared file and then its own. An ingest instance's metrics port comes from its file
(`INGEST_METRICS_PORT`, not a `WAYSTATION_*` name: the cloud refuses unknown ones), bound to
localhost, so `curl 127.0.0.1:9101/healthz` tells whether worker 1 is subscribed.

Environment files are read by systemd as root before it drops to `User=`; they are written
0600 from the start, like every secret here.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from protocol.broker import BrokerUrl
from waystation.mosquitto import write_private_file

CONFIG_DIR = Path("/etc/waystation")
METRICS_PORT_BASE = 9100  # ingest worker n serves /metrics and /healthz on 9100 + n

_COMMON = """\
[Service]
EnvironmentFile={config_dir}/cloud.env
EnvironmentFile={config_dir}/{own_env}
User={user}
Group={user}
StateDirectory=waystation
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ReadWritePaths=/var/lib/waystation
"""

API_UNIT = """\
[Unit]
Description=Waystation cloud API (public finder, ops, members)
After=network-online.target postgresql.service mosquitto.service
Wants=network-online.target

{common}ExecStart={exe} cloud serve --host {host} --port {port} --log-format {log_format}
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
"""

INGEST_UNIT = """\
[Unit]
Description=Waystation cloud ingest worker %i
After=network-online.target postgresql.service mosquitto.service
Wants=network-online.target

{common}ExecStart={exe} cloud ingest --metrics-port ${{INGEST_METRICS_PORT}} \\
    --metrics-addr 127.0.0.1 --log-format {log_format}
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
"""

MAINTAIN_SERVICE = """\
[Unit]
Description=Waystation cloud maintenance (footfall roll-ups, retention)
After=network-online.target postgresql.service

{common}Type=oneshot
ExecStart={exe} cloud maintain --log-format {log_format}
"""

MAINTAIN_TIMER = """\
[Unit]
Description=Run Waystation cloud maintenance every hour

[Timer]
OnCalendar=hourly
RandomizedDelaySec=120
Persistent=true

[Install]
WantedBy=timers.target
"""


@dataclass(frozen=True)
class CloudUnits:
    """Where `write_cloud_units` put each file."""

    units: list[Path]
    env_files: list[Path]


def env_line(name: str, value: str) -> str:
    """One `NAME=value` line systemd reads back exactly (quoted when it needs it)."""
    if value and all(c.isalnum() or c in "-_.:/@+=,%" for c in value):
        return f"{name}={value}\n"
    return f'{name}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"\n'


def read_env_file(path: Path) -> dict[str, str]:
    """The `NAME=value` lines of an environment file as `env_line` writes them (and systemd
    reads them): `#` comments and blank lines skipped, a double-quoted value unescaped.

    For `waystation --env-file`: a container reads the file a one-shot provisioning step left
    in a volume, since compose's own `env_file:` reads only files on the host."""
    found: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, eq, value = line.partition("=")
        if not eq or not name.strip().isidentifier():
            raise ValueError(f"{path}:{number}: not a NAME=value line")
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        found[name.strip()] = value
    return found


def broker_url(base: BrokerUrl, login: str, password: str) -> str:
    """`base`'s scheme, host and port with `login:password` (both percent-encoded)."""
    host = f"[{base.host}]" if ":" in base.host else base.host
    scheme = "mqtts" if base.tls else "mqtt"
    return f"{scheme}://{quote(login, safe='')}:{quote(password, safe='')}@{host}:{base.port}"


def write_cloud_units(
    out: Path,
    *,
    exe: str,
    broker: BrokerUrl,
    logins: dict[str, str],
    ingest_workers: int,
    db: str | None,
    user: str = "waystation",
    host: str = "127.0.0.1",
    port: int = 8000,
    log_format: str = "json",
    config_dir: Path = CONFIG_DIR,
) -> CloudUnits:
    """Write the units and environment files into `out`; `logins` maps `cloud-api` and
    `cloud-ingest-<n>` (n = 1…ingest_workers) to their passwords."""
    out.mkdir(parents=True, exist_ok=True)
    exe = shlex.quote(exe)

    def common(own_env: str) -> str:
        return _COMMON.format(config_dir=config_dir, own_env=own_env, user=user)

    units = {
        "waystation-api.service": API_UNIT.format(
            common=common("api.env"), exe=exe, host=host, port=port, log_format=log_format
        ),
        "waystation-ingest@.service": INGEST_UNIT.format(
            common=common("ingest-%i.env"), exe=exe, log_format=log_format
        ),
        "waystation-maintain.service": MAINTAIN_SERVICE.format(
            common=common("maintain.env"), exe=exe, log_format=log_format
        ),
        "waystation-maintain.timer": MAINTAIN_TIMER,
    }
    written = []
    for name, text in units.items():
        (out / name).write_text(text)
        written.append(out / name)
    api_url = broker_url(broker, "cloud-api", logins["cloud-api"])
    envs = {
        "cloud.env": env_line("WAYSTATION_DB", db) if db else "# WAYSTATION_DB=postgresql+psycopg://…\n",
        "api.env": env_line("WAYSTATION_BROKER", api_url),
        "maintain.env": "# cloud maintain needs no broker login\n",
    }  # fmt: skip
    for n in range(1, ingest_workers + 1):
        login = f"cloud-ingest-{n}"
        envs[f"ingest-{n}.env"] = env_line(
            "WAYSTATION_BROKER", broker_url(broker, login, logins[login])
        ) + env_line("INGEST_METRICS_PORT", str(METRICS_PORT_BASE + n))
    env_files = []
    for name, text in envs.items():
        write_private_file(out / name, text.encode())
        env_files.append(out / name)
    return CloudUnits(written, env_files)
