"""Ops API of notifications: admin only, secrets write-only, every change audited, a test
message followed to a real receiver through the delivery log."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from cloud.auth import Role
from cloud.auth.models import AuditEntry
from cloud.notify.worker import DeliveryWorker
from tests.support.receivers import http_receiver
from tests.support.wait import wait_for

BASE = "/api/v1/ops/notify"
HOOK = {"name": "值班群", "kind": "webhook", "target": "https://example.org/h", "secret": "s3cret"}


def test_only_admins_see_or_change_notifications(
    client: TestClient, as_role: Callable[[Role], dict[str, str]]
) -> None:
    admin = as_role(Role.ADMIN)
    made = client.post(f"{BASE}/channels", json=HOOK, headers=admin).json()
    for role in (Role.VIEWER, Role.OPERATOR):
        headers = as_role(role)
        for method, path, body in (
            ("GET", "/channels", None),
            ("POST", "/channels", HOOK | {"name": "x"}),
            ("PUT", f"/channels/{made['id']}", HOOK),
            ("DELETE", f"/channels/{made['id']}", None),
            ("POST", f"/channels/{made['id']}/test", None),
            ("GET", "/rules", None),
            ("POST", "/rules", {"name": "r", "channel_id": made["id"]}),
            ("GET", "/digests", None),
            ("GET", "/deliveries", None),
        ):
            r = client.request(method, BASE + path, json=body, headers=headers)
            assert r.status_code == 403, (role, method, path)
    assert client.get(f"{BASE}/channels").status_code == 401


def test_channels_rules_and_digests_round_trip_without_secrets(
    client: TestClient, as_role: Callable[[Role], dict[str, str]], engine: Engine
) -> None:
    admin = as_role(Role.ADMIN)
    r = client.post(f"{BASE}/channels", json=HOOK, headers=admin)
    assert r.status_code == 201
    made = r.json()
    assert made["has_secret"] is True
    assert "secret" not in made
    assert "s3cret" not in client.get(f"{BASE}/channels", headers=admin).text
    assert client.post(f"{BASE}/channels", json=HOOK, headers=admin).status_code == 409
    bad = client.post(
        f"{BASE}/channels", json=HOOK | {"name": "y", "target": "ftp://x"}, headers=admin
    )
    assert bad.status_code == 422
    # a PUT without a secret keeps it
    changed = client.put(
        f"{BASE}/channels/{made['id']}",
        json={k: v for k, v in HOOK.items() if k != "secret"}
        | {"quiet_start": "22:00", "quiet_end": "07:00"},
        headers=admin,
    ).json()
    assert (changed["has_secret"], changed["quiet_start"]) == (True, "22:00")
    rule = client.post(
        f"{BASE}/rules",
        json={
            "name": "滨州严重",
            "channel_id": made["id"],
            "min_severity": "critical",
            "cities": ["滨州"],
        },
        headers=admin,
    )
    assert rule.status_code == 201
    assert client.get(f"{BASE}/rules", headers=admin).json()[0]["cities"] == ["滨州"]
    missing = client.post(f"{BASE}/rules", json={"name": "r", "channel_id": 999}, headers=admin)
    assert missing.status_code == 404
    digest = client.post(
        f"{BASE}/digests", json={"name": "日报", "channel_id": made["id"], "hour": 8}, headers=admin
    )
    assert digest.status_code == 201
    assert client.delete(f"{BASE}/digests/{digest.json()['id']}", headers=admin).status_code == 204
    assert client.delete(f"{BASE}/rules/{rule.json()['id']}", headers=admin).status_code == 204
    assert client.delete(f"{BASE}/channels/{made['id']}", headers=admin).status_code == 204
    assert client.delete(f"{BASE}/channels/{made['id']}", headers=admin).status_code == 404
    with engine.connect() as conn:
        actions = list(conn.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars())
        details = conn.execute(select(AuditEntry.detail)).scalars().all()
    assert [a for a in actions if a.startswith("notify.")] == [
        "notify.channel.add",
        "notify.channel.change",
        "notify.rule.add",
        "notify.digest.add",
        "notify.digest.remove",
        "notify.rule.remove",
        "notify.channel.remove",
    ]
    assert "s3cret" not in str(details)


def test_a_test_message_reaches_the_receiver_and_the_log_says_so(
    client: TestClient, as_role: Callable[[Role], dict[str, str]], engine: Engine
) -> None:
    admin = as_role(Role.ADMIN)
    with http_receiver() as rx:
        made = client.post(f"{BASE}/channels", json=HOOK | {"target": rx.url}, headers=admin).json()
        queued = client.post(f"{BASE}/channels/{made['id']}/test", headers=admin)
        assert queued.status_code == 202
        event_id = queued.json()["event_id"]
        worker = DeliveryWorker(engine)
        try:

            def sent() -> bool:
                worker.dispatch()
                log = client.get(f"{BASE}/deliveries", params={"event_id": event_id}, headers=admin)
                return log.json()[0]["status"] == "sent"

            wait_for(sent, 10, "the test message sent")
        finally:
            worker.close()
    assert len(rx.received) == 1
    log = client.get(f"{BASE}/deliveries", params={"event_id": event_id}, headers=admin).json()
    assert [(d["status"], d["kind"], d["channel"]) for d in log] == [("sent", "test", "值班群")]
    assert [t["status"] for t in log[0]["tries"]] == [200]
    assert log[0]["title"] == "【测试消息】值班群：通道测试"
    assert client.get(f"{BASE}/deliveries", params={"status": "failed"}, headers=admin).json() == []
