"""allure-results/: the run as Allure test results, for teams that already read their tests in Allure.

One result per requirement, one step per check record, the check's findings attached to its step
and, for a failing check, the request and response bodies of the messages it judged (at most
`MAX_BODY_ATTACHMENTS` per requirement; a step says how many it left out and where they are). `check_steps` builds
those steps from the evidence; both routes use it: `write_allure` puts them in the bundle's
allure-results/, and `report_steps` hands them to allure-pytest (`allure.step` / `allure.attach`)
when `pytest scenarios --alluredir DIR` runs, so the two Allure views of one run show the same
checks. The bundle's folder is written with allure-python-commons' model (so the JSON is the shape
Allure reads) but not through its file logger, whose random file names would make the bundle
unreproducible: every uuid here is uuid5(run id, requirement, ...), and times come from the evidence.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import allure
from allure_commons.model2 import Attachment, Label, Parameter, Status, StatusDetails, TestResult, TestStepResult

from harness.report.bodies import Bodies, file_of
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


@dataclass(frozen=True)
class StepAttachment:
    name: str
    data: bytes
    key: tuple[Any, ...]  # what makes its file name unique in the bundle (uuid5 of run id, requirement, key)


@dataclass(frozen=True)
class CheckStep:
    """One check record of a requirement, as an Allure step."""

    name: str
    passed: bool
    message: str | None = None
    trace: str | None = None
    time: str | None = None
    attachments: list[StepAttachment] = field(default_factory=list)


def _findings_text(findings: Sequence[Mapping[str, Any]]) -> str:
    return "\n".join(f"{f.get('rule')} at {f.get('path') or '/'}: expected {f.get('expected')}, "
                     f"actual {f.get('actual')}: {f.get('message')}" for f in findings)


#: bodies attached per requirement at most (request and response of a message are two): a run of
#: 100,000 messages would otherwise copy every body into allure-results/ twice over (issue 16)
MAX_BODY_ATTACHMENTS = 20
#: where every body is, whatever was attached: said in each step that leaves bodies out
WHERE_BODIES = "the bundle's messages/ (each http record in evidence.jsonl names its bodies and their SHA-256)"


def check_steps(requirement: str, records: Sequence[Mapping[str, Any]], bodies: Bodies, *,
                limit: int = MAX_BODY_ATTACHMENTS, by_seq: Mapping[Any, Mapping[str, Any]] | None = None
                ) -> list[CheckStep]:
    """The requirement's check records, in order, each with its findings as JSON (when it has any)
    and, for a failing check, the bodies of the messages it judged: at most `limit` bodies for the
    whole requirement. A step that judged messages whose bodies are not attached (a passing check's,
    or past the limit) says so in a "bodies left out" attachment: how many, which seqs, and where
    the bundle holds them; the bundle, not Allure, is the evidence. `by_seq`: every record of the run
    by seq, when `records` holds only some (`write_allure` indexes the log once, not per requirement)."""
    if by_seq is None:
        by_seq = records_by_seq(records)
    steps = []
    budget = limit
    for check in records:
        if check.get("kind") != "check" or check.get("requirement") != requirement:
            continue
        passed = check.get("passed") is True
        attachments = []
        left_out: list[int] = []
        for seq in check.get("messages") or ():
            record = by_seq.get(seq)
            if record is None or record.get("kind") != "http":
                continue
            named = [side for side in ("request", "response") if file_of(record, side) is not None]
            if not named:
                continue
            if passed or len(named) > budget:  # a message is attached whole or not at all
                left_out.append(seq)
                continue
            label = message_label(record, bodies.get(record, "request"))
            for side in named:
                data = bodies.get(record, side)
                if data is not None:
                    attachments.append(StepAttachment(f"#{seq} {record.get('channel')} {label} {side}", data,
                                                      (seq, side)))
            budget -= len(named)
        if left_out:
            reason = "the check passed" if passed else f"over {limit} bodies for {requirement}"
            note = {"left_out": len(left_out), "reason": reason, "messages": left_out, "where": WHERE_BODIES}
            attachments.append(StepAttachment(
                f"bodies of {len(left_out)} message(s) left out ({reason}): in the bundle's messages/",
                json.dumps(note, sort_keys=True, indent=1).encode("utf-8"), (check.get("seq"), "left-out")))
        findings = check.get("findings") or []
        if findings:
            attachments.append(StepAttachment(
                "findings", json.dumps(findings, sort_keys=True, ensure_ascii=False, indent=1).encode("utf-8"),
                (check.get("seq"), "findings")))
        steps.append(CheckStep(name=f"#{check.get('seq')} {check.get('rule')}", passed=passed,
                               message=str(findings[0].get("message")) if findings else None,
                               trace=_findings_text(findings) if findings else None, time=check.get("time"),
                               attachments=attachments))
    return steps


def records_by_seq(records: Sequence[Mapping[str, Any]]) -> dict[int, Mapping[str, Any]]:
    return {r["seq"]: r for r in records if isinstance(r.get("seq"), int)}


class CheckFailed(AssertionError):
    """Raised inside a live `allure.step` so that allure-pytest marks that step failed (never escapes)."""


def report_steps(steps: Sequence[CheckStep]) -> None:
    """The steps through allure-pytest's public API, into the running test's result (a no-op when
    pytest runs without --alluredir: no listener is registered then)."""
    for step in steps:
        try:
            with allure.step(step.name):
                for a in step.attachments:
                    allure.attach(a.data, name=a.name, attachment_type=allure.attachment_type.JSON)
                if not step.passed:
                    raise CheckFailed(step.trace or step.message or "the check failed")
        except CheckFailed:
            pass


def write_allure(out: Path | str, summary: Mapping[str, Any], records: Sequence[Mapping[str, Any]],
                 folder: Path | str) -> Path:
    """Writes `out` afresh (its old contents are removed) from the summary, records and body files."""
    target = Path(out)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    run_id = summary["run_id"]
    plan = plan_index(records)
    bodies = Bodies(Path(folder))
    status_of = {"pass": Status.PASSED, "reused": Status.PASSED, "fail": Status.FAILED,
                 "not-run": Status.BROKEN, "not-enabled": Status.SKIPPED}
    starts: dict[str, Any] = {}
    ends: dict[str, Any] = {}
    by_seq = records_by_seq(records)
    checks: dict[Any, list[Mapping[str, Any]]] = {}
    for r in records:
        if r.get("kind") == "check":
            checks.setdefault(r.get("requirement"), []).append(r)
        rid = (r.get("data") or {}).get("requirement") if r.get("kind") == "event" else None
        if r.get("event") == "requirement-start" and isinstance(rid, str):
            starts.setdefault(rid, r.get("time"))
        elif r.get("event") == "requirement-end" and isinstance(rid, str):
            ends[rid] = r.get("time")

    def attach(rid: str, a: StepAttachment) -> Attachment:
        source = f"{_id(run_id, rid, *a.key)}-attachment.json"
        (target / source).write_bytes(a.data)
        return Attachment(name=a.name, source=source, type="application/json")

    for entry in summary["requirements"]:
        rid = entry["id"]
        item = plan.get(rid) or {}
        kind = str(item.get("kind") or ("exchange" if "/exchange/" in rid else "requirement"))
        steps = []
        for step in check_steps(rid, checks.get(rid, []), bodies, by_seq=by_seq):
            moment = _ms(step.time)
            details = StatusDetails(message=step.message, trace=step.trace) if step.message else None
            steps.append(TestStepResult(name=step.name, status=Status.PASSED if step.passed else Status.FAILED,
                                        statusDetails=details, stage="finished",
                                        attachments=[attach(rid, a) for a in step.attachments],
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
