"""`cloud.notify.channels`: what a send reports when it cannot even start."""

from __future__ import annotations

from datetime import UTC, datetime

from cloud.notify import channels, formats
from tests.support.receivers import http_receiver

NOW = datetime(2026, 12, 6, tzinfo=UTC)
MSG = formats.render("test", {"title": "t", "lines": ["x"]})


def test_refusals_before_sending() -> None:
    mail = channels.Channel(1, "m", "email", "ops@example.org")
    out = channels.send(mail, 1, MSG, NOW, channels.Smtp())
    assert (out.ok, out.error) == (False, "no SMTP server configured (WAYSTATION_SMTP_HOST)")
    odd = channels.Channel(2, "w", "webhook", "file:///etc/passwd")
    assert (
        channels.send(odd, 1, MSG, NOW, channels.Smtp()).error
        == "the URL must be http:// or https://"
    )
    closed = channels.Channel(3, "w", "webhook", "http://127.0.0.1:9/", timeout_s=1)
    out = channels.send(closed, 1, MSG, NOW, channels.Smtp())
    assert not out.ok
    assert out.error is not None
    assert out.error.startswith("URLError")


def test_a_wecom_answer_is_read() -> None:
    with http_receiver(answer=b'{"errcode":93000,"errmsg":"invalid webhook url"}') as rx:
        bot = channels.Channel(1, "b", "wecom", rx.url)
        out = channels.send(bot, 1, MSG, NOW, channels.Smtp())
    assert (out.ok, out.status, out.error) == (
        False,
        200,
        "wecom refused: 93000 invalid webhook url",
    )
