"""The member page's files, the wallet module at its stable URL and the sample host page
(`cloud.api.member_page`): one wallet implementation served at both places, nothing else."""

from __future__ import annotations

from fastapi.testclient import TestClient

from cloud.api import member_page


def test_the_wallet_module_is_the_member_pages_own_file(client: TestClient) -> None:
    embedded = client.get("/static/wallet/v1/wallet.js")
    own = client.get("/member/wallet.js")
    assert embedded.status_code == own.status_code == 200
    assert embedded.content == own.content == (member_page.WEB_DIR / "wallet.js").read_bytes()
    assert embedded.headers["content-type"] == "text/javascript; charset=utf-8"
    assert b"export async function createWallet" in embedded.content
    assert b'import qrcode from "./qr.js"' in embedded.content
    # The QR module: the vendored script with a default export, at both places.
    qr = client.get("/static/wallet/v1/qr.js")
    assert qr.status_code == 200
    assert qr.text.rstrip().endswith("export default qrcode;")
    assert qr.content == client.get("/member/qr.js").content
    # The member page loads the module, not the classic scripts of before.
    page = client.get("/member/").text
    assert '<script type="module" src="app.js"></script>' in page
    assert "qrcode.js" not in page
    for path in ("/static/wallet/v1/app.js", "/static/wallet/v1/../member/app.js",
                 "/static/wallet/v2/wallet.js", "/member/nothing.js"):  # fmt: skip
        assert client.get(path).status_code == 404, path


def test_the_sample_host_page_has_a_strict_policy_of_its_own(client: TestClient) -> None:
    res = client.get("/samples/wallet", follow_redirects=False)
    assert res.status_code == 308
    assert res.headers["location"] == "/samples/wallet/"
    page = client.get("/samples/wallet/")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == member_page.SAMPLE_CSP
    assert "script-src 'self'" in member_page.SAMPLE_CSP
    assert "frame-ancestors 'none'" in member_page.SAMPLE_CSP
    assert '<html lang="zh-CN">' in page.text
    script = client.get("/samples/wallet/sample.js")
    assert 'from "/static/wallet/v1/wallet.js"' in script.text
    assert client.get("/samples/wallet/secret.txt").status_code == 404
