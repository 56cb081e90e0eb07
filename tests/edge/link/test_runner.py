"""`edge.link.runner`: who runs a link's network I/O and drain. `ThreadRunner` with a fake paho
client (its own drain thread is real), `LoopRunner` with a fake shared loop that runs what is
scheduled when the test says so: the reconnect wait is a timer, never a sleep."""

from __future__ import annotations

import random
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from edge.config import MqttConfig
from edge.link import runner as runner_module
from edge.link.backoff import Backoff
from edge.link.runner import LoopRunner, ThreadRunner, shutdown
from tests.support.wait import wait_for


class FakeDrain:
    def __init__(self) -> None:
        self.passes = 0
        self.is_overdue = False
        self.stopping: list[bool] = []

    def run(self, stopping: threading.Event) -> bool:
        self.passes += 1
        self.stopping.append(stopping.is_set())
        return True

    def overdue(self) -> bool:
        return self.is_overdue


class FakeClient:
    """The paho calls the runners make; `sock` is what `socket()` returns."""

    def __init__(self, sock: Any = None) -> None:
        self.calls: list[str] = []
        self.sock = sock
        self._thread_terminate = False

    def loop_start(self) -> None:
        self.calls.append("loop_start")

    def loop_stop(self) -> None:
        self.calls.append("loop_stop")

    def socket(self) -> Any:
        return self.sock


@dataclass
class Host:
    client: Any = None
    sid: str = "sz-0001"
    stats: Counter[str] = field(default_factory=Counter)
    drain: FakeDrain = field(default_factory=FakeDrain)
    fatal: str | None = None
    backoff: Backoff = field(init=False)

    def __post_init__(self) -> None:
        config = MqttConfig(reconnect_min_s=1.0, reconnect_max_s=8.0, reconnect_jitter=0.5)
        self.backoff = Backoff(config, self.stats)
        self.backoff.rng = random.Random(5)


class Timer:
    def __init__(self, delay_s: float, fn: Callable[[], object]) -> None:
        self.delay_s = delay_s
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeLoop:
    """`ExternalLoop`: callbacks queue up and run on `run_pending()`; timers are listed."""

    def __init__(self) -> None:
        self.in_loop = False
        self.soon: list[Callable[[], object]] = []
        self.timers: list[Timer] = []
        self.attached: dict[Any, Callable[[], None] | None] = {}
        self.connects: list[Any] = []
        self.refuse = False

    def attach(self, client: Any, *, tick: Callable[[], None] | None = None) -> None:
        self.attached[client] = tick

    def detach(self, client: Any) -> None:
        del self.attached[client]

    def connect(self, client: Any) -> None:
        self.connects.append(client)
        if self.refuse:
            raise ConnectionRefusedError("broker down")

    def call_soon(self, fn: Callable[[], object]) -> None:
        self.soon.append(fn)

    def call_later(self, delay_s: float, fn: Callable[[], object]) -> Timer:
        timer = Timer(delay_s, fn)
        self.timers.append(timer)
        return timer

    def run(self, fn: Callable[[], Any], timeout_s: float = 10.0) -> Any:
        return fn()

    def run_pending(self) -> None:
        pending, self.soon = self.soon, []
        for fn in pending:
            fn()

    def fire(self, timer: Timer) -> None:
        assert not timer.cancelled
        timer.fn()


# --- ThreadRunner ---------------------------------------------------------------------------


@pytest.fixture
def thread_runner(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ThreadRunner, Host]]:
    monkeypatch.setattr(runner_module, "DRAIN_POLL_S", 60.0)  # only a kick can wake the drain
    host = Host(client=FakeClient())
    runner = ThreadRunner(host)  # type: ignore[arg-type]
    try:
        yield runner, host
    finally:
        runner.halt()


def test_thread_runner_starts_paho_and_drains_when_kicked(
    thread_runner: tuple[ThreadRunner, Host],
) -> None:
    runner, host = thread_runner
    runner.start(host.client)
    assert host.client.calls == ["loop_start"]
    assert not runner.halted
    assert host.drain.passes == 0
    runner.kick()
    wait_for(lambda: host.drain.passes == 1, what="a drain pass after the kick")
    runner.kick()
    wait_for(lambda: host.drain.passes == 2, what="a second pass after a second kick")
    assert runner.may_block() is True


def test_thread_runner_halt_stops_the_drain_thread(
    thread_runner: tuple[ThreadRunner, Host],
) -> None:
    runner, host = thread_runner
    runner.start(host.client)
    drain_thread = runner._thread
    assert drain_thread is not None
    runner.halt()
    assert runner.halted
    assert not drain_thread.is_alive()
    runner.kick()  # nothing left to wake
    assert host.drain.passes <= 1  # at most the pass the halt's wake let through
    runner.start(host.client)  # a new start runs again
    assert not runner.halted


def test_thread_runner_jitter_wait_never_delays_a_halt(
    thread_runner: tuple[ThreadRunner, Host],
) -> None:
    runner, host = thread_runner
    host.backoff.config = MqttConfig(
        reconnect_min_s=60.0, reconnect_max_s=60.0, reconnect_jitter=1.0
    )
    host.backoff.rng = random.Random(1)  # a jitter of tens of seconds
    waiting = threading.Thread(target=runner.retry, args=(host.client,))
    waiting.start()
    wait_for(lambda: host.stats["reconnect_waits"] == 1, what="the retry to start waiting")
    assert waiting.is_alive()
    runner.halt()
    waiting.join(timeout=5)
    assert not waiting.is_alive()


def test_thread_runner_close_and_cut_end_pahos_thread() -> None:
    host = Host()
    runner = ThreadRunner(host)  # type: ignore[arg-type]
    client = FakeClient()
    runner.close(client)  # type: ignore[arg-type]
    assert client.calls == ["loop_stop"]
    a, b = socket.socketpair()
    try:
        cut = FakeClient(sock=a)
        runner.cut(cut)  # type: ignore[arg-type]
        assert cut._thread_terminate is True  # paho's loop ends instead of reconnecting
        assert cut.calls == ["loop_stop"]
        assert b.recv(1) == b""  # the TCP connection was shut down (no DISCONNECT sent)
    finally:
        a.close()
        b.close()


def test_shutdown_ignores_a_client_without_a_socket() -> None:
    shutdown(FakeClient(sock=None))  # type: ignore[arg-type]
    a, b = socket.socketpair()
    a.close()
    try:
        shutdown(FakeClient(sock=a))  # type: ignore[arg-type]  # already closed: OSError swallowed
    finally:
        b.close()


# --- LoopRunner -----------------------------------------------------------------------------


@pytest.fixture
def loop() -> FakeLoop:
    return FakeLoop()


@pytest.fixture
def loop_runner(loop: FakeLoop) -> tuple[LoopRunner, Host]:
    host = Host(client=FakeClient())
    return LoopRunner(host, loop), host  # type: ignore[arg-type]


def test_loop_runner_attaches_and_connects_on_the_loop(
    loop: FakeLoop, loop_runner: tuple[LoopRunner, Host]
) -> None:
    runner, host = loop_runner
    runner.start(host.client)
    assert host.client in loop.attached
    assert loop.connects == []  # nothing runs off the loop's thread
    loop.run_pending()
    assert loop.connects == [host.client]


def test_loop_runner_schedules_the_reconnect_wait_as_a_timer(
    loop: FakeLoop, loop_runner: tuple[LoopRunner, Host]
) -> None:
    runner, host = loop_runner
    loop.refuse = True
    runner.start(host.client)
    loop.run_pending()
    assert host.stats["connect_failures"] == 1
    (first,) = loop.timers
    assert 1.0 <= first.delay_s <= 1.5  # the step plus at most half of it
    loop.fire(first)  # refused again: the step doubles
    second = loop.timers[-1]
    assert 2.0 <= second.delay_s <= 3.0
    loop.refuse = False
    loop.fire(second)
    assert len(loop.connects) == 3
    assert len(loop.timers) == 2  # connected: no further wait


def test_loop_runner_keeps_one_pending_reconnect(
    loop: FakeLoop, loop_runner: tuple[LoopRunner, Host]
) -> None:
    runner, host = loop_runner
    runner.retry(host.client)
    runner.retry(host.client)  # e.g. on_connect_fail and on_disconnect for one drop
    assert [t.cancelled for t in loop.timers] == [True, False]


def test_loop_runner_halt_cancels_the_reconnect_and_stops_connecting(
    loop: FakeLoop, loop_runner: tuple[LoopRunner, Host]
) -> None:
    runner, host = loop_runner
    runner.retry(host.client)
    timer = loop.timers[0]
    runner.halt()
    assert runner.halted
    assert timer.cancelled
    timer.fn()  # a timer that fired anyway (the race with cancel) does nothing
    assert loop.connects == []
    runner.kick()
    assert loop.soon == []  # no drain after a halt


@pytest.mark.parametrize("why", ["replaced", "fatal"])
def test_loop_runner_does_not_connect_a_stale_or_refused_client(
    loop: FakeLoop, loop_runner: tuple[LoopRunner, Host], why: str
) -> None:
    runner, host = loop_runner
    old = host.client
    runner.start(old)
    if why == "replaced":
        host.client = FakeClient()  # the link was restarted with a new paho client
    else:
        host.fatal = "not authorised"  # the broker refused this station's credentials
    loop.run_pending()
    assert loop.connects == []


def test_loop_runner_coalesces_kicks_into_one_drain_pass(
    loop: FakeLoop, loop_runner: tuple[LoopRunner, Host]
) -> None:
    runner, host = loop_runner
    for _ in range(5):
        runner.kick()
    assert len(loop.soon) == 1
    loop.run_pending()
    assert host.drain.passes == 1
    runner.kick()  # the pass ran: the next kick schedules another
    loop.run_pending()
    assert host.drain.passes == 2


def test_loop_runner_tick_resends_when_acks_stopped(
    loop: FakeLoop, loop_runner: tuple[LoopRunner, Host]
) -> None:
    runner, host = loop_runner
    runner.start(host.client)
    tick = loop.attached[host.client]
    assert tick is not None
    loop.run_pending()
    tick()
    assert loop.soon == []  # nothing overdue: no pass
    host.drain.is_overdue = True
    tick()
    loop.run_pending()
    assert host.drain.passes == 1


def test_loop_runner_may_block_only_off_the_loop(
    loop: FakeLoop, loop_runner: tuple[LoopRunner, Host]
) -> None:
    runner, _ = loop_runner
    assert runner.may_block() is True
    loop.in_loop = True
    assert runner.may_block() is False


def test_loop_runner_cut_detaches_and_drops_the_connection(
    loop: FakeLoop, loop_runner: tuple[LoopRunner, Host]
) -> None:
    runner, _ = loop_runner
    a, b = socket.socketpair()
    try:
        client = FakeClient(sock=a)
        loop.attach(client)
        runner.halt()
        runner.cut(client)  # type: ignore[arg-type]
        assert client not in loop.attached
        assert b.recv(1) == b""
        assert a.fileno() == -1  # closed
    finally:
        b.close()


def test_loop_runner_close_does_not_wait_for_itself_on_the_loop(
    loop: FakeLoop, loop_runner: tuple[LoopRunner, Host]
) -> None:
    """On the loop's own thread nothing else can write the DISCONNECT: no wait, no deadlock."""
    runner, _ = loop_runner
    a, b = socket.socketpair()
    try:
        client = FakeClient(sock=a)  # the socket stays open: a wait would last STOP_TIMEOUT_S
        loop.attach(client)
        loop.in_loop = True
        runner.halt()
        runner.close(client)  # type: ignore[arg-type]
        assert client not in loop.attached
    finally:
        b.close()
