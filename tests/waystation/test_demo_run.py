"""`waystation demo` as a user runs it: a real process that serves, stops by itself, and
leaves nothing behind."""

from __future__ import annotations

import csv
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from tests.support.lines import Lines
from tests.support.wait import wait_for
from waystation.lan_tls import lan_address
from waystation.mosquitto import free_port

WAYSTATION = Path(sys.executable).with_name("waystation")


def children(pid: int) -> list[str]:
    """Command names of the direct children of `pid` (Linux /proc; no psutil)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process went away while we looked
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        if ppid == pid:
            found.append(name)
    return found


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_demo_serves_open_stations_sorted_and_stops_by_itself(tmp_path: Path) -> None:
    port = free_port()
    stderr = tmp_path / "demo.err"
    workdir = tmp_path / "demo"
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            [str(WAYSTATION), "demo", "--stations", "4", "--port", str(port), "--for", "8",
             "--workdir", str(workdir)],
            stdout=subprocess.PIPE, stderr=err, text=True, cwd=tmp_path,
        )  # fmt: skip
        out = Lines(proc)
        try:
            url = out.until("Nearby:", 30).split(None, 1)[1]
            assert url.startswith(f"http://127.0.0.1:{port}/")
            dashboard = out.until("Dashboard:", 5)
            password = dashboard.rsplit(None, 1)[1].rstrip(")")
            login = httpx2.post(
                f"http://127.0.0.1:{port}/api/v1/ops/auth/login",
                json={"username": "demo", "password": password},
                timeout=10,
            )
            assert login.status_code == 200, login.text
            assert "ws_session" in login.cookies
            ops_line = out.until("Ops:", 5)
            ops_url, token = ops_line.split()[1], ops_line.split()[-1].rstrip(")")
            # Story: the first URL the demo printed (`/api/v1`) answered 404.
            printed = [w for line in out.seen for w in line.split() if w.startswith("http")]
            assert printed[0] == f"http://127.0.0.1:{port}/"  # the finder comes first
            bearer = {"Authorization": f"Bearer {token}"}
            for printed_url in printed:
                answer = httpx2.get(printed_url, headers=bearer, timeout=5, follow_redirects=True)
                assert answer.status_code == 200, (printed_url, answer.status_code)
            assert httpx2.get(ops_url, timeout=5).status_code == 401
            fleet = httpx2.get(ops_url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
            assert fleet.status_code == 200, fleet.text
            assert fleet.json()["stations"] == 4

            def open_stations() -> list[dict]:
                """The nearby stations once one of them is open, else []."""
                response = httpx2.get(url, timeout=5)
                assert response.status_code == 200, response.text
                stations = response.json()["stations"]
                return stations if any(s["open_now"] for s in stations) else []

            stations = wait_for(open_stations, 10, "an open station nearby", interval_s=0.5)
            assert any(s["open_now"] for s in stations), stations
            distances = [s["distance_m"] for s in stations]
            assert distances == sorted(distances)
            with (workdir / "registry.csv").open(encoding="utf-8", newline="") as fh:
                registered = {row["id"] for row in csv.DictReader(fh)}
            assert len(registered) == 4
            assert {s["id"] for s in stations} <= registered
            # Broker, cloud and fleet are threads of this one process.
            assert children(proc.pid) == []

            code = proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            out.close()
    assert code == 0, stderr.read_text()
    assert not listening(port)


def test_demo_on_a_busy_port_fails_promptly_naming_the_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        proc = subprocess.run(
            [str(WAYSTATION), "demo", "--stations", "2", "--port", str(port), "--for", "30",
             "--workdir", str(tmp_path / "demo")],
            capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False,
        )  # fmt: skip
        elapsed = time.monotonic() - started
    assert proc.returncode != 0
    assert elapsed < 20, f"took {elapsed:.1f} s to give up"
    assert str(port) in proc.stderr
    assert "--port" in proc.stderr
    assert "Nearby:" not in proc.stdout


def test_demo_lan_serves_https_that_its_own_certificate_verifies(tmp_path: Path) -> None:
    """`--lan`: a phone needs HTTPS for the member page's WebCrypto; the printed URLs are
    https on the LAN address, and the self-signed certificate the demo made verifies them."""
    port = free_port()
    workdir = tmp_path / "demo"
    proc = subprocess.Popen(
        [str(WAYSTATION), "demo", "--lan", "--stations", "1", "--port", str(port), "--for", "60",
         "--workdir", str(workdir)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=tmp_path,
    )  # fmt: skip
    out = Lines(proc)
    try:
        member = out.until("Member:", 30).split()[1]
        host = lan_address()
        assert member.startswith(f"https://{host}:{port}/member/#member="), member
        trusted = ssl.create_default_context(cafile=str(workdir / "lan-cert.pem"))
        page = httpx2.get(member.split("#")[0], verify=trusted, timeout=5)
        assert page.status_code == 200
        assert "<title>我的会员码</title>" in page.text
        with pytest.raises(httpx2.TransportError):  # no plain http in this mode
            httpx2.get(f"http://127.0.0.1:{port}/", timeout=5)
        proc.terminate()  # as Ctrl-C: a clean stop
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out.close()
    assert code == 0
