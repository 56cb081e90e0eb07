"""The one vendored copy of Leaflet 1.9.4 (BSD-2-Clause), served by both pages.

The finder serves it under `/finder/vendor/…` and the dashboard under `/ops/static/vendor/…`
(each page keeps its own URLs and headers); both read these files.
"""

from __future__ import annotations

from pathlib import Path

DIR = Path(__file__).resolve().parent
# URL name under each page's vendor/ → (file, media type)
FILES: dict[str, tuple[Path, str]] = {
    "vendor/leaflet.js": (DIR / "leaflet.js", "text/javascript; charset=utf-8"),
    "vendor/leaflet.css": (DIR / "leaflet.css", "text/css; charset=utf-8"),
    "vendor/LICENSE.leaflet.txt": (DIR / "LICENSE.leaflet.txt", "text/plain; charset=utf-8"),
}
