"""`waystation provision …`: set up a broker directory and a station, passwords shown once."""

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
    force: Annotated[bool, typer.Option(help="overwrite an existing config")] = False,
) -> None:
    """Write mosquitto.conf, the ACL and the password file; prints the cloud password once.

    With --tls-ca (and --tls-cert/--tls-key) the only listener is TLS: plain TCP is off."""
    from waystation.mosquitto import TlsFiles
    from waystation.provision import ProvisionError, provision_broker

    tls = None
    if tls_ca or tls_cert or tls_key:
        if not (tls_ca and tls_cert and tls_key):
            raise typer.BadParameter("TLS needs --tls-ca, --tls-cert and --tls-key together")
        tls = TlsFiles(tls_ca, tls_cert, tls_key)
    try:
        password = provision_broker(
            dir_, port=port, tls=tls, persistence_dir=persistence_dir, force=force
        )
    except ProvisionError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"broker config written to {dir_}/mosquitto.conf (user: cloud)")
    typer.echo(f"password: {password}")


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
