// The member page's words, Chinese first, and the language rule (the finder's): a `lang`
// in the link's fragment, then the choice saved by the switch, then the first of zh/en the
// browser prefers, else zh-CN. Exposes window.wsMemberI18n = { pick, apply, t, set }.
"use strict";

(function () {
  const KEY = "ws-member-lang";
  const T = {
    "zh-CN": {
      title: "我的会员码", lang_switch: "English", lang_switch_label: "Switch to English",
      enrol_intro: "请输入会员号和工会分会给您的一次性注册码。这台手机会生成自己的密钥，密钥不会离开手机。",
      member_label: "会员号", code_label: "注册码", enrol_button: "注册这台手机",
      qr_label: "会员二维码", valid_until: "有效期至", this_phone: "这台手机",
      about_code: "会员码每隔几秒在这台手机上重新签发，没有网络也能用；截图半分钟内就会失效。",
      about_renew: "手机联网时，会员证书会在到期前自动续期，并用服务器的时间校准这台手机的时钟。",
      copy_code: "复制会员码文字", copied: "已复制，半分钟内有效",
      forget: "删除这台手机的密钥",
      forget_confirm: "删除这台手机的密钥？之后需要新的注册码。",
      online: "在线", offline: "离线", signed_at: (time) => `本机签发于 ${time}`,
      expired: "这台手机的会员证书已过期。请连接网络，手机会自动续期。",
      expiring: (days, date) => (days <= 0
        ? `会员证书今天（${date}）到期。请连接网络，手机会自动续期。`
        : `会员证书将在 ${days} 天后（${date}）到期。请连接网络，手机会自动续期。`),
      renewed: (date) => `会员证书已自动续期，有效期至 ${date}。`,
      refused: {
        revoked: "续期被拒绝：这台手机的会员证书已被撤销。请联系工会分会重新注册。",
        suspended: "续期被拒绝：会员资格已暂停。请联系工会分会。",
        ended: "续期被拒绝：会员资格已到期。请联系工会分会。",
        expired: "续期被拒绝：会员证书过期太久。请向工会分会要新的注册码。",
        unknown: "续期被拒绝：服务器不认识这台手机的证书。请删除密钥后重新注册。",
        issuer_unavailable: "服务器暂时无法续期，手机稍后会自动重试。",
        other: (status) => `续期失败（${status}），手机稍后会自动重试。`,
      },
      enrol_refused: {
        403: "会员号或注册码不对，或注册码已过期、已使用。请向工会分会要新的注册码。",
        422: "这台手机发来的数据无效，请刷新页面再试。",
        429: "尝试次数太多，请稍后再试。",
        503: "服务器忙，请稍后再试。",
        other: (status) => `注册被拒绝（${status}）。`,
      },
      no_network: "无法连接服务器，请检查网络后再试。",
      no_crypto: "此浏览器无法保存设备密钥（需要 WebCrypto 和 IndexedDB）。",
    },
    en: {
      title: "My member code", lang_switch: "中文", lang_switch_label: "切换到中文",
      enrol_intro: "Enter your member id and the one-time code from your union branch. " +
        "This phone makes its own key; the key never leaves it.",
      member_label: "Member id", code_label: "Enrolment code", enrol_button: "Enrol this phone",
      qr_label: "member QR code", valid_until: "valid until", this_phone: "This phone",
      about_code: "The code is signed on this phone every few seconds, so it keeps working " +
        "with no network, and a screenshot stops working within half a minute.",
      about_renew: "While the phone is online, the certificate renews itself before it " +
        "expires, and the phone's clock is set right by the server's time.",
      copy_code: "Copy code as text", copied: "Copied: good for half a minute",
      forget: "Remove this phone's key",
      forget_confirm: "Remove this phone's key? You will need a new enrolment code.",
      online: "online", offline: "offline", signed_at: (time) => `signed on this phone at ${time}`,
      expired: "This phone's certificate has expired. Connect to the internet and it renews " +
        "itself.",
      expiring: (days, date) => (days <= 0
        ? `Your certificate expires today (${date}). Connect to the internet and it renews itself.`
        : `Your certificate expires in ${days} day${days === 1 ? "" : "s"} (${date}). ` +
          "Connect to the internet and it renews itself."),
      renewed: (date) => `Certificate renewed by itself: valid until ${date}.`,
      refused: {
        revoked: "Renewal refused: this phone's certificate was revoked. Ask your union " +
          "branch to enrol again.",
        suspended: "Renewal refused: your membership is suspended. Contact your union branch.",
        ended: "Renewal refused: your membership has ended. Contact your union branch.",
        expired: "Renewal refused: the certificate expired too long ago. Ask your union " +
          "branch for a new enrolment code.",
        unknown: "Renewal refused: the server does not know this phone's certificate. " +
          "Remove the key and enrol again.",
        issuer_unavailable: "The server cannot renew right now; the phone tries again later.",
        other: (status) => `Renewal failed (${status}); the phone tries again later.`,
      },
      enrol_refused: {
        403: "Wrong member id or enrolment code, or the code expired or was used. Ask your " +
          "union branch for a new one.",
        422: "This phone sent data the server cannot use; reload the page and try again.",
        429: "Too many attempts; try again later.",
        503: "The server is busy; try again later.",
        other: (status) => `Enrolment refused (${status}).`,
      },
      no_network: "Cannot reach the server; check the network and try again.",
      no_crypto: "This browser cannot keep a device key (needs WebCrypto and IndexedDB).",
    },
  };

  let lang = "zh-CN";

  function norm(value) {
    const v = (value || "").toLowerCase();
    return v.startsWith("en") ? "en" : v.startsWith("zh") ? "zh-CN" : null;
  }

  function pick(fromLink) {
    let saved = null;
    try { saved = localStorage.getItem(KEY); } catch (e) { /* storage off: fine */ }
    const browser = (navigator.languages || [navigator.language]).map(norm).find(Boolean);
    lang = norm(fromLink) || norm(saved) || browser || "zh-CN";
    return lang;
  }

  function apply() {
    const words = T[lang];
    document.documentElement.lang = lang;
    document.title = words.title;
    for (const node of document.querySelectorAll("[data-i18n]")) {
      node.textContent = words[node.dataset.i18n];
    }
    for (const node of document.querySelectorAll("[data-i18n-label]")) {
      node.setAttribute("aria-label", words[node.dataset.i18nLabel]);
    }
    const sw = document.getElementById("lang-switch");
    sw.textContent = words.lang_switch;
    sw.lang = lang === "en" ? "zh-CN" : "en";
    sw.setAttribute("aria-label", words.lang_switch_label);
  }

  function set(next) {
    lang = next;
    try { localStorage.setItem(KEY, lang); } catch (e) { /* fine */ }
    apply();
  }

  window.wsMemberI18n = {
    pick, apply, set, t: () => T[lang], lang: () => lang,
  };
})();
