// Member administration (#members, admins only): find a member by pseudonym, issue an
// enrolment code shown as a QR code to scan with the phone, list and revoke certificates or
// the whole member, and how many stations run the latest revocation list.
//
// The routes are cloud/api/members.py and cloud/api/member_admin.py. The enrolment link
// carries the code in its fragment (`/member/#member=ID&code=CODE`), which browsers never
// send; the page asks the server to draw it with the code in a POST body, never in a URL.

import { get, post, postForImage } from "./api.js";
import { $, announce, clear, h, raw } from "./dom.js";
import { t, when } from "./lang.js";

const enc = encodeURIComponent;

export class Members {
  constructor(root) {
    this.root = root;
    this.reach = h("p", { id: "rev-reach", role: "status" });
    this.query = h("input", {
      type: "search", id: "member-q", name: "q", maxlength: "40", placeholder: t("mem_search_ph"),
    });
    const form = h(
      "form",
      { id: "member-search", class: "filters", role: "search" },
      h("label", {}, t("mem_pseudonym"), " ", this.query),
      h("button", { type: "submit" }, t("search")),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.search().catch((err) => this.say(t("mem_failed", err.message)));
    });
    this.count = h("p", { id: "member-count", role: "status" });
    this.rows = h("tbody", { id: "member-rows" });
    const head = ["mem_pseudonym", "mem_branch", "mem_status", "mem_valid_until", "mem_actions"];
    const table = h(
      "div",
      { class: "scroll" },
      h("table", { id: "member-table" },
        h("caption", { class: "sr-only" }, t("mem_caption")),
        h("thead", {}, h("tr", {}, head.map((k) => h("th", { scope: "col" }, t(k))))),
        this.rows),
    );
    this.detail = h("section", { id: "member-detail", "aria-live": "polite" });
    this.status = h("p", { id: "member-status", role: "status" });
    clear(root, h("h2", { id: "members-title" }, t("members_title")), this.reach, form,
      this.count, table, this.status, this.detail);
  }

  say(text) {
    this.status.textContent = text;
  }

  async load() {
    await Promise.all([this.search(), this.loadReach()]);
  }

  async loadReach() {
    const r = await get("/members/revocation-reach");
    this.reach.dataset.onLatest = String(r.on_latest);
    this.reach.dataset.version = String(r.latest_version ?? "");
    clear(
      this.reach,
      r.latest_version === null
        ? t("mem_reach_none")
        : t("mem_reach", r.on_latest, r.stations, r.latest_version, r.behind, r.unknown),
    );
  }

  async search() {
    const found = await get("/api/v1/members", { q: this.query.value.trim() });
    this.count.textContent = t("mem_count", found.members.length, found.total);
    clear(this.rows, found.members.map((m) => this.row(m)));
  }

  row(m) {
    const button = (label, cls, action) =>
      h("button", { type: "button", class: cls, onclick: () => action().catch((e) => this.say(t("mem_failed", e.message))) }, t(label));
    return h(
      "tr",
      { dataset: { member: m.member_id } },
      h("th", { scope: "row" }, raw("span", m.member_id)),
      h("td", {}, raw("span", m.branch || "—")),
      h("td", {}, t(m.status === "active" ? "mem_active" : "mem_suspended")),
      h("td", {}, m.valid_until ? raw("span", m.valid_until) : t("mem_no_end")),
      h("td", { class: "actions" },
        button("mem_enrol", "enrol", () => this.enrol(m.member_id)),
        " ",
        button("mem_certs", "certs", () => this.certificates(m.member_id)),
        " ",
        button("mem_revoke", "danger revoke", () => this.revokeMember(m.member_id))),
    );
  }

  async enrol(id) {
    const issued = await post(`/api/v1/members/${enc(id)}/enrol-code`);
    const image = await postForImage(`/api/v1/members/${enc(id)}/enrol-qr`, { code: issued.code });
    const link = `${window.location.origin}/member/#member=${enc(id)}&code=${enc(issued.code)}`;
    clear(
      this.detail,
      h("h3", {}, t("mem_enrol_title"), " ", raw("span", id)),
      h("div", { id: "enrol-result", dataset: { member: id } },
        h("img", { id: "enrol-qr", src: image, alt: t("mem_qr_alt", id), width: "240", height: "240" }),
        h("p", {}, t("mem_code"), " ", raw("strong", issued.code, { id: "enrol-code", class: "code" })),
        h("p", {}, t("mem_code_expires", when(issued.expires_at))),
        h("p", { class: "hint" }, t("mem_code_hint")),
        h("p", { class: "link" }, raw("span", link, { id: "enrol-link" }))),
    );
    announce(t("mem_code_issued", id));
  }

  async certificates(id) {
    const certs = await get(`/api/v1/members/${enc(id)}/certificates`);
    const head = ["mem_serial", "mem_kind", "mem_valid", "mem_cert_status", "mem_actions"];
    clear(
      this.detail,
      h("h3", {}, t("mem_certs_of"), " ", raw("span", id)),
      certs.length
        ? h("div", { class: "scroll" },
          h("table", { id: "cert-table" },
            h("thead", {}, h("tr", {}, head.map((k) => h("th", { scope: "col" }, t(k))))),
            h("tbody", {}, certs.map((c) => this.certRow(id, c)))))
        : h("p", {}, t("mem_no_certs")),
    );
  }

  certRow(id, c) {
    const revoke = h("button", { type: "button", class: "danger" }, t("mem_revoke_cert"));
    revoke.addEventListener("click", () =>
      this.revoke(`/api/v1/certificates/${enc(c.serial)}/revoke`, t("mem_revoke_cert_confirm", c.serial), id)
        .catch((e) => this.say(t("mem_failed", e.message))));
    return h(
      "tr",
      { dataset: { serial: c.serial, status: c.status } },
      h("td", {}, raw("code", c.serial)),
      h("td", {}, t(c.kind === "pass" ? "mem_kind_pass" : "mem_kind_device")),
      h("td", {}, raw("span", `${c.valid_from} – ${c.valid_until}`)),
      h("td", { class: "cert-status" }, t(`mem_cert_${c.status}`)),
      h("td", {}, c.status === "valid" ? revoke : ""),
    );
  }

  revokeMember(id) {
    return this.revoke(`/api/v1/members/${enc(id)}/revoke`, t("mem_revoke_confirm", id), id);
  }

  // Revoke after the admin confirms; the signed list goes out at once (cloud/api/members.py).
  async revoke(path, question, id) {
    if (!window.confirm(question)) return;
    const done = await post(path);
    const text = t("mem_revoked", done.revoked.length, done.revocation_version, done.published);
    this.say(text);
    announce(text);
    await Promise.all([this.certificates(id), this.loadReach()]);
  }
}
