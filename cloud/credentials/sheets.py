"""What a union office prints: enrolment slips (8 per A4) and printed passes (A6 cards).

Enrolment slip: the enrolment link as a QR (the member page's link, code in the fragment),
the member id, the code typed out for a phone whose camera will not read it, and how to use
it, in Chinese. Printed pass: 12 WS2 codes per A6 card, each under the local time it opens
the door in, cards grouped by the hour (5-minute windows) so a worker finds the right one at
a glance; four cards per A4 sheet with cut lines. See docs/credential.md "Printed passes".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw

from cloud.credentials.bulk import Issued
from cloud.credentials.printing import A4, MM, Fonts, PageWriter, dashed, page, qr_image

WEEKDAYS = "一二三四五六日"
SLIP_COLS, SLIP_ROWS = 2, 4
CARD_COLS, CARD_ROWS = 3, 4  # 12 codes a card: one hour of 5-minute windows
CODES_PER_CARD = CARD_COLS * CARD_ROWS
MARGIN = round(6 * MM)


def check_base_url(url: str) -> str:
    """The service's public address for links (`https://ws.example.org`); ValueError if it is
    not an http(s) origin with an optional path."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"{url!r}: give the service's address, like https://ws.example.org")
    return url.rstrip("/")


def enrol_link(base_url: str, member_id: str, code: str) -> str:
    """The link the member page expects: `/member/#member=ID&code=CODE` — a fragment, which
    browsers never send to any server (`cloud.api.members.member_page`)."""
    return f"{base_url}/member/#" + urlencode({"member": member_id, "code": code})


def _grouped(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


def _text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, font: object) -> None:
    draw.text(xy, text, font=font, fill=0)  # type: ignore[arg-type]


def enrolment_pages(
    writer: PageWriter, fonts: Fonts, base_url: str, issued: Sequence[Issued], expires: date
) -> None:
    """Eight slips per A4 page, cut lines between them."""
    w, h = A4[0] // SLIP_COLS, A4[1] // SLIP_ROWS
    per_page = SLIP_COLS * SLIP_ROWS
    for first in range(0, len(issued), per_page):
        im, draw = page()
        for i, item in enumerate(issued[first : first + per_page]):
            x, y = (i % SLIP_COLS) * w, (i // SLIP_COLS) * h
            _slip(im, draw, fonts, (x, y, w, h), base_url, item, expires)
        for c in range(1, SLIP_COLS):
            dashed(draw, (c * w, 0, c * w, A4[1]))
        for r in range(1, SLIP_ROWS):
            dashed(draw, (0, r * h, A4[0], r * h))
        writer.add(im)


def _slip(
    im: Image.Image,
    draw: ImageDraw.ImageDraw,
    fonts: Fonts,
    box: tuple[int, int, int, int],
    base_url: str,
    item: Issued,
    expires: date,
) -> None:
    x, y, _w, h = box
    qr = qr_image(enrol_link(base_url, item.member_id, item.code), 1)
    module = max(1, int((h - 2 * MARGIN) * 0.8) // qr.size[0])
    qr = qr.resize((qr.size[0] * module, qr.size[1] * module), Image.Resampling.NEAREST)
    im.paste(qr, (x + MARGIN, y + (h - qr.size[1]) // 2))
    tx, ty = x + 2 * MARGIN + qr.size[0], y + MARGIN
    lines = [
        (14, "驿站会员登记"),
        (10, f"会员编号  {item.member_id}"),
        (10, f"登记码  {_grouped(item.code)}"),
        (8, f"有效期至 {expires.isoformat()}"),
        (7.5, "① 用手机扫描左侧二维码"),
        (7.5, "② 按页面提示完成登记"),
        (7.5, "③ 到驿站门口出示会员码"),
        (7.5, "登记码只能使用一次，请勿转给他人"),
    ]
    for points, text in lines:
        _text(draw, (tx, ty), text, fonts(points))
        ty += round(points * 4.17 * 1.45)  # points to pixels at 300 dpi, 1.45 line height


@dataclass(frozen=True, slots=True)
class PassSheet:
    """What a printed pass shows: the member, the codes by window start (unix minutes)."""

    member_id: str
    codes: dict[int, str]
    window_min: int
    tz: ZoneInfo
    station: str | None = None


def _label(start: datetime, minutes: int) -> str:
    end = start + timedelta(minutes=minutes)
    return f"{start:%H:%M}–{end:%H:%M}"


def pass_pages(writer: PageWriter, fonts: Fonts, sheet: PassSheet) -> int:
    """The pass as A6 cards (4 per A4), each card 12 consecutive windows aligned to local
    time (5-minute windows: one card per clock hour); windows outside the pass stay blank.
    Returns the number of cards."""
    span = CODES_PER_CARD * sheet.window_min
    starts = sorted(sheet.codes)
    first = datetime.fromtimestamp(starts[0] * 60, sheet.tz)
    midnight = first.replace(hour=0, minute=0, second=0, microsecond=0)
    card = midnight + timedelta(minutes=(first - midnight).seconds // 60 // span * span)
    cards: list[datetime] = []
    while int(card.timestamp()) // 60 <= starts[-1]:
        cards.append(card)
        card += timedelta(minutes=span)
    w, h = A4[0] // 2, A4[1] // 2
    for n in range(0, len(cards), 4):
        im, draw = page()
        for i, start in enumerate(cards[n : n + 4]):
            _card(im, draw, fonts, (i % 2 * w, i // 2 * h, w, h), sheet, start)
        dashed(draw, (w, 0, w, A4[1]))
        dashed(draw, (0, h, A4[0], h))
        writer.add(im)
    return len(cards)


def _card(
    im: Image.Image,
    draw: ImageDraw.ImageDraw,
    fonts: Fonts,
    box: tuple[int, int, int, int],
    sheet: PassSheet,
    start: datetime,
) -> None:
    x, y, w, h = box
    day = f"{start.month}月{start.day}日 周{WEEKDAYS[start.weekday()]}"
    span = CODES_PER_CARD * sheet.window_min
    _text(draw, (x + MARGIN, y + MARGIN), "驿站临时通行证", fonts(13))
    _text(draw, (x + MARGIN, y + MARGIN + 75), f"会员 {sheet.member_id}", fonts(9))
    _text(draw, (x + MARGIN, y + MARGIN + 125), f"{day}  {_label(start, span)}", fonts(12))
    top = y + MARGIN + 215
    foot = 110
    cw = (w - 2 * MARGIN) // CARD_COLS
    ch = (h - (top - y) - MARGIN - foot) // CARD_ROWS
    label = fonts(8)
    for k in range(CODES_PER_CARD):
        at = start + timedelta(minutes=k * sheet.window_min)
        cx, cy = x + MARGIN + (k % CARD_COLS) * cw, top + (k // CARD_COLS) * ch
        _text(draw, (cx + 10, cy), _label(at, sheet.window_min), label)
        text = sheet.codes.get(int(at.timestamp()) // 60)
        if text is None:
            _text(draw, (cx + 10, cy + 60), "—", label)
            continue
        qr = qr_image(text, 1, border=0)
        module = max(1, min(cw - 30, ch - 60) // qr.size[0])
        qr = qr.resize((qr.size[0] * module, qr.size[1] * module), Image.Resampling.NEAREST)
        im.paste(qr, (cx + 10, cy + 45))
    where = f"发放站点 {sheet.station}（各驿站通用）" if sheet.station else "各驿站通用"
    fy = y + h - MARGIN - foot + 20
    _text(draw, (x + MARGIN, fy), "按当前时间出示对应的二维码；仅限本人使用", fonts(7))
    _text(draw, (x + MARGIN, fy + 45), f"{where}；丢失请立即告知工会", fonts(7))
