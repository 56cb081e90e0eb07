"""Broker security against a real Mosquitto running the config `provision broker` writes.

Every refusal is paired with a positive control on the same connection, so a test cannot
pass just because nothing works. The broker is started exactly as the docs say, `mosquitto
-c DIR/mosquitto.conf` (as root it drops to the `mosquitto` user), from a directory that user
can reach, with nothing added to the generated files.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import shutil
import signal
import ssl
import stat
import subprocess
import sys
import tempfile
import textwrap
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

from cloud.mqttpub import publish_once
from edge.config import load_config
from firmware_sim.union import SimUnion
from protocol import topics
from protocol.broker import BrokerUrl
from tests.support.wait import wait_for
from waystation import mosquitto as mosquitto_mod
from waystation import provision as provision_mod
from waystation.mosquitto import (
    ACL_PATH,
    MosquittoProcess,
    TlsFiles,
    free_port,
    render_acl,
    write_password_file,
)
from waystation.provision import (
    ProvisionError,
    provision_broker,
    provision_cloud_login,
    provision_station,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SETTLE_S = 0.5  # time for a message that WOULD be delivered to arrive (loopback: ~ms)
LOST = b'{"status":"lost"}'  # a station's will, as the edge link sets it (shape irrelevant here)


class Client:
    """A paho client that records what it receives and whether it got in (or was put out)."""

    def __init__(self, port: int, user: str | None, password: str | None, *,
                 tls_ca: Path | None = None, client_id: str | None = None,
                 will: tuple[str, bytes] | None = None) -> None:  # fmt: skip
        self.received: list[tuple[str, bytes]] = []
        self.connected = threading.Event()
        self.refused = threading.Event()
        self.dropped = threading.Event()  # the broker closed a connection it had accepted
        self.subscribed = threading.Event()
        self.granted: list[object] = []  # reason codes of the last SUBACK
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or user or "anon",
            protocol=mqtt.MQTTv5,
        )
        if user is not None:
            self.client.username_pw_set(user, password)
        if tls_ca is not None:
            self.client.tls_set(ca_certs=str(tls_ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if will is not None:
            self.client.will_set(will[0], will[1], qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = lambda _c, _u, m: self.received.append((m.topic, m.payload))
        self.client.on_subscribe = self._on_subscribe
        self.port = port
        self._stopping = False

    def _on_connect(self, _c: object, _u: object, _f: object, reason: object, _p: object) -> None:
        (self.refused if reason.is_failure else self.connected).set()  # type: ignore[attr-defined]

    def _on_disconnect(self, _c: object, _u: object, _f: object, _r: object, _p: object) -> None:
        if self.connected.is_set() and not self._stopping:
            self.dropped.set()

    def _on_subscribe(self, _c: object, _u: object, _m: int, codes: list, _p: object) -> None:
        self.granted = codes
        self.subscribed.set()

    def start(self) -> Client:
        self.client.connect_async("127.0.0.1", self.port)
        self.client.loop_start()
        return self

    def subscribe(self, topic: str) -> bool:
        """Subscribe at QoS 1; whether the broker granted it."""
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(5)
        return not any(code.is_failure for code in self.granted)  # type: ignore[attr-defined]

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def stop(self) -> None:
        self._stopping = True
        self.client.disconnect()  # first: paho's thread then leaves its select at once
        self.client.loop_stop()


@pytest.fixture
def admin_dir() -> Iterator[Path]:
    """A directory like /etc/mosquitto: world-traversable, so the broker, which drops from
    root to the `mosquitto` user, can reach its files (pytest's own tmp dirs are 0700)."""
    path = Path(tempfile.mkdtemp(prefix="waystation-broker-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def as_documented(kit: Path, port: int, workdir: Path) -> MosquittoProcess:
    """`mosquitto -c KIT/mosquitto.conf` (once started), the generated file as it is; its
    stderr goes to WORKDIR/mosquitto.stderr."""
    return MosquittoProcess(workdir, port=port, conf_file=kit / "mosquitto.conf")


@pytest.fixture
def broker(
    tmp_path: Path, admin_dir: Path, need_mosquitto: None
) -> Iterator[tuple[MosquittoProcess, dict[str, str], dict[str, str]]]:
    """The provisioned broker with its cloud logins, a `cloud-admin` to watch everything, and
    two stations; yields (proc, cloud login → password, station → password)."""
    kit = admin_dir / "broker"
    port = free_port()
    cloud = provision_broker(kit, port=port, persistence_dir=admin_dir / "data")
    cloud["cloud-admin"] = provision_cloud_login(kit, "cloud-admin")
    passwords = {
        sid: provision_station(kit, sid, tmp_path / sid / "station.toml", broker_host="h")[0]
        for sid in ("sz-0001", "sz-0002")
    }
    proc = as_documented(kit, port, tmp_path).start()
    try:
        yield proc, cloud, passwords
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
    proc, cloud_pws, passwords = broker
    cloud = connect(proc.port, "cloud-admin", cloud_pws["cloud-admin"])
    wait_in(cloud)
    assert cloud.subscribe("ws/v1/#")
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
    wait_for(
        lambda: (topics.events("sz-0001"), b"allowed") in cloud.received,
        5,
        "the station's own event",
    )
    time.sleep(SETTLE_S)
    assert [t for t, p in cloud.received if p == b"forbidden"] == []


def test_station_cannot_read_another_stations_commands(broker, connect) -> None:
    proc, cloud_pws, passwords = broker
    a = connect(proc.port, "sz-0001", passwords["sz-0001"])
    wait_in(a)
    a.subscribe("ws/v1/sz-0002/cmd/#")
    a.subscribe("ws/v1/+/ack")
    a.subscribe(topics.ack("sz-0001"))
    api = connect(proc.port, "cloud-api", cloud_pws["cloud-api"])
    ingest = connect(proc.port, "cloud-ingest-1", cloud_pws["cloud-ingest-1"])
    wait_in(api)
    wait_in(ingest)
    api.publish(topics.cmd("sz-0002", "unlock"), b"for b")
    ingest.publish(topics.ack("sz-0002"), b"for b")
    ingest.publish(topics.ack("sz-0001"), b"for a")
    wait_for(lambda: (topics.ack("sz-0001"), b"for a") in a.received, 5, "the station's own ack")
    time.sleep(SETTLE_S)
    assert [p for _, p in a.received if p == b"for b"] == []


def test_provisioned_station_config_is_loadable_and_password_private(
    tmp_path: Path, need_mosquitto: None
) -> None:
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


def test_rotated_station_password_replaces_the_old_one(
    broker, connect, tmp_path: Path, admin_dir: Path
) -> None:
    proc, _, passwords = broker
    kit = admin_dir / "broker"
    new, _ = provision_station(kit, "sz-0001", tmp_path / "rot" / "station.toml",
                               broker_host="h", rotate=True)  # fmt: skip
    assert proc.proc is not None
    os.kill(proc.proc.pid, signal.SIGHUP)  # Mosquitto re-reads passwords and ACL on HUP
    time.sleep(0.5)  # the reload is not observable from here, only its effect
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


def test_tls_listener_works_and_plain_tcp_is_off(
    tmp_path: Path, admin_dir: Path, connect, need_mosquitto: None
) -> None:
    pki = _pki(tmp_path)
    kit = admin_dir / "broker"
    port = free_port()
    cloud_pws = provision_broker(kit, port=port, tls=pki, persistence_dir=admin_dir / "data")
    assert "listener" in (kit / "mosquitto.conf").read_text()
    st_pw, files = provision_station(kit, "sz-0001", tmp_path / "st" / "station.toml",
                                     broker_host="127.0.0.1")  # fmt: skip
    assert load_config(files.config).mqtt.broker == f"mqtts://127.0.0.1:{port}"
    assert files.ca_file is not None
    with as_documented(kit, port, tmp_path):
        wait_in(connect(port, "cloud-api", cloud_pws["cloud-api"], tls_ca=files.ca_file))
        wait_in(connect(port, "sz-0001", st_pw, tls_ca=files.ca_file))
        plain = connect(port, "sz-0001", st_pw)  # same port, no TLS
        time.sleep(1.5)  # a window in which the plain client must not get in
        assert not plain.connected.is_set(), "plain TCP must not be accepted when TLS is on"
        conf = (kit / "mosquitto.conf").read_text()
        assert conf.count("listener ") == 1


# --- the login is the client id: nobody takes over another's session ----------------------------


def test_a_station_cannot_push_another_station_off_the_broker(broker, connect) -> None:
    """A station logged in with its own password but another station's client id disconnected
    that station and fired its `lost` will (5 kicks in 5 s: 5 `lost`, a queued unlock gone):
    one password from an unattended Pi's SD card could keep any station off the map."""
    proc, cloud_pws, passwords = broker
    watcher = connect(proc.port, "cloud-ingest-1", cloud_pws["cloud-ingest-1"])
    wait_in(watcher)
    assert watcher.subscribe(topics.state("sz-0002"))
    victim = connect(proc.port, "sz-0002", passwords["sz-0002"],
                     will=(topics.state("sz-0002"), LOST))  # fmt: skip
    wait_in(victim)
    assert victim.subscribe(topics.cmd("sz-0002", "unlock"))
    for _ in range(5):  # five kicks in five seconds
        attacker = connect(proc.port, "sz-0001", passwords["sz-0001"], client_id="sz-0002")
        wait_in(attacker)  # let in, but as itself: its login is its client id
        attacker.stop()
        time.sleep(0.2)
    api = connect(proc.port, "cloud-api", cloud_pws["cloud-api"])
    wait_in(api)
    api.publish(topics.cmd("sz-0002", "unlock"), b"unlock for b")
    wait_for(
        lambda: (topics.cmd("sz-0002", "unlock"), b"unlock for b") in victim.received,
        5,
        "the victim's unlock",
    )
    time.sleep(SETTLE_S)
    assert not victim.dropped.is_set(), "the victim was disconnected"
    assert (topics.state("sz-0002"), LOST) not in watcher.received, "the victim's will fired"


def test_the_provisioned_broker_starts_as_documented_with_only_its_own_listener(
    tmp_path: Path, admin_dir: Path, connect, need_mosquitto: None
) -> None:
    """Started as documented by root, `mosquitto -c DIR/mosquitto.conf` dropped to user
    `mosquitto`, which could not read the root-owned 0600 password file ("Unable to open
    pwfile"): the tests passed only because they added `user root`. The login-as-client-id
    setting is a listener setting: above the `listener` line it opens a second one on 1883."""
    kit = admin_dir / "broker"
    port = free_port()
    cloud_pws = provision_broker(kit, port=port, persistence_dir=admin_dir / "data")
    st_pw, _ = provision_station(kit, "sz-0001", tmp_path / "st" / "station.toml",
                                 broker_host="h")  # fmt: skip
    lines = (kit / "mosquitto.conf").read_text().splitlines()
    assert "user root" not in lines
    assert lines.index("use_username_as_clientid true") == lines.index(f"listener {port}") + 1
    if os.geteuid() == 0 and provision_mod.broker_owner() == "mosquitto":
        for secret in ("passwd",):
            assert (kit / secret).owner() == "mosquitto"
            assert stat.S_IMODE((kit / secret).stat().st_mode) == 0o600
    proc = as_documented(kit, port, tmp_path)
    with proc:
        wait_in(connect(port, "sz-0001", st_pw))
        wait_in(connect(port, "cloud-api", cloud_pws["cloud-api"]))
        log = proc.stderr_path.read_text()
    opened = re.findall(r"Opening ipv[46] listen socket on port (\d+)", log)
    assert opened, log
    assert set(opened) == {str(port)}, f"listeners opened: {opened}"


def test_each_cloud_login_may_do_only_what_its_process_does(broker, connect) -> None:
    """All cloud processes shared one all-powerful `cloud` login; with the login as client id
    each process needs its own (two sharing one disconnect each other), and each role gets
    only the topics its process uses: ingest reads uplinks and acks, the API commands."""
    from cloud.ingest.subscriber import RETAINED_KINDS, STREAM_KINDS

    proc, cloud_pws, passwords = broker
    ingest = [connect(proc.port, u, cloud_pws[u]) for u in ("cloud-ingest-1", "cloud-ingest-2")]
    api = connect(proc.port, "cloud-api", cloud_pws["cloud-api"])
    trust = connect(proc.port, "cloud-trust", cloud_pws["cloud-trust"])
    station = connect(proc.port, "sz-0001", passwords["sz-0001"])
    for client in (*ingest, api, trust, station):
        wait_in(client)
    shared = [topics.shared("ingest", topics.all_stations(k)) for k in STREAM_KINDS]
    for worker in ingest:  # what `cloud ingest` subscribes to, as every worker at once
        for topic_filter in [*shared, *(topics.all_stations(k) for k in RETAINED_KINDS)]:
            assert worker.subscribe(topic_filter), topic_filter
    api.subscribe(topics.all_stations(topics.Kind.EVENTS))
    trust.subscribe(topics.all_stations(topics.Kind.EVENTS))
    for topic_filter in ("ws/v1/sz-0001/cmd/#", topics.ack("sz-0001"), "ws/v1/trust/#"):
        assert station.subscribe(topic_filter)

    station.publish(topics.events("sz-0001"), b"event")
    for name, who in (("ingest", ingest[0]), ("api", api), ("trust", trust)):
        who.publish(topics.cmd("sz-0001", "unlock"), f"cmd from {name}".encode())
        who.publish(topics.ack("sz-0001"), f"ack from {name}".encode())
        who.publish(topics.TRUST_KEYS, f"keys from {name}".encode())
    wait_for(
        lambda: (
            any(p == b"event" for w in ingest for _, p in w.received) and len(station.received) >= 4
        ),
        5,
        what=lambda: f"the expected deliveries; the station has {station.received}",
    )
    time.sleep(SETTLE_S)
    assert sorted(p for _, p in station.received) == [
        b"ack from ingest",
        b"cmd from api",
        b"keys from api",
        b"keys from trust",
    ]
    assert sum(p == b"event" for w in ingest for _, p in w.received) == 1  # shared: one copy
    assert api.received == []
    assert trust.received == []
    assert not any(c.dropped.is_set() for c in (*ingest, api, trust, station))


def test_a_cloud_login_added_later_works_after_a_hup(
    broker, connect, tmp_path: Path, admin_dir: Path
) -> None:
    """A third ingest worker gets a login of its own and the ACL block of its role."""
    proc, _, passwords = broker
    kit = admin_dir / "broker"
    password = provision_cloud_login(kit, "cloud-ingest-3")
    with pytest.raises(ProvisionError, match="already"):
        provision_cloud_login(kit, "cloud-ingest-3")
    with pytest.raises(ProvisionError, match="not a cloud login"):
        provision_cloud_login(kit, "cloud-boss")
    with pytest.raises(ProvisionError, match="cloud logins"):
        provision_station(kit, "cloud-ingest-4", tmp_path / "x" / "station.toml", broker_host="h")
    assert "user cloud-ingest-3" in (kit / "acl").read_text()
    assert proc.proc is not None
    os.kill(proc.proc.pid, signal.SIGHUP)
    time.sleep(0.5)  # the reload is not observable from here, only its effect
    worker = connect(proc.port, "cloud-ingest-3", password)
    wait_in(worker)
    assert worker.subscribe(topics.all_stations(topics.Kind.STATE))
    station = connect(proc.port, "sz-0002", passwords["sz-0002"])
    wait_in(station)
    station.publish(topics.state("sz-0002"), b"online")
    wait_for(
        lambda: (topics.state("sz-0002"), b"online") in worker.received,
        5,
        "the new login to read the state",
    )


def test_secret_files_are_created_with_their_final_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, need_mosquitto: None
) -> None:
    """`station.password` was written 0644 and only then chmod 0600 (the broker's TLS key, the
    test broker's password file and a member wallet's private key too): for a moment any
    local user could read it. With every chmod made a no-op, each secret must already have
    its final mode."""
    for module, name in ((os, "chmod"), (os, "fchmod"), (os, "lchmod")):
        if hasattr(module, name):
            monkeypatch.setattr(module, name, lambda *_a, **_k: None)
    old_umask = os.umask(0o022)
    try:
        kit = tmp_path / "broker"
        provision_broker(kit, tls=_pki(tmp_path), persistence_dir=tmp_path / "data")
        _, files = provision_station(kit, "sz-0001", tmp_path / "st" / "station.toml",
                                     broker_host="h")  # fmt: skip
        write_password_file(tmp_path / "test-passwd", {"sz-0001": "pw"})
        SimUnion.create(1).enroll("member-1").save(tmp_path / "wallet.json")
    finally:
        os.umask(old_umask)
    for secret in (files.password_file, kit / "passwd", kit / "server.key",
                   tmp_path / "test-passwd", tmp_path / "wallet.json"):  # fmt: skip
        mode = stat.S_IMODE(secret.stat().st_mode)
        assert mode & 0o077 == 0, f"{secret.name} was created {mode:o}"


def test_the_test_brokers_run_the_same_acl_as_provisioned_ones(
    tmp_path: Path, need_mosquitto: None
) -> None:
    """The repository ACL, the one a provisioned broker gets and the one test brokers get
    for the same logins are one and the same text (no drift between them)."""
    logins = mosquitto_mod.default_cloud_logins()
    assert ACL_PATH.read_text() == render_acl(logins)
    proc = MosquittoProcess(tmp_path, users={u: "x" for u in [*logins, "sz-0001"]})
    assert proc.users is not None
    proc.write_config()
    assert (tmp_path / "acl").read_text() == ACL_PATH.read_text()


def test_commands_published_at_once_on_one_api_login_all_go_out(
    secure_mosquitto: Callable[[dict[str, str]], MosquittoProcess], connect
) -> None:
    """With the login as client id, two ops commands at once on the API's one login (two
    requests in a `cloud serve` worker, or two workers) closed each other's connection: paho
    raised "not currently connected" and the API answered 500 for a command it may have sent."""
    broker = secure_mosquitto({"cloud-api": "api-pw", "sz-0001": "st-pw"})
    station = connect(broker.port, "sz-0001", "st-pw")
    wait_in(station)
    assert station.subscribe("ws/v1/sz-0001/cmd/#")
    url = f"mqtt://cloud-api:api-pw@127.0.0.1:{broker.port}"
    topic = topics.cmd("sz-0001", "sync")
    code = textwrap.dedent("""
        import sys
        from cloud.mqttpub import publish_once
        from protocol.broker import BrokerUrl
        for i in range(5):
            body = f"{sys.argv[2]}-{i}".encode()
            publish_once(BrokerUrl.parse(sys.argv[1]), [(sys.argv[3], body, False)] * 20)
    """)
    others = [  # other `cloud serve` workers on the same login
        subprocess.Popen([sys.executable, "-c", code, url, f"p{n}", topic], cwd=ROOT)
        for n in range(2)
    ]
    errors: list[BaseException] = []

    def request(n: int) -> None:  # concurrent requests in this worker
        try:
            for i in range(5):
                publish_once(BrokerUrl.parse(url), [(topic, f"t{n}-{i}".encode(), False)] * 20)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=request, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [p.wait(60) for p in others] == [0, 0], "another worker's publish failed"
    assert errors == []
    expected = {f"{who}-{i}".encode() for who in ("p0", "p1", "t0", "t1", "t2") for i in range(5)}
    wait_for(
        lambda: expected <= {p for _, p in station.received},
        5,
        what=lambda: f"every publish; missing {expected - {p for _, p in station.received}}",
    )
