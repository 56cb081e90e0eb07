// The finder's offline service worker: a worker with weak or no signal still gets the page.
// Network first for everything it keeps (the page and its files are revalidated on every
// load anyway, so an update shows at once); the cache answers only when the network fails.
// The last search results are not kept here: the page keeps them itself (localStorage)
// with their time, so it can say how old they are.
"use strict";

const CACHE = "ws-finder-v1";
const SHELL = [
  "/", "/finder/app.js", "/finder/style.css",
  "/finder/vendor/leaflet.js", "/finder/vendor/leaflet.css",
];

self.addEventListener("install", (event) => {
  // Where the browser supports it (Static Routing API), the network answers the page and its
  // files without waiting for this worker to start, which on a reload cost ~90 ms before the
  // search could begin; the worker's own answer (from its cache) counts only when the
  // network fails.
  if (event.addRoutes) {
    event.addRoutes([
      { condition: { urlPattern: "/finder/*" }, source: "race-network-and-fetch-handler" },
      { condition: { urlPattern: "/", requestMode: "navigate" },
        source: "race-network-and-fetch-handler" },
    ]).catch(() => { /* not this browser: the fetch handler does it all */ });
  }
  event.waitUntil(
    caches.open(CACHE)
      .then((cache) => Promise.all(SHELL.map((url) => cache.add(url).catch(() => null))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    // Navigation preload: the page's request starts while this worker boots, so a page
    // this worker controls does not wait for it (~50–100 ms a load otherwise).
    (self.registration.navigationPreload
      ? self.registration.navigationPreload.enable() : Promise.resolve())
      .then(() => caches.keys())
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

// What is kept: the page (one copy, whatever its query string) and its own files.
function cacheKey(request) {
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || request.method !== "GET") return null;
  if (request.mode === "navigate" && url.pathname === "/") return "/";
  if (url.pathname.startsWith("/finder/")) return url.pathname;
  return null;
}

self.addEventListener("fetch", (event) => {
  const key = cacheKey(event.request);
  if (!key) return; // the API and everything else: straight to the network
  const preloaded = event.request.mode === "navigate" && event.preloadResponse
    ? event.preloadResponse : Promise.resolve(null);
  event.respondWith(
    preloaded
      .then((early) => early || fetch(event.request))
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(key, copy));
        }
        return response;
      })
      .catch(() => caches.open(CACHE)
        .then((cache) => cache.match(key))
        .then((hit) => hit || Response.error())),
  );
});
