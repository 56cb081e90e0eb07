"""Small fakes of the station's parts for direct tests of `edge` modules (ports: `edge.ports`).

`firmware_sim` holds the full simulated hardware; these only record what a test asserts on.
"""

from __future__ import annotations


class FakeRelay:
    """The `Relay` port: records each pulse (seconds); `broken` makes every pulse raise."""

    def __init__(self) -> None:
        self.pulses: list[float] = []
        self.broken = False
        self.is_active = False

    def open(self) -> None: ...

    def close(self) -> None: ...

    def pulse(self, seconds: float) -> None:
        if self.broken:
            raise OSError("relay gone")
        self.pulses.append(seconds)


class FakeLink:
    """What the agent calls on its `Publisher`: records `rebirth` and `sync`."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def rebirth(self) -> None:
        self.calls.append("rebirth")

    def sync(self) -> None:
        self.calls.append("sync")
