"""The members' change feed (`cloud.credentials.changes`): the cursor is a time watermark,
pages never split a timestamp, and nothing younger than the settling time is served."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from cloud.credentials import changes as C  # noqa: N812
from cloud.credentials.models import CertificateRow, MemberRow

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def _cert(serial: int, at: datetime, *, renewed_from: str | None = None) -> CertificateRow:
    return CertificateRow(
        serial=f"{serial:024x}", member_id="m-1", kid="k-1", device_public="x",
        valid_from=date(2026, 4, 30), valid_until=date(2026, 5, 29), issued_at=at,
        renewed_from=renewed_from,
    )  # fmt: skip


def test_cursor_round_trip_is_exact_to_the_microsecond() -> None:
    at = datetime(2026, 5, 1, 8, 0, 0, 123456, tzinfo=UTC)
    assert C.from_cursor(C.to_cursor(at)) == at
    assert C.to_cursor(datetime(1970, 1, 1, tzinfo=UTC)) == 0


def test_pages_never_split_a_timestamp_and_stay_behind_the_settling_time(engine: Engine) -> None:
    """Story: cutting a full page inside one timestamp would skip the rest of that instant."""
    with Session(engine) as s:
        s.add(MemberRow(member_id="m-1", flags=0))
        s.flush()
        s.add(_cert(1, T0))
        for n in (2, 3, 4):  # three certificates at the same instant
            s.add(_cert(n, T0 + timedelta(seconds=1), renewed_from=f"{1:024x}"))
        s.add(_cert(5, T0 + timedelta(seconds=2)))
        s.commit()
        now = T0 + timedelta(seconds=2 + C.SETTLE_S)
        page = C.changes_since(s, cursor=0, now=now, limit=2)
        assert [c.serial[-1] for c in page.changes] == ["1"]  # not 1 and half of the instant
        assert page.more
        page = C.changes_since(s, cursor=page.next_cursor, now=now, limit=2)
        assert [(c.kind, c.serial[-1]) for c in page.changes] == [
            ("renewed", "2"),
            ("renewed", "3"),
            ("renewed", "4"),
        ]  # fmt: skip — more than `limit` share one instant: that instant whole
        assert page.more
        page = C.changes_since(s, cursor=page.next_cursor, now=now, limit=2)
        assert [c.serial[-1] for c in page.changes] == ["5"]
        assert not page.more
        assert page.next_cursor == C.to_cursor(now - timedelta(seconds=C.SETTLE_S))
        # Younger than the settling time: not yet, and the cursor does not move past it.
        early = C.changes_since(s, cursor=0, now=T0 + timedelta(seconds=1), limit=10)
        assert early.changes == []
        assert C.as_json(page.changes[0])["kind"] == "enrolled"
