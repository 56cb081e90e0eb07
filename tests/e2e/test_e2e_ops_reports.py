"""The monthly report page in real headless Chromium: Chinese first, the hand-built November
(tests.support.monthdata) as tables, the CSV link downloads the same figures with a BOM, the
"打印" button calls window.print() and the print view shows the title (scope and month) and
the tables without the header, nav or form. Screenshots (screen and print) go to tmp_path.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher, profiles

from cloud.api.ops_live import LiveConfig, LiveHub
from cloud.auth import Role, create_user, passwords
from cloud.db import init_db, make_engine
from cloud.main import create_app
from cloud.settings import Settings
from tests.support import monthdata as m
from tests.support.ops_browser import log_in, release_late

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"
WAIT_MS = 15_000
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
# Visible text of the report view outside names and codes (translate="no").
TEXTS = """() => {
  const out = [];
  const root = document.getElementById('view-reports');
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || el.closest('[translate=no]')) continue;
    if (el.getClientRects().length > 0) out.push(n.textContent.trim());
  }
  return out;
}"""


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))


def test_the_chinese_report_page_prints_without_the_nav(
    browser: Any, serve: Any, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'reports.db'}"
    engine = make_engine(url)
    init_db(engine)
    m.build(engine)
    create_user(engine, "union", Role.VIEWER, PASSWORD)
    app = create_app(Settings(db=url, cookie_secure=False), clock=lambda: m.NOW)
    app.state.ops_live = LiveHub(app.state.ctx.engine, LiveConfig(interval_s=0.3))
    base = serve(app)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
        log_in(page, base, "union", PASSWORD, live=False)
        # Story: choosing the grouping, then the month, sent two requests; the first (this
        # month's) answered last and replaced November on the page. Hold this month's answers
        # back until November is drawn, then let them through: November must stay.
        held: list[Any] = []

        def other_month(url: str) -> bool:
            return "/reports/monthly" in url and f"month={m.MONTH}" not in url

        page.route(other_month, lambda route: held.append(route))
        page.click("nav a[href='#reports']")
        page.wait_for_selector("#report-form", timeout=WAIT_MS)
        page.select_option("#rep-by", "city")
        page.fill("#rep-month", m.MONTH)
        page.dispatch_event("#rep-month", "change")
        row = page.locator("#rep-uptime tbody tr[data-key='深圳']")
        row.wait_for(timeout=WAIT_MS)
        assert held, "this month's report was never asked for"
        release_late(page, held, other_month)
        assert "99.54%" in row.inner_text()  # (717 + 358) / (720 + 360)
        assert "无实时数据" in page.locator("#rep-uptime tbody tr[data-key='广州']").inner_text()
        doors = page.locator("#rep-doors").inner_text()
        assert "凭证已吊销" in doors
        assert "凭证已过期" in doors
        alarms = page.locator("#rep-alarms tbody tr[data-key='深圳']").inner_text()
        assert "2 分钟" in alarms, alarms  # ack median 120 s
        assert m.C in page.locator("#rep-no-agent").inner_text()
        title = page.locator("#report-title").inner_text()
        assert "2026 年 11 月" in title, title
        assert "全部站点" in title, title
        left = [t for t in page.evaluate(TEXTS) if LATIN_WORD.search(t)]
        assert left == [], left
        page.screenshot(path=str(tmp_path / "reports-screen.png"), full_page=True)

        href = page.locator("#rep-csv").get_attribute("href")
        assert href is not None
        assert "format=csv" in href
        csv = page.request.get(base + href)
        assert csv.ok
        assert csv.body().startswith(b"\xef\xbb\xbf")
        assert csv.body().decode("utf-8-sig").startswith("城市,")

        page.evaluate("window.print = () => { window.__printed = true; }")
        page.click("#rep-print")
        assert page.evaluate("window.__printed") is True
        page.emulate_media(media="print")
        assert page.locator("nav").is_hidden()
        assert page.locator("header.top").is_hidden()
        assert page.locator("#report-form").is_hidden()
        assert page.locator("#report-title").is_visible()
        assert page.locator("#rep-uptime").is_visible()
        page.screenshot(path=str(tmp_path / "reports-print.png"), full_page=True)
        page.emulate_media(media="screen")
        assert page.locator("nav").is_visible()
        assert errors == [], errors
    finally:
        context.close()
        engine.dispose()
