"""Judges (issue 15): every verdict a pure function of DIP transcript records and recorded arguments.

Each judge is shown passing what a good participant leaves in the DIP's transcript and failing what
a faulty one does, on records made here exactly as the DIP exports them (bodies inline, base64).
The run and `verify --dip-cert` call these same functions; test_dip_run.py shows that end to end.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from datetime import date, timedelta

import pytest

from harness.judges import JUDGES, RecordSet, TranscriptRecord, UnknownJudge, apply, verdict
from harness.messages.samples import DEFAULT_PARTIES, SampleFactory
from harness.transport.responses import response_entry, standard_response

MDR, SDS = DEFAULT_PARTIES["MDR"], DEFAULT_PARTIES["SDS"]
FACTORY = SampleFactory(7, parties=DEFAULT_PARTIES)
TODAY = date.today().isoformat()


def _b(data) -> bytes:
    return data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode("utf-8")


def record(seq: int, kind: str, *, request=None, response=None, **fields) -> TranscriptRecord:
    data = {"seq": seq, "session": "s1", "kind": kind, "time": "2025-01-01T00:00:00+00:00", **fields}
    for side, body in (("request", request), ("response", response)):
        if body is not None:
            raw = _b(body)
            data[f"{side}_sha256"] = hashlib.sha256(raw).hexdigest()
            data[f"{side}_b64"] = base64.b64encode(raw).decode("ascii")
    return TranscriptRecord.from_json(data)


def reply(items, code="RCP0000", status=201):
    return standard_response([response_entry(code, transaction_id=i["payload"]["CommonBlock"]["D0"]["transactionID"],
                                             sender_id=MDR.dip_id) for i in items])


def delivery(seq, items, status, response=None, *, attempt=1, error=None, final=True):
    return record(seq, "delivery", request=items, response=response if response is not None else b"",
                  status=status, attempt=attempt, error=error, final=final, delivery_id="d1", recipient=MDR.dip_id,
                  interface="IF-061", url="http://127.0.0.1:1/webhook/if-061")


def egress(event="MDRStart", interface="IF-061", **kw):
    item = FACTORY.message(interface, event, sender=SDS, recipients=[MDR.dip_id], **kw)
    return FACTORY.egress(item, recipients=[MDR.dip_id])


def submission(seq, items, *, caller=MDR.dip_id, interface="IF-062", findings=(), status=201):
    tx = [f"TX-{seq}-{i}" for i in range(len(items))]
    return record(seq, "inbound", request=items, response={"messageArray": []}, endpoint="submit", status=status,
                  caller=caller, interface=interface, transaction_ids=tx if status < 400 else [],
                  findings=list(findings), codes=["MSG0000"] * len(items) if status < 400 else ["MSG1001"])


def judged(name, records, args):
    return verdict(apply(name, RecordSet(records), args))


# --- consume ---------------------------------------------------------------------------------------

def test_a_consumed_delivery_passes_and_an_unconsumed_one_fails_with_its_reason():
    items = [egress()]
    args = {"attempts": [1], "what": "IF-061 single", "timeout": 2.0}
    assert judged("consume.accepted", [delivery(1, items, 201, reply(items))], args) == (True, frozenset())
    assert judged("consume.accepted", [delivery(1, items, 201, reply(items, "RCP1001"))], args) == \
        (False, frozenset({"consume.status"}))
    assert judged("consume.accepted", [delivery(1, items, None, error="timeout: ReadTimeout")], args) == \
        (False, frozenset({"consume.timeout"}))
    assert judged("consume.accepted", [delivery(1, items, None, error="connection: ConnectError: refused")], args) == \
        (False, frozenset({"consume.connection"}))
    assert judged("consume.accepted", [delivery(1, items, 302, b"")], args) == (False, frozenset({"consume.status"}))


def test_a_redelivery_after_a_5xx_must_be_accepted():
    items = [egress()]
    args = {"attempts": [1, 2], "what": "IF-061 single", "timeout": 2.0}
    first = delivery(1, items, 503, b"busy", final=False)
    accepted = apply("consume.accepted", RecordSet([first, delivery(2, items, 201, reply(items), attempt=2)]), args)
    assert verdict(accepted) == (True, frozenset()) and [f.rule for f in accepted] == ["consume.redelivery"]
    refused = delivery(2, items, 400, reply(items, "RCP1006", 400), attempt=2)
    assert judged("consume.accepted", [first, refused], args) == (False, frozenset({"consume.redelivery"}))


def test_a_replay_finding_is_named_as_the_replays():
    items = [egress()]
    args = {"attempts": [1], "what": "replay", "timeout": 2.0, "replay": True}
    assert judged("consume.accepted", [delivery(1, items, 400, reply(items, "RCP1006", 400))], args) == \
        (False, frozenset({"consume.replay"}))


@pytest.mark.parametrize("status, code, passed", [(401, None, True), (400, None, True), (201, "RCP9999", True),
                                                   (201, "RCP0000", False), (500, None, False)])
def test_a_hostile_delivery_must_be_refused(status, code, passed):
    items = [egress()]
    body = reply(items, code) if code else b"no"
    found = judged("consume.refused", [delivery(1, items, status, body)],
                   {"attempts": [1], "attack": "foreign-certificate", "label": "IF-061"})
    assert found == ((True, frozenset()) if passed else (False, frozenset({"consume.foreign-certificate-accepted"})))


def test_a_must_reject_sample_passes_with_its_code_in_the_reply_or_in_a_status_message():
    items = [egress()]
    tx = items[0]["payload"]["CommonBlock"]["D0"]["transactionID"]
    args = {"attempts": [1], "code": "RCP1061", "what": "a bad MPAN", "label": "IF-061", "timeout": 1.0,
            "transaction_id": tx, "party": MDR.dip_id}
    assert judged("consume.recipient-rejection", [delivery(1, items, 201, reply(items, "RCP1061"))], args)[0]
    accepted = delivery(1, items, 201, reply(items))
    assert judged("consume.recipient-rejection", [accepted], args) == \
        (False, frozenset({"consume.recipient-rejection"}))
    status = record(2, "inbound", endpoint="statusmessage", status=201, caller=MDR.dip_id,
                    request=[response_entry("RCP1061", transaction_id=tx, sender_id=MDR.dip_id)])
    assert judged("consume.recipient-rejection", [accepted, status], args) == (True, frozenset())
    someone_else = record(2, "inbound", endpoint="statusmessage", status=201, caller=SDS.dip_id,
                          request=[response_entry("RCP1061", transaction_id=tx, sender_id=SDS.dip_id)])
    assert not judged("consume.recipient-rejection", [accepted, someone_else], args)[0]


def test_a_replay_answered_twice_fails_and_once_passes():
    request = egress(correlation_id="CI-1")
    request["payload"]["CommonBlock"]["D0"]["replayIndicator"] = True
    mpan = request["payload"]["CommonBlock"]["M0"]["MPANCore"]
    answer = FACTORY.message("IF-062", None, sender=MDR, recipients=[SDS.dip_id], mpan=mpan, correlation_id="CI-1")
    args = {"attempts": [1], "label": "IF-061", "answers": [["IF-062", answer["payload"]["CommonBlock"]["S0"]
                                                             ["eventCode"].strip("[]")]],
            "party": MDR.dip_id, "role": "MDR", "timeout": 1.0}
    replayed = delivery(1, [request], 201, reply([request]))
    once = [replayed, submission(2, [answer])]
    assert judged("consume.replay-once", once, args) == (True, frozenset())
    twice = once + [submission(3, [copy.deepcopy(answer)])]
    assert judged("consume.replay-once", twice, args) == (False, frozenset({"consume.replay-processed"}))
    none = apply("consume.replay-once", RecordSet([replayed]), args)
    assert verdict(none)[0] and none[0].severity == "warning"


# --- produce ---------------------------------------------------------------------------------------

IDENTITY = {"role": "MDR", "dip_id": MDR.dip_id, "dcp_id": None, "environment": "UIT",
            "partner": {"role": "SDS", "dip_id": SDS.dip_id}}


def test_an_accepted_submission_is_judged_against_the_profiles_identity():
    good = FACTORY.message("IF-062", None, sender=MDR, recipients=[SDS.dip_id])
    args = {"message": {"seq": 1, "index": 0}, "identity": IDENTITY, "today": TODAY}
    assert judged("produce.submission", [submission(1, [good])], args) == (True, frozenset())
    prd = copy.deepcopy(good)
    prd["payload"]["CommonBlock"]["S1"]["environmentTag"] = "PRD"
    assert judged("produce.submission", [submission(1, [prd])], args) == (False, frozenset({"environment.tag"}))
    other = copy.deepcopy(good)
    other["payload"]["CommonBlock"]["A0"]["primaryRecipients"] = ["1450009999"]
    assert judged("produce.submission", [submission(1, [other])], args) == (False, frozenset({"produce.recipient"}))
    # the DIP's own business findings on the message count, by the message's index
    hub = {"rule": "mpan.check-digit", "path": "/0/payload/CommonBlock/M0/MPANCore", "expected": "x", "actual": "y",
           "message": "bad", "severity": "error"}
    assert judged("produce.submission", [submission(1, [good], findings=[hub])], args) == \
        (False, frozenset({"mpan.check-digit"}))


def test_produce_findings_are_strings_the_evidence_record_schema_accepts(tmp_path):
    """A missing sender role or a wrong recipient list was once put into the finding as the raw value (None, a
    list): the check record then broke evidence-record.schema.json and verify refused the whole bundle."""
    from harness.evidence.recorder import Recorder
    from harness.evidence.safejson import RECORD_SCHEMA, read_bundle_records, shape_errors

    bad = FACTORY.message("IF-062", None, sender=MDR, recipients=[SDS.dip_id])
    del bad["payload"]["CommonBlock"]["S1"]["senderRoleID"]
    bad["payload"]["CommonBlock"]["A0"]["primaryRecipients"] = ["1450009999"]
    args = {"message": {"seq": 1, "index": 0}, "identity": IDENTITY, "today": TODAY}
    found = apply("produce.submission", RecordSet([submission(1, [bad])]), args)
    rules = {f.rule for f in found}
    assert {"produce.sender-role", "produce.recipient"} <= rules
    recipient = next(f for f in found if f.rule == "produce.recipient")
    assert (recipient.expected, recipient.actual) == (repr([SDS.dip_id]), "['1450009999']")
    assert next(f for f in found if f.rule == "produce.sender-role").actual == "None"
    recorder = Recorder(tmp_path)
    recorder.check("MDR-5.2b/IF-062/produce", "produce.submission", False, found)
    recorder.close()
    records = read_bundle_records(tmp_path / "evidence.jsonl", "evidence.jsonl")  # refuses a misshapen record
    assert [list(shape_errors(r, RECORD_SCHEMA)) for r in records] == [[] for _ in records]


def test_an_absent_or_rejected_record_is_never_an_accepted_message():
    args = {"message": {"seq": 5, "index": 0}, "identity": IDENTITY, "today": TODAY}
    assert judged("produce.submission", [], args) == (False, frozenset({"produce.accepted"}))


def test_a_rejected_submission_carries_the_dips_reasons():
    reason = {"rule": "hub.sender-role", "path": "/0/payload/CommonBlock/S1/senderRoleID", "expected": "MDR",
              "actual": "SDS", "message": "wrong role", "severity": "error"}
    refused = record(4, "inbound", endpoint="submit", status=400, caller=MDR.dip_id, codes=["MSG1010"],
                     findings=[reason], request=[{}])
    args = {"seq": 4, "prefix": "refused", "fallback": "hub.rejected"}
    found = apply("submission.rejected", RecordSet([refused]), args)
    assert verdict(found) == (False, frozenset({"hub.sender-role"})) and found[0].extra["codes"] == ["MSG1010"]


def test_declared_flows_fails_a_message_on_an_interface_the_profile_does_not_enable():
    ok = FACTORY.message("IF-062", None, sender=MDR, recipients=[SDS.dip_id])
    stray = FACTORY.message("IF-064", None, sender=MDR, recipients=[SDS.dip_id])
    args = {"party": MDR.dip_id, "role": "MDR", "enabled": ["IF-062"]}
    assert judged("produce.declared-flows", [submission(1, [ok])], args) == (True, frozenset())
    assert judged("produce.declared-flows", [submission(1, [ok]), submission(2, [stray], interface="IF-064")],
                  args) == (False, frozenset({"produce.undeclared-flow"}))
    # someone else's message is not the party's
    assert judged("produce.declared-flows", [submission(2, [stray], caller=SDS.dip_id, interface="IF-064")],
                  args) == (True, frozenset())


# --- exchange --------------------------------------------------------------------------------------

def test_an_answer_to_another_request_fails_correlation():
    request = FACTORY.message("IF-061", None, sender=SDS, recipients=[MDR.dip_id], correlation_id="CI-A")
    mpan = request["payload"]["CommonBlock"]["M0"]["MPANCore"]
    right = FACTORY.message("IF-062", None, sender=MDR, recipients=[SDS.dip_id], mpan=mpan, correlation_id="CI-A")
    wrong = FACTORY.message("IF-062", None, sender=MDR, recipients=[SDS.dip_id], mpan=mpan, correlation_id="CI-B")
    args = {"rule": "exchange.correlation", "answer": {"seq": 2, "index": 0}, "request": {"seq": 1, "index": 0},
            "others": {"CI-B": "request step 'stop'"}}
    req = submission(1, [request], caller=SDS.dip_id, interface="IF-061")
    assert judged("exchange.answer", [req, submission(2, [right])], args) == (True, frozenset())
    assert judged("exchange.answer", [req, submission(2, [wrong])], args) == \
        (False, frozenset({"exchange.correlation"}))


def test_a_reply_naming_another_transaction_fails_and_no_delivery_is_a_finding():
    items = [egress()]
    args = {"attempts": [1], "reply": "accept", "label": "IF-061", "role": "MDR", "recipient": MDR.dip_id,
            "bound": 1.0}
    good = delivery(1, items, 201, reply(items))
    assert judged("exchange.delivery", [good], args) == (True, frozenset())
    assert judged("exchange.reply", [good], args) == (True, frozenset())
    other = standard_response([response_entry("RCP0000", transaction_id="SOMEONE-ELSE", sender_id=MDR.dip_id)])
    assert judged("exchange.reply", [delivery(1, items, 201, other)], args) == (False, frozenset({"exchange.reply"}))
    assert judged("exchange.delivery", [], {**args, "attempts": []}) == (False, frozenset({"exchange.delivery"}))


def test_nothing_steps_fail_a_forbidden_message_in_the_scanned_range():
    consumption = FACTORY.message("IF-064", None, sender=MDR, recipients=[SDS.dip_id])
    mpan = consumption["payload"]["CommonBlock"]["M0"]["MPANCore"]
    days = consumption["payload"]["CustomBlock"]["B941List"]
    last = max(date.fromisoformat(d["settlementDay"]["settlementDayDate"][:10]) for d in days)
    args = {"rule": "exchange.after-stop", "mpan": mpan, "sender": MDR.dip_id, "interface": "IF-064",
            "event": "MDRConsumption", "stop": (last - timedelta(days=1)).isoformat(), "why": "", "exclude": []}
    sent = submission(3, [consumption], interface="IF-064")
    assert judged("exchange.nothing", [sent], args) == (False, frozenset({"exchange.after-stop"}))
    assert judged("exchange.nothing", [sent], {**args, "stop": last.isoformat()}) == (True, frozenset())
    tx = sent.transaction_ids[0]
    assert judged("exchange.nothing", [sent], {**args, "exclude": [tx]}) == (True, frozenset())


# --- the registry -----------------------------------------------------------------------------------

def test_every_judge_is_registered_and_an_unknown_one_is_refused():
    assert {"consume.accepted", "consume.refused", "consume.recipient-rejection", "consume.replay-once",
            "produce.submission", "submission.rejected", "produce.declared-flows", "exchange.received",
            "exchange.answer", "message.environment", "exchange.delivery", "exchange.reply",
            "exchange.nothing"} <= set(JUDGES)
    with pytest.raises(UnknownJudge):
        apply("no.such-judge", RecordSet(), {})


def test_a_record_whose_body_was_swapped_says_so():
    good = delivery(1, [egress()], 201, b"x")
    assert good.body_hashes_hold() == []
    swapped = TranscriptRecord({**good.data, "request_sha256": "0" * 64}, good.request_body, good.response_body)
    assert swapped.body_hashes_hold() == ["request"]
