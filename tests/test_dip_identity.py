"""The DIP's identity folder: made once (under a lock), reused, completed, never half-replaced."""

from __future__ import annotations

import stat
import threading

import pytest
from cryptography import x509

from harness.dip.identity import CERT, KEY, PARTS, load_identity, load_or_create
from harness.core.errors import ConfigError


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_made_once_with_private_keys_0600(tmp_path):
    first = load_identity(tmp_path / "dip")
    again = load_identity(tmp_path / "dip")
    assert first.signing.fingerprint() == again.signing.fingerprint()
    for cert, key in [*PARTS.values(), (CERT, KEY)]:
        assert (tmp_path / "dip" / cert).is_file() and _mode(tmp_path / "dip" / key) == 0o600
    server = x509.load_pem_x509_certificate(first.path("tls-server").read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)


def test_concurrent_creation_makes_one_identity(tmp_path):
    found: list[str] = []

    def make() -> None:
        found.append(load_identity(tmp_path / "dip").signing.fingerprint())

    threads = [threading.Thread(target=make) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(found) == 4 and len(set(found)) == 1


def test_an_older_signing_only_folder_keeps_its_key_and_gains_tls(tmp_path):
    identity, cert = load_or_create(tmp_path / "dip")
    assert not (tmp_path / "dip" / "tls-server.pem").exists()  # a run alone makes only the signing pair
    full = load_identity(tmp_path / "dip", names=["hub.example.org"])
    assert full.signing.fingerprint() == identity.fingerprint() and cert == full.signing_certificate
    server = x509.load_pem_x509_certificate(full.path("tls-server").read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "hub.example.org" in names.get_values_for_type(x509.DNSName)


def test_half_a_pair_is_an_error_not_a_new_key(tmp_path):
    load_or_create(tmp_path / "dip")
    (tmp_path / "dip" / KEY).unlink()
    with pytest.raises(ConfigError, match="only one of dip-signing.pem and dip-signing.key"):
        load_or_create(tmp_path / "dip")


def test_client_certificates_come_from_the_client_ca(tmp_path):
    identity = load_identity(tmp_path / "dip")
    issued = identity.issue_client("1234567890")
    client_ca = x509.load_pem_x509_certificate(identity.path("client-ca").read_bytes())
    assert issued.cert.issuer == client_ca.subject
    issued.cert.verify_directly_issued_by(client_ca)
