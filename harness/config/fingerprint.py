"""The system fingerprint: what "the same system" means when evidence is reused (guidance 5.4 / 6.4).

Every bundle records it; `dipcert reuse` compares it. The rule lives here and nowhere else:

- the *identity* (`IDENTITY`) must be equal: the software (name, version, build id or artefact
  digest, supplier), the role it plays, and the set of TLS certificates its endpoints present
  (when known). The digest covers exactly these, so equal digests mean the same system;
- the *configuration* (`CONFIGURATION`: which interfaces are enabled) is recorded but is not part
  of the identity: a second party on the same system may enable more or fewer interfaces, and
  coverage is judged requirement by requirement (`covers_interface`), not for the whole system.

The party's own identifiers (DIP ID, MPID, API keys, signing certificate) are deliberately *not*
part of it: those are what differ between two parties running the same system.
"""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from harness.config.profile import Profile

RULE = "dipcert-system/2"
IDENTITY = ("name", "version", "build_id", "supplier", "role", "endpoint_certificates")
CONFIGURATION = ("interfaces",)
FIELDS = IDENTITY + CONFIGURATION


@dataclass(frozen=True)
class Difference:
    field: str
    earlier: Any
    now: Any


def fingerprint_parts(profile: Profile, endpoint_certificates: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`endpoint_certificates`: interface id -> "sha256:<hex>" of the TLS certificate its webhook presents."""
    s = profile.system
    return {"name": s.name, "version": s.version, "build_id": s.build_id, "supplier": s.supplier,
            "role": profile.role, "interfaces": sorted(profile.enabled_interfaces),
            "endpoint_certificates": dict(sorted((endpoint_certificates or {}).items()))}


def identity(parts: Mapping[str, Any]) -> dict[str, Any]:
    """The fields the same-system rule compares, normalised: endpoint certificates as a sorted set,
    because a party enabling another interface on the same host presents the same certificate."""
    out = {k: parts.get(k) for k in IDENTITY}
    certs = parts.get("endpoint_certificates") or {}
    values = certs.values() if isinstance(certs, Mapping) else certs if isinstance(certs, (list, tuple)) else ()
    out["endpoint_certificates"] = sorted({str(v) for v in values if v})
    return out


def digest(parts: Mapping[str, Any]) -> str:
    canonical = json.dumps(identity(parts), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def system_fingerprint(profile: Profile, endpoint_certificates: Mapping[str, str] | None = None) -> dict[str, Any]:
    """{"digest", "parts", "rule"}: the parts let a reviewer see *what* differs."""
    parts = fingerprint_parts(profile, endpoint_certificates)
    return {"digest": digest(parts), "parts": parts, "rule": RULE}


def differences(earlier: Mapping[str, Any], now: Mapping[str, Any]) -> list[Difference]:
    """Each identity field that differs between two fingerprints (empty: the same system).

    Endpoint certificates are compared only when both sides know them: a run over plain HTTP, or
    one recorded before certificates were probed, has nothing to compare.
    """
    a, b = identity(earlier.get("parts") or {}), identity(now.get("parts") or {})
    found = []
    for key in IDENTITY:
        if key == "endpoint_certificates" and (not a[key] or not b[key]):
            continue
        if a[key] != b[key]:
            found.append(Difference(key, a[key], b[key]))
    return found


def covers_interface(earlier: Mapping[str, Any], interface_id: str | None) -> bool:
    """True when the earlier run was configured for `interface_id` (None: not interface-specific)."""
    if interface_id is None:
        return True
    return interface_id in set((earlier.get("parts") or {}).get("interfaces") or ())


def probe_endpoint_certificates(profile: Profile, *, timeout: float = 5.0) -> dict[str, str]:
    """interface id -> "sha256:<hex>" of the certificate each enabled https webhook presents.

    The handshake does not verify the chain: it only asks which certificate is presented, so that a
    reused certification can show the endpoints are the same. Unreachable or plain-http endpoints
    are left out (the preflight and smoke tests judge reachability, live).
    """
    found: dict[str, str] = {}
    cache: dict[tuple[str, int], str | None] = {}
    for interface_id in profile.enabled_interfaces:
        url = profile.webhook_for(interface_id)
        if not url or urlsplit(url).scheme != "https":
            continue
        parts = urlsplit(url)
        key = (parts.hostname or "", parts.port or 443)
        if key not in cache:
            cache[key] = _presented_certificate(*key, timeout=timeout)
        if cache[key]:
            found[interface_id] = cache[key]  # type: ignore[assignment]
    return found


def _presented_certificate(host: str, port: int, *, timeout: float) -> str | None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return None
    return "sha256:" + hashlib.sha256(der).hexdigest() if der else None


def certificates_seen(records: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """interface id -> endpoint certificate, from the webhook deliveries an earlier run recorded."""
    found: dict[str, str] = {}
    for record in records:
        if record.get("kind") != "http" or record.get("channel") != "webhook-delivery":
            continue
        cert = record.get("peer_certificate_sha256")
        interface_id = (record.get("context") or {}).get("interface")
        if isinstance(cert, str) and cert and isinstance(interface_id, str):
            found.setdefault(interface_id, cert)
    return found
