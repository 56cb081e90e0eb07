"""Refusals are never silent, end to end: the reference station's link and journal → real
Mosquitto → the real `waystation cloud ingest` process → the database and the ops page, and
the ack back to the station. On SQLite and PostgreSQL.

Story: a payload the cloud could not store was kept as a dead letter and counted as received,
so the ack moved past it and the station, believing it stored, deleted its row; nothing told
the station or ops. And a seq the station never sent held its acks at the item before the gap
forever.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from cloud.alarms.models import Alarm
from cloud.auth import Role, create_user, issue_token, passwords
from cloud.db import init_db, make_engine, session
from cloud.main import create_app
from cloud.models import DeadLetter, Event, Station, StationState
from cloud.settings import Settings
from protocol.messages import AccessEvent
from waystation.harness.ingest_pool import WorkerExitedError, ingest_command, wait_ready
from waystation.harness.linkstation import LinkStation
from waystation.mosquitto import MosquittoProcess, free_port

pytestmark = pytest.mark.integration
REFUSING, SKIPPING = "sz-0001", "sz-0002"


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return result


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    init_db(eng)
    with session(eng) as s:
        for sid in (REFUSING, SKIPPING):
            s.add(Station(id=sid, name=f"Station {sid}", lat=22.54, lon=114.06))
    yield eng
    eng.dispose()


@pytest.fixture
def ingest(
    engine: Engine, db_url: str, mosquitto: MosquittoProcess, tmp_path: Path
) -> Iterator[None]:
    """`waystation cloud ingest` with the seq-gap wait shortened to 1 s and a fast monitor.

    Its metrics port is picked free before the process starts, and the process takes
    seconds to bind it: another test's process can take it meanwhile (the ingest then exits
    2, "Address already in use", and was once seen as a setup error here). That is retried
    with another port; any other early end fails with what the ingest wrote."""
    env = os.environ | {
        "WAYSTATION_SEQ_GAP_WAIT_S": "1",
        "WAYSTATION_MONITOR_INTERVAL_S": "0.2",
        "WAYSTATION_BATCH_MAX_WAIT_S": "0.05",
    }
    for attempt in range(3):
        port = free_port()
        cmd = ingest_command(mosquitto.url, db_url, "--metrics-port", str(port), "--metrics-addr")
        log = tmp_path / f"ingest-{attempt}.log"
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [*cmd, "127.0.0.1"], env=env, stdout=subprocess.DEVNULL, stderr=err
            )
        try:
            wait_ready([port], procs=[proc])
            break
        except WorkerExitedError as exc:
            said = log.read_text(errors="replace")
            if "Address already in use" not in said:
                raise AssertionError(f"{exc}: {said[-2000:]}") from None
        except TimeoutError:
            proc.terminate()
            proc.wait(20)
            raise AssertionError(log.read_text(errors="replace")[-2000:]) from None
    else:
        raise AssertionError("three metrics ports in a row were taken")
    try:
        yield
    finally:
        proc.terminate()
        assert proc.wait(20) == 0, log.read_text(errors="replace")[-2000:]


def journal(station: LinkStation, n: int) -> None:
    """Journal `n` valid access events (seqs 1..n) before the station connects."""
    station.journal.open()
    for _ in range(n):
        station.journal.append(
            "events",
            lambda seq: AccessEvent(
                sid=station.sid, event_id=uuid4(), seq=seq, granted=True, reason="granted"
            ),
        )


def edit_journal(station: LinkStation, sql: str, *args: Any) -> None:
    """Change the station's journal behind its back (a bug, a damaged card)."""
    db = sqlite3.connect(station.config.journal_path)
    with db:
        db.execute(sql, args)
    db.close()


def raised(engine: Engine, sid: str, rule: str) -> Alarm | None:
    with session(engine) as s:
        query = select(Alarm).where(Alarm.station_id == sid, Alarm.rule == rule)
        return s.exec(query.where(Alarm.state == "raised")).first()


def state(engine: Engine, sid: str) -> StationState:
    with session(engine) as s:
        got = s.get(StationState, sid)
    assert got is not None
    return got


def ops_page(db_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The station's ops page, as the dashboard reads it."""
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))
    create_user(engine, "viewer-1", Role.VIEWER, "correct horse battery")
    headers = {"Authorization": f"Bearer {issue_token(engine, 'viewer-1')}"}
    app = create_app(Settings(db=db_url, index_refresh_s=0, live_state_ttl_s=0))
    with TestClient(app) as client:
        page = client.get(f"/api/v1/ops/stations/{REFUSING}", headers=headers)
    assert page.status_code == 200, page.text
    result: dict[str, Any] = page.json()
    return result


@pytest.mark.usefixtures("ingest")
def test_a_refused_payload_and_a_seq_gap_are_told_to_the_station_and_raise_alarms(
    engine: Engine,
    db_url: str,
    mosquitto: MosquittoProcess,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One ingest process, two stories: `refusing` sends a payload the cloud cannot store
    (an agent's bug), `skipping` never sends its seq 2 (lost from a damaged journal)."""
    caplog.set_level(logging.WARNING, logger="edge")
    refusing = LinkStation(REFUSING, mosquitto.url, tmp_path)
    journal(refusing, 3)
    bad = b'{"v":1,"sid":"%s","seq":2,"type":"teleport"}' % REFUSING.encode()
    edit_journal(refusing, "UPDATE outbox SET payload = ? WHERE seq = 2", bad)
    skipping = LinkStation(SKIPPING, mosquitto.url, tmp_path)
    journal(skipping, 3)
    edit_journal(skipping, "DELETE FROM outbox WHERE seq = 2")
    started = time.monotonic()
    refusing.start()
    skipping.start()
    try:
        # The refused row: the ack moves past it, naming it, and the station keeps the row.
        wait_for(lambda: refusing.journal.backlog() == 0, 20, "the refusing journal to drain")
        kept = refusing.journal.refused()
        assert [(row.seq, reason) for row, reason in kept] == [(2, "schema")]
        assert b'"type":"teleport"' in kept[0][0].payload  # as sent, kept for inspection
        assert refusing.link.stats["refused"] == 1
        assert any(
            f"{REFUSING}: the cloud refused seq 2 (schema)" in r.getMessage()
            and r.levelname == "WARNING"
            for r in caplog.records
        )
        # The gap: the ack moves past it only after the (shortened) wait.
        wait_for(lambda: skipping.journal.backlog() == 0, 20, "the ack past the gap")
        assert time.monotonic() - started >= 1.0
        assert skipping.link.stats["refused"] == 1  # told: seq 2 skipped as a gap
        assert any(
            f"{SKIPPING}: the cloud refused seq 2 (seq_gap)" in r.getMessage()
            for r in caplog.records
        )
        alarm = wait_for(lambda: raised(engine, REFUSING, "payload_refused"), 15, "alarm")
        assert "schema" in str(alarm.detail)
        wait_for(lambda: raised(engine, SKIPPING, "seq_gap"), 15, "the seq_gap alarm")
    finally:
        refusing.stop()
        skipping.stop()
    refused, skipped = state(engine, REFUSING), state(engine, SKIPPING)
    with session(engine) as s:
        assert len(s.exec(select(Event).where(Event.station_id == REFUSING)).all()) == 2
        dead = s.exec(select(DeadLetter).where(DeadLetter.station_id == REFUSING)).all()
        gaps = s.exec(select(DeadLetter).where(DeadLetter.station_id == SKIPPING)).all()
    # Every refused message counts (the station may send seq 2 twice: its window goes out
    # again when the cloud state says online right after it connected).
    assert {(d.seq, d.reason) for d in dead} == {(2, "schema")}
    assert (refused.acked_seq, refused.refused) == (3, len(dead))
    assert (skipped.acked_seq, skipped.skipped, skipped.gap_since) == (3, 1, None)
    assert [(g.seq, g.reason) for g in gaps] == [(2, "seq_gap")]
    assert "seqs 2-2 (1) never arrived" in gaps[0].detail
    page = ops_page(db_url, engine, monkeypatch)
    assert "payload_refused" in [a["rule"] for a in page["alarms"]]
