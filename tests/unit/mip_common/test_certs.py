"""Development CA and certificates: who they name, what they are valid for, how keys are stored."""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from mip_common.certs import create_ca, create_federation_certs, issue_cert


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_issued_certificate_names_identity_and_hosts_and_verifies_against_ca() -> None:
    # Arrange
    ca = create_ca()

    # Act
    _, cert = issue_cert(ca, "local1", hosts=("localhost", "127.0.0.1", "node1.example.org"))

    # Assert
    cert.verify_directly_issued_by(ca.cert)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "local1"
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["local1", "localhost", "node1.example.org"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_certificate_from_another_ca_does_not_verify() -> None:
    ours, theirs = create_ca(), create_ca("other CA")
    _, cert = issue_cert(theirs, "controller")
    with pytest.raises((ValueError, InvalidSignature)):
        cert.verify_directly_issued_by(ours.cert)


def test_validity_window_can_be_set_in_the_past() -> None:
    now = dt.datetime.now(dt.UTC)
    _, cert = issue_cert(
        create_ca(),
        "controller",
        not_valid_before=now - dt.timedelta(days=3),
        not_valid_after=now - dt.timedelta(days=1),
    )
    assert cert.not_valid_after_utc < now


@pytest.mark.parametrize("identity", ["", "a b", "x/y", "rm -rf"])
def test_identity_must_be_a_plain_name(identity: str) -> None:
    with pytest.raises(ValueError, match="identity"):
        issue_cert(create_ca(), identity)


def test_federation_certs_are_written_with_private_keys_unreadable_to_others(tmp_path: Path) -> None:
    # Act
    files = create_federation_certs(tmp_path, ["global", "local1", "controller", "client"])

    # Assert
    assert sorted(files) == ["client", "controller", "global", "local1"]
    ca = _load(tmp_path / "ca.pem")
    for name, f in files.items():
        cert = _load(f.cert)
        cert.verify_directly_issued_by(ca)
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == name
        assert stat.S_IMODE(f.key.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ca.key").stat().st_mode) == 0o600


def test_duplicate_identities_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unique"):
        create_federation_certs(tmp_path, ["local1", "local1"])
