"""What the cloud's commands and desired configs do to this station.

The rules (a command runs at most once, a config is validated whole and persisted before it is
applied) are in `edge.remote`; here are the actions: `unlock` (a pulse, except in free hours,
`edge.door`), `rebirth`, `sync`, `reboot`, and what follows an applied or refused config (a
new birth, the `config_rejected` alarm). All run on the link's thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from edge.door import Door
from edge.events import EventLog
from edge.ports import Clock, Publisher
from edge.remote import CommandAction, Remote
from protocol.messages import CmdResultPayload


class Host(Protocol):
    """What the actions reach in the agent."""

    sid: str
    clock: Clock
    door: Door
    events: EventLog
    remote: Remote
    link: Publisher | None
    decide_lock: threading.Lock  # a door action never interleaves with a decision
    reboot: Callable[[], None]

    def kick(self) -> None: ...


class Commands:
    """The command actions (`actions()`, handed to `edge.remote.Remote`) and the config hook."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.config_alarm = False  # `config_rejected` raised and not yet cleared

    def actions(self) -> dict[str, CommandAction]:
        return {
            "unlock": self.unlock,
            "rebirth": self.rebirth,
            "sync": self.sync,
            "reboot": self.reboot,
        }

    def on_config(self, raw: bytes) -> CmdResultPayload | None:
        """A desired config arrived: apply it, or raise `config_rejected` (journaled)."""
        host = self.host
        result = host.remote.on_config(raw)
        if result is not None and result.ok and host.link is not None:
            host.link.rebirth()  # meta and state carry the applied config_version
        if result is not None and result.ok == self.config_alarm:
            self.config_alarm = not result.ok
            state = "cleared" if result.ok else "raised"
            host.events.alarm("config_rejected", state, result.detail)
        return result

    def unlock(self, args: dict[str, Any]) -> str:
        """Release the lock for one pulse, as a grant would; journaled as `unlocked/remote`."""
        host = self.host
        door = host.door
        with host.decide_lock:
            if door.held_released:
                return "free mode: the lock is already released"
            if not door.release("remote", host.clock.monotonic()):
                raise RuntimeError("relay pulse failed")
            host.events.door("unlocked", "remote")
        host.kick()
        return f"released for {door.config.pulse_s} s"

    def rebirth(self, args: dict[str, Any]) -> None:
        link = self.host.link
        if link is None:
            raise RuntimeError("no link")
        link.rebirth()

    def sync(self, args: dict[str, Any]) -> None:
        link = self.host.link
        if link is None:
            raise RuntimeError("no link")
        link.sync()

    def reboot(self, args: dict[str, Any]) -> str:
        self.host.reboot()
        return "restarting"
