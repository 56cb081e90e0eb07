"""`cloud.notify.service`: channels, rules and digests managed; secrets write-only; the
robot URL's key cut from what is shown."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import Connection, select

from cloud.notify import service
from cloud.notify.models import CHANNEL, RULE
from tests.cloud.conftest import T0


def hook(**fields: object) -> service.ChannelIn:
    values = {"name": "ops", "kind": "webhook", "target": "https://example.org/h"} | fields
    return service.ChannelIn(**values)  # type: ignore[arg-type]


def test_a_secret_is_stored_but_never_shown_and_kept_on_change(db: Connection) -> None:
    view = service.add_channel(db, hook(secret="s3cret"), T0)
    assert view.has_secret
    assert "s3cret" not in view.model_dump_json()
    service.change_channel(db, view.id, hook(name="ops2"), keep_secret=True)
    stored = db.execute(select(CHANNEL.c.secret, CHANNEL.c.name)).one()
    assert tuple(stored) == ("s3cret", "ops2")
    service.change_channel(db, view.id, hook(secret=""), keep_secret=False)
    assert not service.channel(db, view.id).has_secret


def test_a_robot_url_is_shown_with_its_key_cut(db: Connection) -> None:
    wecom = service.add_channel(
        db,
        hook(
            kind="wecom", target="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abcdef123456"
        ),
        T0,
    )
    assert wecom.target == "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abcd…"
    assert service.redact_url("https://open.feishu.cn/open-apis/bot/v2/hook/0a1b2c3d4e") == (
        "https://open.feishu.cn/open-apis/bot/v2/hook/0a1b…"
    )


def test_a_cut_url_sent_back_as_shown_keeps_the_stored_one(db: Connection) -> None:
    """A form edits a robot channel from what it was shown (the key cut): sending that back
    keeps the real URL; a new URL replaces it."""
    url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abcdef123456"
    shown = service.add_channel(db, hook(kind="wecom", target=url), T0)
    service.change_channel(
        db, shown.id, hook(kind="wecom", target=shown.target, name="sz"), keep_secret=True
    )
    assert tuple(db.execute(select(CHANNEL.c.target, CHANNEL.c.name)).one()) == (url, "sz")
    other = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=zzzz99998888"
    service.change_channel(db, shown.id, hook(kind="wecom", target=other), keep_secret=True)
    assert db.execute(select(CHANNEL.c.target)).scalar_one() == other
    with pytest.raises(service.NotifyError, match="no channel 999"):
        service.change_channel(db, 999, hook(), keep_secret=True)


def test_bad_channels_are_refused() -> None:
    with pytest.raises(ValidationError, match="http"):
        hook(target="ftp://x")
    with pytest.raises(ValidationError, match="e-mail"):
        hook(kind="email", target="ops@example.org, nobody")
    with pytest.raises(ValidationError, match="both"):
        hook(quiet_start="22:00")
    with pytest.raises(ValidationError, match="time zone"):
        hook(tz="Mars/Olympus")
    with pytest.raises(ValidationError):
        hook(quiet_start="25:00", quiet_end="07:00")


def test_names_are_unique_and_rules_need_real_channels(db: Connection) -> None:
    first = service.add_channel(db, hook(), T0)
    with pytest.raises(service.NotifyError, match="exists"):
        service.add_channel(db, hook(), T0)
    with pytest.raises(service.NotifyError, match="no channel 999"):
        service.add_rule(db, service.RuleIn(name="r", channel_id=999), T0)
    with pytest.raises(ValidationError, match="escalat"):
        service.RuleIn(name="r", channel_id=first.id, escalate_after_min=5)
    boss = service.add_channel(db, hook(name="boss"), T0)
    rule = service.add_rule(
        db,
        service.RuleIn(
            name="r", channel_id=first.id, cities=["滨州"], escalate_after_min=5,
            escalate_channel_id=boss.id,
        ),
        T0,
    )  # fmt: skip
    assert service.rules(db) == [rule]
    assert service.find_channel(db, "boss") == boss.id
    assert service.find_channel(db, str(first.id)) == first.id
    # removing the escalation target keeps the rule, without its escalation
    service.remove_channel(db, boss.id)
    assert service.rule(db, rule.id).escalate_channel_id is None
    service.remove_channel(db, first.id)
    assert db.execute(select(RULE)).all() == []


def test_a_test_message_is_queued_due_now(db: Connection) -> None:
    view = service.add_channel(db, hook(quiet_start="00:00", quiet_end="23:59"), T0)
    event_id = service.test_send(db, view.id, "alice", T0)
    (log,) = service.deliveries(db, event_id=event_id)
    assert (log.kind, log.status, log.next_at) == ("test", "pending", T0)
    assert log.title == "【测试消息】ops：通道测试"
