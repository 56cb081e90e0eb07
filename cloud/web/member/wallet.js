// The Waystation wallet: a union member's phone as the door key, as an ES module.
//
// One implementation for the member page (/member/) and for a union's own app page that
// embeds it (served at /static/wallet/v1/wallet.js; API and example: docs/integration.md).
// The phone makes its own P-256 key in WebCrypto (non-extractable, kept in IndexedDB),
// enrols it once with a one-time code, then signs a fresh WS1 code every few seconds with no
// network. While online it learns the server's time from every answer (so a phone whose
// clock is minutes off still draws codes a station accepts) and renews the certificate once
// less than a third of its validity is left. Byte layouts and contexts: docs/credential.md
// (the same as protocol/credential.py and protocol/renewal.py).

import qrcode from "./qr.js";

const DAY_MS = 86400000;
const PRESENTATION_CONTEXT = new TextEncoder().encode("waystation/v1/presentation");
const RENEW_CONTEXT = new TextEncoder().encode("waystation/v1/renew");
const ENROLL_CONTEXT = "waystation/v1/enroll";
const B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
const ECDSA = { name: "ECDSA", hash: "SHA-256" };
const QUIET = 4; // modules of light border the QR spec requires

// --- encoding helpers --------------------------------------------------------------------

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

// --- storage -------------------------------------------------------------------------------

/** The wallet record (device key pair, certificate, clock offset, last renewal outcome) in
 * IndexedDB database `name`, store "wallet", key "device". IndexedDB is the one browser store
 * that keeps a non-extractable CryptoKey: the private key can be used, never read. */
export function indexedDbStorage(name = "waystation-member") {
  function open() {
    return new Promise((resolve, reject) => {
      const req = indexedDB.open(name, 1);
      req.onupgradeneeded = () => req.result.createObjectStore("wallet");
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }
  async function op(mode, fn) {
    const db = await open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction("wallet", mode);
      const req = fn(tx.objectStore("wallet"));
      tx.oncomplete = () => { db.close(); resolve(req && req.result); };
      tx.onerror = () => { db.close(); reject(tx.error); };
    });
  }
  return {
    load: () => op("readonly", (s) => s.get("device")),
    save: (record) => op("readwrite", (s) => s.put(record, "device")),
    clear: () => op("readwrite", (s) => s.delete("device")),
  };
}

/** A storage that forgets everything when the page closes (tests, kiosks). */
export function memoryStorage() {
  let record;
  return {
    load: async () => record,
    save: async (r) => { record = r; },
    clear: async () => { record = undefined; },
  };
}

// --- certificate fields (offsets per docs/credential.md) -----------------------------------

function certInfo(cert) {
  const kidLen = cert[1];
  const at = 2 + kidLen + 12 + 33;
  const view = new DataView(cert.buffer, cert.byteOffset);
  const day = (n) => new Date(n * DAY_MS).toISOString().slice(0, 10);
  const from = view.getUint16(at, false);
  const until = view.getUint16(at + 2, false);
  return {
    serial: Array.from(cert.slice(2 + kidLen, 2 + kidLen + 12),
      (b) => b.toString(16).padStart(2, "0")).join(""),
    flags: cert[at + 4],
    validFrom: day(from),
    validUntil: day(until),
    startMs: from * DAY_MS,
    endMs: (until + 1) * DAY_MS, // valid_until is inclusive: the end of that UTC day
  };
}

/** Why a call failed: `kind` "network" (no answer) or "refused" (the server said no, with its
 * HTTP `status`, `reason` word when it gives one, and `detail` words). */
export class WalletError extends Error {
  constructor(kind, status, detail, reason) {
    super(detail || kind);
    this.name = "WalletError";
    this.kind = kind;
    this.status = status;
    this.detail = detail || "";
    this.reason = reason || null;
  }
}

// --- the wallet ----------------------------------------------------------------------------

/** A wallet bound to a Waystation service at `base` ("" = this page's origin, or e.g.
 * "/waystation" behind the union's own proxy) and a `storage` (default: IndexedDB).
 * Events (an EventTarget; `event.detail` carries the data): "enrolled" {serial, validUntil},
 * "renewed" {serial, validUntil}, "renewal-refused" {status, reason}, "clock" {offsetMs}. */
export async function createWallet({ base = "", storage = indexedDbStorage(), fetchFn } = {}) {
  const wallet = new Wallet(base.replace(/\/$/, ""), storage, fetchFn || fetch.bind(globalThis));
  wallet.record = (await storage.load()) || null;
  wallet.offsetMs = (wallet.record && wallet.record.clockOffsetMs) || 0;
  return wallet;
}

class Wallet extends EventTarget {
  constructor(base, storage, fetchFn) {
    super();
    this.base = base;
    this.storage = storage;
    this.fetchFn = fetchFn;
    this.record = null;
    this.offsetMs = 0; // server time minus this phone's clock, ms (kept with the record)
    this.contacting = null;
  }

  get enrolled() { return this.record !== null; }

  get memberId() { return this.record ? this.record.memberId : null; }

  /** The server's time now, ms: this phone's clock corrected by the last online contact. */
  serverNow() { return Date.now() + this.offsetMs; }

  /** What the wallet holds: member, serial, validity, flags, whether renewal is due, the
   * last renewal's outcome ({renewed, at} or {refused, status}); null before enrolment. */
  info() {
    if (!this.record) return null;
    const c = certInfo(this.record.certificate);
    return { memberId: this.record.memberId, ...c, renewalDue: this.renewalDue(c),
      renewal: this.record.renewal || null, clockOffsetMs: this.offsetMs };
  }

  renewalDue(c) {
    return c.endMs - this.serverNow() < (c.endMs - c.startMs) / 3;
  }

  // fetch + JSON, learning the server's time (midpoint of the round trip) from the answer.
  async call(path, body) {
    const init = body === undefined ? { cache: "no-store" } : {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    };
    const sent = Date.now();
    let res;
    try {
      res = await this.fetchFn(this.base + path, init);
    } catch (err) {
      throw new WalletError("network", 0, String(err && err.message ? err.message : err));
    }
    const got = Date.now();
    const data = await res.json().catch(() => ({}));
    if (typeof data.server_time_ms === "number") {
      this.offsetMs = Math.round(data.server_time_ms - (sent + got) / 2);
      if (this.record) this.record.clockOffsetMs = this.offsetMs;
      this.dispatchEvent(new CustomEvent("clock", { detail: { offsetMs: this.offsetMs } }));
    }
    return { res, data };
  }

  /** Enrol this phone: a new device key, its proof of possession and the one-time `code`
   * for `memberId`. Replaces any earlier record only once the server said yes. */
  async enroll(code, memberId) {
    code = String(code).trim().toUpperCase();
    const pair = await crypto.subtle.generateKey(
      { name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
    const pub = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    const message = new TextEncoder().encode(`${ENROLL_CONTEXT}|${memberId}|${code}`);
    const proof = new Uint8Array(await crypto.subtle.sign(ECDSA, pair.privateKey, message));
    const { res, data } = await this.call("/api/v1/members/enroll", { member_id: memberId,
      code, device_public: b64u(pub), proof: b64u(proof) });
    if (!res.ok) throw new WalletError("refused", res.status, data.detail, data.reason);
    this.record = { memberId, keys: pair, certificate: unb64u(data.certificate),
      clockOffsetMs: this.offsetMs };
    await this.storage.save(this.record);
    const c = certInfo(this.record.certificate);
    this.dispatchEvent(new CustomEvent("enrolled",
      { detail: { serial: c.serial, validUntil: c.validUntil } }));
    return this.info();
  }

  /** The code to show now: `{text, t, serial}`, `text` a "WS1:" string signed here for the
   * server-corrected unix second `t`. Works offline. */
  async currentCode() {
    if (!this.record) throw new WalletError("not_enrolled", 0, "enrol first");
    const t = Math.floor(this.serverNow() / 1000);
    const signed = concat(this.record.certificate, u32be(t));
    const sig = new Uint8Array(await crypto.subtle.sign(
      ECDSA, this.record.keys.privateKey, concat(signed, PRESENTATION_CONTEXT)));
    return { text: "WS1:" + base45(concat(signed, sig)), t,
      serial: certInfo(this.record.certificate).serial };
  }

  /** One online contact: learn the server's time and, when due, renew (the device key signs
   * the server's time). Resolves to {contacted, renewed, refused}; never rejects (offline
   * is normal: call again when back online, on open, every few minutes). */
  renewIfDue() {
    if (!this.record) return Promise.resolve({ contacted: false, renewed: false, refused: null });
    if (this.contacting) return this.contacting;
    const outcome = { contacted: false, renewed: false, refused: null };
    this.contacting = (async () => {
      const { res, data } = await this.call("/api/v1/members/clock");
      if (!res.ok) return outcome;
      outcome.contacted = true;
      if (this.renewalDue(certInfo(this.record.certificate))) {
        await this.renew(data.server_time_ms, outcome);
      }
      await this.storage.save(this.record);
      return outcome;
    })().catch(() => outcome).finally(() => { this.contacting = null; });
    return this.contacting;
  }

  async renew(tMs, outcome) {
    const cert = this.record.certificate;
    const sig = new Uint8Array(await crypto.subtle.sign(
      ECDSA, this.record.keys.privateKey, concat(cert, u64be(tMs), RENEW_CONTEXT)));
    const { res, data } = await this.call("/api/v1/members/renew",
      { certificate: b64u(cert), t_ms: tMs, signature: b64u(sig) });
    if (res.ok) {
      this.record.certificate = unb64u(data.certificate);
      this.record.renewal = { renewed: data.valid_until, at: this.serverNow() };
      outcome.renewed = true;
      const c = certInfo(this.record.certificate);
      this.dispatchEvent(new CustomEvent("renewed",
        { detail: { serial: c.serial, validUntil: c.validUntil } }));
    } else if (res.status !== 429 && res.status !== 409) { // too soon / raced: quietly later
      this.record.renewal = { refused: data.reason || "other", status: res.status };
      outcome.refused = this.record.renewal.refused;
      this.dispatchEvent(new CustomEvent("renewal-refused",
        { detail: { status: res.status, reason: outcome.refused } }));
    }
  }

  /** Delete the device key and certificate from this phone. */
  async forget() {
    await this.storage.clear();
    this.record = null;
  }
}

/** Draw `text` as a QR code (error level M, alphanumeric, quiet zone) filling `canvas`. */
export function drawCode(canvas, text) {
  const qr = qrcode(0, "M");
  qr.addData(text, "Alphanumeric");
  qr.make();
  const n = qr.getModuleCount();
  const scale = Math.max(2, Math.floor(canvas.width / (n + 2 * QUIET)));
  const size = (n + 2 * QUIET) * scale;
  canvas.width = canvas.height = size;
  const g = canvas.getContext("2d");
  g.fillStyle = "#fff";
  g.fillRect(0, 0, size, size);
  g.fillStyle = "#000";
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      if (qr.isDark(r, c)) g.fillRect((c + QUIET) * scale, (r + QUIET) * scale, scale, scale);
    }
  }
}
