"""`cloud.notify.worker`: deliveries to real loopback receivers — signed webhooks, robots,
SMTP — with retries and backoff, a hanging receiver that holds nobody else, and leases that
keep two workers from sending one delivery twice. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from sqlalchemy import Engine, select

from cloud.clock import utcnow
from cloud.notify import formats, service
from cloud.notify.channels import Smtp
from cloud.notify.models import DELIVERY
from cloud.notify.poller import add_event
from cloud.notify.worker import DeliveryWorker, WorkerPolicy
from tests.support.receivers import http_receiver, smtp_sink
from tests.support.wait import wait_for

FACTS = {
    "rule": "camera_down",
    "severity": "critical",
    "station_id": "st-1",
    "station_name": "黄河五路驿站",
    "city": "滨州",
    "tz": "Asia/Shanghai",
    "raised_at": "2026-12-06T01:30:00+00:00",
}


def queue(engine: Engine, channel_id: int, key: str = "alarm:1:raised") -> int:
    with engine.begin() as conn:
        event_id = add_event(conn, key, "raised", FACTS, {channel_id}, utcnow())
    assert event_id is not None
    return event_id


def statuses(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(DELIVERY.c.status).order_by(DELIVERY.c.id)).scalars())


def run_until(worker: DeliveryWorker, done: Callable[[], Any], timeout_s: float = 10) -> None:
    def step() -> Any:
        worker.dispatch()
        return done()

    try:
        wait_for(step, timeout_s, "deliveries to finish")
    finally:
        worker.close()


def test_a_webhook_arrives_signed_and_the_try_is_logged(
    engine: Engine, channel: Callable[..., int]
) -> None:
    with http_receiver() as rx:
        hook = channel("webhook", rx.url, secret="k3y")
        event_id = queue(engine, hook)
        run_until(DeliveryWorker(engine), lambda: statuses(engine) == ["sent"])
    (got,) = rx.received
    sig, ts = got.headers[formats.SIGNATURE_HEADER], got.headers[formats.TIMESTAMP_HEADER]
    assert formats.verify_webhook("k3y", ts, got.body, sig, time.time())
    assert got.headers[formats.EVENT_HEADER] == str(event_id)
    with engine.connect() as conn:
        (log,) = service.deliveries(conn)
    assert (log.status, log.attempts, log.last_status) == ("sent", 1, 200)
    assert [(t.ok, t.status) for t in log.tries] == [(True, 200)]
    assert log.title == "【严重告警】黄河五路驿站：摄像头故障"


def test_a_receiver_failing_twice_gets_it_on_the_third_try_after_backoff(
    engine: Engine, channel: Callable[..., int]
) -> None:
    policy = WorkerPolicy(base_s=0.2, cap_s=5)
    with http_receiver(statuses=[500, 503]) as rx:
        queue(engine, channel("webhook", rx.url))
        run_until(DeliveryWorker(engine, policy=policy), lambda: statuses(engine) == ["sent"])
    times = [r.at for r in rx.received]
    assert len(times) == 3
    # equal jitter: the 1st retry waits 0.1–0.2 s, the 2nd 0.2–0.4 s
    assert times[1] - times[0] >= 0.1
    assert times[2] - times[1] >= 0.2
    with engine.connect() as conn:
        (log,) = service.deliveries(conn)
    assert [(t.ok, t.status) for t in log.tries] == [(False, 500), (False, 503), (True, 200)]
    assert log.tries[0].error == "HTTP 500 Internal Server Error"


def test_attempts_run_out_and_the_delivery_fails(
    engine: Engine, channel: Callable[..., int]
) -> None:
    policy = WorkerPolicy(base_s=0.01, cap_s=0.02, max_attempts=3)
    with http_receiver(statuses=[500] * 10) as rx:
        queue(engine, channel("webhook", rx.url))
        run_until(DeliveryWorker(engine, policy=policy), lambda: statuses(engine) == ["failed"])
    assert len(rx.received) == 3


def test_a_hanging_receiver_holds_up_no_other_channel(
    engine: Engine, channel: Callable[..., int]
) -> None:
    with http_receiver(hang=True) as stuck, http_receiver() as fine:
        slow = channel("webhook", stuck.url, name="stuck", timeout_s=3)
        quick = channel("webhook", fine.url, name="fine")
        for n in range(3):
            queue(engine, slow, f"alarm:{n}:raised")
        for n in range(3, 6):
            queue(engine, quick, f"alarm:{n}:raised")
        worker = DeliveryWorker(engine, policy=WorkerPolicy(threads=4, base_s=30))
        started = time.monotonic()
        try:
            wait_for(lambda: worker.dispatch() >= 0 and len(fine.received) == 3, 5, "fine channel")
            elapsed = time.monotonic() - started
            assert len(stuck.received) == 1  # one in flight per channel: the others wait
        finally:
            stuck.release.set()
            worker.close()
    assert elapsed < 2.0  # not behind the stuck channel's 3 s timeout


def test_a_timeout_is_a_failed_try(engine: Engine, channel: Callable[..., int]) -> None:
    with http_receiver(hang=True) as stuck:
        queue(engine, channel("webhook", stuck.url, timeout_s=0.3))
        worker = DeliveryWorker(engine, policy=WorkerPolicy(base_s=60))
        run_until(worker, lambda: statuses(engine) == ["pending"] and not worker.busy())
        stuck.release.set()
    with engine.connect() as conn:
        (log,) = service.deliveries(conn)
    assert log.attempts == 1
    assert "timed out" in (log.last_error or "")


def test_two_workers_never_send_one_delivery_twice(
    engine: Engine, channel: Callable[..., int]
) -> None:
    with http_receiver() as rx:
        ids = [channel("webhook", rx.url, name=f"c{n}") for n in range(4)]
        for n in range(20):
            queue(engine, ids[n % 4], f"alarm:{n}:raised")
        workers = [DeliveryWorker(engine, policy=WorkerPolicy(threads=4)) for _ in range(2)]
        go = threading.Event()

        def spin(w: DeliveryWorker) -> None:
            go.wait()
            deadline = time.monotonic() + 10
            while statuses(engine).count("sent") < 20 and time.monotonic() < deadline:
                w.dispatch()
                time.sleep(0.005)

        threads = [threading.Thread(target=spin, args=(w,)) for w in workers]
        for t in threads:
            t.start()
        go.set()
        for t in threads:
            t.join()
        for w in workers:
            w.close()
    event_ids = [r.headers[formats.EVENT_HEADER] for r in rx.received]
    assert len(event_ids) == 20
    assert len(set(event_ids)) == 20


def test_robots_get_their_formats_and_a_refusal_is_an_error(
    engine: Engine, channel: Callable[..., int]
) -> None:
    with http_receiver() as ding, http_receiver(answer=b'{"code":19021,"msg":"sign fail"}') as lark:
        talk = channel("dingtalk", ding.url + "?access_token=tok", secret="SECx", name="ding")
        fei = channel("feishu", lark.url, secret="fs", name="lark")
        queue(engine, talk, "alarm:1:raised")
        queue(engine, fei, "alarm:2:raised")
        policy = WorkerPolicy(max_attempts=1)
        run_until(
            DeliveryWorker(engine, policy=policy),
            lambda: sorted(statuses(engine)) == ["failed", "sent"],
        )
    (got,) = ding.received
    assert got.query["access_token"] == ["tok"]
    sign = formats.dingtalk_sign("SECx", int(got.query["timestamp"][0]))
    assert got.query["sign"] == [unquote_plus(sign)]  # parse_qs decoded the query
    assert set(json.loads(got.body)) == {"msgtype", "markdown"}
    (lark_got,) = lark.received
    assert set(json.loads(lark_got.body)) == {"timestamp", "sign", "msg_type", "content"}
    with engine.connect() as conn:
        failed = service.deliveries(conn, status="failed")
    assert [d.last_error for d in failed] == ["feishu refused: 19021 sign fail"]


def test_mail_reaches_an_smtp_sink_in_utf8(engine: Engine, channel: Callable[..., int]) -> None:
    with smtp_sink() as sink:
        mail = channel("email", "ops@example.org, duty@example.org")
        queue(engine, mail)
        smtp = Smtp(host="127.0.0.1", port=sink.port, sender="ws@example.org")
        run_until(DeliveryWorker(engine, smtp=smtp), lambda: statuses(engine) == ["sent"])
    ((sender, rcpts, message),) = sink.messages
    assert (sender, rcpts) == ("ws@example.org", ["ops@example.org", "duty@example.org"])
    assert message["Subject"] == "【严重告警】黄河五路驿站：摄像头故障"
    assert "城市：滨州" in message.get_content()


def test_a_removed_channel_drops_what_it_was_owed(
    engine: Engine, channel: Callable[..., int]
) -> None:
    gone = channel("webhook", "http://127.0.0.1:9/x")
    queue(engine, gone)
    with engine.begin() as conn:
        service.remove_channel(conn, gone)
    run_until(DeliveryWorker(engine), lambda: statuses(engine) == ["dropped"])


def test_the_log_is_purged_by_age_but_never_what_is_still_owed(
    engine: Engine, channel: Callable[..., int]
) -> None:
    from datetime import timedelta

    from cloud.notify.models import EVENT
    from cloud.notify.worker import purge_log

    with http_receiver() as rx:
        hook = channel("webhook", rx.url)
        queue(engine, hook, "alarm:1:raised")
        run_until(DeliveryWorker(engine), lambda: statuses(engine) == ["sent"])
    queue(engine, channel("webhook", "http://127.0.0.1:9/", name="owed"), "alarm:2:raised")
    later = utcnow() + timedelta(days=100)
    assert purge_log(engine, later) == 1
    with engine.connect() as conn:
        assert list(conn.execute(select(EVENT.c.key)).scalars()) == ["alarm:2:raised"]
    assert statuses(engine) == ["pending"]


def test_a_dead_workers_lease_expires_and_the_delivery_is_sent_once_more(
    engine: Engine, channel: Callable[..., int]
) -> None:
    """A process that died mid-send leaves its delivery `sending`: nobody touches it while
    the lease runs, and it is claimed again (at least once) when the lease has expired."""
    from datetime import timedelta

    from sqlalchemy import update

    with http_receiver() as rx:
        queue(engine, channel("webhook", rx.url))
        held = utcnow() + timedelta(minutes=5)
        with engine.begin() as conn:
            conn.execute(update(DELIVERY).values(status="sending", lease_until=held, attempts=1))
        worker = DeliveryWorker(engine)
        assert worker.dispatch() == 0  # the lease still runs
        with engine.begin() as conn:
            past = utcnow() - timedelta(seconds=1)
            conn.execute(update(DELIVERY).values(lease_until=past))
        run_until(worker, lambda: statuses(engine) == ["sent"])
    assert len(rx.received) == 1
    with engine.connect() as conn:
        (log,) = service.deliveries(conn)
    assert log.attempts == 2  # the dead process's try counts
