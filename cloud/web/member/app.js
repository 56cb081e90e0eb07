// The member page: enrol this phone once (online), then show a WS1 code signed here every
// few seconds, so the code works with no network and a screenshot is stale within 30 s.
// The wallet itself (device key, enrolment, codes, the server's clock, renewal) is the
// module wallet.js, the same one a union's own app page embeds; this file is the page
// around it: the form, the code on screen, what it says under the code. Words: i18n.js.

import { createWallet, drawCode, indexedDbStorage } from "./wallet.js";

const REFRESH_S = 5; // a new code every 5 s: well inside the stations' 30 s window
const CONTACT_S = 600; // while open and online, ask the server's time (and renew) this often
const DAY_MS = 86400000;

const $ = (id) => document.getElementById(id);
const i18n = window.wsMemberI18n;
const t = () => i18n.t();

let wallet = null; // the page's one wallet (wallet.js), made in main()

// Why the server refused, in the page's language; the server's own reason follows.
function refusal(status, detail) {
  const words = t().enrol_refused;
  const why = words[status] || words.other(status);
  return detail ? `${why} (${detail})` : why;
}

// Enrol with the form's member id and code; the page's words for a refusal.
async function enrol(memberId, code) {
  try {
    await wallet.enroll(code, memberId);
  } catch (err) {
    if (err.kind === "network") throw new Error(t().no_network);
    throw new Error(refusal(err.status, err.detail));
  }
}

// One online contact: the server's time and, when due, a renewal; then redraw.
async function contact() {
  const outcome = await wallet.renewIfDue();
  if (outcome.contacted) await tick().catch(fatal);
}

let timer = null;
let wasOnline = navigator.onLine;

// What the page says under the code: expiry, a renewal's outcome, or nothing.
function notice(info, now) {
  const words = t();
  const r = info.renewal;
  if (r && r.refused) {
    const why = words.refused[r.refused];
    return { text: why || words.refused.other(r.status), kind: "error" };
  }
  if (now >= info.endMs) return { text: words.expired, kind: "error" };
  if (info.renewalDue) {
    const days = Math.floor(info.endMs / DAY_MS) - 1 - Math.floor(now / DAY_MS);
    return { text: words.expiring(days, info.validUntil), kind: "warn" };
  }
  if (r && r.renewed && now - r.at < DAY_MS) {
    return { text: words.renewed(r.renewed), kind: "ok" };
  }
  return null;
}

async function tick() {
  const info = wallet.info();
  const code = await wallet.currentCode();
  const now = code.t * 1000;
  drawCode($("qr"), code.text);
  $("who").textContent = info.memberId;
  $("valid-until").textContent = info.validUntil;
  const out = $("code-text");
  out.value = code.text;
  out.dataset.serial = code.serial;
  out.dataset.t = String(code.t);
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

async function show() {
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
    if (wallet && wallet.enrolled) tick().catch(fatal);
  });
  // A second link opened in the same tab changes only the fragment: no reload.
  window.addEventListener("hashchange", () => fillForm(takeLink()));
  if (!window.crypto || !crypto.subtle || !window.indexedDB) throw new Error(t().no_crypto);
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("sw.js").catch(() => {}); // offline reopen; optional
  }
  wallet = await createWallet({ storage: indexedDbStorage("waystation-member") });
  if (wallet.enrolled) return show();
  fillForm(link);
  $("enrol").hidden = false;
  $("enrol-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("enrol-error").textContent = "";
    try {
      await enrol($("member").value.trim(), $("code").value.trim().toUpperCase());
      await show();
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
  await wallet.forget();
  location.reload();
});

main().catch(fatal);
