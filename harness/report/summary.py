"""summary.json from the evidence records alone.

Why only the records: `dipcert report` re-renders a bundle long after the run, on another machine,
and `verify` recomputes the same verdicts from the same log. Anything a report shows must therefore
come from `evidence.jsonl` (the run-start `run` dict, the plan, the checks), never from the profile
or the machine rendering it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from harness.core.catalogue import load_catalogue
from harness.core.errors import InputError
from harness.evidence import verdicts as V
from harness.evidence.grade import evidence_grade
from harness.evidence.qualification import statement
from harness.evidence.recorder import EVIDENCE_FILE

_FINGERPRINT = re.compile(r"^sha256:[0-9a-f]{64}$")
PARTY_FIELDS = ("role", "dip_id", "mpid", "dcp_id", "company")
PARTNER_FIELDS = ("role", "dip_id", "mpid", "kind", "company")
SYSTEM_FIELDS = ("name", "version", "build_id", "fingerprint")
PACK_FIELDS = ("name", "version", "fingerprint")
DIP_FIELDS = ("url", "kind", "label", "environment", "subject", "fingerprint", "tls", "mtls",
              "delivery_client_certificate")


def run_start(records: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    for record in records[:1]:
        if record.get("kind") == "run-start":
            return record
    raise InputError(f"{EVIDENCE_FILE}: the first record is not a run-start record; not a dipcert run log")


def run_info(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The run-start record's `run` dict (everything a report needs besides the checks)."""
    run = run_start(records).get("run")
    return dict(run) if isinstance(run, Mapping) else {}


def run_end(records: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    ends = [r for r in records if r.get("kind") == "run-end"]
    return ends[-1] if ends else None


def plan_index(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Planned requirement id -> its plan dict, in plan order."""
    return {str(r.get("id")): r for r in V.planned_requirements(records)}


def catalogue_assumptions() -> dict[str, Any]:
    return load_catalogue().assumptions


def build_summary(records: Sequence[Mapping[str, Any]], *, finished: str | None = None,
                  status: str | None = None) -> dict[str, Any]:
    """summary.json (schema shape) for a run's records. Raises InputError when the run-start lacks a field."""
    start = run_start(records)
    run = run_info(records)
    planned = V.planned_requirements(records)
    verdicts = V.recompute(records, planned)
    end = run_end(records)
    complete = end is not None and end.get("status") == "complete"
    if status is None:
        status = "complete" if complete else "incomplete"
    ready, blockers = V.readiness(verdicts, complete=status == "complete")
    rests_on = {str(p.get("id")): [str(a) for a in p.get("assumptions") or ()] for p in planned}
    requirements = V.summary_entries(verdicts, rests_on)
    titles = {str(p.get("id")): p.get("title") for p in planned}
    for entry in requirements:
        if isinstance(titles.get(entry["id"]), str):
            entry["title"] = titles[entry["id"]]
    summary: dict[str, Any] = {
        "run_id": _required(run, "run_id"),
        "harness_version": str(run.get("harness_version") or start.get("harness_version") or ""),
        "schema_pack": _pick(_required(run, "schema_pack"), PACK_FIELDS),
        "party": _pick(_required(run, "party"), PARTY_FIELDS),
        "partner": _pick(run["partner"], PARTNER_FIELDS) if isinstance(run.get("partner"), Mapping) else None,
        "system": _pick(_required(run, "system"), SYSTEM_FIELDS),
        "environment": _required(run, "environment"),
        "started": str(run.get("started") or start.get("time") or ""),
        "finished": finished if finished is not None else (end.get("time") if end is not None else None),
        "ready": ready,
        "status": status,
        "requirements": requirements,
        "assumptions": _assumptions(planned),
        "blockers": blockers,
        "advisories": V.advisories(verdicts),
    }
    summary["grade"] = evidence_grade(run, planned)
    selection = next((r.get("data") or {} for r in records
                      if r.get("kind") == "event" and r.get("event") == "selection"),
                     None)
    if isinstance(selection, Mapping):
        summary["selection"] = {"only": [str(g) for g in selection.get("only") or ()],
                                "requirements": [str(r) for r in selection.get("requirements") or ()],
                                "partial": True}
    qualification = statement(run.get("profile") if isinstance(run.get("profile"), Mapping) else None, records)
    if qualification is not None:  # issue 19: MHHS-DEL1384 prerequisites, attested (never a harness verdict)
        summary["qualification"] = qualification
    if isinstance(run.get("profile_digest"), str):
        summary["profile_digest"] = run["profile_digest"]
    if isinstance(run.get("attestation"), Mapping):
        summary["attestation"] = dict(run["attestation"])
    if isinstance(run.get("dip"), Mapping):  # issue 15: which DIP, hosted or embedded (a self-test)
        summary["dip"] = _pick(run["dip"], DIP_FIELDS)
    signer = run.get("signer_certificate_sha256")
    if isinstance(signer, str) and _FINGERPRINT.match(signer):
        # who signs the bundle: the party's registered certificate, as recorded when the run started
        subject = run.get("signer_certificate_subject")
        summary["signer"] = {"fingerprint": signer, "subject": subject if isinstance(subject, str) else None}
    return summary


def _required(run: Mapping[str, Any], key: str) -> Any:
    value = run.get(key)
    if value in (None, "", {}):
        raise InputError(f"{EVIDENCE_FILE}: the run-start record has no run.{key}; a report cannot be "
                         f"rendered without it")
    return value


def _pick(value: Any, fields: Sequence[str]) -> dict[str, Any]:
    data = value if isinstance(value, Mapping) else {}
    return {k: data.get(k) for k in fields if k in data}


def _assumptions(planned: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Catalogue assumptions referenced by any planned requirement, sorted by id."""
    known = catalogue_assumptions()
    used = sorted({str(a) for p in planned for a in p.get("assumptions") or ()})
    out = []
    for aid in used:
        a = known.get(aid)
        out.append({"id": aid, "text": a.text if a else "(not in the bundled catalogue)",
                    "source": a.source if a else ""})
    return out
