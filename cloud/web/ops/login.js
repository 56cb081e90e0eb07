// The login form: JSON to /api/v1/ops/auth/login, which sets the HttpOnly session cookie;
// the dashboard then asks /auth/me for its CSRF token.

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  const button = form.querySelector("button");
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
      window.location.replace("/ops");
      return;
    }
    if (response.status === 429) {
      const wait = response.headers.get("Retry-After");
      error.textContent = `Too many attempts. Try again in ${wait || "a few"} seconds.`;
    } else if (response.status === 503 && response.headers.get("Retry-After")) {
      const wait = response.headers.get("Retry-After");
      error.textContent = `The server is busy. Try again in ${wait} seconds.`;
    } else if (response.status === 401) {
      error.textContent = "Wrong username or password.";
    } else {
      error.textContent = `Login failed (HTTP ${response.status}).`;
    }
    form.password.value = "";
    form.password.focus();
  } catch (err) {
    error.textContent = `The server could not be reached: ${err.message}`;
  } finally {
    button.disabled = false;
  }
});
