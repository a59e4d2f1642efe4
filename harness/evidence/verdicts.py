"""Verdicts as a pure function of the evidence.

The harness (while running) and `verify` (afterwards, on someone else's machine) both call
`recompute`, so a verdict in summary.json is believable only if the evidence log alone yields it.

Rules, per requirement:
- ``not-enabled``: the plan says the requirement is not enabled for this party;
- ``fail``: at least one check record for it has ``passed: false``;
- ``pass``: at least one check record, all passed;
- ``reused``: no checks, and a ``reuse`` event grants it (earlier bundle's run id, manifest hash, party);
- ``not-run``: anything else.

A requirement the plan marks ``advisory`` (issue 14: the must-reject checks, unless the profile's
policy makes them blocking) gets its verdict the same way, but a failing or missing advisory
requirement is listed among the advisories, not the blockers: it does not stop readiness.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from harness.core.outcomes import Verdict

VERDICTS = tuple(Verdict)
GOOD = (Verdict.PASS, Verdict.REUSED)


def plan_record(records: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The first `plan` event's record, or None when the run never recorded a plan."""
    for record in records:
        if record.get("kind") == "event" and record.get("event") == "plan":
            return record
    return None


def planned_requirements(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    plan = plan_record(records)
    if plan is None:
        return []
    return [dict(r) for r in (plan.get("data") or {}).get("requirements") or [] if isinstance(r, Mapping)]


def recompute(records: Sequence[Mapping[str, Any]], planned: Sequence[Mapping[str, Any]]
              ) -> dict[str, dict[str, Any]]:
    """requirement id -> {"verdict", "findings", "evidence", "reused_from", "planned", "enabled"}.

    Requirements with check records but absent from the plan are included (``planned: False``), so
    that callers can flag them rather than lose them.
    """
    result: dict[str, dict[str, Any]] = {}

    def entry(req_id: str) -> dict[str, Any]:
        return result.setdefault(req_id, {"checks": 0, "failed": 0, "findings": [], "evidence": set(),
                                          "reused_from": None, "planned": False, "enabled": True})

    for item in planned:
        e = entry(str(item.get("id")))
        e["planned"] = True
        e["enabled"] = bool(item.get("enabled", True))
        e["advisory"] = bool(item.get("advisory", False))
        for key in ("interface", "event", "direction"):
            e[key] = item.get(key)

    for record in records:
        kind = record.get("kind")
        if kind == "check" and isinstance(record.get("requirement"), str):
            e = entry(record["requirement"])
            e["checks"] += 1
            e["evidence"].add(record.get("seq"))
            e["evidence"].update(m for m in record.get("messages") or () if isinstance(m, int))
            if record.get("passed") is not True:
                e["failed"] += 1
            e["findings"].extend(f for f in record.get("findings") or () if isinstance(f, Mapping))
        elif kind == "event" and record.get("event") == "reuse":
            data = record.get("data") or {}
            if isinstance(data.get("requirement"), str):
                e = entry(data["requirement"])
                e["evidence"].add(record.get("seq"))
                if e["reused_from"] is None:
                    e["reused_from"] = {k: data.get(k) for k in ("run_id", "manifest_sha256", "party")}

    out: dict[str, dict[str, Any]] = {}
    for req_id, e in result.items():
        if e["planned"] and not e["enabled"]:
            verdict = Verdict.NOT_ENABLED
        elif e["failed"]:
            verdict = Verdict.FAIL
        elif e["checks"]:
            verdict = Verdict.PASS
        elif e["reused_from"] is not None:
            verdict = Verdict.REUSED
        else:
            verdict = Verdict.NOT_RUN
        out[req_id] = {
            "verdict": verdict,
            "findings": e["findings"],
            "evidence": sorted(s for s in e["evidence"] if isinstance(s, int)),
            "reused_from": e["reused_from"] if verdict == Verdict.REUSED else None,
            "planned": e["planned"], "enabled": e["enabled"], "advisory": bool(e.get("advisory", False)),
            **{k: e.get(k) for k in ("interface", "event", "direction") if k in e},
        }
    return out


def readiness(verdicts: Mapping[str, Mapping[str, Any]], *, complete: bool = True
              ) -> tuple[bool, list[dict[str, Any]]]:
    """(ready, blockers). Ready: the run completed and every enabled requirement passed or was reused.

    Blockers list failures first, then what did not run, each naming the requirement.
    """
    blockers: list[dict[str, Any]] = []
    if not complete:
        blockers.append({"requirement": None, "verdict": None,
                         "message": "the run did not complete; its evidence is partial"})
    order = {Verdict.FAIL: 0, Verdict.NOT_RUN: 1}
    pending = sorted(((rid, v) for rid, v in verdicts.items()
                      if v.get("enabled", True) and not v.get("advisory") and v["verdict"] in order),
                     key=lambda item: (order[item[1]["verdict"]], item[0]))
    for rid, v in pending:
        what = "failed" if v["verdict"] == Verdict.FAIL else "did not run"
        blockers.append({"requirement": rid, "verdict": v["verdict"], "message": f"{rid} {what}"})
    return not blockers, blockers


def advisories(verdicts: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Advisory requirements that failed or did not run: shown next to the blockers, never blocking."""
    order = {Verdict.FAIL: 0, Verdict.NOT_RUN: 1}
    pending = sorted(((rid, v) for rid, v in verdicts.items()
                      if v.get("enabled", True) and v.get("advisory") and v["verdict"] in order),
                     key=lambda item: (order[item[1]["verdict"]], item[0]))
    return [{"requirement": rid, "verdict": v["verdict"],
             "message": f"{rid} {'failed' if v['verdict'] == 'fail' else 'did not run'} (advisory: does not block "
                        f"readiness; the profile's [policy] must_reject = \"blocking\" makes it blocking)"}
            for rid, v in pending]


def summary_entries(verdicts: Mapping[str, Mapping[str, Any]],
                    assumptions: Mapping[str, Sequence[str]] | None = None) -> list[dict[str, Any]]:
    """summary.json's `requirements[]` from recomputed verdicts (schema shape), sorted by id.

    `assumptions` maps a requirement id to the assumption ids its verdict rests on; a verdict
    resting on any is marked provisional.
    """
    entries = []
    for rid in sorted(verdicts):
        v = verdicts[rid]
        rests_on = list((assumptions or {}).get(rid, ()))
        entries.append({
            "id": rid, "interface": v.get("interface"), "event": v.get("event"),
            "direction": v.get("direction"), "verdict": v["verdict"], "advisory": bool(v.get("advisory", False)),
            "provisional": bool(rests_on),
            "assumptions": rests_on, "findings": list(v["findings"]), "evidence": list(v["evidence"]),
            "reused_from": v.get("reused_from"),
        })
    return entries
