"""`dipcert promote`'s decision: the certification bundle verified, the configurations compared, the
production configuration checked; a signed record written only when nothing refuses the promotion.

Refused (exit 1, no record) when the bundle does not verify (unsound, not ready, its signer not
issued by a trusted CA), is not certification grade, a difference is not allowed, or a production
check has an error finding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography import x509

from harness.config.fingerprint import system_fingerprint
from harness.config.profile import Profile
from harness.core.findings import Finding, errors, short
from harness.evidence.bundle import certificate_fingerprint
from harness.evidence.checker import VerifyResult
from harness.evidence.origin import UNPINNED, VERIFIED, Anchors
from harness.evidence.verify import verify_bundle
from harness.promotion.differences import Difference, config_differences
from harness.promotion.production import check_production
from harness.promotion.record import statement, write_record
from harness.run.preflight import Probe
from harness.run.session import party_identity

DEFAULT_MARGIN_DAYS = 30
CERTIFICATION = "certification"
CERTIFICATION_ENVIRONMENT = "UIT"


def _f(rule: str, path: str, expected: str, actual: Any, message: str) -> Finding:
    return Finding(rule, path, expected, short(actual), message)


def bundle_grade(result: VerifyResult) -> dict[str, Any]:
    """The grade verify recomputed: `certification` only with the DIP's transcript checked (`dip_certs`)."""
    return dict(result.grade) if result.grade.get("level") else {"level": "self-test", "reasons": []}


def bundle_findings(result: VerifyResult) -> list[Finding]:
    """Why this bundle cannot be promoted: it must verify and be certification grade."""
    out = []
    where = f"bundle:{result.path}"
    if not result.sound:
        first = errors(result.findings)[0]
        out.append(_f("promote.bundle.unsound", where, "a bundle that verifies", f"{len(errors(result.findings))} "
                      f"error(s)", f"the certification bundle does not verify ({first}); run dipcert verify on it"))
    elif not result.ready_by_evidence:
        out.append(_f("promote.bundle.not-ready", where, "every enabled requirement passed", "not ready",
                      "the certification bundle is not ready: a requirement failed or did not run"))
    if result.origin.status not in (VERIFIED, UNPINNED):
        out.append(_f("promote.bundle.origin", where, "signed by a certificate a --trust CA issued",
                      result.origin.status, f"who signed the certification bundle is not established: "
                      f"{result.origin.explanation}"))
    profile = got if isinstance(got := result.run.get("profile"), Mapping) else {}
    if result.records and profile.get("environment") != CERTIFICATION_ENVIRONMENT:
        out.append(_f("promote.bundle.environment", where, CERTIFICATION_ENVIRONMENT, profile.get("environment"),
                      f"the bundle certifies {profile.get('environment')!r}, not UIT: guidance 5.5 / 6.5 promote "
                      f"what was certified in UIT"))
    grade = bundle_grade(result)
    if grade.get("level") != CERTIFICATION:
        reasons = "; ".join(str(r) for r in grade.get("reasons") or ())
        out.append(_f("promote.bundle.grade", where, CERTIFICATION, grade.get("level"),
                      f"the bundle is {grade.get('level')} grade, not certification evidence ({reasons})"))
    return out


def difference_findings(found: Sequence[Difference], certified: Mapping[str, Any]) -> list[Finding]:
    """An error per difference that is not allowed; a warning when the DIP ID is the one certified in UIT."""
    out = [_f("promote.difference", f"profile:{d.key}", f"{d.certified!r} (as certified)", d.production,
              f"{d.key}: {d.certified!r} when certified, {d.production!r} in production: {d.why}")
           for d in found if not d.allowed]
    if certified and not any(d.key == "party.dip_id" for d in found):
        dip_id = (certified.get("party") or {}).get("dip_id")
        out.append(Finding("promote.identifiers.uit-dip-id", "profile:party.dip_id", "the production DIP ID",
                           short(dip_id), f"party.dip_id is {dip_id}, the DIP ID the certification used: give the "
                           f"DIP ID allocated for production, if the DIP allocated another", "warning"))
    return out


@dataclass
class Promotion:
    bundle: VerifyResult
    grade: dict[str, Any]
    differences: list[Difference]
    checks: dict[str, list[Finding]]
    certificates: list[dict[str, Any]]
    refusals: list[Finding] = field(default_factory=list)  # bundle and difference findings
    record: Path | None = None

    @property
    def findings(self) -> list[Finding]:
        return self.refusals + [f for found in self.checks.values() for f in found]

    @property
    def promoted(self) -> bool:
        return not errors(self.findings)


def promote(bundle: Path, production: Profile, *, trust: Sequence[x509.Certificate], signers: Sequence[str] = (),
            dip_certs: Sequence[x509.Certificate] = (), margin_days: int = DEFAULT_MARGIN_DAYS,
            out: Path | None = None, probe: Probe | bool | None = None, now: datetime | None = None,
            earlier: Sequence[Path] = ()) -> Promotion:
    """Decides; writes the record into `out` (default: beside the bundle) only when promoted. `earlier`: the
    bundles reused requirements rest on (always followed: a reused requirement without its bundle refuses)."""
    now = now or datetime.now(timezone.utc)
    anchors = Anchors(trust=tuple(trust), signers=tuple(signers))
    result = verify_bundle(bundle, anchors=anchors, earlier=list(earlier), dip_certs=tuple(dip_certs))
    certified = got if isinstance(got := result.run.get("profile"), Mapping) else {}
    found = config_differences(certified, production.to_public_dict())
    checks, certificates = check_production(production, certified_fingerprint=result.run.get("system_fingerprint"),
                                            trust=trust, margin=timedelta(days=margin_days), probe=probe, now=now)
    promotion = Promotion(result, bundle_grade(result), found, checks, certificates,
                          refusals=bundle_findings(result) + difference_findings(found, certified))
    if promotion.promoted:
        identity = party_identity(production)
        assert identity is not None  # the certificates check refuses a profile without a signing key
        run_id = str(result.run_id)
        payload = statement(
            certification={"run_id": run_id, "manifest_sha256": result.manifest_sha256, "grade": promotion.grade,
                           "signer": result.origin.to_dict(), "party": result.run.get("party"),
                           "system_fingerprint": result.run.get("system_fingerprint")},
            production={"profile": production.to_public_dict(), "profile_digest": production.digest(),
                        "system_fingerprint": system_fingerprint(production),
                        "signer_certificate_sha256": certificate_fingerprint(identity.certificate),
                        "certificates": certificates},
            differences=found, checks=checks, margin_days=margin_days,
            trust=[{"subject": c.subject.rfc4514_string(), "fingerprint": certificate_fingerprint(c)} for c in trust],
            promoted=now)
        promotion.record = write_record(out or Path(bundle).parent, run_id, payload, identity)
    return promotion
