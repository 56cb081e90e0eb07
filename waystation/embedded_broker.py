"""The demo's in-process MQTT broker (amqtt) on its own event-loop thread.

amqtt speaks MQTT 3.1.1 only, so everything that talks to it uses protocol 311 and plain
(not shared) subscriptions. It is for the one-process demo; production runs Mosquitto.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future

from amqtt.broker import Broker
from amqtt.contexts import BrokerConfig, ListenerConfig


class EmbeddedBroker:
    """Start with `start()`, stop with `stop()`; binds 127.0.0.1 only (anonymous access)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="embedded-broker", daemon=True)
        self._broker: Broker | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def _submit(self, coro: object) -> Future[object]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]

    async def _start(self) -> None:
        config = BrokerConfig(
            listeners={"default": ListenerConfig(bind=f"127.0.0.1:{self.port}")},
            plugins={"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        )
        self._broker = Broker(config, loop=self._loop)
        await self._broker.start()

    def start(self, timeout_s: float = 10.0) -> EmbeddedBroker:
        # amqtt logs every connect at INFO; the demo's console is for people.
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        self._thread.start()
        self._submit(self._start()).result(timeout_s)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._broker is not None:
            try:
                self._submit(self._broker.shutdown()).result(timeout_s)
            except Exception:  # shutting down anyway: a stuck client must not hang the demo
                logging.getLogger(__name__).warning("embedded broker did not shut down cleanly")
            self._broker = None
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout_s)
        if not self._loop.is_running():
            self._loop.close()
