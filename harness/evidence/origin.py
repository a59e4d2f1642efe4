"""Who signed a bundle, and whether the reviewer's anchors vouch for it (ARCHITECTURE.md, "Trust").

Integrity (hashes, chain, signature) shows that a bundle was not changed after it was signed; it
says nothing about *who* signed it: anyone can make a key, edit a bundle, recompute every hash and
sign it. Origin is answered only from what the reviewer brings:

- `trust`: CA certificates the signer's certificate must be issued by (`--trust CA.pem`);
- `signers`: fingerprints of the signing certificates the parties registered with the DIP, which
  the DIP Manager holds (`--signer sha256:...` or `--signer party-cert.pem`). A CA issues
  certificates to every party; only the pin says which of them is *this* party's.

Verified origin needs both. Without a CA the origin is unverified; with a CA but no pin any
certificate that CA issued could have signed. `integrity_only` is the explicit choice to check
integrity alone. The DIP's own certificate (a countersigned transcript, `--dip-cert`) is a
different anchor and is not part of this dataclass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from harness.core.errors import ConfigError, UsageError
from harness.core.files import read_config_bytes
from harness.evidence.bundle import certificate_fingerprint

VERIFIED = "verified"  # issued by a trusted CA and a pinned certificate
UNPINNED = "unpinned"  # issued by a trusted CA, but which of its certificates is the party's is not pinned
UNVERIFIED = "unverified"  # no CA given: who signed is unknown
NOT_CHECKED = "not-checked"  # --integrity-only: origin deliberately not checked
FAILED = "failed"  # an anchor was given and the signer does not meet it (see the findings)
UNSIGNED = "unsigned"  # no signature that verifies: nothing ties the bundle to anyone

_PIN = re.compile(r"^sha256:([0-9a-f]{64})$")


@dataclass(frozen=True)
class Anchors:
    """What the reviewer trusts. Empty: nothing, so the origin cannot be verified."""

    trust: tuple[Any, ...] = ()  # x509.Certificate
    signers: tuple[str, ...] = ()  # "sha256:<hex>" of DER certificates
    integrity_only: bool = False

    @property
    def complete(self) -> bool:
        """Both anchors given: a verified origin is possible."""
        return bool(self.trust) and bool(self.signers)


NO_ANCHORS = Anchors()


@dataclass
class Origin:
    """The signer as the bundle shows it, and what the anchors say about it."""

    status: str = UNSIGNED
    subject: str | None = None
    issuer: str | None = None
    fingerprint: str | None = None
    not_after: str | None = None
    trusted_by: str | None = None  # subject of the trust anchor that issued it
    pinned: bool = False

    @property
    def verified(self) -> bool:
        return self.status == VERIFIED

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "subject": self.subject, "fingerprint": self.fingerprint,
                "issuer": self.issuer, "not_after": self.not_after, "trusted_by": self.trusted_by,
                "pinned": self.pinned, "explanation": self.explanation}

    @property
    def explanation(self) -> str:
        """One line for a reviewer: what was and what was not established about who signed."""
        return {
            VERIFIED: f"signed by a certificate you pinned (--signer), issued by {self.trusted_by}",
            UNPINNED: f"issued by {self.trusted_by}, but not pinned to the party: any certificate that CA issued "
                      f"could have signed; give --signer with the certificate the party registered",
            UNVERIFIED: "NOT verified: no --trust given, so anyone could have made and signed this bundle",
            NOT_CHECKED: "NOT checked (--integrity-only): who signed this bundle was not verified",
            FAILED: "FAILED: the signer does not meet the anchors given (see the findings)",
            UNSIGNED: "no valid signature: nothing ties this bundle to a party",
        }[self.status]


def describe(cert: Any) -> Origin:
    """The signer fields of an Origin for `cert` (status left to the caller)."""
    return Origin(subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(),
                  fingerprint=certificate_fingerprint(cert), not_after=cert.not_valid_after_utc.isoformat())


def issued_by_any(cert: Any, trust: Sequence[Any]) -> Any:
    """The anchor in `trust` that is `cert` itself or directly issued it, else None."""
    for anchor in trust:
        if anchor == cert:
            return anchor
        if anchor.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(anchor)
            return anchor
        except Exception:  # ValueError, TypeError, InvalidSignature: all mean "not this anchor"
            continue
    return None


# -- loading what the reviewer brings (one line per mistake) ----------------------------------------
def load_trust(paths: Iterable[Path], *, option: str = "--trust") -> tuple[Any, ...]:
    """The CA certificates in PEM files; ConfigError naming the file for a folder, unreadable or non-PEM file."""
    certs: list[Any] = []
    for path in paths:
        data = read_config_bytes(Path(path), "trust certificate", where=option)
        try:
            certs.extend(x509.load_pem_x509_certificates(data))
        except ValueError:
            raise ConfigError(f"{option}: {path}: not a PEM certificate file (expected -----BEGIN CERTIFICATE-----)") \
                from None
    return tuple(certs)


def parse_pin(spec: str, *, option: str = "--signer") -> tuple[str, ...]:
    """`sha256:<hex>` (colons and case ignored) or a PEM certificate file -> its fingerprint(s)."""
    text = spec.strip()
    if text.lower().startswith("sha256:"):
        value = "sha256:" + text[7:].replace(":", "").lower()
        if not _PIN.match(value):
            raise UsageError(f"{option} {spec!r}: expected sha256: and 64 hex digits (the SHA-256 of the "
                             f"certificate's DER bytes), or a PEM certificate file")
        return (value,)
    path = Path(text)
    if not path.exists():
        raise UsageError(f"{option} {spec!r}: neither sha256:<64 hex digits> nor an existing certificate file")
    data = read_config_bytes(path, "signer certificate", where=option)
    try:
        return tuple(certificate_fingerprint(c) for c in x509.load_pem_x509_certificates(data))
    except ValueError:
        raise ConfigError(f"{option}: {path}: not a PEM certificate file (expected -----BEGIN CERTIFICATE-----)") \
            from None


def load_anchors(trust: Iterable[Path] = (), signers: Iterable[str] = (), *, integrity_only: bool = False,
                 required: bool = False, command: str = "verify") -> Anchors:
    """Anchors from command-line values. `required`: without --trust the caller must say --integrity-only."""
    trust, signers = list(trust), list(signers)
    if integrity_only and (trust or signers):
        raise UsageError("--integrity-only checks integrity alone: do not combine it with --trust or --signer")
    if required and not trust and not integrity_only:
        raise UsageError(f"{command} needs --trust CA.pem (the CA that issued the parties' signing certificates) "
                         f"to check who signed the bundles, or --integrity-only to check their integrity alone")
    pins: list[str] = []
    for spec in signers:
        pins.extend(parse_pin(spec))
    return Anchors(trust=load_trust(trust), signers=tuple(dict.fromkeys(pins)), integrity_only=integrity_only)
