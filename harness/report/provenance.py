"""Where a run's evidence comes from, as the report header states it: the DIP, the hashes, the signer.

Why a module of its own: a reviewer decides how far to trust a page from these lines, so each must
say exactly what the evidence supports. A DIP that dipcert simulated on the participant's machine
is never presented as Elexon's environment, whatever environment tag the messages carry. The
manifest hashes report.html, so the page cannot carry the manifest's own hash when the run renders
it: it shows the hash of the evidence log the manifest lists, and `dipcert report` (re-rendering a
finished bundle) adds the manifest's hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.evidence.bundle import MANIFEST, manifest_sha256
from harness.evidence.recorder import EVIDENCE_FILE


@dataclass(frozen=True)
class DipShown:
    """The DIP the run talked to, as the header names it."""

    simulated: bool  # True: dipcert's hub on the participant's side (embedded or standing)
    kind: str
    url: str | None
    subject: str | None
    fingerprint: str | None

    @property
    def where(self) -> str:
        if self.simulated:
            return "simulated by dipcert on the participant's machine"
        return f"remote DIP at {self.url}" if self.url else "remote DIP"


def dip_shown(summary: Mapping[str, Any], run: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> DipShown:
    """The DIP identity from summary.json / the run-start record (issue 15: `dip`), else the hub's start event.

    Anything but an explicit `kind: "remote"` is the simulated DIP.
    """
    dip = got if isinstance(got := summary.get("dip"), Mapping) else run.get("dip")
    start: Mapping[str, Any] = next((r["data"] for r in records if r.get("kind") == "event"
                                     and r.get("event") == "hub.start" and isinstance(r.get("data"), Mapping)), {})
    if isinstance(dip, Mapping):
        kind = str(dip.get("kind") or "embedded")
        return DipShown(kind != "remote", kind, _text(dip.get("url")) or _text(start.get("base_url")),
                        _text(dip.get("subject")), _text(dip.get("fingerprint")) or _text(start.get("signer")))
    return DipShown(True, "embedded", _text(start.get("base_url")), None, _text(start.get("signer")))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def evidence_sha256(folder: Path) -> str | None:
    """sha256 hex of evidence.jsonl as it is now: the value the manifest lists for it."""
    path = Path(folder) / EVIDENCE_FILE
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 16):
            digest.update(chunk)
    return digest.hexdigest()


def finished_manifest(folder: Path) -> str | None:
    """"sha256:<hex>" of the bundle's manifest.json when the folder is a finished bundle, else None."""
    path = Path(folder) / MANIFEST
    return manifest_sha256(path) if path.is_file() else None
