"""A replaced Pi (or a wiped SD card) starts its journal at seq 1 again, while the cloud already
holds seqs 1..N of the station's earlier life. The cloud's ack then covers rows the new Pi
never sent; deleting them would lose events. The journal renumbers instead, and every event
of both lives ends up in the database exactly once, and the new journal drains to empty."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy import Engine, func
from sqlmodel import select

from cloud.db import init_db, make_engine, session
from cloud.ingest.subscriber import IngestWorker
from cloud.models import Event, Station
from cloud.settings import Settings
from protocol.messages import AccessEvent
from tests.support.wait import wait_for
from waystation.harness.linkstation import LinkStation
from waystation.mosquitto import MosquittoProcess

pytestmark = pytest.mark.integration
SID = "sz-0001"


def journal_events(station: LinkStation, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        event_id = uuid4()
        station.journal.append(
            "events",
            lambda seq, e=event_id: AccessEvent(
                sid=SID, event_id=e, seq=seq, granted=True, reason="granted"
            ),
        )
        ids.append(str(event_id))
    return ids


def stored_ids(engine: Engine) -> list[str]:
    with session(engine) as s:
        return [str(e) for e in s.exec(select(Event.event_id))]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    init_db(eng)
    with session(eng) as s:
        s.add(Station(id=SID, name="Replaced", lat=22.54, lon=114.06))
    yield eng
    eng.dispose()


def test_a_replaced_pi_loses_nothing_when_its_seqs_start_again(
    engine: Engine, mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    worker = IngestWorker(engine, Settings(broker=mosquitto.url, batch_max_wait_s=0.05))
    worker.start()
    old = LinkStation(SID, mosquitto.url, tmp_path / "old-pi")
    new = LinkStation(SID, mosquitto.url, tmp_path / "new-pi")
    try:
        assert worker.subscribed.wait(10)
        old.start()
        first_life = journal_events(old, 30)
        old.link.kick()
        wait_for(lambda: old.journal.backlog() == 0, 20, "the old Pi's journal to drain")
        old.kill()  # the SD card dies with the Pi

        new.journal.open()  # a fresh card: seqs begin at 1 again
        second_life = journal_events(new, 12)  # journaled before it ever connects
        assert new.journal.last_seq() == 12
        new.link.start()
        wait_for(lambda: new.journal.backlog() == 0, 30, "the new Pi's journal to drain")
        more = journal_events(new, 5)  # and it keeps working afterwards
        new.link.kick()
        wait_for(lambda: new.journal.backlog() == 0, 20, "the new events to drain")
        wait_for(
            lambda: len(stored_ids(engine)) == len(first_life) + len(second_life) + len(more),
            10,
            "every event in the database",
        )
        ids = stored_ids(engine)
        assert sorted(ids) == sorted(first_life + second_life + more)  # each exactly once
        assert new.journal.rebased == 1
        assert new.journal.last_seq() == 30 + 12 + 5
        with session(engine) as s:
            top = s.exec(select(func.max(Event.seq)).where(Event.station_id == SID)).one()
        assert top == 47
    finally:
        new.kill()
        worker.stop()
