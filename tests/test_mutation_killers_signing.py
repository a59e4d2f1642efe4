"""Tests that catch a broken signature check (issue 21): a chain certificate that did not issue the
leaf, validity to the second, repeated X-DIP-* headers, and the exact finding of each failure."""

from __future__ import annotations

import base64
import hashlib
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding
from werkzeug.datastructures import Headers

from harness.core.errors import ConfigError
from harness.core.findings import Finding
from harness.transport import certs
from harness.transport.signing import (
    CONTENT_HASH,
    SIGNATURE,
    SIGNATURE_CERTIFICATE,
    SIGNATURE_DATE,
    SIGNATURE_HEADERS,
    SigningIdentity,
    _url_variants,
    _verify,
    certificate_fingerprint,
    format_signature_date,
    header_lookup,
    is_trusted,
    parse_signature_date,
    repeated_headers,
    sign_request,
    verify_request,
)

URL = "https://127.0.0.1:8443/dip-channel/IF-061"
BODY = b'[{"payload":{}}]'
NOW = datetime(2025, 6, 27, 14, 29, 9, 61000, tzinfo=timezone.utc)
SINCE = NOW - timedelta(days=1)


@pytest.fixture(scope="module")
def ca():
    return certs.make_ca("killer trusted CA", key=certs.cached_key("test-ca"), not_before=SINCE)


@pytest.fixture(scope="module")
def rogue():
    return certs.make_ca("killer rogue CA", key=certs.cached_key("test-other-ca"), not_before=SINCE)


def verify(headers, **kw):
    kw.setdefault("now", NOW)
    return verify_request("POST", URL, BODY, headers, **kw)


def with_chain(headers: dict, *pems: bytes) -> dict:
    return dict(headers, **{SIGNATURE_CERTIFICATE: base64.b64encode(b"".join(pems)).decode()})


# --- trust through a chain ---------------------------------------------------------------------------

def test_a_chain_certificate_that_did_not_issue_the_leaf_does_not_make_it_trusted(ca, rogue):
    """A rogue signer appends a genuine intermediate of the trusted CA: the intermediate vouches
    for nothing it did not sign."""
    genuine = ca.issue("genuine intermediate", key=certs.cached_key("test-other-leaf"), not_before=SINCE)
    leaf = rogue.issue("rogue party", key=certs.cached_key("test-leaf"), not_before=SINCE)
    headers = with_chain(sign_request("POST", URL, BODY, leaf.identity(), now=NOW), leaf.cert_pem, genuine.cert_pem)
    assert [f.rule for f in verify(headers, trust=[ca.cert])] == ["signature.untrusted"]
    assert not is_trusted(leaf.cert, [ca.cert], [genuine.cert])
    assert not is_trusted(leaf.cert, [ca.cert], [genuine.cert, ca.cert])
    # an intermediate with the rogue CA's *name* but issued by the trusted CA: still not the leaf's issuer
    namesake = ca.issue("killer rogue CA", key=certs.cached_key("test-other-leaf"), not_before=SINCE)
    assert not is_trusted(leaf.cert, [ca.cert], [namesake.cert])
    # the real path: the rogue CA's own certificate, issued by nobody trusted
    assert not is_trusted(leaf.cert, [ca.cert], [rogue.cert])
    assert is_trusted(leaf.cert, [rogue.cert]) and is_trusted(leaf.cert, [leaf.cert])


def test_a_two_level_chain_in_any_order_is_trusted_and_a_broken_one_is_not(ca, rogue):
    first = ca.issue("level one", key=certs.cached_key("test-other-ca"), not_before=SINCE)
    level1 = certs.CertificateAuthority(first.key, first.cert)
    second = level1.issue("level two", key=certs.cached_key("test-other-leaf"), not_before=SINCE)
    level2 = certs.CertificateAuthority(second.key, second.cert)
    leaf = level2.issue("deep party", key=certs.cached_key("test-leaf"), not_before=SINCE)
    assert is_trusted(leaf.cert, [ca.cert], [second.cert, first.cert])
    assert is_trusted(leaf.cert, [ca.cert], [first.cert, second.cert])
    assert is_trusted(leaf.cert, [rogue.cert, ca.cert], [rogue.cert, first.cert, second.cert])
    assert is_trusted(leaf.cert, [second.cert])  # an intermediate may itself be the anchor
    assert not is_trusted(leaf.cert, [ca.cert], [second.cert])  # a link is missing
    assert not is_trusted(leaf.cert, [ca.cert], [first.cert])
    assert not is_trusted(leaf.cert, [ca.cert], [])
    assert not is_trusted(leaf.cert, [], [second.cert, first.cert])


# --- validity to the second -------------------------------------------------------------------------

def test_certificate_validity_is_judged_to_the_second(ca):
    cert = ca.issue("brief", key=certs.cached_key("test-leaf"), not_before=NOW - timedelta(days=10),
                    not_after=NOW - timedelta(days=2))
    end, start = cert.cert.not_valid_after_utc, cert.cert.not_valid_before_utc

    def rules_at(moment: datetime) -> list[str]:
        headers = sign_request("POST", URL, BODY, cert.identity(), now=moment)
        return [f.rule for f in verify(headers, now=moment)]

    assert rules_at(end) == [] and rules_at(start) == []
    assert rules_at(end + timedelta(seconds=1)) == ["signature.expired"]
    assert rules_at(end + timedelta(hours=23)) == ["signature.expired"]  # not a day of grace
    assert rules_at(start - timedelta(seconds=1)) == ["signature.not-yet-valid"]
    headers = sign_request("POST", URL, BODY, cert.identity(), now=end + timedelta(seconds=1))
    [expired] = verify(headers, now=end + timedelta(seconds=1))
    assert expired == Finding("signature.expired", f"header:{SIGNATURE_CERTIFICATE}",
                              f"valid at {(end + timedelta(seconds=1)).isoformat()}", f"expired {end.isoformat()}",
                              "signing certificate has expired")
    headers = sign_request("POST", URL, BODY, cert.identity(), now=start - timedelta(seconds=1))
    [early] = verify(headers, now=start - timedelta(seconds=1))
    assert (early.expected, early.actual, early.message) == (
        f"valid at {(start - timedelta(seconds=1)).isoformat()}", f"valid from {start.isoformat()}",
        "signing certificate is not valid yet")


# --- repeated headers --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SIGNATURE_HEADERS)
@pytest.mark.parametrize("kind", ["pairs", "werkzeug", "httpx"])
def test_a_repeated_x_dip_header_fails_even_when_the_first_copy_is_good(ca, name, kind):
    leaf = ca.issue("twice", key=certs.cached_key("test-leaf"), not_before=SINCE)
    signed = sign_request("POST", URL, BODY, leaf.identity(), now=NOW)
    pairs = list(signed.items()) + [(name.lower(), signed[name])]  # the same value again
    headers = {"pairs": lambda: pairs, "werkzeug": lambda: Headers(pairs),
               "httpx": lambda: httpx.Headers(pairs)}[kind]()
    found = verify(headers, trust=[ca.cert])
    assert found[0] == Finding("signature.duplicate-header", f"header:{name}", f"one {name} header", "2 headers",
                               f"{name} is sent 2 times; send each X-DIP-* header once")
    if kind != "httpx":  # httpx joins repeated values ("a, a"), which then fails on its own as well
        assert found[1:] == []


def test_the_first_copy_is_the_one_checked(ca):
    leaf = ca.issue("first wins", key=certs.cached_key("test-leaf"), not_before=SINCE)
    signed = sign_request("POST", URL, BODY, leaf.identity(), now=NOW)
    forged = dict(signed, **{CONTENT_HASH: "AAAA" + signed[CONTENT_HASH][4:]})
    good_first = list(signed.items()) + [(CONTENT_HASH, forged[CONTENT_HASH])]
    bad_first = [(CONTENT_HASH, forged[CONTENT_HASH])] + list(signed.items())
    assert [f.rule for f in verify(good_first)] == ["signature.duplicate-header"]
    assert [f.rule for f in verify(bad_first)] == ["signature.duplicate-header", "signature.hash", "signature.invalid"]
    assert header_lookup(good_first)[CONTENT_HASH.lower()] == signed[CONTENT_HASH]
    assert repeated_headers(good_first + [("X-Other", "1"), ("x-other", "2")]) == \
        {CONTENT_HASH.lower(): 2, "x-other": 2}
    assert repeated_headers(signed) == {}


# --- the exact findings ------------------------------------------------------------------------------

def test_missing_and_empty_headers_are_named(ca):
    leaf = ca.issue("partial", key=certs.cached_key("test-leaf"), not_before=SINCE)
    signed = sign_request("POST", URL, BODY, leaf.identity(), now=NOW)
    found = verify({k: v for k, v in signed.items() if k != SIGNATURE_DATE} | {SIGNATURE: " "})
    assert found == [
        Finding("signature.missing-header", f"header:{SIGNATURE}", f"{SIGNATURE} header", "empty",
                f"{SIGNATURE} header is empty"),
        Finding("signature.missing-header", f"header:{SIGNATURE_DATE}", f"{SIGNATURE_DATE} header", "absent",
                f"{SIGNATURE_DATE} header is missing")]


def test_hash_untrusted_and_unexpected_findings(ca, rogue):
    leaf = ca.issue("exact", key=certs.cached_key("test-leaf"), not_before=SINCE)
    signed = sign_request("POST", URL, BODY, leaf.identity(), now=NOW)
    other = rogue.issue("other", key=certs.cached_key("test-other-leaf"), not_before=SINCE)
    found = verify_request("POST", URL, BODY + b" ", signed, now=NOW, trust=[rogue.cert],
                           expected_certificate=other.cert)
    digest = base64.b64encode(hashlib.sha256(BODY + b" ").digest()).decode()
    assert found == [
        Finding("signature.hash", f"header:{CONTENT_HASH}", digest, signed[CONTENT_HASH],
                "X-DIP-Content-Hash is not base64(SHA-256) of the body as received"),
        Finding("signature.untrusted", f"header:{SIGNATURE_CERTIFICATE}",
                f"issued by a trusted CA: {rogue.cert.subject.rfc4514_string()}",
                f"issuer {ca.cert.subject.rfc4514_string()}",
                "signing certificate is not issued by a trusted CA"),
        Finding("signature.unexpected-certificate", f"header:{SIGNATURE_CERTIFICATE}",
                certificate_fingerprint(other.cert), certificate_fingerprint(leaf.cert),
                "signing certificate is not the one registered for this sender")]


def test_skew_findings_say_which_way(ca):
    leaf = ca.issue("skewed", key=certs.cached_key("test-leaf"), not_before=SINCE)
    for offset, direction in ((timedelta(minutes=6), "ahead of"), (-timedelta(minutes=6), "behind")):
        headers = sign_request("POST", URL, BODY, leaf.identity(), now=NOW + offset)
        [finding] = verify(headers)
        assert finding == Finding("signature.skew", f"header:{SIGNATURE_DATE}",
                                  "within 0:05:00 of 2025-06-27T14:29:09.061Z", headers[SIGNATURE_DATE],
                                  f"X-DIP-Signature-Date is 0:06:00 {direction} the receiver's clock")
    for offset in (timedelta(minutes=5), -timedelta(minutes=5)):  # the window's edges are inside it
        assert verify(sign_request("POST", URL, BODY, leaf.identity(), now=NOW + offset)) == []
    assert verify(sign_request("POST", URL, BODY, leaf.identity(), now=NOW + timedelta(minutes=6)),
                  skew=timedelta(minutes=7)) == []
    bad, invalid = verify(dict(sign_request("POST", URL, BODY, leaf.identity(), now=NOW), **{SIGNATURE_DATE: "today"}))
    assert invalid.rule == "signature.invalid"  # the date is signed over, too
    assert bad == Finding("signature.date", f"header:{SIGNATURE_DATE}", "UTC ISO-8601 like 2025-06-27T14:29:09.061Z",
                          "today", "X-DIP-Signature-Date is not an ISO-8601 time with a zone")


@pytest.mark.parametrize("text, parsed", [
    (" 2025-06-27T14:29:09Z ", datetime(2025, 6, 27, 14, 29, 9, tzinfo=timezone.utc)),
    ("2025-06-27T15:29:09.5+01:00", datetime(2025, 6, 27, 14, 29, 9, 500000, tzinfo=timezone.utc)),
    ("2025-06-27T14:29:09", None), ("2025-13-27T14:29:09Z", None), ("2025-06-27 14:29:09Z", None),
    ("2025-06-27T14:29:09.1234567Z", None), ("x2025-06-27T14:29:09Z", None),
])
def test_signature_dates(text, parsed):
    assert parse_signature_date(text) == parsed


# --- naming the signer's mistake ---------------------------------------------------------------------

def test_the_url_variants_a_signer_may_have_signed():
    assert _url_variants("https://Hub.Example/dip-channel/IF-061?A=B") == [
        ("signed the URL without lower-casing it", "https://Hub.Example/dip-channel/IF-061?A=B"),
        ("signed the path only, not the full URL", "/dip-channel/if-061?a=b"),
        ("signed the path only, not lower-cased", "/dip-channel/IF-061?A=B"),
        ("signed the URL without its query string", "https://hub.example/dip-channel/if-061"),
        ("signed the URL with the default port", "https://hub.example:443/dip-channel/if-061?a=b")]
    assert _url_variants("HTTP://hub:80/x")[-1] == ("signed the URL without the default port", "http://hub/x")
    assert _url_variants("http://hub/x")[-1] == ("signed the URL with the default port", "http://hub:80/x")
    assert _url_variants("http://hub/x")[1] == ("signed the path only, not the full URL", "/x")
    assert len(_url_variants("https://hub:8443/x")) == 4  # no default port to add or drop
    assert len(_url_variants("ftp://hub/x")) == 4 and len(_url_variants("https:///x")) == 4


@pytest.mark.parametrize("signed, hint", [
    ("post;https://hub.example/dip-channel/if-061?a=b", "signed the method in lower case"),
    ("POST;https://hub.example:443/dip-channel/if-061?a=b", "signed the URL with the default port"),
    ("POST;https://hub.example/dip-channel/if-061", "signed the URL without its query string"),
    ("POST;/dip-channel/if-061?a=b", "signed the path only, not the full URL"),
    ("POST;https://Hub.Example/dip-channel/IF-061?A=B", "signed the URL without lower-casing it"),
    ("PUT;https://hub.example/dip-channel/if-061?a=b", None),
])
def test_a_failed_signature_names_the_mistake(ca, signed, hint):
    leaf = ca.issue("mistaken", key=certs.cached_key("test-leaf"), not_before=SINCE)
    url = "https://Hub.Example/dip-channel/IF-061?A=B"
    headers = sign_request("POST", url, BODY, leaf.identity(), now=NOW)
    text = f"{signed};{headers[SIGNATURE_DATE]};{headers[CONTENT_HASH]}"
    headers[SIGNATURE] = base64.b64encode(leaf.key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()
    [finding] = verify_request("POST", url, BODY, headers, now=NOW)
    base = "X-DIP-Signature does not verify over METHOD;url;date;hash with the certificate's key"
    assert finding.message == (f"{base}: the signer {hint}" if hint else base)
    assert finding.expected == (f"signature over POST;https://hub.example/dip-channel/if-061?a=b;"
                                f"{headers[SIGNATURE_DATE]};{headers[CONTENT_HASH]}")


def test_a_missing_pkcs12_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="PKCS#12 file not found"):
        SigningIdentity.from_pkcs12(tmp_path / "nope.p12", "pw")


# --- every certificate-header and signature-header finding, exactly ------------------------------------

def test_certificate_header_findings(ca):
    leaf = ca.issue("header", key=certs.cached_key("test-leaf"), not_before=SINCE)
    signed = sign_request("POST", URL, BODY, leaf.identity(), now=NOW)
    path = f"header:{SIGNATURE_CERTIFICATE}"

    def first(value: str) -> Finding:
        return verify(dict(signed, **{SIGNATURE_CERTIFICATE: value}))[0]

    assert first("%%%") == Finding("signature.certificate", path, "base64 of a PEM certificate", "%%%",
                                   "X-DIP-Signature-Certificate is not valid base64")
    broken = first(base64.b64encode(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").decode())
    assert (broken.rule, broken.path, broken.expected, broken.message) == (
        "signature.certificate", path, "a parseable PEM certificate",
        "X-DIP-Signature-Certificate decodes to PEM that is not a certificate")
    assert broken.actual and broken.actual != "None"
    junk = base64.b64encode(b"not a certificate at all").decode()
    assert first(junk) == Finding("signature.certificate", path, "base64 of a PEM certificate", junk,
                                  "X-DIP-Signature-Certificate does not decode to a certificate")
    der = base64.b64encode(leaf.cert.public_bytes(serialization.Encoding.DER)).decode()
    assert verify(dict(signed, **{SIGNATURE_CERTIFICATE: der})) == [Finding(
        "signature.certificate", path, "base64 of the PEM text", "base64 of DER",
        "certificate is base64 of DER, the DIP sends base64 of the PEM text", "warning")]


def test_signature_header_findings(ca):
    leaf = ca.issue("sig", key=certs.cached_key("test-leaf"), not_before=SINCE)
    signed = sign_request("POST", URL, BODY, leaf.identity(), now=NOW)
    assert verify(dict(signed, **{SIGNATURE: "@@"})) == [Finding(
        "signature.invalid", f"header:{SIGNATURE}", "base64 signature", "@@", "X-DIP-Signature is not valid base64")]
    edwards = ed25519.Ed25519PrivateKey.generate()
    odd = ca.issue("ed25519 party", key=edwards, not_before=SINCE)
    headers = dict(signed, **{SIGNATURE_CERTIFICATE: base64.b64encode(odd.cert_pem).decode()})
    [finding] = verify(headers)
    assert finding == Finding("signature.invalid", f"header:{SIGNATURE}", "RSA (or EC) certificate key",
                              type(odd.cert.public_key()).__name__,
                              "signing certificate's key type cannot verify a DIP signature")
    assert not _verify(odd.cert.public_key(), b"sig", b"data")
    with pytest.raises(TypeError, match=f"^unsupported signing key type {type(edwards).__name__}; use RSA"):
        sign_request("POST", URL, BODY, SigningIdentity(edwards, odd.cert, odd.cert_pem))


def test_signature_dates_do_not_depend_on_the_machines_time_zone(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert format_signature_date(datetime(2025, 6, 27, 14, 29, 9, 61000)) == "2025-06-27T14:29:09.061Z"
        now = parse_signature_date(format_signature_date())
        assert abs(now - datetime.now(timezone.utc)) < timedelta(minutes=1)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_key_file_errors_are_named(tmp_path, ca):
    leaf = ca.issue("files", key=certs.cached_key("test-leaf"), not_before=SINCE)
    cert_path, key_path = leaf.write(tmp_path, "party")
    with pytest.raises(ConfigError, match="nope.key: private key file not found"):
        SigningIdentity.from_files(cert_path, tmp_path / "nope.key")
    fake = tmp_path / "fake.key"
    fake.write_bytes(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")
    with pytest.raises(ConfigError, match="fake.key: not a PEM private key"):
        SigningIdentity.from_files(cert_path, fake)
    with pytest.raises(ConfigError, match="fake.key: wrong password for the private key"):
        SigningIdentity.from_files(cert_path, fake, password="pw")
    plain_garbage = tmp_path / "plain.key"
    plain_garbage.write_bytes(b"nothing like a key")
    with pytest.raises(ConfigError, match="plain.key: not a PEM private key"):
        SigningIdentity.from_files(cert_path, plain_garbage, password="pw")
    edwards = tmp_path / "ed.key"
    edwards.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with pytest.raises(ConfigError, match="ed.key: unsupported private key type Ed25519PrivateKey; expected RSA"):
        SigningIdentity.from_files(cert_path, edwards)
