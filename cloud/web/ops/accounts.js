// Accounts and their scopes (#accounts, admins only): every account with its role and the
// stations it sees, and a form that sets one account's operators/partners and cities
// (PUT /auth/users/{name}/scope; both empty: the whole union). Chinese first, with the
// dashboard's English switch (lang.js).

import { get, send } from "./api.js";
import { $, clear, h, raw } from "./dom.js";
import { t, word } from "./lang.js";

// The account's scope in one small line: the union sees every station; a scoped account its
// operators/partners and/or cities (cloud.auth.scope).
export function scopeText(scope) {
  if (!scope || scope.everything) return t("scope_all");
  const parts = [];
  if (scope.operators.length) parts.push(t("scope_operators"), " ", raw("span", scope.operators.join("、")));
  if (scope.cities.length) parts.push(parts.length ? t("scope_and") : "", t("scope_cities"), " ", raw("span", scope.cities.join("、")));
  return h("span", {}, t("scope_label"), ...parts);
}

// "建设银行、邮政, 中国邮政" → ["建设银行", "邮政", "中国邮政"]
export function values(text) {
  return text
    .split(/[,，、;；\n]/)
    .map((v) => v.trim())
    .filter((v) => v);
}

export class Accounts {
  constructor(root) {
    this.root = root;
    this.body = $("#account-rows", root);
    this.form = $("#scope-form", root);
    this.status = $("#scope-status", root);
    this.scopes = new Map();
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.save().catch((err) => {
        this.status.textContent = t("acc_not_saved", err.message);
      });
    });
    $("#scope-user", root).addEventListener("change", () => this.fill());
  }

  async load() {
    const [users, scoped] = await Promise.all([get("/auth/users"), get("/auth/scopes")]);
    this.scopes = new Map(scoped.map((s) => [s.username, s]));
    clear(
      this.body,
      users.map((u) =>
        h(
          "tr",
          { dataset: { user: u.username } },
          h("th", { scope: "row" }, raw("span", u.username)),
          h("td", {}, word("role_words", u.role), u.disabled ? t("acc_disabled") : ""),
          h("td", { class: "scope-cell" }, scopeText(this.scopes.get(u.username))),
        ),
      ),
    );
    const select = $("#scope-user", this.root);
    const chosen = select.value;
    clear(
      select,
      users
        .filter((u) => u.role !== "admin")
        .map((u) => h("option", { value: u.username, selected: u.username === chosen }, u.username)),
    );
    this.fill();
  }

  fill() {
    const scope = this.scopes.get($("#scope-user", this.root).value);
    $("#scope-operators", this.root).value = scope ? scope.operators.join("、") : "";
    $("#scope-cities", this.root).value = scope ? scope.cities.join("、") : "";
  }

  async save() {
    const name = $("#scope-user", this.root).value;
    const body = {
      operators: values($("#scope-operators", this.root).value),
      cities: values($("#scope-cities", this.root).value),
    };
    const saved = await send("PUT", `/auth/users/${encodeURIComponent(name)}/scope`, body);
    await this.load();
    clear(this.status, t("acc_saved"), raw("span", name), " — ", scopeText(saved));
  }
}
