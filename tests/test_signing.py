"""DIP message signatures: our signer and verifier against an independent implementation, and every
failure the verifier reports (each with its own rule)."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from harness.core.errors import ConfigError
from harness.transport import certs
from harness.transport.signing import (
    CONTENT_HASH,
    SIGNATURE,
    SIGNATURE_CERTIFICATE,
    SIGNATURE_DATE,
    SIGNATURE_HEADERS,
    SigningIdentity,
    content_hash,
    format_signature_date,
    sign_request,
    string_to_sign,
    verify_request,
)

URL = "https://127.0.0.1:8443/dip-channel/IF-061"
BODY = b'[{"payload":{"CommonBlock":{},"CustomBlock":{}}}]'
NOW = datetime(2025, 6, 27, 14, 29, 9, 61000, tzinfo=timezone.utc)
SINCE = NOW - timedelta(days=1)  # certificates valid at NOW (the wall clock is later)


# --- an independent implementation, written from the domain README, not from our module -----------

def independent_sign(method: str, url: str, body: bytes, key, cert: x509.Certificate, date: str) -> dict:
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    text = method + ";" + url.lower() + ";" + date + ";" + digest
    signature = key.sign(text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    pem = cert.public_bytes(serialization.Encoding.PEM)
    return {"X-DIP-Signature": base64.b64encode(signature).decode(), "X-DIP-Signature-Date": date,
            "X-DIP-Content-Hash": digest, "X-DIP-Signature-Certificate": base64.b64encode(pem).decode()}


def independent_verify(method: str, url: str, body: bytes, headers: dict) -> bool:
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    if headers["X-DIP-Content-Hash"] != digest:
        return False
    pem = base64.b64decode(headers["X-DIP-Signature-Certificate"])
    if not pem.startswith(b"-----BEGIN CERTIFICATE-----\n") or b"\r" in pem:
        return False
    cert = x509.load_pem_x509_certificate(pem)
    text = f"{method};{url.lower()};{headers['X-DIP-Signature-Date']};{digest}"
    try:
        cert.public_key().verify(base64.b64decode(headers["X-DIP-Signature"]), text.encode(),
                                 padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


# --- fixtures: few RSA keys, reused -------------------------------------------------------------

@pytest.fixture(scope="module")
def ca():
    return certs.make_ca("dipcert signing test CA", key=certs.cached_key("test-ca"), not_before=SINCE)


@pytest.fixture(scope="module")
def other_ca():
    return certs.make_ca("another CA", key=certs.cached_key("test-other-ca"), not_before=SINCE)


@pytest.fixture(scope="module")
def leaf(ca):
    return ca.issue("MDR party", key=certs.cached_key("test-leaf"), not_before=SINCE)


@pytest.fixture(scope="module")
def identity(leaf):
    return leaf.identity()


@pytest.fixture(scope="module")
def signed(identity):
    return sign_request("POST", URL, BODY, identity, now=NOW)


def rules(findings) -> set[str]:
    return {f.rule for f in findings}


def verify(headers, *, url=URL, body=BODY, method="POST", **kw):
    kw.setdefault("now", NOW)
    return verify_request(method, url, body, headers, **kw)


# --- the algorithm -------------------------------------------------------------------------------

def test_known_answers():
    assert format_signature_date(NOW) == "2025-06-27T14:29:09.061Z"
    assert format_signature_date(datetime(2025, 6, 27, 15, 29, 9, 61999,
                                          tzinfo=timezone(timedelta(hours=1)))) == "2025-06-27T14:29:09.061Z"
    assert content_hash(b"") == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    assert string_to_sign("post", "HTTPS://Host/dip-channel/IF-061?A=B", "d", "h") == \
        "POST;https://host/dip-channel/if-061?a=b;d;h"


def test_ours_matches_independent_signer_byte_for_byte(leaf, identity, signed):
    theirs = independent_sign("POST", URL, BODY, leaf.key, leaf.cert, "2025-06-27T14:29:09.061Z")
    assert signed == theirs  # PKCS#1 v1.5 is deterministic: the same key signs the same bytes the same way
    assert set(signed) == set(SIGNATURE_HEADERS)


def test_independent_signer_accepted_and_ours_verified_independently(ca, leaf, signed):
    theirs = independent_sign("POST", URL, BODY, leaf.key, leaf.cert, "2025-06-27T14:29:09.123Z")
    assert verify(theirs, trust=[ca.cert], expected_certificate=leaf.cert) == []
    assert independent_verify("POST", URL, BODY, signed)
    assert not independent_verify("POST", URL + "x", BODY, signed)


def test_certificate_header_is_base64_of_lf_pem(signed, leaf):
    pem = base64.b64decode(signed[SIGNATURE_CERTIFICATE])
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----\n") and b"\r" not in pem
    assert x509.load_pem_x509_certificate(pem) == leaf.cert


def test_url_case_does_not_matter(signed):
    assert verify(signed, url=URL.upper().replace("HTTPS", "https")) == []


# --- one-byte changes, each with its own rule ---------------------------------------------------

def test_one_byte_body_change_is_a_hash_failure(signed):
    changed = BODY.replace(b"{}", b"{ }", 1)
    found = verify(signed, body=changed)
    assert rules(found) == {"signature.hash"}
    assert found[0].path == f"header:{CONTENT_HASH}"
    assert (found[0].expected, found[0].actual) == (content_hash(changed), signed[CONTENT_HASH])


def test_one_byte_url_change_is_an_invalid_signature(signed):
    found = verify(signed, url=URL.replace("061", "062"))
    assert rules(found) == {"signature.invalid"}
    assert found[0].path == "header:X-DIP-Signature"


def test_one_byte_date_change(signed):
    moved = dict(signed, **{SIGNATURE_DATE: signed[SIGNATURE_DATE].replace(".061", ".062")})
    assert rules(verify(moved)) == {"signature.invalid"}  # still a good date, but not the one signed
    broken = dict(signed, **{SIGNATURE_DATE: signed[SIGNATURE_DATE].replace("T", "X")})
    found = verify(broken)
    assert "signature.date" in rules(found)
    assert next(f for f in found if f.rule == "signature.date").path == "header:X-DIP-Signature-Date"


def test_one_byte_certificate_change_is_a_certificate_failure(signed):
    value = signed[SIGNATURE_CERTIFICATE]
    changed = dict(signed, **{SIGNATURE_CERTIFICATE: ("M" if value[0] != "M" else "N") + value[1:]})
    found = verify(changed)
    assert rules(found) == {"signature.certificate"}
    assert found[0].path == "header:X-DIP-Signature-Certificate"
    not_b64 = dict(signed, **{SIGNATURE_CERTIFICATE: "*" + value[1:]})
    assert rules(verify(not_b64)) == {"signature.certificate"}


def test_signature_not_base64_or_from_another_key(signed, other_ca):
    assert rules(verify(dict(signed, **{SIGNATURE: "%%%"}))) == {"signature.invalid"}
    stranger = other_ca.issue("stranger", key=certs.cached_key("test-other-leaf"), not_before=SINCE)
    swapped = dict(signed, **{SIGNATURE_CERTIFICATE: stranger.identity().certificate_header()})
    assert rules(verify(swapped)) == {"signature.invalid"}


# --- missing headers and header forms --------------------------------------------------------------

@pytest.mark.parametrize("name", SIGNATURE_HEADERS)
def test_missing_header(signed, name):
    found = verify({k: v for k, v in signed.items() if k != name})
    missing = [f for f in found if f.rule == "signature.missing-header"]
    assert [f.path for f in missing] == [f"header:{name}"]
    if name == SIGNATURE or name == SIGNATURE_DATE:
        assert rules(found) == {"signature.missing-header"}  # nothing else can be blamed


def test_empty_and_all_missing(signed):
    assert rules(verify(dict(signed, **{SIGNATURE: "  "}))) == {"signature.missing-header"}
    found = verify({})
    assert [f.path for f in found] == [f"header:{n}" for n in SIGNATURE_HEADERS]


def test_header_names_are_case_insensitive_and_pairs_work(signed):
    assert verify({k.lower(): v for k, v in signed.items()}) == []
    assert verify({k.upper(): v for k, v in signed.items()}) == []
    assert verify([(k.lower(), v) for k, v in signed.items()] + [("Content-Type", "application/json")]) == []
    assert verify(httpx.Headers(signed)) == []


# --- certificate checks ----------------------------------------------------------------------------

def test_expired_and_not_yet_valid(ca, signed):
    key = certs.cached_key("test-leaf")
    old = ca.issue("old", key=key, not_before=NOW - timedelta(days=30), not_after=NOW - timedelta(days=1))
    assert rules(verify(sign_request("POST", URL, BODY, old.identity(), now=NOW))) == {"signature.expired"}
    future = ca.issue("future", key=key, not_before=NOW + timedelta(days=1), not_after=NOW + timedelta(days=30))
    found = verify(sign_request("POST", URL, BODY, future.identity(), now=NOW))
    assert rules(found) == {"signature.not-yet-valid"}
    assert found[0].path == "header:X-DIP-Signature-Certificate"
    # validity is judged at `now`, not at the wall clock
    assert verify(sign_request("POST", URL, BODY, old.identity(), now=NOW - timedelta(days=2)),
                  now=NOW - timedelta(days=2)) == []


def test_untrusted_issuer_vs_trusted(ca, other_ca, signed, leaf):
    assert verify(signed, trust=[ca.cert]) == []
    assert verify(signed, trust=[other_ca.cert, ca.cert]) == []
    found = verify(signed, trust=[other_ca.cert])
    assert rules(found) == {"signature.untrusted"}
    assert "another CA" in found[0].expected
    assert verify(signed, trust=[leaf.cert]) == []  # a pinned certificate is trusted directly
    # a CA with the same name but a different key does not vouch for the certificate
    impostor = certs.make_ca("dipcert signing test CA", key=certs.cached_key("test-other-ca"), not_before=SINCE)
    assert rules(verify(signed, trust=[impostor.cert])) == {"signature.untrusted"}


def test_chain_in_certificate_header(ca):
    intermediate = ca.issue("intermediate", key=certs.cached_key("test-other-ca"), not_before=SINCE)
    sub_ca = certs.CertificateAuthority(intermediate.key, intermediate.cert)
    signer = sub_ca.issue("chained party", key=certs.cached_key("test-other-leaf"), not_before=SINCE)
    headers = sign_request("POST", URL, BODY, signer.identity(), now=NOW)
    assert rules(verify(headers, trust=[ca.cert])) == {"signature.untrusted"}  # leaf alone: no path
    chained = signer.cert_pem + intermediate.cert_pem  # a PEM file holding leaf then issuer
    headers[SIGNATURE_CERTIFICATE] = base64.b64encode(chained).decode()
    assert verify(headers, trust=[ca.cert], expected_certificate=signer.cert) == []
    assert rules(verify(headers, trust=[certs.make_ca("x", key=certs.cached_key("test-ca")).cert])) \
        == {"signature.untrusted"}


def test_self_signed_certificate_in_trust_list(other_ca):
    self_signed = SigningIdentity.from_key_and_cert(other_ca.key, other_ca.cert)
    headers = sign_request("POST", URL, BODY, self_signed, now=NOW)
    assert verify(headers, trust=[other_ca.cert]) == []
    assert rules(verify(headers, trust=[certs.make_ca("x", key=certs.cached_key("test-ca"), not_before=SINCE).cert])) \
        == {"signature.untrusted"}


def test_unexpected_certificate(ca, signed, leaf):
    assert verify(signed, expected_certificate=leaf.cert) == []
    # the same key in a different certificate is still not the registered certificate
    other = ca.issue("someone else", key=certs.cached_key("test-leaf"), not_before=SINCE)
    found = verify(signed, expected_certificate=other.cert)
    assert rules(found) == {"signature.unexpected-certificate"}
    assert found[0].expected.startswith("sha256:") and found[0].expected != found[0].actual


def test_der_certificate_header_is_a_warning(signed, leaf):
    der = base64.b64encode(leaf.cert.public_bytes(serialization.Encoding.DER)).decode()
    found = verify(dict(signed, **{SIGNATURE_CERTIFICATE: der}))
    assert [(f.rule, f.severity) for f in found] == [("signature.certificate", "warning")]


# --- date and skew ---------------------------------------------------------------------------------

def test_skew_window(signed):
    assert verify(signed, now=NOW + timedelta(minutes=4, seconds=59)) == []
    assert verify(signed, now=NOW - timedelta(minutes=4, seconds=59)) == []
    late = verify(signed, now=NOW + timedelta(minutes=5, seconds=1))
    assert rules(late) == {"signature.skew"} and "behind" in late[0].message
    early = verify(signed, now=NOW - timedelta(minutes=6))
    assert rules(early) == {"signature.skew"} and "ahead of" in early[0].message
    assert verify(signed, now=NOW + timedelta(minutes=8), skew=timedelta(minutes=10)) == []


def test_other_iso_forms_parse_and_naive_dates_do_not(leaf):
    for date in ("2025-06-27T14:29:09Z", "2025-06-27T15:29:09.061+01:00"):
        assert verify(independent_sign("POST", URL, BODY, leaf.key, leaf.cert, date)) == []
    for bad in ("2025-06-27T14:29:09.061", "2025-06-27 14:29:09.061Z", "2025-13-27T14:29:09.061Z",
                "27/06/2025 14:29:09", "1751034549"):
        headers = independent_sign("POST", URL, BODY, leaf.key, leaf.cert, bad)
        assert rules(verify(headers)) == {"signature.date"}, bad  # signed as sent, so only the date fails


def test_str_body_and_naive_now(identity):
    headers = sign_request("POST", URL, BODY.decode(), identity, now=NOW.replace(tzinfo=None))
    assert headers[SIGNATURE_DATE] == "2025-06-27T14:29:09.061Z"
    assert verify_request("POST", URL, BODY, headers, now=NOW.replace(tzinfo=None)) == []


def test_werkzeug_request_headers(signed):
    from werkzeug.test import EnvironBuilder

    request = EnvironBuilder(method="POST", path="/dip-channel/IF-061", data=BODY, headers=signed).get_request()
    assert verify(request.headers, body=request.get_data()) == []


# --- signer mistakes are named --------------------------------------------------------------------

@pytest.mark.parametrize("signed_url,hint", [
    ("/dip-channel/if-061", "path only, not the full URL"),
    ("/dip-channel/IF-061", "path only, not lower-cased"),
    (URL, "without lower-casing"),
])
def test_common_signer_mistakes_are_named(leaf, signed_url, hint):
    date, digest = "2025-06-27T14:29:09.061Z", content_hash(BODY)
    sig = leaf.key.sign(f"POST;{signed_url};{date};{digest}".encode(), padding.PKCS1v15(), hashes.SHA256())
    headers = dict(independent_sign("POST", URL, BODY, leaf.key, leaf.cert, date),
                   **{SIGNATURE: base64.b64encode(sig).decode()})
    found = verify(headers)
    assert rules(found) == {"signature.invalid"} and hint in found[0].message


def test_ec_signer(ca):
    key = ec.generate_private_key(ec.SECP256R1())
    identity = ca.issue("ec party", key=key, not_before=SINCE).identity()
    headers = sign_request("POST", URL, BODY, identity, now=NOW)
    assert verify(headers, trust=[ca.cert]) == []
    assert rules(verify(headers, url=URL + "/x")) == {"signature.invalid"}


# --- loading identities ----------------------------------------------------------------------------

def test_load_pem_plain_and_encrypted(tmp_path, leaf, signed):
    cert_path, key_path = leaf.write(tmp_path, "plain")
    assert SigningIdentity.from_files(cert_path, key_path).certificate == leaf.cert
    cert_path, key_path = leaf.write(tmp_path, "locked", password="s3cret-pw")
    identity = SigningIdentity.from_files(cert_path, key_path, password=b"s3cret-pw")
    assert sign_request("POST", URL, BODY, identity, now=NOW) == signed
    assert identity.fingerprint() == "sha256:" + hashlib.sha256(
        leaf.cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert "PRIVATE" not in repr(identity) and "s3cret" not in repr(identity)


def test_load_pkcs12(tmp_path, leaf, signed):
    path = leaf.write_pkcs12(tmp_path / "party.p12", "p12-pw")
    identity = SigningIdentity.from_pkcs12(path, "p12-pw")
    assert sign_request("POST", URL, BODY, identity, now=NOW) == signed


def _one_line_without(exc: pytest.ExceptionInfo, *secrets: str) -> str:
    text = str(exc.value)
    assert "\n" not in text
    for secret in secrets:
        assert secret not in text
    assert exc.value.__cause__ is None or exc.value.__suppress_context__
    return text


def test_wrong_password_is_a_config_error_naming_the_file(tmp_path, leaf):
    cert_path, key_path = leaf.write(tmp_path, "locked", password="right-pw")
    with pytest.raises(ConfigError) as exc:
        SigningIdentity.from_files(cert_path, key_path, password="wrong-pw-123")
    assert str(key_path) in _one_line_without(exc, "wrong-pw-123", "right-pw", "PRIVATE KEY")
    with pytest.raises(ConfigError) as exc:
        SigningIdentity.from_files(cert_path, key_path)
    assert "password is needed" in _one_line_without(exc)
    p12 = leaf.write_pkcs12(tmp_path / "party.p12", "right-pw")
    with pytest.raises(ConfigError) as exc:
        SigningIdentity.from_pkcs12(p12, "wrong-pw-123")
    assert str(p12) in _one_line_without(exc, "wrong-pw-123", "right-pw")


def test_bad_and_missing_files(tmp_path, leaf, other_ca):
    cert_path, key_path = leaf.write(tmp_path, "party")
    missing = tmp_path / "nope.crt"
    with pytest.raises(ConfigError, match="nope.crt: certificate file not found"):
        SigningIdentity.from_files(missing, key_path)
    with pytest.raises(ConfigError, match="party.key: not a PEM certificate"):
        SigningIdentity.from_files(key_path, key_path)  # a key where the certificate should be
    with pytest.raises(ConfigError, match="party.crt: not a PEM private key"):
        SigningIdentity.from_files(cert_path, cert_path)  # a certificate where the key should be
    with pytest.raises(ConfigError, match="private key is not encrypted"):
        SigningIdentity.from_files(cert_path, key_path, password="x")
    other_cert = other_ca.write(tmp_path, "other")
    with pytest.raises(ConfigError, match="does not match the certificate"):
        SigningIdentity.from_files(other_cert, key_path)
    garbage = tmp_path / "garbage.p12"
    garbage.write_bytes(b"not pkcs12")
    with pytest.raises(ConfigError, match="garbage.p12: cannot open PKCS#12"):
        SigningIdentity.from_pkcs12(garbage, "pw")
    with pytest.raises(ConfigError, match="is a folder"):
        SigningIdentity.from_pkcs12(tmp_path, "pw")
