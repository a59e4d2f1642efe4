"""Tests that catch a broken business rule (issue 21): a wrong (not only a missing) correlation id,
response codes that are neither A nor R (null, empty, other), the consumption window to the day,
and every field of the findings, so a changed path, value or message does not pass unnoticed."""

from __future__ import annotations

import copy
from datetime import date, datetime, timezone

import pytest

from harness.core.errors import ConfigError
from harness.core.findings import Finding
from harness.messages import business
from harness.messages.checks import code_for_rule
from harness.messages.samples import SampleFactory

NOW = datetime(2025, 3, 12, 10, 0, tzinfo=timezone.utc)
CORRELATION = "CI-20250312-killers00000000000001"


@pytest.fixture
def factory() -> SampleFactory:
    return SampleFactory(11, now=NOW)


@pytest.fixture
def start(factory) -> dict:
    return factory.message("IF-061", correlation_id=CORRELATION, direction="I")


@pytest.fixture
def answer(factory, start) -> dict:
    return factory.response_to(start)


def label(item: dict) -> str:
    return business.message_label(item)


def consumption(factory: SampleFactory, request: dict, first: date, days: int) -> dict:
    item = factory.message("IF-064", mpan=business.mpan_of(request), correlation_id=CORRELATION)
    item["payload"]["CustomBlock"].update(B045={"measurementQuantityID": "AI"},
                                          B941List=factory.consumption_days(first, days, "I"))
    return item


# --- correlation ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("wrong", ["CI-20250312-someoneelse0000000000001", "", 42, CORRELATION.lower()])
def test_a_wrong_correlation_id_is_a_finding_not_only_a_missing_one(start, answer, wrong):
    answer["payload"]["CommonBlock"]["S1"]["senderCorrelationID"] = wrong
    assert business.check_correlation(start, answer, index=2) == [Finding(
        "exchange.correlation", "/2/payload/CommonBlock/S1/senderCorrelationID", CORRELATION,
        wrong if isinstance(wrong, str) else repr(wrong),
        f"{label(answer)}: S1.senderCorrelationID is {wrong if isinstance(wrong, str) else repr(wrong)}, "
        f"expected the request's correlation id {CORRELATION} (A-CORRELATION)")]
    strict = business.CorrelationRule(fallback=False)
    assert not strict.matches(start, answer)  # without the fallback a wrong id is no answer at all
    assert business.CorrelationRule().matches(start, answer)  # with it: found, and reported as above


def test_correlation_findings_name_mpan_and_assigned_mdr_exactly(start, answer):
    other = copy.deepcopy(answer)
    other["payload"]["CommonBlock"]["M0"]["MPANCore"] = "2000056535971"
    want = business.mpan_of(start)
    assert business.check_correlation(start, other, index=1) == [Finding(
        "exchange.correlation", "/1/payload/CommonBlock/M0/MPANCore", want, "2000056535971",
        f"{label(other)}: answers a request for MPAN {want} with MPAN 2000056535971")]
    other = copy.deepcopy(answer)
    mdr = start["payload"]["CustomBlock"]["B019"]["assignedMDRDIPID"]
    other["payload"]["CustomBlock"]["B019"]["assignedMDRDIPID"] = "1659999999"
    assert business.check_correlation(start, other) == [Finding(
        "exchange.correlation", "/0/payload/CustomBlock/B019/assignedMDRDIPID", mdr, "1659999999",
        f"{label(other)}: B019.assignedMDRDIPID 1659999999 differs from the request's {mdr}")]
    del other["payload"]["CustomBlock"]["B019"]  # an answer without B019 is not judged on it
    assert business.check_correlation(start, other) == []


def test_matching_needs_the_same_mpan_and_assigned_mdr(start, answer):
    rule = business.CorrelationRule()
    assert rule.matches(start, answer)
    other_mpan = copy.deepcopy(answer)
    other_mpan["payload"]["CommonBlock"]["M0"]["MPANCore"] = "2000056535971"
    assert not rule.matches(start, other_mpan)
    uncorrelated = copy.deepcopy(answer)
    uncorrelated["payload"]["CommonBlock"]["S1"]["senderCorrelationID"] = None
    assert rule.matches(start, uncorrelated)
    uncorrelated["payload"]["CustomBlock"]["B019"]["assignedMDRDIPID"] = "1659999999"
    assert not rule.matches(start, uncorrelated)  # the fallback needs the same assigned MDR
    del uncorrelated["payload"]["CustomBlock"]["B019"]
    assert rule.matches(start, uncorrelated)
    no_mpan = copy.deepcopy(start)
    del no_mpan["payload"]["CommonBlock"]["M0"]
    assert not rule.matches(no_mpan, no_mpan)
    strict = business.CorrelationRule(fallback=False)
    assert strict.matches(start, answer)
    anonymous = copy.deepcopy(start)
    anonymous["payload"]["CommonBlock"]["S1"]["senderCorrelationID"] = ""
    assert strict.matches(anonymous, uncorrelated)  # a request without an id can only match on MPAN
    assert rule.request_id(anonymous) is None and rule.request_id(start) == CORRELATION
    assert business.check_correlation(anonymous, uncorrelated) == []


def test_a_custom_rule_reads_and_requires_its_own_fields(start, answer):
    rule = business.CorrelationRule(response_field=("CommonBlock", "S1", "senderUniqueReference"))
    [finding] = business.check_correlation(start, answer, rule=rule)
    assert finding.path == "/0/payload/CommonBlock/S1/senderUniqueReference"
    assert "S1.senderUniqueReference is S-IF-062-" in finding.message
    answer["payload"]["CommonBlock"]["S1"]["senderCorrelationID"] = None
    assert business.check_correlation(start, answer, rule=business.CorrelationRule(required=False)) == []


@pytest.mark.parametrize("table, message", [
    ([], "[correlation] should be a table"),
    ({"assumption": 5}, "[correlation].assumption should be a string"),
    ({"request_fields": []}, "[correlation].request_fields should be a non-empty list of dotted fields"),
    ({"request_fields": "CommonBlock.S1.x"}, "[correlation].request_fields should be a non-empty list"),
    ({"response_field": "CommonBlock"}, "[correlation].response_field should be a dotted field like "
                                        "'CommonBlock.S1.senderCorrelationID', got 'CommonBlock'"),
    ({"response_field": 3}, "[correlation].response_field should be a dotted field"),
    ({"required": "yes"}, "[correlation].required should be true or false, got 'yes'"),
    ({"a": 1, "b": 2}, "[correlation]: unknown key 'a' (expected: assumption, fallback, request_fields, "
                       "required, response_field)"),
])
def test_correlation_table_errors(table, message):
    with pytest.raises(ConfigError) as info:
        business.parse_correlation(table, "cat.toml")
    assert str(info.value).startswith("cat.toml: ") and message in str(info.value)


def test_correlation_table_values():
    rule = business.parse_correlation({"assumption": "A-X", "request_fields": ["CustomBlock.B1.id", "CommonBlock.S1.y"],
                                       "response_field": "CustomBlock.B2.id", "fallback": False, "required": False},
                                      "cat.toml")
    assert rule == business.CorrelationRule("A-X", (("CustomBlock", "B1", "id"), ("CommonBlock", "S1", "y")),
                                            ("CustomBlock", "B2", "id"), False, False)
    assert business.parse_correlation({}, "cat.toml") == business.CorrelationRule()


# --- response codes -------------------------------------------------------------------------------------

@pytest.mark.parametrize("code", [None, "", "R", "X", "a"])
def test_only_code_a_accepts(factory, start, code):
    answer = factory.response_to(start)
    answer["payload"]["CommonBlock"]["R0"]["responseCode"] = code
    reasons = answer["payload"]["CommonBlock"]["R0"]["responseMessages"]
    assert business.check_accepted(answer, index=4) == [Finding(
        "exchange.accept", "/4/payload/CommonBlock/R0/responseCode", "A", business.short(code),
        f"{label(answer)}: R0.responseCode is {business.short(code)} for a start the MDR should serve "
        f"(responseMessages {business.short(reasons)})")]


@pytest.mark.parametrize("code", [None, "", "A", "X", "r"])
def test_only_code_r_rejects(factory, start, code):
    answer = factory.response_to(start, accepted=False)
    answer["payload"]["CommonBlock"]["R0"]["responseCode"] = code
    assert business.check_rejected(answer, index=1) == [Finding(
        "exchange.reject", "/1/payload/CommonBlock/R0/responseCode", "R", business.short(code),
        f"{label(answer)}: R0.responseCode is {business.short(code)} for a start naming another MDR; expected R")]


@pytest.mark.parametrize("reasons, ok", [(["RCP1064 - MDR provided not valid"], True), ([" ", "x"], True),
                                         ([], False), (["  "], False), ([None, 3], False), ("RCP1064", False),
                                         (None, False)])
def test_a_rejection_needs_a_reason(factory, start, reasons, ok):
    answer = factory.response_to(start, accepted=False)
    answer["payload"]["CommonBlock"]["R0"]["responseMessages"] = reasons
    assert business.check_rejected(answer, index=2) == ([] if ok else [Finding(
        "exchange.reject", "/2/payload/CommonBlock/R0/responseMessages",
        "a reason, e.g. 'RCP1064 - MDR provided not valid'", business.short(reasons),
        f"{label(answer)}: rejects the start without a reason in R0.responseMessages")])


def test_echo_findings_are_exact(start, answer):
    sent = start["payload"]["CustomBlock"]
    changed = copy.deepcopy(answer)
    block = sorted(sent)[0]
    changed["payload"]["CustomBlock"][block] = {"changed": True}
    assert business.check_echo(start, changed, index=1) == [Finding(
        "exchange.echo", f"/1/payload/CustomBlock/{block}", business.short(sent[block]), "{'changed': True}",
        f"{label(changed)}: {block} differs from the request's {block}")]
    missing = copy.deepcopy(answer)
    missing["payload"]["CustomBlock"] = "gone"
    assert business.check_echo(start, missing) == [Finding(
        "exchange.echo", f"/0/payload/CustomBlock/{b}", f"{b} as requested", "missing",
        f"{label(missing)}: does not echo the request's {b}") for b in sent]
    assert business.check_echo({"payload": {}}, answer) == []


def test_not_sent_names_the_mpan(factory, start):
    item = consumption(factory, start, date(2025, 3, 10), 1)
    mpan = business.mpan_of(start)
    assert business.check_not_sent(item, index=3, rule="exchange.after-stop", why="after the stop") == [Finding(
        "exchange.after-stop", "/3/payload/CommonBlock/M0/MPANCore", "no message", mpan,
        f"{label(item)}: sent for MPAN {mpan}, after the stop")]


# --- IF-064 ------------------------------------------------------------------------------------------------

def test_the_consumption_window_is_inclusive_to_the_day(factory, start):
    item = consumption(factory, start, date(2025, 3, 9), 3)  # 9, 10, 11 March
    window = business.check_consumption_window
    assert window(item, start=date(2025, 3, 9), stop=date(2025, 3, 11)) == []  # both ends inside
    before = window(item, start=date(2025, 3, 10), index=1)
    assert before == [Finding(
        "exchange.before-start", "/1/payload/CustomBlock/B941List/0/settlementDay/settlementDayDate",
        "on or after 2025-03-10", "2025-03-09",
        f"{label(item)}: reports settlement day 2025-03-09, before the MDR start date 2025-03-10 "
        "(B019.assignedMDREffectiveFromDate)")]
    after = window(item, stop=date(2025, 3, 10))
    assert after == [Finding(
        "exchange.after-stop", "/0/payload/CustomBlock/B941List/2/settlementDay/settlementDayDate",
        "on or before 2025-03-10", "2025-03-11",
        f"{label(item)}: reports settlement day 2025-03-11, after the stop date 2025-03-10 "
        "(B083.assignedMDREffectiveToDate)")]
    assert [f.actual for f in window(item, start=date(2025, 3, 12))] == ["2025-03-09", "2025-03-10", "2025-03-11"]
    item["payload"]["CustomBlock"]["B941List"][0]["settlementDay"]["settlementDayDate"] = "unreadable"
    assert window(item, start=date(2025, 3, 11)) == [window(item, start=date(2025, 3, 11))[0]]
    assert window(item, start=date(2025, 3, 11))[0].path.endswith("/B941List/1/settlementDay/settlementDayDate")


def test_check_consumption_applies_the_window(factory, start):
    item = consumption(factory, start, date(2025, 3, 9), 2)
    found = business.check_consumption(item, direction="I", start=date(2025, 3, 10), stop=date(2025, 3, 9))
    assert [f.rule for f in found] == ["exchange.before-start", "exchange.after-stop"]
    assert business.rules_of(found + found) == ["exchange.before-start", "exchange.after-stop"]


def test_measurement_quantity_finding_is_exact(factory, start):
    item = consumption(factory, start, date(2025, 3, 10), 1)
    item["payload"]["CustomBlock"]["B045"]["measurementQuantityID"] = "AI"
    [finding] = business.check_measurement_quantity(item, "E", index=2)
    assert finding == Finding(
        "exchange.measurement-quantity", "/2/payload/CustomBlock/B045/measurementQuantityID", "AE", "AI",
        f"{label(item)}: B045.measurementQuantityID is AI for an export MPAN (B078.energyDirection E); "
        "expected AE")
    assert "for an import MPAN" in business.check_measurement_quantity(
        dict(item, payload={**item["payload"], "CustomBlock": {"B045": {"measurementQuantityID": "AE"}}}),
        "I")[0].message
    del item["payload"]["CustomBlock"]["B045"]
    assert business.check_measurement_quantity(item, "E") == []  # missing: the schema's finding


@pytest.mark.parametrize("value, bad", [(30, False), (60, True), (True, True), ("30", True), (None, False),
                                        (30.0, False), (0, True)])
def test_period_duration(factory, start, value, bad):
    item = consumption(factory, start, date(2025, 3, 10), 2)
    item["payload"]["CustomBlock"]["B941List"][1]["settlementDay"]["periodDuration"] = value
    found = business.check_period_duration(item, index=1)
    assert found == ([Finding(
        "periods.duration", "/1/payload/CustomBlock/B941List/1/settlementDay/periodDuration", "30",
        business.short(value), f"{label(item)}: settlement day 2 has periodDuration {business.short(value)}, "
        "expected 30")] if bad else [])


@pytest.mark.parametrize("value, bad", [("0.450", False), ("-123456789.000", False), ("1234567890.000", True),
                                        ("1.5", True), ("1.5000", True), ("1.500\n", True), ("\u0661.500", True),
                                        (1.5, True),
                                        ("", True), (".500", True)])
def test_period_quantities(factory, start, value, bad):
    item = consumption(factory, start, date(2025, 3, 10), 2)
    periods = item["payload"]["CustomBlock"]["B941List"][1]["MDRConsumptionPeriods"]
    periods[7]["v"] = value
    periods[9]["v"] = value  # one finding per day: the first offender
    found = business.check_period_quantities(item, index=3)
    assert found == ([Finding(
        "periods.quantity", "/3/payload/CustomBlock/B941List/1/MDRConsumptionPeriods/7/v",
        "9.3 decimal string like '0.450'", business.short(value),
        f"{label(item)}: period 8 of settlement day 2 has quantity {business.short(value)}, not in 9.3 form")]
        if bad else [])


def test_check_periods_labels_the_shared_rules_once(factory, start):
    item = consumption(factory, start, date(2025, 3, 10), 1)
    del item["payload"]["CustomBlock"]["B941List"][0]["MDRConsumptionPeriods"][-1]
    [finding] = business.check_periods(item, index=2)
    assert finding.rule == "periods.count" and finding.path.startswith("/2/payload/")
    assert finding.message.startswith(label(item) + ": settlement day ")
    assert business.labelled([finding], item, seq=4)[0].message == finding.message  # not labelled twice
    assert business.labelled([finding], item, seq=4)[0].extra == {"seq": 4}


def test_small_readers(factory, start):
    item = consumption(factory, start, date(2025, 3, 10), 2)
    assert business.settlement_days(item) == [date(2025, 3, 10), date(2025, 3, 11)]
    assert business.day_of("2025-03-10T00:00:00+00:00") == date(2025, 3, 10)
    assert business.day_of("2025-03-10") is None and business.day_of(None) is None
    assert business.mpan_of({"payload": {"CommonBlock": {"M0": {"MPANCore": 5}}}}) is None
    assert business.ptr(2, "CustomBlock", "a/b", "c~d") == "/2/payload/CustomBlock/a~1b/c~0d"


def test_check_consumption_puts_every_finding_at_the_items_index(factory, start):
    item = consumption(factory, start, date(2025, 3, 9), 2)
    item["payload"]["CustomBlock"]["B045"]["measurementQuantityID"] = "AE"
    del item["payload"]["CustomBlock"]["B941List"][1]["MDRConsumptionPeriods"][-1]
    found = business.check_consumption(item, direction="I", start=date(2025, 3, 10), index=2)
    assert [(f.rule, f.path.split("/payload/")[0]) for f in found] == [
        ("exchange.measurement-quantity", "/2"), ("periods.count", "/2"), ("exchange.before-start", "/2")]
    assert {f.path.split("/payload/")[0] for f in business.check_consumption(item, direction="I",
                                                                              start=date(2025, 3, 10))} == {"/0"}
    assert business.check_not_sent(item, rule="exchange.reject", why="x")[0].path.startswith("/0/")


def test_an_echo_that_is_not_an_object_echoes_nothing(start, answer):
    names = " ".join(start["payload"]["CustomBlock"])
    answer["payload"]["CustomBlock"] = names  # a string naming every block is still not the blocks
    found = business.check_echo(start, answer)
    assert [f.actual for f in found] == ["missing"] * len(start["payload"]["CustomBlock"])


def test_the_correlation_rule_defaults_without_a_table_and_names_a_vanished_catalogue(tmp_path):
    import re

    from harness.core.catalogue import load_catalogue

    source = re.sub(r"(?ms)^\[correlation\]\n.*?(?=^\[|\Z)", "", load_catalogue().source.read_text("utf-8"))
    path = tmp_path / "catalogue.toml"
    path.write_text(source, encoding="utf-8")
    catalogue = load_catalogue(path)
    assert business.correlation_rule(catalogue) == business.CorrelationRule()
    path.unlink()
    with pytest.raises(ConfigError, match=f"{re.escape(str(path))}: catalogue file not found"):
        business.correlation_rule(catalogue)


def test_default_indexes_are_zero_and_check_periods_passes_its_own(factory, start):
    item = consumption(factory, start, date(2025, 3, 10), 1)
    day = item["payload"]["CustomBlock"]["B941List"][0]
    day["settlementDay"]["periodDuration"] = 60
    day["MDRConsumptionPeriods"][0]["v"] = "1"
    assert [f.path[:3] for f in business.check_period_duration(item)] == ["/0/"]
    assert [f.path[:3] for f in business.check_period_quantities(item)] == ["/0/"]
    assert [(f.rule, f.path[:3]) for f in business.check_periods(item, index=2)] == [
        ("periods.duration", "/2/"), ("periods.quantity", "/2/")]


def test_a_consumption_without_days_has_no_day_findings(factory, start):
    item = consumption(factory, start, date(2025, 3, 10), 1)
    del item["payload"]["CustomBlock"]["B941List"]
    assert business.check_consumption(item, direction="I", start=date(2025, 3, 11), stop=date(2025, 3, 9)) == []
    assert business.settlement_days(item) == []


def test_the_keys_a_standard_response_must_name_come_from_the_delivered_message() -> None:
    """reply_keys: what an IF-062 StandardResponse entry answering a delivery names (issue 21: only the
    slow exchange tests reached it)."""
    common = {"S1": {"senderUniqueReference": "S-1", "senderCorrelationID": "CI-1"},
              "D0": {"transactionID": "T-1", "initialCorrelationID": "CI-0"}}
    item = {"payload": {"CommonBlock": common}}
    assert business.reply_keys(item) == {"transactionID": "T-1", "senderUniqueReference": "S-1",
                                         "correlationID": "CI-1"}
    del common["S1"]["senderCorrelationID"]  # the initial correlation id stands in
    assert business.reply_keys(item)["correlationID"] == "CI-0"
    common["S1"]["senderCorrelationID"] = ""  # empty is not an id: the initial one stands in
    assert business.reply_keys(item)["correlationID"] == "CI-0"
    common["D0"]["initialCorrelationID"] = 7  # not a string: no id to name
    assert business.reply_keys(item) == {"transactionID": "T-1", "senderUniqueReference": "S-1",
                                         "correlationID": None}
    assert business.reply_keys({"payload": {"CommonBlock": "text"}}) == {
        "transactionID": None, "senderUniqueReference": None, "correlationID": None}
    assert business.reply_keys([]) == {"transactionID": None, "senderUniqueReference": None, "correlationID": None}


def test_days_not_yet_ended_are_named_field_by_field(factory, start):
    """check_complete_days (and check_consumption, which adds it to the other rules): every field, today
    and the future worded apart, the pointer to the very day (issue 21)."""
    item = consumption(factory, start, first=date(2025, 3, 10), days=4)  # 10th to 13th
    today = date(2025, 3, 12)
    where = "/3/payload/CustomBlock/B941List/{}/settlementDay/settlementDayDate"
    expected = [
        Finding("consumption.complete-days", where.format(2), "a day before 2025-03-12", "2025-03-12",
                f"{label(item)}: reports today's settlement day 2025-03-12, which has not ended (today is "
                "2025-03-12 UTC): only complete past days may be sent"),
        Finding("consumption.complete-days", where.format(3), "a day before 2025-03-12", "2025-03-13",
                f"{label(item)}: reports a future settlement day 2025-03-13, which has not ended (today is "
                "2025-03-12 UTC): only complete past days may be sent")]
    assert business.check_complete_days(item, today=today, index=3) == expected
    # check_consumption keeps the other rules' findings and adds these after them
    window = business.check_consumption_window(item, start=date(2025, 3, 11), index=3)
    assert [f.rule for f in window] == ["exchange.before-start"]
    assert business.check_consumption(item, direction="I", start=date(2025, 3, 11), today=today,
                                      index=3) == window + expected
    assert business.check_consumption(item, direction="I", start=date(2025, 3, 11), index=3) == window


def test_a_reply_naming_another_message_is_named_field_by_field():
    """check_reply: a missing entry does not end the comparison; each mismatch is named exactly."""
    expected = [{"transactionID": "T-0", "senderUniqueReference": "S-0", "correlationID": "C-0"},
                {"transactionID": "T-1", "senderUniqueReference": "S-1", "correlationID": "C-1"},
                {"transactionID": None, "senderUniqueReference": "S-2", "correlationID": None}]
    entries = ["not an entry",
               {"transactionID": "T-9", "senderUniqueReference": "S-9", "correlationID": None},
               {"transactionID": "T-x", "senderUniqueReference": "S-2", "correlationID": "C-x"}]
    assert business.check_reply(entries, expected, where="IF-062 reply", rule="consume.reply") == [
        Finding("consume.reply", "/messageArray/1/transactionID", "T-1", "T-9",
                "IF-062 reply: entry 1 names transactionID T-9, not the delivered message's T-1"),
        Finding("consume.reply", "/messageArray/1/senderUniqueReference", "S-1", "S-9",
                "IF-062 reply: entry 1 names senderUniqueReference S-9, not the delivered message's S-1")]
    entries[1] = {"transactionID": "T-1", "correlationID": "C-9"}
    assert business.check_reply(entries, expected) == [
        Finding("exchange.reply", "/messageArray/1/correlationID", "C-1", "C-9",
                "reply: entry 1 names correlationID C-9, not the delivered message's C-1")]


def test_the_specifications_code_for_a_rule():
    assert code_for_rule("body.duplicate-transaction") == "RCP1043"
    assert code_for_rule("body.duplicate-sur", "MSG") == "MSG1006" and code_for_rule("body.duplicate-sur") == "RCP1006"
    assert code_for_rule("body.duplicate-transaction", "MSG") is None
    assert code_for_rule("no.such-rule") is None and code_for_rule("no.such-rule", "MSG") is None
