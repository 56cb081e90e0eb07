"""`cloud.notify.formats`: the message text, the generic webhook's HMAC signature, and the
group robots' documented JSON shapes and signatures (checked against the docs' own recipes,
re-computed here independently)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from datetime import UTC, datetime
from email import message_from_bytes, policy

from cloud.notify import formats

NOW = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
FACTS = {
    "alarm_id": 7,
    "rule": "fridge_warm",
    "severity": "warning",
    "station_id": "st-001",
    "station_name": "滨州黄河五路驿站",
    "city": "滨州",
    "operator": "建设银行",
    "tz": "Asia/Shanghai",
    "detail": "9.5 °C",
    "raised_at": "2026-12-06T01:30:00+00:00",
    "cleared_at": None,
}


def test_an_alarm_message_is_chinese_with_local_times() -> None:
    msg = formats.render("raised", FACTS)
    assert msg.title == "【告警】滨州黄河五路驿站：冷鲜柜温度过高"
    assert "发生时间：2026-12-06 09:30:00" in msg.lines  # Shanghai is UTC+8
    assert "告警：冷鲜柜温度过高（fridge_warm）　级别：警告" in msg.lines
    cleared = formats.render("cleared", FACTS | {"cleared_at": "2026-12-06T02:00:00+00:00"})
    assert cleared.title.startswith("【告警解除】")
    assert "解除时间：2026-12-06 10:00:00" in cleared.lines
    escalated = formats.render("escalated", FACTS | {"after_min": 30})
    assert "已超过 30 分钟无人确认" in escalated.lines


def test_the_webhook_body_is_signed_over_timestamp_and_body() -> None:
    msg = formats.render("raised", FACTS)
    req = formats.webhook("http://x/hook", "s3cret", 42, msg, NOW)
    ts = req.headers[formats.TIMESTAMP_HEADER]
    expected = hmac.new(b"s3cret", ts.encode() + b"." + req.body, hashlib.sha256).hexdigest()
    assert req.headers[formats.SIGNATURE_HEADER] == f"sha256={expected}"
    body = json.loads(req.body)
    assert (body["type"], body["event_id"], body["data"]["station_id"]) == (
        "alarm.raised",
        42,
        "st-001",
    )
    now = NOW.timestamp()
    sig = req.headers[formats.SIGNATURE_HEADER]
    assert formats.verify_webhook("s3cret", ts, req.body, sig, now)
    assert not formats.verify_webhook("other", ts, req.body, sig, now)
    assert not formats.verify_webhook("s3cret", ts, req.body + b" ", sig, now)
    assert not formats.verify_webhook("s3cret", ts, req.body, sig, now + 301)  # a replay


def test_wecom_is_a_markdown_message() -> None:
    req = formats.wecom(
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", formats.render("raised", FACTS)
    )
    body = json.loads(req.body)
    assert set(body) == {"msgtype", "markdown"}
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["content"].startswith("**【告警】")
    assert len(body["markdown"]["content"].encode()) <= 4096


def test_dingtalk_signs_in_the_query_as_its_docs_say() -> None:
    secret = "SECabc123"
    req = formats.dingtalk(
        "https://oapi.dingtalk.com/robot/send?access_token=t",
        secret,
        formats.render("raised", FACTS),
        NOW,
    )
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(req.url).query)
    ts = query["timestamp"][0]
    assert ts == str(int(NOW.timestamp() * 1000))  # milliseconds
    # the docs' Python recipe: hmac(secret, f"{timestamp}\n{secret}"), base64, quote_plus
    digest = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    assert query["sign"][0] == base64.b64encode(digest).decode()
    assert query["access_token"] == ["t"]
    body = json.loads(req.body)
    assert body["msgtype"] == "markdown"
    assert set(body["markdown"]) == {"title", "text"}


def test_feishu_signs_in_the_body_as_its_docs_say() -> None:
    secret = "fs-secret"
    req = formats.feishu(
        "https://open.feishu.cn/open-apis/bot/v2/hook/x",
        secret,
        formats.render("raised", FACTS),
        NOW,
    )
    body = json.loads(req.body)
    assert body["timestamp"] == str(int(NOW.timestamp()))  # seconds, as a string
    key = f"{body['timestamp']}\n{secret}".encode()  # the docs: key = timestamp\nsecret, msg empty
    assert body["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert body["msg_type"] == "text"
    assert body["content"]["text"].startswith("【告警】")
    unsigned = json.loads(
        formats.feishu("https://x", "", formats.render("raised", FACTS), NOW).body
    )
    assert set(unsigned) == {"msg_type", "content"}


def test_robots_answer_200_even_when_they_refuse() -> None:
    assert formats.robot_accepted("wecom", b'{"errcode":0,"errmsg":"ok"}') is None
    assert formats.robot_accepted("feishu", b'{"code":0,"msg":"success"}') is None
    refused = formats.robot_accepted("feishu", b'{"code":19021,"msg":"sign match fail"}')
    assert refused == "feishu refused: 19021 sign match fail"
    assert formats.robot_accepted("dingtalk", b"<html>") is not None


def test_the_email_has_a_utf8_chinese_subject() -> None:
    mail = formats.email(
        "ws@example.org", ["ops@example.org"], formats.render("raised", FACTS), NOW
    )
    raw = mail.as_bytes()
    assert "冷鲜柜".encode() not in raw.split(b"\n\n")[0]  # headers are RFC 2047-encoded
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == "【告警】滨州黄河五路驿站：冷鲜柜温度过高"
    assert "城市：滨州" in parsed.get_content()
