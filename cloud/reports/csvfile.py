"""The monthly report as a CSV file a spreadsheet opens: UTF-8 with a byte-order mark (Excel
reads Chinese only then), header names in Chinese or English, one line per group, a total
line, then the stations without an agent.

Durations are minutes here (seconds in the JSON), hours stay hours; an empty cell means "no
value" (no live data, no alarm acknowledged), never zero.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Literal

from cloud.reports.monthly import MonthlyReport, Row
from protocol.credential import Reason

Lang = Literal["zh", "en"]
BOM = "\ufeff"
DENIALS = [r.value for r in Reason if r is not Reason.GRANTED]

GROUP = {
    "zh": {"city": "城市", "operator": "运营方", "station": "站点编号"},
    "en": {"city": "city", "operator": "operator", "station": "station"},
}
REASONS = {
    "zh": {
        "malformed": "码无法识别", "unknown_issuer": "签发者未知", "bad_signature": "签名无效",
        "expired": "凭证已过期", "not_yet_valid": "凭证尚未生效", "revoked": "凭证已吊销",
        "stale_presentation": "码已过时", "replayed": "码被重复使用", "not_permitted": "无权进入",
    },
    "en": {r: r.replace("_", " ") for r in DENIALS},
}  # fmt: skip
# (column key, zh header, en header); the reason columns go after "denied".
COLUMNS = [
    ("name", "站点名称", "station name"),
    ("city", "城市", "city"),
    ("operator", "运营方", "operator"),
    ("stations", "站点数", "stations"),
    ("live_stations", "有实时数据的站点", "stations with live data"),
    ("schedule_stations", "无实时数据的站点", "stations without live data"),
    ("due_h", "公布开放时长（小时）", "published opening (h)"),
    ("known_h", "其中状态已知（小时）", "of which status known (h)"),
    ("live_h", "开放且在线（小时）", "open and live (h)"),
    ("uptime_pct", "在线率（%）", "uptime (%)"),
    ("granted", "放行次数", "entries granted"),
    ("denied", "拒绝次数", "denied"),
    ("entries", "进入人次", "people in"),
    ("exits", "离开人次", "people out"),
    ("alarms", "告警数", "alarms"),
    ("unacknowledged", "未确认告警", "unacknowledged"),
    ("uncleared", "未解除告警", "not cleared"),
    ("ack_p50_s", "确认用时中位数（分钟）", "to acknowledge, median (min)"),
    ("ack_p90_s", "确认用时 90 分位（分钟）", "to acknowledge, 90th pct (min)"),
    ("clear_p50_s", "解除用时中位数（分钟）", "to clear, median (min)"),
    ("clear_p90_s", "解除用时 90 分位（分钟）", "to clear, 90th pct (min)"),
]
TOTAL = {"zh": "合计", "en": "total"}
NO_AGENT = {"zh": "无实时数据的站点（按公布时间开放）", "en": "stations without live data"}


def _cell(key: str, value: object) -> object:
    if value is None:
        return ""
    if key.endswith("_s") and isinstance(value, float):
        return round(value / 60, 1)
    return value


def render(report: MonthlyReport, lang: Lang = "zh") -> str:
    """The CSV text (with its BOM) of `report`, headers in `lang`."""
    zh = lang == "zh"
    by_station = report.by == "station"
    columns = [c for c in COLUMNS if by_station or c[0] not in ("name", "city", "operator")]
    header = [GROUP[lang][report.by]]
    for key, zh_name, en_name in columns:
        header.append(zh_name if zh else en_name)
        if key == "denied":
            header += [("拒绝：" if zh else "denied: ") + REASONS[lang][r] for r in DENIALS]
    out = io.StringIO()
    out.write(BOM)
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(header)

    def line(first: str, row: Row) -> list[object]:
        data = row.model_dump()
        cells: list[object] = [first]
        for key, _, _ in columns:
            cells.append(_cell(key, data[key]))
            if key == "denied":
                cells += [row.denied_by_reason.get(r, 0) for r in DENIALS]
        return cells

    for row in report.rows:
        w.writerow(line(row.key, row))
    w.writerow(line(TOTAL[lang], report.total))
    if report.no_agent:
        w.writerow([])
        w.writerow([NO_AGENT[lang]])
        names: Callable[[str, str], str] = (lambda z, e: z) if zh else (lambda z, e: e)
        w.writerow([names("站点编号", "station"), names("站点名称", "station name"),
                    names("城市", "city"), names("运营方", "operator"),
                    names("开放时间", "opening hours")])  # fmt: skip
        for s in report.no_agent:
            w.writerow([s.id, s.name, s.city, s.operator, s.opening_hours])
    return out.getvalue()
