// The member page: enrol this phone once (online), then show a WS1 code signed here every
// few seconds, so the code works with no network and a screenshot is stale within 30 s.
// Byte layout and contexts: docs/credential.md (the same as protocol/credential.py).
"use strict";

(function () {
  const REFRESH_S = 5; // a new code every 5 s: well inside the stations' 30 s window
  const DB_NAME = "waystation-member";
  const STORE = "wallet";
  const PRESENTATION_CONTEXT = new TextEncoder().encode("waystation/v1/presentation");
  const ENROLL_CONTEXT = "waystation/v1/enroll";
  const B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
  const ECDSA = { name: "ECDSA", hash: "SHA-256" };

  const $ = (id) => document.getElementById(id);

  // --- encoding helpers ------------------------------------------------------------------

  function base45(bytes) {
    let out = "";
    for (let i = 0; i + 1 < bytes.length; i += 2) {
      let n = bytes[i] * 256 + bytes[i + 1];
      const c = n % 45; n = (n - c) / 45;
      const d = n % 45; const e = (n - d) / 45;
      out += B45[c] + B45[d] + B45[e];
    }
    if (bytes.length % 2) {
      const a = bytes[bytes.length - 1];
      out += B45[a % 45] + B45[Math.floor(a / 45)];
    }
    return out;
  }

  function b64u(bytes) {
    let s = "";
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function unb64u(text) {
    const s = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(s, (c) => c.charCodeAt(0));
  }

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }

  function u32be(n) {
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, n, false);
    return out;
  }

  // --- IndexedDB: one record, the device key pair (private half non-extractable) + cert ---

  function openDb() {
    return new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(STORE);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }

  async function dbOp(mode, fn) {
    const db = await openDb();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = fn(tx.objectStore(STORE));
      tx.oncomplete = () => { db.close(); resolve(req && req.result); };
      tx.onerror = () => { db.close(); reject(tx.error); };
    });
  }

  const loadWallet = () => dbOp("readonly", (s) => s.get("device"));
  const saveWallet = (w) => dbOp("readwrite", (s) => s.put(w, "device"));
  const forgetWallet = () => dbOp("readwrite", (s) => s.delete("device"));

  // --- certificate fields (offsets per docs/credential.md) --------------------------------

  function certInfo(cert) {
    const kidLen = cert[1];
    const at = 2 + kidLen + 12 + 33;
    const view = new DataView(cert.buffer, cert.byteOffset);
    const day = (n) => new Date(n * 86400000).toISOString().slice(0, 10);
    return {
      serial: Array.from(cert.slice(2 + kidLen, 2 + kidLen + 12),
        (b) => b.toString(16).padStart(2, "0")).join(""),
      validFrom: day(view.getUint16(at, false)),
      validUntil: day(view.getUint16(at + 2, false)),
    };
  }

  // --- enrolment ---------------------------------------------------------------------------

  // Why the server refused, in Chinese first; the server's own reason follows in English.
  function refusal(status, detail) {
    const why = {
      403: "会员号或注册码不对，或注册码已过期、已使用。请向工会分会要新的注册码。",
      422: "这台手机发来的数据无效，请刷新页面再试。",
      429: "尝试次数太多，请稍后再试。",
      503: "服务器忙，请稍后再试。",
    }[status] || `注册被拒绝（${status}）。`;
    return detail ? `${why} ${detail}` : why;
  }

  async function enrol(memberId, code) {
    const pair = await crypto.subtle.generateKey(
      { name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
    const pub = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    const message = new TextEncoder().encode(`${ENROLL_CONTEXT}|${memberId}|${code}`);
    const proof = new Uint8Array(await crypto.subtle.sign(ECDSA, pair.privateKey, message));
    const res = await fetch("/api/v1/members/enroll", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ member_id: memberId, code, device_public: b64u(pub),
        proof: b64u(proof) }),
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(refusal(res.status, body.detail));
    const wallet = { memberId, keys: pair, certificate: unb64u(body.certificate) };
    await saveWallet(wallet);
    return wallet;
  }

  // --- presentation + QR ---------------------------------------------------------------------

  async function presentation(wallet, t) {
    const signed = concat(wallet.certificate, u32be(t));
    const sig = new Uint8Array(await crypto.subtle.sign(
      ECDSA, wallet.keys.privateKey, concat(signed, PRESENTATION_CONTEXT)));
    return "WS1:" + base45(concat(signed, sig));
  }

  function draw(text) {
    const qr = qrcode(0, "M"); // error level M, like the reference wallet
    qr.addData(text, "Alphanumeric");
    qr.make();
    const n = qr.getModuleCount();
    const quiet = 4; // modules of light border the QR spec requires
    const canvas = $("qr");
    const scale = Math.max(2, Math.floor(canvas.width / (n + 2 * quiet)));
    const size = (n + 2 * quiet) * scale;
    canvas.width = canvas.height = size;
    const g = canvas.getContext("2d");
    g.fillStyle = "#fff";
    g.fillRect(0, 0, size, size);
    g.fillStyle = "#000";
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < n; c++) {
        if (qr.isDark(r, c)) g.fillRect((c + quiet) * scale, (r + quiet) * scale, scale, scale);
      }
    }
  }

  let timer = null;

  async function show(wallet) {
    $("enrol").hidden = true;
    $("card").hidden = false;
    const info = certInfo(wallet.certificate);
    $("who").textContent = wallet.memberId;
    $("valid-until").textContent = info.validUntil;
    const tick = async () => {
      const t = Math.floor(Date.now() / 1000);
      const text = await presentation(wallet, t);
      draw(text);
      const out = $("code-text");
      out.value = text;
      out.dataset.t = String(t);
      out.dataset.serial = info.serial;
      const expired = new Date(t * 1000).toISOString().slice(0, 10) > info.validUntil;
      $("status").textContent = expired
        ? "这台手机的会员证书已过期：请在下方删除密钥后重新注册。" +
          " This phone's certificate has expired: remove the key below and enrol again."
        : (navigator.onLine ? "在线 online" : "离线 offline") +
          " · 本机签发于 signed on this phone at " + new Date(t * 1000).toLocaleTimeString();
      $("status").className = expired ? "meta error" : "meta";
      const bar = $("countdown");
      bar.style.transition = "none";
      bar.style.width = "100%";
      requestAnimationFrame(() => {
        bar.style.transition = `width ${REFRESH_S}s linear`;
        bar.style.width = "0%";
      });
    };
    await tick();
    clearInterval(timer);
    timer = setInterval(() => tick().catch(fatal), REFRESH_S * 1000);
  }

  function fatal(err) {
    const el = $("fatal");
    el.hidden = false;
    el.textContent = String(err && err.message ? err.message : err);
  }

  // The enrolment link is /member/#member=ID&code=CODE: a fragment never leaves the phone
  // (no request line, no access log, no Referer). Links printed before used the query
  // string; the server moves those into the fragment, and this reads either. Then the
  // address bar is cleared at once, so the one-time code stays in neither history nor a
  // bookmark, whether or not this phone is already enrolled.
  function takeLink() {
    const hash = new URLSearchParams(location.hash.replace(/^#/, ""));
    const query = new URLSearchParams(location.search);
    const pick = (name) => hash.get(name) || query.get(name) || "";
    const link = { member: pick("member"), code: pick("code") };
    if (location.hash || location.search) history.replaceState(null, "", location.pathname);
    return link;
  }

  function fillForm(link) {
    if (link.member) $("member").value = link.member;
    if (link.code) $("code").value = link.code;
  }

  async function main() {
    const link = takeLink();
    // A second link opened in the same tab changes only the fragment: no reload.
    window.addEventListener("hashchange", () => fillForm(takeLink()));
    if (!window.crypto || !crypto.subtle || !window.indexedDB) {
      throw new Error("此浏览器无法保存设备密钥（需要 WebCrypto 和 IndexedDB）。" +
        " This browser cannot keep a device key (needs WebCrypto and IndexedDB).");
    }
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.register("sw.js").catch(() => {}); // offline reopen; optional
    }
    const wallet = await loadWallet();
    if (wallet) return show(wallet);
    fillForm(link);
    $("enrol").hidden = false;
    $("enrol-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      $("enrol-error").textContent = "";
      try {
        await show(await enrol($("member").value.trim(), $("code").value.trim().toUpperCase()));
      } catch (err) {
        $("enrol-error").textContent = err.message;
      }
    });
  }

  $("forget").addEventListener("click", async () => {
    if (!confirm("删除这台手机的密钥？之后需要新的注册码。\n" +
      "Remove this phone's key? You will need a new enrolment code.")) return;
    clearInterval(timer);
    await forgetWallet();
    location.reload();
  });

  main().catch(fatal);
})();
