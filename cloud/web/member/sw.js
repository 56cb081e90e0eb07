// Service worker: keeps the page's own files so it opens again with no network.
// Network first (an update arrives as soon as the phone is online), the cache when offline.
// API calls are never cached. Entries are stored under the bare path: an old-style link's
// query (member id and one-time code) must not be kept in the cache; older caches (v1 could
// hold such URLs) are deleted on activation.
"use strict";

const CACHE = "waystation-member-v5";
const SHELL = ["./", "index.html", "app.js", "wallet.js", "qr.js", "i18n.js", "style.css",
  "manifest.webmanifest", "icon.svg", "icon-192.png", "icon-512.png"];

self.addEventListener("install", (ev) => {
  ev.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (ev) => {
  ev.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (ev) => {
  const url = new URL(ev.request.url);
  if (ev.request.method !== "GET" || !url.pathname.startsWith("/member/")) return;
  ev.respondWith(
    fetch(ev.request)
      .then((res) => {
        if (res.ok) {
          const copy = res.clone();
          caches.open(CACHE).then((c) => c.put(url.origin + url.pathname, copy));
        }
        return res;
      })
      .catch(() => caches.match(ev.request, { ignoreSearch: true })));
});
