"""`waystation.mosquitto.MosquittoProcess` keeps its port across a stop and refuses a port
someone else listens on.

Story: in CI (two pytest workers), a broker stopped for an 8 s outage came back "listening"
— on another test's broker, which had been handed the freed port; the first test's clients,
with the same deterministic logins, reconnected to the stranger, and a station killed during
the outage stayed on the map for a minute."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from waystation.mosquitto import MosquittoProcess, find_binary
from waystation.ports import listens_on


@pytest.fixture
def broker(tmp_path: Path) -> MosquittoProcess:
    try:
        find_binary()
    except FileNotFoundError as exc:
        pytest.fail(str(exc))
    return MosquittoProcess(tmp_path / "broker", users={"ws-ingest": "pw"})


def test_listens_on_tells_whose_listener_it_is() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert listens_on(os.getpid(), port) is True
        assert listens_on(os.getpid(), port + 1 if port < 65535 else port - 1) is False


def test_a_port_held_across_a_stop_is_not_handed_out_and_comes_back(
    broker: MosquittoProcess,
) -> None:
    broker.start()
    port = broker.port
    try:
        broker.stop(kill=True, hold_port=True)
        with pytest.raises(ConnectionRefusedError):  # refused, as by a stopped broker
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        # Nobody else may bind it.
        with socket.socket() as other, pytest.raises(OSError, match="in use"):
            other.bind(("127.0.0.1", port))
        broker.start()
        assert broker.port == port
        assert listens_on(broker.proc.pid if broker.proc else -1, port) is True
    finally:
        broker.stop()


def test_a_broker_refuses_to_start_on_a_port_another_process_listens_on(
    broker: MosquittoProcess,
) -> None:
    broker.start()
    port = broker.port
    broker.stop()  # not held: the old behaviour, where a stranger could take it
    with socket.socket() as stranger:
        stranger.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        stranger.bind(("127.0.0.1", port))
        stranger.listen()
        with pytest.raises(RuntimeError):
            broker.start()
    assert broker.proc is None


def test_a_broker_that_cannot_start_is_not_left_as_running(tmp_path: Path) -> None:
    """A broker that exits at once (here a config it cannot run; in CI a port another process
    took first) raises, naming the exit, and is not kept as this object's process: the port
    race above left the dead process in `proc` when mosquitto exited before the port check."""
    bad = tmp_path / "bad.conf"
    bad.write_text("listener 1883\nno_such_option true\n")
    broker = MosquittoProcess(tmp_path / "broker", conf_file=bad)
    with pytest.raises(RuntimeError, match="mosquitto exited with"):
        broker.start()
    assert broker.proc is None
