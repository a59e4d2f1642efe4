"""Each extra (non-schema) rule passes a good message and fails a bad one; none raises on junk."""

from __future__ import annotations

import copy
import random
from datetime import date, datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.messages.checks import RULES, check_message
from harness.messages.ids import (
    break_check_digit,
    make_mpan,
    mpan_check_digit,
    sender_unique_reference,
    settlement_period_ends,
    utc_timestamp,
)

WHEN = datetime(2024, 7, 1, 10, 0, tzinfo=timezone.utc)  # summer: London is UTC+1
MPAN = make_mpan(random.Random(5), "_C")  # distributor 12


def item(**over) -> dict:
    """The fields the checks read, consistent with each other unless overridden."""
    s1 = {"senderUniqueReference": sender_unique_reference("IF-064", "1500000002", "MDR", WHEN, "u1"),
          "senderTimestamp": "2024-07-01T11:00:00+01:00", "senderDIPID": "1500000002", "senderRoleID": "MDR"}
    s1.update(over.pop("s1", {}))
    day = over.pop("day", "2024-06-30T00:00:00+00:00")
    periods = over.pop("periods", None)
    if periods is None:
        periods = [{"sp": utc_timestamp(end), "v": "1.000", "q": "A"}
                   for end in settlement_period_ends(date(2024, 6, 30))]
    return {"payload": {
        "CommonBlock": {"S0": {"interfaceID": over.pop("interface", "IF-064"), "eventCode": "[MDRConsumption]"},
                        "S1": s1,
                        "M0": {"MPANCore": over.pop("mpan", MPAN), "GSPGroupID": over.pop("gsp", "_C")}},
        "CustomBlock": {"B941List": [{"settlementDay": {"settlementDayDate": day, "periodDuration": 30},
                                      "MDRConsumptionPeriods": periods}]}}}


def rules(findings) -> list[str]:
    return [f.rule for f in findings]


def test_a_consistent_message_passes_every_rule() -> None:
    assert check_message(item()) == []


def test_every_rule_is_listed() -> None:
    assert set(RULES) >= {"mpan.check-digit", "mpan.gsp-mismatch", "periods.count", "periods.sequence",
                          "periods.utc", "sur.interface", "sur.role", "sur.dip-id", "sur.date"}


def test_mpan_check_digit() -> None:
    findings = check_message(item(mpan=break_check_digit(MPAN)), index=2)
    assert rules(findings) == ["mpan.check-digit"]
    assert findings[0].path == "/2/payload/CommonBlock/M0/MPANCore"
    assert findings[0].expected == f"check digit {MPAN[12]}"
    assert check_message(item(mpan="2000056535971", gsp="_H")) == []  # the specification's own example


def test_mpan_gsp_mismatch() -> None:
    findings = check_message(item(gsp="_A"))
    assert rules(findings) == ["mpan.gsp-mismatch"]
    assert (findings[0].path, findings[0].expected, findings[0].actual) == (
        "/0/payload/CommonBlock/M0/GSPGroupID", "_C", "_A")
    idno = "24" + MPAN[2:12]
    assert check_message(item(mpan=idno + str(mpan_check_digit(idno)), gsp="_A")) == []  # IDNO: cannot place


def test_periods_count() -> None:
    periods = item()["payload"]["CustomBlock"]["B941List"][0]["MDRConsumptionPeriods"]
    findings = check_message(item(periods=periods[:47]))
    assert rules(findings) == ["periods.count"]
    assert findings[0].path == "/0/payload/CustomBlock/B941List/0/MDRConsumptionPeriods"
    assert findings[0].actual == "47 periods"


def test_periods_sequence() -> None:
    periods = copy.deepcopy(item()["payload"]["CustomBlock"]["B941List"][0]["MDRConsumptionPeriods"])
    periods[10], periods[11] = periods[11], periods[10]
    findings = check_message(item(periods=periods))
    assert rules(findings) == ["periods.sequence"]
    assert findings[0].path == "/0/payload/CustomBlock/B941List/0/MDRConsumptionPeriods/10/sp"
    assert findings[0].expected == "2024-06-30T05:30:00+00:00"
    # Period ends belong to the day written in settlementDayDate.
    assert rules(check_message(item(day="2024-06-29T00:00:00+00:00"))) == ["periods.sequence"]


def test_periods_utc() -> None:
    periods = copy.deepcopy(item()["payload"]["CustomBlock"]["B941List"][0]["MDRConsumptionPeriods"])
    periods[3]["sp"] = "2024-06-30T03:00:00+01:00"  # the same instant as 02:00 UTC, written in BST
    periods[4]["sp"] = "2024-06-30T03:30:00+01:00"
    findings = check_message(item(periods=periods))
    assert rules(findings) == ["periods.utc"]
    assert findings[0].path.endswith("/MDRConsumptionPeriods/3/sp")
    assert "1 more" in findings[0].message
    day = check_message(item(day="2024-06-30T00:00:00+01:00"))
    assert "periods.utc" in rules(day)


@pytest.mark.parametrize("rule,change", [
    ("sur.interface", {"interface": "IF-061"}),
    ("sur.role", {"s1": {"senderUniqueReference": sender_unique_reference("IF-064", "1500000002", "SDS", WHEN,
                                                                        "u1")}}),
    ("sur.dip-id", {"s1": {"senderDIPID": "1500000009"}}),
    ("sur.date", {"s1": {"senderTimestamp": "2024-07-03T11:00:00+01:00"}}),
])
def test_sender_unique_reference_rules(rule, change) -> None:
    findings = check_message(item(**change))
    assert rules(findings) == [rule]
    assert findings[0].path == "/0/payload/CommonBlock/S1/senderUniqueReference"


def test_sur_date_uses_london_and_tolerates_the_written_date() -> None:
    # 23:30 UTC on 30 June is 00:30 on 1 July in London: either date in the SUR is accepted.
    late = "2024-06-30T23:30:00+00:00"
    earlier = {"day": "2024-06-29T00:00:00+00:00",  # a settlement day complete by the send time
               "periods": [{"sp": utc_timestamp(end), "v": "1.000", "q": "A"}
                           for end in settlement_period_ends(date(2024, 6, 29))]}
    london = item(s1={"senderTimestamp": late}, **earlier)  # SUR dated 20240701 (London)
    assert check_message(london) == []
    written = item(s1={"senderTimestamp": late,
                       "senderUniqueReference": sender_unique_reference("IF-064", "1500000002", "MDR",
                                                                        date(2024, 6, 30), "u1")}, **earlier)
    assert check_message(written) == []


def test_sur_rules_skip_a_reference_they_cannot_parse() -> None:
    assert check_message(item(s1={"senderUniqueReference": "not-a-reference", "senderDIPID": "1500000009"})) == []


@pytest.mark.parametrize("junk", [
    None, [], "text", {"payload": 1}, {"payload": {"CommonBlock": [], "CustomBlock": None}},
    {"payload": {"CommonBlock": {"M0": {"MPANCore": 5, "GSPGroupID": None}, "S0": 1,
                                 "S1": {"senderUniqueReference": 3}},
                 "CustomBlock": {"B941List": [1, {"MDRConsumptionPeriods": "x"},
                                              {"settlementDay": {"settlementDayDate": 5},
                                               "MDRConsumptionPeriods": [None, {"sp": 3}]},
                                              {"settlementDay": {"settlementDayDate": "2024-06-30T00:00:00+00:00"},
                                               "MDRConsumptionPeriods": [None, {"sp": "soon"}, {}]}]}}},
])
def test_junk_never_raises(junk) -> None:
    check_message(junk)  # type: ignore[arg-type]


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=30),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                         st.sampled_from(["payload", "CommonBlock", "CustomBlock", "S0", "S1", "M0", "B941List",
                                          "MDRConsumptionPeriods", "settlementDay", "settlementDayDate", "sp",
                                          "MPANCore", "GSPGroupID", "senderUniqueReference", "interfaceID"]),
                         inner, max_size=4), max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(_json)
def test_arbitrary_json_never_raises(value) -> None:
    assert isinstance(check_message(value), list)  # type: ignore[arg-type]
