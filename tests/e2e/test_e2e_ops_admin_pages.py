"""The dashboard's admin pages in real headless Chromium, in Chinese: member administration
(an enrolment code shown as a QR code a phone can enrol with, a member revoked, the stations
that run the latest revocation list), one config change for many stations (preview, then
apply: a station's desired version moves), and notifications (a webhook channel to a local
receiver, a test message, its delivery in the log).

Story: the APIs existed, but an admin had to use curl or the CLI for each of them.
"""

from __future__ import annotations

import io
import json
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import zxingcpp
from argon2 import PasswordHasher, profiles
from PIL import Image
from sqlalchemy import Engine

from cloud.auth import Role, create_user, passwords
from cloud.credentials import issuer as I  # noqa: N812
from cloud.credentials import members as M  # noqa: N812
from cloud.credentials.context import CredentialContext, CredentialSettings
from cloud.credentials.keys import Passphrase
from cloud.db import init_db, make_engine, session
from cloud.ingest.ingestor import Ingestor
from cloud.main import create_app
from cloud.notify.runner import Notifier
from cloud.settings import Settings
from cloud.stations.registry import import_csv
from firmware_sim.cities import make_records, write_registry_csv
from firmware_sim.wallet import enrollment_request, new_device_key
from protocol import topics
from protocol.messages import StatePayload, TelemetryPayload
from tests.e2e.test_e2e_ops_chinese import untranslated
from tests.support.ops_browser import log_in
from tests.support.receivers import http_receiver
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"
WAIT_MS = 15_000
MEMBER = "m-e2e-7"


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))


@dataclass
class Site:
    base: str
    engine: Engine
    sids: list[str]
    ingest: Ingestor


@pytest.fixture
def site(serve: Any, tmp_path: Path) -> Iterator[Site]:
    """Four stations (online, by heartbeat), an issuer, members `m-e2e-7` and `m-other`, and
    an admin `boss`."""
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    engine = make_engine(url)
    init_db(engine)
    records = make_records(4, seed=7, city="shenzhen")
    import_csv(engine, write_registry_csv(records, tmp_path / "registry.csv"))
    create_user(engine, "boss", Role.ADMIN, PASSWORD)
    vault = I.KeyVault(Passphrase("e2e admin pages passphrase"))
    with session(engine) as s:
        I.create_issuer(s, vault, kid="e2e-1", now=datetime.now(UTC))
        for mid in (MEMBER, "m-other"):
            M.upsert_member(s, member_id=mid, branch="sz-bao-an")
    ingest = Ingestor(engine)
    for r in records:
        state = StatePayload(sid=r.id, status="online", sess=1, ts=datetime.now(UTC))
        ingest.handle(topics.state(r.id), state.to_bytes())
        ingest.handle(topics.telemetry(r.id), _heartbeat(r.id, None))
    ingest.flush()
    app = create_app(Settings(db=url, cookie_secure=False))
    app.state.credentials = CredentialContext(CredentialSettings(publish_lists=False), vault)
    app.state.publish = lambda messages: None  # the broker took it
    try:
        yield Site(serve(app), engine, [r.id for r in records], ingest)
    finally:
        engine.dispose()


def _heartbeat(sid: str, revocation_version: int | None) -> bytes:
    payload = TelemetryPayload(
        sid=sid, uptime_s=60, ts=datetime.now(UTC), revocation_version=revocation_version
    )
    return payload.to_bytes()


def _log_in(page: Any, site: Site, username: str) -> None:
    log_in(page, site.base, username, PASSWORD)


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    """An admin's page, logged in, in Chinese; fails on any page error."""
    context = browser.new_context(viewport={"width": 1280, "height": 1100}, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    _log_in(page, site, "boss")
    try:
        yield page
    finally:
        context.close()
    assert errors == [], errors


def _post_json(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    req = urllib.request.Request(  # noqa: S310 - the test's own server
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req) as res:  # noqa: S310
        return res.status, json.loads(res.read())


def test_an_admin_issues_a_code_as_a_qr_code_and_revokes_the_member(
    page: Any, site: Site, tmp_path: Path
) -> None:
    page.click("nav a[href='#members']")
    page.wait_for_selector(f"#member-rows tr[data-member='{MEMBER}']", timeout=WAIT_MS)
    reach = page.locator("#rev-reach")
    assert reach.inner_text().startswith("0 / 4 个站点运行最新吊销列表")
    version = int(reach.get_attribute("data-version"))
    page.fill("#member-q", "E2E")
    page.click("#member-search button[type=submit]")
    page.wait_for_selector("#member-rows tr[data-member='m-other']", state="detached")
    assert page.locator("#member-count").inner_text() == "显示 1 个，共 1 个会员"
    assert untranslated(page) == []

    # An enrolment code, as text and as a QR code a phone can scan.
    page.click(f"#member-rows tr[data-member='{MEMBER}'] button.enrol")
    qr = page.locator("#enrol-qr")
    qr.wait_for(timeout=WAIT_MS)
    wait_for(lambda: qr.evaluate("img => img.complete && img.naturalWidth > 0"), 10, "the QR code")
    code = page.locator("#enrol-code").inner_text()
    page.screenshot(path=str(tmp_path / "members-qr.png"), full_page=True)
    assert untranslated(page) == []
    (found,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.screenshot())))
    link = urlsplit(found.text)
    assert f"{link.scheme}://{link.netloc}" == site.base
    assert (link.path, link.query) == ("/member/", "")  # the code only in the fragment
    assert parse_qs(link.fragment) == {"member": [MEMBER], "code": [code]}
    assert page.locator("#enrol-link").inner_text() == found.text
    # The phone enrols with what it scanned.
    request = enrollment_request(MEMBER, code, new_device_key())
    status, cert = _post_json(f"{site.base}/api/v1/members/enroll", request)
    assert status == 200

    page.click(f"#member-rows tr[data-member='{MEMBER}'] button.certs")
    row = page.locator(f"#cert-table tr[data-serial='{cert['serial']}']")
    row.wait_for(timeout=WAIT_MS)
    assert row.locator(".cert-status").inner_text() == "有效"

    # Revoke the member, after saying yes.
    questions: list[str] = []
    page.once("dialog", lambda d: (questions.append(d.message), d.accept()))
    page.click(f"#member-rows tr[data-member='{MEMBER}'] button.revoke")
    page.wait_for_selector(
        f"#cert-table tr[data-serial='{cert['serial']}'][data-status=revoked]", timeout=WAIT_MS
    )
    assert MEMBER in questions[0]
    assert "已吊销 1 张证书" in page.locator("#member-status").inner_text()
    page.wait_for_selector(f"#rev-reach[data-version='{version + 1}']", timeout=WAIT_MS)

    # One station picks the new list up; the page says so on its next load.
    site.ingest.handle(topics.telemetry(site.sids[0]), _heartbeat(site.sids[0], version + 1))
    site.ingest.flush()
    page.reload()
    page.wait_for_selector("#rev-reach[data-on-latest='1']", timeout=WAIT_MS)
    assert reach.inner_text().startswith(f"1 / 4 个站点运行最新吊销列表（第 {version + 1} 版）")
    with urllib.request.urlopen(f"{site.base}/api/v1/trust/revocations") as res:  # noqa: S310
        assert cert["serial"] in res.read().decode()


def test_an_admin_previews_and_applies_one_change_to_many_stations(
    page: Any, site: Site, tmp_path: Path
) -> None:
    first = site.sids[0]
    page.goto(f"{site.base}/ops#station/{first}")
    page.wait_for_selector("#cfg-form", timeout=WAIT_MS)
    assert "尚未下发" in page.locator("#station-config .cfg-desired").inner_text()

    page.click("nav a[href='#bulkconfig']")
    page.wait_for_selector("#bulk-form select[name=city] option[value='深圳市']", state="attached")
    page.select_option("#bulk-form select[name=city]", "深圳市")
    page.fill("#bulk-form input[name='door.pulse_s']", "4")
    page.click("#bulk-preview-button")
    page.wait_for_selector("#bulk-matched[data-matched='4']", timeout=WAIT_MS)
    assert page.locator("#bulk-matched").inner_text() == "将修改 4 个站点"
    assert page.locator("#bulk-stations li").count() == 4
    page.screenshot(path=str(tmp_path / "bulk-preview.png"), full_page=True)
    assert untranslated(page) == []
    # A change after the preview needs a new one before it can be applied.
    page.fill("#bulk-form input[name='access.window_s']", "45")
    assert page.locator("#bulk-apply").is_disabled()
    page.click("#bulk-preview-button")
    page.wait_for_selector("#bulk-apply:not([disabled])", timeout=WAIT_MS)
    questions: list[str] = []
    page.once("dialog", lambda d: (questions.append(d.message), d.accept()))
    page.click("#bulk-apply")
    page.wait_for_selector("#bulk-matched:has-text('已修改 4 个站点')", timeout=WAIT_MS)
    assert "4" in questions[0]

    page.click(f"#bulk-stations li[data-sid='{first}'] a")
    desired = page.locator("#station-config .cfg-desired")
    desired.filter(has_text="第 1 版").wait_for(timeout=WAIT_MS)
    assert page.locator("#cfg-form input[name='door.pulse_s']").input_value() == "4"
    assert page.locator("#cfg-form input[name='access.window_s']").input_value() == "45"

    # One station by id, one field cleared: its version moves on, the others' do not.
    page.click("nav a[href='#bulkconfig']")
    page.select_option("#bulk-form select[name=city]", "")
    page.fill("#bulk-form input[name='door.pulse_s']", "")
    page.fill("#bulk-form input[name='access.window_s']", "")
    page.fill("#bulk-form textarea[name=ids]", first)
    page.check("#bulk-form input[name='clear:access.window_s']")
    page.click("#bulk-preview-button")
    page.wait_for_selector("#bulk-matched[data-matched='1']", timeout=WAIT_MS)
    page.once("dialog", lambda d: d.accept())
    page.click("#bulk-apply")
    page.wait_for_selector("#bulk-matched:has-text('已修改 1 个站点')", timeout=WAIT_MS)
    page.goto(f"{site.base}/ops#station/{first}")
    desired.filter(has_text="第 2 版").wait_for(timeout=WAIT_MS)
    assert page.locator("#cfg-form input[name='door.pulse_s']").input_value() == "4"
    assert page.locator("#cfg-form input[name='access.window_s']").input_value() == ""
    page.goto(f"{site.base}/ops#station/{site.sids[1]}")
    desired.filter(has_text="第 1 版").wait_for(timeout=WAIT_MS)


@pytest.fixture
def notifier(site: Site) -> Iterator[Notifier]:
    """The notifier as an ingest process runs it, on the site's database."""
    stop = threading.Event()
    running = Notifier(site.engine, interval_s=0.5)
    thread = threading.Thread(target=running.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield running
    finally:
        stop.set()
        thread.join(5)


def test_an_admin_adds_a_webhook_sends_a_test_and_sees_it_delivered(
    page: Any, site: Site, notifier: Notifier, tmp_path: Path
) -> None:
    with http_receiver() as rx:
        page.click("nav a[href='#notify']")
        form = page.locator("#channel-form")
        form.locator("input[name=name]").wait_for(timeout=WAIT_MS)
        form.locator("input[name=name]").fill("值班群")
        form.locator("select[name=kind]").select_option("webhook")
        form.locator("input[name=target]").fill(rx.url)
        form.locator("button[type=submit]").click()
        row = page.locator("#channel-rows tr[data-name='值班群']")
        row.wait_for(timeout=WAIT_MS)
        assert "HTTP 回调" in row.inner_text()

        row.locator("button.test").click()
        page.wait_for_selector("#notify-status:has-text('测试消息已送达')", timeout=WAIT_MS)
        sent = page.locator("#delivery-rows tr[data-status=sent]")
        sent.wait_for(timeout=WAIT_MS)
        assert sent.locator("td.attempts").inner_text() == "1"
        assert "已送达" in sent.inner_text()
        assert "测试" in sent.inner_text()
        assert [json.loads(r.body)["type"] for r in rx.received] == ["test"]
        assert "通道测试" in json.loads(rx.received[0].body)["title"]

        # A routing rule and a digest to it, listed with the channel's name.
        rules = page.locator("#rule-form")
        rules.locator("input[name=name]").fill("深圳严重告警")
        rules.locator("select[name=min_severity]").select_option("critical")
        rules.locator("select[name=rules]").select_option(["fridge_warm", "station_offline"])
        rules.locator("input[name=cities]").fill("深圳市")
        rules.locator("button[type=submit]").click()
        rule = page.locator("#rule-rows tr", has_text="深圳严重告警")
        rule.wait_for(timeout=WAIT_MS)
        assert "值班群" in rule.inner_text()
        assert "冷柜温度过高" in rule.inner_text()
        digests = page.locator("#digest-form")
        digests.locator("input[name=name]").fill("早报")
        digests.locator("input[name=hour]").fill("7")
        digests.locator("button[type=submit]").click()
        page.locator("#digest-rows tr", has_text="每天 7 点").wait_for(timeout=WAIT_MS)
        page.screenshot(path=str(tmp_path / "notify.png"), full_page=True)
        assert untranslated(page) == []

        # Editing the channel without its secret or URL keeps both; deleting it asks first.
        row.locator("button.edit").click()
        form.locator("input[name=timeout_s]").fill("5")
        form.locator("button[type=submit]").click()
        page.wait_for_selector("#notify-status:has-text('已保存：值班群')", timeout=WAIT_MS)
        row.locator("button.test").click()
        page.wait_for_selector("#delivery-rows tr[data-status=sent] >> nth=1", timeout=WAIT_MS)
        tests = [r for r in rx.received if json.loads(r.body)["type"] == "test"]
        assert len(tests) == 2  # the edited channel still delivers
        page.once("dialog", lambda d: d.accept())
        row.locator("button.delete").click()
        row.wait_for(state="detached", timeout=WAIT_MS)
        rule.wait_for(state="detached", timeout=WAIT_MS)  # its rule went with it
        page.locator("#digest-rows tr").wait_for(state="detached", timeout=WAIT_MS)


def test_an_operator_sees_no_admin_page(browser: Any, site: Site) -> None:
    """The links are for admins only, and an admin page's address shows the map instead."""
    create_user(site.engine, "op", Role.OPERATOR, PASSWORD)
    context = browser.new_context()
    try:
        page = context.new_page()
        _log_in(page, site, "op")
        for view in ("members", "bulkconfig", "notify"):
            assert page.locator(f"#nav-{view}").is_hidden()
            page.goto(f"{site.base}/ops#{view}")
            page.wait_for_selector("#view-map:not([hidden])", timeout=WAIT_MS)
            assert page.locator(f"#view-{view}").is_hidden()
            assert page.locator(f"#view-{view} *").count() == 0  # never built
        assert page.locator("nav a[href='#map']").get_attribute("aria-current") == "page"
    finally:
        context.close()
