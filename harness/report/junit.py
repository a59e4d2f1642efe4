"""junit.xml: the run as one test suite, so a CI server shows the certification like any test run.

One testcase per requirement (classname ``kind/interface``, name = requirement id). A failure holds
the findings; an enabled requirement that never ran is an ``error`` (something is missing, not
wrong); a requirement the party did not enable is ``skipped``; a reused one passes and names the
bundle it was reused from. Times come from the evidence only, so the file is reproducible.

The file is valid against the Jenkins xUnit schema (junit-10.xsd, what CI servers parse;
tests/test_report.py, tests/test_engines.py): suite properties sit on the ``testsuite``, a testcase's own facts
(provisional, reused from) in its ``system-out`` as ``name: value`` lines, since that schema allows
no ``properties`` inside a ``testcase``, and ``skipped`` is counted on the ``testsuite`` only.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.report.summary import plan_index


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def requirement_times(records: Sequence[Mapping[str, Any]]) -> dict[str, tuple[str | None, str | None]]:
    """requirement id -> (start, end) record times from requirement-start / requirement-end events."""
    times: dict[str, list[str | None]] = {}
    for record in records:
        if record.get("kind") != "event" or record.get("event") not in ("requirement-start", "requirement-end"):
            continue
        rid = (record.get("data") or {}).get("requirement")
        if isinstance(rid, str):
            slot = times.setdefault(rid, [None, None])
            if record["event"] == "requirement-start" and slot[0] is None:
                slot[0] = record.get("time")
            elif record["event"] == "requirement-end":
                slot[1] = record.get("time")
    return {rid: (a, b) for rid, (a, b) in times.items()}


def _seconds(start: str | None, end: str | None) -> float:
    a, b = _parse(start), _parse(end)
    return max(0.0, (b - a).total_seconds()) if a and b else 0.0


def _finding_lines(findings: Sequence[Mapping[str, Any]]) -> str:
    return "\n".join(f"{f.get('rule')} at {f.get('path') or '/'}: {f.get('message')} "
                     f"(expected {f.get('expected')}, actual {f.get('actual')})" for f in findings)


def junit_xml(summary: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> bytes:
    plan = plan_index(records)
    times = requirement_times(records)
    suite = ET.Element("testsuite", name=f"dipcert {summary['party']['role']} {summary['party']['dip_id']}")
    props = ET.SubElement(suite, "properties")
    for name, value in (("run_id", summary["run_id"]), ("ready", str(summary["ready"]).lower()),
                        ("status", summary["status"]), ("environment", summary["environment"]),
                        ("system", f"{summary['system']['name']} {summary['system']['version']}"),
                        ("schema_pack", f"{summary['schema_pack']['name']} {summary['schema_pack']['version']}"),
                        ("harness_version", summary["harness_version"])):
        ET.SubElement(props, "property", name=name, value=str(value))
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total = 0.0
    for entry in summary["requirements"]:
        rid = entry["id"]
        item = plan.get(rid) or {}
        kind = str(item.get("kind") or ("exchange" if "/exchange/" in rid else "requirement"))
        classname = f"{kind}/{entry['interface']}" if entry.get("interface") else kind
        seconds = _seconds(*times.get(rid, (None, None)))
        total += seconds
        case = ET.SubElement(suite, "testcase", classname=classname, name=rid, time=f"{seconds:.3f}")
        counts["tests"] += 1
        case_props: list[tuple[str, Any]] = []  # values written with str()
        if entry["provisional"]:
            case_props.append(("provisional", ",".join(entry["assumptions"])))
        verdict = entry["verdict"]
        if verdict == "fail":
            counts["failures"] += 1
            errors = [f for f in entry["findings"] if f.get("severity", "error") == "error"] or entry["findings"]
            first = errors[0].get("message") if errors else "a check failed"
            failure = ET.SubElement(case, "failure", message=str(first), type="dipcert.fail")
            failure.text = _finding_lines(entry["findings"]) or "a check failed without findings"
        elif verdict == "not-run":
            counts["errors"] += 1
            ET.SubElement(case, "error", message="enabled but did not run: no check result in the evidence",
                          type="dipcert.not-run")
        elif verdict == "not-enabled":
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message="not enabled in the profile")
        elif verdict == "reused":
            source = entry.get("reused_from") or {}
            case_props += [("reused_from.run_id", source.get("run_id")),
                           ("reused_from.manifest_sha256", source.get("manifest_sha256"))]
        if case_props:
            out = ET.SubElement(case, "system-out")
            out.text = "".join(f"{name}: {value}\n" for name, value in case_props)
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("time", f"{total:.3f}")
    if summary.get("started"):
        suite.set("timestamp", str(summary["started"]))
    suites = ET.Element("testsuites", name="dipcert", tests=str(counts["tests"]),
                        failures=str(counts["failures"]), errors=str(counts["errors"]), time=f"{total:.3f}")
    suites.append(suite)
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"


def write_junit(path: Path | str, summary: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> Path:
    target = Path(path)
    target.write_bytes(junit_xml(summary, records))
    return target
