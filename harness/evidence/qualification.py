"""The qualification prerequisites of MHHS-DEL1384, as the profile's `[qualification]` states them (issue 19).

An SDS is qualified as a whole; how it collects smart-meter data decides what it must show first:

- with the existing Import/Export Supplier DCC User Roles of an existing Supplier (A198), no SEC
  accession or UEPT is needed, and Elexon checks the SEC's list of users itself (A204);
- with the MDR DCC User Role, the full DCC User Entry Process must be completed, and the evidence
  is SECAS's confirmation of it: the UEPT test completion certificate alone is not enough (A203).

The harness cannot prove any of this. It records the statement (role, operating model, MDR DIP ID),
attaches the documents by hash (`harness.evidence.attachments`), and judges one requirement,
`<role>-5.1|6.1/qualification/uep-confirmation`: for the MDR DCC User Role, the confirmation must be
attached and must not be the UEPT certificate itself. `judge` is a pure function of the recorded
profile and the attachment events, so `verify` judges it again from the bundle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config.profile import DOCUMENT_KEYS, OPERATING_MODELS, Profile
from harness.core.findings import Finding, short
from harness.evidence.attachments import attach, read_document, recorded
from harness.plan.requirements import Requirement

RULE = "qualification.uep-confirmation"
# attests -> (profile key, what the document attests)
DOCUMENTS: dict[str, tuple[str, str]] = {
    "uep-confirmation": ("uep_confirmation", "SECAS's confirmation that the full DCC User Entry Process for the MDR "
                                             "User Role was completed (MHHS-DEL1384 A203)"),
    "uept-certificate": ("uept_certificate", "DCC's UEPT test completion certificate for the MDR User Role "
                                             "(MHHS-DEL1384 A200; not sufficient on its own, A203)"),
}
assert tuple(key for key, _ in DOCUMENTS.values()) == DOCUMENT_KEYS
ATTESTED = ("attested by the party, not proved by dipcert: the bundle keeps each document byte for byte and "
            "verify checks it is unchanged; what it says is for the DIP Manager and the Code Body to judge")


def _f(rule: str, key: str, expected: str, actual: Any, message: str) -> Finding:
    return Finding(rule, f"profile:{key}", expected, short(actual), message)


@dataclass(frozen=True)
class Document:
    attests: str
    key: str  # the profile key, e.g. "uep_confirmation"
    written: str  # the path as the profile wrote it
    data: bytes


def load_documents(profile: Profile, secrets: Sequence[str] = ()) -> list[Document]:
    """Every document the `[qualification]` table names, read now (a one-line ConfigError if one cannot be)."""
    if profile.qualification is None:
        return []
    out = []
    for attests, (key, _title) in DOCUMENTS.items():
        path = profile.document_path(key)
        if path is not None:
            data = read_document(path, f"{profile.path}: qualification.{key}", secrets)
            out.append(Document(attests, key, str(getattr(profile.qualification, key)), data))
    return out


def judge(qualification: Mapping[str, Any] | None, attached: Mapping[str, Mapping[str, Any]]) -> list[Finding]:
    """The uep-confirmation requirement's findings, from the public `[qualification]` dict and the
    attachment events (attests -> data with `sha256`). Empty: it passes (or does not apply)."""
    if not isinstance(qualification, Mapping) or qualification.get("dcc_user_role") != "MDR":
        return []
    key = "qualification.uep_confirmation"
    confirmation = attached.get("uep-confirmation")
    certificate = attached.get("uept-certificate")
    if qualification.get("uep_confirmation") is None:
        also = (" (qualification.uept_certificate is attached, but the UEPT certificate does not show the other "
                "elements of the User Entry Process)") if qualification.get("uept_certificate") else ""
        return [_f(f"{RULE}.missing", key, "SECAS's confirmation of the full User Entry Process", "not set",
                   "the smart-meter data is collected with the MDR DCC User Role (qualification.dcc_user_role = "
                   "\"MDR\") but no confirmation that the full DCC User Entry Process for the MDR User Role was "
                   "completed is given: set qualification.uep_confirmation to SECAS's confirmation (MHHS-DEL1384 "
                   f"A203){also}")]
    if confirmation is None:
        return [_f(f"{RULE}.not-attached", key, "the document attached", "not attached",
                   f"qualification.uep_confirmation names {qualification.get('uep_confirmation')}, but no attachment "
                   f"event records it: SECAS's confirmation is not in the bundle")]
    if certificate is not None and certificate.get("sha256") == confirmation.get("sha256"):
        return [_f(f"{RULE}.is-uept-certificate", key, "SECAS's confirmation of the full User Entry Process",
                   "the UEPT test completion certificate",
                   "qualification.uep_confirmation is the same document as qualification.uept_certificate: the UEPT "
                   "test completion certificate alone does not show that the other elements of the User Entry "
                   "Process were completed (MHHS-DEL1384 A203); attach SECAS's confirmation")]
    return []


def record_qualification(recorder: Any, folder: Path, profile: Profile, plan: Sequence[Requirement],
                         documents: Sequence[Document]) -> None:
    """At run start: attach the documents and, when planned and enabled, record the requirement's check.

    Judged once, before anything is sent, like the reuse decision: the documents do not change during
    the run, and a missing confirmation should be the first blocker a participant reads.
    """
    if profile.qualification is None:
        return
    attached = {d.attests: attach(recorder, folder, attests=d.attests, data=d.data, source=d.written,
                                  title=DOCUMENTS[d.attests][1]) for d in documents}
    requirement = next((r for r in plan if r.kind == "qualification"), None)
    if requirement is None or not requirement.enabled:
        return
    findings = judge(profile.qualification.to_dict(), {k: a.to_dict() for k, a in attached.items()})
    recorder.check(requirement.id, RULE, not findings, findings, attachments=sorted(a.seq for a in attached.values()))


def rejudge(profile: Mapping[str, Any] | None, records: Sequence[Mapping[str, Any]]) -> list[Finding]:
    """verify: the requirement judged again from the recorded profile and the attachment events."""
    qualification = profile.get("qualification") if isinstance(profile, Mapping) else None
    return judge(qualification if isinstance(qualification, Mapping) else None, recorded(records))


def statement(profile: Mapping[str, Any] | None, records: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """summary.json's `qualification`: the stated prerequisites and the documents attested, None without a table."""
    if not isinstance(profile, Mapping) or not isinstance(qualification := profile.get("qualification"), Mapping):
        return None
    party = got if isinstance(got := profile.get("party"), Mapping) else {}
    model = qualification.get("operating_model")
    mdr_dip_id = qualification.get("mdr_dip_id") or (party.get("dip_id") if party.get("role") == "MDR" else None)
    attested = [{k: v for k, v in data.items() if k in ("attests", "file", "sha256", "size", "source", "title")}
                for _, data in sorted(recorded(records).items())]
    return {"dcc_user_role": qualification.get("dcc_user_role"), "operating_model": model,
            "operating_model_text": OPERATING_MODELS.get(model) if isinstance(model, int) else None,
            "mdr_dip_id": mdr_dip_id, "attested": attested, "note": ATTESTED}
