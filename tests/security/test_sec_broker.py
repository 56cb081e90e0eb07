"""Broker security against a real Mosquitto running the config `provision broker` writes.

Every refusal is paired with a positive control on the same connection, so a test cannot
pass just because nothing works.
"""

from __future__ import annotations

import datetime as dt
import getpass
import ipaddress
import os
import signal
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion

from edge.config import load_config
from protocol import topics
from waystation.mosquitto import MosquittoProcess, TlsFiles, free_port
from waystation.provision import ProvisionError, provision_broker, provision_station

pytestmark = pytest.mark.integration

SETTLE_S = 0.5  # time for a message that WOULD be delivered to arrive (loopback: ~ms)


class Client:
    """A paho client that records what it receives and whether it got in."""

    def __init__(self, port: int, user: str | None, password: str | None, *,
                 tls_ca: Path | None = None) -> None:  # fmt: skip
        self.received: list[tuple[str, bytes]] = []
        self.connected = threading.Event()
        self.refused = threading.Event()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=user or "anon", protocol=mqtt.MQTTv5
        )
        if user is not None:
            self.client.username_pw_set(user, password)
        if tls_ca is not None:
            self.client.tls_set(ca_certs=str(tls_ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, m: self.received.append((m.topic, m.payload))
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        self.port = port

    def _on_connect(self, _c: object, _u: object, _f: object, reason: object, _p: object) -> None:
        (self.refused if reason.is_failure else self.connected).set()  # type: ignore[attr-defined]

    def start(self) -> Client:
        self.client.connect_async("127.0.0.1", self.port)
        self.client.loop_start()
        return self

    def subscribe(self, topic: str) -> None:
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(5)

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[tuple[MosquittoProcess, str, dict[str, str]]]:
    """The provisioned broker with the cloud and two stations; yields (proc, cloud pw, pws)."""
    kit = tmp_path / "broker"
    port = free_port()
    cloud_pw = provision_broker(
        kit, port=port, persistence_dir=tmp_path / "data", run_as=getpass.getuser()
    )
    passwords = {
        sid: provision_station(kit, sid, tmp_path / sid / "station.toml", broker_host="h")[0]
        for sid in ("sz-0001", "sz-0002")
    }
    proc = MosquittoProcess(tmp_path, port=port, conf_file=kit / "mosquitto.conf").start()
    try:
        yield proc, cloud_pw, passwords
    finally:
        proc.stop()


@pytest.fixture
def connect() -> Iterator[Callable[..., Client]]:
    clients: list[Client] = []

    def make(port: int, user: str | None, password: str | None, **kw: object) -> Client:
        client = Client(port, user, password, **kw).start()  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.stop()


def wait_in(client: Client) -> None:
    client.connected.wait(5)
    assert client.connected.is_set(), "expected the broker to let this client in"


def wait_out(client: Client) -> None:
    assert client.refused.wait(5), "expected the broker to refuse this client"
    assert not client.connected.is_set()


def test_anonymous_and_wrong_password_are_refused(broker, connect) -> None:
    proc, _, passwords = broker
    wait_out(connect(proc.port, None, None))
    wait_out(connect(proc.port, "sz-0001", passwords["sz-0001"] + "x"))
    wait_out(connect(proc.port, "sz-0001", passwords["sz-0002"]))  # another station's password
    wait_in(connect(proc.port, "sz-0001", passwords["sz-0001"]))


def test_station_publishes_only_its_own_uplink_topics(broker, connect) -> None:
    proc, cloud_pw, passwords = broker
    cloud = connect(proc.port, "cloud", cloud_pw)
    wait_in(cloud)
    cloud.subscribe("ws/v1/#")
    a = connect(proc.port, "sz-0001", passwords["sz-0001"])
    wait_in(a)
    forbidden = [
        topics.events("sz-0002"),  # another station's uplink
        topics.state("sz-0002"),
        topics.cmd("sz-0001", "unlock"),  # commands come only from the cloud…
        topics.config("sz-0001"),  # …as do configs
        topics.ack("sz-0001"),  # …and acks
        topics.TRUST_REVOCATIONS,  # nobody but the cloud signs lists, but still
        topics.CLOUD_STATE,
    ]
    for topic in forbidden:
        a.publish(topic, b"forbidden")
    a.publish(topics.events("sz-0001"), b"allowed")  # positive control, sent last
    deadline = time.monotonic() + 5
    while (topics.events("sz-0001"), b"allowed") not in cloud.received:
        assert time.monotonic() < deadline, "the station's own event never arrived"
        time.sleep(0.02)
    time.sleep(SETTLE_S)
    assert [t for t, p in cloud.received if p == b"forbidden"] == []


def test_station_cannot_read_another_stations_commands(broker, connect) -> None:
    proc, cloud_pw, passwords = broker
    a = connect(proc.port, "sz-0001", passwords["sz-0001"])
    wait_in(a)
    a.subscribe("ws/v1/sz-0002/cmd/#")
    a.subscribe("ws/v1/+/ack")
    a.subscribe(topics.ack("sz-0001"))
    cloud = connect(proc.port, "cloud", cloud_pw)
    wait_in(cloud)
    cloud.publish(topics.cmd("sz-0002", "unlock"), b"for b")
    cloud.publish(topics.ack("sz-0002"), b"for b")
    cloud.publish(topics.ack("sz-0001"), b"for a")
    deadline = time.monotonic() + 5
    while (topics.ack("sz-0001"), b"for a") not in a.received:
        assert time.monotonic() < deadline, "the station's own ack never arrived"
        time.sleep(0.02)
    time.sleep(SETTLE_S)
    assert [p for _, p in a.received if p == b"for b"] == []


def test_provisioned_station_config_is_loadable_and_password_private(tmp_path: Path) -> None:
    kit = tmp_path / "broker"
    provision_broker(kit, persistence_dir=tmp_path / "data")
    password, files = provision_station(kit, "sz-0009", tmp_path / "st" / "station.toml",
                                        broker_host="mqtt.example.org")  # fmt: skip
    cfg = load_config(files.config)
    assert cfg.station_id == "sz-0009"
    assert cfg.mqtt.broker == "mqtt://mqtt.example.org:1883"
    assert password not in files.config.read_text()
    assert files.password_file.read_text().strip() == password
    assert files.password_file.stat().st_mode & 0o077 == 0
    assert password not in (kit / "passwd").read_text()  # hashed
    unit = files.unit.read_text()
    for line in (
        "Restart=always",
        "WatchdogSec=",
        "User=waystation",
        "SupplementaryGroups=gpio video",
    ):
        assert line in unit
    with pytest.raises(ProvisionError, match="already"):
        provision_station(kit, "sz-0009", tmp_path / "again.toml", broker_host="h")


def test_rotated_station_password_replaces_the_old_one(broker, connect, tmp_path: Path) -> None:
    proc, _, passwords = broker
    kit = tmp_path / "broker"
    new, _ = provision_station(kit, "sz-0001", tmp_path / "rot" / "station.toml",
                               broker_host="h", rotate=True)  # fmt: skip
    assert proc.proc is not None
    os.kill(proc.proc.pid, signal.SIGHUP)  # Mosquitto re-reads passwords and ACL on HUP
    time.sleep(0.5)
    wait_out(connect(proc.port, "sz-0001", passwords["sz-0001"]))
    wait_in(connect(proc.port, "sz-0001", new))


def _pki(tmp_path: Path) -> TlsFiles:
    """A test CA and a server certificate for 127.0.0.1, made with `cryptography`."""
    now = dt.datetime.now(dt.UTC)

    def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
        return path

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Waystation test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return TlsFiles(tmp_path / "ca.pem", tmp_path / "server.pem",
                    write_key(key, tmp_path / "server-key.pem"))  # fmt: skip


def test_tls_listener_works_and_plain_tcp_is_off(tmp_path: Path, connect) -> None:
    pki = _pki(tmp_path)
    kit = tmp_path / "broker"
    port = free_port()
    cloud_pw = provision_broker(kit, port=port, tls=pki, persistence_dir=tmp_path / "data",
                                run_as=getpass.getuser())  # fmt: skip
    assert "listener" in (kit / "mosquitto.conf").read_text()
    st_pw, files = provision_station(kit, "sz-0001", tmp_path / "st" / "station.toml",
                                     broker_host="127.0.0.1")  # fmt: skip
    assert load_config(files.config).mqtt.broker == f"mqtts://127.0.0.1:{port}"
    assert files.ca_file is not None
    with MosquittoProcess(tmp_path, port=port, conf_file=kit / "mosquitto.conf"):
        wait_in(connect(port, "cloud", cloud_pw, tls_ca=files.ca_file))
        wait_in(connect(port, "sz-0001", st_pw, tls_ca=files.ca_file))
        plain = connect(port, "sz-0001", st_pw)  # same port, no TLS
        time.sleep(1.5)
        assert not plain.connected.is_set(), "plain TCP must not be accepted when TLS is on"
        conf = (kit / "mosquitto.conf").read_text()
        assert conf.count("listener ") == 1
