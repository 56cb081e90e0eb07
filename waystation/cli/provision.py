"""`waystation provision …`: set up a broker directory, a station and its voice prompts; passwords
shown once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Provision the broker and stations (logins, ACL, configs).",
                  no_args_is_help=True)  # fmt: skip


@app.command()
def broker(
    dir_: Annotated[Path, typer.Option("--dir", file_okay=False, help="broker directory to write")],
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="listener port (1883, TLS 8883)")
    ] = None,
    tls_ca: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="CA PEM")] = None,
    tls_cert: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="server certificate PEM")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="server key PEM")
    ] = None,
    persistence_dir: Annotated[
        Path, typer.Option(help="where Mosquitto keeps QoS 1 sessions across restarts")
    ] = Path("/var/lib/mosquitto"),
    ingest_workers: Annotated[
        int, typer.Option(min=1, max=256, help="logins cloud-ingest-1…N, one per ingest worker")
    ] = 2,
    owner: Annotated[
        str | None,
        typer.Option(
            help="user the broker runs as (gets the password file and TLS key); default "
            "`mosquitto` when run as root"
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="overwrite an existing config")] = False,
) -> None:
    """Write mosquitto.conf, the ACL and the password file with one login per cloud process
    (cloud-api, cloud-trust, cloud-ingest-1…N); prints each new password once.

    With --tls-ca (and --tls-cert/--tls-key) the only listener is TLS: plain TCP is off."""
    from waystation.mosquitto import LEGACY_CLOUD_LOGIN, TlsFiles
    from waystation.provision import AUTO_OWNER, BrokerKit, ProvisionError, provision_broker

    tls = None
    if tls_ca or tls_cert or tls_key:
        if not (tls_ca and tls_cert and tls_key):
            raise typer.BadParameter("TLS needs --tls-ca, --tls-cert and --tls-key together")
        tls = TlsFiles(tls_ca, tls_cert, tls_key)
    try:
        created = provision_broker(
            dir_,
            port=port,
            tls=tls,
            persistence_dir=persistence_dir,
            ingest_workers=ingest_workers,
            owner=owner or AUTO_OWNER,
            force=force,
        )
    except ProvisionError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    kit = BrokerKit(dir_)
    typer.echo(f"broker config written to {kit.conf}; start: mosquitto -c {kit.conf}")
    held_by = kit.passwd.owner()
    if held_by == "root":
        typer.echo(
            "WARNING: the password file belongs to root, but Mosquitto started as root runs as "
            "`mosquitto` (or `nobody`): pass --owner USER, the user it runs as",
            err=True,
        )
    else:
        typer.echo(f"password file and key owned by {held_by} (the user the broker runs as)")
    if LEGACY_CLOUD_LOGIN in kit.cloud_logins():
        typer.echo(
            f"note: the login `{LEGACY_CLOUD_LOGIN}` of an earlier release still has full "
            "access; once every cloud process has its own login, delete it: "
            f"mosquitto_passwd -D {kit.passwd} {LEGACY_CLOUD_LOGIN}",
            err=True,
        )
    typer.echo("one login per process: never give two processes the same one")
    for login, password in created.items():
        typer.echo(f"password for {login}: {password}")


@app.command("cloud-login")
def cloud_login(
    login: Annotated[
        str,
        typer.Argument(help="cloud-api, cloud-trust, cloud-ingest-<n> or cloud-admin (…-<n>)"),
    ],
    broker_dir: Annotated[Path, typer.Option(exists=True, file_okay=False, help="from `broker`")],
    rotate: Annotated[bool, typer.Option(help="replace an existing login's password")] = False,
) -> None:
    """Add a login for one more cloud process (its role is in its name) and its ACL block;
    prints the password once. Then `kill -HUP` Mosquitto to load both."""
    from waystation.provision import ProvisionError, provision_cloud_login

    try:
        password = provision_cloud_login(broker_dir, login, rotate=rotate)
    except ProvisionError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"login {login} added to {broker_dir}; kill -HUP the broker to load it")
    typer.echo(f"password for {login}: {password}")


@app.command()
def station(
    id_: Annotated[str, typer.Option("--id", help="station id, [a-z0-9-]{3,40}")],
    broker_dir: Annotated[Path, typer.Option(exists=True, file_okay=False, help="from `broker`")],
    out: Annotated[Path, typer.Option(dir_okay=False, help="station TOML to write")],
    broker_host: Annotated[str, typer.Option(help="host name stations use")] = "localhost",
    rotate: Annotated[bool, typer.Option(help="replace an existing station's password")] = False,
) -> None:
    """Add a station login to the broker; write its TOML, password file and systemd unit.

    Prints the generated password once; it is stored only hashed (broker) and in the
    station's 0600 password file."""
    from protocol.topics import TopicError
    from waystation.provision import ProvisionError, provision_station

    try:
        password, files = provision_station(
            broker_dir, id_, out, broker_host=broker_host, rotate=rotate
        )
    except (ProvisionError, TopicError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"station {id_}: config {files.config}, unit {files.unit}")
    typer.echo(f"install: copy {files.config.name}, {files.password_file.name}"
               f"{', ca.crt' if files.ca_file else ''} to /etc/waystation/ (mode 0600, owner "
               f"waystation); {files.unit.name} to /etc/systemd/system/")  # fmt: skip
    typer.echo(f"password: {password}")


@app.command()
def cloud(
    broker_dir: Annotated[Path, typer.Option(exists=True, file_okay=False, help="from `broker`")],
    out: Annotated[Path, typer.Option(file_okay=False, help="directory to write the files to")],
    broker_host: Annotated[str, typer.Option(help="host name the cloud reaches the broker at")] = (
        "127.0.0.1"
    ),
    ingest_workers: Annotated[int, typer.Option(min=1, max=99, help="ingest instances")] = 2,
    db: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL for cloud.env (else fill it in by hand)")
    ] = None,
    exe: Annotated[str, typer.Option(help="the waystation command on the server")] = (
        "/opt/waystation/.venv/bin/waystation"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535, help="API port")] = 8000,
) -> None:
    """Write systemd units for `cloud serve`, `cloud ingest@N` and an hourly `cloud maintain`
    timer, with an environment file per process holding its own broker login.

    Gives `cloud-api` and `cloud-ingest-1…N` new passwords (only the files written here hold
    them); `kill -HUP` the broker afterwards so it loads them."""
    from protocol.broker import BrokerUrl
    from waystation.cloud_units import write_cloud_units
    from waystation.provision import BrokerKit, ProvisionError, provision_cloud_login

    kit = BrokerKit(broker_dir)
    logins = ["cloud-api", *(f"cloud-ingest-{n}" for n in range(1, ingest_workers + 1))]
    try:
        passwords = {
            login: provision_cloud_login(broker_dir, login, rotate=True) for login in logins
        }
        held = kit.tls()
        scheme = "mqtts" if held else "mqtt"
        broker = BrokerUrl.parse(f"{scheme}://{broker_host}:{kit.port()}")
    except (ProvisionError, ValueError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    files = write_cloud_units(
        out, exe=exe, broker=broker, logins=passwords, ingest_workers=ingest_workers, db=db,
        port=port,
    )  # fmt: skip
    typer.echo(f"wrote {', '.join(p.name for p in files.units)} and {len(files.env_files)} "
               f"environment files (0600) to {out}")  # fmt: skip
    typer.echo(f"install: *.env to /etc/waystation/ (owner root), the units to "
               f"/etc/systemd/system/; kill -HUP the broker; then systemctl daemon-reload && "
               f"systemctl enable --now waystation-api "
               f"{' '.join(f'waystation-ingest@{n}' for n in range(1, ingest_workers + 1))} "
               f"waystation-maintain.timer")  # fmt: skip


@app.command()
def stack(
    broker_dir: Annotated[Path, typer.Option(file_okay=False, help="broker directory to write")],
    secrets: Annotated[
        Path, typer.Option(file_okay=False, help="directory for the cloud processes' logins")
    ],
    station_secrets: Annotated[
        Path, typer.Option(file_okay=False, help="directory for the stations' passwords")
    ],
    registry: Annotated[
        Path,
        typer.Option(exists=True, dir_okay=False, help="registry CSV: one station login per row"),
    ],
    broker_host: Annotated[str, typer.Option(help="host name services reach the broker at")] = (
        "mosquitto"
    ),
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="listener port")] = None,
    persistence_dir: Annotated[
        Path, typer.Option(help="where Mosquitto keeps QoS 1 sessions across restarts")
    ] = Path("/var/lib/mosquitto"),
    ingest_workers: Annotated[int, typer.Option(min=1, max=99, help="ingest logins")] = 2,
) -> None:
    """The compose stack's broker and logins in one step, safe to rerun: the broker
    directory as `provision broker` writes it (no anonymous access) with the broker health
    check's password, in --secrets an environment file per cloud process (for `waystation
    --env-file`), in --station-secrets <sid>.password for every registry station (for `sim
    fleet --password-dir`). Existing logins keep their passwords; none is printed."""
    from protocol.topics import TopicError
    from waystation.provision import ProvisionError
    from waystation.stack import provision_stack, registry_ids

    try:
        report = provision_stack(
            broker_dir, secrets, station_secrets, station_ids=registry_ids(registry),
            broker_host=broker_host,
            port=port, persistence_dir=persistence_dir, ingest_workers=ingest_workers,
        )  # fmt: skip
    except (ProvisionError, TopicError, ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"broker config {broker_dir / 'mosquitto.conf'} (anonymous access off); "
               f"{report.summary()}")  # fmt: skip


@app.command()
def voice(
    out: Annotated[
        Path, typer.Option(file_okay=False, help="directory for the WAVs ([feedback] audio_dir)")
    ],
    espeak: Annotated[str, typer.Option(help="the espeak-ng program")] = "espeak-ng",
    voice_name: Annotated[str, typer.Option("--voice", help="espeak-ng voice")] = "cmn",
    speed: Annotated[int, typer.Option(min=80, max=400, help="words per minute")] = 150,
) -> None:
    """Render the door's voice prompts (欢迎光临, 二维码已过期，请刷新, …) to WAV files with
    espeak-ng, once at install time: the station needs no speech engine and no network to
    speak them."""
    import subprocess

    from edge.feedback.cues import PROMPTS
    from edge.feedback.voice import render_prompts

    try:
        files = render_prompts(out, espeak=espeak, voice=voice_name, speed_wpm=speed)
    except FileNotFoundError:
        typer.echo(f"error: {espeak} not found (apt-get install espeak-ng)", err=True)
        raise typer.Exit(2) from None
    except subprocess.TimeoutExpired:
        typer.echo(f"error: {espeak} did not finish", err=True)
        raise typer.Exit(1) from None
    except subprocess.CalledProcessError as exc:
        why = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        typer.echo(f"error: {espeak} failed: {why[-1] if why else exc}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:  # the directory cannot be made or written
        typer.echo(f"error: {out}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    for prompt, path in zip(PROMPTS, files, strict=True):
        typer.echo(f"{path}: {prompt.text}")
