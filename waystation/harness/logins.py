"""Broker logins on the throwaway brokers the harnesses start.

One login per station (the station id, as in production) and one per ingest worker: the
broker takes the login as client id, so two processes on one login would disconnect each
other (docs/operations.md "Broker logins").
"""

from __future__ import annotations


def station_password(login: str, salt: str = "pw") -> str:
    """The throwaway password of `login` on a harness broker: `{salt}-{login}`. The chaos run
    salts with its seed (`chaos-{seed}`); the liveness rig and link-only stations use `pw`."""
    return f"{salt}-{login}"


def ingest_login(worker: int) -> str:
    """Ingest worker `worker`'s (0, 1, …) broker login: `cloud-ingest-1`, `cloud-ingest-2`, …"""
    return f"cloud-ingest-{worker + 1}"


def ingest_logins(workers: int) -> list[str]:
    """The logins of `workers` ingest workers, in worker order."""
    return [ingest_login(w) for w in range(workers)]
