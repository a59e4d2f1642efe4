"""Tests that catch a broken bundle check (issue 21): a trusted CA's namesake with another key, a
manifest naming another signer, a log with a partial line after its end, and certificate validity
at the run's end to the second. Bundles are built as in test_verify (its helpers are reused)."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from test_verify import (
    NOW,
    PLAN,
    Identity,
    _cert,
    _key,
    make_bundle,
    make_ca,
    make_identity,
    make_summary,
    record_run,
    refinalise,
    rules,
    verify_bundle,
)

from harness.core.errors import InputError
from harness.core.findings import Finding
from harness.evidence import checker
from harness.evidence.bundle import certificate_fingerprint, file_sha256, sign_bytes
from harness.evidence.checker import VerifyResult, _parse_time
from harness.evidence.origin import Anchors, issued_by_any
from harness.evidence.recorder import Recorder


def _subject(cert: Any) -> str:
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def test_a_ca_with_the_trusted_name_but_another_key_does_not_vouch_for_the_signer(tmp_path: Path) -> None:
    ca = make_ca("Namesake CA", index=0)
    party = make_identity("mdr.example", ca=ca, index=1)
    folder, _ = make_bundle(tmp_path, identity=party)
    namesake = make_ca("Namesake CA", index=2)  # same subject as the issuer, another key
    assert _subject(namesake[0]) == _subject(ca[0]) and namesake[0].subject == party.certificate.issuer
    result = verify_bundle(folder, trust=[namesake[0]], now=NOW)
    [untrusted] = [f for f in result.findings if f.rule == "signature.untrusted"]
    assert untrusted.path == "manifest.sig" and untrusted.actual == "CN=Namesake CA"
    assert "signature.untrusted" not in rules(verify_bundle(folder, trust=[namesake[0], ca[0]], now=NOW))
    assert not issued_by_any(party.certificate, [namesake[0]])
    assert issued_by_any(party.certificate, [ca[0]]) and issued_by_any(party.certificate, [party.certificate])
    assert not issued_by_any(party.certificate, [])


def test_the_manifest_must_name_the_certificate_that_signed_it(tmp_path: Path) -> None:
    party = make_identity(index=1)
    folder, _ = make_bundle(tmp_path, identity=party)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["signer"] == certificate_fingerprint(party.certificate)
    other = make_identity("someone.else", index=2)
    manifest["signer"] = certificate_fingerprint(other.certificate)  # names another party ...
    data = json.dumps(manifest, indent=2).encode()
    (folder / "manifest.json").write_bytes(data)
    (folder / "manifest.sig").write_text(json.dumps(sign_bytes(data, party)))  # ... and is signed validly
    result = verify_bundle(folder, now=NOW)
    found = [f for f in result.findings if f.rule == "signature.unexpected-certificate"]
    # issue 12: the finding names manifest.json, the file whose claim is wrong (it named manifest.sig)
    assert [(f.path, f.expected, f.actual, f.message) for f in found] == [
        ("manifest.json", certificate_fingerprint(other.certificate), certificate_fingerprint(party.certificate),
         "the signing certificate is not the one the manifest names")]
    assert "signature.invalid" not in rules(result) and result.exit_code == 1


def test_a_partial_line_after_the_run_end_is_not_a_complete_log(tmp_path: Path) -> None:
    record_run(tmp_path / "run-1", None)  # closed: ends with a complete run-end record
    assert verify_bundle(tmp_path / "run-1", now=NOW).complete
    with open(tmp_path / "run-1" / "evidence.jsonl", "ab") as handle:
        handle.write(b'{"seq":9,"kind":"ev')  # a write cut short
    result = verify_bundle(tmp_path / "run-1", now=NOW)
    assert not result.complete
    truncated = [f for f in result.findings if f.rule == "evidence.incomplete"]
    assert [(f.path, f.expected, f.actual) for f in truncated] == [
        ("evidence.jsonl", "whole lines", "a truncated last line")]


def test_the_signing_certificate_is_judged_at_the_end_of_the_run_to_the_second(tmp_path: Path) -> None:
    """finished must lie within the certificate's validity: one second past not_after is expired."""
    ca_cert, ca_key = make_ca("Short CA", index=0)
    for name, shift, rule in (("late", timedelta(seconds=1), "signature.expired"),
                              ("edge", timedelta(0), None)):
        key = _key(1)
        cert = _cert("short.example", key, "Short CA", ca_key)
        finished = cert.not_valid_after_utc + shift
        party = Identity(key, cert, cert.public_bytes(serialization.Encoding.PEM))
        folder, _ = make_bundle(tmp_path / name, identity=party)
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["finished"] = finished.isoformat()
        data = json.dumps(manifest, indent=2).encode()
        (folder / "manifest.json").write_bytes(data)
        (folder / "manifest.sig").write_text(json.dumps(sign_bytes(data, party)))
        found = {f.rule for f in verify_bundle(folder, now=NOW).findings if f.rule.startswith("signature.")}
        assert found == ({rule} if rule else set()), name


def test_run_times_parse_with_or_without_a_zone() -> None:
    assert _parse_time("2026-05-01T12:00:00Z") == datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
    assert _parse_time("2026-05-01T12:00:00") == datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
    assert _parse_time("2026-05-01T13:00:00+01:00") == datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
    assert _parse_time("soon") is None and _parse_time(None) is None


def test_a_plan_mismatch_says_what_each_side_has(tmp_path: Path) -> None:
    folder, _ = make_bundle(tmp_path)
    derived = [dict(PLAN[0], enabled=False), dict(PLAN[2], enabled=True),
               {"id": "MDR-5.3/exchange/stop", "enabled": True}]  # IF-062 produce: absent here
    advisory = [*derived, dict(PLAN[1], advisory=True)]  # issue 14: whether it is advisory is part of the plan
    for plan, side in ((derived, ("MDR-5.2b/IF-062/produce", "absent", "enabled")),
                       (advisory, ("MDR-5.2b/IF-062/produce", "enabled, advisory", "enabled"))):
        result = verify_bundle(folder, plan_from_profile=lambda _data, plan=plan: plan, now=NOW)
        found = sorted((f.message.split(":")[0], f.expected, f.actual) for f in result.findings
                       if f.rule == "plan.mismatch")
        assert found == [("MDR-5.2a/IF-061/consume", "not enabled", "enabled"), side,
                         ("MDR-5.2b/IF-065/produce", "enabled", "not enabled"),
                         ("MDR-5.3/exchange/stop", "enabled", "absent")]


# -- every field of the findings a reviewer reads ------------------------------------------------------

def shown(result: Any, *, hashes: bool = True) -> list[tuple]:
    """(rule, path, expected, actual, message, severity); without the hash values when `hashes` is False."""
    return [(f.rule, f.path, f.expected, f.actual, f.message, f.severity) if hashes or not f.rule.endswith(
        ("chain", ".hash")) else (f.rule, f.path, f.message, f.severity) for f in result.findings]


def test_tampered_files_are_named_exactly(tmp_path: Path) -> None:
    party = make_identity(index=1)
    folder, _ = make_bundle(tmp_path, identity=party)
    (folder / "summary.json").write_text((folder / "summary.json").read_text() + " ")
    (folder / "report.html").unlink()
    (folder / "extra.txt").write_text("x")
    result = verify_bundle(folder, now=NOW)
    listed = json.loads((folder / "manifest.json").read_text())["files"]["summary.json"]
    assert shown(result) == [
        ("bundle.missing-file", "report.html", "present", "absent",
         "report.html is listed in the manifest but missing from the bundle", "error"),
        ("bundle.hash", "summary.json", listed, file_sha256(folder / "summary.json"),
         "summary.json changed after the manifest was written (SHA-256 differs)", "error"),
        ("bundle.extra-file", "extra.txt", "not present", "present",
         "extra.txt is in the bundle but not in the manifest (added afterwards)", "error")]


def test_reordered_records_are_named_exactly(tmp_path: Path) -> None:
    folder = tmp_path / "run-1"
    record_run(folder, None)
    lines = (folder / "evidence.jsonl").read_bytes().split(b"\n")
    (folder / "evidence.jsonl").write_bytes(b"\n".join([lines[0], lines[2], lines[1]] + lines[3:]))
    moved = "does not follow the record before it: a record was removed, inserted, reordered or edited just before it"
    # issue 12 reads summary.json (and refuses a misshapen one) before it walks the log
    assert shown(verify_bundle(folder, now=NOW), hashes=False) == [
        ("bundle.manifest", "manifest.json", "present", "absent",
         "no manifest.json: the run was not finalised, so file hashes and the signature cannot be checked", "error"),
        ("summary.missing", "summary.json", "present", "absent", "no summary.json in the bundle", "error"),
        ("evidence.chain", "evidence.jsonl#seq=3", f"record seq 3 (line 2) {moved}", "error"),
        ("evidence.sequence", "evidence.jsonl#seq=3", "2", "3",
         "seq 2 missing before record seq 3 (line 2): records were removed", "error"),
        ("evidence.chain", "evidence.jsonl#seq=2", f"record seq 2 (line 3) {moved}", "error"),
        ("evidence.sequence", "evidence.jsonl#seq=2", "4", "2",
         "record seq 2 at line 3 is out of order (expected seq 4)", "error"),
        ("evidence.chain", "evidence.jsonl#seq=4", f"record seq 4 (line 4) {moved}", "error"),
        ("evidence.sequence", "evidence.jsonl#seq=4", "3", "4",
         "seq 3 missing before record seq 4 (line 4): records were removed", "error")]


def test_a_summary_that_disagrees_with_the_evidence_is_named_exactly(tmp_path: Path) -> None:
    party = make_identity(index=1)
    folder, _ = make_bundle(tmp_path, identity=party)
    summary = json.loads((folder / "summary.json").read_text())
    summary.update(run_id="run-2", ready=False, status="incomplete")
    summary["requirements"][0].update(verdict="fail", evidence=[999])
    summary["requirements"].append({"id": "MDR-9/extra", "interface": None, "event": None, "direction": None,
                                    "verdict": "pass", "provisional": False, "assumptions": [], "findings": [],
                                    "evidence": [], "reused_from": None})
    (folder / "summary.json").write_text(json.dumps(summary))
    html = (folder / "report.html").read_text().replace('data-verdict="pass"', 'data-verdict="fail"', 1)
    (folder / "report.html").write_text(html)
    refinalise(folder, party)
    found = [f for f in shown(verify_bundle(folder, now=NOW)) if f[0] != "summary.schema"]
    rid = "MDR-5.2a/IF-061/consume"
    assert found == [
        ("summary.run-id", "summary.json", "run-1", "run-2", "summary.json belongs to another run", "error"),
        ("summary.ready", "summary.json/ready", "True", "False",
         "summary.json says ready=False, the evidence says ready=True", "error"),
        ("summary.status", "summary.json/status", "complete", "incomplete",
         "summary.json says the run is incomplete, the evidence says complete", "error"),
        ("summary.verdict", "summary.json/requirements/0/verdict", "pass", "fail",
         f"{rid}: summary.json says fail, the evidence says pass", "error"),
        ("summary.evidence", "summary.json/requirements/0/evidence", "a recorded seq", "999",
         f"{rid} cites evidence seq 999, which is not in the log", "error"),
        ("summary.unplanned-requirement", "summary.json/requirements/3", "planned or checked", "neither",
         "MDR-9/extra is in summary.json but neither planned nor checked in the evidence", "error"),
        ("report.verdict", "report.html", "pass", "absent",
         "MDR-9/extra is not shown in report.html (no data-requirement marker)", "error")]


def _run_with_an_unplanned_check(folder: Path) -> dict[str, Any]:
    rec = record_run(folder, None, close=False)
    rec.check("MDR-9/unplanned", "extra.check", True)
    rec.close()
    summary = make_summary(folder)
    assert any(r["id"] == "MDR-9/unplanned" for r in summary["requirements"])
    return summary


def _findings(folder: Path, rule_prefix: str) -> list[tuple]:
    return [t for t in shown(verify_bundle(folder, now=NOW)) if t[0].startswith(rule_prefix)]


def test_requirements_missing_from_the_summary_or_not_planned_are_named(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "run-1"
    summary = _run_with_an_unplanned_check(folder)
    summary["requirements"] = [r for r in summary["requirements"]
                               if r["id"] not in ("MDR-5.2b/IF-062/produce", "MDR-9/unplanned")]
    write_summary_unchecked(folder, dict(summary, requirements=summary["requirements"] + ["junk"]))
    with pytest.raises(InputError, match=r"summary\.json: /requirements/2: 'junk' is not of type 'object'"):
        verify_bundle(folder, now=NOW)  # issue 12: a summary of another shape is refused, not skipped
    write_summary_unchecked(folder, summary)
    assert _findings(folder, "summary.missing") == [
        ("summary.missing-requirement", "summary.json/requirements", "MDR-5.2b/IF-062/produce", "absent",
         "MDR-5.2b/IF-062/produce (pass by the evidence) is missing from summary.json", "error"),
        ("summary.missing-requirement", "summary.json/requirements", "MDR-9/unplanned", "absent",
         "MDR-9/unplanned (pass by the evidence) is missing from summary.json", "error")]
    folder = tmp_path / "b" / "run-1"
    summary = _run_with_an_unplanned_check(folder)
    write_summary_unchecked(folder, summary)
    index = next(i for i, r in enumerate(summary["requirements"]) if r["id"] == "MDR-9/unplanned")
    found = [f for f in verify_bundle(folder, now=NOW).findings if f.rule == "summary.unplanned-requirement"]
    assert [(f.path, f.expected, f.actual, f.message, f.extra) for f in found] == [
        (f"summary.json/requirements/{index}", "in the recorded plan", "not planned",
         "MDR-9/unplanned has checks but was not in the recorded plan", {"requirement": "MDR-9/unplanned"})]


def write_summary_unchecked(folder: Path, summary: dict[str, Any]) -> None:
    """summary.json as a party could write it, without the schema check write_summary makes."""
    (folder / "summary.json").write_text(json.dumps(summary), "utf-8")


def test_an_incomplete_run_that_claims_to_be_complete_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "run-1"
    record_run(folder, None, close=False)
    summary = make_summary(folder)
    summary["status"] = "complete"
    write_summary_unchecked(folder, summary)
    assert _findings(folder, "summary.status") == [
        ("summary.status", "summary.json/status", "incomplete", "complete",
         "summary.json says the run is complete, the evidence says incomplete", "error")]


def test_report_markers_without_a_verdict_and_anchors_of_other_names(tmp_path: Path) -> None:
    ca = make_ca("Marker CA", index=0)
    party = make_identity("mdr.example", ca=ca, index=1)
    folder, _ = make_bundle(tmp_path, identity=party)
    html = (folder / "report.html").read_text().replace(
        "<table>", '<table><tr data-requirement="MDR-5.2a/IF-061/consume"><td>no verdict here</td></tr>')
    (folder / "report.html").write_text(html)
    refinalise(folder, party)
    other = make_ca("Unrelated CA", index=3)
    result = verify_bundle(folder, trust=[other[0], ca[0]], now=NOW)
    assert result.findings == []  # a marker without a verdict says nothing; the second anchor vouches
    assert issued_by_any(party.certificate, [other[0], ca[0]])


# Issue 12: the run-start record is a record like every other (read whole, within the bundle's member
# limits, and held to evidence-record.schema.json), no longer a first line read apart within 1 MiB; a
# signer that is not a string is refused as a misshapen record.
@pytest.mark.parametrize("signer, pad", [
    ("sha256:" + "00" * 32, 0),  # the run started with another certificate: named
    ("sha256:" + "00" * 32, 3 << 19),  # ... however long the run-start line
])
def test_the_signer_recorded_at_run_start_is_compared(tmp_path: Path, signer, pad) -> None:
    party = make_identity(index=1)
    folder, _ = make_bundle(tmp_path, identity=party)
    lines = (folder / "evidence.jsonl").read_text().split("\n")
    first = json.loads(lines[0])
    first["run"]["signer_certificate_sha256"] = signer
    first["run"]["pad"] = "x" * pad
    (folder / "evidence.jsonl").write_text("\n".join([json.dumps(first)] + lines[1:]))
    found = [f for f in verify_bundle(folder, now=NOW).findings if f.rule == "signature.unexpected-certificate"]
    assert [(f.expected, f.message) for f in found] == [(signer, "the bundle is signed with a certificate other than "
                                                         "the party's certificate recorded when the run started")]


def test_a_recorded_signer_that_is_not_a_fingerprint_is_refused(tmp_path: Path) -> None:
    folder, _ = make_bundle(tmp_path, identity=make_identity(index=1))
    lines = (folder / "evidence.jsonl").read_text().split("\n")
    first = json.loads(lines[0])
    first["run"]["signer_certificate_sha256"] = 12345
    (folder / "evidence.jsonl").write_text("\n".join([json.dumps(first)] + lines[1:]))
    with pytest.raises(InputError, match=r"evidence\.jsonl line 1: /run/signer_certificate_sha256: 12345 is not of "
                                         r"type 'string', 'null'"):
        verify_bundle(folder, now=NOW)


def test_signature_file_problems_are_named_exactly(tmp_path: Path) -> None:
    party = make_identity(index=1)
    folder, _ = make_bundle(tmp_path, identity=party)
    sig = json.loads((folder / "manifest.sig").read_text())
    (folder / "manifest.sig").write_text(json.dumps(dict(sig, signature_b64="not base64!")))
    [unreadable] = [f for f in verify_bundle(folder, now=NOW).findings if f.rule == "signature.certificate"]
    assert (unreadable.path, unreadable.expected) == ("manifest.sig", "a PEM certificate and base64 signature")
    assert unreadable.message == f"manifest.sig cannot be read: {unreadable.actual}" and unreadable.actual != "None"
    (folder / "manifest.sig").write_text(json.dumps(dict(sig, signature_b64=sig["signature_b64"][:-8] + "AAAAAAA=")))
    assert [t for t in shown(verify_bundle(folder, now=NOW)) if t[0].startswith("signature.")] == [
        ("signature.invalid", "manifest.sig", "a signature over manifest.json by the certificate's key",
         "does not verify", "the signature in manifest.sig does not match manifest.json and the certificate given "
         "(re-signed with another key, or the manifest was edited)", "error")]
    (folder / "manifest.sig").write_text(json.dumps(dict(sig, certificate_pem="not a certificate")))
    assert [f.rule for f in verify_bundle(folder, now=NOW).findings] == ["signature.certificate"]
    # issue 12: a manifest.sig without its signature is not a dipcert signature file: refused (exit 2)
    (folder / "manifest.sig").write_text(json.dumps({"certificate_pem": sig["certificate_pem"]}))
    with pytest.raises(InputError, match=r"manifest\.sig: /: 'algorithm' is a required property"):
        verify_bundle(folder, now=NOW)


def test_a_report_showing_another_verdict_is_named_exactly(tmp_path: Path) -> None:
    party = make_identity(index=1)
    folder, _ = make_bundle(tmp_path, identity=party)
    rid = "MDR-5.2a/IF-061/consume"
    html = (folder / "report.html").read_text().replace(
        "<table>", f'<table><tr data-requirement="{rid}" data-verdict="fail"></tr>') + "\n<!-- \xff -->"
    (folder / "report.html").write_bytes(html.encode("latin-1"))  # not UTF-8: read with replacement
    summary = json.loads((folder / "summary.json").read_text())
    write_summary_unchecked(folder, summary)
    refinalise(folder, party)
    found = [f for f in verify_bundle(folder, now=NOW).findings if f.rule == "report.verdict"]
    assert [(f.path, f.expected, f.actual, f.message, f.extra) for f in found] == [
        ("report.html", "pass", "fail,pass", f"{rid}: report.html shows fail, pass, summary.json says pass",
         {"requirement": rid})]


def test_a_requirement_missing_from_the_report_is_named_with_its_id(tmp_path: Path) -> None:
    party = make_identity(index=1)
    folder, _ = make_bundle(tmp_path, identity=party)
    rid = "MDR-5.2b/IF-062/produce"
    html = (folder / "report.html").read_text().replace(f'data-requirement="{rid}"', 'data-other="x"')
    (folder / "report.html").write_text(html)
    refinalise(folder, party)
    found = [f for f in verify_bundle(folder, now=NOW).findings if f.rule == "report.verdict"]
    assert [(f.expected, f.actual, f.message, f.extra) for f in found] == [
        ("pass", "absent", f"{rid} is not shown in report.html (no data-requirement marker)", {"requirement": rid})]


def test_findings_and_blockers_left_out_of_the_summary_are_named(tmp_path: Path) -> None:
    folder = tmp_path / "run-1"
    rec = record_run(folder, None, fail=True, close=False)
    rec.check("MDR-5.2a/IF-061/consume", "note", True, findings=[
        Finding("x.note", "/9", "a", "b", "only a warning", "warning")])
    rec.close()
    summary = make_summary(folder)
    rid = "MDR-5.2b/IF-062/produce"
    index = next(i for i, r in enumerate(summary["requirements"]) if r["id"] == rid)
    summary["requirements"][index]["findings"] = []
    summary["blockers"] = []
    write_summary_unchecked(folder, summary)
    found = [(f.rule, f.path, f.expected, f.actual, f.message, f.extra) for f in verify_bundle(folder, now=NOW).findings
             if f.rule in ("summary.findings", "summary.blockers")]
    assert found == [
        ("summary.findings", f"summary.json/requirements/{index}/findings", "envelope.empty at /", "absent",
         f"{rid}: a finding in the evidence (envelope.empty) is missing from summary.json", {"requirement": rid}),
        ("summary.blockers", "summary.json/blockers", rid, "absent",
         f"{rid} fail by the evidence but summary.json does not list it as a blocker", {"requirement": rid})]


def test_a_reused_from_that_differs_is_named_exactly(tmp_path: Path) -> None:
    folder = tmp_path / "run-1"
    rec = Recorder(folder)
    rec.event("plan", requirements=[{"id": "MDR-5.4/reuse", "enabled": True}])
    rec.event("reuse", requirement="MDR-5.4/reuse", run_id="dcp-run", manifest_sha256="sha256:" + "0" * 64,
              party="DCP-0001")
    rec.close()
    summary = make_summary(folder)
    summary["requirements"][0]["reused_from"].update(run_id="other-run", manifest_sha256="sha256:" + "1" * 64)
    write_summary_unchecked(folder, summary)
    found = [(f.path, f.expected, f.actual, f.message, f.extra) for f in verify_bundle(folder, now=NOW).findings
             if f.rule == "summary.reused-from"]
    assert found == [
        ("summary.json/requirements/0/reused_from/run_id", "dcp-run", "other-run",
         "MDR-5.4/reuse: reused_from.run_id differs from the reuse record", {"requirement": "MDR-5.4/reuse"}),
        ("summary.json/requirements/0/reused_from/manifest_sha256", "sha256:" + "0" * 64, "sha256:" + "1" * 64,
         "MDR-5.4/reuse: reused_from.manifest_sha256 differs from the reuse record", {"requirement": "MDR-5.4/reuse"})]


def test_requirement_ids_travel_with_summary_findings(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "run-1"
    summary = _run_with_an_unplanned_check(folder)
    summary["requirements"] = [r for r in summary["requirements"] if r["id"] != "MDR-9/unplanned"]
    summary["requirements"][0]["evidence"] = [999]
    write_summary_unchecked(folder, summary)
    extras = {f.rule: f.extra for f in verify_bundle(folder, now=NOW).findings
              if f.rule in ("summary.missing-requirement", "summary.evidence")}
    assert extras == {"summary.missing-requirement": {"requirement": "MDR-9/unplanned"},
                      "summary.evidence": {"requirement": summary["requirements"][0]["id"]}}


def test_the_verdict_as_json_names_every_field(tmp_path: Path) -> None:
    """`verify --json` prints VerifyResult.to_dict(): every key and value, for a verified and an
    integrity-only check (issue 21: no fast test read it)."""
    ca = make_ca("Json CA", index=4)
    party = make_identity(ca=ca, index=1)
    folder, archive = make_bundle(tmp_path, identity=party)
    pin = certificate_fingerprint(party.certificate)
    result = verify_bundle(archive, trust=[ca[0]], signers=[pin], now=NOW)
    manifest_sha = "sha256:" + file_sha256(folder / "manifest.json")
    origin = {"status": "verified", "subject": "CN=mdr.example", "fingerprint": pin,
              "issuer": "CN=Json CA", "not_after": result.origin.not_after, "trusted_by": "CN=Json CA",
              "pinned": True, "explanation": "signed by a certificate you pinned (--signer), issued by CN=Json CA"}
    assert result.to_dict() == {
        "bundle": str(archive), "run_id": "run-1", "state": "sound and ready, origin verified", "sound": True,
        "ready_by_evidence": True, "ready": True, "checked": "integrity and origin",
        "party": None, "signer": origin, "manifest_sha256": manifest_sha, "findings": [],  # no party recorded
        # issue 15: a bundle without a DIP transcript says so, and is self-test grade at best
        "dip_transcript": {"present": False, "verified": False, "signed_by": None, "dip": None, "session": None,
                           "partner": None, "count": 0, "judged": 0, "unjudged": 0},
        "grade": {"level": "self-test", "nominated_partner": None, "reasons": [
            "the DIP was simulated by dipcert on the party's own machine (embedded in the run, its signing key held "
            "by the party): at best self-test evidence (certification needs a transcript signed by a DIP the "
            "verifier trusts)"]}}
    party_run = {"party": {"role": "MDR", "dip_id": "1500000001", "mpid": "MDRA", "name": "not shown"}}
    shown = dataclasses.replace(result, records=[{"kind": "run-start", "run": party_run}]).to_dict()
    assert shown["party"] == {"role": "MDR", "dip_id": "1500000001", "mpid": "MDRA"}
    assert dataclasses.replace(result, records=[{"kind": "run-start", "run": {"party": "MDRA"}}]).to_dict()[
        "party"] is None
    loose = verify_bundle(folder, integrity_only=True, now=NOW).to_dict()
    assert (loose["checked"], loose["state"], loose["ready"], loose["bundle"]) == (
        "integrity-only", "integrity only: sound and ready by its own evidence, origin NOT checked", False,
        str(folder))
    assert loose["signer"]["status"] == "not-checked"
    (folder / "report.html").write_bytes((folder / "report.html").read_bytes() + b" ")  # a hash no longer holds
    broken = verify_bundle(folder, now=NOW)
    assert broken.to_dict()["findings"] == [f.to_dict() for f in broken.findings] != []
    assert broken.to_dict()["sound"] is False and broken.to_dict()["state"] == "NOT sound"


def _bind(records: list[dict], manifest: dict, fingerprint: str, expected: Any = None) -> list[tuple]:
    """The findings _Checker.bind_signer makes for a bundle signed by `fingerprint`."""
    result = VerifyResult(path=Path("bundle"), records=records)
    checker._Checker(Path("bundle"), Path("bundle"), result, anchors=Anchors(),
                     expected_certificate=expected).bind_signer(manifest, fingerprint)
    return [(f.rule, f.path, f.expected, f.actual, f.message, f.severity, f.extra) for f in result.findings]


def test_the_signer_is_bound_to_every_place_the_bundle_names_the_partys_certificate() -> None:
    """manifest `signer`, the run-start record, the certificate the party registered with the DIP
    (hub.party, for this party only) and the certificate the reviewer expects: each mismatch named."""
    party = make_identity(index=1)
    signed = certificate_fingerprint(party.certificate)
    other, third = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    start = {"seq": 1, "kind": "run-start", "run": {"signer_certificate_sha256": signed,
                                                     "party": {"dip_id": "1500000001"}}}
    registered = {"seq": 5, "kind": "event", "event": "hub.party",
                  "data": {"dip_id": "1500000001", "certificate": signed}}
    assert _bind([start, registered], {"signer": signed}, signed, party.certificate) == []
    elsewhere = [dict(registered, seq=6, data={"dip_id": "1500000001", "certificate": other}),
                 dict(registered, seq=7, data={"dip_id": "1600000001", "certificate": third}),  # the partner's
                 dict(registered, seq=8, event="hub.partner", data={"dip_id": "1500000001", "certificate": third}),
                 dict(registered, seq=9, data={"dip_id": "1500000001", "certificate": None})]
    assert _bind([start, *elsewhere], {"signer": signed}, signed) == [
        ("signature.unexpected-certificate", "evidence.jsonl#seq=6", other, signed,
         "the bundle is signed with a certificate other than the one the party registered with the DIP", "error",
         {"seq": 6})]
    registered_elsewhere = make_identity(index=2).certificate
    assert _bind([start], {"signer": other}, signed, registered_elsewhere) == [
        ("signature.unexpected-certificate", "manifest.json", other, signed,
         "the signing certificate is not the one the manifest names", "error", {}),
        ("signature.unexpected-certificate", "manifest.sig",
         certificate_fingerprint(registered_elsewhere), signed,
         "the bundle is not signed with the party's registered certificate", "error", {})]
    bare = {"seq": 1, "kind": "run-start", "run": {"party": "not an object"}}
    assert _bind([bare, dict(registered, data={"dip_id": "1500000001", "certificate": other})], {}, signed) == [
        ("signature.unexpected-certificate", "manifest.json", "a signer", signed,
         "the manifest names no signer, but the bundle is signed", "error", {}),
        ("signature.unexpected-certificate", "evidence.jsonl#seq=1", "recorded", signed,
         "the run-start record names no signing certificate for the party, so the signer cannot be tied to it",
         "error", {})]
