"""The system fingerprint: what "the same system" means when evidence is reused (guidance 5.4 / 6.4).

Every bundle records it; `dipcert reuse` compares it. The rule lives here and nowhere else: the
software (name, version, build id or artefact digest, supplier), the role it plays, the interfaces
it was configured for, and the TLS certificates its endpoints presented (when known). The party's
own identifiers (DIP ID, MPID, API keys, signing certificate) are deliberately *not* part of it:
those are what differ between two parties running the same system.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from harness.profile import Profile

FIELDS = ("name", "version", "build_id", "supplier", "role", "interfaces", "endpoint_certificates")


def fingerprint_parts(profile: Profile, endpoint_certificates: Mapping[str, str] | None = None) -> dict[str, Any]:
    s = profile.system
    return {"name": s.name, "version": s.version, "build_id": s.build_id, "supplier": s.supplier,
            "role": profile.role, "interfaces": sorted(profile.enabled_interfaces),
            "endpoint_certificates": dict(sorted((endpoint_certificates or {}).items()))}


def digest(parts: Mapping[str, Any]) -> str:
    canonical = json.dumps({k: parts.get(k) for k in FIELDS}, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def system_fingerprint(profile: Profile, endpoint_certificates: Mapping[str, str] | None = None) -> dict[str, Any]:
    """{"digest": "sha256:...", "parts": {...}}: the parts let a reviewer see *what* differs."""
    parts = fingerprint_parts(profile, endpoint_certificates)
    return {"digest": digest(parts), "parts": parts}


def differences(earlier: Mapping[str, Any], now: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(field, earlier value, current value) for each part that differs."""
    a, b = earlier.get("parts") or {}, now.get("parts") or {}
    return [(k, a.get(k), b.get(k)) for k in FIELDS if a.get(k) != b.get(k)]
