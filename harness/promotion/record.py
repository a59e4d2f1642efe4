"""The promotion record: what was promoted, from which certification, with which differences; signed.

A DSSE envelope (harness.evidence.dsse; payload type `PAYLOAD_TYPE`) signed by the party's
*production* signing key, over a JSON statement: the certification bundle by hash (the SHA-256 of
its manifest.json, as reuse names bundles), its run id, grade and signer; the production profile
(public: secret references only) and its certificates; every configuration difference with whether
it is allowed and why; and each production check with its findings. Nothing secret is in it.
`harness.promotion.check` verifies it against its bundle.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.core.errors import ConfigError
from harness.core.findings import Finding
from harness.evidence.dsse import sign_envelope
from harness.promotion.differences import Difference

FORMAT = "dipcert-promotion/1"
PAYLOAD_TYPE = "application/vnd.dipcert.promotion+json"


def record_name(run_id: str) -> str:
    return f"promotion-{run_id}.dsse.json"


def statement(*, certification: Mapping[str, Any], production: Mapping[str, Any],
              differences: Sequence[Difference], checks: Mapping[str, Sequence[Finding]], margin_days: int,
              trust: Sequence[Mapping[str, str]], promoted: datetime | None = None) -> dict[str, Any]:
    """The payload (a promotion that passed: the caller refuses before writing anything else)."""
    return {"format": FORMAT, "decision": "promoted",
            "promoted": (promoted or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
            "certification": dict(certification), "production": dict(production),
            "margin_days": margin_days, "trusted_ca": list(trust),
            "differences": [d.to_dict() for d in differences],
            "checks": [{"check": name, "passed": not [f for f in found if f.severity == "error"],
                        "findings": [f.to_dict() for f in found]} for name, found in checks.items()]}


def encode(payload: Mapping[str, Any]) -> bytes:
    """The payload's exact bytes: sorted keys, so the same statement always signs the same bytes."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def write_record(folder: Path, run_id: str, payload: Mapping[str, Any], identity: Any) -> Path:
    """`folder/promotion-<run id>.dsse.json`, signed by `identity` (a SigningIdentity)."""
    path = folder / record_name(run_id)
    envelope = sign_envelope(PAYLOAD_TYPE, encode(payload), identity)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(envelope, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the promotion record ({exc.strerror or exc})") from None
    return path
