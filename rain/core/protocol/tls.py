"""TLS for every Rain connection: contexts, certificate pinning, a generated self-signed pair.

Clients and governors do not check the server certificate against a CA: they pin the SHA-256
fingerprint of the cluster certificate recorded in the access file, the same file that gives
them the key. This works for a generated self-signed pair and for certificate files the user
brings. The server and every governor's data port present the same certificate.

Ragged EOFs are accepted (`https_compatible=True`): Rain frames carry their own lengths, so a
truncated stream is caught as a truncated frame, and peers may close without close_notify.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import hmac
import os
import socket
import ssl

from rain.core.protocol.auth import AuthenticationError

FINGERPRINT_PREFIX = "sha256:"


def fingerprint_of_der(der: bytes) -> str:
    return FINGERPRINT_PREFIX + hashlib.sha256(der).hexdigest()


def fingerprint_of_file(cert_file: str) -> str:
    """Fingerprint of the first certificate of a PEM file (the leaf of a chain)."""
    with open(cert_file) as f:
        pem = f.read()
    end = pem.find("-----END CERTIFICATE-----")
    if end < 0:
        raise ValueError(f"{cert_file} holds no PEM certificate")
    return fingerprint_of_der(ssl.PEM_cert_to_DER_cert(pem[: end + len("-----END CERTIFICATE-----")]))


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


@functools.cache
def client_context() -> ssl.SSLContext:
    """Encryption without CA verification: the peer is checked by `check_pin` instead."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def check_pin(der: bytes | None, expected: str, peer: str) -> None:
    actual = fingerprint_of_der(der) if der else ""
    if not hmac.compare_digest(actual.encode(), expected.lower().encode()):
        raise AuthenticationError(f"authentication failed: the TLS certificate of {peer} is not the cluster's "
                                  f"(fingerprint {actual or 'none'}, expected {expected})")


def generate_self_signed(cert_file: str, key_file: str) -> str:
    """Writes a new EC P-256 key (mode 0600) and a 10-year self-signed certificate for it;
    returns the certificate's fingerprint. `cryptography` is imported only here."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rain cluster")])
    now = datetime.datetime.now(datetime.UTC)
    alt_names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.DNSName(socket.gethostname())]
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    _write_private(key_file, key_pem)
    _write_private(cert_file, cert.public_bytes(serialization.Encoding.PEM))
    return fingerprint_of_der(cert.public_bytes(serialization.Encoding.DER))


def _write_private(path: str, data: bytes) -> None:
    """Atomically, created with mode 0600 so the content is never readable by others."""
    tmp = f"{path}.tmp{os.getpid()}"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
