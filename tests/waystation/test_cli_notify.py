"""`waystation cloud notify …`: channels and routing from the shell, a test message to a real
receiver, the delivery log, and refusals as one line with exit 2."""

from __future__ import annotations

import time
from pathlib import Path

from typer.testing import CliRunner, Result

from cloud.notify import formats
from tests.support.receivers import http_receiver, smtp_sink
from waystation.cli import app


def run(db: str, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["cloud", "notify", *args, "--db", db], input=stdin, env=env)


def test_add_list_test_log_and_remove(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ws.db'}"
    with http_receiver() as rx:
        added = run(db, "add-webhook", rx.url, "--name", "ops", "--min-severity", "critical",
                    "--city", "滨州", "--city", "济南", "--quiet", "22:00-07:00")  # fmt: skip
        assert added.exit_code == 0, added.output
        assert "channel 1 ops (webhook) with rule 1" in added.output
        secret = added.output.split("shown once, give it to the receiver): ")[1].strip()
        robot = run(db, "add-robot", "https://oapi.dingtalk.com/robot/send?access_token=abcdef",
                    "--kind", "dingtalk", "--name", "钉钉群", "--secret-stdin",
                    "--escalate-after", "30", "--escalate-to", "ops", stdin="SEC123\n")  # fmt: skip
        assert robot.exit_code == 0, robot.output
        listed = run(db, "list")
        assert listed.exit_code == 0
        assert secret not in listed.output
        assert "SEC123" not in listed.output
        assert "access_token=abcd…" in listed.output
        assert "rule 1\t→ channel 1\t≥critical city=滨州,济南" in listed.output
        assert "escalate 30 min → 1" in listed.output
        tested = run(db, "test", "ops")
        assert tested.exit_code == 0, tested.output
        assert tested.output.strip() == "ops: sent 200"
    (got,) = rx.received
    sig, ts = got.headers[formats.SIGNATURE_HEADER], got.headers[formats.TIMESTAMP_HEADER]
    assert formats.verify_webhook(secret, ts, got.body, sig, time.time())
    log = run(db, "log")
    assert "\tops\tsent\t1 tries\t200\t【测试消息】ops：通道测试" in log.output
    assert run(db, "remove", "钉钉群").exit_code == 0
    assert "钉钉群" not in run(db, "list").output


def test_email_and_a_failing_test(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ws.db'}"
    with smtp_sink() as sink:
        assert run(db, "add-email", "ops@example.org", "--name", "mail").exit_code == 0
        env = {"WAYSTATION_SMTP_HOST": "127.0.0.1", "WAYSTATION_SMTP_PORT": str(sink.port)}
        tested = run(db, "test", "mail", env=env)
        assert tested.exit_code == 0, tested.output
    assert sink.messages[0][2]["Subject"] == "【测试消息】mail：通道测试"
    no_server = run(db, "test", "mail")
    assert no_server.exit_code == 1
    assert "failed" in no_server.output
    assert "WAYSTATION_SMTP_HOST" in no_server.output


def test_refusals_are_one_line(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ws.db'}"
    bad = run(db, "add-email", "not-an-address")
    assert bad.exit_code == 2
    assert "not an e-mail address" in bad.output
    assert run(db, "test", "nope").exit_code == 2
    assert run(db, "add-robot", "https://x", "--kind", "slack").exit_code == 2
    assert run(db, "add-digest", "nope").exit_code == 2


def test_notify_run_is_a_notifier_process_of_its_own(tmp_path: Path) -> None:
    """`cloud notify run` (beside ingest processes with WAYSTATION_NOTIFY_INTERVAL_S=0) sends
    an alarm an ingest process stored, and stops cleanly on SIGTERM."""
    import os
    import signal
    import subprocess
    import sys

    from cloud.alarms import edge
    from cloud.clock import utcnow
    from cloud.db import init_db, make_engine
    from cloud.models import Station, StationState, table
    from tests.support.wait import wait_for

    db = f"sqlite:///{tmp_path / 'ws.db'}"
    engine = make_engine(db)
    init_db(engine)
    with engine.begin() as conn:
        conn.execute(table(Station).insert().values(id="st-1", name="一号站", lat=31.2, lon=121.4))
        conn.execute(table(StationState).insert().values(station_id="st-1"))
    script = Path(sys.executable).with_name("waystation")
    root = Path(__file__).resolve().parents[2]
    env = os.environ | {"PYTHONPATH": str(root), "WAYSTATION_NOTIFY_INTERVAL_S": "0"}
    with http_receiver() as rx:
        assert run(db, "add-webhook", rx.url, "--name", "ops").exit_code == 0
        proc = subprocess.Popen([str(script), "cloud", "notify", "run", "--db", db], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline() == b"notifier running\n"  # signals handled from here
            now = utcnow()
            with engine.begin() as conn:
                edge.apply(conn, [edge.Signal("st-1", "camera_down", True, now, 1)], now)
            wait_for(lambda: rx.received, 10, "the alarm at the receiver")
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0
            proc.stdout.close()  # type: ignore[union-attr]
            engine.dispose()
    assert b"\xe4\xb8\x80\xe5\x8f\xb7\xe7\xab\x99" in rx.received[0].body  # 一号站, UTF-8
