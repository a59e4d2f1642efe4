"""The consume and produce judges on a faulty participant's answers (issue 21, ported to issue 15's layout).

Since issue 15 every consume and produce verdict is a pure function of DIP transcript records
(`harness.judges.consume`, `harness.judges.produce`): each test here builds the records a faulty
webhook or sender leaves in the DIP's transcript (exactly as the DIP exports them: bodies inline,
base64), changes one answer, and asserts the exact findings a reviewer reads. The second half drives
the run path (`harness.run.consume`, `harness.run.produce`) on a scripted DIP session (`Session`: the
RemoteHub's interface, with the DIP's probes answered from a script) to show which records a check
cites and when a step is not taken. The end-to-end runs (tests/test_run.py, tests/test_dip_*.py) show
the same judges against the real DIP and the reference participants.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import json
import threading
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from harness.dip.client import ProbeResult
from harness.dip.model import Rejection, StatusMessage, Submission
from harness.findings import Finding
from harness.judges import RecordSet, TranscriptRecord, apply
from harness.judges import produce as produce_judge
from harness.messages.ids import correlation_id, is_valid_mpan, mpan_check_digit, parse_dip_timestamp
from harness.messages.samples import DEFAULT_PARTIES, SampleFactory
from harness.profile import load_profile
from harness.run import adversary, consume, produce
from harness.run.context import DEFAULT_BATCH, RunContext
from harness.run.demo import make_pki, profile_text
from harness.run.planning import certification_plan
from harness.run.triggers import SendResult
from harness.transport.delivery import WebhookConfig
from harness.transport.responses import response_entry, standard_response

UTC = timezone.utc
MDR, SDS = DEFAULT_PARTIES["MDR"], DEFAULT_PARTIES["SDS"]
FACTORY = SampleFactory(21, parties=DEFAULT_PARTIES)
ATTACK_RULES = [a.check for a in adversary.ATTACKS]
LABEL = "IF-061 [MDRStart]"


# --- transcript records as the DIP exports them --------------------------------------------------------

def _b(data: Any) -> bytes:
    return data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode("utf-8")


def record(seq: int, kind: str, *, request: Any = None, response: Any = None, **fields: Any) -> TranscriptRecord:
    data = {"seq": seq, "session": "s1", "kind": kind, "time": "2025-01-01T00:00:00+00:00", **fields}
    for side, body in (("request", request), ("response", response)):
        if body is not None:
            raw = _b(body)
            data[f"{side}_sha256"] = hashlib.sha256(raw).hexdigest()
            data[f"{side}_b64"] = base64.b64encode(raw).decode("ascii")
    return TranscriptRecord.from_json(data)


def tx_of(item: dict) -> str:
    return item["payload"]["CommonBlock"]["D0"]["transactionID"]


def egress(event: str = "MDRStart", **kw: Any) -> dict:
    item = FACTORY.message("IF-061", event, sender=SDS, recipients=[MDR.dip_id], **kw)
    return FACTORY.egress(item, recipients=[MDR.dip_id])


def reply(items: list[dict], *codes: str) -> bytes:
    """A StandardResponse naming each item with its code (one code: the same for every item)."""
    codes = codes * len(items) if len(codes) == 1 else codes
    return _b(standard_response([response_entry(c, transaction_id=tx_of(i), sender_id=MDR.dip_id)
                                 for i, c in zip(items, codes)]))


def attempt(seq: int, items: list[dict], status: int | None, body: bytes = b"", *, number: int = 1, batch: int = 0,
            error: str | None = None, delivery_id: str = "d1") -> TranscriptRecord:
    """One attempt of the DIP to the party's webhook."""
    return record(seq, "delivery", request=items, response=body, status=status, attempt=number, batch=batch,
                  error=error, delivery_id=delivery_id, recipient=MDR.dip_id, interface="IF-061",
                  url="http://127.0.0.1:1/webhook/if-061")


def judge(name: str, records: list[TranscriptRecord], args: Mapping[str, Any]) -> list[Finding]:
    return apply(name, RecordSet(records), args)


def submission(seq: int, items: list[dict], *, caller: str = MDR.dip_id, interface: str = "IF-064",
               findings: list[Finding] = (), status: int = 201, tx: list[str] | None = None) -> TranscriptRecord:
    return record(seq, "inbound", request=items, response={"messageArray": []}, endpoint="submit", status=status,
                  caller=caller, interface=interface, transaction_ids=tx or [f"T-{seq}-{i}" for i in range(len(items))],
                  findings=[f.to_dict() for f in findings], codes=["MSG0000"] * len(items))


def status_message(seq: int, entries: list[Any], caller: str = MDR.dip_id, status: int = 201) -> TranscriptRecord:
    return record(seq, "inbound", endpoint="statusmessage", status=status, caller=caller, request=entries)


ACCEPT = {"attempts": [1], "what": f"{LABEL} single delivery", "timeout": 0.5}


# --- consume.accepted ----------------------------------------------------------------------------------

def test_a_delivery_consumed_passes_and_a_failed_one_is_a_status_finding():
    items = [egress()]
    assert judge("consume.accepted", [attempt(1, items, 201, reply(items, "RCP0000"))], ACCEPT) == []
    [finding] = judge("consume.accepted", [attempt(1, items, 201, reply(items, "RCP1003"))], ACCEPT)
    assert finding == Finding("consume.status", "", "HTTP 201 with a StandardResponse, RCP0000 for every message",
                              "HTTP 201 (RCP1003)", f"{LABEL} single delivery: not consumed (HTTP 201 (RCP1003))",
                              extra={"codes": ["RCP1003"]})
    [finding] = judge("consume.accepted", [attempt(1, items, 400, reply(items, "RCP1061"))], ACCEPT)
    assert finding == Finding(
        "consume.status", "", "HTTP 201 with a StandardResponse, RCP0000 for every message", "HTTP 400 (RCP1061)",
        f"{LABEL} single delivery: not consumed (HTTP 400 (RCP1061); delivery.message-rejected: delivery: the "
        "webhook reported RCP1061 for message 0)", extra={"codes": ["RCP1061"]})
    # the DIP's last attempt after a 5xx: only the errors are listed, every one of them
    [finding] = judge("consume.accepted", [attempt(1, items, 500)], ACCEPT)
    assert finding == Finding("consume.status", "", "HTTP 201 with a StandardResponse, RCP0000 for every message",
                              "HTTP 500", f"{LABEL} single delivery: not consumed (HTTP 500; delivery.status: "
                              "delivery: still HTTP 500 after 1 attempt(s))", extra={"codes": []})


def test_a_batch_answer_lists_every_failed_message():
    items = [egress(), egress()]
    [finding] = judge("consume.accepted", [attempt(1, items, 400, reply(items, "RCP1061", "RCP1003"))],
                      {**ACCEPT, "what": f"{LABEL} batch of 2", "batch": 2})
    assert (finding.rule, finding.actual, finding.extra) == ("consume.status", "HTTP 400 (RCP1061, RCP1003)",
                                                             {"codes": ["RCP1061", "RCP1003"]})
    assert finding.message == (f"{LABEL} batch of 2: not consumed (HTTP 400 (RCP1061, RCP1003); "
                               "delivery.message-rejected: delivery: the webhook reported RCP1061 for message 0; "
                               "delivery.message-rejected: delivery: the webhook reported RCP1003 for message 1)")


@pytest.mark.parametrize("error, rule, expected, said", [
    ("timeout: ReadTimeout", "consume.timeout", "an answer within 0.5 s", "did not answer within 0.5 s"),
    ("connection: ConnectError: refused", "consume.connection", "a connection to the webhook (TCP, TLS)",
     "could not be reached"),
])
def test_no_answer_is_a_timeout_or_a_connection_finding(error, rule, expected, said):
    items = [egress()]
    detail = f"delivery: no reply after 1 attempt(s): {error}"
    assert judge("consume.accepted", [attempt(1, items, None, error=error)], ACCEPT) == [Finding(
        rule, "", expected, detail, f"{LABEL} single delivery: the webhook {said} ({detail})")]


def test_no_delivery_record_at_all_says_no_reply():
    assert judge("consume.accepted", [], ACCEPT) == [Finding(
        "consume.connection", "", "a connection to the webhook (TCP, TLS)", "no reply",
        f"{LABEL} single delivery: the webhook could not be reached (no reply)")]


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_a_delivery_consumed(status):
    items = [egress()]
    assert judge("consume.accepted", [attempt(1, items, status)], ACCEPT) == [Finding(
        "consume.status", "", "HTTP 201 with a StandardResponse, RCP0000 for every message", f"HTTP {status}",
        f"{LABEL} single delivery: the webhook answered with a redirect (HTTP {status}); the DIP does not follow "
        "redirects, so the delivery was not consumed. Register the final URL", extra={"codes": [None]})]


@pytest.mark.parametrize("status", [299, 400])
def test_just_outside_the_redirects_is_an_ordinary_refusal(status):
    [finding] = judge("consume.accepted", [attempt(1, [egress()], status)], ACCEPT)
    assert finding.rule == "consume.status" and "redirect" not in finding.message


def test_a_redelivery_after_a_5xx_must_be_accepted():
    items = [egress()]
    first = attempt(1, items, 503)
    both = {**ACCEPT, "attempts": [1, 2]}
    assert judge("consume.accepted", [first, attempt(2, items, 201, reply(items, "RCP0000"), number=2)], both) == [
        Finding("consume.redelivery", "", "HTTP 201 at the first delivery", "HTTP 503",
                f"{LABEL} single delivery: the webhook answered HTTP 503; the DIP's redelivery of the same batch was "
                "accepted", "warning")]
    assert judge("consume.accepted", [first, attempt(2, items, 400, reply(items, "RCP1006"), number=2)], both) == [
        Finding("consume.redelivery", "", "the redelivered batch accepted: HTTP 201, RCP0000",
                "HTTP 503, then HTTP 400 (RCP1006)",
                f"{LABEL} single delivery: the webhook answered HTTP 503, then refused the DIP's redelivery of the "
                "same batch (HTTP 503, then HTTP 400 (RCP1006)). After a 5xx the DIP delivers the batch again: a "
                "webhook must accept it (201, RCP0000) and must not treat it as a duplicate of what it failed",
                extra={"codes": ["RCP1006"]})]
    # a redelivery refused with a 4xx is a redelivery finding; a retryable answer again is an ordinary one
    for then, rule in ((499, "consume.redelivery"), (500, "consume.status"), (408, "consume.status"),
                       (429, "consume.status")):
        [finding] = judge("consume.accepted", [first, attempt(2, items, then, number=2)], both)
        assert finding.rule == rule, then


def test_a_split_batch_is_a_warning_only():
    items = [egress(), egress()]
    halves = [attempt(1, items[:1], 201, reply(items[:1], "RCP0000")),
              attempt(2, items[1:], 201, reply(items[1:], "RCP0000"), batch=1)]
    args = {**ACCEPT, "attempts": [1, 2], "what": f"{LABEL} batch of 2", "batch": 2}
    assert judge("consume.accepted", halves, args) == [Finding("consume.status", "", "one POST", "2 POSTs",
                                                               "the batch was split", "warning")]
    assert judge("consume.accepted", halves[:1], {**args, "attempts": [1]}) == []  # one POST: nothing to say
    assert judge("consume.accepted", halves, {**args, "batch": 1}) == []  # a batch of one cannot be split


def test_a_refused_replay_fails_the_replay_step():
    items = [egress()]
    items[0]["payload"]["CommonBlock"]["D0"]["replayIndicator"] = True
    args = {**ACCEPT, "what": f"{LABEL} replayed delivery", "replay": True}
    assert judge("consume.accepted", [attempt(1, items, 201, reply(items, "RCP0000"))], args) == []
    assert judge("consume.accepted", [attempt(1, items, 400, reply(items, "RCP1047"))], args) == [Finding(
        "consume.replay", "", "HTTP 201 with a StandardResponse, RCP0000 for every message", "HTTP 400 (RCP1047)",
        f"replay (same D0.transactionID, replayIndicator true): {LABEL} replayed delivery: not consumed "
        "(HTTP 400 (RCP1047); delivery.message-rejected: delivery: the webhook reported RCP1047 for message 0); "
        "a replay must be acknowledged like the first delivery (assumption A-REPLAY)", extra={"codes": ["RCP1047"]})]


# --- consume.refused -----------------------------------------------------------------------------------

# A StandardResponse is read only on the statuses the DIP's code table gives one (201, 207, 400): a 200 or
# a 3xx naming RCP9999 is judged by its status alone (it is neither 401 nor a table status).
@pytest.mark.parametrize("status, codes, said", [
    (401, (), None), (400, (), None), (403, (), None), (201, ("RCP9999", "RCP9999"), None),
    (207, ("RCP9999", "RCP9999"), None), (400, ("RCP9999", "RCP0000"), None),
    (201, ("RCP0000", "RCP0000"), "HTTP 201 (RCP0000, RCP0000)"),
    (207, ("RCP9999", "RCP0000"), "HTTP 207 (RCP9999, RCP0000)"), (200, (), "HTTP 200"),
    (200, ("RCP9999", "RCP9999"), "HTTP 200"), (302, (), "HTTP 302"), (300, ("RCP9999", "RCP9999"), "HTTP 300"),
    (404, (), "HTTP 404"), (500, (), "HTTP 500"), (None, (), "connection: ConnectError: refused"),
])
@pytest.mark.parametrize("attack", adversary.ATTACKS, ids=lambda a: a.step)
def test_a_hostile_delivery_must_be_refused(status, codes, said, attack):
    items = [egress(), egress()]
    body = reply(items, *codes) if codes else b""
    error = "connection: ConnectError: refused" if status is None else None
    found = judge("consume.refused", [attempt(1, items, status, body, error=error)],
                  {"attempts": [1], "attack": attack.step, "label": LABEL})
    if said is None:
        assert found == []
        return
    if status is None or status >= 500:
        how = f"was not refused cleanly ({said})"
    elif 300 <= status < 400:
        how = f"was answered with a redirect (HTTP {status}), which is neither a refusal nor an acknowledgement"
    else:
        how = f"was accepted ({said})"
    assert found == [Finding(
        attack.rule, f"header:{attack.header}", "HTTP 400/401/403 or RCP9999 for every message", said,
        f"{LABEL}: {attack.what} {how}; the webhook must {attack.must}, and answer 401 (or 400/403) or RCP9999")]


# --- consume.recipient-rejection -----------------------------------------------------------------------

def _reject_args(items: list[dict], code: str = "RCP1061",
                 what: str = "an MPAN core with a wrong check digit") -> dict[str, Any]:
    return {"attempts": [1], "code": code, "what": what, "label": LABEL, "timeout": 0.5,
            "transaction_id": tx_of(items[0]), "party": MDR.dip_id}


def test_a_rejection_in_the_reply_passes():
    items = [egress()]
    assert judge("consume.recipient-rejection", [attempt(1, items, 400, reply(items, "RCP1061"))],
                 _reject_args(items)) == []
    # the code in an accepted StandardResponse counts too (a 201 naming the message with RCP1061)
    assert judge("consume.recipient-rejection", [attempt(1, items, 201, reply(items, "RCP1061"))],
                 _reject_args(items)) == []


def test_a_rejection_may_come_later_by_the_partys_own_status_message():
    items = [egress()]
    tx = tx_of(items[0])
    accepted = attempt(1, items, 201, reply(items, "RCP0000"))
    args = _reject_args(items)
    entry = response_entry("RCP1061", transaction_id=tx, sender_id=MDR.dip_id)
    not_it = [status_message(2, [entry], caller="1999999999"),  # another party's
              status_message(3, [response_entry("RCP1061", transaction_id="T-other", sender_id=MDR.dip_id)]),
              status_message(4, ["not an entry"]),
              status_message(5, [response_entry("RCP0000", transaction_id=tx, sender_id=MDR.dip_id)]),  # wrong code
              status_message(6, [entry], status=400)]  # the DIP refused it
    for other in not_it:
        [finding] = judge("consume.recipient-rejection", [accepted, other], args)
        assert finding.rule == "consume.recipient-rejection", other.seq
    assert judge("consume.recipient-rejection", [accepted, *not_it, status_message(7, [entry])], args) == []


def test_a_rejection_that_never_comes_is_named():
    items = [egress()]
    assert judge("consume.recipient-rejection", [attempt(1, items, 201, reply(items, "RCP0000"))],
                 _reject_args(items)) == [Finding(
        "consume.recipient-rejection", "/0/payload/CommonBlock", "RCP1061", "HTTP 201, RCP0000",
        f"{LABEL}: an MPAN core with a wrong check digit was accepted; a recipient must reject it with RCP1061, in "
        "the reply or by /statusmessage within 0.5 s (assumption A-RECIPIENT-REJECTS)",
        extra={"transactionID": tx_of(items[0])})]


def test_an_accepted_message_to_reject_lists_every_code():
    items = [egress(), egress()]
    [finding] = judge("consume.recipient-rejection", [attempt(1, items, 201, reply(items, "RCP0000", "MSG0000"))],
                      _reject_args(items))
    assert finding.actual == "HTTP 201, RCP0000, MSG0000"


@pytest.mark.parametrize("status, codes, actual", [
    (400, ("RCP1003",), "HTTP 400 (RCP1003)"),
    (400, (), "HTTP 400"),
    (207, ("RCP0000", "RCP1002"), "HTTP 207 (RCP0000, RCP1002)"),
    (201, (), "HTTP 201"),  # a 201 without codes is no acknowledgement either
])
def test_a_rejection_with_the_wrong_code_is_named(status, codes, actual):
    items = [egress() for _ in codes] or [egress()]
    body = reply(items, *codes) if codes else b""
    args = _reject_args(items, "RCP1008", "a senderTimestamp a day in the future")
    [finding] = judge("consume.recipient-rejection", [attempt(1, items, status, body)], args)
    assert finding == Finding(
        "consume.recipient-rejection", "/0/payload/CommonBlock", "RCP1008", actual,
        f"{LABEL}: a senderTimestamp a day in the future was answered {actual}, without RCP1008; a recipient must "
        "reject it with RCP1008 (assumption A-RECIPIENT-REJECTS)", extra={"transactionID": tx_of(items[0])})


def test_a_redirect_is_no_rejection():
    items = [egress()]
    assert judge("consume.recipient-rejection", [attempt(1, items, 302)], _reject_args(items)) == [Finding(
        "consume.recipient-rejection", "/0/payload/CommonBlock", "RCP1061", "HTTP 302",
        f"{LABEL}: an MPAN core with a wrong check digit was answered with a redirect (HTTP 302): neither a "
        "rejection nor an acknowledgement; expected RCP1061", extra={"transactionID": tx_of(items[0])})]


@pytest.mark.parametrize("error, rule", [("connection: ConnectError: refused", "consume.connection"),
                                         ("timeout: ReadTimeout", "consume.timeout")])
def test_no_answer_to_a_message_to_reject(error, rule):
    items = [egress()]
    said = f"{error}"
    assert judge("consume.recipient-rejection", [attempt(1, items, None, error=error)], _reject_args(items)) == [
        Finding(rule, "", "an answer within 0.5 s", said,
                f"{LABEL}: no answer to an MPAN core with a wrong check digit ({said})",
                extra={"transactionID": tx_of(items[0])})]


# --- consume.replay-once -------------------------------------------------------------------------------

def _replay_case() -> tuple[dict, dict, dict[str, Any]]:
    request = egress(correlation_id="CI-20250101-1")
    request["payload"]["CommonBlock"]["D0"]["replayIndicator"] = True
    mpan = request["payload"]["CommonBlock"]["M0"]["MPANCore"]
    answer = FACTORY.message("IF-062", "MDRStartResponse", sender=MDR, recipients=[SDS.dip_id], mpan=mpan,
                             correlation_id="CI-20250101-1")
    args = {"attempts": [1], "label": LABEL, "answers": [["IF-062", "MDRStartResponse"]], "party": MDR.dip_id,
            "role": "MDR", "timeout": 0.5}
    return request, answer, args


def test_a_replay_must_not_be_processed_twice():
    request, answer, args = _replay_case()
    tx = tx_of(request)
    replayed = attempt(1, [request], 201, reply([request], "RCP0000"))
    # an answer from another party, to another MPAN, or on another interface is not this answer
    elsewhere = copy.deepcopy(answer)
    elsewhere["payload"]["CommonBlock"]["M0"]["MPANCore"] = "1200000000009"
    others = [submission(50, [answer], caller="1999999999", interface="IF-062"),
              submission(51, [elsewhere], interface="IF-062")]
    once = [replayed, *others, submission(61, [answer], interface="IF-062")]
    assert judge("consume.replay-once", once, args) == []
    twice = once + [submission(62, [copy.deepcopy(answer)], interface="IF-062")]
    assert judge("consume.replay-once", twice, args) == [Finding(
        "consume.replay-processed", "/0/payload/CommonBlock/D0/replayIndicator",
        f"one IF-062 [MDRStartResponse] for transaction {tx}", "2 answers (transcript 61, 62)",
        f"{LABEL}: the replay of transaction {tx} (replayIndicator true) was processed again: the MDR sent 2 "
        "IF-062 [MDRStartResponse] answering it. A replay must be acknowledged (201, RCP0000) and not processed "
        "twice (assumption A-REPLAY)", extra={"transactionID": tx})]


def test_no_answer_on_the_dip_means_the_second_processing_could_not_be_observed():
    request, _, args = _replay_case()
    assert judge("consume.replay-once", [attempt(1, [request], 201, reply([request], "RCP0000"))], args) == [Finding(
        "consume.replay-processed", "", "IF-062 [MDRStartResponse] answering the first delivery", "none",
        f"{LABEL}: no IF-062 [MDRStartResponse] answering the first delivery reached the DIP within 0.5 s, so "
        "whether the replay was processed again could not be observed", "warning")]
    assert judge("consume.replay-once", [], args) == [Finding(
        "consume.replay-processed", "", "the replayed delivery in the DIP's transcript", "absent",
        f"{LABEL}: the replayed delivery is not among the transcript records the check cites")]


# --- produce ---------------------------------------------------------------------------------------------

IDENTITY = {"role": "MDR", "dip_id": MDR.dip_id, "dcp_id": None, "environment": "UIT",
            "partner": {"role": "SDS", "dip_id": SDS.dip_id}}


def produced(correlation: str | None = None) -> dict:
    return FACTORY.message("IF-064", "MDRConsumption", sender=MDR, recipients=[SDS.dip_id],
                           correlation_id=correlation)


def _produce_args(seq: int = 21, index: int = 0, today: date | None = None, identity=IDENTITY) -> dict[str, Any]:
    return {"message": {"seq": seq, "index": index}, "identity": identity,
            "today": (today or datetime.now(UTC).date()).isoformat()}


def test_business_findings_the_dip_recorded_fail_an_accepted_message():
    # (not periods.count: for IF-064 produce judges that itself, as an error, from the message: below)
    note = Finding("mpan.check-digit", "/0/payload/CommonBlock/M0/MPANCore", "check digit 1", "2", "bad digit")
    warn = Finding("x.note", "", "", "", "a warning only", "warning")
    assert judge("produce.submission", [submission(21, [produced()], findings=[note])], _produce_args()) == [note]
    assert judge("produce.submission", [submission(21, [produced()], findings=[warn])], _produce_args()) == [warn]
    # a finding on another item of the same body is that item's, not this one's
    other = dataclasses.replace(note, path="/1/payload/CommonBlock/M0/MPANCore")
    assert judge("produce.submission", [submission(21, [produced(), produced()], findings=[other])],
                 _produce_args()) == []
    assert judge("produce.submission", [submission(21, [produced(), produced()], findings=[other])],
                 _produce_args(index=1)) == [other]


def test_an_absent_or_refused_submission_is_never_an_accepted_message():
    missing = Finding("produce.accepted", "", "the accepted message in the DIP's transcript", "absent",
                      "the message the check names (transcript seq 21, index 0) is not an accepted submission among "
                      "the records it cites")
    assert judge("produce.submission", [], _produce_args()) == [missing]
    assert judge("produce.submission", [submission(21, [produced()], status=400)], _produce_args()) == [missing]


def test_produce_judges_whole_days_itself_for_if064():
    """The DIP records periods.count as validation does (a warning); produce holds an MDR to 48 periods
    (A-PERIODS-48: an error, provisional) and to past days only (A-COMPLETE-DAYS), from the message."""
    assert produce_judge.produce_rules("IF-064") == ("periods.count", "consumption.complete-days")
    assert produce_judge.produce_rules("IF-062") == ()
    dip_says = Finding("periods.count", "/0/payload/CustomBlock/B941List/0/MDRConsumptionPeriods", "48 periods",
                       "47 periods", "47 periods (allowed by the specification)", "warning")
    item = produced()
    day = item["payload"]["CustomBlock"]["B941List"][0]
    assert len(day["MDRConsumptionPeriods"]) == 48
    # the DIP's note is replaced by produce's own judgement of the same rule
    assert judge("produce.submission", [submission(21, [item], findings=[dip_says])], _produce_args()) == []
    del day["MDRConsumptionPeriods"][-1]
    [finding] = judge("produce.submission", [submission(21, [item], findings=[dip_says])], _produce_args())
    assert (finding.rule, finding.severity, finding.actual) == ("periods.count", "error", "47 periods")
    assert finding.extra["assumption"] == "A-PERIODS-48" and "provisional" in finding.message
    today = datetime.now(UTC).date()
    found = produce_judge.message_findings(_with_day(produced("CI-1"), today), 0, [], IDENTITY, today)
    assert [(f.rule, f.extra.get("assumption")) for f in found] == [("consumption.complete-days", "A-COMPLETE-DAYS")]
    assert produce_judge.message_findings(_with_day(produced("CI-1"), today - timedelta(days=1)), 0, [], IDENTITY,
                                          today) == []
    other = produced("CI-1")
    other["payload"]["CommonBlock"]["S0"]["interfaceID"] = "IF-062"  # no whole-day rules for another interface
    del other["payload"]["CustomBlock"]["B941List"][0]["MDRConsumptionPeriods"][-1]
    [kept] = produce_judge.message_findings(other, 0, [dip_says], IDENTITY, today)  # kept, marked provisional
    assert (kept.severity, kept.extra) == ("warning", {"assumption": "A-PERIODS-48"})


def _with_day(item: dict, day: date) -> dict:
    """`item` reporting settlement day `day` (48 UTC half hours) and sent at the end of that day."""
    from harness.messages.ids import settlement_period_ends, utc_timestamp

    [entry] = item["payload"]["CustomBlock"]["B941List"][:1]
    entry["settlementDay"]["settlementDayDate"] = f"{day.isoformat()}T00:00:00+00:00"
    for period, end in zip(entry["MDRConsumptionPeriods"], settlement_period_ends(day)):
        period["sp"] = utc_timestamp(end)
    item["payload"]["CustomBlock"]["B941List"] = [entry]
    return item


def test_every_finding_on_an_accepted_message_points_into_that_item():
    """message_findings: the identity, whole-day and period findings all name the item's own index."""
    today = datetime.now(UTC).date()
    item = _with_day(produced("CI-1"), today)
    item["payload"]["CommonBlock"]["S1"]["senderRoleID"] = "SDS"
    del item["payload"]["CustomBlock"]["B941List"][0]["MDRConsumptionPeriods"][-1]
    found = produce_judge.message_findings(item, 3, [], IDENTITY, today)
    assert [f.rule for f in found] == ["produce.sender-role", "periods.count", "consumption.complete-days"]
    assert all(f.path.startswith("/3/payload/") for f in found), [f.path for f in found]
    assert [f.extra.get("assumption") for f in found] == [None, "A-PERIODS-48", "A-COMPLETE-DAYS"]
    # no interface id to read (the schema's finding): no produce rules, the DIP's findings kept as they are
    for unreadable in (None, ["IF-064"]):
        item["payload"]["CommonBlock"]["S0"]["interfaceID"] = unreadable
        assert [f.rule for f in produce_judge.message_findings(item, 3, [], IDENTITY, today)] == \
            ["produce.sender-role"]


def test_identity_findings_compare_with_the_profile():
    item = produced("CI-1")
    assert produce_judge.identity_findings(item, IDENTITY) == []
    s1 = item["payload"]["CommonBlock"]["S1"]
    s1.update(senderRoleID="SUP", senderDIPID="1999999999")
    item["payload"]["CommonBlock"]["A0"]["primaryRecipients"] = ["1888888888"]
    assert produce_judge.identity_findings(item, IDENTITY, 2) == [
        Finding("produce.sender-role", "/2/payload/CommonBlock/S1/senderRoleID", "MDR", "SUP",
                "senderRoleID should be the party's role MDR"),
        Finding("produce.sender-dip-id", "/2/payload/CommonBlock/S1/senderDIPID", MDR.dip_id, "1999999999",
                "senderDIPID should be the party's DIP ID from the profile"),
        Finding("produce.recipient", "/2/payload/CommonBlock/A0/primaryRecipients", [SDS.dip_id],
                ["1888888888"], f"A0.primaryRecipients should address the nominated SDS {SDS.dip_id}")]
    item["payload"]["CommonBlock"]["A0"]["primaryRecipients"] = "not a list"
    assert produce_judge.identity_findings(item, IDENTITY)[-1].rule == "produce.recipient"
    # the whole judge, as the run records it: the same findings on the accepted submission
    assert [f.rule for f in judge("produce.submission", [submission(21, [item])], _produce_args())] == [
        "produce.sender-role", "produce.sender-dip-id", "produce.recipient"]


def test_the_dcp_and_the_recipient_are_judged_only_where_they_apply():
    item = produced("CI-1")
    item["payload"]["CommonBlock"]["S1"]["DIPConnectionProviderID"] = "DCP9"
    assert produce_judge.identity_findings(item, IDENTITY) == []  # the profile names no DCP
    with_dcp = {**IDENTITY, "dcp_id": "DCP1"}
    assert produce_judge.identity_findings(item, with_dcp) == [Finding(
        "produce.dcp", "/0/payload/CommonBlock/S1/DIPConnectionProviderID", "DCP1", "DCP9",
        "DIPConnectionProviderID should be the DCP ID from the profile")]
    item["payload"]["CommonBlock"]["S1"]["DIPConnectionProviderID"] = "DCP1"
    item["payload"]["CommonBlock"]["A0"]["primaryRecipients"] = ["1888888888"]
    item["payload"]["CommonBlock"]["S0"]["eventCode"] = "[NoSuchEvent]"  # receivers unknown: not judged
    assert produce_judge.identity_findings(item, with_dcp) == []
    item["payload"]["CommonBlock"]["S0"]["interfaceID"] = None
    assert produce_judge.identity_findings(item, with_dcp) == []
    item = produced("CI-1")
    item["payload"]["CommonBlock"]["A0"]["primaryRecipients"] = ["1888888888"]
    assert produce_judge.identity_findings(item, {**IDENTITY, "partner": None}) == []
    assert produce_judge.identity_findings({"payload": {}}, IDENTITY) != []  # sender role and DIP ID are missing
    # the environment the profile names is judged on every message
    prd = produced("CI-1")
    prd["payload"]["CommonBlock"]["S1"]["environmentTag"] = "PRD"
    assert [f.rule for f in produce_judge.identity_findings(prd, IDENTITY)] == ["environment.tag"]
    assert produce_judge.identity_findings(prd, {**IDENTITY, "environment": None}) == []


def _refusal(seq: int, codes: list[str], findings: list[Finding] = (), status: int = 400) -> TranscriptRecord:
    return record(seq, "inbound", endpoint="submit", status=status, caller=MDR.dip_id, interface="IF-064",
                  codes=codes, findings=[f.to_dict() for f in findings], request=[{}])


REFUSED = {"seq": 40, "prefix": "the DIP refused the IF-064 submission", "fallback": "hub.rejected",
           "interface": "IF-064", "trigger": None}


def test_a_message_the_dip_rejects_fails_with_its_findings():
    reasons = [Finding("schema.required", "/0/payload/CommonBlock", "M0", "absent", "M0 is required"),
               Finding("x.note", "", "", "", "a warning only", "warning")]
    # issue 14b: each reason says the DIP refused the submission, with the DIP's codes
    assert judge("submission.rejected", [_refusal(40, ["MSG1001"], reasons)], REFUSED) == [dataclasses.replace(
        reasons[0], message="the DIP refused the IF-064 submission (MSG1001): M0 is required",
        extra={"codes": ["MSG1001"]})]


def test_a_rejection_without_reasons_names_the_codes():
    assert judge("submission.rejected", [_refusal(40, [], status=401)], REFUSED) == [Finding(
        "hub.rejected", "", "MSG0000", "HTTP 401", "the DIP refused the IF-064 submission (HTTP 401)",
        extra={"codes": []})]
    [finding] = judge("submission.rejected", [_refusal(40, ["MSG1001", "MSG1002"])], REFUSED)
    assert (finding.actual, finding.message) == ("MSG1001, MSG1002",
                                                 "the DIP refused the IF-064 submission (MSG1001, MSG1002)")


def test_a_refusal_the_records_do_not_hold_is_named():
    absent = [Finding("hub.rejected", "", "a refusal in the DIP's transcript", "absent",
                      "the refused submission the check names is not among the records it cites")]
    assert judge("submission.rejected", [], REFUSED) == absent
    assert judge("submission.rejected", [_refusal(40, ["MSG0000"], status=201)], REFUSED) == absent
    assert judge("submission.rejected", [status_message(40, [])], REFUSED) == absent


def test_a_trigger_that_reported_the_refusal_adds_its_word_as_a_warning():
    found = judge("submission.rejected", [_refusal(40, ["MSG1010"])], {**REFUSED, "trigger": "trigger answered 502"})
    assert found == [
        Finding("hub.rejected", "", "MSG0000", "MSG1010", "the DIP refused the IF-064 submission (MSG1010)",
                extra={"codes": ["MSG1010"]}),
        Finding("produce.trigger", "triggers.IF-064", "the trigger to succeed", "trigger answered 502",
                "the trigger reported the refusal: trigger answered 502", "warning")]


def _sent(interface_id: str, *, caller: str = MDR.dip_id, seq: int, index: int = 0, tx: str = "T-1"
          ) -> TranscriptRecord:
    """A submission whose item `index` is on `interface_id` (those before it on the enabled IF-064: a
    body's interface is read per item when the record names none)."""
    def item(interface: str) -> dict:
        return {"payload": {"CommonBlock": {"S0": {"interfaceID": interface, "eventCode": "[Any]"},
                                            "S1": {"senderUniqueReference": f"S-{seq}"}}}}

    items = [item("IF-064") for _ in range(index)] + [item(interface_id)]
    return submission(seq, items, caller=caller, interface=None if index else interface_id,
                      tx=[f"T-{seq}-{i}" for i in range(index)] + [tx])


def test_only_the_flows_the_profile_enables_may_be_sent():
    """produce.declared-flows: every message the party sent is on an enabled interface; a partner's
    message on any interface is not the party's (issue 21: only the slow fault matrix reached this judge)."""
    enabled = ["IF-062", "IF-064", "IF-066"]
    args = {"party": MDR.dip_id, "role": "MDR", "enabled": enabled}
    assert judge("produce.declared-flows", [_sent("IF-064", seq=41), _sent("IF-070", caller=SDS.dip_id, seq=42)],
                 args) == []
    assert judge("produce.declared-flows", [], args) == []  # nothing sent: nothing undeclared
    found = judge("produce.declared-flows", [_sent("IF-064", seq=41), _sent("IF-070", seq=43, index=2, tx="T-9"),
                                             _sent("IF-070", caller=SDS.dip_id, seq=44)], args)
    assert found == [Finding(
        "produce.undeclared-flow", "/2/payload/CommonBlock/S0/interfaceID",
        f"one of the enabled interfaces ({', '.join(enabled)})", "IF-070",
        "IF-070 [Any] S1.senderUniqueReference=S-43: the MDR sent IF-070, which its profile does not enable "
        "(interfaces.IF-070 = \"N\"): enable and certify it, or stop sending it", extra={"transactionID": "T-9"})]
