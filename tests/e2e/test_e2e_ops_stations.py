"""Stations managed from the Chinese dashboard, in real headless Chromium.

Story: stations could only be changed with a registry file on the server's shell, and the
workers' station page had no entrance hint or phone. Here an operator edits a station's
hours in the dashboard (zh-CN) with the hours helper and the workers' station page shows
the new hours; the page shows the entrance hint and a tel: link; the map picker sets the
coordinates by a click; a new station typed in GCJ-02 is stored in WGS-84; a registry file
pasted into the import page is refused with its line numbers and nothing changes, then
previewed and imported once it is right.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher, profiles
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.auth import Role, create_user, passwords
from cloud.db import init_db, make_engine
from cloud.main import create_app
from cloud.models import Station
from cloud.settings import Settings
from cloud.transaction import session
from tests.e2e.test_e2e_ops_chinese import untranslated
from tests.support.ops_browser import log_in

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"
WAIT_MS = 15_000
SID = "bz-0001"
# Format and datum names Chinese users read as they are (besides the dashboard's own list).
FORMATS = re.compile(r"\b(CSV|GeoJSON|Excel|UTF|GBK|WGS|GPS|GCJ|AED)\b")


def still_english(page: Any) -> list[str]:
    return [t for t in untranslated(page) if re.search(r"[A-Za-z]{2,}", FORMATS.sub("", t))]


@dataclass
class Site:
    base: str
    engine: Engine


@pytest.fixture
def site(serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    engine = make_engine(url)
    init_db(engine)
    with session(engine) as s:
        s.add(
            Station(
                id=SID, name="滨州黄河五路驿站", lat=37.3835, lon=117.9707, city="滨州",
                operator="滨州市总工会", address="黄河五路 1 号", amenities=["water"],
                opening_hours="Mo-Su 08:00-20:00", entrance_hint="东门进，按门铃",
                contact_phone="0543-3211234",
            )
        )  # fmt: skip
    create_user(engine, "op", Role.OPERATOR, PASSWORD)
    app = create_app(Settings(db=url, cookie_secure=False, index_refresh_s=1))
    app.state.publish = lambda messages: None  # no broker here; no agent at this station
    try:
        yield Site(serve(app), engine)
    finally:
        engine.dispose()


def _set_hours(engine: Engine, hours: str) -> None:
    """The station's registry hours, written as an import would (no API in between)."""
    with session(engine) as s:
        station = s.get(Station, SID)
        assert station is not None
        station.opening_hours = hours


def _finder_hours(context: Any, base: str, hours: str) -> Any:
    """The workers' station page, once it shows `hours`."""
    page = context.new_page()
    page.goto(f"{base}/#/station/{SID}")
    page.wait_for_function(
        "(h) => document.getElementById('sv-hours').textContent === h", arg=hours, timeout=WAIT_MS
    )
    return page


def test_an_operator_edits_the_hours_in_chinese_and_the_finder_follows(
    browser: Any, site: Site, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="zh-CN")
    try:
        errors: list[str] = []
        finder = _finder_hours(context, site.base, "每天 08:00-20:00（Mo-Su 08:00-20:00）")
        assert finder.locator("#sv-entrance").inner_text() == "东门进，按门铃"
        phone = finder.locator("#sv-phone a")
        assert phone.inner_text() == "0543-3211234"
        assert phone.get_attribute("href") == "tel:05433211234"
        finder.close()

        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
        log_in(page, site.base, "op", PASSWORD, live=False)
        page.goto(f"{site.base}/ops#station/{SID}")
        page.wait_for_selector("#station-manage #se-edit", timeout=WAIT_MS)
        assert page.locator("#station-manage .se-entrance").inner_text() == "东门进，按门铃"
        assert untranslated(page) == []
        page.screenshot(path=str(tmp_path / "zh-station-manage.png"), full_page=True)

        page.click("#se-edit")
        page.wait_for_selector("#se-amenities input[value=water]:checked", timeout=WAIT_MS)
        # the map picker: a click sets WGS-84 coordinates
        page.wait_for_selector("#se-map.leaflet-container", timeout=WAIT_MS)
        before = page.input_value("#se-coords")
        page.locator("#se-map").click(position={"x": 60, "y": 60})
        page.wait_for_function(
            "(b) => document.getElementById('se-coords').value !== b", arg=before
        )
        assert re.fullmatch(r"-?\d+\.\d{6},-?\d+\.\d{6}", page.input_value("#se-coords"))
        assert page.input_value("#se-datum") == "wgs84"
        page.fill("#se-coords", "37.3835,117.9707")  # back where it is; only the hours change
        # the hours helper: Monday to Friday, 09:00 to 17:00
        page.select_option("select[name=hours_days]", "Mo-Fr")
        page.fill("input[name=hours_from]", "09:00")
        page.fill("input[name=hours_to]", "17:00")
        page.click("#se-hours-fill")
        assert page.input_value("#se-hours") == "Mo-Fr 09:00-17:00"
        page.screenshot(path=str(tmp_path / "zh-station-form.png"), full_page=True)
        assert still_english(page) == [], still_english(page)
        page.click("#se-save")
        page.wait_for_selector("#toasts .toast:has-text('已保存')", timeout=WAIT_MS)
        with Session(site.engine) as s:
            station = s.get(Station, SID)
            assert station is not None
            assert station.opening_hours == "Mo-Fr 09:00-17:00"
            assert (station.lat, station.lon) == (37.3835, 117.9707)

        finder = _finder_hours(context, site.base, "周一至周五 09:00-17:00（Mo-Fr 09:00-17:00）")
        finder.close()

        # a new station placed by GCJ-02 coordinates (as Amap shows them): stored as WGS-84
        page.goto(f"{site.base}/ops#manage/new")
        page.reload()  # a fresh page: without the station page and the toast seen above
        page.wait_for_selector("#se-form input[name=id]", timeout=WAIT_MS)
        page.wait_for_selector("#se-amenities input[value=water]", timeout=WAIT_MS)
        assert still_english(page) == [], still_english(page)
        page.fill("#se-form input[name=id]", "bz-0009")
        page.fill("#se-form input[name=name]", "滨州新立河驿站")
        page.fill("#se-coords", "37.385,117.976")
        page.select_option("#se-datum", "gcj02")
        page.locator("#se-amenities input[value=microwave]").check()
        page.click("#se-save")
        page.wait_for_url(f"{site.base}/ops#station/bz-0009", timeout=WAIT_MS)
        with Session(site.engine) as s:
            made = s.get(Station, "bz-0009")
            assert made is not None
            assert made.amenities == ["microwave"]
            assert 37.383 < made.lat < 37.385  # GCJ-02 is ~200-300 m off here
            assert made.lat != 37.385

        # a registry file: refused with its line, then previewed and imported
        page.goto(f"{site.base}/ops#manage/import")
        page.reload()
        page.wait_for_selector("#se-text", timeout=WAIT_MS)
        assert still_english(page) == [], still_english(page)
        header = "编号,名称,纬度,经度,设施,营业时间,运营方,地址,城市,联系电话"
        good = "bz-0002,滨州渤海七路驿站,37.37,117.96,饮水,24/7,滨州市总工会,渤海七路,滨州,"
        bad = "bz-0003,坏行,137.0,117.96,饮水,24/7,滨州市总工会,,滨州,打电话"
        page.fill("#se-text", "\n".join([header, good, bad]))
        page.click("#se-preview")
        page.wait_for_selector("#se-import-result .se-errors li", timeout=WAIT_MS)
        lines = page.locator("#se-import-result .se-errors li").all_inner_texts()
        assert [line.split(":")[0] for line in lines] == ["line 3", "line 3"]
        assert page.locator("#se-apply").is_disabled()
        page.fill("#se-text", "\n".join([header, good]))
        page.click("#se-preview")
        page.wait_for_selector("#se-import-result p:has-text('预览')", timeout=WAIT_MS)
        with Session(site.engine) as s:
            assert s.get(Station, "bz-0002") is None
        page.click("#se-apply")
        page.wait_for_selector("#se-import-result p:has-text('已导入')", timeout=WAIT_MS)
        with Session(site.engine) as s:
            assert s.get(Station, "bz-0002") is not None
        assert errors == []
    finally:
        context.close()


def test_a_station_closed_by_its_hours_shows_them_as_a_code_not_as_english(
    browser: Any, site: Site
) -> None:
    """Story: after 20:00 Beijing time the station page said "否，…开门（营业时间 Mo-Su
    08:00-20:00）" and the Chinese check flagged "Mo", "Su" as English: the suite failed in the
    evening only. The registry's hours are OSM syntax, a code from the field like an id: shown
    as they are, marked `translate="no"`. Hours that are never open make it so at any time."""
    _set_hours(site.engine, "Mo-Su off")
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="zh-CN")
    try:
        page = context.new_page()
        log_in(page, site.base, "op", PASSWORD, live=False)
        page.goto(f"{site.base}/ops#station/{SID}")
        shown = page.locator("dd:has-text('营业时间')")
        shown.wait_for(timeout=WAIT_MS)
        assert shown.inner_text().startswith("否（营业时间 Mo-Su off）")
        assert shown.locator("[translate=no]").inner_text() == "Mo-Su off"
        assert untranslated(page) == []
    finally:
        context.close()


def test_the_finder_reads_common_hours_out_in_chinese_and_shows_others_as_written(
    browser: Any, site: Site
) -> None:
    """Workers read "每天 08:00-20:00", not OSM's "Mo-Su"; an expression beyond day lists,
    times and "off" is shown exactly as the registry has it (no guess at its meaning)."""
    context = browser.new_context(viewport={"width": 800, "height": 1000}, locale="zh-CN")
    try:
        for hours, shown in (
            (
                "Mo-Fr 08:00-12:00,13:00-20:00; Sa,Su 09:00-18:00; PH off",
                "周一至周五 08:00-12:00、13:00-20:00；周六、周日 09:00-18:00；法定节假日休息"
                "（Mo-Fr 08:00-12:00,13:00-20:00; Sa,Su 09:00-18:00; PH off）",
            ),
            ("Mo-Su sunrise-sunset", "Mo-Su sunrise-sunset"),
        ):
            _set_hours(site.engine, hours)
            _finder_hours(context, site.base, shown).close()
    finally:
        context.close()
