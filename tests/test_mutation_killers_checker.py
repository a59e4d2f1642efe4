"""Tests that catch a broken bundle check (issue 21), on what `dipcert verify` reports: every field of
the plan, evidence-log, re-validation and summary findings a reviewer reads (rule, path, expected,
actual, message, severity and the seq/requirement they carry), on logs written by the real Recorder
and bent one way at a time. Bundles and helpers are those of test_verify."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from test_mutation_killers_verify import write_summary_unchecked
from test_transcript_verify import DIP, MDR, SDS, make_transcript
from test_verify import (
    API_KEY,
    ATTESTATION,
    DIGEST,
    NOW,
    PACK,
    PLAN,
    PROFILE,
    Identity,
    _key,
    make_bundle,
    make_ca,
    make_identity,
    make_summary,
    record_run,
    refinalise,
    verify_bundle,
)

from harness.config.profile import public_digest
from harness.core.errors import InputError
from harness.core.findings import Finding, errors, short
from harness.evidence.attachments import attach
from harness.evidence.bundle import certificate_fingerprint, file_sha256, finalise_bundle, write_summary
from harness.evidence.checker import _Seqs
from harness.evidence.origin import FAILED, NOT_CHECKED, UNPINNED, UNVERIFIED, VERIFIED
from harness.evidence.qualification import RULE, judge, statement
from harness.evidence.recorder import GENESIS, Recorder, line_hash, read_records
from harness.evidence.safejson import MAX_DEPTH
from harness.evidence.safezip import Limits
from harness.evidence.transcript import TRANSCRIPT

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


# -- the qualification requirement judged again, and summary.json's statement of it (issue 19) ---------

QUALIFICATION = {"id": "MDR-5.1/qualification/uep-confirmation", "kind": "qualification", "enabled": True}
QUALIFIED = {"role": "MDR", "party": {"role": "MDR", "dip_id": "DIP-MDR-0001"},
             "qualification": {"dcc_user_role": "MDR", "operating_model": 3, "uep_confirmation": "secas.pdf"}}


def _qualified_run(folder: Path, *, passed: bool, attached: bool, qualification: dict | None = None) -> None:
    """An MDR using the MDR DCC User Role: its uep-confirmation check recorded `passed`, with SECAS's
    confirmation attached or not; the rest of the run passes (so other requirements pass beside it)."""
    profile = dict(QUALIFIED, qualification=qualification or QUALIFIED["qualification"])
    digest = public_digest(profile)
    rec = Recorder(folder, run={"run_id": "run-1", "profile": profile, "profile_digest": digest})
    rec.event("plan", requirements=[QUALIFICATION, *PLAN], profile_digest=digest, profile=profile)
    if attached:
        attach(rec, folder, attests="uep-confirmation", data=b"%PDF-1.4 SECAS confirmation\n", source="secas.pdf",
               title="SECAS's confirmation")
    rec.check(QUALIFICATION["id"], RULE, passed)
    rec.check(PLAN[0]["id"], "webhook.accepts-valid", True)
    rec.check(PLAN[1]["id"], "api.produces-valid", True)
    rec.close()


def test_a_qualification_passed_without_the_confirmation_attached_is_named_field_by_field(tmp_path: Path) -> None:
    """The check says passed, the attachment events say SECAS's confirmation is not in the bundle:
    verify judges it again and names the requirement, with the judge's own reason."""
    _qualified_run(tmp_path / "run-1", passed=True, attached=False)
    again = judge(QUALIFIED["qualification"], {})
    assert len(again) == 1
    assert found(verify_bundle(tmp_path / "run-1", now=NOW), "qualification") == [
        ("qualification.disagrees", QUALIFICATION["id"], "fail", "pass",
         f"{QUALIFICATION['id']} passed in the evidence, but judged again from the attachments: {again[0].message}",
         "error", {"requirement": QUALIFICATION["id"]})]


@pytest.mark.parametrize(("passed", "attached", "qualification"), [
    (True, True, None),  # the confirmation is attached: the pass stands
    (False, False, None),  # the evidence already fails it: nothing to contradict
    (True, False, {"dcc_user_role": "supplier", "operating_model": 1}),  # the supplier roles need no confirmation
])
def test_a_qualification_verdict_the_attachments_bear_out_is_no_finding(tmp_path: Path, passed: bool, attached: bool,
                                                                       qualification: dict | None) -> None:
    _qualified_run(tmp_path / "run-1", passed=passed, attached=attached, qualification=qualification)
    assert found(verify_bundle(tmp_path / "run-1", now=NOW), "qualification", "attachment") == []


def test_a_summary_restating_the_qualification_otherwise_is_named_and_the_true_statement_accepted(
        tmp_path: Path) -> None:
    folder = tmp_path / "run-1"
    _qualified_run(folder, passed=True, attached=True)
    summary = make_summary(folder)
    assert "qualification" not in summary  # a summary without the key claims nothing
    write_summary_unchecked(folder, summary)
    assert found(verify_bundle(folder, now=NOW), "summary") == []
    truth = statement(QUALIFIED, read_records(folder / LOG))
    assert truth is not None and truth["attested"] and truth["dcc_user_role"] == "MDR"
    write_summary_unchecked(folder, {**summary, "qualification": truth})
    assert found(verify_bundle(folder, now=NOW), "summary") == []
    for claimed in ({**truth, "dcc_user_role": "supplier"}, {**truth, "attested": []}, {**truth, "operating_model": 4}):
        write_summary_unchecked(folder, {**summary, "qualification": claimed})
        assert found(verify_bundle(folder, now=NOW), "summary") == [
            ("summary.qualification", "summary.json/qualification", "the statement and attachments in the evidence",
             "another", "summary.json's qualification is not what the recorded profile and the attachment events say",
             "error", {})], claimed


def test_a_summary_that_is_not_json_or_not_a_summary_is_refused_naming_the_file(tmp_path: Path) -> None:
    folder, _ = make_bundle(tmp_path)
    (folder / "summary.json").write_text("{not json", "utf-8")
    with pytest.raises(InputError) as refused:
        verify_bundle(folder, now=NOW)
    assert str(refused.value) == (f"{folder}: summary.json: not valid JSON (Expecting property name enclosed in "
                                  "double quotes: line 1 column 2 (char 1))")
    summary = make_summary(folder)
    write_summary_unchecked(folder, {**summary, "qualification": None})
    with pytest.raises(InputError) as refused:
        verify_bundle(folder, now=NOW)
    assert str(refused.value) == (f"{folder}: summary.json: /qualification: None is not of type 'object' "
                                  "(see schemas/evidence-summary.schema.json)")
    write_summary_unchecked(folder, summary)
    assert verify_bundle(folder, now=NOW).summary == summary  # what the report of verify shows


# -- exchanges the DIP's transcript also holds: the party's copy must be the DIP's (issue 15) -----------

def _mirrored(folder: Path, *copies: dict[str, Any]) -> list[tuple]:
    """The DIP's transcript of one delivery (test_transcript_verify.make_transcript: record 3, HTTP 201)
    and the party's evidence holding one HTTP record per `copies`: a faithful copy with those changes."""
    make_transcript(folder)
    delivered = json.loads((folder / TRANSCRIPT).read_bytes().splitlines()[2])
    request, response = (base64.b64decode(delivered[f"{side}_b64"]) for side in ("request", "response"))
    rec = Recorder(folder, secrets=[API_KEY], run={"run_id": "RUN-1", "profile": PROFILE, "profile_digest": DIGEST})
    rec.event("plan", requirements=PLAN, profile_digest=DIGEST, profile=PROFILE)
    for changes in copies:
        rec.http(**{"channel": "webhook-delivery", "method": "POST", "url": "https://127.0.0.1:9/webhook/IF-061",
                    "request_headers": {}, "request_body": request, "status": 201, "response_body": response,
                    "started": NOW, "elapsed_ms": 1.0, "context": {"transcript_seq": 3}, **changes})
    rec.close()
    return found(verify_bundle(folder, now=NOW, dip_certs=[DIP.certificate]), "transcript.mismatch")


def _mismatch(seq: int, wrong: str) -> tuple:
    return ("transcript.mismatch", f"{LOG}#seq={seq}", "DIP transcript record 3", wrong,
            f"evidence record {seq} differs from the DIP's record 3 of the same exchange: {wrong}", "error",
            {"seq": seq})


@pytest.mark.parametrize(("copies", "expected"), [
    pytest.param(({},), [], id="faithful"),
    pytest.param(({"status": 200},), [_mismatch(3, "status 200 (the DIP's: 201)")], id="status"),
    pytest.param(({"response_body": b"{}"},), [_mismatch(3, "response body")], id="response-body"),
    pytest.param(({"status": None, "response_body": None},),
                 [_mismatch(3, "status None (the DIP's: 201), response body")], id="no-response"),
    pytest.param(({"request_body": None},), [_mismatch(3, "request body")], id="no-request-body"),
    pytest.param(({}, {"status": 202, "request_body": b"[]"}),
                 [_mismatch(4, "status 202 (the DIP's: 201), request body")], id="second-copy"),
    pytest.param(({"channel": "hub-inbound", "context": {"transcript_seq": 9}},), [
        ("transcript.mismatch", f"{LOG}#seq=3", "transcript record 9", "absent", "evidence record 3 copies DIP "
         "transcript record 9, which the transcript does not hold", "error", {"seq": 3})], id="not-in-transcript"),
    # a secret blotted out of the party's copy: its bytes differ from the DIP's by design
    pytest.param(({"response_body": b'{"key": "' + API_KEY.encode() + b'"}'},), [], id="redacted"),
    # not a copy of a DIP record: another channel, or no transcript seq
    pytest.param(({"channel": "webhook", "status": 200},), [], id="not-a-mirror-channel"),
    pytest.param(({"context": {"transcript_seq": "3"}, "status": 200},), [], id="no-transcript-seq"),
])
def test_an_exchange_copied_from_the_dip_must_hold_the_dips_status_and_bodies(tmp_path: Path, copies: tuple,
                                                                             expected: list) -> None:
    assert _mirrored(tmp_path / "run-1", *copies) == expected


def test_a_dip_certificate_asked_for_needs_the_dips_transcript_in_the_bundle(tmp_path: Path) -> None:
    folder, _ = make_bundle(tmp_path)
    assert found(verify_bundle(folder, now=NOW), "transcript") == []
    assert found(verify_bundle(folder, now=NOW, dip_certs=[DIP.certificate]), "transcript") == [
        ("transcript.missing", "dip/transcript.jsonl", "the DIP's signed transcript", "absent",
         "the bundle carries no dip/transcript.jsonl and dip/transcript.dsse.json: nothing the DIP signed backs its "
         "evidence", "error", {})]


def _certification_bundle(folder: Path, party: Any) -> None:
    """A run through a remote DIP with a real nominated partner the DIP's session names, countersigned."""
    make_transcript(folder, partner=SDS.dip_id)
    run = {"run_id": "RUN-1", "party": {"role": "MDR", "dip_id": MDR.dip_id},
           "partner": {"role": "SDS", "dip_id": SDS.dip_id, "kind": "real"},
           "dip": {"kind": "remote", "url": "https://dip.test"}, "profile": PROFILE, "profile_digest": DIGEST,
           "signer_certificate_sha256": certificate_fingerprint(party.certificate)}
    rec = Recorder(folder, run=run)
    rec.event("plan", requirements=[{"id": "MDR-5.3/exchange/start", "kind": "exchange", "enabled": True}],
              profile_digest=DIGEST, profile=PROFILE)
    rec.close()
    summary = make_summary(folder, "RUN-1")
    write_summary(folder, summary)
    finalise_bundle(folder, run_id="RUN-1", harness_version="0.1.0", schema_pack=PACK, profile_digest=DIGEST,
                    started="2026-05-01T12:00:00Z", finished="2026-05-01T12:05:00Z", attestation=ATTESTATION,
                    identity=party, ready=summary["ready"])


def test_a_certification_grade_is_withdrawn_from_a_bundle_that_is_not_sound(tmp_path: Path) -> None:
    party = make_identity(index=1)
    folder = tmp_path / "RUN-1"
    _certification_bundle(folder, party)
    sound = verify_bundle(folder, now=NOW, dip_certs=[DIP.certificate])
    assert sound.sound and sound.grade["level"] == "certification"
    reasons = sound.grade["reasons"]
    assert len(reasons) == 1 and reasons[0].startswith(f"the DIP ({DIP.fingerprint()}) countersigned")
    (folder / "notes.txt").write_text("added after signing", "utf-8")
    unsound = verify_bundle(folder, now=NOW, dip_certs=[DIP.certificate])
    assert [f.rule for f in errors(unsound.findings)] == ["bundle.extra-file"]
    assert unsound.grade == {**sound.grade, "level": "self-test", "reasons": [
        *reasons, "but the bundle is not sound (see the error findings): nothing it claims is certification evidence"]}
    assert verify_bundle(folder, now=NOW).grade["level"] == "self-test"  # without the DIP's certificate: never more


# -- the signer: trusted, pinned, the party's, valid when the run finished ------------------------------

def _signed(root: Path, identity: Any, *, started: str = "2026-05-01T12:00:00Z",
            finished: str | None = "2026-05-01T12:05:00Z") -> Path:
    folder = root / "run-1"
    record_run(folder, identity)
    summary = make_summary(folder)
    write_summary(folder, summary)
    finalise_bundle(folder, run_id="run-1", harness_version="0.1.0", schema_pack=PACK, profile_digest=DIGEST,
                    started=started, finished=finished, attestation=ATTESTATION, identity=identity,
                    ready=summary["ready"])
    return folder


def _valid(not_before: datetime, not_after: datetime) -> Identity:
    """The party's certificate from the test CA, valid over exactly [not_before, not_after]."""
    ca_cert, ca_key = make_ca()
    key = _key(1)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mdr.example")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after).sign(ca_key, hashes.SHA256()))
    return Identity(key, cert, cert.public_bytes(serialization.Encoding.PEM))


FINISHED = datetime(2026, 5, 1, 12, 5, tzinfo=timezone.utc)
SECOND = timedelta(seconds=1)


@pytest.mark.parametrize(("not_before", "not_after", "expected"), [
    (FINISHED, FINISHED, []),  # valid at both ends of its period
    (FINISHED - SECOND, FINISHED - SECOND, [
        ("signature.expired", "manifest.sig", "valid at 2026-05-01T12:05:00+00:00",
         "expired 2026-05-01T12:04:59+00:00", "the signing certificate had expired when the run finished", "error",
         {})]),
    (FINISHED + SECOND, FINISHED + timedelta(days=1), [
        ("signature.not-yet-valid", "manifest.sig", "valid at 2026-05-01T12:05:00+00:00",
         "valid from 2026-05-01T12:05:01+00:00", "the signing certificate was not yet valid when the run finished",
         "error", {})]),
])
def test_the_signing_certificate_must_be_valid_when_the_run_finished(tmp_path: Path, not_before: datetime,
                                                                     not_after: datetime, expected: list) -> None:
    folder = _signed(tmp_path, _valid(not_before, not_after))
    assert found(verify_bundle(folder, now=NOW), "signature") == expected


def test_a_manifest_without_a_finish_time_is_judged_at_its_start(tmp_path: Path) -> None:
    folder = _signed(tmp_path, _valid(FINISHED - 4 * SECOND, FINISHED), started="2026-05-01T12:00:00Z", finished=None)
    assert found(verify_bundle(folder, now=NOW), "signature") == [
        ("signature.not-yet-valid", "manifest.sig", "valid at 2026-05-01T12:00:00+00:00",
         "valid from 2026-05-01T12:04:56+00:00", "the signing certificate was not yet valid when the run finished",
         "error", {})]


def test_the_origin_is_verified_only_by_a_trusted_ca_and_a_pinned_certificate(tmp_path: Path) -> None:
    ca = make_ca()
    party = make_identity(ca=ca, index=1)
    folder = _signed(tmp_path, party)
    fingerprint = certificate_fingerprint(party.certificate)
    other_ca, _ = make_ca("Other CA", index=2)
    cases = [
        ({}, UNVERIFIED, []),
        ({"trust": [ca[0]]}, UNPINNED, []),
        ({"trust": [ca[0]], "signers": [fingerprint]}, VERIFIED, []),
        ({"integrity_only": True}, NOT_CHECKED, []),
        ({"trust": [other_ca], "signers": [fingerprint]}, FAILED, [
            ("signature.untrusted", "manifest.sig", "a certificate issued by a trusted CA (--trust)", "CN=Test CA",
             "the signing certificate was not issued by any trusted certificate given", "error", {})]),
        ({"trust": [ca[0]], "signers": [OTHER_DIGEST]}, FAILED, [
            ("signature.signer-pin", "manifest.sig", "one of the certificates pinned with --signer", fingerprint,
             f"the bundle is signed by CN=mdr.example ({fingerprint}), which is not a signing certificate you pinned "
             "for the party", "error", {})]),
    ]
    for anchors, status, expected in cases:
        result = verify_bundle(folder, now=NOW, **anchors)
        assert (result.origin.status, found(result, "signature")) == (status, expected), anchors


def test_a_bundle_not_signed_with_the_certificate_the_reviewer_expects_is_named(tmp_path: Path) -> None:
    party, other = make_identity(index=1), make_identity(cn="someone.else", index=2)
    folder = _signed(tmp_path, party)
    assert found(verify_bundle(folder, now=NOW, expected_certificate=party.certificate), "signature") == []
    assert found(verify_bundle(folder, now=NOW, expected_certificate=other.certificate), "signature") == [
        ("signature.unexpected-certificate", "manifest.sig", certificate_fingerprint(other.certificate),
         certificate_fingerprint(party.certificate), "the bundle is not signed with the party's registered certificate",
         "error", {})]


def test_a_signature_missing_or_not_strict_base64_is_named(tmp_path: Path) -> None:
    folder = _signed(tmp_path, make_identity(index=1))
    signature = json.loads((folder / "manifest.sig").read_text())
    b64 = signature["signature_b64"]
    lenient = b64[:8] + "*" + b64[8:]  # decodes to the same bytes if non-alphabet characters were skipped
    assert base64.b64decode(lenient) == base64.b64decode(b64)
    with pytest.raises(ValueError) as strict:
        base64.b64decode(lenient, validate=True)
    (folder / "manifest.sig").write_text(json.dumps({**signature, "signature_b64": lenient}))
    assert found(verify_bundle(folder, now=NOW), "signature") == [
        ("signature.certificate", "manifest.sig", "a PEM certificate and base64 signature", short(str(strict.value)),
         f"manifest.sig cannot be read: {short(str(strict.value))}", "error", {})]
    (folder / "manifest.sig").unlink()
    assert found(verify_bundle(folder, now=NOW), "signature") == [
        ("signature.missing", "manifest.sig", "present", "absent",
         "no manifest.sig: the bundle is not signed, so nothing ties it to a party", "error", {})]


# -- the log's end, its gaps and its lines -------------------------------------------------------------

def test_a_run_without_its_run_end_record_is_incomplete_and_never_ready(tmp_path: Path) -> None:
    folder = tmp_path / "run-1"
    record_run(folder, None, close=False)
    summary = make_summary(folder)
    write_summary_unchecked(folder, summary)
    result = verify_bundle(folder, now=NOW)
    assert found(result, "evidence") == [
        ("evidence.incomplete", LOG, "a run-end record", "none",
         "the run did not finish (crash or interruption): its evidence is partial", "error", {})]
    assert not result.complete and not result.recomputed_ready  # every check passed, but the run did not finish
    assert summary["ready"] is False and found(result, "summary") == []


@pytest.mark.parametrize("appended", ["a note", "a second run-end"])
def test_records_after_the_run_end_are_named(tmp_path: Path, appended: str) -> None:
    folder = tmp_path / "run-1"
    record_run(folder, None)
    rewrite(folder, lambda records: records.append(dict(records[1 if appended == "a note" else -1], seq=8)))
    result = verify_bundle(folder, now=NOW)
    assert found(result, "evidence") == [
        ("evidence.chain", f"{LOG}#seq=7", "run-end last", "lines after run-end",
         "lines were appended after the run ended", "error", {})]
    assert not result.complete


@pytest.mark.parametrize(("removed", "gap"), [((2,), "seq 3"), ((2, 3), "seq 3..4"), ((2, 3, 4), "seq 3..5")])
def test_removed_records_are_named_by_the_seqs_missing(tmp_path: Path, removed: tuple, gap: str) -> None:
    folder = tmp_path / "run-1"
    record_run(folder, None)
    rewrite(folder, lambda records: [records.pop(i) for i in reversed(removed)])
    seq = removed[-1] + 2
    assert found(verify_bundle(folder, now=NOW), "evidence.sequence") == [
        ("evidence.sequence", f"{LOG}#seq={seq}", str(removed[0] + 1), str(seq),
         f"{gap} missing before record seq {seq} (line 3): records were removed", "error", {"seq": seq})]


def test_a_long_line_that_is_not_a_record_is_shown_shortened(tmp_path: Path) -> None:
    folder = tmp_path / "run-1"
    record_run(folder, None)
    lines = _lines(folder)
    lines[2] = b'{"seq": 3, "note": "' + b"x" * 10_000 + b'\xc3x"}'  # not UTF-8, far into the line
    (folder / LOG).write_bytes(b"\n".join(lines))
    reason = "'utf-8' codec can't decode byte 0xc3 in position 10020: invalid continuation byte"
    assert len(reason) == 81
    assert found(verify_bundle(folder, now=NOW), "evidence.record") == [
        ("evidence.record", f"{LOG}:3", "one JSON object per line", short(lines[2], 40),
         f"line 3 of {LOG} is not a record ({reason[:79]}…)", "error", {})]


def test_a_long_line_that_is_json_but_not_an_object_is_shown_shortened(tmp_path: Path) -> None:
    folder = tmp_path / "run-1"
    record_run(folder, None)
    lines = _lines(folder)
    lines[2] = json.dumps(list(range(100))).encode()
    (folder / LOG).write_bytes(b"\n".join(lines))
    assert found(verify_bundle(folder, now=NOW), "evidence.record") == [
        ("evidence.record", f"{LOG}:3", "one JSON object per line", repr(lines[2])[:39] + "…",
         f"line 3 of {LOG} is not a record (not an object)", "error", {})]


def test_a_record_nested_too_deep_in_arrays_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "run-1"
    record_run(folder, None)
    lines = _lines(folder)
    deep: list[Any] = []
    for _ in range(MAX_DEPTH + 2):
        deep = [deep]
    lines[1] = json.dumps({"seq": 2, "kind": "event", "event": "note", "data": {"a": deep}}).encode()
    (folder / LOG).write_bytes(b"\n".join(lines))
    with pytest.raises(InputError) as refused:
        verify_bundle(folder, now=NOW)
    assert str(refused.value) == f"{folder}: {LOG} line 2: JSON nested more than {MAX_DEPTH} levels deep; refused"


@pytest.mark.parametrize("close", [True, False])
def test_a_manifest_claiming_ready_against_the_evidence_is_named(tmp_path: Path, close: bool) -> None:
    """A failed check, or a run that never ended although every check passed: not ready."""
    folder, _ = make_bundle(tmp_path, fail=close)
    if not close:
        rewrite(folder, lambda records: records.pop())
    _with_manifest(folder, ready=True)
    assert found(verify_bundle(folder, now=NOW), "manifest") == [
        ("manifest.ready", "manifest.json", "False", "True",
         "the manifest says ready=True, the evidence says ready=False", "error", {})]


def test_which_seqs_the_log_holds_is_exact_at_every_edge() -> None:
    """What decides whether a summary's evidence citation names a record the log holds."""
    seqs = _Seqs()
    for seq in (1, 2, 3, 5, 4, 9, 7, 8, 12):
        seqs.add(seq)
    seqs.freeze()
    assert [n for n in range(0, 15) if n in seqs] == [1, 2, 3, 4, 5, 7, 8, 9, 12]
    assert "3" not in seqs and None not in seqs and 3.0 not in seqs
    gaps = _Seqs()
    for seq in (1, 3, 5):
        gaps.add(seq)
    gaps.freeze()
    assert [n for n in range(0, 7) if n in gaps] == [1, 3, 5]
    assert 1 not in _Seqs()  # a log never read (absent) holds no seq


def test_a_summary_citing_the_last_record_or_one_past_it(tmp_path: Path) -> None:
    folder, _ = make_bundle(tmp_path)
    summary = make_summary(folder)
    summary["requirements"][0]["evidence"] = [1, 7, 8]
    write_summary_unchecked(folder, summary)
    rid = summary["requirements"][0]["id"]
    assert found(verify_bundle(folder, now=NOW), "summary.evidence") == [
        ("summary.evidence", "summary.json/requirements/0/evidence", "a recorded seq", "8",
         f"{rid} cites evidence seq 8, which is not in the log", "error", {"requirement": rid})]


def test_a_warning_in_the_evidence_need_not_be_repeated_in_the_summary(tmp_path: Path) -> None:
    folder = tmp_path / "run-1"
    rec = record_run(folder, None, close=False)
    rec.check(PLAN[0]["id"], "webhook.slow", True,
              findings=[Finding("webhook.slow", "/", "under 1 s", "1.5 s", "slow answer", severity="warning")])
    rec.close()
    summary = make_summary(folder)
    for item in summary["requirements"]:
        item["findings"] = []
    write_summary_unchecked(folder, summary)
    assert found(verify_bundle(folder, now=NOW), "summary") == []


def test_a_schema_pack_without_a_fingerprint_is_another_pack(tmp_path: Path) -> None:
    folder, _ = make_bundle(tmp_path)
    recorded = json.loads((folder / "manifest.json").read_text())["schema_pack"]["fingerprint"]
    assert found(verify_bundle(folder, now=NOW, pack=SimpleNamespace()), "bundle") == [
        ("bundle.schema-pack", "manifest.json", recorded, "None",
         "messages are re-validated with a schema pack other than the one the run used", "warning", {})]


# -- bodies one file each (bundles before segments) and in segments --------------------------------------

def test_a_sound_bundle_of_body_files_has_every_body_named(tmp_path: Path) -> None:
    folder, _ = make_bundle(tmp_path, layout="files")
    assert sorted(p.name for p in (folder / "messages").iterdir()) == [
        "3-request.bin", "3-response.bin", "5-request.bin", "5-response.bin"]
    assert found(verify_bundle(folder, now=NOW), "evidence") == []


def _exchanges(folder: Path, count: int) -> None:
    rec = Recorder(folder, run={"run_id": "run-1", "profile": PROFILE, "profile_digest": DIGEST}, layout="files")
    rec.event("plan", requirements=PLAN, profile_digest=DIGEST, profile=PROFILE)
    for n in range(count):
        rec.http(channel="api", method="POST", url="https://127.0.0.1:9/api/IF-062", request_headers={},
                 request_body=b"[%d]" % n, status=400, response_body=b"{}", started=NOW, elapsed_ms=1.0)
    rec.close()


def test_body_files_of_consecutive_exchanges_and_a_stray_one_past_them(tmp_path: Path) -> None:
    folder = tmp_path / "run-1"
    _exchanges(folder, 6)  # seqs 3..8
    for stray in ("9-request.bin", "16-response.bin", "17-request.bin"):
        (folder / "messages" / stray).write_bytes(b"[]")
    assert found(verify_bundle(folder, now=NOW), "evidence") == [
        ("evidence.unreferenced-body", f"messages/{stray}", "referenced by a record", "orphan",
         f"messages/{stray} is not referenced by any record", "warning", {})
        for stray in ("16-response.bin", "17-request.bin", "9-request.bin")]


def test_the_other_body_of_an_exchange_that_recorded_only_one_is_an_orphan(tmp_path: Path) -> None:
    folder = tmp_path / "run-1"
    record_run(folder, None, layout="files")

    def edit(records: list[dict]) -> None:
        records[2]["response"]["body"] = None
        records[4]["request"]["body"] = None

    rewrite(folder, edit)
    assert found(verify_bundle(folder, now=NOW), "evidence") == [
        ("evidence.unreferenced-body", f"messages/{name}", "referenced by a record", "orphan",
         f"messages/{name} is not referenced by any record", "warning", {})
        for name in ("3-response.bin", "5-request.bin")]


def test_body_files_of_a_record_far_from_its_line_are_still_named(tmp_path: Path) -> None:
    """Records 2-4 removed: record 5 is on line 2, its bodies are still its own; record 3's are orphans."""
    folder = tmp_path / "run-1"
    record_run(folder, None, layout="files")
    rewrite(folder, lambda records: [records.pop(1) for _ in range(3)])
    assert found(verify_bundle(folder, now=NOW), "evidence.unreferenced-body", "evidence.body") == [
        ("evidence.unreferenced-body", f"messages/{name}", "referenced by a record", "orphan",
         f"messages/{name} is not referenced by any record", "warning", {})
        for name in ("3-request.bin", "3-response.bin")]


def test_request_body_files_are_revalidated_from_the_bytes_that_were_hashed(tmp_path: Path) -> None:
    folder = tmp_path / "run-1"
    record_run(folder, None, layout="files")
    calls: list[tuple[int, bytes]] = []
    bad = Finding("schema.required", "/0/payload/CommonBlock/S1", "present", "absent", "S1 missing")

    def hook(record: dict, body: bytes) -> list[Finding]:
        calls.append((record["seq"], body))
        return [bad] if b"IF-061" in body else []

    result = verify_bundle(folder, revalidate=hook, now=NOW)
    assert calls == [(3, (folder / "messages/3-request.bin").read_bytes()), (5, b"[]")]
    assert found(result, "revalidate", "evidence") == [
        ("revalidate.disagrees", f"{LOG}#seq=3", "valid", str(bad),
         f"check for {PLAN[0]['id']} (record seq 4) passed, but message seq 3 fails re-validation: {bad}", "error",
         {"seq": 3, "requirement": PLAN[0]["id"]})]
    # a request body that cannot be found is not re-validated (as if it were empty)
    rewrite(folder, lambda records: records[2]["request"]["body"].update(file="messages/3-request.txt"))
    calls.clear()
    verify_bundle(folder, revalidate=hook, now=NOW)
    assert calls == [(5, b"[]")]


def test_segment_bodies_that_overlap_or_name_no_size_are_named(tmp_path: Path) -> None:
    folder = tmp_path / "run-1"
    record_run(folder, None)
    segment = "messages/bodies-0001.bin"
    bodies = {(r["seq"], side): r[side]["body"] for r in read_records(folder / LOG) if r["kind"] == "http"
              for side in ("request", "response")}
    q3, a3, q5 = bodies[(3, "request")], bodies[(3, "response")], bodies[(5, "request")]

    def edit(records: list[dict]) -> None:
        records[4]["request"]["body"] = dict(q3)  # record 5 names record 3's request body again
        del records[4]["response"]["body"]["size"]

    rewrite(folder, edit)
    end = a3["offset"] + a3["size"]
    total = (folder / segment).stat().st_size
    used = q3["size"] + a3["size"]
    assert found(verify_bundle(folder, now=NOW), "evidence") == [
        ("evidence.body-file", f"{segment}#offset=0", f"offset {end} or later", "0",
         f"the request body of record seq 5 overlaps a body recorded before it in {segment}: each body is recorded "
         "once", "error", {"seq": 5}),
        ("evidence.body-file", f"{LOG}#seq=5/response", "messages/bodies-NNNN.bin, offset and size", segment,
         "record seq 5 names an unexpected response body segment", "error", {"seq": 5}),
        ("evidence.unreferenced-body", segment, f"{total} bytes referenced by records", f"{used} bytes",
         f"{total - used} of the {total} bytes of {segment} are not referenced by any record", "warning", {})]
    assert q5["offset"] == end


# -- refusals before anything is concluded: the manifest's size and shape, a line nested past the parser -

def test_a_line_nested_past_what_the_parser_can_read_is_refused_with_its_line(tmp_path: Path) -> None:
    folder = tmp_path / "run-1"
    record_run(folder, None)
    lines = _lines(folder)
    lines[1] = b"[" * 100_000 + b"]" * 100_000
    (folder / LOG).write_bytes(b"\n".join(lines))
    with pytest.raises(InputError) as refused:
        verify_bundle(folder, now=NOW)
    assert str(refused.value) == f"{folder}: {LOG} line 2: JSON nested more than {MAX_DEPTH} levels deep; refused"


def test_a_manifest_listing_more_files_than_the_bundle_holds_is_refused_at_the_limit(tmp_path: Path) -> None:
    folder, _ = make_bundle(tmp_path)
    limits = Limits(max_members=1)  # the limit is then the files the folder holds
    present = sum(1 for p in folder.rglob("*") if p.is_file())
    manifest = json.loads((folder / "manifest.json").read_text())
    listed = manifest["files"]
    for n in range(present - len(listed)):  # as many listed as present: the most allowed
        listed[f"extra-{n}.txt"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert {f.rule for f in verify_bundle(folder, now=NOW, limits=limits).findings} >= {"bundle.missing-file"}
    listed["one-more.txt"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError) as refused:
        verify_bundle(folder, now=NOW, limits=limits)
    assert str(refused.value) == (f"{folder}: manifest.json: lists {present + 1} files, more than the limit of "
                                  f"{present}; refused")


def test_a_manifest_too_large_or_of_another_shape_is_refused_naming_it(tmp_path: Path) -> None:
    folder, _ = make_bundle(tmp_path)
    size = (folder / "manifest.json").stat().st_size
    limits = Limits(max_manifest_bytes=size - 1, manifest_bytes_per_member=1)
    with pytest.raises(InputError) as refused:
        verify_bundle(folder, now=NOW, limits=limits)
    assert str(refused.value) == f"{folder}: manifest.json: {size} bytes, over the limit of {size - 1}; refused"
    (folder / "manifest.json").write_text("[]")
    with pytest.raises(InputError) as refused:
        verify_bundle(folder, now=NOW)
    assert str(refused.value) == (f"{folder}: manifest.json: /: [] is not of type 'object' "
                                  "(see schemas/bundle-manifest.schema.json)")
    (folder / "manifest.json").write_text(json.dumps({"format": "dipcert-bundle/1", "files": []}))
    with pytest.raises(InputError) as refused:
        verify_bundle(folder, now=NOW)
    assert str(refused.value) == (f"{folder}: manifest.json: /files: [] is not of type 'object' "
                                  "(see schemas/bundle-manifest.schema.json)")


def test_a_summary_of_another_shape_is_refused_with_the_problem_shortened(tmp_path: Path) -> None:
    folder, _ = make_bundle(tmp_path)
    summary = make_summary(folder)
    summary["run_id"] = list(range(100))
    write_summary_unchecked(folder, summary)
    problem = f"/run_id: {list(range(100))} is not of type 'string'"
    assert len(problem) > 200
    with pytest.raises(InputError) as refused:
        verify_bundle(folder, now=NOW)
    assert str(refused.value) == f"{folder}: summary.json: {problem[:199]}… (see schemas/evidence-summary.schema.json)"


def test_the_attestation_expiry_is_judged_in_utc_whatever_the_reviewers_time_zone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _ = make_bundle(tmp_path)
    _with_manifest(folder, attestation={"name": "Ada", "role": "Test lead", "organisation": "Example Energy",
                                        "expires": "2026-05-01"})
    monkeypatch.setenv("TZ", "KIR-14")  # POSIX for UTC+14 (no tz database needed): already 2 May there
    time.tzset()
    try:
        assert found(verify_bundle(folder, now=NOW), "attestation") == []
    finally:
        monkeypatch.undo()
        time.tzset()


def test_only_a_check_record_can_be_contradicted_by_revalidation(tmp_path: Path) -> None:
    """An event that carries `passed` and `messages` (a forger's, or a future kind's) is not a check."""
    folder = tmp_path / "run-1"
    record_run(folder, None)
    rewrite(folder, lambda records: records[1].update(passed=True, messages=[3]))
    bad = Finding("schema.required", "/0/payload/CommonBlock/S1", "present", "absent", "S1 missing")
    hook = lambda record, body: [bad] if b"IF-061" in body else []  # noqa: E731
    assert [f[4] for f in found(verify_bundle(folder, revalidate=hook, now=NOW), "revalidate")] == [
        f"check for {PLAN[0]['id']} (record seq 4) passed, but message seq 3 fails re-validation: {bad}"]


def test_a_record_with_many_brackets_side_by_side_is_read_not_refused(tmp_path: Path) -> None:
    """Depth, not the number of brackets, is refused: a long flat list of objects is an ordinary record."""
    folder = tmp_path / "run-1"
    record_run(folder, None)
    rewrite(folder, lambda records: records[1]["data"].update(items=[{}] * (MAX_DEPTH * 2)))
    result = verify_bundle(folder, now=NOW)
    assert found(result, "evidence") == [] and len(result.records[1]["data"]["items"]) == MAX_DEPTH * 2
