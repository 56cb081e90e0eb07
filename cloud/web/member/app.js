// The member page: enrol this phone once (online), then show a WS1 code signed here every
// few seconds, so the code works with no network and a screenshot is stale within 30 s.
// While online it keeps the phone working: every answer from the member API carries the
// server's time, which corrects this phone's clock for the codes (the offset is kept with the
// wallet, so it holds offline too), and the certificate renews itself once less than a third
// of its validity is left. Byte layout and contexts: docs/credential.md (the same as
// protocol/credential.py and protocol/renewal.py). Words: i18n.js.
"use strict";

(function () {
  const REFRESH_S = 5; // a new code every 5 s: well inside the stations' 30 s window
  const CONTACT_S = 600; // while open and online, ask the server's time (and renew) this often
  const DAY_MS = 86400000;
  const DB_NAME = "waystation-member";
  const STORE = "wallet";
  const PRESENTATION_CONTEXT = new TextEncoder().encode("waystation/v1/presentation");
  const RENEW_CONTEXT = new TextEncoder().encode("waystation/v1/renew");
  const ENROLL_CONTEXT = "waystation/v1/enroll";
  const B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
  const ECDSA = { name: "ECDSA", hash: "SHA-256" };

  const $ = (id) => document.getElementById(id);
  const i18n = window.wsMemberI18n;
  const t = () => i18n.t();

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

  function u64be(n) {
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, BigInt(n), false);
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
    const from = view.getUint16(at, false);
    const until = view.getUint16(at + 2, false);
    return {
      serial: Array.from(cert.slice(2 + kidLen, 2 + kidLen + 12),
        (b) => b.toString(16).padStart(2, "0")).join(""),
      validFrom: day(from),
      validUntil: day(until),
      startMs: from * DAY_MS,
      endMs: (until + 1) * DAY_MS, // valid_until is inclusive: the end of that UTC day
    };
  }

  // --- the server's clock ------------------------------------------------------------------

  // Server time minus this phone's clock, ms. Learnt from `server_time_ms` on every answer of
  // the member API (the midpoint of the round trip), kept with the wallet.
  let offsetMs = 0;
  const serverNow = () => Date.now() + offsetMs;

  // fetch + JSON, learning the server's time from the answer when it carries it.
  async function call(path, body) {
    const init = body === undefined ? { cache: "no-store" } : {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    };
    const sent = Date.now();
    const res = await fetch(path, init);
    const got = Date.now();
    const data = await res.json().catch(() => ({}));
    if (typeof data.server_time_ms === "number") {
      offsetMs = Math.round(data.server_time_ms - (sent + got) / 2);
    }
    return { res, data };
  }

  // --- enrolment ---------------------------------------------------------------------------

  // Why the server refused, in the page's language; the server's own reason follows.
  function refusal(status, detail) {
    const words = t().enrol_refused;
    const why = words[status] || words.other(status);
    return detail ? `${why} (${detail})` : why;
  }

  async function enrol(memberId, code) {
    const pair = await crypto.subtle.generateKey(
      { name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
    const pub = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    const message = new TextEncoder().encode(`${ENROLL_CONTEXT}|${memberId}|${code}`);
    const proof = new Uint8Array(await crypto.subtle.sign(ECDSA, pair.privateKey, message));
    let answer;
    try {
      answer = await call("/api/v1/members/enroll", { member_id: memberId, code,
        device_public: b64u(pub), proof: b64u(proof) });
    } catch (err) {
      throw new Error(t().no_network);
    }
    const { res, data } = answer;
    if (!res.ok) throw new Error(refusal(res.status, data.detail));
    const wallet = { memberId, keys: pair, certificate: unb64u(data.certificate),
      clockOffsetMs: offsetMs };
    await saveWallet(wallet);
    return wallet;
  }

  // --- renewal (docs/credential.md, "Renewal") -------------------------------------------------

  // Less than a third of the certificate's validity is left, by the server's clock.
  function renewalDue(info) {
    return info.endMs - serverNow() < (info.endMs - info.startMs) / 3;
  }

  // The page's one wallet, and what it last heard about renewal: null, {renewed: date} or
  // {refused: reason, status} (kept with the wallet, so a refusal shows again offline).
  let current = null;
  let contacting = null;

  // One online contact: learn the server's time and, when due, renew. Never throws: offline
  // is normal, and the next contact (online again, reopened, every CONTACT_S) tries again.
  function contact() {
    if (!current || contacting) return contacting;
    contacting = (async () => {
      const { res, data } = await call("/api/v1/members/clock");
      if (!res.ok) return;
      current.clockOffsetMs = offsetMs;
      if (renewalDue(certInfo(current.certificate))) await renew(data.server_time_ms);
      await saveWallet(current);
      await tick();
    })().catch(() => {}).finally(() => { contacting = null; });
    return contacting;
  }

  async function renew(tMs) {
    const cert = current.certificate;
    const sig = new Uint8Array(await crypto.subtle.sign(
      ECDSA, current.keys.privateKey, concat(cert, u64be(tMs), RENEW_CONTEXT)));
    const { res, data } = await call("/api/v1/members/renew",
      { certificate: b64u(cert), t_ms: tMs, signature: b64u(sig) });
    current.clockOffsetMs = offsetMs;
    if (res.ok) {
      current.certificate = unb64u(data.certificate);
      current.renewal = { renewed: data.valid_until, at: serverNow() };
    } else if (res.status !== 429 && res.status !== 409) { // too soon / raced: quietly later
      current.renewal = { refused: data.reason || "other", status: res.status };
    }
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
  let wasOnline = navigator.onLine;

  // What the page says under the code: expiry, a renewal's outcome, or nothing.
  function notice(info, now) {
    const words = t();
    const r = current.renewal;
    if (r && r.refused) {
      const why = words.refused[r.refused];
      return { text: why || words.refused.other(r.status), kind: "error" };
    }
    if (now >= info.endMs) return { text: words.expired, kind: "error" };
    if (renewalDue(info)) {
      const days = Math.floor(info.endMs / DAY_MS) - 1 - Math.floor(now / DAY_MS);
      return { text: words.expiring(days, info.validUntil), kind: "warn" };
    }
    if (r && r.renewed && now - r.at < DAY_MS) {
      return { text: words.renewed(r.renewed), kind: "ok" };
    }
    return null;
  }

  async function tick() {
    const wallet = current;
    const info = certInfo(wallet.certificate);
    const now = serverNow();
    const t = Math.floor(now / 1000);
    const text = await presentation(wallet, t);
    draw(text);
    $("who").textContent = wallet.memberId;
    $("valid-until").textContent = info.validUntil;
    const out = $("code-text");
    out.value = text;
    out.dataset.serial = info.serial;
    out.dataset.t = String(t);
    const words = i18n.t();
    $("status").textContent = (navigator.onLine ? words.online : words.offline) + " · " +
      words.signed_at(new Date(now).toLocaleTimeString(i18n.lang()));
    const said = notice(info, now);
    const box = $("notice");
    box.hidden = !said;
    box.textContent = said ? said.text : "";
    box.className = said ? `notice ${said.kind}` : "notice";
    const bar = $("countdown");
    bar.style.transition = "none";
    bar.style.width = "100%";
    requestAnimationFrame(() => {
      bar.style.transition = `width ${REFRESH_S}s linear`;
      bar.style.width = "0%";
    });
    if (navigator.onLine && !wasOnline) contact(); // back online: renew now, not later
    wasOnline = navigator.onLine;
  }

  async function show(wallet) {
    current = wallet;
    offsetMs = wallet.clockOffsetMs || 0;
    $("enrol").hidden = true;
    $("card").hidden = false;
    await tick();
    clearInterval(timer);
    timer = setInterval(() => tick().catch(fatal), REFRESH_S * 1000);
    setInterval(contact, CONTACT_S * 1000);
    window.addEventListener("online", contact);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") contact();
    });
    contact();
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
    const link = { member: pick("member"), code: pick("code"), lang: pick("lang") };
    if (location.hash || location.search) history.replaceState(null, "", location.pathname);
    return link;
  }

  function fillForm(link) {
    if (link.member) $("member").value = link.member;
    if (link.code) $("code").value = link.code;
  }

  async function main() {
    const link = takeLink();
    i18n.pick(link.lang);
    i18n.apply();
    $("lang-switch").addEventListener("click", () => {
      i18n.set(i18n.lang() === "en" ? "zh-CN" : "en");
      if (current) tick().catch(fatal);
    });
    // A second link opened in the same tab changes only the fragment: no reload.
    window.addEventListener("hashchange", () => fillForm(takeLink()));
    if (!window.crypto || !crypto.subtle || !window.indexedDB) throw new Error(t().no_crypto);
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

  // The code as text, for a door without a camera (the demo's door page): copied to the
  // clipboard where the browser allows it, and shown for selecting by hand.
  $("copy-code").addEventListener("click", async () => {
    const out = $("code-text");
    out.hidden = false;
    try {
      await navigator.clipboard.writeText(out.value);
      $("copy-code").textContent = t().copied;
    } catch (err) {
      /* no clipboard (not a secure context, or refused): the text is shown instead */
    }
  });

  $("forget").addEventListener("click", async () => {
    if (!confirm(t().forget_confirm)) return;
    clearInterval(timer);
    await forgetWallet();
    location.reload();
  });

  main().catch(fatal);
})();
