"""What the reviewer brings to `verify` (harness/evidence/origin.py): --trust, --signer, --integrity-only.

The CLI tests (slow) drive these end to end; here each loader is called alone so that every message
and every value it returns is asserted exactly (issue 21: these functions had no fast test at all).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from test_verify import make_ca, make_identity

from harness.core.errors import ConfigError, UsageError
from harness.evidence.bundle import certificate_fingerprint
from harness.evidence.origin import Anchors, load_anchors, load_trust, parse_pin

HEX = "0123456789abcdef" * 4


def pem(*certs) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


@pytest.fixture(scope="module")
def cas():
    return make_ca("Trust CA", index=0), make_ca("Other CA", index=3)


def test_a_pin_is_sha256_and_64_hex_digits_whatever_its_case_and_colons() -> None:
    assert parse_pin("sha256:" + HEX) == ("sha256:" + HEX,)
    assert parse_pin("  SHA256:" + HEX.upper() + "  ") == ("sha256:" + HEX,)
    assert parse_pin("Sha256:" + ":".join(HEX[i:i + 2] for i in range(0, 64, 2))) == ("sha256:" + HEX,)
    for bad in ("sha256:" + HEX[:-1], "sha256:" + HEX + "0", "sha256:" + HEX[:-1] + "g", "sha256:"):
        with pytest.raises(UsageError) as caught:
            parse_pin(bad, option="--pin")
        assert str(caught.value) == (f"--pin {bad!r}: expected sha256: and 64 hex digits (the SHA-256 of the "
                                     "certificate's DER bytes), or a PEM certificate file")


def test_a_pin_given_as_a_certificate_file_is_the_fingerprint_of_each_certificate(tmp_path: Path, cas) -> None:
    (trust_ca, _), (other_ca, _) = cas
    one = tmp_path / "one.pem"
    one.write_bytes(pem(trust_ca))
    both = tmp_path / "both.pem"
    both.write_bytes(pem(trust_ca, other_ca))
    assert parse_pin(str(one)) == (certificate_fingerprint(trust_ca),)
    assert parse_pin(f" {both} ") == (certificate_fingerprint(trust_ca), certificate_fingerprint(other_ca))
    with pytest.raises(UsageError) as caught:
        parse_pin(str(tmp_path / "absent.pem"))
    assert str(caught.value) == (f"--signer {str(tmp_path / 'absent.pem')!r}: neither sha256:<64 hex digits> nor "
                                 "an existing certificate file")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ConfigError) as caught:
        parse_pin(str(junk), option="--pin")
    assert str(caught.value) == f"--pin: {junk}: not a PEM certificate file (expected -----BEGIN CERTIFICATE-----)"
    with pytest.raises(ConfigError, match=re.escape(f"--pin: {tmp_path}: is a folder, expected a signer "
                                                    "certificate file")):
        parse_pin(str(tmp_path), option="--pin")


def test_trust_files_give_every_certificate_in_order_and_name_a_bad_file(tmp_path: Path, cas) -> None:
    (trust_ca, _), (other_ca, _) = cas
    (tmp_path / "a.pem").write_bytes(pem(trust_ca, other_ca))
    (tmp_path / "b.pem").write_bytes(pem(trust_ca))
    assert load_trust([tmp_path / "a.pem", tmp_path / "b.pem"]) == (trust_ca, other_ca, trust_ca)
    assert load_trust([]) == ()
    (tmp_path / "bad.pem").write_text("-----BEGIN NOTHING-----")
    with pytest.raises(ConfigError) as caught:
        load_trust([tmp_path / "b.pem", tmp_path / "bad.pem"], option="--ca")
    assert str(caught.value) == (f"--ca: {tmp_path / 'bad.pem'}: not a PEM certificate file "
                                 "(expected -----BEGIN CERTIFICATE-----)")
    with pytest.raises(ConfigError) as caught:
        load_trust([tmp_path / "gone.pem"])
    assert str(caught.value) == f"--trust: {tmp_path / 'gone.pem'}: trust certificate file not found"


def test_anchors_from_the_command_line(tmp_path: Path, cas) -> None:
    (trust_ca, _), _ = cas
    party = make_identity(index=1)
    (tmp_path / "ca.pem").write_bytes(pem(trust_ca))
    (tmp_path / "party.pem").write_bytes(pem(party.certificate))
    pin = certificate_fingerprint(party.certificate)
    found = load_anchors([tmp_path / "ca.pem"], [pin, str(tmp_path / "party.pem"), "sha256:" + HEX])
    assert found == Anchors(trust=(trust_ca,), signers=(pin, "sha256:" + HEX), integrity_only=False)
    assert found.complete and not Anchors(trust=(trust_ca,)).complete and not Anchors(signers=(pin,)).complete
    assert load_anchors() == Anchors() and load_anchors(integrity_only=True) == Anchors(integrity_only=True)
    assert load_anchors(integrity_only=True, required=True) == Anchors(integrity_only=True)
    assert load_anchors([tmp_path / "ca.pem"], required=True) == Anchors(trust=(trust_ca,))
    for trust, signers in (([tmp_path / "ca.pem"], []), ([], [pin]), ([tmp_path / "ca.pem"], [pin])):
        with pytest.raises(UsageError) as caught:
            load_anchors(trust, signers, integrity_only=True)
        assert str(caught.value) == ("--integrity-only checks integrity alone: do not combine it with --trust or "
                                     "--signer")
    for signers in ([], [pin]):
        with pytest.raises(UsageError) as caught:
            load_anchors([], signers, required=True, command="reuse")
        assert str(caught.value) == (
            "reuse needs --trust CA.pem (the CA that issued the parties' signing certificates) to check who "
            "signed the bundles, or --integrity-only to check their integrity alone")
    with pytest.raises(UsageError, match="^verify needs --trust"):
        load_anchors(required=True)
