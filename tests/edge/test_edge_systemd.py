"""sd_notify over a real Unix datagram socket, as systemd provides it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from edge.systemd import Notifier


def test_notifications_reach_the_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        server.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        monkeypatch.setenv("WATCHDOG_USEC", "30000000")
        notifier = Notifier()
        assert notifier.enabled
        assert notifier.watchdog_interval_s == 15.0
        assert notifier.ready()
        assert notifier.watchdog()
        assert [server.recv(64), server.recv(64)] == [b"READY=1", b"WATCHDOG=1"]


def test_outside_systemd_is_a_quiet_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    notifier = Notifier()
    assert not notifier.enabled
    assert notifier.watchdog_interval_s is None
    assert not notifier.ready()


def test_a_vanished_socket_does_not_raise(tmp_path: Path) -> None:
    assert not Notifier(str(tmp_path / "gone")).watchdog()
