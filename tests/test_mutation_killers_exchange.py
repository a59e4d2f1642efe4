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
from test_mutation_killers_judges import FACTORY, _b, judge, record, reply, submission

from harness.core.findings import Finding
from harness.judges.exchange import REPLIES, unwanted
from harness.messages import business
from harness.messages.samples import DEFAULT_PARTIES
from harness.transport.responses import response_entry, standard_response

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


# --- a cited message the DIP did not accept --------------------------------------------------------------
# The run cites only submissions the DIP accepted; a bundle whose check cites a refused submission (or a
# delivery, whose body also holds messages) must not be judged on that body: an answer the DIP refused is
# not an answer, whatever it says.

def _not_accepted(seq: int, items: list[dict], kind: str, caller: str) -> object:
    if kind == "refused":
        return submission(seq, items, caller=caller, interface="IF-062", status=400)
    return record(seq, "delivery", request=items, status=201, recipient=caller, interface="IF-062")


@pytest.mark.parametrize("kind", ["refused", "delivery"])
@pytest.mark.parametrize("side", ["answer", "request"])
def test_an_answer_rule_citing_a_message_the_dip_did_not_accept_finds_it_absent(kind, side):
    request, answer = _start_and_answer()  # a good answer: every rule passes on accepted records
    args = {"rule": "exchange.accept", "answer": {"seq": 2, "index": 0}, "request": {"seq": 1, "index": 0}}
    accepted = [submission(1, [request], caller=SDS.dip_id, interface="IF-061"), submission(2, [answer])]
    assert judge("exchange.answer", accepted, args) == []
    records = [_not_accepted(1, [request], kind, SDS.dip_id) if side == "request" else accepted[0],
               _not_accepted(2, [answer], kind, MDR.dip_id) if side == "answer" else accepted[1]]
    assert judge("exchange.answer", records, args) == [absent(
        "exchange.accept", "the answer and its request", "[{'seq': 2, 'index': 0}, {'seq': 1, 'index': 0}]")]


@pytest.mark.parametrize("ref", [None, [2, 0], "2"], ids=["none", "list", "text"])
def test_an_answer_cited_by_something_other_than_a_reference_is_absent_not_a_crash(ref):
    request, answer = _start_and_answer()
    records = [submission(1, [request], caller=SDS.dip_id, interface="IF-061"), submission(2, [answer])]
    args = {"rule": "exchange.accept", "answer": ref, "request": {"seq": 1, "index": 0}}
    assert judge("exchange.answer", records, args) == [absent(
        "exchange.accept", "the answer and its request", str([ref, {"seq": 1, "index": 0}]))]


@pytest.mark.parametrize("kind", ["refused", "delivery"])
def test_an_environment_check_citing_a_message_the_dip_did_not_accept_finds_it_absent(kind):
    item = consumption()
    args = {"message": {"seq": 3, "index": 0},
            "environment": item["payload"]["CommonBlock"]["S1"]["environmentTag"]}
    assert judge("message.environment", [submission(3, [item])], args) == []
    assert judge("message.environment", [_not_accepted(3, [item], kind, MDR.dip_id)], args) == [
        absent("environment.tag", "the message", "{'seq': 3, 'index': 0}")]


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


# --- the judges' own bodies (registered by call since mutmut cannot mutate decorated functions) ------------

def _start_and_answer(correlation: str = "CI-A") -> tuple[dict, dict]:
    request = FACTORY.message("IF-061", "MDRStart", sender=SDS, recipients=[MDR.dip_id], correlation_id="CI-A")
    answer = FACTORY.message("IF-062", None, sender=MDR, recipients=[SDS.dip_id],
                             mpan=request["payload"]["CommonBlock"]["M0"]["MPANCore"], correlation_id=correlation)
    return request, answer


def _answer_records(request: dict, answer: dict) -> list:
    """The request and the answer, each second in its submission (index 1)."""
    return [submission(1, [consumption(), request], caller=SDS.dip_id, interface="IF-061"),
            submission(2, [consumption(), answer], interface="IF-062")]


def _answer_case(rule: str) -> tuple[dict, dict, dict, list[Finding]]:
    """A faulty answer for `rule`, the step's arguments, and what the business rule says of it at index 1."""
    others = {"CI-B": "request step 'stop'"}
    request, answer = _start_and_answer("CI-B" if rule == "exchange.correlation" else "CI-A")
    args = {"rule": rule, "answer": {"seq": 2, "index": 1}, "request": {"seq": 1, "index": 1}, "others": others}
    if rule == "exchange.correlation":
        return request, answer, args, business.check_correlation(request, answer, index=1, others=others)
    if rule == "exchange.accept":
        answer["payload"]["CommonBlock"]["R0"]["responseCode"] = "R"
        return request, answer, args, business.check_accepted(answer, index=1)
    if rule == "exchange.reject":
        return request, answer, args, business.check_rejected(answer, index=1)
    if rule == "exchange.echo":
        return request, answer, args, business.check_echo(request, answer, index=1)
    item = consumption()
    last = days(item)[-1]
    direction = "E" if item["payload"]["CustomBlock"]["B045"]["measurementQuantityID"] == "AI" else "I"  # the other
    bounds = {"direction": direction, "start": (last - timedelta(days=400)).isoformat(),
              "stop": (last - timedelta(days=1)).isoformat(), "today": last.isoformat()}
    found = business.check_consumption(item, direction=direction, start=last - timedelta(days=400),
                                       stop=last - timedelta(days=1), today=last, index=1)
    return request, item, {**args, **bounds}, [f for f in found if f.rule == rule]


ANSWER_RULES = {"exchange.correlation": "/1/payload/CommonBlock/S1/senderCorrelationID",
                "exchange.accept": "/1/payload/CommonBlock/R0/responseCode",
                "exchange.reject": "/1/payload/CommonBlock/R0/responseCode",
                "exchange.echo": "/1/payload/CustomBlock/",
                "exchange.measurement-quantity": "/1/payload/CustomBlock/B045/measurementQuantityID",
                "exchange.after-stop": "/1/payload/CustomBlock/B941List/",
                "consumption.complete-days": "/1/payload/CustomBlock/B941List/"}


@pytest.mark.parametrize("rule", ANSWER_RULES)
def test_each_answer_rule_judges_the_cited_answer_at_its_index_with_the_steps_arguments(rule):
    request, answer, args, expected = _answer_case(rule)
    found = judge("exchange.answer", _answer_records(request, answer), args)
    assert expected and all(f.rule == rule and f.path.startswith(ANSWER_RULES[rule]) for f in expected)
    assert found == business.provisional(expected)
    if rule == "exchange.correlation":  # the other step's correlation id is named
        assert "the correlation id of request step 'stop'" in found[0].message


def test_an_answer_cited_without_an_index_is_the_first_of_its_submission():
    request, answer = _start_and_answer()
    answer["payload"]["CommonBlock"]["R0"]["responseCode"] = "R"
    records = [submission(1, [request], caller=SDS.dip_id, interface="IF-061"), submission(2, [answer])]
    [finding] = judge("exchange.answer", records, {"rule": "exchange.accept", "answer": {"seq": 2},
                                                   "request": {"seq": 1}})
    assert (finding.rule, finding.path) == ("exchange.accept", "/0/payload/CommonBlock/R0/responseCode")


def test_an_answer_whose_request_is_not_among_the_records_is_named():
    request, answer = _start_and_answer()
    args = {"rule": "exchange.accept", "answer": {"seq": 2, "index": 1}, "request": {"seq": 1, "index": 1}}
    records = _answer_records(request, answer)[1:]
    assert judge("exchange.answer", records, args) == [absent(
        "exchange.accept", "the answer and its request", "[{'seq': 2, 'index': 1}, {'seq': 1, 'index': 1}]")]


def test_an_answer_rule_the_judge_does_not_have_is_a_programming_error():
    request, answer = _start_and_answer()
    with pytest.raises(ValueError, match="exchange.answer has no rule 'exchange.nonsense'"):
        judge("exchange.answer", _answer_records(request, answer),
              {"rule": "exchange.nonsense", "answer": {"seq": 2, "index": 1}, "request": {"seq": 1, "index": 1}})


def test_a_received_step_citing_an_index_its_submission_does_not_have_is_a_timeout():
    args = {"message": {"seq": 4, "index": 3}, "interface": "IF-064", "event": "MDRConsumption", "sender": MDR.dip_id}
    assert judge("exchange.received", [submission(4, [consumption()], interface="IF-064")], args) == [
        absent("exchange.timeout", "IF-064 [MDRConsumption]", "{'seq': 4, 'index': 3}")]


@pytest.mark.parametrize("index", [None, 1])
def test_the_environment_is_judged_on_the_cited_message_at_its_index(index):
    item = consumption()
    tag = item["payload"]["CommonBlock"]["S1"]["environmentTag"]
    ref = {"seq": 3} if index is None else {"seq": 3, "index": index}
    body = [item] if index is None else [consumption(), item]
    expected = business.check_environment(item, "PRD" if tag != "PRD" else "UIT", index=index or 0)
    [finding] = judge("message.environment", [submission(3, body, interface="IF-064")],
                      {"message": ref, "environment": "PRD" if tag != "PRD" else "UIT"})
    assert finding == business.provisional(expected)[0]
    assert (finding.rule, finding.path) == ("environment.tag", f"/{index or 0}/payload/CommonBlock/S1/environmentTag")
    assert judge("message.environment", [submission(3, body, interface="IF-064")],
                 {"message": ref, "environment": tag}) == []


def out() -> dict:
    """A consumption as the DIP delivers it (with its D0 block)."""
    return FACTORY.egress(consumption(), recipients=[SDS.dip_id])


DELIVERY_ARGS = {"label": "IF-062 [MDRStartResponse]", "role": "SDS", "recipient": SDS.dip_id, "bound": 2.5}


def test_no_delivery_within_the_bound_names_the_step_the_role_and_the_recipient():
    assert judge("exchange.delivery", [], {**DELIVERY_ARGS, "attempts": []}) == [Finding(
        "exchange.delivery", "", f"delivered and answered ({REPLIES['accept']})", "no delivery within 2.5 s",
        f"IF-062 [MDRStartResponse]: the hub did not finish delivering it to SDS {SDS.dip_id} within 2.5 s")]
    [finding] = judge("exchange.delivery", [], {"attempts": [], "reply": "any"})
    assert (finding.expected, finding.actual) == (f"delivered and answered ({REPLIES['any']})",
                                                  "no delivery within 0 s")
    assert finding.message == "None: the hub did not finish delivering it to None None within 0 s"


def _delivered(seq: int, items: list[dict], status: int | None, body: bytes = b"", *, number: int = 1,
               batch: int = 0, url: str = "http://127.0.0.1:1/webhook/if-062", error: str | None = None):
    return record(seq, "delivery", request=items, response=body, status=status, attempt=number, batch=batch,
                  error=error, delivery_id="d1", recipient=SDS.dip_id, interface="IF-062", url=url)


@pytest.mark.parametrize("reply_as, status, codes, passed", [
    ("accept", 201, ("RCP0000", "RCP0000"), True), ("accept", 400, ("RCP1061", "RCP1061"), False),
    ("accept", 207, ("RCP0000", "RCP1061"), False),
    ("any", 201, ("RCP0000", "RCP0000"), True), ("any", 400, ("RCP1061", "RCP1061"), True),
    ("any", 207, ("RCP0000", "RCP1061"), True), ("any", 400, (), False), ("any", 401, (), False),
])
def test_a_delivery_is_answered_as_the_step_asks(reply_as, status, codes, passed):
    items = [out(), out()]
    body = reply(items, *codes) if codes else b""
    found = judge("exchange.delivery", [_delivered(1, items, status, body)],
                  {**DELIVERY_ARGS, "attempts": [1], "reply": reply_as})
    assert (found == []) is passed
    if not passed:
        [finding] = found
        assert (finding.rule, finding.path, finding.expected) == ("exchange.delivery", "", REPLIES[reply_as])


def test_a_delivery_not_answered_as_asked_names_the_outcome_and_the_last_attempts_webhook():
    items = [out()]
    attempts = [_delivered(1, items, 503, url="http://127.0.0.1:1/first"),
                _delivered(2, items, 400, reply(items, "RCP1061"), number=2, url="http://127.0.0.1:1/second")]
    assert judge("exchange.delivery", attempts, {**DELIVERY_ARGS, "attempts": [1, 2]}) == [Finding(
        "exchange.delivery", "", REPLIES["accept"], "rejected (HTTP 400, codes ['RCP1061'])",
        "IF-062 [MDRStartResponse]: the SDS's webhook http://127.0.0.1:1/second answered the delivery rejected "
        f"(HTTP 400); expected {REPLIES['accept']}")]


def test_a_split_delivery_with_one_batch_unanswered_is_not_answered_even_when_any_answer_will_do():
    items = [out(), out()]
    halves = [_delivered(1, items[:1], 201, reply(items[:1], "RCP0000")),
              _delivered(2, items[1:], None, batch=1, error="timeout: ReadTimeout")]
    [finding] = judge("exchange.delivery", halves, {**DELIVERY_ARGS, "attempts": [1, 2], "reply": "any"})
    assert finding.actual == "timeout (HTTP None, codes ['RCP0000'])"


def test_a_reply_is_judged_only_when_the_webhook_answered_and_names_the_step_and_role():
    items = [out()]
    args = {"attempts": [1], "label": "IF-062 [MDRStartResponse]", "role": "SDS"}
    assert judge("exchange.reply", [], {**args, "attempts": []}) == []
    assert judge("exchange.reply", [_delivered(1, items, None, error="timeout: ReadTimeout")], args) == []
    other = _b(standard_response([response_entry("RCP0000", transaction_id="SOMEONE-ELSE", sender_id=SDS.dip_id)]))
    tx = items[0]["payload"]["CommonBlock"]["D0"]["transactionID"]
    [finding] = judge("exchange.reply", [_delivered(1, items, 201, other)], args)
    assert (finding.rule, finding.actual) == ("exchange.reply", "SOMEONE-ELSE")
    assert finding.message == (f"IF-062 [MDRStartResponse]: the SDS's StandardResponse: entry 0 names transactionID "
                               f"SOMEONE-ELSE, not the delivered message's {tx}")


def test_a_nothing_step_reads_only_the_senders_accepted_submissions_and_names_every_forbidden_message():
    forbidden = consumption()
    args = {"rule": "exchange.reject", "mpan": mpan(forbidden), "sender": MDR.dip_id, "interface": "IF-064",
            "event": "MDRConsumption", "why": WHY, "exclude": []}
    ignored = [submission(1, [forbidden], caller=SDS.dip_id, interface="IF-064"),  # another sender's
               submission(2, [forbidden], interface="IF-064", status=400)]  # refused by the DIP
    assert judge("exchange.nothing", ignored, args) == []
    sent = [*ignored, submission(3, [forbidden], interface="IF-064"), submission(4, [forbidden], interface="IF-064")]
    found = judge("exchange.nothing", sent, args)
    assert [(f.rule, f.path) for f in found] == [("exchange.reject", "/0/payload/CommonBlock/M0/MPANCore")] * 2
