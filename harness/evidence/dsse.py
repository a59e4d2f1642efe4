"""DSSE envelopes (the in-toto Dead Simple Signing Envelope, v1) for what dipcert countersigns.

A signed statement is `{"payloadType", "payload" (base64), "signatures": [{"keyid", "sig", "cert"}]}`;
the signature covers PAE(payloadType, payload), so the type cannot be swapped and the payload is
signed as exact bytes, not as re-serialised JSON. We use the published format instead of one of our
own so that a reviewer can check a DIP transcript with any DSSE tool. `keyid` is the signer's
certificate fingerprint (`sha256:<hex of DER>`); `cert` (PEM) is an unauthenticated hint: trust
comes from the certificate the verifier brings, never from the envelope.
Spec: https://github.com/secure-systems-lab/dsse (protocol.md, envelope.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from harness.core.errors import ConfigError


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what the signature covers."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def keyid(certificate: x509.Certificate) -> str:
    return "sha256:" + hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def _sign(key: Any, data: bytes) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    raise ConfigError(f"signing key type {type(key).__name__} is not supported (expected RSA or EC)")


def _verifies(certificate: x509.Certificate, signature: bytes, data: bytes) -> bool:
    key = certificate.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def sign_envelope(payload_type: str, payload: bytes, identity: Any) -> dict[str, Any]:
    """An envelope over `payload` signed by `identity` (a SigningIdentity: private_key, certificate)."""
    cert = identity.certificate
    signature = _sign(identity.private_key, pae(payload_type, payload))
    return {"payloadType": payload_type, "payload": base64.b64encode(payload).decode("ascii"),
            "signatures": [{"keyid": keyid(cert), "sig": base64.b64encode(signature).decode("ascii"),
                            "cert": cert.public_bytes(serialization.Encoding.PEM).decode("ascii")}]}


class EnvelopeError(ValueError):
    """The envelope is malformed, of another type, or not signed by any trusted certificate."""


@dataclass(frozen=True)
class Verified:
    payload: bytes
    signer: x509.Certificate


def verify_envelope(envelope: Any, trusted: Sequence[x509.Certificate], *, payload_type: str) -> Verified:
    """The payload, when one signature verifies under one of `trusted`; EnvelopeError (one line) otherwise."""
    if not isinstance(envelope, Mapping):
        raise EnvelopeError("the envelope is not a JSON object")
    if envelope.get("payloadType") != payload_type:
        raise EnvelopeError(f"payloadType is {str(envelope.get('payloadType'))[:80]!r}, expected {payload_type!r}")
    raw, signatures = envelope.get("payload"), envelope.get("signatures")
    if not isinstance(raw, str) or not isinstance(signatures, list) or not signatures:
        raise EnvelopeError("the envelope needs a base64 payload and at least one signature")
    try:
        payload = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeError("the payload is not base64") from None
    message = pae(payload_type, payload)
    by_id = {keyid(cert): cert for cert in trusted}
    for entry in signatures:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("sig"), str):
            continue
        try:
            sig = base64.b64decode(entry["sig"], validate=True)
        except (binascii.Error, ValueError):
            continue
        # keyid is only a hint: try the named certificate first, then every trusted one.
        named = by_id.get(hint) if isinstance(hint := entry.get("keyid"), str) else None
        for cert in ([named] if named is not None else []) + [c for c in trusted if c is not named]:
            if _verifies(cert, sig, message):
                return Verified(payload, cert)
    if not trusted:
        raise EnvelopeError("no trusted certificate was given to check the envelope's signature")
    raise EnvelopeError("no signature in the envelope verifies under the trusted certificate(s) "
                        f"({', '.join(sorted(by_id))})")
