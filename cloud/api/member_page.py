"""The member page's files, the embeddable wallet module at a stable URL, and a sample host
page for union app developers.

- `/member/…`: the member page (links `/member/#member=ID&code=CODE`; an old query link is
  redirected into the fragment). Its wallet is `wallet.js`, an ES module.
- `/static/wallet/v1/wallet.js` (+ `qr.js`, which it imports): the same module for a union's
  own app page (docs/integration.md). `v1` is a promise: the API documented there stays as
  it is at this URL; a breaking change gets `v2`.
- `/samples/wallet`: a sample union H5 page embedding the module.

`qr.js` is the vendored QR generator (`qrcode.js`, a classic script) with an ES module export
appended when served, so there is one copy of it on disk.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import FileResponse, RedirectResponse

WEB = Path(__file__).resolve().parent.parent / "web"
WEB_DIR = WEB / "member"
SAMPLE_DIR = WEB / "wallet_sample"
JS = "text/javascript; charset=utf-8"
# The member page's files; anything else under /member/ is a 404 (no directory serving).
WEB_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": JS,
    "wallet.js": JS,
    "i18n.js": JS,
    "qrcode.js": JS,
    "sw.js": JS,
    "style.css": "text/css; charset=utf-8",
    "manifest.webmanifest": "application/manifest+json",
    "icon.svg": "image/svg+xml",
    "icon-192.png": "image/png",
    "icon-512.png": "image/png",
}
SAMPLE_FILES = {"index.html": "text/html; charset=utf-8", "sample.js": JS, "sample.css": "text/css"}
# A redirect carrying a member link must not be cached or leak through a Referer.
LINK_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
FILE_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
# The sample page's own policy: like the member page's (cloud.api.security.MEMBER_CSP).
SAMPLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


def _link_in_fragment(query: str) -> RedirectResponse:
    """`/member/#<query>`: an old-style link's member id and code move into the fragment, so
    the browser's next request (and any later reload) carries neither. The request that
    brought them is kept out of the access log by `cloud.api.logredact`."""
    return RedirectResponse(
        "/member/" + (f"#{query}" if query else ""), status_code=303, headers=LINK_HEADERS
    )


@router.get("/member")
def member_page_redirect(request: Request) -> RedirectResponse:
    return _link_in_fragment(request.url.query)


@router.get("/member/", response_model=None)
def member_page(request: Request) -> FileResponse | RedirectResponse:
    """The page; links are `/member/#member=ID&code=CODE` (the page reads the fragment).
    A query (links printed before) is moved into the fragment by a redirect."""
    if request.url.query:
        return _link_in_fragment(request.url.query)
    return member_file("index.html")


def qr_module() -> Response:
    """The QR generator as an ES module: the vendored script plus a default export."""
    text = (WEB_DIR / "qrcode.js").read_text(encoding="utf-8")
    return Response(text + "\nexport default qrcode;\n", media_type=JS, headers=FILE_HEADERS)


@router.get("/member/{name}", response_model=None)
def member_file(name: str) -> FileResponse | Response:
    """The page's own files (no CDN); `sw.js` lets the page open again with no network."""
    if name == "qr.js":
        return qr_module()
    if name not in WEB_FILES:
        raise HTTPException(404, "not found")
    return FileResponse(WEB_DIR / name, media_type=WEB_FILES[name], headers=FILE_HEADERS)


@router.get("/static/wallet/v1/{name}", response_model=None)
def wallet_module(name: str) -> FileResponse | Response:
    """The embeddable wallet module (`wallet.js`) and the QR module it imports."""
    if name == "qr.js":
        return qr_module()
    if name != "wallet.js":
        raise HTTPException(404, "not found")
    return FileResponse(WEB_DIR / name, media_type=JS, headers=FILE_HEADERS)


@router.get("/samples/wallet", response_model=None)
def sample_redirect() -> RedirectResponse:
    return RedirectResponse("/samples/wallet/", status_code=308)


@router.get("/samples/wallet/", response_model=None)
def sample_page() -> FileResponse:
    """A union app's H5 page embedding the wallet (reads `#member=…&code=…`)."""
    return sample_file("index.html")


@router.get("/samples/wallet/{name}", response_model=None)
def sample_file(name: str) -> FileResponse:
    if name not in SAMPLE_FILES:
        raise HTTPException(404, "not found")
    headers = {**FILE_HEADERS, "Content-Security-Policy": SAMPLE_CSP}
    return FileResponse(SAMPLE_DIR / name, media_type=SAMPLE_FILES[name], headers=headers)
