// The login form: JSON to /api/v1/ops/auth/login, which sets the HttpOnly session cookie;
// the dashboard then asks /auth/me for its CSRF token. Chinese first, like the dashboard.

import { applyStatic, t } from "./lang.js";

applyStatic();
const form = document.getElementById("login-form");
const error = document.getElementById("login-error");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const response = await fetch("/api/v1/ops/auth/login", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({
        username: form.username.value.trim(),
        password: form.password.value,
      }),
    });
    if (response.ok) {
      window.location.replace("/ops" + window.location.search);
      return;
    }
    if (response.status === 429) {
      error.textContent = t("login_many", response.headers.get("Retry-After"));
    } else if (response.status === 503 && response.headers.get("Retry-After")) {
      error.textContent = t("login_busy", response.headers.get("Retry-After"));
    } else if (response.status === 401) {
      error.textContent = t("login_wrong");
    } else {
      error.textContent = t("login_failed", response.status);
    }
    form.password.value = "";
    form.password.focus();
  } catch (err) {
    error.textContent = t("login_unreachable", err.message);
  } finally {
    button.disabled = false;
  }
});
