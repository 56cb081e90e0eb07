"""`waystation cloud serve --workers 2`: SO_REUSEPORT workers answer, and SIGTERM stops all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.support.wait import wait_for
from waystation.mosquitto import free_port

WAYSTATION = str(Path(sys.executable).with_name("waystation"))


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _running(pid: int) -> bool:
    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:3]
    except OSError:
        return False


def test_two_workers_answer_and_stop_together(tmp_path: Path) -> None:
    # Story: the multi-worker server is our own supervisor now; it must not leave orphans.
    port = free_port()
    proc = subprocess.Popen(
        [WAYSTATION, "cloud", "serve", "--port", str(port), "--workers", "2", "--no-access-log",
         "--db", f"sqlite:///{tmp_path / 'w.db'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy(),
    )  # fmt: skip
    try:

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                    assert r.status == 200
                return True
            except OSError:
                assert proc.poll() is None, "supervisor exited"
                return False

        wait_for(healthy, 60, "the server to come up", interval_s=0.3)
        workers = _children(proc.pid)
        assert len(workers) >= 2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        # Workers are gone with the supervisor; multiprocessing's resource tracker (also a
        # child) notices its parent left a moment later, so allow it a few seconds.
        wait_for(lambda: not any(_running(pid) for pid in workers), 5, "the workers to exit")
        assert [pid for pid in workers if _running(pid)] == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_server_apps_freeze_what_startup_made_and_others_do_not(tmp_path: Path) -> None:
    # Story: a server process moves its startup objects (modules, the index) out of the
    # collector's way; an app built in a test or the demo must leave the collector alone.
    code = (
        "import gc\n"
        "from fastapi.testclient import TestClient\n"
        "from cloud.main import create_app\n"
        "from cloud.settings import Settings\n"
        f"s = Settings(db='sqlite:///{tmp_path / 'f.db'}')\n"
        "with TestClient(create_app(s)):\n"
        "    print(gc.get_freeze_count())\n"
        "with TestClient(create_app(s, freeze_gc=True)):\n"
        "    print(gc.get_freeze_count())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert int(out[0]) == 0
    assert int(out[1]) > 10_000
