"""DIP message signatures: the four X-DIP-* headers, made and checked.

The algorithm (domain README section 3, [I]: two independent participant implementations agree):

1. ``X-DIP-Signature-Date``: current UTC, ISO-8601 with milliseconds and ``Z``
   (``2025-06-27T14:29:09.061Z``).
2. ``X-DIP-Content-Hash``: base64(SHA-256(exact body bytes)).
3. String to sign: ``METHOD;lower(full URL);date;content-hash``.
4. ``X-DIP-Signature``: base64(RSASSA-PKCS1-v1_5(SHA-256(UTF-8 string to sign))) with the signer's key
   (ECDSA-SHA256 is accepted for EC keys; the DIP itself uses RSA).
5. ``X-DIP-Signature-Certificate``: base64 of the signer's certificate as PEM text (LF line endings).

URL normalisation (ASSUMPTION, the DIP's own rule is [U]): the URL is lower-cased exactly as given,
``scheme://host[:port]/path[?query]``; nothing else is changed (no default-port stripping, no query
re-ordering). A receiver must rebuild the URL from its *own* view of the request (its public base URL
plus the request path and query), not from what a proxy forwarded, and pass that to
:func:`verify_request`. When a signature fails, the verifier tries the usual mistakes (path only, URL
not lower-cased, default port added or dropped, query dropped) and names the one the signer made.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Union
from urllib.parse import urlsplit, urlunsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from harness.core.errors import ConfigError
from harness.core.files import read_config_bytes
from harness.core.findings import Finding, short

SIGNATURE = "X-DIP-Signature"
SIGNATURE_DATE = "X-DIP-Signature-Date"
CONTENT_HASH = "X-DIP-Content-Hash"
SIGNATURE_CERTIFICATE = "X-DIP-Signature-Certificate"
SIGNATURE_HEADERS = (SIGNATURE, SIGNATURE_DATE, CONTENT_HASH, SIGNATURE_CERTIFICATE)

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})")
DEFAULT_SKEW = timedelta(minutes=5)  # ASSUMPTION: the DIP's clock-skew window is [U]

PrivateKey = Union[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey]
Headers = Union[Mapping[str, str], Iterable[tuple[str, str]]]


# --- the algorithm --------------------------------------------------------------------------------

def content_hash(body: bytes | str) -> str:
    """base64(SHA-256(body)); a str body is hashed as its UTF-8 bytes."""
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def string_to_sign(method: str, url: str, date: str, content_hash: str) -> str:
    """``METHOD;lower(url);date;hash``: the method upper-cased, the URL lower-cased as given."""
    return f"{method.upper()};{url.lower()};{date};{content_hash}"


def format_signature_date(now: datetime | None = None) -> str:
    """UTC with milliseconds and ``Z``; a naive datetime is taken to be UTC already."""
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    now = now.astimezone(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def parse_signature_date(text: str) -> datetime | None:
    """An aware datetime, or None unless the text is ISO-8601 extended form with a zone (``Z`` or
    ``+hh:mm``); fractions of a second are optional. A naive time is ambiguous, so it is refused."""
    text = text.strip()
    if not _ISO_DATE.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:  # e.g. month 13
        return None


def _sign(key: PrivateKey, data: bytes) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    raise TypeError(f"unsupported signing key type {type(key).__name__}; use RSA (or EC)")


def _verify(public_key: Any, signature: bytes, data: bytes) -> bool:
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


# --- the signer -----------------------------------------------------------------------------------

def _password(password: bytes | str | None) -> bytes | None:
    return password.encode("utf-8") if isinstance(password, str) else password




def _key_matches(key: PrivateKey, cert: x509.Certificate) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key.public_key().public_bytes(*fmt) == cert.public_key().public_bytes(*fmt)


@dataclass
class SigningIdentity:
    """A signer: private key plus the certificate that goes in X-DIP-Signature-Certificate."""

    private_key: PrivateKey
    certificate: x509.Certificate
    cert_pem: bytes

    def __repr__(self) -> str:  # never show the key
        return f"SigningIdentity(subject={self.certificate.subject.rfc4514_string()!r}, {self.fingerprint()})"

    @classmethod
    def from_key_and_cert(cls, private_key: PrivateKey, certificate: x509.Certificate) -> "SigningIdentity":
        pem = certificate.public_bytes(serialization.Encoding.PEM).replace(b"\r\n", b"\n")
        return cls(private_key, certificate, pem)

    @classmethod
    def from_files(cls, cert: Path | str, key: Path | str,
                   password: bytes | str | None = None) -> "SigningIdentity":
        """PEM certificate (first one in the file is the signer's) and PEM private key."""
        cert_path, key_path = Path(cert), Path(key)
        cert_data = read_config_bytes(cert_path, "certificate")
        try:
            certificate = x509.load_pem_x509_certificates(cert_data)[0]
        except (ValueError, IndexError):
            raise ConfigError(f"{cert_path}: not a PEM certificate (expected '-----BEGIN CERTIFICATE-----')") from None
        key_data = read_config_bytes(key_path, "private key")
        try:
            private_key = serialization.load_pem_private_key(key_data, _password(password))
        except TypeError:
            if password is None:
                raise ConfigError(f"{key_path}: private key is encrypted; a password is needed") from None
            raise ConfigError(f"{key_path}: private key is not encrypted; give no password") from None
        except ValueError:
            if password is not None and b"ENCRYPTED" in key_data:
                raise ConfigError(f"{key_path}: wrong password for the private key") from None
            raise ConfigError(f"{key_path}: not a PEM private key (or wrong password)") from None
        except UnsupportedAlgorithm:
            raise ConfigError(f"{key_path}: unsupported private key algorithm; expected RSA") from None
        return cls._checked(private_key, certificate, key_path)

    @classmethod
    def from_pkcs12(cls, path: Path | str, password: bytes | str | None) -> "SigningIdentity":
        """A PKCS#12 (.p12/.pfx) file holding the key and the signer's certificate."""
        path = Path(path)
        data = read_config_bytes(path, "PKCS#12")
        try:
            private_key, certificate, _ = pkcs12.load_key_and_certificates(data, _password(password))
        except ValueError:
            raise ConfigError(f"{path}: cannot open PKCS#12 file (wrong password or not PKCS#12)") from None
        except UnsupportedAlgorithm:
            raise ConfigError(f"{path}: PKCS#12 file uses an unsupported algorithm") from None
        if private_key is None or certificate is None:
            raise ConfigError(f"{path}: PKCS#12 file must hold both a private key and its certificate")
        return cls._checked(private_key, certificate, path)

    @classmethod
    def _checked(cls, private_key: Any, certificate: x509.Certificate, key_path: Path) -> "SigningIdentity":
        if not isinstance(private_key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            raise ConfigError(f"{key_path}: unsupported private key type {type(private_key).__name__}; expected RSA")
        if not _key_matches(private_key, certificate):
            raise ConfigError(f"{key_path}: private key does not match the certificate's public key")
        return cls.from_key_and_cert(private_key, certificate)

    def fingerprint(self) -> str:
        """``sha256:<hex>`` of the DER certificate: how evidence names a signer."""
        return certificate_fingerprint(self.certificate)

    def certificate_header(self) -> str:
        """The X-DIP-Signature-Certificate value: base64 of the PEM text."""
        return base64.b64encode(self.cert_pem).decode("ascii")


def certificate_fingerprint(certificate: x509.Certificate) -> str:
    return "sha256:" + certificate.fingerprint(hashes.SHA256()).hex()


def sign_request(method: str, url: str, body: bytes | str, identity: SigningIdentity, *,
                 now: datetime | None = None) -> dict[str, str]:
    """The four X-DIP-* headers for one request; send ``body`` byte for byte as hashed here."""
    date = format_signature_date(now)
    digest = content_hash(body)
    signature = _sign(identity.private_key, string_to_sign(method, url, date, digest).encode("utf-8"))
    return {
        SIGNATURE: base64.b64encode(signature).decode("ascii"),
        SIGNATURE_DATE: date,
        CONTENT_HASH: digest,
        SIGNATURE_CERTIFICATE: identity.certificate_header(),
    }


# --- the verifier ---------------------------------------------------------------------------------

def _pairs(headers: Headers) -> list[tuple[str, str]]:
    """Every (name, value) as sent: httpx's `multi_items`, werkzeug's `items`, or a list of pairs."""
    if hasattr(headers, "multi_items"):
        return list(headers.multi_items())
    return list(headers.items() if hasattr(headers, "items") else headers)


def header_lookup(headers: Headers) -> dict[str, str]:
    """Lower-cased name -> value from a mapping, a Headers object or a list of pairs (first one wins)."""
    found: dict[str, str] = {}
    for name, value in _pairs(headers):
        found.setdefault(str(name).lower(), str(value))
    return found


def repeated_headers(headers: Headers) -> dict[str, int]:
    """Lower-cased name -> count, for every header sent more than once."""
    counts: dict[str, int] = {}
    for name, _ in _pairs(headers):
        counts[str(name).lower()] = counts.get(str(name).lower(), 0) + 1
    return {name: count for name, count in counts.items() if count > 1}


def _b64decode(text: str) -> bytes | None:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def _finding(rule: str, header: str, expected: str, actual: str, message: str,
             severity: str = "error") -> Finding:
    return Finding(rule, f"header:{header}", expected, short(actual), message, severity)


def _load_certificate(value: str) -> tuple[list[x509.Certificate], list[Finding]]:
    """The signer's certificate (first) and any chain certificates after it, from the header:
    base64 of PEM text (a PEM file may hold a chain); base64 of DER is accepted with a warning."""
    chain, findings = _parsed_certificate(value)
    return list(chain), list(findings)


@lru_cache(maxsize=64)
def _parsed_certificate(value: str) -> tuple[tuple[x509.Certificate, ...], tuple[Finding, ...]]:
    """`_load_certificate`, kept per header value: a sender sends the same certificate with every
    request, and parsing it each time was a tenth of the hub's time per request (certificates and
    findings are immutable, so sharing them is safe)."""
    chain, findings = _read_certificate(value)
    return tuple(chain), tuple(findings)


def _read_certificate(value: str) -> tuple[list[x509.Certificate], list[Finding]]:
    raw = _b64decode(value)
    if raw is None:
        return [], [_finding("signature.certificate", SIGNATURE_CERTIFICATE, "base64 of a PEM certificate",
                             value, "X-DIP-Signature-Certificate is not valid base64")]
    if b"-----BEGIN" in raw:
        try:
            return x509.load_pem_x509_certificates(raw), []
        except ValueError as exc:
            return [], [_finding("signature.certificate", SIGNATURE_CERTIFICATE, "a parseable PEM certificate",
                                 str(exc), "X-DIP-Signature-Certificate decodes to PEM that is not a certificate")]
    try:
        cert = x509.load_der_x509_certificate(raw)
    except ValueError:
        return [], [_finding("signature.certificate", SIGNATURE_CERTIFICATE, "base64 of a PEM certificate",
                             value, "X-DIP-Signature-Certificate does not decode to a certificate")]
    return [cert], [_finding("signature.certificate", SIGNATURE_CERTIFICATE, "base64 of the PEM text",
                             "base64 of DER", "certificate is base64 of DER, the DIP sends base64 of the PEM text",
                             severity="warning")]


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def is_trusted(cert: x509.Certificate, trust: Sequence[x509.Certificate],
               intermediates: Sequence[x509.Certificate] = ()) -> bool:
    """True when ``cert`` is in ``trust``, or is signed by a certificate in it, possibly through
    ``intermediates`` (the rest of the chain the signer sent). Names and signatures only: validity
    dates and CA constraints of the issuers are not checked (ASSUMPTION: enough for a test harness)."""
    current = cert
    chain = list(intermediates)
    for _ in range(len(chain) + 1):
        if any(anchor == current or _issued_by(current, anchor) for anchor in trust):
            return True
        parent = next((c for c in chain if c != current and _issued_by(current, c)), None)
        if parent is None:
            return False
        chain.remove(parent)
        current = parent
    return False


def _url_variants(url: str) -> list[tuple[str, str]]:
    """Signer mistakes we can name when a signature fails: (what the signer did, URL text it signed)."""
    parts = urlsplit(url)
    path_query = parts.path + (f"?{parts.query}" if parts.query else "")
    variants = [("signed the URL without lower-casing it", url),
                ("signed the path only, not the full URL", path_query.lower()),
                ("signed the path only, not lower-cased", path_query),
                ("signed the URL without its query string", urlunsplit(parts._replace(query="")).lower())]
    default = {"https": 443, "http": 80}.get(parts.scheme.lower())
    if default and parts.port is None and parts.hostname:
        variants.append(("signed the URL with the default port",
                         urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default}")).lower()))
    if default and parts.port == default:
        variants.append(("signed the URL without the default port",
                         urlunsplit(parts._replace(netloc=parts.netloc.rsplit(":", 1)[0])).lower()))
    return variants


def _diagnose(public_key: Any, signature: bytes, method: str, url: str, date: str, digest: str) -> str | None:
    """Which common signer mistake explains a failed signature, if any (cheap: a few verifications)."""
    candidates = [(what, f"{method.upper()};{signed};{date};{digest}") for what, signed in _url_variants(url)]
    candidates.append(("signed the method in lower case", f"{method.lower()};{url.lower()};{date};{digest}"))
    for what, text in candidates:
        if _verify(public_key, signature, text.encode("utf-8")):
            return what
    return None


def verify_request(method: str, url: str, body: bytes | str, headers: Headers, *,
                   expected_certificate: x509.Certificate | None = None,
                   trust: Sequence[x509.Certificate] = (),
                   skew: timedelta = DEFAULT_SKEW,
                   now: datetime | None = None) -> list[Finding]:
    """Every way the request's X-DIP-* headers fail; empty when the signature is good.

    ``url`` must be the receiver's own view of the full request URL. Each check runs when the headers
    it needs are present, so one request can show several independent faults.
    """
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    pairs = _pairs(headers)  # read once: a werkzeug request's headers are re-read from its environ each time
    found = header_lookup(pairs)
    repeated = repeated_headers(pairs)
    values: dict[str, str] = {}
    findings: list[Finding] = []
    for name in SIGNATURE_HEADERS:
        if name.lower() in repeated:
            # Proxies and frameworks disagree on which copy wins (or join them): a receiver cannot
            # know which one was signed, so a repeated X-DIP-* header fails. The first is checked on.
            count = repeated[name.lower()]
            findings.append(_finding("signature.duplicate-header", name, f"one {name} header", f"{count} headers",
                                     f"{name} is sent {count} times; send each X-DIP-* header once"))
        value = found.get(name.lower(), "").strip()
        if value:
            values[name] = value
        else:
            findings.append(_finding("signature.missing-header", name, f"{name} header",
                                     "empty" if name.lower() in found else "absent",
                                     f"{name} header is {'empty' if name.lower() in found else 'missing'}"))

    digest = content_hash(body)
    if CONTENT_HASH in values and values[CONTENT_HASH] != digest:
        findings.append(_finding("signature.hash", CONTENT_HASH, digest, values[CONTENT_HASH],
                                 "X-DIP-Content-Hash is not base64(SHA-256) of the body as received"))

    cert = None
    if SIGNATURE_CERTIFICATE in values:
        chain, cert_findings = _load_certificate(values[SIGNATURE_CERTIFICATE])
        findings.extend(cert_findings)
        if chain:
            cert = chain[0]
            findings.extend(_certificate_checks(cert, chain[1:], now, trust, expected_certificate))

    if SIGNATURE_DATE in values:
        findings.extend(_date_checks(values[SIGNATURE_DATE], now, skew))

    if cert is not None and SIGNATURE in values and SIGNATURE_DATE in values and CONTENT_HASH in values:
        findings.extend(_signature_check(cert, values, method, url))
    return findings


def _certificate_checks(cert: x509.Certificate, intermediates: Sequence[x509.Certificate], now: datetime,
                        trust: Sequence[x509.Certificate], expected: x509.Certificate | None) -> list[Finding]:
    out: list[Finding] = []
    not_before, not_after = _validity(cert)
    if now > not_after:
        out.append(_finding("signature.expired", SIGNATURE_CERTIFICATE, f"valid at {now.isoformat()}",
                            f"expired {not_after.isoformat()}", "signing certificate has expired"))
    if now < not_before:
        out.append(_finding("signature.not-yet-valid", SIGNATURE_CERTIFICATE, f"valid at {now.isoformat()}",
                            f"valid from {not_before.isoformat()}", "signing certificate is not valid yet"))
    if trust and not is_trusted(cert, trust, intermediates):
        out.append(_finding("signature.untrusted", SIGNATURE_CERTIFICATE,
                            "issued by a trusted CA: " + ", ".join(a.subject.rfc4514_string() for a in trust),
                            f"issuer {cert.issuer.rfc4514_string()}",
                            "signing certificate is not issued by a trusted CA"))
    if expected is not None and expected != cert:
        out.append(_finding("signature.unexpected-certificate", SIGNATURE_CERTIFICATE,
                            certificate_fingerprint(expected), certificate_fingerprint(cert),
                            "signing certificate is not the one registered for this sender"))
    return out


@lru_cache(maxsize=64)
def _validity(cert: x509.Certificate) -> tuple[datetime, datetime]:
    """(not before, not after) of a certificate, read once per certificate."""
    return cert.not_valid_before_utc, cert.not_valid_after_utc


@lru_cache(maxsize=64)
def _public_key(cert: x509.Certificate) -> Any:
    """A certificate's public key, loaded once per certificate."""
    return cert.public_key()


def _date_checks(date: str, now: datetime, skew: timedelta) -> list[Finding]:
    parsed = parse_signature_date(date)
    if parsed is None:
        return [_finding("signature.date", SIGNATURE_DATE, "UTC ISO-8601 like 2025-06-27T14:29:09.061Z", date,
                         "X-DIP-Signature-Date is not an ISO-8601 time with a zone")]
    if abs(parsed - now) > skew:
        direction = "ahead of" if parsed > now else "behind"
        return [_finding("signature.skew", SIGNATURE_DATE, f"within {skew} of {format_signature_date(now)}", date,
                         f"X-DIP-Signature-Date is {abs(parsed - now)} {direction} the receiver's clock")]
    return []


def _signature_check(cert: x509.Certificate, values: dict[str, str], method: str, url: str) -> list[Finding]:
    signature = _b64decode(values[SIGNATURE])
    if signature is None:
        return [_finding("signature.invalid", SIGNATURE, "base64 signature", values[SIGNATURE],
                         "X-DIP-Signature is not valid base64")]
    public_key = _public_key(cert)
    if not isinstance(public_key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        return [_finding("signature.invalid", SIGNATURE, "RSA (or EC) certificate key", type(public_key).__name__,
                         "signing certificate's key type cannot verify a DIP signature")]
    date, digest = values[SIGNATURE_DATE], values[CONTENT_HASH]
    text = string_to_sign(method, url, date, digest)
    if _verify(public_key, signature, text.encode("utf-8")):
        return []
    hint = _diagnose(public_key, signature, method, url, date, digest)
    message = ("X-DIP-Signature does not verify over METHOD;url;date;hash with the certificate's key"
               + (f": the signer {hint}" if hint else ""))
    return [_finding("signature.invalid", SIGNATURE, f"signature over {text}", values[SIGNATURE], message)]
