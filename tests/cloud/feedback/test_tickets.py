"""`cloud.feedback.tickets`: numbers that tell nothing, read forgivingly, states that move on."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Connection

from cloud.feedback import records, tickets
from tests.cloud.conftest import T0


def test_numbers_are_random_and_read_forgivingly() -> None:
    numbers = {tickets.new_ticket("report") for _ in range(200)}
    assert len(numbers) == 200
    assert all(tickets.TICKET_RE.match(n) and n.startswith("R-") for n in numbers)
    assert tickets.new_ticket("suggestion").startswith("S-")
    assert tickets.normalise(" s-7k3m 9qxa ") == "S-7K3M9QXA"
    assert tickets.normalise("R7K3M9QXA") == "R-7K3M9QXA"
    assert tickets.normalise("R-0OOOOOOO") is None  # look-alikes are not in the alphabet
    assert tickets.normalise("X-7K3M9QXA") is None


def test_state_moves_on_and_stops_at_a_final_one(
    db: Connection, put_station: Callable[..., str]
) -> None:
    put_station("st-1")
    code = tickets.new_ticket("report")
    records.add_report(db, station_id="st-1", kind="broken", text="", now=T0, ticket=code)
    view = tickets.lookup(db, code)
    assert view is not None
    assert (view.state, view.subject, view.station_name) == ("received", "broken", "Station st-1")
    with pytest.raises(tickets.TicketError, match="can be set to"):
        tickets.set_state(db, code, "built", by="op", note="", now=T0)
    tickets.set_state(db, code, "under_review", by="op", note="看过了", now=T0)
    done = tickets.set_state(db, code, "resolved", by="op", note="", now=T0)
    assert (done.state, done.reply) == ("resolved", "看过了")  # an empty note keeps the reply
    [listed] = records.reports(db, status="resolved").items
    assert (listed.ticket, listed.state) == (code, "resolved")
    with pytest.raises(tickets.TicketError, match="already resolved"):
        tickets.set_state(db, code, "under_review", by="op", note="", now=T0)
    with pytest.raises(LookupError):
        tickets.set_state(db, "R-22222222", "resolved", by="op", note="", now=T0)
