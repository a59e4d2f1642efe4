"""Reuse of a DCP's or software supplier's earlier certification evidence (guidance 5.4 / 6.4).

A party represented by a DIP Connection Provider or a software supplier that already certified the
same system with another party may rest requirements on that earlier evidence. Why this is its own
module: the decision must be reproducible and reviewable, so it is made from the earlier bundles
alone (verified exactly as `dipcert verify` does), requirement by requirement, each with its
reasons, and written as a signed artefact (`reuse.json` + `reuse.sig`) into the new run folder.

What counts as "the same system" is `harness.config.fingerprint.differences` (one place). On top of it a
requirement can rest on an earlier bundle only when: the bundle verifies (sound); the party is
represented by the same DCP or software supplier; the role is the same; the earlier run was in UIT
(or the environment this profile names); the schema pack is the same or compatible; the DCP
attests the system is unchanged since; the earlier run was configured for the requirement's
interface and *passed* the requirement live. Preflight (the party's own DIP ID, API keys,
certificates, webhooks) and the smoke tests always run live. Several bundles may together cover
the enabled interfaces: each requirement rests on the first bundle that qualifies.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.config.fingerprint import covers_interface, differences, probe_endpoint_certificates, system_fingerprint
from harness.core.errors import UsageError
from harness.core.findings import Finding, short
from harness.evidence.bundle import json_bytes, sign_bytes
from harness.evidence.earlier import (
    ARTEFACT,
    ARTEFACT_SIGNATURE,
    EarlierBundle,
    load_earlier,
    same_party,
    verify_detached,
)
from harness.evidence.origin import NO_ANCHORS, NOT_CHECKED, UNPINNED, Anchors
from harness.messages.schemapack import load_pack
from harness.plan.certification import certification_plan

__all__ = ["ARTEFACT", "ARTEFACT_SIGNATURE", "EarlierBundle", "ReusePlan", "decide", "load_earlier",
           "parse_attestation", "plan_reuse", "verify_detached"]

FORMAT = "dipcert-reuse/1"
REUSABLE_KINDS = ("consume", "produce", "exchange")
CERTIFICATION_ENVIRONMENT = "UIT"
REUSE_RULE = "reuse.decision"


# -- the "unchanged since" attestation --------------------------------------------------------------
def parse_attestation(text: str | None, *, option: str = "--unchanged-since-attested-by") -> dict[str, str] | None:
    """'Name, Organisation' -> {"name", "organisation"}; None when not given."""
    if text is None:
        return None
    name, _, organisation = (part.strip() for part in text.partition(","))
    if not name or not organisation:
        raise UsageError(f"{option} {text!r}: expected 'Name, Organisation' (the DCP's or supplier's "
                         f"person attesting the system is unchanged)")
    return {"name": name, "organisation": organisation}


# -- the decision -----------------------------------------------------------------------------------
@dataclass
class Decision:
    requirement: str
    kind: str
    interface: str | None
    event: str | None
    accepted: bool
    bundle: EarlierBundle | None = None
    reasons: list[Finding] = field(default_factory=list)  # why refused, by each bundle

    @property
    def why(self) -> str:
        if self.accepted and self.bundle is not None:
            return (f"passed live in {self.bundle.label} ({self.bundle.party.get('role')} "
                    f"{self.bundle.party.get('dip_id')}) on the same system")
        return "; ".join(f.message for f in self.reasons) or "no earlier bundle covers it"

    def to_dict(self) -> dict[str, Any]:
        b = self.bundle
        return {"id": self.requirement, "kind": self.kind, "interface": self.interface, "event": self.event,
                "decision": "reused" if self.accepted else "live",
                "reused_from": {"run_id": b.run_id, "manifest_sha256": b.manifest_sha256, "party": b.party}
                if self.accepted and b is not None else None,
                "why": self.why, "reasons": [f.to_dict() for f in self.reasons]}


def _f(rule: str, path: str, expected: Any, actual: Any, message: str, severity: str = "warning",
       **extra: Any) -> Finding:
    return Finding(rule, path, short(expected), short(actual), message, severity, extra)


def _pack_compatibility(earlier: Mapping[str, Any], now: Mapping[str, Any]) -> str | None:
    """"same", "compatible" (same pack, same major version) or None."""
    if earlier.get("fingerprint") and earlier.get("fingerprint") == now.get("fingerprint"):
        return "same"
    if earlier.get("name") != now.get("name"):
        return None

    def major(version: Any) -> str | None:
        m = re.match(r"^(?:dipcert-)?(\d+)", str(version or ""))
        return m.group(1) if m else None

    return "compatible" if major(earlier.get("version")) is not None and \
        major(earlier.get("version")) == major(now.get("version")) else None


def bundle_findings(profile: Any, earlier: EarlierBundle, *, now_fingerprint: Mapping[str, Any],
                    schema_pack: Mapping[str, Any]) -> list[Finding]:
    """Why nothing at all can rest on `earlier` (empty: it qualifies, requirement by requirement)."""
    where: dict[str, Any] = {"bundle": earlier.source.name, "run_id": earlier.run_id}
    out: list[Finding] = []
    if not earlier.sound:
        first = earlier.problems[0]
        out.append(_f("reuse.tampered", earlier.source.name, "a bundle that verifies",
                      f"{len(earlier.problems)} verify error(s)", f"{earlier.label} does not verify "
                      f"({first.rule} at {first.path}: {first.message}); nothing can rest on it",
                      severity="error", **where))
        return out
    party = earlier.party
    me = {"dip_id": profile.party.dip_id, "mpid": profile.party.mpid}
    shared = same_party(party, me)
    if shared:
        out.append(_f("reuse.same-party", "party", "an earlier run of another party", shared,
                      f"{earlier.label} is a run of this same party ({shared}); reuse rests only on evidence "
                      f"produced with another party (guidance 5.4 / 6.4)", **where))
    if party.get("role") != profile.role:
        out.append(_f("reuse.role", "party.role", profile.role, party.get("role"),
                      f"{earlier.label} certified the {party.get('role')} role, this party is {profile.role}",
                      **where))
    for diff in differences(earlier.fingerprint, {"parts": _now_parts(now_fingerprint)}):
        if diff.field == "role":
            continue  # reported above as reuse.role
        out.append(_f("reuse.system-changed", f"system.{diff.field}", diff.earlier, diff.now,
                      f"{earlier.label} ran {diff.field} {diff.earlier!r}, this system has {diff.now!r}: "
                      f"not the same system", **where))
    environment = earlier.run.get("environment")
    allowed = {CERTIFICATION_ENVIRONMENT, profile.environment}
    if environment not in allowed:
        out.append(_f("reuse.environment", "environment", " or ".join(sorted(allowed)), environment,
                      f"{earlier.label} ran in {environment}, certification evidence must come from "
                      f"{' or '.join(sorted(allowed))}", **where))
    system = earlier.run.get("system") or {}
    same_dcp = bool(profile.party.dcp_id) and party.get("dcp_id") == profile.party.dcp_id
    same_supplier = bool(profile.system.supplier) and system.get("supplier") == profile.system.supplier
    if not (same_dcp or same_supplier):
        out.append(_f("reuse.dcp", "system.supplier",
                      f"DCP {profile.party.dcp_id} or supplier {profile.system.supplier}",
                      f"DCP {party.get('dcp_id')}, supplier {system.get('supplier')}",
                      f"{earlier.label} was not certified through the same DCP or software supplier", **where))
    pack = earlier.run.get("schema_pack") or {}
    if _pack_compatibility(pack, schema_pack) is None:
        out.append(_f("reuse.schema-pack", "schema_pack", f"{schema_pack.get('name')} {schema_pack.get('version')}",
                      f"{pack.get('name')} {pack.get('version')}",
                      f"{earlier.label} was validated with another, incompatible schema pack", **where))
    return out


def bundle_notes(earlier: EarlierBundle) -> list[Finding]:
    """What the reviewer should know about an earlier bundle that does not refuse it: how far its origin was checked."""
    where: dict[str, Any] = {"bundle": earlier.source.name, "run_id": earlier.run_id}
    if earlier.origin.status == UNPINNED:
        return [_f("reuse.signer-unpinned", earlier.source.name, "a signer pinned with --signer",
                   earlier.origin.fingerprint, f"{earlier.label} is signed by {earlier.origin.subject}, issued by a "
                   f"trusted CA but not pinned to its party (--signer)", **where)]
    if earlier.origin.status == NOT_CHECKED:
        return [_f("reuse.origin-unchecked", earlier.source.name, "an origin checked with --trust",
                   "--integrity-only", f"{earlier.label}: who signed it was not checked (--integrity-only)", **where)]
    return []


def _now_parts(fingerprint: Mapping[str, Any]) -> Mapping[str, Any]:
    return fingerprint.get("parts") or {}


def requirement_findings(req: Any, earlier: EarlierBundle) -> list[Finding]:
    """Why `req` cannot rest on an otherwise qualifying `earlier` bundle (empty: it can)."""
    where = {"bundle": earlier.source.name, "run_id": earlier.run_id, "requirement": req.id}
    then = earlier.planned.get(req.id)
    if then is None or not then.get("enabled", True) or not covers_interface(earlier.fingerprint, req.interface) \
            or then.get("interface") != req.interface or then.get("event") != req.event:
        return [_f("reuse.not-covered", req.id, "planned and enabled in the earlier run",
                   "absent" if then is None else "not enabled" if not then.get("enabled", True)
                   else "another interface or event",
                   f"{earlier.label} did not cover {req.id}", **where)]
    verdict = (earlier.verdicts.get(req.id) or {}).get("verdict")
    if verdict != "pass":
        return [_f("reuse.failed-earlier", req.id, "pass", verdict,
                   f"{req.id} was {verdict} in {earlier.label}" +
                   (" (reused evidence cannot be reused again)" if verdict == "reused" else ""), **where)]
    return []


@dataclass
class ReusePlan:
    """The decision, and what `RunOptions.reuse` needs: `covers(id)` and `record(...)`."""

    profile: Any
    bundles: list[EarlierBundle]
    decisions: dict[str, Decision]
    findings: list[Finding]  # bundle-level and requirement-level refusals
    live: list[str]  # requirement ids that run live
    fingerprint: dict[str, Any]
    schema_pack: dict[str, Any]
    attestation: dict[str, str] | None
    decided: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    artefact_sha256: str | None = None

    def covers(self, requirement_id: str) -> bool:
        d = self.decisions.get(requirement_id)
        return bool(d and d.accepted)

    @property
    def accepted(self) -> list[Decision]:
        return [d for d in self.decisions.values() if d.accepted]

    @property
    def refused(self) -> list[Decision]:
        return [d for d in self.decisions.values() if not d.accepted]

    @property
    def sound(self) -> bool:
        """The reuse requirement's verdict: every earlier bundle verified and something rests on them."""
        return all(b.sound for b in self.bundles) and bool(self.accepted)

    def check_findings(self) -> list[Finding]:
        out = list(self.findings)
        if not self.accepted:
            out.append(_f("reuse.none", "", "at least one requirement resting on earlier evidence", "none",
                          "no requirement can rest on the earlier bundles; everything ran live",
                          severity="error"))
        return out

    def to_dict(self, run_id: str | None = None) -> dict[str, Any]:
        p = self.profile
        return {
            "format": FORMAT, "run_id": run_id, "decided": self.decided,
            "party": {"role": p.role, "dip_id": p.party.dip_id, "mpid": p.party.mpid, "dcp_id": p.party.dcp_id,
                      "company": p.party.company},
            "system_fingerprint": self.fingerprint, "schema_pack": self.schema_pack,
            "unchanged_since": None if self.attestation is None else {
                **self.attestation, "statement": "the system under test is unchanged since the earlier "
                f"certification run(s) {', '.join(b.label for b in self.bundles)}"},
            "bundles": [b.summary() for b in self.bundles],
            "requirements": [d.to_dict() for d in sorted(self.decisions.values(), key=lambda d: d.requirement)],
            "live": list(self.live),
            "findings": [f.to_dict() for f in self.check_findings()],
        }

    def record(self, recorder: Any, folder: Path | str, identity: Any) -> None:
        """Writes reuse.json (+ reuse.sig when the party has a signing identity) and the evidence."""
        folder = Path(folder)
        data = json_bytes(self.to_dict(run_id=folder.name))
        (folder / ARTEFACT).write_bytes(data)
        if identity is not None:
            (folder / ARTEFACT_SIGNATURE).write_bytes(json_bytes(sign_bytes(data, identity)))
        self.artefact_sha256 = "sha256:" + hashlib.sha256(data).hexdigest()
        recorder.event("reuse-decision", artefact=ARTEFACT, sha256=self.artefact_sha256,
                       signed=identity is not None, accepted=[d.requirement for d in self.accepted],
                       live=list(self.live))
        for d in sorted(self.accepted, key=lambda d: d.requirement):
            b = d.bundle
            assert b is not None
            recorder.event("reuse", requirement=d.requirement, run_id=b.run_id, manifest_sha256=b.manifest_sha256,
                           party=b.party, why=d.why)
        req_id = next((r.id for r in _plan(self.profile) if r.kind == "reuse"), None)
        if req_id is not None:
            recorder.check(req_id, REUSE_RULE, self.sound, self.check_findings(), artefact=ARTEFACT,
                           artefact_sha256=self.artefact_sha256,
                           bundles=[{"run_id": b.run_id, "manifest_sha256": b.manifest_sha256,
                                     "sound": b.sound} for b in self.bundles],
                           reused=len(self.accepted), live=len(self.live))


def _plan(profile: Any) -> list[Any]:
    return certification_plan(profile, reuse=True)


def decide(profile: Any, bundles: Sequence[EarlierBundle], *, attestation: Mapping[str, str] | None,
           schema_pack: Mapping[str, Any] | None = None,
           endpoint_certificates: Mapping[str, str] | None = None) -> ReusePlan:
    """Requirement by requirement: which rests on which earlier bundle, and what runs live and why."""
    if schema_pack is None:
        pack = load_pack(None)
        schema_pack = {"name": pack.name, "version": pack.version, "fingerprint": pack.fingerprint}
    now = system_fingerprint(profile, endpoint_certificates)
    findings: list[Finding] = []
    if attestation is None:
        findings.append(_f("reuse.attestation", "unchanged_since", "an 'unchanged since' attestation by the DCP "
                           "or supplier", "none", "nobody attested that the system is unchanged since the earlier "
                           "run(s) (give --unchanged-since-attested-by 'Name, Organisation'); nothing is reused"))
    qualifying: list[EarlierBundle] = []
    refused_bundle: dict[int, list[Finding]] = {}
    for index, earlier in enumerate(bundles):
        problems = bundle_findings(profile, earlier, now_fingerprint=now, schema_pack=schema_pack)
        findings.extend(problems)
        if not problems:
            findings.extend(bundle_notes(earlier))
        if problems:
            refused_bundle[index] = problems
        else:
            qualifying.append(earlier)
    decisions: dict[str, Decision] = {}
    live: list[str] = []
    for req in _plan(profile):
        if not req.enabled:
            continue
        if req.kind not in REUSABLE_KINDS:
            if req.kind != "reuse":
                live.append(req.id)
            continue
        d = Decision(req.id, req.kind, req.interface, req.event, accepted=False)
        if attestation is not None:
            for index, earlier in enumerate(bundles):
                if index in refused_bundle:
                    d.reasons.append(refused_bundle[index][0])
                    continue
                problems = requirement_findings(req, earlier)
                if not problems:
                    d.accepted, d.bundle, d.reasons = True, earlier, []
                    break
                d.reasons.extend(problems)
        else:
            d.reasons.append(findings[0])
        if not d.accepted:
            live.append(req.id)
            findings.extend(f for f in d.reasons if f.rule in ("reuse.not-covered", "reuse.failed-earlier"))
        decisions[req.id] = d
    return ReusePlan(profile, list(bundles), decisions, findings, live, now, dict(schema_pack),
                     dict(attestation) if attestation is not None else None)


def plan_reuse(profile: Any, sources: Sequence[Path | str], *, attestation: Mapping[str, str] | None,
               pack: Any = None, anchors: Anchors = NO_ANCHORS, probe_timeout: float = 5.0) -> ReusePlan:
    """Loads and verifies each earlier bundle with the reviewer's `anchors`, probes the endpoints'
    certificates, and decides."""
    pack = pack or load_pack(None)
    bundles = [load_earlier(s, pack=pack, anchors=anchors) for s in sources]
    return decide(profile, bundles, attestation=attestation,
                  schema_pack={"name": pack.name, "version": pack.version, "fingerprint": pack.fingerprint},
                  endpoint_certificates=probe_endpoint_certificates(profile, timeout=probe_timeout))
