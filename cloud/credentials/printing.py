"""Printed pages: A4 bitmaps drawn with Pillow, QR codes by segno, written as PDF or PNG.

Why a PDF writer of our own (~40 lines): Pillow's `save_all` keeps every page in memory until
the end, ~1 MB a page here, and a union office's sheets for 300,000 members are 37,500
pages. `PageWriter` streams: each page goes out as one 1-bit image (Flate-compressed) the
moment it is drawn. Pages are black on white at 300 dpi, mode "1", so QR modules stay sharp
on any office laser printer.

Chinese text needs a CJK font file. `cjk_font` looks for WenQuanYi Micro Hei (Debian's
`fonts-wqy-microhei`, what scripts/test installs), then Noto/Source Han Sans CJK and the
macOS and Windows system fonts, and fails with one line saying what to install rather than
printing boxes for every character.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import segno
from PIL import Image, ImageDraw, ImageFont

DPI = 300
MM = DPI / 25.4  # pixels per millimetre
A4 = (round(210 * MM), round(297 * MM))  # 2480 x 3508 px
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/source-han-sans/SourceHanSansSC-Regular.otf",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)
NO_FONT = (
    "no Chinese font found for the printed sheets: install one "
    "(Debian/Ubuntu: apt-get install fonts-wqy-microhei)"
)


class PrintError(ValueError):
    """A sheet cannot be made (no font, a file that exists): one line for the user."""


def cjk_font() -> Path:
    """The first CJK font file present; PrintError naming the package to install."""
    for name in FONT_CANDIDATES:
        if Path(name).is_file():
            return Path(name)
    raise PrintError(NO_FONT)


class Fonts:
    """Loaded sizes of one font file (sizes in points at `DPI`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._loaded: dict[int, ImageFont.FreeTypeFont] = {}

    def __call__(self, points: float) -> ImageFont.FreeTypeFont:
        px = round(points * DPI / 72)
        if px not in self._loaded:
            self._loaded[px] = ImageFont.truetype(str(self.path), px)
        return self._loaded[px]


def page() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    """A blank white A4 page and a pen for it."""
    im = Image.new("1", A4, 1)
    return im, ImageDraw.Draw(im)


def qr_image(text: str, module_px: int, border: int = 0) -> Image.Image:
    """`text` as a QR (ECC level M) with square modules of `module_px` pixels."""
    code = segno.make(text, error="m", micro=False, boost_error=False)
    rows = [bytes(0 if v else 1 for v in row) for row in code.matrix_iter(border=border)]
    size = len(rows)
    im = Image.frombytes("L", (size, size), b"".join(bytes(b * 255 for b in r) for r in rows))
    return im.convert("1").resize((size * module_px, size * module_px), Image.Resampling.NEAREST)


def dashed(draw: ImageDraw.ImageDraw, xy: tuple[int, int, int, int], dash: int = 30) -> None:
    """A dashed cut line (horizontal or vertical)."""
    x0, y0, x1, y1 = xy
    length = max(x1 - x0, y1 - y0)
    for s in range(0, length, dash * 2):
        e = min(s + dash, length)
        if x1 - x0 >= y1 - y0:
            draw.line((x0 + s, y0, x0 + e, y0), fill=0, width=2)
        else:
            draw.line((x0, y0 + s, x0, y0 + e), fill=0, width=2)


@contextmanager
def secret_file(path: Path) -> Iterator[IO[bytes]]:
    """Create `path` for writing, mode 0600 from the first byte, refusing to replace a file
    (codes and passes are secrets, and the codes already printed must not be lost)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise PrintError(f"{path} exists: not replaced (it may hold codes); move it away") from exc
    except OSError as exc:
        raise PrintError(f"cannot write {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "wb") as fh:
        yield fh


class PageWriter:
    """Pages out to a PDF as they are drawn (see the module docstring), or to PNG files
    `NAME-001.png`, `NAME-002.png`, … next to `path` when it ends in .png."""

    def __init__(self, fh: IO[bytes], path: Path) -> None:
        self.fh, self.path, self.pages = fh, path, 0
        self.png = path.suffix.lower() == ".png"
        self._offsets: list[int] = []
        self._page_ids: list[int] = []
        self.extra: list[Path] = []  # PNG pages after the first
        if not self.png:
            self.fh.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
            self._offsets += [0, 0]  # 1: catalog, 2: page tree (written last)

    def _obj(self, body: bytes) -> int:
        self._offsets.append(self.fh.tell())
        n = len(self._offsets)
        self.fh.write(b"%d 0 obj\n" % n + body + b"\nendobj\n")
        return n

    def add(self, im: Image.Image) -> None:
        self.pages += 1
        if self.png:
            self._png(im)
            return
        w, h = im.size
        data = zlib.compress(im.tobytes(), 6)
        img = self._obj(
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
            b"/BitsPerComponent 1 /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream"
            % (w, h, len(data), data)
        )
        pw, ph = w * 72 / DPI, h * 72 / DPI
        draw = b"q %.2f 0 0 %.2f 0 0 cm /I Do Q" % (pw, ph)
        content = self._obj(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(draw), draw))
        self._page_ids.append(
            self._obj(
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Contents %d 0 R "
                b"/Resources << /XObject << /I %d 0 R >> >> >>" % (pw, ph, content, img)
            )
        )

    def _png(self, im: Image.Image) -> None:
        if self.pages == 1:
            im.save(self.fh, "PNG", dpi=(DPI, DPI))
            return
        name = self.path.with_name(f"{self.path.stem}-{self.pages:03d}.png")
        with secret_file(name) as fh:
            im.save(fh, "PNG", dpi=(DPI, DPI))
        self.extra.append(name)

    def close(self) -> None:
        if self.png:
            return
        kids = b" ".join(b"%d 0 R" % n for n in self._page_ids)
        for n, body in (
            (1, b"<< /Type /Catalog /Pages 2 0 R >>"),
            (2, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(self._page_ids))),
        ):
            self._offsets[n - 1] = self.fh.tell()
            self.fh.write(b"%d 0 obj\n" % n + body + b"\nendobj\n")
        xref = self.fh.tell()
        self.fh.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(self._offsets) + 1))
        self.fh.write(b"".join(b"%010d 00000 n \n" % off for off in self._offsets))
        self.fh.write(
            b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(self._offsets) + 1, xref)
        )


def check_sheet_path(path: Path, *, must_be_new: bool = True) -> None:
    """Refuse before any work: a name that is not .pdf/.png, a missing folder, a file there
    (unless `must_be_new` is False: an import that turns out to change nothing writes none)."""
    if path.suffix.lower() not in (".pdf", ".png"):
        raise PrintError(f"{path.name}: sheets are written as .pdf or .png")
    if not path.parent.is_dir():
        raise PrintError(f"cannot write {path}: folder {path.parent} does not exist")
    if must_be_new and path.exists():
        raise PrintError(f"{path} exists: not replaced (it may hold codes); move it away")
