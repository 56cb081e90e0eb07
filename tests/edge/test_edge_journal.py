from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from pathlib import Path

import pytest

from edge.journal import Journal, JournalClosedError
from protocol.messages import DoorEvent, Payload


def door_event(seq: int) -> DoorEvent:
    return DoorEvent(sid="sz-0001", event_id=uuid.uuid4(), seq=seq, action="unlocked")


def append(journal: Journal, n: int = 1) -> list[int]:
    return [journal.append("events", door_event)[0] for _ in range(n)]


def test_payload_carries_its_own_seq(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db") as journal:
        seq, payload = journal.append("events", door_event)
        assert seq == 1
        assert json.loads(payload)["seq"] == 1
        [row] = journal.pending()
        assert (row.seq, row.kind, row.payload, row.sent) == (1, "events", payload, False)


def test_seq_never_repeats_after_acks_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal(path) as journal:
        assert append(journal, 3) == [1, 2, 3]
        assert journal.ack(3) == 3
        assert journal.backlog() == 0
        assert append(journal) == [4]  # deleting every row does not reset the counter
    with Journal(path) as journal:  # nor does a reboot
        assert append(journal, 2) == [5, 6]
        assert journal.last_seq() == 6


def test_ack_deletes_up_to_seq_only(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db") as journal:
        append(journal, 5)
        assert journal.ack(2) == 2
        assert journal.backlog() == 3
        assert [r.seq for r in journal.pending()] == [3, 4, 5]
        assert [r.seq for r in journal.pending(after_seq=3, limit=1)] == [4]
        assert journal.ack(2) == 0  # a repeated ack is harmless


def test_mark_sent_can_replace_the_payload(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db") as journal:
        append(journal)
        journal.mark_sent(1, b'{"replaced":true}')
        [row] = journal.pending()
        assert row.sent
        assert row.payload == b'{"replaced":true}'


def test_failed_builder_stores_nothing(tmp_path: Path) -> None:
    def broken(seq: int) -> Payload:
        raise ValueError("bug")

    with Journal(tmp_path / "j.db") as journal:
        with pytest.raises(ValueError, match="bug"):
            journal.append("events", broken)
        assert journal.backlog() == 0


def test_session_counter_persists(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal(path) as journal:
        assert [journal.next_session() for _ in range(3)] == [1, 2, 3]
    with Journal(path) as journal:
        assert journal.next_session() == 4


def test_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal(path):
        mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_closed_journal_raises(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    assert not (tmp_path / "j.db").exists()  # the constructor does no I/O
    with pytest.raises(JournalClosedError):
        journal.backlog()


def test_concurrent_appends_get_unique_seqs(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db") as journal:
        seqs: list[int] = []
        lock = threading.Lock()

        def worker() -> None:
            mine = append(journal, 100)
            with lock:
                seqs.extend(mine)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(seqs) == list(range(1, 401))
        assert journal.backlog() == 400
