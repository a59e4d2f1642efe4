"""The exchange judges on the records a faulty partner leaves, and on checks that cite what is not there (issue 21).

A paired exchange step cites messages by `{"seq", "index"}`. When the cited record is not among the
records (a check that names the wrong seq, a transcript cut short) the judge must say so in one
finding naming the step and the reference, not pass and not crash. A message the `nothing` step
forbids is named at its own position in the submission it came in, with the step's reason; an
absent date in the step's arguments means "no bound", never a crash.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from test_mutation_killers_judges import FACTORY, judge, submission

from harness.core.findings import Finding
from harness.judges.exchange import unwanted
from harness.messages.samples import DEFAULT_PARTIES

MDR, SDS = DEFAULT_PARTIES["MDR"], DEFAULT_PARTIES["SDS"]
WHY = "the MDR rejected its start"


def consumption() -> dict:
    return FACTORY.message("IF-064", "MDRConsumption", sender=MDR, recipients=[SDS.dip_id])


def mpan(item: dict) -> str:
    return item["payload"]["CommonBlock"]["M0"]["MPANCore"]


def days(item: dict) -> list[date]:
    return sorted(date.fromisoformat(d["settlementDay"]["settlementDayDate"][:10])
                  for d in item["payload"]["CustomBlock"]["B941List"])


def label(item: dict) -> str:
    reference = item['payload']['CommonBlock']['S1']['senderUniqueReference']
    return f"IF-064 [MDRConsumption] S1.senderUniqueReference={reference}"


def absent(rule: str, what: str, ref: str) -> Finding:
    return Finding(rule, "", f"{what} in the DIP's transcript", "absent",
                   f"{what} (transcript {ref}) is not an accepted submission among the records the check cites")


# --- a cited message that is not among the records -----------------------------------------------------

def test_a_received_step_citing_no_record_is_a_timeout_naming_the_reference():
    args = {"message": {"seq": 4, "index": 0}, "interface": "IF-064", "event": "MDRConsumption", "sender": MDR.dip_id}
    assert judge("exchange.received", [], args) == [
        absent("exchange.timeout", "IF-064 [MDRConsumption]", "{'seq': 4, 'index': 0}")]
    item = consumption()
    refused = submission(4, [item], interface="IF-064", status=400)
    assert judge("exchange.received", [refused], args) == [
        absent("exchange.timeout", "IF-064 [MDRConsumption]", "{'seq': 4, 'index': 0}")]
    assert judge("exchange.received", [submission(4, [item], interface="IF-064")], args) == []


def test_a_received_step_citing_another_senders_message_names_both():
    item = consumption()
    args = {"message": {"seq": 4, "index": 0}, "interface": "IF-064", "event": "MDRConsumption", "sender": SDS.dip_id}
    assert judge("exchange.received", [submission(4, [item], interface="IF-064")], args) == [Finding(
        "exchange.timeout", "", f"IF-064 [MDRConsumption] from {SDS.dip_id}",
        f"('IF-064', 'MDRConsumption') from {MDR.dip_id}",
        f"the message the check names is not the step's IF-064 [MDRConsumption] from {SDS.dip_id}")]


def test_an_answer_or_request_not_among_the_records_is_named_under_the_steps_rule():
    args = {"rule": "exchange.accept", "answer": {"seq": 4, "index": 1}, "request": {"seq": 3}}
    assert judge("exchange.answer", [], args) == [
        absent("exchange.accept", "the answer and its request", "[{'seq': 4, 'index': 1}, {'seq': 3}]")]


def test_an_environment_check_citing_no_message_names_the_reference():
    args = {"message": {"seq": 4, "index": 1}, "environment": "UIT"}
    assert judge("message.environment", [], args) == [
        absent("environment.tag", "the message", "{'seq': 4, 'index': 1}")]


# --- dates the step does not give are no bound ------------------------------------------------------

@pytest.mark.parametrize("missing", [None, ""])
def test_a_consumption_answer_without_dates_is_judged_without_bounds(missing):
    item = consumption()
    request = FACTORY.message("IF-061", None, sender=SDS, recipients=[MDR.dip_id])
    records = [submission(1, [request], caller=SDS.dip_id, interface="IF-061"),
               submission(2, [item], interface="IF-064")]
    args = {"answer": {"seq": 2, "index": 0}, "request": {"seq": 1, "index": 0},
            "start": missing, "stop": missing, "today": missing}
    for rule in ("exchange.before-start", "exchange.after-stop", "consumption.complete-days"):
        assert judge("exchange.answer", records, {**args, "rule": rule}) == []
    late = (days(item)[0] + timedelta(days=1)).isoformat()
    [finding] = judge("exchange.answer", records, {**args, "rule": "exchange.before-start", "start": late})
    assert finding.rule == "exchange.before-start" and finding.expected == f"on or after {late}"


@pytest.mark.parametrize("missing", [None, ""])
def test_an_after_stop_step_without_a_stop_date_forbids_nothing(missing):
    assert unwanted(consumption(), {"rule": "exchange.after-stop", "stop": missing}, 2) == []


# --- what a nothing step forbids --------------------------------------------------------------------------

def test_a_forbidden_message_is_named_with_the_steps_reason_at_its_own_position():
    item = consumption()
    assert unwanted(item, {"rule": "exchange.reject", "why": WHY}, 2) == [Finding(
        "exchange.reject", "/2/payload/CommonBlock/M0/MPANCore", "no message", mpan(item),
        f"{label(item)}: sent for MPAN {mpan(item)}, {WHY}")]
    [first] = unwanted(item, {"rule": "exchange.reject", "why": WHY})  # no index: the body's first item
    assert first.path == "/0/payload/CommonBlock/M0/MPANCore"
    stop = days(item)[-1] - timedelta(days=1)
    [late] = unwanted(item, {"rule": "exchange.after-stop", "stop": stop.isoformat()}, 2)
    assert late.rule == "exchange.after-stop" and late.path.startswith("/2/payload/CustomBlock/B941List/")


def test_a_nothing_step_names_the_forbidden_message_at_its_index_in_the_submission():
    allowed, forbidden = consumption(), consumption()
    assert mpan(allowed) != mpan(forbidden)
    args = {"rule": "exchange.reject", "mpan": mpan(forbidden), "sender": MDR.dip_id, "interface": "IF-064",
            "event": "MDRConsumption", "why": WHY, "exclude": []}
    sent = submission(3, [allowed, forbidden], interface="IF-064")
    [finding] = judge("exchange.nothing", [sent], args)
    assert (finding.rule, finding.path) == ("exchange.reject", "/1/payload/CommonBlock/M0/MPANCore")
    assert finding.message.startswith(f"{label(forbidden)}: sent for MPAN {mpan(forbidden)}, {WHY}")
    stop = days(forbidden)[-1] - timedelta(days=1)
    found = judge("exchange.nothing", [sent], {**args, "rule": "exchange.after-stop", "stop": stop.isoformat()})
    assert found and all(f.path.startswith("/1/payload/CustomBlock/B941List/") for f in found)
