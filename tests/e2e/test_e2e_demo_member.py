"""The demo's member journey as a newcomer walks it: start `waystation demo`, open the printed
Member link in headless Chromium, enrol, copy the code as text, paste it at the demo's Door,
and see the grant — in the door's answer and as an access event the ops API serves, which
means it went station journal → embedded broker → ingest → database.

The simulated visits are turned down to (practically) none, so the one access event at the
door station is the one this test made.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.support.lines import Lines
from tests.support.wait import wait_for
from waystation.mosquitto import free_port

pytestmark = pytest.mark.integration
WAYSTATION = Path(sys.executable).with_name("waystation")
CODE_TIMEOUT_MS = 15_000


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def test_demo_member_link_enrols_and_its_code_opens_the_demo_door(
    browser: Any, tmp_path: Path
) -> None:
    port = free_port()
    stderr = tmp_path / "demo.err"
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            [str(WAYSTATION), "demo", "--stations", "2", "--port", str(port), "--for", "60",
             "--visit-interval", "100000", "--workdir", str(tmp_path / "demo")],
            stdout=subprocess.PIPE, stderr=err, text=True, cwd=tmp_path,
        )  # fmt: skip
        out = Lines(proc)
        context = browser.new_context(locale="zh-CN")
        try:
            ops_line = out.until("Ops:", 30)
            token = ops_line.split()[-1].rstrip(")")
            member_url = out.until("Member:", 5).split()[1]
            assert re.fullmatch(
                rf"http://127\.0\.0\.1:{port}/member/#member=demo-member&code=\w+", member_url
            ), member_url
            door_line = out.until("Door:", 5)
            door_url, door_sid = door_line.split()[1], door_line.split()[-1].rstrip(")")

            page = context.new_page()
            page.goto(member_url)
            page.click("#enrol-form button[type=submit]")
            code = page.locator("#code-text")
            expect(code).to_have_attribute("data-t", re.compile(r"^\d+$"), timeout=CODE_TIMEOUT_MS)
            page.click("summary")  # “这台手机”
            page.click("#copy-code")  # shows the text (the clipboard is optional)
            expect(code).to_be_visible()
            text = code.inner_text()
            assert text.startswith("WS1:"), text

            door = context.new_page()
            door.goto(door_url)
            assert door.locator("#station").get_attribute("data-id") == door_sid
            door.fill("#code", text)
            door.click("button[type=submit]")
            expect(door.locator("#answer")).to_have_text("已放行：门已打开。")

            def access_events() -> list[dict]:
                answer = httpx2.get(
                    f"http://127.0.0.1:{port}/api/v1/ops/stations/{door_sid}/events",
                    params={"type": "access"},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=5,
                )
                assert answer.status_code == 200, answer.text
                return answer.json()["items"]

            events = wait_for(access_events, 10, "the door's access event", interval_s=0.2)
            assert [(e["granted"], e["reason"], e["credential"]) for e in events] == [
                (True, "granted", "ws1")
            ]

            # The same code again is a replay, denied by the same station.
            door.fill("#code", text)
            door.click("button[type=submit]")
            expect(door.locator("#answer")).to_have_text(re.compile("^拒绝: replay"))
            # Nothing pasted: a clear 422 page, and nothing decided.
            empty = httpx2.post(door_url, data={"code": " "}, timeout=5)
            assert empty.status_code == 422
            assert "请先粘贴会员码的文字" in empty.text
        finally:
            context.close()
            proc.terminate()
            proc.wait(30)
            out.close()
    assert proc.returncode == 0, stderr.read_text()
