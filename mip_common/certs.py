"""A development certificate authority and certificates for a local federation.

For development and tests only: a real deployment gets its certificates from the
federation's own CA (see the README's Security section). Keys are ECDSA P-256; each
certificate names its holder in the common name and as a DNS subject alternative name,
which is the identity nodes and the controller check, and lists the hosts it serves on.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CertFiles",
    "CertificateAuthority",
    "create_ca",
    "create_federation_certs",
    "issue_cert",
    "write_cert",
]

DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


@dataclass(frozen=True, slots=True)
class CertFiles:
    """PEM files of one holder: its certificate, its private key, and the CA that signed it."""

    cert: Path
    key: Path
    ca: Path


@dataclass(frozen=True, slots=True)
class CertificateAuthority:
    """A CA's key and self-signed certificate, in memory."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def cert_pem(self) -> bytes:
        """The CA certificate as PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_ca(common_name: str = "mip-mesh development CA", *, valid_days: int = 365) -> CertificateAuthority:
    """A new self-signed CA that may sign end-entity certificates only."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = _now() - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(key, cert)


def issue_cert(
    ca: CertificateAuthority,
    identity: str,
    *,
    hosts: Sequence[str] = DEFAULT_HOSTS,
    valid_days: int = 365,
    not_valid_before: dt.datetime | None = None,
    not_valid_after: dt.datetime | None = None,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A key and a certificate for ``identity``, usable as TLS server and client.

    The identity is the common name and the first DNS name; ``hosts`` (names or IP
    addresses) are added as further subject alternative names so the holder can serve on
    them. ``not_valid_before``/``not_valid_after`` override the validity (tests use a
    window in the past to get an expired certificate).
    """
    if not identity or not set(identity) <= _NAME_CHARS:
        raise ValueError(f"identity {identity!r} must be letters, digits, '-', '_' or '.'")
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_valid_before or _now() - dt.timedelta(minutes=5)
    end = not_valid_after or start + dt.timedelta(days=valid_days)
    names: list[x509.GeneralName] = [x509.DNSName(identity)]
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if host != identity:
                names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity)]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    return key, cert


def _write(path: Path, data: bytes, *, is_secret: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if is_secret:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        path.chmod(0o600)
    else:
        path.write_bytes(data)


def write_cert(
    out_dir: Path, name: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate, ca_file: Path
) -> CertFiles:
    """Write ``<name>.pem`` and ``<name>.key`` (mode 600) into ``out_dir``."""
    cert_file, key_file = out_dir / f"{name}.pem", out_dir / f"{name}.key"
    _write(cert_file, cert.public_bytes(serialization.Encoding.PEM), is_secret=False)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write(key_file, key_pem, is_secret=True)
    return CertFiles(cert_file, key_file, ca_file)


def create_federation_certs(
    out_dir: Path,
    identities: Sequence[str],
    *,
    hosts: Sequence[str] = DEFAULT_HOSTS,
    valid_days: int = 365,
) -> dict[str, CertFiles]:
    """A new CA (``ca.pem``, ``ca.key``) and a certificate for each identity, in ``out_dir``.

    Returns each identity's files. An existing CA in ``out_dir`` is replaced: certificates
    issued before by it no longer verify.
    """
    if len(set(identities)) != len(identities):
        raise ValueError(f"identities must be unique, got {list(identities)}")
    ca = create_ca(valid_days=valid_days)
    ca_file = out_dir / "ca.pem"
    _write(ca_file, ca.cert_pem(), is_secret=False)
    ca_key = ca.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write(out_dir / "ca.key", ca_key, is_secret=True)
    files = {}
    for identity in identities:
        key, cert = issue_cert(ca, identity, hosts=hosts, valid_days=valid_days)
        files[identity] = write_cert(out_dir, identity, key, cert, ca_file)
    return files
