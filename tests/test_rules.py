"""Each semantic rule of harness.messages.checks fails a crafted message and passes the sample it
was crafted from; every rule is documented for participants (docs/rules.md) with its code."""

from __future__ import annotations

import copy
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from harness.core.findings import errors
from harness.messages import ids
from harness.messages.checks import BODY_RULES, RULES, check_body, check_message, check_periods_count, code_for_rule
from harness.messages.samples import SampleFactory
from harness.messages.validate import parse_body, validate_body, validate_message

NOW = datetime(2025, 3, 12, 10, 15, tzinfo=timezone.utc)
DOCS = Path(__file__).resolve().parents[1] / "docs" / "rules.md"


def sample(interface_id: str, event: str | None = None, *, form: str = "ingress", seed: int = 4) -> dict:
    factory = SampleFactory(seed, now=NOW)
    item = factory.message(interface_id, event)
    return factory.egress(item) if form == "egress" else item


def common(item: dict) -> dict:
    return item["payload"]["CommonBlock"]


def custom(item: dict) -> dict:
    return item["payload"]["CustomBlock"]


def fired(item: dict, *, now: datetime = NOW) -> dict[str, list]:
    found: dict[str, list] = {}
    for f in check_message(item, 0, now=now):
        found.setdefault(f.rule, []).append(f)
    return found


def only(item: dict, rule: str, path: str | None = None, *, now: datetime = NOW) -> None:
    """`rule` fires (an error, at `path`) and nothing else does."""
    found = fired(item, now=now)
    assert set(found) == {rule}, {k: [f.message for f in v] for k, v in found.items()}
    assert all(f.severity == "error" for f in found[rule])
    if path is not None:
        assert found[rule][0].path == "/0" + path


# --- the samples these are crafted from pass every rule ------------------------------------------

@pytest.mark.parametrize("key", ["IF-061/MDRStart", "IF-064/MDRConsumption", "IF-065/ReadingRemote",
                                 "IF-024/SN-Vacant", "IF-026/SSCandProfileClass", "IF-062/MDRStartResponse",
                                 "IF-024/SN-OffPeakDec"])
def test_samples_pass_every_rule(key) -> None:
    for form in ("ingress", "egress"):
        assert check_message(sample(*key.split("/"), form=form), 0, now=NOW) == []


# --- S1 -------------------------------------------------------------------------------------------

def test_timestamp_future_is_rcp1008_beyond_five_minutes() -> None:
    item = sample("IF-061", "MDRStart")
    sent = ids.parse_dip_timestamp(common(item)["S1"]["senderTimestamp"])
    assert fired(item, now=sent - timedelta(minutes=4)) == {}  # a clock a little ahead is tolerated
    only(item, "timestamp.future", "/payload/CommonBlock/S1/senderTimestamp", now=sent - timedelta(minutes=6))
    assert code_for_rule("timestamp.future") == "RCP1008" and code_for_rule("timestamp.future", "MSG") == "MSG1007"


def test_validation_judges_the_future_against_its_clock() -> None:
    item = sample("IF-061", "MDRStart")
    common(item)["S1"]["senderTimestamp"] = ids.dip_timestamp(datetime.now(timezone.utc) + timedelta(hours=2))
    common(item)["S1"]["senderUniqueReference"] = ids.sender_unique_reference(
        "IF-061", common(item)["S1"]["senderDIPID"], "SDS", datetime.now(timezone.utc) + timedelta(hours=2), "a1")
    assert "timestamp.future" in {f.rule for f in validate_message(item)}
    assert "timestamp.future" not in {f.rule for f in validate_message(item, now=datetime.now(timezone.utc)
                                                                       + timedelta(hours=3))}


def test_sender_role_must_be_the_events_sender() -> None:
    item = sample("IF-064")
    s1 = common(item)["S1"]
    s1["senderRoleID"] = "SDS"
    s1["senderUniqueReference"] = s1["senderUniqueReference"].replace("-MDR-", "-SDS-")
    only(item, "sender.role", "/payload/CommonBlock/S1/senderRoleID")
    assert code_for_rule("sender.role") == "RCP1010"


def test_sur_dated_the_previous_day_is_accepted_two_days_is_not() -> None:
    item = sample("IF-061", "MDRStart")
    s1 = common(item)["S1"]
    s1["senderTimestamp"] = "2025-03-12T00:00:40+00:00"  # sent just after midnight
    built = datetime(2025, 3, 11, 23, 59, 50, tzinfo=timezone.utc)  # built just before it
    s1["senderUniqueReference"] = ids.sender_unique_reference("IF-061", s1["senderDIPID"], "SDS", built, "late1")
    assert fired(item) == {}
    s1["senderUniqueReference"] = ids.sender_unique_reference("IF-061", s1["senderDIPID"], "SDS",
                                                              built - timedelta(days=1), "late1")
    only(item, "sur.date", "/payload/CommonBlock/S1/senderUniqueReference")


# --- M0 -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("prefix,fails", [("00", True), ("09", True), ("99", True), ("50", True),
                                          ("10", False), ("23", False), ("24", False), ("31", False)])
def test_mpan_distributor_ids(prefix, fails) -> None:
    item = sample("IF-061", "MDRStart")
    body = prefix + common(item)["M0"]["MPANCore"][2:12]
    common(item)["M0"]["MPANCore"] = body + str(ids.mpan_check_digit(body))
    if prefix in ids.DISTRIBUTOR_GSP:
        common(item)["M0"]["GSPGroupID"] = ids.DISTRIBUTOR_GSP[prefix]
    if fails:
        only(item, "mpan.distributor", "/payload/CommonBlock/M0/MPANCore")
    else:
        assert fired(item) == {}  # an IDNO's MPAN (24-49) has no GSP group to check


def test_an_unknown_gsp_group_is_the_schemas_finding_only() -> None:
    item = sample("IF-061", "MDRStart")
    common(item)["M0"]["GSPGroupID"] = "_Z"
    rules = [f.rule for f in validate_message(item, now=NOW)]
    assert rules == ["schema.enum"]


# --- IF-064 ----------------------------------------------------------------------------------------

def _days(item: dict) -> list:
    return custom(item)["B941List"]


def test_periods_count_is_a_warning_in_validation_and_an_error_under_the_assumption() -> None:
    item = sample("IF-064")
    del _days(item)[0]["MDRConsumptionPeriods"][30:]  # a partial day of 30 periods
    found = validate_message(item, now=NOW)
    assert [(f.rule, f.severity) for f in found] == [("periods.count", "warning")]
    assert [(f.rule, f.severity) for f in check_periods_count(item, 0)] == [("periods.count", "error")]


def test_the_same_settlement_day_twice() -> None:
    item = sample("IF-064")
    _days(item).append(copy.deepcopy(_days(item)[0]))
    only(item, "periods.duplicate-day", "/payload/CustomBlock/B941List/1/settlementDay/settlementDayDate")


def test_a_settlement_day_after_the_send_time() -> None:
    item = factory_item = SampleFactory(4, now=NOW).message("IF-064", days=1)
    day = ids.parse_dip_timestamp(_days(factory_item)[0]["settlementDay"]["settlementDayDate"])
    later = SampleFactory(4, now=NOW).consumption_days((day + timedelta(days=3)).date(), 1)
    custom(item)["B941List"] = later
    only(item, "periods.future", "/payload/CustomBlock/B941List/0/settlementDay/settlementDayDate")


def test_todays_periods_after_the_send_time() -> None:
    item = sample("IF-064")
    today = SampleFactory(4, now=NOW).consumption_days(NOW.date(), 1)  # sent at 10:15: 21 periods have ended
    custom(item)["B941List"] = today
    found = fired(item)
    assert set(found) == {"periods.future"}
    assert found["periods.future"][0].path.endswith("/MDRConsumptionPeriods/20/sp")  # ends 10:30


def test_a_settlement_day_not_at_midnight() -> None:
    item = sample("IF-064")
    day = _days(item)[0]["settlementDay"]
    day["settlementDayDate"] = day["settlementDayDate"][:11] + "06:00:00+00:00"
    assert "periods.day-start" in fired(item)


def test_no_settlement_days() -> None:
    item = sample("IF-064")
    custom(item)["B941List"] = []
    only(item, "periods.no-days", "/payload/CustomBlock/B941List")


# --- D0 -------------------------------------------------------------------------------------------

def test_d0_publication_of_another_interface() -> None:
    item = sample("IF-061", "MDRStart", form="egress")
    common(item)["D0"]["publicationID"] = "PUB-064"
    only(item, "d0.publication", "/payload/CommonBlock/D0/publicationID")
    assert code_for_rule("d0.publication") == "RCP1042"


def test_d0_transaction_before_the_sender_timestamp() -> None:
    item = sample("IF-061", "MDRStart", form="egress")
    sent = ids.parse_dip_timestamp(common(item)["S1"]["senderTimestamp"])
    common(item)["D0"]["transactionTimestamp"] = ids.dip_timestamp(sent - timedelta(minutes=2))
    assert fired(item) == {}  # within the clock tolerance
    common(item)["D0"]["transactionTimestamp"] = ids.dip_timestamp(sent - timedelta(hours=1))
    only(item, "d0.timestamp-order", "/payload/CommonBlock/D0/transactionTimestamp")


# --- R0 and content --------------------------------------------------------------------------------

@pytest.mark.parametrize("code,messages,fails", [
    ("A", ["SP007 - Out of Operational Area"], True),
    ("R", ["SP000 - Proposed Appointment ACCEPTED"], True),
    ("A", ["SP000 - Proposed Appointment ACCEPTED"], False),
    ("R", ["SP007 - Out of Operational Area"], False),
    ("R", ["free text without a code"], False),
    ("W", ["SP007 - Out of Operational Area"], False),
])
def test_r0_code_contradicting_its_messages(code, messages, fails) -> None:
    item = sample("IF-062")
    common(item)["R0"] = {"responseCode": code, "responseMessages": messages}
    if fails:
        only(item, "r0.inconsistent", "/payload/CommonBlock/R0/responseCode")
        assert code_for_rule("r0.inconsistent") == "RCP1052"
    else:
        assert fired(item) == {}


def test_if024_expiry_before_effective_date() -> None:
    item = sample("IF-024", "SN-Vacant")
    b057 = custom(item)["B057"]
    effective = ids.parse_dip_timestamp(b057["supplierNotificationEffectiveFromDate"])
    b057["supplierNotificationExpiryDate"] = ids.dip_timestamp(effective - timedelta(days=1))
    only(item, "notification.expiry", "/payload/CustomBlock/B057/supplierNotificationExpiryDate")


def test_if065_reading_dated_in_the_future() -> None:
    item = sample("IF-065", "ReadingRemote")
    custom(item)["B076List"] = [{"meterID": "19L1234567", "cumulativeRegisterReading": "1234.500",
                                 "cumulativeRegisterReadingDateTime": ids.dip_timestamp(NOW + timedelta(days=1))}]
    custom(item).pop("B065List", None)
    only(item, "reading.future", "/payload/CustomBlock/B076List/0/cumulativeRegisterReadingDateTime")


@pytest.mark.parametrize("value,fails", [("0", True), ("9", True), ("99", True), ("1", False), ("8", False),
                                         ("08", False), (None, False)])
def test_profile_class_outside_1_to_8(value, fails) -> None:
    item = sample("IF-026", "SSCandProfileClass")
    custom(item)["B032"]["profileClass"] = value
    if fails:
        only(item, "profile-class.range", "/payload/CustomBlock/B032/profileClass")
    else:
        assert fired(item) == {}


@pytest.mark.parametrize("change", ["no A0", "empty", "only null"])
def test_if061_without_a_primary_recipient(change) -> None:
    item = sample("IF-061", "MDRStart")
    if change == "no A0":
        del common(item)["A0"]
    else:
        common(item)["A0"]["primaryRecipients"] = [] if change == "empty" else [None]
    only(item, "a0.no-primary")
    assert code_for_rule("a0.no-primary", "MSG") == "MSG1030"
    other = sample("IF-063")
    del common(other)["A0"]
    assert fired(other) == {}  # other flows may leave routing to the DIP


def test_empty_content_lists() -> None:
    reading = sample("IF-065", "ReadingRemote")
    custom(reading)["B076List"] = []
    custom(reading).pop("B065List", None)
    only(reading, "content.empty", "/payload/CustomBlock")
    custom(reading).clear()
    only(reading, "content.empty", "/payload/CustomBlock")
    offpeak = sample("IF-024", "SN-OffPeakDec")
    custom(offpeak)["B097List"] = []
    only(offpeak, "content.empty", "/payload/CustomBlock/B097List")


# --- a whole body ----------------------------------------------------------------------------------

def test_duplicates_within_one_body() -> None:
    factory = SampleFactory(4, now=NOW)
    a, b = factory.message("IF-061", "MDRStart"), factory.message("IF-061", "MDRStart")
    assert check_body([a, b]) == []
    assert [(f.rule, f.path) for f in check_body([a, copy.deepcopy(a)])] == [("body.duplicate-message", "/1")]
    same_ref = copy.deepcopy(b)
    common(same_ref)["S1"]["senderUniqueReference"] = common(a)["S1"]["senderUniqueReference"]
    assert [(f.rule, f.path) for f in check_body([a, same_ref])] == [
        ("body.duplicate-sur", "/1/payload/CommonBlock/S1/senderUniqueReference")]
    da, db = factory.egress(a), factory.egress(b)
    common(db)["D0"]["transactionID"] = common(da)["D0"]["transactionID"]
    assert [(f.rule, f.path) for f in check_body([da, db])] == [
        ("body.duplicate-transaction", "/1/payload/CommonBlock/D0/transactionID")]
    assert {f.rule for f in validate_body([a, copy.deepcopy(a)], now=NOW)} == {"body.duplicate-message"}


# --- validation's own findings ----------------------------------------------------------------------

def test_a_key_beside_payload_is_a_warning() -> None:
    item = sample("IF-061", "MDRStart")
    item["signature"] = "abc"
    found = validate_message(item, now=NOW)
    assert [(f.rule, f.path, f.severity) for f in found] == [("envelope.extra-key", "/0/signature", "warning")]


@pytest.mark.parametrize("text,line,column", [
    ('[\n  {"payload": NaN}\n]', 2, 15),
    ('["NaN", -Infinity]', 1, 9),
    ('[{"a": "x NaN y", "b": Infinity}]', 1, 24),
])
def test_a_nan_is_located_where_it_is(text, line, column) -> None:
    data, [finding] = parse_body(text)
    assert data is None and finding.rule == "json.parse"
    assert f"line {line} column {column}" in finding.message


def test_a_pattern_finding_gives_the_specifications_description() -> None:
    item = sample("IF-064")
    _days(item)[0]["MDRConsumptionPeriods"][0]["v"] = "1.000\n"
    [finding] = errors(validate_message(item, now=NOW))
    assert finding.rule == "schema.pattern" and "(Decimal carried as a string" in finding.expected
    common(item)["M0"]["MPANCore"] = "١٢٣٤٥٦٧٨٩٠١٢٣"  # Arabic-Indic digits: \d is [0-9] in ECMA-262
    assert "schema.pattern" in {f.rule for f in validate_message(item, now=NOW)
                                if f.path.endswith("/MPANCore")}


def test_an_impossible_date_time_is_a_schema_finding() -> None:
    item = sample("IF-061", "MDRStart")
    common(item)["S1"]["senderTimestamp"] = "x" * 25
    [finding] = errors(validate_message(item, now=NOW))
    assert (finding.rule, finding.path) == ("schema.format", "/0/payload/CommonBlock/S1/senderTimestamp")
    assert "real date-time" in finding.expected


# --- documentation ----------------------------------------------------------------------------------

def test_every_rule_is_documented_for_participants_with_its_codes() -> None:
    text = DOCS.read_text(encoding="utf-8")
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([a-z0-9.-]+)` \|.*$", text, re.M)}
    for rule_id, rule in RULES.items():
        assert rule_id in rows, f"{rule_id} is not in docs/rules.md"
        assert all(code in rows[rule_id] for code in rule.codes), rule_id
        assert rule.severity in rows[rule_id], rule_id
    for rule_id, (_, codes) in BODY_RULES.items():
        assert rule_id in rows and all(code in rows[rule_id] for code in codes), rule_id
