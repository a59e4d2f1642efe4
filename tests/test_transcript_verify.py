"""verify's check of the DIP's transcript (issue 15), on small bundles made here record by record.

The DIP's transcript is written exactly as the DIP exports it (hash chain over the record without its
inline bodies, a DSSE envelope over the statement); the party's evidence names judges and cites
transcript seqs. Each test changes one thing and shows the finding it makes. The whole run and the
command line are test_dip_run.py's subject.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from harness.evidence.dsse import sign_envelope
from harness.evidence.grade import evidence_grade
from harness.evidence.transcript import ENVELOPE, FORMAT, GENESIS, PAYLOAD_TYPE, TRANSCRIPT, canonical, check_transcript
from harness.messages.samples import DEFAULT_PARTIES, SampleFactory
from harness.transport.certs import cached_key, make_ca
from harness.transport.responses import response_entry, standard_response

MDR, SDS = DEFAULT_PARTIES["MDR"], DEFAULT_PARTIES["SDS"]
CA = make_ca("test DIP CA", key=cached_key("demo-ca"))
DIP = CA.issue("dip.test", key=cached_key("demo-dip")).identity()
OTHER = CA.issue("someone.else", key=cached_key("demo-MDR")).identity()
RUN = {"run_id": "RUN-1", "party": {"role": "MDR", "dip_id": MDR.dip_id}, "partner": None,
       "dip": {"kind": "remote", "url": "https://dip.test"}}
PLAN = [{"id": "MDR-5.2a/IF-061/MDRStart", "kind": "consume", "enabled": True}]


def _with_body(record: dict, side: str, body: bytes) -> dict:
    record[f"{side}_sha256"] = hashlib.sha256(body).hexdigest()
    return {f"{side}_b64": base64.b64encode(body).decode("ascii")}


def make_transcript(folder: Path, *, identity=DIP, status: int = 201, code: str = "RCP0000",
                    partner: str | None = None, played: str = DEFAULT_PARTIES["REGS"].dip_id) -> list[dict]:
    """A session of three records: session.open, a party event, one delivery; written with its envelope."""
    factory = SampleFactory(3, parties=DEFAULT_PARTIES)
    item = factory.egress(factory.message("IF-061", "MDRStart", sender=SDS, recipients=[MDR.dip_id]),
                          recipients=[MDR.dip_id])
    tx = item["payload"]["CommonBlock"]["D0"]["transactionID"]
    reply = standard_response([response_entry(code, transaction_id=tx, sender_id=MDR.dip_id)])
    records = [
        {"kind": "event", "event": "session.open", "data": {"run_id": "RUN-1", "partner": partner}},
        {"kind": "event", "event": "party", "data": {"dip_id": played, "scope": "s1"}},
        {"kind": "delivery", "recipient": MDR.dip_id, "interface": "IF-061", "url": "http://x/webhook", "attempt": 1,
         "status": status, "final": True, "delivery_id": "d1", "error": None},
    ]
    lines, prev = [], GENESIS
    for seq, r in enumerate(records, start=1):
        full = {**r, "seq": seq, "session": "s1", "prev": prev, "time": "2025-01-01T00:00:00+00:00"}
        inline = {}
        if r["kind"] == "delivery":
            inline.update(_with_body(full, "request", json.dumps([item]).encode()))
            inline.update(_with_body(full, "response", json.dumps(reply).encode()))
        prev = hashlib.sha256(canonical(full)).hexdigest()
        lines.append(canonical({**full, **inline}) + b"\n")
        r.update(full)
    data = b"".join(lines)
    (folder / "dip").mkdir(parents=True, exist_ok=True)
    (folder / TRANSCRIPT).write_bytes(data)
    statement = {"format": FORMAT, "session": "s1", "run_id": "RUN-1", "party": {"dip_id": MDR.dip_id},
                 "dip": {"fingerprint": DIP.fingerprint()}, "count": len(records), "head": prev,
                 "transcript_sha256": hashlib.sha256(data).hexdigest(), "opened": None, "closed": None}
    (folder / ENVELOPE).write_text(json.dumps(sign_envelope(PAYLOAD_TYPE, canonical(statement), identity)))
    return records


def check_record(passed: bool = True, rule_found: str | None = None, seqs=(3,)) -> dict:
    findings = [] if rule_found is None else [{"rule": rule_found, "path": "", "expected": "", "actual": "",
                                               "message": "x", "severity": "error"}]
    return {"seq": 10, "kind": "check", "requirement": "MDR-5.2a/IF-061/MDRStart", "rule": "consume.single",
            "passed": passed, "findings": findings, "messages": [], "data": {},
            "judge": "consume.accepted", "judge_args": {"attempts": [3], "what": "single", "timeout": 1.0},
            "transcript": list(seqs)}


def check(folder: Path, evidence: list[dict], trusted=(DIP.certificate,)):
    return check_transcript(folder, evidence, RUN, "RUN-1", PLAN, list(trusted))


def rules(result) -> set[str]:
    return {f.rule for f in result.findings if f.severity == "error"}


def test_a_countersigned_transcript_that_backs_every_verdict_verifies(tmp_path):
    make_transcript(tmp_path)
    result = check(tmp_path, [check_record()])
    assert result.findings == [] and result.verified and result.judged == 1
    assert result.signed_by == DIP.fingerprint() and result.count == 3


def test_an_edited_verdict_differs_from_the_judgement_of_the_transcript(tmp_path):
    make_transcript(tmp_path, status=400, code="RCP1001")  # the webhook refused the valid message
    result = check(tmp_path, [check_record(passed=True)])  # ... but the evidence says it passed
    assert rules(result) == {"transcript.verdict"} and not result.verified
    assert rules(check(tmp_path, [check_record(passed=False, rule_found="consume.status")])) == set()


def test_a_transcript_signed_by_another_key_or_missing_is_not_countersigned(tmp_path):
    make_transcript(tmp_path, identity=OTHER)
    assert rules(check(tmp_path, [check_record()])) == {"transcript.signature"}
    # without --dip-cert nothing is trusted, yet the judgement still holds the evidence to the transcript
    untrusted = check(tmp_path, [check_record()], trusted=())
    assert untrusted.findings == [] and not untrusted.verified
    assert rules(check(tmp_path / "empty", [check_record()])) == {"transcript.missing"}


def test_a_removed_or_edited_transcript_record_breaks_the_chain_and_the_statement(tmp_path):
    make_transcript(tmp_path)
    lines = (tmp_path / TRANSCRIPT).read_bytes().splitlines(keepends=True)
    (tmp_path / TRANSCRIPT).write_bytes(lines[0] + lines[2])
    assert {"transcript.chain", "transcript.statement"} <= rules(check(tmp_path, [check_record()]))
    make_transcript(tmp_path)
    text = (tmp_path / TRANSCRIPT).read_text().replace('"status":201', '"status":202')
    (tmp_path / TRANSCRIPT).write_text(text)
    assert {"transcript.statement"} <= rules(check(tmp_path, [check_record()]))


def test_a_cited_record_the_transcript_lacks_and_a_copy_that_differs_are_mismatches(tmp_path):
    records = make_transcript(tmp_path)
    assert rules(check(tmp_path, [check_record(seqs=(3, 99))])) == {"transcript.mismatch"}
    copy = {"seq": 5, "kind": "http", "channel": "hub-outbound", "context": {"transcript_seq": 3},
            "request": {"body": {"sha256": records[2]["request_sha256"]}},
            "response": {"status": 200, "body": {"sha256": records[2]["response_sha256"]}}}
    result = check(tmp_path, [copy, check_record()])
    assert rules(result) == {"transcript.mismatch"} and "status 200" in result.findings[0].message
    copy["response"]["status"] = 201
    assert rules(check(tmp_path, [copy, check_record()])) == set()


def test_a_requirement_no_check_of_which_rests_on_the_transcript_is_unbacked(tmp_path):
    make_transcript(tmp_path)
    unjudged = {k: v for k, v in check_record().items() if k not in ("judge", "judge_args", "transcript")}
    result = check(tmp_path, [unjudged])
    assert rules(result) == {"transcript.unbacked"} and result.unjudged == 1


def test_certification_needs_the_trusted_transcript_and_the_real_partner_the_dip_names(tmp_path):
    exchange = [{"id": "MDR-5.3/exchange/start", "kind": "exchange", "enabled": True}]
    run = {**RUN, "partner": {"role": "SDS", "dip_id": SDS.dip_id, "kind": "real"}}
    make_transcript(tmp_path, partner=SDS.dip_id)
    verified = check(tmp_path, [check_record()]).to_dict()
    assert evidence_grade(run, exchange, verified)["level"] == "certification"
    assert evidence_grade(run, exchange, None)["level"] == "self-test"  # the run never claims it
    assert evidence_grade({**run, "dip": {"kind": "embedded"}}, exchange, verified)["level"] == "self-test"
    reference = {**run, "partner": {**run["partner"], "kind": "reference"}}
    assert evidence_grade(reference, exchange, verified)["level"] == "rehearsal"
    make_transcript(tmp_path, partner=None)  # the DIP's session names no real partner
    assert evidence_grade(run, exchange, check(tmp_path, [check_record()]).to_dict())["level"] == "self-test"
    make_transcript(tmp_path, partner=SDS.dip_id, played=SDS.dip_id)  # ... or one the harness itself played
    assert evidence_grade(run, exchange, check(tmp_path, [check_record()]).to_dict())["level"] == "self-test"
