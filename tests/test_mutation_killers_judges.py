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

from harness.config.profile import load_profile
from harness.core.findings import Finding
from harness.dip.client import ProbeResult
from harness.dip.model import Rejection, StatusMessage, Submission
from harness.judges import RecordSet, TranscriptRecord, apply, attacks
from harness.judges import produce as produce_judge
from harness.messages.ids import correlation_id, is_valid_mpan, mpan_check_digit, parse_dip_timestamp
from harness.messages.samples import DEFAULT_PARTIES, SampleFactory
from harness.plan.certification import certification_plan
from harness.run import consume, produce
from harness.run.context import DEFAULT_BATCH, RunContext
from harness.run.demo import make_pki, profile_text
from harness.run.triggers import SendResult
from harness.transport.delivery import WebhookConfig
from harness.transport.responses import response_entry, standard_response

UTC = timezone.utc
MDR, SDS = DEFAULT_PARTIES["MDR"], DEFAULT_PARTIES["SDS"]
FACTORY = SampleFactory(21, parties=DEFAULT_PARTIES)
ATTACK_RULES = [a.check for a in attacks.ATTACKS]
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
@pytest.mark.parametrize("attack", attacks.ATTACKS, ids=lambda a: a.step)
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
        Finding("produce.recipient", "/2/payload/CommonBlock/A0/primaryRecipients", repr([SDS.dip_id]),
                "['1888888888']", f"A0.primaryRecipients should address the nominated SDS {SDS.dip_id}")]
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


# --- the run path: which records a check cites, and when a step is not taken -----------------------------

Script = list  # [(status, codes, error), ...]: the attempts the DIP records for one probe, in turn
HOSTILE = {a.step for a in attacks.ATTACKS}


class Session:
    """The RemoteHub as the run path uses it: the DIP's probes answered from a script (by step), each
    attempt a delivery record; submissions and status messages as the party leaves them on the DIP.
    A wait returns at once (nothing changes later) and is remembered."""

    def __init__(self, **answers: Script) -> None:
        self.answers = answers
        self.records: dict[int, TranscriptRecord] = {}
        self.submissions: list[Submission] = []
        self.refused: list[Rejection] = []
        self.statuses: list[StatusMessage] = []
        self.probes: list[dict[str, Any]] = []
        self.waits: list[float] = []
        self.hooks: dict[str, WebhookConfig] = {}
        self.counterparties: dict[str, Any] = {}
        self.on_probe: Any = None  # the participant's reaction to a delivery (step, messages)
        self._last = 0
        self._lock = threading.RLock()

    def _seq(self) -> int:
        with self._lock:
            self._last += 1
            return self._last

    @property
    def last_seq(self) -> int:
        return self._last

    def webhook(self, dip_id: str, interface_id: str) -> WebhookConfig | None:
        return self.hooks.get(interface_id)

    def probe(self, interface: str, recipient: str, kind: str, messages: list[dict], *, redeliver: bool = False,
              timeout: float | None = None, tag: dict[str, str] | None = None) -> ProbeResult:
        step = (tag or {})["step"]
        default = [(401, (), None)] if kind in HOSTILE else [(400, ("RCP1061",), None)] if step == "bad-mpan" else \
            [(400, ("RCP1008",), None)] if step == "future-timestamp" else [(201, ("RCP0000",), None)]
        seqs = []
        with self._lock:
            self.probes.append({"interface": interface, "recipient": recipient, "kind": kind, "step": step,
                                "items": copy.deepcopy(messages), "redeliver": redeliver, "tag": dict(tag or {})})
            for number, (status, codes, error) in enumerate(self.answers.get(step, default), start=1):
                seq = self._seq()
                body = reply(messages, *codes) if codes else b""
                self.records[seq] = attempt(seq, messages, status, body, number=number, error=error,
                                            delivery_id=step)
                seqs.append(seq)
        if self.on_probe is not None:
            self.on_probe(step, messages)
        return ProbeResult(step, seqs, None, self.records[seqs[-1]].status if seqs else None)

    def submit(self, item: dict, *, sender: str, findings: list[Finding] = (), tx: str = "T-1") -> Submission:
        """A message the party sent and the DIP accepted: its record and the view the run waits on."""
        common = item["payload"]["CommonBlock"]
        with self._lock:
            seq = self._seq()
            self.records[seq] = submission(seq, [item], caller=sender, interface=common["S0"]["interfaceID"],
                                           findings=list(findings), tx=[tx])
            sub = Submission(common["S0"]["interfaceID"], common["S0"]["eventCode"].strip("[]"), item, sender, tx,
                             datetime.now(UTC), b"", {}, findings=list(findings), transcript_seq=seq)
            self.submissions.append(sub)
        return sub

    def refuse(self, codes: list[str], findings: list[Finding] = (), *, sender: str | None, interface: str = "IF-064",
               endpoint: str = "submit", status: int = 400) -> Rejection:
        with self._lock:
            seq = self._seq()
            self.records[seq] = record(seq, "inbound", endpoint=endpoint, status=status, caller=sender,
                                       interface=interface, codes=codes, findings=[f.to_dict() for f in findings],
                                       request=[{}])
            rejection = Rejection(endpoint, interface, status, codes, list(findings), datetime.now(UTC), b"", {},
                                  sender=sender, transcript_seq=seq)
            self.refused.append(rejection)
        return rejection

    def report(self, sender: str, entries: list[Any], codes: list[str]) -> StatusMessage:
        with self._lock:
            seq = self._seq()
            self.records[seq] = status_message(seq, entries, caller=sender)
            status = StatusMessage(sender, entries, list(codes), datetime.now(UTC), b"", transcript_seq=seq)
            self.statuses.append(status)
        return status

    def record_set(self, seqs: Any = (), scan: tuple[int, int] | None = None) -> RecordSet:
        out = RecordSet(self.records[s] for s in seqs if s in self.records)
        for r in self.records.values():
            if scan is not None and scan[0] <= r.seq <= scan[1]:
                out.add(r)
        return out

    def evidence_seqs(self, seqs: Any) -> list[int]:
        return [s for s in seqs if isinstance(s, int)]

    def received(self, interface_id: str | None = None) -> list[Submission]:
        return list(self.submissions)

    def rejections(self) -> list[Rejection]:
        return list(self.refused)

    def status_messages(self) -> list[StatusMessage]:
        return list(self.statuses)

    def sync(self, timeout: float = 5.0) -> bool:
        return True

    def wait_until(self, condition: Any, timeout: float) -> Any:
        self.waits.append(timeout)
        return condition() or None


class Checks:
    """The recorder as the run uses it: every check with its evidence seqs and data."""

    def __init__(self) -> None:
        self.checks: list[tuple] = []

    def check(self, requirement, rule, passed, findings=(), messages=(), **data) -> int:
        self.checks.append((requirement, rule, passed, list(messages), data))
        return len(self.checks)


@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    path = pki.folder / "mdr.toml"
    path.write_text(profile_text("MDR", pki, hub_port=9, port=9, timeout=0.5), encoding="utf-8")
    return load_profile(path)


def make_ctx(profile, session: Session | None = None) -> tuple[RunContext, Session]:
    session = session or Session()
    return RunContext(profile, hub=session, recorder=Checks(), timeout=0.5, run_id="judges"), session


def recorded(ctx: RunContext) -> list[tuple]:
    return ctx.recorder._recorder.checks  # type: ignore[union-attr]


def requirement(ctx: RunContext, rid_part: str):
    return next(r for r in certification_plan(ctx.profile) if rid_part in r.id)


def outcomes(ctx: RunContext) -> list[tuple[str, bool]]:
    return [(o.rule, o.passed) for o in ctx.outcomes]


def by_step(ctx: RunContext) -> dict[str, tuple]:
    return {c[4].get("step"): c for c in recorded(ctx)}


CONSUME, REJECT, PRODUCE = "IF-061/consume", "IF-061/reject", "IF-064/produce"
CONSUME_STEPS = {"single", "batch", "replay", *HOSTILE}


def test_a_requirement_without_interface_and_event_is_a_programming_error(profile):
    ctx, _ = make_ctx(profile)
    for req in (dataclasses.replace(requirement(ctx, CONSUME), event=None),
                dataclasses.replace(requirement(ctx, CONSUME), interface=None)):
        for run in (consume.run_consume, consume.run_smoke, consume.run_reject):
            with pytest.raises(AssertionError):
                run(ctx, req)
    # produce: a requirement without an interface is the declared-flows requirement (issue 14b)
    with pytest.raises(AssertionError):
        produce.run_produce(ctx, dataclasses.replace(requirement(ctx, PRODUCE), event=None))


def test_a_participant_that_consumes_correctly_passes_every_step(profile):
    ctx, session = make_ctx(profile)
    req = requirement(ctx, CONSUME)
    assert consume.run_consume(ctx, req) is True
    assert outcomes(ctx) == [("consume.single", True), ("consume.batch", True), ("consume.replay", True),
                             ("consume.replay-once", True), *[(rule, True) for rule in ATTACK_RULES]]
    assert all(o.requirement == req.id for o in ctx.outcomes)
    assert [o.findings for o in ctx.outcomes if o.rule != "consume.replay-once"] == [[]] * 7
    # every check names its judge and the attempt records of its own step's delivery
    seq = {p["step"]: attempt_seqs(session, p["step"]) for p in session.probes}
    steps = by_step(ctx)
    assert {s: (c[1], c[3], c[4]["judge"], c[4]["transcript"]) for s, c in steps.items()} == {
        "single": ("consume.single", seq["single"], "consume.accepted", seq["single"]),
        "batch": ("consume.batch", seq["batch"], "consume.accepted", seq["batch"]),
        "replay": ("consume.replay", seq["replay"], "consume.accepted", seq["replay"]),
        "replay-once": ("consume.replay-once", seq["replay"], "consume.replay-once", seq["replay"]),
        **{a.step: (a.check, seq[a.step], "consume.refused", seq[a.step]) for a in attacks.ATTACKS}}
    assert steps["batch"][4]["size"] == DEFAULT_BATCH and steps["replay"][4]["judge_args"]["replay"] is True
    scan = steps["replay-once"][4]["transcript_scan"]  # from before the first delivery to after the replay
    assert scan[0] == 1 and max(seq["replay"]) <= scan[1] <= session.last_seq
    # nothing answered the first delivery on the DIP: whether the replay was processed again is unknown
    [unseen] = ctx.outcomes[3].findings
    assert (unseen.rule, unseen.severity, unseen.actual) == ("consume.replay-processed", "warning", "none")
    assert session.waits == [0.5]  # one bounded wait for the first answer
    sender = ctx.sender_for("IF-061", req.event)
    for probe in session.probes:
        assert probe["tag"] == {"requirement": req.id, "step": probe["step"]} and probe["interface"] == "IF-061"
        assert probe["recipient"] == ctx.me.dip_id
        assert probe["kind"] == (probe["step"] if probe["step"] in HOSTILE else "plain")
        for item in probe["items"]:
            common = item["payload"]["CommonBlock"]
            assert common["S0"] == {**common["S0"], "interfaceID": "IF-061", "eventCode": f"[{req.event}]"}
            assert (common["S1"]["senderDIPID"], common["S1"]["senderRoleID"]) == (sender.dip_id, sender.role)
            assert common["A0"]["primaryRecipients"] == [ctx.me.dip_id] and "D0" in common
            assert is_valid_mpan(common["M0"]["MPANCore"])
    assert [p["step"] for p in session.probes][:1] == ["single"] and {p["step"] for p in session.probes} == \
        CONSUME_STEPS
    assert all(len(p["items"]) == (DEFAULT_BATCH if p["step"] == "batch" else 1) for p in session.probes)
    # the DIP redelivers valid messages after a 5xx; never a hostile or a replayed one
    assert {p["step"] for p in session.probes if p["redeliver"]} == {"single", "batch"}
    first, replayed = probe_items(session, "single")[0], probe_items(session, "replay")[0]
    common = first["payload"]["CommonBlock"]
    assert common["D0"]["replayIndicator"] is False and replayed["payload"]["CommonBlock"]["D0"]["replayIndicator"]
    assert dict(replayed, payload={**replayed["payload"], "CommonBlock": {**replayed["payload"]["CommonBlock"],
                                                                          "D0": common["D0"]}}) == first
    assert len({tx_of(b) for b in probe_items(session, "batch")}) == DEFAULT_BATCH


def attempt_seqs(session: Session, step: str) -> list[int]:
    """The seqs of the attempt records of one step's probe."""
    return sorted(r.seq for r in session.records.values() if r.get("delivery_id") == step)


def probe_items(session: Session, step: str) -> list[dict]:
    [probe] = [p for p in session.probes if p["step"] == step]
    return probe["items"]


def _answering(session: Session, ctx: RunContext, *, twice: bool) -> None:
    """The party answers the first delivery on the DIP with an IF-062 and, with `twice`, the replay again."""
    def react(step: str, messages: list[dict]) -> None:
        if step == "single" or (step == "replay" and twice):
            common = messages[0]["payload"]["CommonBlock"]
            answer = ctx.factory().message("IF-062", "MDRStartResponse", sender=ctx.me,
                                           recipients=[common["S1"]["senderDIPID"]],
                                           mpan=common["M0"]["MPANCore"],
                                           correlation_id=common["S1"].get("senderCorrelationID"))
            session.submit(answer, sender=ctx.me.dip_id, tx=f"T-answer-{step}")
    session.on_probe = react


@pytest.mark.parametrize("twice", [False, True])
def test_a_replay_must_not_be_processed_twice_on_the_run_path(profile, twice):
    ctx, session = make_ctx(profile)
    _answering(session, ctx, twice=twice)
    ctx.quiet_window = 0.2
    req = requirement(ctx, CONSUME)
    assert consume.run_consume(ctx, req) is not twice
    once = ctx.outcomes[3]
    assert session.waits[0] == 0.5 and 0 < session.waits[1] <= 0.5  # the first answer's bound, then the window
    check = by_step(ctx)["replay-once"]
    answers = sorted(s.transcript_seq for s in session.submissions)
    assert check[4]["transcript_scan"][0] <= answers[0] and check[4]["transcript_scan"][1] >= answers[-1]
    assert check[4]["window"] == round(session.waits[1], 3)
    if not twice:
        assert (once.rule, once.passed, once.findings) == ("consume.replay-once", True, [])
        return
    tx = tx_of(probe_items(session, "single")[0])
    assert (once.rule, once.passed) == ("consume.replay-once", False)
    assert once.findings == [Finding(
        "consume.replay-processed", "/0/payload/CommonBlock/D0/replayIndicator",
        f"one IF-062 [MDRStartResponse] for transaction {tx}",
        f"2 answers (transcript {answers[0]}, {answers[1]})",
        f"IF-061 [{req.event}]: the replay of transaction {tx} (replayIndicator true) was processed again: the MDR "
        "sent 2 IF-062 [MDRStartResponse] answering it. A replay must be acknowledged (201, RCP0000) and not "
        "processed twice (assumption A-REPLAY)", extra={"transactionID": tx})]


def test_a_replay_is_not_watched_when_the_first_delivery_failed_or_nothing_answers_it(profile):
    ctx, session = make_ctx(profile, Session(single=[(500, (), None), (500, (), None)]))
    consume.run_consume(ctx, requirement(ctx, CONSUME))
    assert "consume.replay-once" not in [o.rule for o in ctx.outcomes] and session.waits == []
    ctx, session = make_ctx(profile)
    ctx.enabled_interfaces = ctx.enabled_interfaces - {"IF-062"}  # the party does not answer IF-061
    assert consume.run_consume(ctx, requirement(ctx, CONSUME)) is True
    assert "consume.replay-once" not in [o.rule for o in ctx.outcomes] and session.waits == []
    ctx, session = make_ctx(profile, Session(replay=[(400, ("RCP1047",), None)]))
    consume.run_consume(ctx, requirement(ctx, CONSUME))  # a refused replay: its count is not judged
    assert "consume.replay-once" not in [o.rule for o in ctx.outcomes] and session.waits == [0.5]


@pytest.mark.parametrize("count, size", [(2, 2), (1, 1), (50, DEFAULT_BATCH), (None, DEFAULT_BATCH)])
def test_the_batch_is_capped_by_the_webhooks_message_count(profile, count, size):
    ctx, session = make_ctx(profile)
    session.hooks["IF-061"] = WebhookConfig("https://127.0.0.1:9/hook", count, None)
    assert consume.run_consume(ctx, requirement(ctx, CONSUME)) is True
    assert {p["step"]: len(p["items"]) for p in session.probes} == {
        step: size if step == "batch" else 1 for step in CONSUME_STEPS}
    assert by_step(ctx)["batch"][4]["size"] == size and by_step(ctx)["batch"][4]["judge_args"]["batch"] == size
    assert ctx.outcomes[1].findings == []


def test_no_webhook_is_one_finding(profile):
    ctx, _ = make_ctx(profile)
    ctx.webhook = lambda interface_id: None  # type: ignore[method-assign]
    for rid, run in ((CONSUME, consume.run_consume), (REJECT, consume.run_reject),
                     (CONSUME, consume.run_smoke)):
        ctx.outcomes.clear()
        recorded(ctx).clear()
        req = requirement(ctx, rid)
        assert run(ctx, req) is False
        assert recorded(ctx) == [(req.id, "consume.webhook", False, [], {})]
        [outcome] = ctx.outcomes
        assert outcome.findings == [Finding(
            "consume.webhook", "webhooks.IF-061", "a webhook URL for this interface", "none",
            "no webhook is configured in the profile or registered with the DIP for IF-061: nothing can be "
            "delivered")]


@pytest.mark.parametrize("error", ["timeout: ReadTimeout", "connection: ConnectError: refused"])
def test_no_answer_to_the_first_delivery_ends_the_requirement(profile, error):
    ctx, session = make_ctx(profile, Session(single=[(None, (), error)]))
    assert consume.run_consume(ctx, requirement(ctx, CONSUME)) is False
    assert outcomes(ctx) == [("consume.single", False)] and [p["step"] for p in session.probes] == ["single"]
    assert ctx.outcomes[0].findings[0].rule == ("consume.timeout" if error.startswith("timeout")
                                                else "consume.connection")


def test_a_failed_first_delivery_alone_fails_the_requirement(profile):
    ctx, _ = make_ctx(profile, Session(single=[(500, (), None), (500, (), None)]))
    assert consume.run_consume(ctx, requirement(ctx, CONSUME)) is False
    assert [o.passed for o in ctx.outcomes] == [False, True, True, True, True, True, True]
    assert recorded(ctx)[0][3] == [1, 2]  # both attempts are cited


def test_a_delivery_not_consumed_still_takes_the_other_steps_but_not_the_replay_watch(profile):
    ctx, session = make_ctx(profile, Session(single=[(400, ("RCP1061",), None)]))
    assert consume.run_consume(ctx, requirement(ctx, CONSUME)) is False
    assert [o.rule for o in ctx.outcomes] == ["consume.single", "consume.batch", "consume.replay", *ATTACK_RULES]
    assert session.waits == []


def test_the_messages_to_reject_are_delivered_at_once_and_refused_with_their_code(profile):
    ctx, session = make_ctx(profile)
    req = requirement(ctx, REJECT)
    assert req.advisory and req.kind == "reject"
    assert consume.run_reject(ctx, req) is True
    seq = {p["step"]: attempt_seqs(session, p["step"]) for p in session.probes}
    assert [(c[1], c[2], c[3], c[4]["step"], c[4]["expected_code"], c[4]["judge_args"]["code"])
            for c in recorded(ctx)] == [
        ("consume.recipient-rejection", True, seq["bad-mpan"], "bad-mpan", "RCP1061", "RCP1061"),
        ("consume.recipient-rejection", True, seq["future-timestamp"], "future-timestamp", "RCP1008", "RCP1008")]
    assert session.waits == []  # refused in the reply: nothing to wait for
    assert all(p["redeliver"] and p["kind"] == "plain" and len(p["items"]) == 1 for p in session.probes)
    bad_mpan = probe_items(session, "bad-mpan")[0]["payload"]["CommonBlock"]
    assert not is_valid_mpan(bad_mpan["M0"]["MPANCore"])
    assert is_valid_mpan(bad_mpan["M0"]["MPANCore"][:12] + str(mpan_check_digit(bad_mpan["M0"]["MPANCore"][:12])))
    assert parse_dip_timestamp(bad_mpan["S1"]["senderTimestamp"]) <= datetime.now(UTC)
    future = probe_items(session, "future-timestamp")[0]["payload"]["CommonBlock"]
    assert is_valid_mpan(future["M0"]["MPANCore"])
    ahead = parse_dip_timestamp(future["S1"]["senderTimestamp"]) - datetime.now(UTC)
    assert timedelta(hours=23) < ahead <= timedelta(days=1)
    sender = ctx.sender_for("IF-061", req.event)
    for p in session.probes:
        common = p["items"][0]["payload"]["CommonBlock"]
        assert common["S0"]["eventCode"] == f"[{req.event}]" and common["A0"]["primaryRecipients"] == [ctx.me.dip_id]
        assert (common["S1"]["senderDIPID"], common["S1"]["senderRoleID"]) == (sender.dip_id, sender.role)
        assert p["tag"] == {"requirement": req.id, "step": p["step"]}


def test_a_rejection_reported_later_is_cited_and_waited_for_once(profile):
    session = Session(**{"bad-mpan": [(201, ("RCP0000",), None)], "future-timestamp": [(201, ("RCP0000",), None)]})
    ctx, session = make_ctx(profile, session)
    me = ctx.me.dip_id
    reported: dict[str, int] = {}

    def report(step: str, messages: list[dict]) -> None:  # the participant reports after its 201
        code = "RCP1061" if step == "bad-mpan" else "RCP1008"
        tx = tx_of(messages[0])
        def entry(c: str) -> dict:
            return response_entry(c, transaction_id=tx, sender_id=me)

        session.report("1999999999", [entry(code)], [code])  # another party's report is not it
        session.report(me, [entry("RCP0000")], ["RCP0000"])  # nor one with another code
        reported[step] = session.report(me, [entry(code)], [code]).transcript_seq

    session.on_probe = report
    assert consume.run_reject(ctx, requirement(ctx, REJECT)) is True
    assert session.waits == [0.5]  # ONE bound for both messages
    assert [c[3] for c in recorded(ctx)] == [attempt_seqs(session, "bad-mpan") + [reported["bad-mpan"]],
                                             attempt_seqs(session, "future-timestamp") + [reported["future-timestamp"]]]


def test_a_rejection_that_never_comes_fails_after_one_wait(profile):
    ctx, session = make_ctx(profile, Session(**{"bad-mpan": [(201, ("RCP0000",), None)]}))
    assert consume.run_reject(ctx, requirement(ctx, REJECT)) is False
    assert [(o.rule, o.passed) for o in ctx.outcomes] == [("consume.recipient-rejection", False),
                                                          ("consume.recipient-rejection", True)]
    assert session.waits == [0.5]
    ctx, session = make_ctx(profile, Session(**{"bad-mpan": [(400, ("RCP1003",), None)]}))
    assert consume.run_reject(ctx, requirement(ctx, REJECT)) is False and session.waits == []  # a refusal is final


def test_the_smoke_test_is_one_delivery(profile):
    ctx, session = make_ctx(profile)
    req = dataclasses.replace(requirement(ctx, CONSUME), id="MDR-5.4/IF-061/smoke")
    assert consume.run_smoke(ctx, req) is True
    [check] = recorded(ctx)
    assert check[:4] == (req.id, "consume.single", True, [1]) and check[4]["step"] == "smoke"
    assert check[4]["judge_args"]["what"] == f"IF-061 [{req.event}] smoke delivery"
    [probe] = session.probes
    common = probe["items"][0]["payload"]["CommonBlock"]
    sender = ctx.sender_for("IF-061", req.event)
    assert common["S0"]["eventCode"] == f"[{req.event}]" and common["S1"]["senderDIPID"] == sender.dip_id
    assert probe["redeliver"] and probe["tag"] == {"requirement": req.id, "step": "smoke"}
    assert common["A0"]["primaryRecipients"] == [ctx.me.dip_id]
    ctx, _ = make_ctx(profile, Session(smoke=[(500, (), None), (500, (), None)]))
    assert consume.run_smoke(ctx, req) is False
    assert ctx.outcomes[0].findings[0].message.startswith(f"IF-061 [{req.event}] smoke delivery: not consumed")


def test_samples_name_the_event_and_the_nominated_partner_as_sender(profile):
    """An interface with several events, and a partner that is not the default market party: the
    smoke delivery must carry the requirement's event and come from the partner the profile names."""
    ctx, session = make_ctx(profile)
    ctx.profile = dataclasses.replace(ctx.profile, partner=dataclasses.replace(ctx.profile.partner,
                                                                               dip_id="1777777777"))
    for rid_part, interface in (("IF-006/consume/MeterRemoval", "IF-006"), ("IF-061/consume", "IF-061")):
        req = requirement(ctx, rid_part)
        session.probes.clear()
        consume.run_smoke(ctx, req)
        common = session.probes[0]["items"][0]["payload"]["CommonBlock"]
        sender = ctx.sender_for(interface, req.event)
        assert common["S0"]["eventCode"] == f"[{req.event}]"
        assert (common["S1"]["senderDIPID"], common["S1"]["senderRoleID"]) == (sender.dip_id, sender.role)
    assert sender.dip_id == "1777777777"  # IF-061 comes from the nominated SDS


def test_a_replay_is_a_copy_marked_as_replay():
    item = {"payload": {"CommonBlock": {"D0": {"transactionID": "T-1", "replayIndicator": False}}}}
    replay = consume._as_replay(item)
    assert replay["payload"]["CommonBlock"]["D0"] == {"transactionID": "T-1", "replayIndicator": True}
    assert item["payload"]["CommonBlock"]["D0"]["replayIndicator"] is False  # the original is untouched


# --- the run path: produce --------------------------------------------------------------------------------

class Sender:
    """send(): what the trigger answered; `then` runs as the participant's reaction."""

    def __init__(self, ok: bool = True, detail: str = "trigger answered HTTP 200", then=None) -> None:
        self.ok, self.detail, self.then, self.calls = ok, detail, then, []

    def __call__(self, role, interface_id, event, *, correlation_id=None, context=None, **kw) -> SendResult:
        self.calls.append({"role": role, "interface": interface_id, "event": event, "correlation_id": correlation_id,
                           "context": context})
        if self.then is not None:
            self.then(correlation_id)
        return SendResult(self.ok, self.detail, seq=3)


def _mine(ctx: RunContext, corr: str | None) -> dict:
    return ctx.factory().message("IF-064", "MDRConsumption", sender=ctx.me, recipients=[ctx.partner.dip_id],
                                 correlation_id=corr)


def test_an_accepted_message_from_the_party_passes(profile):
    ctx, session = make_ctx(profile)
    req = requirement(ctx, PRODUCE)
    sender = Sender(then=lambda corr: session.submit(_mine(ctx, corr), sender=ctx.me.dip_id))
    ctx.send = sender  # type: ignore[method-assign]
    assert produce.run_produce(ctx, req) is True
    assert outcomes(ctx) == [("produce.accepted", True)] and ctx.outcomes[0].findings == []
    [check] = recorded(ctx)
    assert check[:4] == (req.id, "produce.accepted", True, [1, 3])
    assert (check[4]["step"], check[4]["transaction_id"], check[4]["judge"]) == ("submit", "T-1", "produce.submission")
    assert check[4]["judge_args"]["message"] == {"seq": 1, "index": 0}
    assert check[4]["judge_args"]["identity"] == produce_judge.identity_of(ctx.profile)
    [call] = sender.calls
    assert (call["role"], call["interface"], call["event"]) == ("MDR", "IF-064", req.event)
    assert call["context"] == {"requirement": req.id, "step": "trigger"}
    # the correlation id is reproducible: today's date and the requirement's own generator
    assert call["correlation_id"] == correlation_id(datetime.now(UTC), ctx.rng_for(req.id)) and session.waits == [0.5]


def test_the_message_carrying_the_correlation_id_is_judged_before_others(profile):
    ctx, session = make_ctx(profile)
    req = requirement(ctx, PRODUCE)
    flawed = Finding("mpan.check-digit", "/0/payload/CommonBlock/M0/MPANCore", "1", "2", "bad digit")

    def send_two(corr):
        session.submit(_mine(ctx, "CI-20250101-other"), sender=ctx.me.dip_id, findings=[flawed], tx="T-a")
        session.submit(_mine(ctx, corr), sender=ctx.me.dip_id, tx="T-b")

    ctx.send = Sender(then=send_two)  # type: ignore[method-assign]
    assert produce.run_produce(ctx, req) is True
    assert recorded(ctx)[0][3] == [2, 3] and recorded(ctx)[0][4]["transaction_id"] == "T-b"


def test_an_uncorrelated_message_is_taken_when_nothing_carries_the_id(profile):
    ctx, session = make_ctx(profile)
    req = requirement(ctx, PRODUCE)
    other_event = _mine(ctx, None)
    other_event["payload"]["CommonBlock"]["S0"]["eventCode"] = "[Other]"
    ctx.send = Sender(then=lambda corr: (  # type: ignore[method-assign]
        session.submit(other_event, sender=ctx.me.dip_id, tx="T-event"),
        session.submit(_mine(ctx, "CI-20250101-x"), sender=ctx.me.dip_id, tx="T-loose")))
    assert produce.run_produce(ctx, req) is True
    assert recorded(ctx)[0][4]["transaction_id"] == "T-loose"


def test_the_trigger_failing_is_a_finding(profile):
    ctx, _ = make_ctx(profile)
    req = requirement(ctx, PRODUCE)
    ctx.send = Sender(ok=False, detail="trigger answered HTTP 500")  # type: ignore[method-assign]
    assert produce.run_produce(ctx, req) is False
    assert recorded(ctx) == [(req.id, "produce.trigger", False, [3], {"step": "trigger"})]
    assert ctx.outcomes[0].findings == [Finding(
        "produce.trigger", "triggers.IF-064", "the trigger to succeed", "trigger answered HTTP 500",
        f"could not ask the MDR to send IF-064 [{req.event}]: trigger answered HTTP 500")]


def test_nothing_sent_is_a_timeout(profile):
    ctx, session = make_ctx(profile)
    req = requirement(ctx, PRODUCE)
    session.submit(_mine(ctx, None), sender=ctx.me.dip_id, tx="T-old")  # before the trigger: not this one's
    ctx.send = Sender(then=lambda corr: session.submit(  # type: ignore[method-assign]
        _mine(ctx, corr), sender="1999999999", tx="T-other"))
    assert produce.run_produce(ctx, req) is False
    assert recorded(ctx) == [(req.id, "produce.timeout", False, [3], {"step": "wait"})]
    assert ctx.outcomes[0].findings == [Finding(
        "produce.timeout", "", f"IF-064 [{req.event}] from {ctx.me.dip_id} within 0.5 s", "nothing",
        f"the MDR did not send IF-064 [{req.event}] to the DIP within 0.5 s of being asked "
        "(trigger answered HTTP 200)")]


def test_the_dips_refusal_of_this_message_is_the_one_judged(profile):
    ctx, session = make_ctx(profile)
    req = requirement(ctx, PRODUCE)
    reasons = [Finding("schema.required", "/0/payload/CommonBlock", "M0", "absent", "M0 is required")]
    session.refuse(["MSG1001"], sender=ctx.me.dip_id)  # earlier: not this message's

    def refuse(corr):
        session.refuse(["MSG1001"], endpoint="statusmessage", sender=ctx.me.dip_id)
        session.refuse(["MSG1001"], interface="IF-061", sender=ctx.me.dip_id)
        session.refuse(["MSG1001"], interface="if-064", sender="1999999999")
        session.refuse(["MSG1002"], reasons, interface="if-064", sender=None)  # unauthenticated: may be the party's

    ctx.send = Sender(then=refuse)  # type: ignore[method-assign]
    assert produce.run_produce(ctx, req) is False
    [check] = recorded(ctx)
    assert check[:4] == (req.id, "produce.accepted", False, [5, 3])
    assert (check[4]["status"], check[4]["codes"], check[4]["judge"]) == (400, ["MSG1002"], "submission.rejected")
    assert ctx.outcomes[0].findings == [dataclasses.replace(
        reasons[0], message="the DIP refused the IF-064 submission (MSG1002): M0 is required",
        extra={"codes": ["MSG1002"]})]
    ctx, session = make_ctx(profile)
    session.refuse(["MSG1001"], sender=ctx.me.dip_id)
    ctx.send = Sender()  # type: ignore[method-assign]
    assert produce.run_produce(ctx, req) is False and ctx.outcomes[0].rule == "produce.timeout"


def test_a_trigger_that_failed_because_the_dip_refused_names_the_dips_code(profile):
    """The trigger answered an error because the DIP refused what the participant sent: the refusal
    (already on the DIP, looked up without waiting) is the finding, the trigger's word a warning."""
    ctx, session = make_ctx(profile)
    req = requirement(ctx, PRODUCE)
    ctx.send = Sender(ok=False, detail="trigger answered HTTP 502",  # type: ignore[method-assign]
                      then=lambda corr: session.refuse(["MSG1010"], sender=ctx.me.dip_id))
    assert produce.run_produce(ctx, req) is False
    assert session.waits == [0.0]  # the refusal is known when the trigger answers: no step-long wait
    [check] = recorded(ctx)
    assert check[:4] == (req.id, "produce.accepted", False, [1, 3]) and check[4]["codes"] == ["MSG1010"]
    assert ctx.outcomes[0].findings == [
        Finding("hub.rejected", "", "MSG0000", "MSG1010", "the DIP refused the IF-064 submission (MSG1010)",
                extra={"codes": ["MSG1010"]}),
        Finding("produce.trigger", "triggers.IF-064", "the trigger to succeed", "trigger answered HTTP 502",
                "the trigger reported the refusal: trigger answered HTTP 502", "warning")]


def test_declared_flows_cites_the_undeclared_messages_and_scans_the_whole_session(profile):
    ctx, session = make_ctx(profile)
    req = requirement(ctx, "declared-flows")
    assert req.interface is None and req.id.endswith("/declared-flows")
    assert produce.run_produce(ctx, req) is True  # nothing sent: nothing undeclared
    assert recorded(ctx)[0][3:] == ([], {"step": "declared-flows", "sent": 0, "expected_valid": False,
                                         "judge": "produce.declared-flows", "judge_args": {
                                             "party": ctx.me.dip_id, "role": "MDR",
                                             "enabled": sorted(ctx.profile.enabled_interfaces)},
                                         "transcript": [], "transcript_scan": [1, 1]})
    ctx, session = make_ctx(profile)
    stray = _mine(ctx, None)
    stray["payload"]["CommonBlock"]["S0"]["interfaceID"] = "IF-070"
    session.submit(_mine(ctx, None), sender=ctx.me.dip_id)
    session.submit(stray, sender=ctx.me.dip_id, tx="T-9")
    session.submit(copy.deepcopy(stray), sender=ctx.partner.dip_id)
    assert "IF-070" not in ctx.profile.enabled_interfaces
    assert produce.run_produce(ctx, req) is False
    [check] = recorded(ctx)
    assert (check[3], check[4]["sent"], check[4]["transcript_scan"]) == ([2], 2, [1, 3])
    assert [(f.rule, f.actual, f.extra) for f in ctx.outcomes[0].findings] == [
        ("produce.undeclared-flow", "IF-070", {"transactionID": "T-9"})]
