"""The exchange's business rules (harness.messages.business) as pure functions: each passes on a good
message and fails, naming the rule, the message and the JSON path, on a message broken in
exactly that way."""

from __future__ import annotations

import copy
from datetime import date, datetime, timezone

import pytest

from harness.core.catalogue import load_catalogue
from harness.core.errors import ConfigError
from harness.messages import business
from harness.messages.samples import SampleFactory

NOW = datetime(2025, 3, 12, 10, 0, tzinfo=timezone.utc)
CORRELATION = "CI-20250312-business000000000001"


@pytest.fixture
def factory() -> SampleFactory:
    return SampleFactory(7, now=NOW)


@pytest.fixture
def start(factory) -> dict:
    item = factory.message("IF-061", correlation_id=CORRELATION, direction="I")
    return item


@pytest.fixture
def start_response(factory, start) -> dict:
    return factory.response_to(start)


def consumption(factory: SampleFactory, request: dict, *, first: date = date(2025, 3, 10), days: int = 2,
                quantity: str = "AI") -> dict:
    item = factory.message("IF-064", mpan=business.mpan_of(request), correlation_id=CORRELATION)
    item["payload"]["CustomBlock"].update(B045={"measurementQuantityID": quantity},
                                          B941List=factory.consumption_days(first, days, "I"))
    return item


def rules(findings) -> set[str]:
    return {f.rule for f in findings}


def test_message_label_names_interface_event_and_reference(start):
    sur = start["payload"]["CommonBlock"]["S1"]["senderUniqueReference"]
    assert business.message_label(start) == f"IF-061 [MDRStart] S1.senderUniqueReference={sur}"
    assert business.message_label({"payload": {}}) == "IF-? [?] S1.senderUniqueReference=?"


# --- correlation -----------------------------------------------------------------------------------

def test_correlated_answer_passes(start, start_response):
    assert business.check_correlation(start, start_response) == []
    assert business.correlation_rule().matches(start, start_response)


def test_missing_correlation_id_is_a_finding_at_its_path(start, start_response):
    start_response["payload"]["CommonBlock"]["S1"]["senderCorrelationID"] = None
    [finding] = business.check_correlation(start, start_response, index=3)
    assert finding.rule == "exchange.correlation"
    assert finding.path == "/3/payload/CommonBlock/S1/senderCorrelationID"
    assert finding.expected == CORRELATION and finding.actual == "None"
    assert finding.message.startswith(business.message_label(start_response) + ": ")
    assert "A-CORRELATION" in finding.message
    # Found all the same (fallback on MPAN + B019), so the fault is a correlation finding, not a timeout.
    assert business.correlation_rule().matches(start, start_response)


def test_other_mpan_or_other_assigned_mdr_breaks_correlation(factory, start, start_response):
    other = copy.deepcopy(start_response)
    other["payload"]["CommonBlock"]["M0"]["MPANCore"] = "2000056535971"
    assert [f.path for f in business.check_correlation(start, other)] == ["/0/payload/CommonBlock/M0/MPANCore"]
    assert not business.correlation_rule().matches(start, other)
    other = copy.deepcopy(start_response)
    other["payload"]["CustomBlock"]["B019"]["assignedMDRDIPID"] = "1659999999"
    assert [f.path for f in business.check_correlation(start, other)] == [
        "/0/payload/CustomBlock/B019/assignedMDRDIPID"]


def test_correlation_id_falls_back_to_d0_initial_correlation(factory, start, start_response):
    delivered = factory.egress(start)
    delivered["payload"]["CommonBlock"]["S1"]["senderCorrelationID"] = None
    delivered["payload"]["CommonBlock"]["D0"]["initialCorrelationID"] = CORRELATION
    assert business.check_correlation(delivered, start_response) == []


def test_without_fallback_an_uncorrelated_answer_does_not_match(start, start_response):
    start_response["payload"]["CommonBlock"]["S1"]["senderCorrelationID"] = "CI-20250312-somethingelse"
    strict = business.CorrelationRule(fallback=False)
    assert not strict.matches(start, start_response)
    assert business.CorrelationRule().matches(start, start_response)
    assert business.check_correlation(start, start_response, rule=business.CorrelationRule(required=False)) == []


def _without_correlation() -> str:
    """The catalogue's text with its own [correlation] table taken out, so a test can write another."""
    import re

    source = load_catalogue().source.read_text(encoding="utf-8")
    return re.sub(r"(?ms)^\[correlation\]\n.*?(?=^\[|\Z)", "", source)


def test_correlation_rule_is_read_from_the_catalogue(tmp_path):
    source = _without_correlation()
    path = tmp_path / "catalogue.toml"
    path.write_text(source + '\n[correlation]\nassumption = "A-CORRELATION"\n'
                    'request_fields = ["CommonBlock.D0.initialCorrelationID"]\nfallback = false\n', encoding="utf-8")
    rule = business.correlation_rule(load_catalogue(path))
    assert rule.request_fields == (("CommonBlock", "D0", "initialCorrelationID"),) and rule.fallback is False
    assert business.correlation_rule(load_catalogue()) == business.CorrelationRule()


@pytest.mark.parametrize("table, message", [
    ('colour = "red"', "[correlation]: unknown key 'colour'"),
    ('request_fields = ["S1.senderCorrelationID"]', "[correlation].request_fields should be a dotted field"),
    ("fallback = 1", "[correlation].fallback should be true or false"),
    ('assumption = "A-NOPE"', "[correlation].assumption 'A-NOPE' is not an [[assumption]] id"),
])
def test_bad_correlation_table_is_a_one_line_config_error(tmp_path, table, message):
    path = tmp_path / "catalogue.toml"
    path.write_text(_without_correlation() + f"\n[correlation]\n{table}\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        business.correlation_rule(load_catalogue(path))
    assert message in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)


# --- IF-062 ----------------------------------------------------------------------------------------

def test_echo_passes_and_names_a_missing_or_changed_block(start, start_response):
    assert business.check_echo(start, start_response) == []
    del start_response["payload"]["CustomBlock"]["B078"]
    start_response["payload"]["CustomBlock"]["B068"]["consentGranularity"] = "x"
    findings = business.check_echo(start, start_response)
    assert rules(findings) == {"exchange.echo"}
    assert {f.path for f in findings} == {"/0/payload/CustomBlock/B078", "/0/payload/CustomBlock/B068"}


def test_accept_and_reject_response_codes(factory, start):
    accepted, rejected = factory.response_to(start), factory.response_to(start, accepted=False)
    assert business.check_accepted(accepted) == [] and business.check_rejected(rejected) == []
    [finding] = business.check_accepted(rejected)
    assert (finding.rule, finding.path, finding.expected, finding.actual) == (
        "exchange.accept", "/0/payload/CommonBlock/R0/responseCode", "A", "R")
    [finding] = business.check_rejected(accepted)
    assert (finding.rule, finding.expected, finding.actual) == ("exchange.reject", "R", "A")
    rejected["payload"]["CommonBlock"]["R0"]["responseMessages"] = []
    [finding] = business.check_rejected(rejected)
    assert finding.path == "/0/payload/CommonBlock/R0/responseMessages" and "without a reason" in finding.message


def test_not_sent_names_the_message(factory, start):
    item = consumption(factory, start)
    [finding] = business.check_not_sent(item, index=1, rule="exchange.reject", why="it was rejected")
    assert finding.rule == "exchange.reject" and finding.path == "/1/payload/CommonBlock/M0/MPANCore"
    assert finding.message.startswith("IF-064 [MDRConsumption] S1.senderUniqueReference=S-IF-064-")


# --- IF-064 ----------------------------------------------------------------------------------------

def test_good_consumption_passes_every_rule(factory, start):
    item = consumption(factory, start)
    assert business.check_consumption(item, direction="I", start=date(2025, 3, 10), stop=date(2025, 3, 11)) == []
    assert business.settlement_days(item) == [date(2025, 3, 10), date(2025, 3, 11)]


@pytest.mark.parametrize("direction, quantity, broken", [("I", "AI", False), ("I", "AE", True), ("E", "AE", False),
                                                          ("E", "AI", True), (None, "AE", False)])
def test_measurement_quantity_fits_the_energy_direction(factory, start, direction, quantity, broken):
    findings = business.check_measurement_quantity(consumption(factory, start, quantity=quantity), direction)
    assert bool(findings) is broken
    if broken:
        assert findings[0].rule == "exchange.measurement-quantity"
        assert findings[0].path == "/0/payload/CustomBlock/B045/measurementQuantityID"


def _bend(item: dict, how: str) -> None:
    day = item["payload"]["CustomBlock"]["B941List"][1]
    periods = day["MDRConsumptionPeriods"]
    if how == "count":
        del periods[-1]
    elif how == "sequence":
        periods[5]["sp"], periods[6]["sp"] = periods[6]["sp"], periods[5]["sp"]
    elif how == "utc":
        periods[0]["sp"] = "2025-03-11T01:30:00+01:00"
    elif how == "duration":
        day["settlementDay"]["periodDuration"] = 60
    elif how == "quantity":
        periods[3]["v"] = "1.5"


@pytest.mark.parametrize("how, path", [
    ("count", "/0/payload/CustomBlock/B941List/1/MDRConsumptionPeriods"),
    ("sequence", "/0/payload/CustomBlock/B941List/1/MDRConsumptionPeriods/5/sp"),
    ("utc", "/0/payload/CustomBlock/B941List/1/MDRConsumptionPeriods/0/sp"),
    ("duration", "/0/payload/CustomBlock/B941List/1/settlementDay/periodDuration"),
    ("quantity", "/0/payload/CustomBlock/B941List/1/MDRConsumptionPeriods/3/v"),
])
def test_each_period_rule_fails_alone(factory, start, how, path):
    item = consumption(factory, start)
    _bend(item, how)
    findings = business.check_periods(item)
    assert rules(findings) == {f"periods.{how}"}
    assert findings[0].path == path
    assert findings[0].message.startswith(business.message_label(item) + ": ")


def test_no_days_before_the_start_or_after_the_stop(factory, start):
    item = consumption(factory, start, first=date(2025, 3, 9), days=3)  # 9, 10, 11 March
    findings = business.check_consumption_window(item, start=date(2025, 3, 10), stop=date(2025, 3, 10), index=2)
    assert [(f.rule, f.path, f.actual) for f in findings] == [
        ("exchange.before-start", "/2/payload/CustomBlock/B941List/0/settlementDay/settlementDayDate", "2025-03-09"),
        ("exchange.after-stop", "/2/payload/CustomBlock/B941List/2/settlementDay/settlementDayDate", "2025-03-11"),
    ]
    assert business.check_consumption_window(item) == []


def test_rules_read_odd_messages_without_raising():
    odd = {"payload": {"CommonBlock": [], "CustomBlock": {"B941List": [None, {"settlementDay": 3}]}}}
    assert business.check_consumption(odd, direction="I", start=date(2025, 1, 1), stop=date(2025, 1, 2)) == []
    assert business.check_correlation(odd, odd) == [] and business.check_echo(odd, odd) == []


# --- issue 14: environment, complete days, replies, answers to the right request, assumptions ----------

def test_environment_tag_must_be_the_runs(start):
    assert business.check_environment(start, "UIT") == []
    start["payload"]["CommonBlock"]["S1"]["environmentTag"] = "PRD"
    [finding] = business.check_environment(start, "UIT", index=2)
    assert finding.rule == "environment.tag" and finding.path == "/2/payload/CommonBlock/S1/environmentTag"
    assert (finding.expected, finding.actual) == ("UIT", "PRD") and "UIT run" in finding.message


@pytest.mark.parametrize("first, days, failing", [
    (date(2025, 3, 10), 2, []),  # the 10th and 11th: complete before the 12th
    (date(2025, 3, 11), 2, ["2025-03-12"]),  # today has not ended
    (date(2025, 3, 13), 1, ["2025-03-13"]),  # nor has the future
])
def test_only_complete_past_days_may_be_reported(factory, start, first, days, failing):
    item = consumption(factory, start, first=first, days=days)
    found = business.check_complete_days(item, today=date(2025, 3, 12))
    assert [f.actual for f in found] == failing and {f.rule for f in found} <= {"consumption.complete-days"}
    assert all(f.path.endswith("/settlementDay/settlementDayDate") for f in found)


def test_the_48_period_rule_is_an_error_resting_on_its_assumption(factory, start):
    item = consumption(factory, start)
    item["payload"]["CustomBlock"]["B941List"][0]["MDRConsumptionPeriods"].pop()
    [finding] = business.check_periods_count(item)
    assert finding.rule == "periods.count" and finding.severity == "error"
    [marked] = business.provisional([finding])
    assert marked.extra["assumption"] == "A-PERIODS-48" and "provisional" in marked.message
    assert business.provisional(business.provisional([finding])) == [marked]  # marked once
    catalogue = load_catalogue()
    assert {catalogue.assumption_for_rule(r) for r in ("exchange.echo", "consumption.complete-days",
                                                       "exchange.correlation", "periods.sequence")} == {
        "A-ECHO", "A-COMPLETE-DAYS", "A-CORRELATION", None}


def test_an_answer_carrying_another_requests_id_says_which(start, start_response):
    start_response["payload"]["CommonBlock"]["S1"]["senderCorrelationID"] = "CI-20250312-other"
    [finding] = business.check_correlation(start, start_response, others={"CI-20250312-other": "request step 'tou'"})
    assert "answers another message" in finding.message and "request step 'tou'" in finding.message


def test_a_reply_names_the_message_it_answers():
    from harness.transport.responses import response_entry

    keys = {"transactionID": "T-1", "senderUniqueReference": "S-1", "correlationID": "CI-1"}
    good = response_entry("RCP0000", transaction_id="T-1", sender_unique_reference="S-1", sender_id="1234567890")
    assert business.check_reply([good], [keys]) == []
    assert business.check_reply([{**good, "senderUniqueReference": None}], [keys]) == []  # nullable: not given
    wrong = [{**good, "transactionID": "T-2", "correlationID": "CI-2"}]
    found = business.check_reply(wrong, [keys], where="IF-061 delivery")
    assert [(f.rule, f.path) for f in found] == [("exchange.reply", "/messageArray/0/transactionID"),
                                                 ("exchange.reply", "/messageArray/0/correlationID")]
    assert found[0].message.startswith("IF-061 delivery: entry 0 names transactionID T-2")
    assert business.check_reply([], [keys]) == []  # a missing entry is the StandardResponse's own finding
