from __future__ import annotations

import threading
import time

from cloud.ingest.inbox import Inbox


def test_bursts_arrive_whole_and_in_order() -> None:
    inbox: Inbox[int] = Inbox(100)
    for i in range(3):
        inbox.add(i)
    assert inbox.take() == []  # nothing handed over before the burst is sealed
    assert inbox.seal() == 0
    inbox.add(3)
    inbox.seal()
    assert len(inbox) == 4
    assert inbox.take() == [0, 1, 2]
    assert inbox.take() == [3]
    assert len(inbox) == 0
    assert inbox.seal() == 0  # an empty burst is nothing


def test_a_burst_that_does_not_fit_is_refused_whole_and_counted() -> None:
    inbox: Inbox[int] = Inbox(5)
    for i in range(4):
        inbox.add(i)
    inbox.seal()
    inbox.add(4)
    inbox.add(5)
    assert inbox.seal() == 2  # 4 + 2 > 5
    inbox.add(6)
    assert inbox.seal() == 0  # 4 + 1 fits: the next burst is not held back by the refusal
    assert inbox.take() == [0, 1, 2, 3]
    assert inbox.take() == [6]


def test_take_waits_for_a_burst_from_another_thread() -> None:
    inbox: Inbox[str] = Inbox(10)

    def produce() -> None:
        time.sleep(0.05)
        inbox.add("x")
        inbox.seal()

    threading.Thread(target=produce).start()
    assert inbox.take(timeout=5) == ["x"]
    assert inbox.take(timeout=0.01) == []  # and gives up when nothing comes
