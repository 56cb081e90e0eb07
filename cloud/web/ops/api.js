// The ops API from the browser: same-origin fetch with the session cookie; every unsafe
// request carries the session's CSRF token in X-CSRF-Token (from /auth/me).

const BASE = "/api/v1/ops";
let csrf = null;

export class ApiError extends Error {
  constructor(status, detail, body = null) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.body = body; // the answer's `detail` as sent (a list of line errors, …)
  }
}

function toLogin() {
  window.location.assign("/ops/login");
}

async function handle(response) {
  if (response.status === 401) {
    toLogin();
    throw new ApiError(401, "login required");
  }
  let body = null;
  const type = response.headers.get("content-type") || "";
  if (type.includes("application/json")) body = await response.json();
  if (!response.ok) {
    const detail = body && body.detail;
    const text = typeof detail === "string" ? detail : JSON.stringify(detail || response.statusText);
    throw new ApiError(response.status, text, detail);
  }
  return body;
}

// `path` under the ops API ("/stations"), or a whole API path ("/api/v1/members": the member
// administration routes live outside /ops, with the same session and CSRF rules).
export function url(path, params = {}) {
  const u = new URL(path.startsWith("/api/") ? path : BASE + path, window.location.origin);
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => u.searchParams.append(key, v));
    else u.searchParams.set(key, value);
  }
  return u.pathname + u.search;
}

export async function get(path, params) {
  const response = await fetch(url(path, params), {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  return handle(response);
}

export async function send(method, path, body) {
  const headers = { Accept: "application/json", "X-CSRF-Token": csrf || "" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url(path), {
    method,
    credentials: "same-origin",
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  return handle(response);
}

export const post = (path, body) => send("POST", path, body);

// A file's bytes as the body (a registry CSV in whatever encoding Excel saved it).
export async function upload(path, params, bytes, type) {
  const response = await fetch(url(path, params), {
    method: "POST",
    credentials: "same-origin",
    headers: { Accept: "application/json", "Content-Type": type, "X-CSRF-Token": csrf || "" },
    body: bytes,
  });
  return handle(response);
}

export async function me() {
  const who = await get("/auth/me");
  csrf = who.csrf_token;
  return who;
}

export async function logout() {
  try {
    await post("/auth/logout");
  } finally {
    toLogin();
  }
}

// POST that answers an image (an enrolment QR code): a `data:` URL for an <img> (the page's
// Content-Security-Policy allows `data:` images, not `blob:`).
export async function postForImage(path, body) {
  const response = await fetch(url(path), {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf || "" },
    body: JSON.stringify(body),
  });
  if (!response.ok) return handle(response);
  const blob = await response.blob();
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}
