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


def sent(journal: Journal) -> None:
    """The link published every pending row (only published rows can be acked)."""
    for row in journal.pending(limit=10_000):
        journal.mark_sent(row.seq)


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
        sent(journal)
        assert journal.ack(3) == 3
        assert journal.backlog() == 0
        assert append(journal) == [4]  # deleting every row does not reset the counter
    with Journal(path) as journal:  # nor does a reboot
        assert append(journal, 2) == [5, 6]
        assert journal.last_seq() == 6


def test_ack_deletes_up_to_seq_only(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db") as journal:
        append(journal, 5)
        sent(journal)
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


# --- an earlier life of the station (a replaced Pi, a wiped card) ------------------------------


def test_an_ack_beyond_anything_assigned_renumbers_instead_of_deleting(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db") as j:
        append(j, 3)
        j.mark_sent(1)
        ids = [json.loads(r.payload)["event_id"] for r in j.pending()]
        assert j.ack(500) == 0  # the cloud holds seqs 1..500 of the old Pi
        rows = j.pending()
        assert [r.seq for r in rows] == [501, 502, 503]
        assert [json.loads(r.payload)["event_id"] for r in rows] == ids  # same events, in order
        assert all(json.loads(r.payload)["seq"] == r.seq for r in rows)
        assert all(json.loads(r.payload)["historical"] for r in rows)
        assert not any(r.sent for r in rows)  # all go out again
        assert j.rebased == 1
        assert append(j, 1) == [504]  # the sequence continues above the cloud's mark
        sent(j)
        assert j.ack(503) == 3  # and acks work as usual afterwards
        assert [r.seq for r in j.pending()] == [504]


def test_an_ack_covering_a_row_never_sent_renumbers(tmp_path: Path) -> None:
    """The new Pi already journaled more than the old one's mark: a covered row that was
    never published cannot be in the cloud, so the ack is an earlier life's."""
    with Journal(tmp_path / "j.db") as j:
        append(j, 6)
        for seq in (1, 2):
            j.mark_sent(seq)
        assert j.ack(4) == 0
        assert [r.seq for r in j.pending()] == [5, 6, 7, 8, 9, 10]
        assert j.last_seq() == 10


def test_a_fresh_journal_starts_above_the_clouds_mark(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db") as j:
        assert j.ack(77) == 0  # the birth's ack re-states the station's mark
        assert append(j, 2) == [78, 79]


def test_a_normal_ack_of_sent_rows_deletes(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db") as j:
        append(j, 4)
        for seq in (1, 2, 3):
            j.mark_sent(seq)
        assert j.ack(3) == 3
        assert j.rebased == 0
        assert [r.seq for r in j.pending()] == [4]


def test_refused_rows_are_kept_for_inspection_never_resent_and_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Story: a row the cloud refused was deleted on its ack as if stored; nothing was kept."""
    monkeypatch.setattr("edge.journal.REFUSED_KEEP", 3)
    with Journal(tmp_path / "j.db") as journal:
        append(journal, 6)
        sent(journal)
        payload = journal.pending(limit=10)[1].payload
        assert journal.ack(3, {2: "schema", 99: "seq_gap"}) == 3  # 99: a seq it never had
        assert journal.pending(limit=10)[0].seq == 4  # gone from the window
        [(row, reason)] = journal.refused()
        assert (row.seq, row.payload, reason) == (2, payload, "schema")
        journal.ack(6, {4: "schema", 5: "bad_text", 6: "schema"})
        assert [(r.seq, why) for r, why in journal.refused()] == [
            (6, "schema"),
            (5, "bad_text"),
            (4, "schema"),
        ]  # the newest 3; the oldest dropped
        assert (journal.backlog(), journal.refused_count()) == (0, 3)
