"""`waystation demo --lan`: the demo over HTTPS on this machine's LAN address, for real phones.

Why: the member page makes its key with WebCrypto, which browsers allow only in a secure
context — `https://`, or `http://` on loopback. A phone reaching the laptop over Wi-Fi needs
HTTPS, so the demo makes a self-signed certificate for the LAN address (kept in the workdir,
made again when the address changed or it nears its end). The phone warns once; accepting
the warning is the price of a demo without a real certificate.
"""

from __future__ import annotations

import ipaddress
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CERT_DAYS = 30  # a demo certificate's life; made again a day before it ends
_PROBE = ("192.0.2.1", 9)  # TEST-NET-1: a UDP "connect" only picks the route, sends nothing


def lan_address() -> str:
    """The IPv4 address this machine uses towards other networks (its Wi-Fi/LAN address), or
    loopback when it has no route."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(_PROBE)
        except OSError:
            return "127.0.0.1"
        return str(probe.getsockname()[0])


def _current(cert: Path, ip: str, now: datetime) -> bool:
    try:
        held = x509.load_pem_x509_certificate(cert.read_bytes())
    except (OSError, ValueError):
        return False
    names = held.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    fits = ipaddress.ip_address(ip) in names.get_values_for_type(x509.IPAddress)
    return fits and held.not_valid_after_utc - now > timedelta(days=1)


def self_signed(directory: Path, ip: str) -> tuple[Path, Path]:
    """(certificate, key) PEM files for `https://ip`, made or reused in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key_file = directory / "lan-cert.pem", directory / "lan-key.pem"
    now = datetime.now(UTC)
    if _current(cert, ip, now) and key_file.exists():
        return cert, key_file
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Waystation demo {ip}")])
    made = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=CERT_DAYS))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(ip)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_file.touch(mode=0o600)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert.write_bytes(made.public_bytes(serialization.Encoding.PEM))
    return cert, key_file
