"""allure-results/: the run as Allure test results, for teams that already read their tests in Allure.

One result per requirement, one step per check record, the request and response bodies of the
messages each check judged attached to its step. Written with allure-python-commons' model (so the
JSON is the shape Allure reads) but not through its file logger, whose random file names would make
the bundle unreproducible: every uuid here is uuid5(run id, requirement, ...), and times come from
the evidence.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.report.bodies import Bodies
from harness.report.sequence import message_label
from harness.report.summary import plan_index

NAMESPACE = uuid.UUID("6f3c1a52-2b0e-5d7a-9c41-0d1f3e5a7b90")


def _id(*parts: Any) -> str:
    return str(uuid.uuid5(NAMESPACE, "\x1f".join(map(str, parts))))


def _ms(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def _dump(item: Any) -> bytes:
    import attr

    data = attr.asdict(item, filter=lambda _a, v: bool(v) or v is False or v == 0)
    return json.dumps(data, sort_keys=True, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"


def write_allure(out: Path | str, summary: Mapping[str, Any], records: Sequence[Mapping[str, Any]],
                 folder: Path | str) -> Path:
    """Writes `out` afresh (its old contents are removed) from the summary, records and body files."""
    from allure_commons.model2 import (Attachment, Label, Parameter, Status, StatusDetails, TestResult,
                                       TestStepResult)

    target = Path(out)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    run_id = summary["run_id"]
    plan = plan_index(records)
    by_seq = {r.get("seq"): r for r in records if isinstance(r.get("seq"), int)}
    bodies = Bodies(Path(folder))
    status_of = {"pass": Status.PASSED, "reused": Status.PASSED, "fail": Status.FAILED,
                 "not-run": Status.BROKEN, "not-enabled": Status.SKIPPED}
    checks: dict[str, list[Mapping[str, Any]]] = {}
    for r in records:
        if r.get("kind") == "check" and isinstance(r.get("requirement"), str):
            checks.setdefault(r["requirement"], []).append(r)
    starts: dict[str, Any] = {}
    ends: dict[str, Any] = {}
    for r in records:
        rid = (r.get("data") or {}).get("requirement") if r.get("kind") == "event" else None
        if r.get("event") == "requirement-start" and isinstance(rid, str):
            starts.setdefault(rid, r.get("time"))
        elif r.get("event") == "requirement-end" and isinstance(rid, str):
            ends[rid] = r.get("time")

    def attach(rid: str, seq: int, side: str, record: Mapping[str, Any]) -> Attachment | None:
        data = bodies.get(record, side)
        if data is None:
            return None
        source = f"{_id(run_id, rid, seq, side)}-attachment.json"
        (target / source).write_bytes(data)
        label = message_label(record, bodies.get(record, "request"))
        return Attachment(name=f"#{seq} {record.get('channel')} {label} {side}", source=source,
                          type="application/json")

    for entry in summary["requirements"]:
        rid = entry["id"]
        item = plan.get(rid) or {}
        kind = str(item.get("kind") or ("exchange" if "/exchange/" in rid else "requirement"))
        steps = []
        for check in checks.get(rid, []):
            step_attachments = []
            for seq in check.get("messages") or ():
                record = by_seq.get(seq)
                if record is None or record.get("kind") != "http":
                    continue
                for side in ("request", "response"):
                    found = attach(rid, seq, side, record)
                    if found is not None:
                        step_attachments.append(found)
            findings = check.get("findings") or []
            details = None
            if findings:
                details = StatusDetails(message=str(findings[0].get("message")),
                                        trace="\n".join(f"{f.get('rule')} at {f.get('path') or '/'}: "
                                                        f"expected {f.get('expected')}, actual {f.get('actual')}: "
                                                        f"{f.get('message')}" for f in findings))
            moment = _ms(check.get("time"))
            steps.append(TestStepResult(name=f"#{check.get('seq')} {check.get('rule')}",
                                        status=Status.PASSED if check.get("passed") is True else Status.FAILED,
                                        statusDetails=details, stage="finished", attachments=step_attachments,
                                        start=moment, stop=moment))
        verdict = entry["verdict"]
        message = {"not-run": "enabled but did not run", "not-enabled": "not enabled in the profile"}.get(verdict)
        if verdict == "fail":
            first = next((f for f in entry["findings"] if f.get("severity", "error") == "error"), None)
            message = str(first.get("message")) if first else "a check failed"
        labels = [Label("parentSuite", f"dipcert {summary['party']['role']} {summary['party']['dip_id']}"),
                  Label("suite", kind), Label("subSuite", entry.get("interface") or kind),
                  Label("framework", "dipcert"), Label("tag", verdict)]
        if entry.get("interface"):
            labels.append(Label("feature", entry["interface"]))
        if entry["provisional"]:
            labels.append(Label("tag", "provisional"))
        parameters = [Parameter(name="verdict", value=verdict)]
        if entry["assumptions"]:
            parameters.append(Parameter(name="assumptions", value=", ".join(entry["assumptions"])))
        if verdict == "reused" and entry.get("reused_from"):
            parameters.append(Parameter(name="reused_from", value=json.dumps(entry["reused_from"], sort_keys=True)))
        result = TestResult(
            uuid=_id(run_id, rid), historyId=_id("history", rid), testCaseId=_id("case", rid),
            name=str(item.get("title") or rid), fullName=rid, status=status_of[verdict],
            statusDetails=StatusDetails(message=message) if message else None, stage="finished",
            description=f"{rid} ({kind}); verdict {verdict}; run {run_id}", steps=steps, labels=labels,
            parameters=parameters, start=_ms(starts.get(rid)) or _ms(summary.get("started")),
            stop=_ms(ends.get(rid)) or _ms(summary.get("started")))
        (target / f"{result.uuid}-result.json").write_bytes(_dump(result))
    environment = [("run_id", run_id), ("party", f"{summary['party']['role']} {summary['party']['dip_id']}"),
                   ("system", f"{summary['system']['name']} {summary['system']['version']}"),
                   ("environment", summary["environment"]), ("ready", str(summary["ready"]).lower())]
    (target / "environment.properties").write_text(
        "".join(f"{k} = {v}\n" for k, v in environment), encoding="utf-8")
    return target
