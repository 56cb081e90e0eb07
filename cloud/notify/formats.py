"""What a notification says and how each channel kind wants it, as pure functions (no I/O).

Text is Chinese first (the people on the receiving end run Chinese stations); the rule's
code name stays beside its Chinese name so an English reader can still search for it.
Times are shown in the station's time zone (the cloud's own alarms: Asia/Shanghai).

Signatures:
- generic webhook: header `X-Waystation-Signature: sha256=<hex HMAC-SHA256(secret,
  "<timestamp>." + body)>` and `X-Waystation-Timestamp: <unix seconds>`; a receiver
  recomputes it and refuses a timestamp older than a few minutes (replay). `verify_webhook`
  is that check.
- 钉钉 (DingTalk) custom robot: `timestamp` (ms) and `sign` = urlencode(base64(HMAC-SHA256(
  key=secret, msg="<timestamp>\\n<secret>"))) as query parameters, as its docs say.
- 飞书 (Feishu/Lark) custom bot: `timestamp` (s) and `sign` = base64(HMAC-SHA256(
  key="<timestamp>\\n<secret>", msg=b"")) in the JSON body, as its docs say.
- 企业微信 (WeCom) group robot: no signature; the key in the URL is the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

SIGNATURE_HEADER = "X-Waystation-Signature"
TIMESTAMP_HEADER = "X-Waystation-Timestamp"
EVENT_HEADER = "X-Waystation-Event"  # the event id: a receiver de-duplicates on it
REPLAY_WINDOW_S = 300.0  # what `verify_webhook` accepts by default: 5 minutes of skew

RULES_ZH = {
    "station_offline": "站点离线",
    "fridge_warm": "冷鲜柜温度过高",
    "disk_full": "磁盘将满",
    "trust_list_old": "信任列表过旧",
    "revocation_list_old": "吊销列表过旧",
    "payload_refused": "消息被拒收",
    "seq_gap": "消息序号缺失",
    "config_mismatch": "配置未生效",
    "lock_fault": "门锁故障",
    "cloud_blind": "云端看不到站点",
    "camera_down": "摄像头故障",
    "no_trust_anchor": "缺少信任根",
    "door_held_open": "门长时间未关",
    "forced_open": "门被强行打开",
    "clock_unsynced": "站点时钟未同步",
    "config_rejected": "站点拒绝配置",
    "counter_degraded": "客流计数不可靠",
    "counter_mismatch": "客流计数不一致",
    "tailgating": "尾随进入",
}
SEVERITY_ZH = {"critical": "严重", "warning": "警告"}
KIND_ZH = {
    "raised": "告警",
    "cleared": "告警解除",
    "escalated": "告警升级",
    "digest": "每日摘要",
    "test": "测试消息",
}


@dataclass(frozen=True, slots=True)
class Message:
    """A notification rendered once, for every channel kind: a title and lines of text."""

    kind: str
    title: str
    lines: tuple[str, ...]
    data: dict[str, Any] = field(default_factory=dict)  # the machine-readable facts

    @property
    def text(self) -> str:
        return "\n".join((self.title, *self.lines))


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One POST: where, what headers, what body (UTF-8 JSON)."""

    url: str
    headers: dict[str, str]
    body: bytes


def _local(at: str | None, tz: str) -> str:
    if not at:
        return "—"
    moment = datetime.fromisoformat(at)
    try:
        zone = ZoneInfo(tz)
    except (KeyError, ValueError):
        zone = ZoneInfo("Asia/Shanghai")
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def render(kind: str, facts: dict[str, Any]) -> Message:
    """The message of an event (`facts` as the poller stored them)."""
    if kind in ("digest", "test"):
        title = f"【{KIND_ZH[kind]}】{facts.get('title', '')}"
        return Message(kind, title, tuple(facts.get("lines", ())), facts)
    rule = str(facts.get("rule", ""))
    severity = str(facts.get("severity", "warning"))
    tz = str(facts.get("tz") or "Asia/Shanghai")
    where = facts.get("station_name") or facts.get("station_id") or "云端"
    label = KIND_ZH.get(kind, kind)
    if kind == "raised" and severity == "critical":
        label = "严重告警"
    # no spaces around the separator: e-mail subjects fold into RFC 2047 words, and a
    # space between two encoded words is dropped when the subject is decoded
    title = f"【{label}】{where}：{RULES_ZH.get(rule, rule)}"
    lines = [
        f"站点：{facts.get('station_name') or '—'}（{facts.get('station_id') or '云端'}）",
        f"城市：{facts.get('city') or '—'}　运营方：{facts.get('operator') or '—'}",
        f"告警：{RULES_ZH.get(rule, rule)}（{rule}）　级别：{SEVERITY_ZH.get(severity, severity)}",
        f"发生时间：{_local(facts.get('raised_at'), tz)}",
    ]
    if facts.get("cleared_at"):
        lines.append(f"解除时间：{_local(facts.get('cleared_at'), tz)}")
    if kind == "escalated":
        lines.append(f"已超过 {facts.get('after_min', '?')} 分钟无人确认")
    if facts.get("detail"):
        lines.append(f"详情：{facts['detail']}")
    return Message(kind, title, tuple(lines), facts)


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_webhook(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    now: float,
    window_s: float = REPLAY_WINDOW_S,
) -> bool:
    """What a receiver checks: the signature over timestamp and body, and a fresh timestamp
    (`now` in unix seconds)."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now - ts) > window_s:
        return False
    return hmac.compare_digest(webhook_signature(secret, ts, body), signature)


def webhook(url: str, secret: str, event_id: int, msg: Message, now: datetime) -> HttpRequest:
    ts = int(now.timestamp())
    body = _json(
        {
            "type": f"alarm.{msg.kind}" if msg.kind not in ("digest", "test") else msg.kind,
            "event_id": event_id,
            "title": msg.title,
            "text": msg.text,
            "data": msg.data,
            "sent_at": now.astimezone(UTC).isoformat(),
        }
    )
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        TIMESTAMP_HEADER: str(ts),
        EVENT_HEADER: str(event_id),
    }
    if secret:
        headers[SIGNATURE_HEADER] = webhook_signature(secret, ts, body)
    return HttpRequest(url, headers, body)


_JSON = {"Content-Type": "application/json; charset=utf-8"}


def wecom(url: str, msg: Message) -> HttpRequest:
    """企业微信群机器人: markdown message (content at most 4096 bytes)."""
    content = f"**{msg.title}**\n" + "\n".join(f"> {line}" for line in msg.lines)
    content = content.encode()[:4096].decode(errors="ignore")
    return HttpRequest(
        url, dict(_JSON), _json({"msgtype": "markdown", "markdown": {"content": content}})
    )


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest))


def dingtalk(url: str, secret: str, msg: Message, now: datetime) -> HttpRequest:
    """钉钉自定义机器人: markdown message; signed in the query string when a secret is set."""
    if secret:
        ts = int(now.timestamp() * 1000)
        sep = "&" if "?" in url else "?"
        url = f"{url}{sep}timestamp={ts}&sign={dingtalk_sign(secret, ts)}"
    text = f"### {msg.title}\n\n" + "\n\n".join(msg.lines)
    body = {"msgtype": "markdown", "markdown": {"title": msg.title, "text": text}}
    return HttpRequest(url, dict(_JSON), _json(body))


def feishu_sign(secret: str, timestamp_s: int) -> str:
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def feishu(url: str, secret: str, msg: Message, now: datetime) -> HttpRequest:
    """飞书自定义机器人: a text message; `timestamp` and `sign` in the body when a secret is set."""
    body: dict[str, Any] = {"msg_type": "text", "content": {"text": msg.text}}
    if secret:
        ts = int(now.timestamp())
        body = {"timestamp": str(ts), "sign": feishu_sign(secret, ts), **body}
    return HttpRequest(url, dict(_JSON), _json(body))


def robot_accepted(kind: str, body: bytes) -> str | None:
    """None when a robot's answer says it took the message, else its error. The robots answer
    HTTP 200 even when they refuse (bad signature, keyword missing, rate limit)."""
    try:
        answer = json.loads(body or b"{}")
    except ValueError:
        return f"not JSON: {body[:80]!r}"
    if not isinstance(answer, dict):
        return "not a JSON object"
    code = answer.get("errcode", answer.get("code", answer.get("StatusCode", 0)))
    if code in (0, None):
        return None
    message = answer.get("errmsg") or answer.get("msg") or answer.get("StatusMessage") or ""
    return f"{kind} refused: {code} {message}"[:300]


def email(sender: str, recipients: list[str], msg: Message, now: datetime) -> EmailMessage:
    """A UTF-8 plain-text e-mail (the subject is RFC 2047-encoded by the `email` package)."""
    mail = EmailMessage()
    mail["Subject"] = msg.title
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail["Date"] = format_datetime(now.astimezone(UTC))
    mail["Message-ID"] = make_msgid(domain="waystation")
    mail.set_content("\n".join(msg.lines) + "\n", charset="utf-8")
    return mail
