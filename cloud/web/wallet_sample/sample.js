// Sample union app page: how an H5 page inside the union's app embeds the Waystation wallet.
// The union's backend signs POST /api/v1/app/members/{id}/enrol-code (server to server) and
// hands the code to this page; here it arrives in the fragment (#member=ID&code=CODE), which
// browsers never send to a server. Replace `base` with where the Waystation service is
// reached from the page ("" when it is proxied under the page's own origin).
import { createWallet, drawCode, indexedDbStorage } from "/static/wallet/v1/wallet.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 5000; // a new code every 5 s, well inside a station's 30 s window
const CONTACT_MS = 600000; // ask the server's time (and renew when due) every 10 min

function log(text) {
  const li = document.createElement("li");
  li.textContent = text;
  $("events").append(li);
}

async function show(wallet) {
  const code = await wallet.currentCode();
  drawCode($("qr"), code.text);
  const out = $("code");
  out.value = code.text;
  out.dataset.serial = code.serial;
  out.dataset.t = String(code.t);
  $("valid-until").textContent = wallet.info().validUntil;
}

async function main() {
  const link = new URLSearchParams(location.hash.slice(1));
  if (location.hash) history.replaceState(null, "", location.pathname); // the code: once
  const wallet = await createWallet({ base: "", storage: indexedDbStorage("union-app-wallet") });
  wallet.addEventListener("enrolled", (e) => log(`已注册，证书 ${e.detail.serial}`));
  wallet.addEventListener("renewed", (e) => log(`已续期至 ${e.detail.validUntil}`));
  wallet.addEventListener("renewal-refused", (e) => log(`续期被拒绝：${e.detail.reason}`));
  wallet.addEventListener("clock", (e) => log(`已校准时钟，偏差 ${e.detail.offsetMs} 毫秒`));
  if (!wallet.enrolled) {
    if (!link.get("code")) throw new Error("这台手机还没有注册：请从工会App打开本页");
    $("state").textContent = "正在注册这台手机…";
    await wallet.enroll(link.get("code"), link.get("member"));
  }
  $("state").textContent = `会员 ${wallet.memberId} · 出示给驿站门口的摄像头`;
  await show(wallet);
  setInterval(() => show(wallet).catch(fail), REFRESH_MS);
  const contact = () => wallet.renewIfDue().then(() => show(wallet)).catch(fail);
  setInterval(contact, CONTACT_MS);
  window.addEventListener("online", contact);
  contact();
}

function fail(err) {
  $("state").textContent = err.detail || err.message || String(err);
  $("state").className = "error";
}

main().catch(fail);
