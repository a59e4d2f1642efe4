"""Tests that catch a broken bundle check (issue 21), on what `dipcert verify` reports: every field of
the plan, evidence-log, re-validation and summary findings a reviewer reads (rule, path, expected,
actual, message, severity and the seq/requirement they carry), on logs written by the real Recorder
and bent one way at a time. Bundles and helpers are those of test_verify."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from test_mutation_killers_verify import write_summary_unchecked
from test_verify import (
    DIGEST,
    NOW,
    PLAN,
    PROFILE,
    make_bundle,
    make_identity,
    make_summary,
    record_run,
    refinalise,
    verify_bundle,
)

from harness.config.profile import public_digest
from harness.core.errors import InputError
from harness.core.findings import Finding, short
from harness.evidence.bundle import certificate_fingerprint, file_sha256
from harness.evidence.recorder import GENESIS, Recorder, line_hash, read_records
from harness.evidence.safejson import MAX_DEPTH

OTHER_DIGEST = "sha256:" + "cd" * 32
LOG = "evidence.jsonl"


def found(result: Any, *prefixes: str) -> list[tuple]:
    """(rule, path, expected, actual, message, severity, extra) of the findings whose rule starts so."""
    return [(f.rule, f.path, f.expected, f.actual, f.message, f.severity, f.extra) for f in result.findings
            if f.rule.startswith(prefixes)]


def _lines(folder: Path) -> list[bytes]:
    return (folder / LOG).read_bytes().split(b"\n")


# -- the plan is derived again from the profile recorded at run start -------------------------------

def test_a_run_start_without_profile_or_digest_is_named_field_by_field(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "run-1", run={"run_id": "run-1"})
    rec.event("plan", requirements=PLAN, profile_digest=OTHER_DIGEST)
    rec.close()
    derive = lambda _data: []  # noqa: E731  (without a profile there is nothing to derive from: no mismatch)
    assert found(verify_bundle(tmp_path / "run-1", now=NOW, plan_from_profile=derive), "plan", "evidence") == [
        ("plan.profile-missing", f"{LOG}#seq=1", "run.profile", "absent",
         "the run-start record holds no profile, so the plan cannot be derived and compared", "error", {}),
        ("plan.profile-digest", f"{LOG}#seq=1", "run.profile_digest", "absent",
         "the run-start record holds no profile digest", "error", {}),
        ("plan.profile-digest", f"{LOG}#seq=2", "None", OTHER_DIGEST,
         "the plan event's profile digest is not the run-start record's", "error", {})]


def test_an_edited_profile_and_a_plan_event_of_another_profile_are_named_field_by_field(tmp_path: Path) -> None:
    edited = {"role": "SDS"}
    rec = Recorder(tmp_path / "run-1", run={"run_id": "run-1", "profile": edited, "profile_digest": DIGEST})
    rec.event("note", text="the plan is not the second record")
    rec.event("plan", requirements=PLAN, profile_digest=OTHER_DIGEST, profile=PROFILE)
    rec.close()
    assert found(verify_bundle(tmp_path / "run-1", now=NOW), "plan", "evidence") == [
        ("plan.profile-digest", f"{LOG}#seq=1", DIGEST, public_digest(edited),
         "the profile recorded at run start is not the one its digest names (edited afterwards)", "error", {}),
        ("plan.profile-digest", f"{LOG}#seq=3", DIGEST, OTHER_DIGEST,
         "the plan event's profile digest is not the run-start record's", "error", {}),
        ("plan.profile-digest", f"{LOG}#seq=3", "the run-start profile", "another profile",
         "the plan event records another profile than the run-start record", "error", {})]


def test_a_run_without_a_plan_is_named(tmp_path: Path) -> None:
    Recorder(tmp_path / "run-1", run={"run_id": "run-1", "profile": PROFILE, "profile_digest": DIGEST}).close()
    derive = lambda _data: PLAN  # noqa: E731  (no recorded plan to compare it with: nothing more is concluded)
    assert found(verify_bundle(tmp_path / "run-1", now=NOW, plan_from_profile=derive), "plan", "evidence") == [
        ("evidence.plan", LOG, "a plan event", "none",
         "the evidence has no plan: what should have run cannot be derived", "error", {})]


def test_a_manifest_naming_another_profile_digest_is_named(tmp_path: Path) -> None:
    party = make_identity(index=1)
    folder, _ = make_bundle(tmp_path, identity=party)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["profile_digest"] = OTHER_DIGEST
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert found(verify_bundle(folder, now=NOW), "plan") == [
        ("plan.profile-digest", "manifest.json", DIGEST, OTHER_DIGEST,
         "the manifest's profile digest is not the run-start record's", "error", {})]


def test_a_profile_that_cannot_be_read_again_is_named_with_the_reason(tmp_path: Path) -> None:
    record_run(tmp_path / "run-1", None)
    reason = "unreadable " + "x" * 150

    def unreadable(_data: Any) -> list:
        raise ValueError(reason)

    result = verify_bundle(tmp_path / "run-1", now=NOW, plan_from_profile=unreadable)
    assert found(result, "plan") == [
        ("plan.profile", f"{LOG}#seq=1", "a readable participant profile", reason[:79] + "…",
         "the profile recorded at run start cannot be read again, so the plan it implies cannot be derived and "
         f"compared ({reason[:119]}…)", "error", {})]


def test_a_reuse_run_derives_its_plan_with_the_reuse_requirement_once(tmp_path: Path) -> None:
    """A run that decided reuse has requirement 5.4 in the plan derived again; the recorded plan may
    already hold it, and then it is not added twice."""
    reuse = {"id": "MDR-5.4/reuse", "kind": "reuse", "enabled": True}
    for plan, expected in ((PLAN, [*PLAN, {"id": "(reuse)", "kind": "reuse"}]), ([*PLAN, reuse], [*PLAN, reuse])):
        folder = tmp_path / f"run-{len(plan)}"
        rec = Recorder(folder, run={"run_id": "run-1", "profile": PROFILE, "profile_digest": DIGEST})
        rec.event("plan", requirements=plan, profile_digest=DIGEST, profile=PROFILE)
        rec.event("reuse-decision", reused=[])
        rec.close()
        asked: list[Any] = []
        verify_bundle(folder, now=NOW, plan_from_profile=lambda data: asked.append(data) or plan)
        assert asked == [{"profile": PROFILE, "requirements": expected}]


def test_an_advisory_requirement_recorded_as_derived_is_no_mismatch(tmp_path: Path) -> None:
    plan = [PLAN[0], dict(PLAN[1], advisory=True), PLAN[2]]
    record_run(tmp_path / "run-1", None, plan=plan)
    result = verify_bundle(tmp_path / "run-1", now=NOW, plan_from_profile=lambda _data: plan)
    assert found(result, "plan") == []
    result = verify_bundle(tmp_path / "run-1", now=NOW, plan_from_profile=lambda _data: PLAN)
    assert found(result, "plan.mismatch") == [
        ("plan.mismatch", f"{LOG}#seq=2", "enabled", "enabled, advisory",
         f"{PLAN[1]['id']}: the recorded plan differs from the plan derived from the recorded profile", "error",
         {"requirement": PLAN[1]["id"]})]


# -- the evidence log ------------------------------------------------------------------------------

def test_a_bundle_without_its_log_is_named(tmp_path: Path) -> None:
    folder, _ = make_bundle(tmp_path)
    (folder / LOG).unlink()
    assert found(verify_bundle(folder, now=NOW), "evidence.missing") == [
        ("evidence.missing", LOG, "present", "absent", f"no {LOG} in the bundle", "error", {})]


@pytest.mark.parametrize(("line", "why"), [
    (b"not json", "Expecting value: line 1 column 1 (char 0)"),
    (b"[1, 2]", "not an object"),
])
def test_a_line_that_is_not_a_record_is_named_and_the_count_goes_on(tmp_path: Path, line: bytes, why: str) -> None:
    """The bad line takes its place in the sequence: the record after it is not also out of order."""
    folder = tmp_path / "run-1"
    record_run(folder, None)
    lines = _lines(folder)
    lines[2] = line
    (folder / LOG).write_bytes(b"\n".join(lines))
    assert found(verify_bundle(folder, now=NOW), "evidence.record", "evidence.chain", "evidence.sequence") == [
        ("evidence.record", f"{LOG}:3", "one JSON object per line", repr(line),  # the bytes as Python shows them
         f"line 3 of {LOG} is not a record ({why})", "error", {}),
        ("evidence.chain", f"{LOG}#seq=4", line_hash(line), json.loads(lines[3])["prev"],
         "record seq 4 (line 4) does not follow the record before it: a record was removed, inserted, reordered "
         "or edited just before it", "error", {"seq": 4})]


def test_a_record_nested_too_deep_is_refused_with_its_line(tmp_path: Path) -> None:
    folder = tmp_path / "run-1"
    record_run(folder, None)
    lines = _lines(folder)
    deep: dict[str, Any] = {}
    for _ in range(MAX_DEPTH + 2):
        deep = {"a": deep}
    lines[1] = json.dumps({"seq": 2, "kind": "event", "event": "note", "data": deep}).encode()
    (folder / LOG).write_bytes(b"\n".join(lines))
    with pytest.raises(InputError) as refused:
        verify_bundle(folder, now=NOW)
    assert str(refused.value) == f"{folder}: {LOG} line 2: JSON nested more than {MAX_DEPTH} levels deep; refused"


@pytest.mark.parametrize("extra", [0, 1])
def test_a_record_at_the_depth_limit_is_read_and_one_level_deeper_refused(tmp_path: Path, extra: int) -> None:
    """The walk is skipped for lines with no more brackets than the limit: the boundary holds."""
    folder = tmp_path / "run-1"
    record_run(folder, None)
    lines = _lines(folder)
    deep: dict[str, Any] = {}
    for _ in range(MAX_DEPTH - 2 + extra):  # the record (1), data (2), ... : MAX_DEPTH + extra containers
        deep = {"a": deep}
    lines[1] = json.dumps({"seq": 2, "kind": "event", "event": "note", "data": deep}).encode()
    assert lines[1].count(b"{") == MAX_DEPTH + extra
    (folder / LOG).write_bytes(b"\n".join(lines))
    if extra:
        with pytest.raises(InputError, match="nested more than"):
            verify_bundle(folder, now=NOW)
    else:
        assert "evidence.chain" in {f.rule for f in verify_bundle(folder, now=NOW).findings}  # read, not refused


def test_a_log_without_its_run_start_is_named_field_by_field(tmp_path: Path) -> None:
    folder = tmp_path / "run-1"
    record_run(folder, None)
    lines = _lines(folder)
    (folder / LOG).write_bytes(b"\n".join(lines[1:]))
    assert found(verify_bundle(folder, now=NOW), "evidence.chain", "evidence.sequence") == [
        ("evidence.chain", f"{LOG}#seq=2", GENESIS, line_hash(lines[0]),
         "record seq 2 (line 1) does not follow the record before it: a record was removed, inserted, reordered "
         "or edited just before it", "error", {"seq": 2}),
        ("evidence.sequence", f"{LOG}#seq=2", "1", "2",
         "seq 1 missing before record seq 2 (line 1): records were removed", "error", {"seq": 2}),
        ("evidence.sequence", f"{LOG}#seq=2", "run-start first and only first", "event",
         "record seq 2: the run-start record must be the first record", "error", {})]


def test_a_run_that_ended_otherwise_or_was_cut_short_is_named_field_by_field(tmp_path: Path) -> None:
    rec = record_run(tmp_path / "run-1", None, close=False)
    rec.close(status="interrupted")
    assert found(verify_bundle(tmp_path / "run-1", now=NOW), "evidence") == [
        ("evidence.incomplete", f"{LOG}#seq=7", "complete", "interrupted", "the run ended with status 'interrupted'",
         "error", {})]
    record_run(tmp_path / "run-2", None)
    with open(tmp_path / "run-2" / LOG, "ab") as handle:
        handle.write(b'{"seq":8,"kind":"ev')
    assert found(verify_bundle(tmp_path / "run-2", now=NOW), "evidence") == [
        ("evidence.incomplete", LOG, "whole lines", "a truncated last line",
         "the evidence log ends mid-record: the run was interrupted while writing", "error", {})]


# -- re-validation, and the summary ----------------------------------------------------------------

def test_revalidation_contradicts_only_a_requirement_the_evidence_passes(tmp_path: Path) -> None:
    """A passed check of a requirement that also failed is no contradiction (the failure already says so)."""
    folder = tmp_path / "run-1"
    rec = record_run(folder, None, close=False)
    rec.check(PLAN[0]["id"], "webhook.answers-in-time", False, messages=[3])
    rec.close()
    bad = Finding("schema.required", "/0/payload/CommonBlock/S1", "present", "absent", "S1 missing")
    hook = lambda record, body: [bad] if b"IF-061" in body else []  # noqa: E731
    assert found(verify_bundle(folder, revalidate=hook, now=NOW), "revalidate") == []
    record_run(tmp_path / "run-2", None)
    assert found(verify_bundle(tmp_path / "run-2", revalidate=hook, now=NOW), "revalidate") == [
        ("revalidate.disagrees", f"{LOG}#seq=3", "valid", str(bad),
         f"check for {PLAN[0]['id']} (record seq 4) passed, but message seq 3 fails re-validation: {bad}", "error",
         {"seq": 3, "requirement": PLAN[0]["id"]})]


def test_a_summary_naming_another_signer_is_named_field_by_field(tmp_path: Path) -> None:
    party = make_identity(index=1)
    folder, _ = make_bundle(tmp_path, identity=party)
    summary = make_summary(folder)
    summary["signer"] = {"fingerprint": OTHER_DIGEST, "subject": "CN=someone.else"}
    write_summary_unchecked(folder, summary)
    refinalise(folder, party)
    assert found(verify_bundle(folder, now=NOW), "summary") == [
        ("summary.signer", "summary.json/signer", certificate_fingerprint(party.certificate), OTHER_DIGEST,
         "summary.json names another signer than the certificate that signed the bundle", "error", {})]


# -- the evidence grade a summary claims -----------------------------------------------------------

EXCHANGE = {"id": "MDR-5.3/exchange/stop", "kind": "exchange", "enabled": True}
REFERENCE = {"role": "SDS", "kind": "reference", "company": "dipcert", "dip_id": "DIP-SDS-0001", "mpid": "SDSA"}


def _graded_run(folder: Path, *, partner: dict | None, exchange: dict | None, claimed: str | None) -> Any:
    run = {"run_id": "run-1", "profile": PROFILE, "profile_digest": DIGEST}
    if partner is not None:
        run["partner"] = partner
    plan = [*PLAN, exchange] if exchange is not None else PLAN
    rec = Recorder(folder, run=run)
    rec.event("plan", requirements=plan, profile_digest=DIGEST, profile=PROFILE)
    rec.close()
    summary = make_summary(folder)
    if claimed is not None:
        summary["grade"] = {"level": claimed, "reasons": ["as the party wrote it"]}
    write_summary_unchecked(folder, summary)
    return found(verify_bundle(folder, now=NOW), "summary.grade")


@pytest.mark.parametrize(("partner", "exchange", "supported"), [
    (None, None, "self-test"),
    (REFERENCE, EXCHANGE, "rehearsal"),
    (REFERENCE, None, "self-test"),  # no exchange ran with the reference partner
    (REFERENCE, dict(EXCHANGE, enabled=False), "self-test"),
    (dict(REFERENCE, kind="nominated"), EXCHANGE, "self-test"),
])
def test_a_summary_may_not_claim_a_higher_grade_than_the_run_start_supports(tmp_path: Path, partner, exchange,
                                                                           supported) -> None:
    for n, claimed in enumerate((None, "rehearsal", "self-test", "certification")):
        shown = _graded_run(tmp_path / f"run-{n}", partner=partner, exchange=exchange, claimed=claimed)
        if claimed is None or claimed == "rehearsal" or claimed == supported:
            assert shown == [], claimed
        else:
            assert shown == [("summary.grade", "summary.json/grade/level", supported, claimed,
                              f"summary.json claims evidence grade {claimed!r}; the evidence (and the DIP's "
                              f"transcript) supports only "
                              f"{supported!r}", "error", {})], claimed


# -- the attestation and the schema pack -----------------------------------------------------------

def _with_manifest(folder: Path, **changes: Any) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.update(changes)
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("attestation", [
    None, {"name": "Ada", "role": "Test lead", "organisation": "Example Energy"},
    {"name": "", "role": "Test lead", "organisation": "Example Energy", "expires": "2099-12-31"},
    {"name": "Ada", "role": "Test lead", "organisation": None, "expires": "2099-12-31"},
])
def test_an_incomplete_attestation_is_named(tmp_path: Path, attestation: Any) -> None:
    folder, _ = make_bundle(tmp_path)
    _with_manifest(folder, attestation=attestation)
    assert found(verify_bundle(folder, now=NOW), "attestation") == [
        ("attestation.missing", "manifest.json", "name, role, organisation, expires", short(attestation),
         "the manifest's attestation is incomplete: who ran this is not stated", "error", {})]


@pytest.mark.parametrize(("expires", "now", "expired"), [
    ("2026-05-01", NOW, False),  # the last day it holds
    ("2026-04-30T23:59:59Z", NOW, True),
    ("2026-04-30", datetime(2026, 5, 1, 1, 30, tzinfo=timezone(timedelta(hours=2))), False),  # 04-30 in UTC
    ("2026-04-30", datetime(2026, 4, 30, 23, 30, tzinfo=timezone(timedelta(hours=-2))), True),  # 05-01 in UTC
])
def test_an_attestation_expires_at_the_end_of_its_day_in_utc(tmp_path: Path, expires: str, now: datetime,
                                                          expired: bool) -> None:
    folder, _ = make_bundle(tmp_path)
    _with_manifest(folder, attestation={"name": "Ada", "role": "Test lead", "organisation": "Example Energy",
                                        "expires": expires})
    today = now.astimezone(timezone.utc).date().isoformat()
    assert found(verify_bundle(folder, now=now), "attestation") == ([
        ("attestation.expired", "manifest.json", f"not before {today}", expires[:10],
         f"the attestation expired on {expires[:10]}", "error", {})] if expired else [])


def test_an_attestation_expiry_that_is_not_a_date_is_named(tmp_path: Path) -> None:
    folder, _ = make_bundle(tmp_path)
    _with_manifest(folder, attestation={"name": "Ada", "role": "Test lead", "organisation": "Example Energy",
                                        "expires": "next spring"})
    assert found(verify_bundle(folder, now=NOW), "attestation") == [
        ("attestation.expires", "manifest.json", "YYYY-MM-DD", "next spring", "attestation expiry is not a date",
         "error", {})]


def test_revalidating_with_another_schema_pack_is_a_warning(tmp_path: Path) -> None:
    folder, _ = make_bundle(tmp_path)
    recorded = json.loads((folder / "manifest.json").read_text())["schema_pack"]["fingerprint"]
    other = SimpleNamespace(fingerprint="sha256:" + "ee" * 32)
    assert found(verify_bundle(folder, now=NOW, pack=SimpleNamespace(fingerprint=recorded)), "bundle") == []
    assert found(verify_bundle(folder, now=NOW, pack=other), "bundle") == [
        ("bundle.schema-pack", "manifest.json", recorded, other.fingerprint,
         "messages are re-validated with a schema pack other than the one the run used", "warning", {})]


# -- logs rewritten and chained again (what a party with an editor and the chain rule could do) ------

def rewrite(folder: Path, edit: Any) -> None:
    """Edits the records with `edit(records)` and writes the log again with a valid hash chain, so that
    only the edited claim is wrong."""
    records = [json.loads(line) for line in _lines(folder) if line]
    edit(records)
    prev, out = GENESIS, []
    for record in records:
        record["prev"] = prev
        line = json.dumps(record, separators=(",", ":")).encode()
        prev = line_hash(line)
        out.append(line)
    (folder / LOG).write_bytes(b"\n".join(out) + b"\n")


def test_message_bodies_that_are_misnamed_missing_altered_or_orphaned_are_named_field_by_field(tmp_path: Path) -> None:
    """A bundle written a file per body (before segments)."""
    folder = tmp_path / "run-1"
    record_run(folder, None, layout="files")

    def edit(records: list[dict]) -> None:
        records[2]["request"]["body"]["file"] = "messages/5-request.bin"  # another record's body
        records[4]["request"]["body"] = None  # no request body: its response is still checked

    rewrite(folder, edit)
    (folder / "messages" / "3-response.bin").unlink()
    (folder / "messages" / "5-response.bin").write_bytes(b'{"error":"edited"}')
    recorded = json.loads(_lines(folder)[4])["response"]["body"]["sha256"]
    assert found(verify_bundle(folder, now=NOW), "evidence") == [
        ("evidence.body-file", f"{LOG}#seq=3/request", "messages/3-request.bin", "messages/5-request.bin",
         "record seq 3 names an unexpected request body file", "error", {"seq": 3}),
        ("evidence.body-missing", "messages/3-response.bin", "present", "absent",
         "the response body of record seq 3 is missing", "error", {"seq": 3}),
        ("evidence.body-hash", "messages/5-response.bin", recorded, file_sha256(folder / "messages/5-response.bin"),
         "the response body of record seq 5 is not the one recorded", "error", {"seq": 5}),
        ("evidence.unreferenced-body", "messages/3-request.bin", "referenced by a record", "orphan",
         "messages/3-request.bin is not referenced by any record", "warning", {}),
        ("evidence.unreferenced-body", "messages/5-request.bin", "referenced by a record", "orphan",
         "messages/5-request.bin is not referenced by any record", "warning", {})]


@pytest.mark.parametrize("name", ["messages/3-request.txt", "bodies/3-request.bin", "messages/03-request.bin"])
def test_a_body_file_outside_the_messages_pattern_is_named(tmp_path: Path, name: Any) -> None:
    folder = tmp_path / "run-1"
    record_run(folder, None, layout="files")
    rewrite(folder, lambda records: records[2]["request"]["body"].update(file=name))
    assert found(verify_bundle(folder, now=NOW), "evidence.body") == [
        ("evidence.body-file", f"{LOG}#seq=3/request", "messages/3-request.bin", str(name),
         "record seq 3 names an unexpected request body file", "error", {"seq": 3})]


def test_segment_bodies_that_are_misnamed_missing_cut_short_altered_or_orphaned_are_named_field_by_field(
        tmp_path: Path) -> None:
    folder = tmp_path / "run-1"
    record_run(folder, None)
    segment = "messages/bodies-0001.bin"
    data = (folder / segment).read_bytes()
    bodies = {(r["seq"], side): r[side]["body"] for r in read_records(folder / LOG) if r["kind"] == "http"
              for side in ("request", "response")}
    q5, a5 = bodies[(5, "request")], bodies[(5, "response")]

    def edit(records: list[dict]) -> None:
        records[2]["request"]["body"]["file"] = "messages/bodies-1.bin"  # not a segment's name
        records[2]["response"]["body"]["file"] = "messages/bodies-0002.bin"  # a segment not in the bundle
        records[4]["response"]["body"]["size"] = len(data) - a5["offset"] + 1  # one byte past the end

    rewrite(folder, edit)
    changed = bytearray(data)
    changed[q5["offset"]] ^= 0x01
    (folder / segment).write_bytes(bytes(changed))
    actual = hashlib.sha256(bytes(changed[q5["offset"]:q5["offset"] + q5["size"]])).hexdigest()
    assert found(verify_bundle(folder, now=NOW), "evidence") == [
        ("evidence.body-file", f"{LOG}#seq=3/request", "messages/bodies-NNNN.bin, offset and size",
         "messages/bodies-1.bin", "record seq 3 names an unexpected request body segment", "error", {"seq": 3}),
        ("evidence.body-missing", "messages/bodies-0002.bin#offset=" + str(bodies[(3, "response")]["offset"]),
         "present", "absent", "the response body of record seq 3 is missing (messages/bodies-0002.bin is not in the "
         "bundle)", "error", {"seq": 3}),
        ("evidence.body-hash", f"{segment}#offset={q5['offset']}", q5["sha256"], actual,
         "the request body of record seq 5 is not the one recorded", "error", {"seq": 5}),
        ("evidence.body-missing", f"{segment}#offset={a5['offset']}", f"{len(data) - a5['offset'] + 1} bytes at "
         f"{a5['offset']}", f"{len(data)} bytes", f"the response body of record seq 5 lies beyond the end of {segment} "
         "(cut short)", "error", {"seq": 5}),
        ("evidence.unreferenced-body", segment, f"{len(data)} bytes referenced by records",
         f"{q5['size']} bytes", f"{len(data) - q5['size']} of the {len(data)} bytes of {segment} are not referenced "
         "by any record", "warning", {})]


def test_a_finding_recorded_without_a_severity_is_an_error_the_summary_must_show(tmp_path: Path) -> None:
    folder = tmp_path / "run-1"
    record_run(folder, None, fail=True)
    rewrite(folder, lambda records: records[5]["findings"][0].pop("severity"))
    summary = make_summary(folder)
    produce = next(r for r in summary["requirements"] if r["id"] == PLAN[1]["id"])
    produce["findings"] = []
    write_summary_unchecked(folder, summary)
    index = summary["requirements"].index(produce)
    assert found(verify_bundle(folder, now=NOW), "summary") == [
        ("summary.findings", f"summary.json/requirements/{index}/findings", "envelope.empty at /", "absent",
         f"{PLAN[1]['id']}: a finding in the evidence (envelope.empty) is missing from summary.json", "error",
         {"requirement": PLAN[1]["id"]})]


# -- checks for requirements the plan did not enable -------------------------------------------------

def test_checks_for_a_requirement_not_enabled_or_not_planned_are_named_with_their_counts(tmp_path: Path) -> None:
    folder = tmp_path / "run-1"
    plan = [PLAN[0], PLAN[1], PLAN[2], {"id": "MDR-5.1/smoke"}]  # no "enabled": enabled
    rec = record_run(folder, None, plan=plan, close=False)
    rec.check(PLAN[2]["id"], "api.produces-valid", True)
    rec.check(PLAN[2]["id"], "api.produces-valid", False)
    rec.check(PLAN[2]["id"], "api.produces-valid", False)
    rec.check("MDR-9/unplanned", "extra.check", True)
    rec.check("MDR-5.1/smoke", "smoke.answers", True)
    rec.close()
    assert found(verify_bundle(folder, now=NOW), "plan") == [
        ("plan.checks-not-enabled", f"{LOG}#seq=7", "no checks", "3 check(s)",
         f"{PLAN[2]['id']} is not enabled, yet the evidence holds 3 check record(s) for it (2 failed): a "
         "requirement cannot be disabled after it ran", "error", {"requirement": PLAN[2]["id"], "seq": 7}),
        ("plan.checks-not-enabled", f"{LOG}#seq=10", "no checks", "1 check(s)",
         "MDR-9/unplanned is not in the plan, yet the evidence holds 1 check record(s) for it (0 failed): a "
         "requirement cannot be disabled after it ran", "error", {"requirement": "MDR-9/unplanned", "seq": 10})]


@pytest.mark.parametrize("recorded_has_enabled", [True, False])
def test_a_requirement_without_enabled_is_enabled_on_either_side_of_the_plan_comparison(
        tmp_path: Path, recorded_has_enabled: bool) -> None:
    explicit, implicit = [dict(PLAN[0], enabled=True)], [{k: v for k, v in PLAN[0].items() if k != "enabled"}]
    recorded, derived = (explicit, implicit) if recorded_has_enabled else (implicit, explicit)
    record_run(tmp_path / "run-1", None, plan=[*recorded, PLAN[1]])
    result = verify_bundle(tmp_path / "run-1", now=NOW, plan_from_profile=lambda _data: [*derived, PLAN[1]])
    assert found(result, "plan") == []
