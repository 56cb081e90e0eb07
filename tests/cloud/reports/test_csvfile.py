"""`cloud.reports.csvfile`: the report opens in a spreadsheet — a BOM, Chinese or English
headers, one line per group plus a total, stations without live data listed apart."""

from __future__ import annotations

import csv
import io

from sqlalchemy import Engine

from cloud.reports.csvfile import BOM, render
from cloud.reports.monthly import monthly
from tests.support import monthdata as m


def test_the_csv_parses_with_its_bom_and_headers(engine: Engine) -> None:
    m.build(engine)
    with engine.connect() as conn:
        report = monthly(conn, month=m.MONTH, by="city", now=m.NOW)
    text = render(report, "zh")
    assert text.startswith(BOM)
    rows = list(csv.reader(io.StringIO(text.removeprefix(BOM))))
    header = rows[0]
    assert header[0] == "城市"
    assert "在线率（%）" in header
    assert "拒绝：凭证已吊销" in header
    body = {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:4]}
    assert set(body) == {"深圳", "广州", "合计"}
    assert body["深圳"]["在线率（%）"] == str(round(100 * 1075 / 1080, 3))
    assert body["深圳"]["拒绝：凭证已吊销"] == "2"
    assert body["深圳"]["确认用时中位数（分钟）"] == "2.0"  # 120 s
    assert body["广州"]["在线率（%）"] == ""  # no live data: empty, not 0
    assert [m.C] in [r[:1] for r in rows[5:]]
    english = list(csv.reader(io.StringIO(render(report, "en").removeprefix(BOM))))
    assert english[0][:2] == ["city", "stations"]
    assert "uptime (%)" in english[0]
