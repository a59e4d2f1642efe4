"""Reuse of a DCP's or software supplier's earlier certification evidence (guidance 5.4 / 6.4).

A party represented by a DIP Connection Provider or a software supplier that already certified the
same system with another party may rest requirements on that earlier evidence. Why this is its own
module: the decision must be reproducible and reviewable, so it is made from the earlier bundles
alone (verified exactly as `dipcert verify` does), requirement by requirement, each with its
reasons, and written as a signed artefact (`reuse.json` + `reuse.sig`) into the new run folder.

What counts as "the same system" is `harness.fingerprint.differences` (one place). On top of it a
requirement can rest on an earlier bundle only when: the bundle verifies (sound); the party is
represented by the same DCP or software supplier; the role is the same; the earlier run was in UIT
(or the environment this profile names); the schema pack is the same or compatible; the DCP
attests the system is unchanged since; the earlier run was configured for the requirement's
interface and *passed* the requirement live. Preflight (the party's own DIP ID, API keys,
certificates, webhooks) and the smoke tests always run live. Several bundles may together cover
the enabled interfaces: each requirement rests on the first bundle that qualifies.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.findings import Finding, errors, short

FORMAT = "dipcert-reuse/1"
ARTEFACT = "reuse.json"
ARTEFACT_SIGNATURE = "reuse.sig"
REUSABLE_KINDS = ("consume", "produce", "exchange")
CERTIFICATION_ENVIRONMENT = "UIT"
REUSE_RULE = "reuse.decision"


# -- the earlier bundles ----------------------------------------------------------------------------
@dataclass
class EarlierBundle:
    """One earlier bundle as `verify` sees it: nothing is taken from its summary.json or report."""

    source: Path
    run_id: str | None
    manifest_sha256: str | None
    run: dict[str, Any]
    verdicts: dict[str, dict[str, Any]]
    planned: dict[str, dict[str, Any]]
    problems: list[Finding]  # verify's error findings
    signer: str | None = None

    @property
    def sound(self) -> bool:
        return not self.problems

    @property
    def party(self) -> dict[str, Any]:
        return dict(self.run.get("party") or {})

    @property
    def fingerprint(self) -> dict[str, Any]:
        return dict(self.run.get("system_fingerprint") or {})

    @property
    def label(self) -> str:
        return self.run_id or self.source.name

    def summary(self) -> dict[str, Any]:
        return {"source": self.source.name, "run_id": self.run_id, "manifest_sha256": self.manifest_sha256,
                "party": self.party, "environment": self.run.get("environment"),
                "system": self.run.get("system"), "system_fingerprint": self.fingerprint,
                "schema_pack": self.run.get("schema_pack"), "signer": self.signer, "sound": self.sound,
                "problems": [f.to_dict() for f in self.problems[:20]]}


def load_earlier(path: Path | str, *, pack: Any = None, trust: Sequence[Any] = (),
                 now: datetime | None = None) -> EarlierBundle:
    """Verifies `path` (folder or .dipcert.zip) as `dipcert verify` does and reads what reuse needs.

    Raises InputError (one line) when the path is not a bundle at all; a bundle that does not verify
    is returned with its problems, so that the refusal is a finding the reviewer sees.
    """
    from harness.commands.verify import make_revalidator
    from harness.evidence.bundle import MANIFEST, manifest_sha256
    from harness.evidence.safezip import open_bundle
    from harness.evidence.verify import verify_bundle
    from harness.messages.schemapack import load_pack

    source = Path(path)
    scratch = Path(tempfile.mkdtemp(prefix="dipcert-reuse-")) if source.is_file() else None
    try:
        folder = open_bundle(source, into=scratch)
        pack = pack or load_pack(None)
        result = verify_bundle(folder, trust=trust, pack=pack, revalidate=make_revalidator(pack), now=now)
        digest = manifest_sha256(folder) if (folder / MANIFEST).is_file() else None
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    first = result.records[0] if result.records else {}
    run = dict(first.get("run") or {}) if first.get("kind") == "run-start" else {}
    from harness.evidence import verdicts as V

    planned = {str(r.get("id")): r for r in V.planned_requirements(result.records)}
    return EarlierBundle(source=source, run_id=(result.manifest or {}).get("run_id") or run.get("run_id"),
                         manifest_sha256=digest, run=run, verdicts=result.verdicts, planned=planned,
                         problems=errors(result.findings), signer=(result.manifest or {}).get("signer"))


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
    from harness.fingerprint import differences

    where = {"bundle": earlier.source.name, "run_id": earlier.run_id}
    out: list[Finding] = []
    if not earlier.sound:
        first = earlier.problems[0]
        out.append(_f("reuse.tampered", earlier.source.name, "a bundle that verifies",
                      f"{len(earlier.problems)} verify error(s)", f"{earlier.label} does not verify "
                      f"({first.rule} at {first.path}: {first.message}); nothing can rest on it",
                      severity="error", **where))
        return out
    party = earlier.party
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


def _now_parts(fingerprint: Mapping[str, Any]) -> Mapping[str, Any]:
    return fingerprint.get("parts") or {}


def requirement_findings(req: Any, earlier: EarlierBundle) -> list[Finding]:
    """Why `req` cannot rest on an otherwise qualifying `earlier` bundle (empty: it can)."""
    from harness.fingerprint import covers_interface

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
        from harness.evidence.bundle import _json_bytes, sign_bytes

        folder = Path(folder)
        data = _json_bytes(self.to_dict(run_id=folder.name))
        (folder / ARTEFACT).write_bytes(data)
        if identity is not None:
            (folder / ARTEFACT_SIGNATURE).write_bytes(_json_bytes(sign_bytes(data, identity)))
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
    from harness.run.planning import certification_plan

    return certification_plan(profile, reuse=True)


def decide(profile: Any, bundles: Sequence[EarlierBundle], *, attestation: Mapping[str, str] | None,
           schema_pack: Mapping[str, Any] | None = None,
           endpoint_certificates: Mapping[str, str] | None = None) -> ReusePlan:
    """Requirement by requirement: which rests on which earlier bundle, and what runs live and why."""
    from harness.fingerprint import system_fingerprint

    if schema_pack is None:
        from harness.messages.schemapack import load_pack

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
               pack: Any = None, trust: Sequence[Any] = (), probe_timeout: float = 5.0) -> ReusePlan:
    """Loads and verifies each earlier bundle, probes the endpoints' certificates, and decides."""
    from harness.fingerprint import probe_endpoint_certificates
    from harness.messages.schemapack import load_pack

    pack = pack or load_pack(None)
    bundles = [load_earlier(s, pack=pack, trust=trust) for s in sources]
    return decide(profile, bundles, attestation=attestation,
                  schema_pack={"name": pack.name, "version": pack.version, "fingerprint": pack.fingerprint},
                  endpoint_certificates=probe_endpoint_certificates(profile, timeout=probe_timeout))


# -- the chain, for `verify` ------------------------------------------------------------------------
def verify_detached(data: bytes, doc: Mapping[str, Any]) -> str | None:
    """The signing certificate's fingerprint when `doc` (sign_bytes' shape) signs `data`, else None."""
    from cryptography import x509

    from harness.evidence.bundle import certificate_fingerprint, signature_verifies

    try:
        cert = x509.load_pem_x509_certificate(str(doc["certificate_pem"]).encode("ascii"))
        signature = base64.b64decode(str(doc["signature_b64"]), validate=True)
    except (KeyError, ValueError, TypeError):
        return None
    return certificate_fingerprint(cert) if signature_verifies(data, cert, signature, doc.get("algorithm")) else None


def check_chain(folder: Path, records: Sequence[Mapping[str, Any]], manifest: Mapping[str, Any] | None,
                earlier: Sequence[Path | str], *, pack: Any = None, trust: Sequence[Any] = (),
                now: datetime | None = None) -> list[Finding]:
    """Every `reuse` record must rest on an earlier bundle that is given, verifies, and passed that
    requirement; and the signed decision artefact must say so. Missing bundles: `reuse.chain-missing`."""
    grants = [(r.get("seq"), r.get("data") or {}) for r in records
              if r.get("kind") == "event" and r.get("event") == "reuse"]
    if not grants:
        return []
    out: list[Finding] = []
    artefact = _read_artefact(folder, manifest, out)
    granted_in_artefact = {(item.get("id"), (item.get("reused_from") or {}).get("manifest_sha256"))
                           for item in (artefact or {}).get("requirements") or []
                           if isinstance(item, dict) and item.get("decision") == "reused"}
    loaded: dict[str, EarlierBundle] = {}
    for path in earlier:
        b = load_earlier(path, pack=pack, trust=trust, now=now)
        if b.manifest_sha256:
            loaded.setdefault(b.manifest_sha256, b)
    missing: dict[str, list[str]] = {}
    for seq, data in grants:
        rid, digest = str(data.get("requirement")), str(data.get("manifest_sha256"))
        where = f"evidence.jsonl#seq={seq}"
        if artefact is not None and (rid, digest) not in granted_in_artefact:
            out.append(_f("reuse.chain-artefact", where, f"{rid} reused in {ARTEFACT}", "not listed",
                          f"{rid} is recorded as reused but the signed {ARTEFACT} does not grant it",
                          severity="error", requirement=rid))
        b = loaded.get(digest)
        if b is None:
            missing.setdefault(digest, []).append(rid)
            continue
        if not b.sound:
            out.append(_f("reuse.chain-unsound", where, "an earlier bundle that verifies",
                          f"{len(b.problems)} error(s)", f"{rid} rests on {b.label}, which does not verify "
                          f"({b.problems[0].rule}: {b.problems[0].message})", severity="error", requirement=rid))
            continue
        if b.run_id != data.get("run_id"):
            out.append(_f("reuse.chain-run-id", where, b.run_id, data.get("run_id"),
                          f"{rid}: the reuse record names run {data.get('run_id')}, the bundle is {b.run_id}",
                          severity="error", requirement=rid))
        verdict = (b.verdicts.get(rid) or {}).get("verdict")
        if verdict != "pass":
            out.append(_f("reuse.chain-verdict", where, "pass", verdict,
                          f"{rid} rests on {b.label}, where it was {verdict}", severity="error", requirement=rid))
    for digest, rids in sorted(missing.items()):
        run_ids = sorted({str(d.get("run_id")) for _s, d in grants if d.get("manifest_sha256") == digest})
        out.append(_f("reuse.chain-missing", "", f"the earlier bundle {digest} (give it with --with)", "not given",
                      f"{len(rids)} requirement(s) rest on run {', '.join(run_ids)} (manifest {digest[:19]}...), "
                      f"which was not given, so the chain cannot be checked", severity="error",
                      manifest_sha256=digest, requirements=sorted(rids)))
    return out


def _read_artefact(folder: Path, manifest: Mapping[str, Any] | None, out: list[Finding]) -> dict[str, Any] | None:
    path = folder / ARTEFACT
    if not path.is_file():
        out.append(_f("reuse.chain-artefact", ARTEFACT, "present", "absent",
                      f"requirements are recorded as reused but the bundle has no {ARTEFACT}", severity="error"))
        return None
    data = path.read_bytes()
    sig_path = folder / ARTEFACT_SIGNATURE
    signer = None
    if sig_path.is_file():
        try:
            signer = verify_detached(data, json.loads(sig_path.read_bytes()))
        except ValueError:
            signer = None
    if signer is None:
        out.append(_f("reuse.chain-signature", ARTEFACT_SIGNATURE, f"a signature over {ARTEFACT}",
                      "missing or invalid", f"{ARTEFACT} is not signed, or its signature does not verify",
                      severity="error"))
    elif manifest is not None and manifest.get("signer") and manifest.get("signer") != signer:
        out.append(_f("reuse.chain-signature", ARTEFACT_SIGNATURE, manifest.get("signer"), signer,
                      f"{ARTEFACT} is signed by another certificate than the bundle", severity="error"))
    try:
        value = json.loads(data)
    except ValueError:
        out.append(_f("reuse.chain-artefact", ARTEFACT, "JSON", "unreadable", f"{ARTEFACT} is not JSON",
                      severity="error"))
        return None
    return value if isinstance(value, dict) else None
