// Live updates: one EventSource on /api/v1/ops/live. The browser reconnects by itself; after
// a reconnect the server says `hello` again and the views reload what they show.

import { t } from "./lang.js";

export function connect(handlers, statusEl) {
  let source = null;
  let helloSeen = false;

  function status(text, state) {
    if (!statusEl) return;
    statusEl.textContent = text;
    statusEl.dataset.state = state;
  }

  function open() {
    source = new EventSource("/api/v1/ops/live");
    status(t("connecting"), "connecting");
    source.addEventListener("hello", (e) => {
      status(t("live"), "live");
      const data = JSON.parse(e.data);
      handlers.fleet && handlers.fleet(data);
      if (helloSeen && handlers.resync) handlers.resync();
      helloSeen = true;
    });
    source.addEventListener("fleet", (e) => handlers.fleet && handlers.fleet(JSON.parse(e.data)));
    source.addEventListener("alarm", (e) => handlers.alarm && handlers.alarm(JSON.parse(e.data)));
    source.addEventListener("stations", (e) => {
      if (handlers.stations) handlers.stations(JSON.parse(e.data));
    });
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        // Closed for good (e.g. 401 after the session ended): check the login, retry later.
        status(t("offline_retry"), "offline");
        if (handlers.closed) handlers.closed();
        setTimeout(open, 5000);
      } else {
        status(t("reconnecting"), "connecting");
      }
    };
  }

  open();
  return { close: () => source && source.close() };
}
