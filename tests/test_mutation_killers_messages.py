"""Tests that catch a broken message check (issue 21): MPAN check digits against the published
algorithm, period sequences with duplicated or early ends, SUR dates a day out, and every field of
every finding the extra rules report, so that a changed path, value or message does not pass.

The check-digit algorithm is written again here from its publication (weights 3, 5, 7, 13, 17, 19,
23, 29, 31, 37, 41, 43 over the first twelve digits; the sum mod 11, mod 10 is the thirteenth),
independently of `harness.messages.ids`: MPANs made by `make_mpan` only prove the code agrees with
itself.
"""

from __future__ import annotations

import copy
import random
import re
import time
from datetime import date, datetime, timedelta, timezone

import pytest
from test_rules import NOW, sample

from harness.core.findings import Finding
from harness.messages import checks, ids
from harness.messages.checks import base, content
from harness.messages.checks.base import ptr

PUBLISHED_WEIGHTS = (3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43)
WHEN = datetime(2024, 7, 1, 10, 0, tzinfo=timezone.utc)  # 11:00 in London (BST)
DAY = "2024-06-30T00:00:00+00:00"


def published_check_digit(first12: str) -> int:
    total = 0
    for position, digit in enumerate(first12):
        total += int(digit) * PUBLISHED_WEIGHTS[position]
    return total % 11 % 10


def _weighted(first12: str) -> int:
    return sum(int(d) * w for d, w in zip(first12, PUBLISHED_WEIGHTS))


def published_mpans() -> list[str]:
    """Cores whose check digit comes from the published algorithm: one digit set at a time (so every
    weight is seen alone), pairs of positions with different digits (so swapping any two weights
    changes some check digit) and bodies whose weighted sum is 10 mod 11 (check digit 0)."""
    bodies = []
    for position in range(12):
        for digit in (1, 7):
            bodies.append("".join(str(digit) if i == position else "0" for i in range(12)))
    for a in range(12):
        for b in range(a + 1, 12):
            bodies.append("".join("1" if i == a else "2" if i == b else "0" for i in range(12)))
    rng = random.Random(21)
    while sum(_weighted(b) % 11 == 10 for b in bodies) < 5:
        bodies.append("".join(str(rng.randrange(10)) for _ in range(12)))
    bodies += ["".join(str(rng.randrange(10)) for _ in range(12)) for _ in range(200)]
    return [b + str(published_check_digit(b)) for b in bodies]


# --- MPAN cores (ids) ---------------------------------------------------------------------------

def test_mpan_check_digits_follow_the_published_algorithm() -> None:
    mpans = published_mpans()
    assert published_check_digit("200005653597") == 1  # the specification's example agrees with the algorithm
    for mpan in mpans + ["2000056535971"]:  # the last: the specification's own example
        assert ids.mpan_check_digit(mpan[:12]) == int(mpan[12]), mpan
        assert ids.is_valid_mpan(mpan), mpan
        for wrong in set("0123456789") - {mpan[12]}:
            assert not ids.is_valid_mpan(mpan[:12] + wrong), mpan[:12] + wrong


def test_a_weighted_sum_of_ten_mod_eleven_gives_check_digit_zero() -> None:
    body = next(m[:12] for m in published_mpans() if _weighted(m[:12]) % 11 == 10)
    assert ids.mpan_check_digit(body) == 0
    assert ids.is_valid_mpan(body + "0")


@pytest.mark.parametrize("bad", ["12345678901", "1234567890123", "12345678901a", ""])
def test_mpan_check_digit_needs_twelve_digits(bad) -> None:
    with pytest.raises(ValueError, match=re.escape(f"expected 12 digits, got {bad!r}")):
        ids.mpan_check_digit(bad)


@pytest.mark.parametrize("bad", [None, 2000056535971, "200005653597", "20000565359711", "200005653597x", ""])
def test_is_valid_mpan_refuses_what_is_not_thirteen_digits(bad) -> None:
    assert ids.is_valid_mpan(bad) is False


def test_gsp_for_mpan_and_make_mpan() -> None:
    assert ids.gsp_for_mpan("1200000000000") == "_C" and ids.gsp_for_mpan("2312345678901") == "_M"
    assert ids.gsp_for_mpan("2400000000000") is None and ids.gsp_for_mpan(None) is None  # type: ignore[arg-type]
    rng = random.Random(3)
    made = [ids.make_mpan(rng) for _ in range(60)]
    assert all(len(m) == 13 and m.isdigit() and int(m[12]) == published_check_digit(m[:12]) for m in made)
    assert {ids.gsp_for_mpan(m) for m in made} == set(ids.GSP_DISTRIBUTOR)  # every group is drawn
    assert len({m[2:12] for m in made}) == 60 and {d for m in made for d in m[2:12]} == set("0123456789")
    assert all(ids.make_mpan(rng, "_P").startswith("17") for _ in range(5))


def test_break_check_digit_gives_the_next_digit() -> None:
    assert ids.break_check_digit("2000056535971") == "2000056535972"
    assert ids.break_check_digit("2000056535979") == "2000056535970"


# --- parties, timestamps, references (ids) ------------------------------------------------------------

def test_party_identifiers() -> None:
    rng = random.Random(1)
    dip_ids = [ids.make_dip_id(rng) for _ in range(40)]
    assert all(len(d) == 10 and d.isdigit() for d in dip_ids)
    assert {c for d in dip_ids for c in d} == set("0123456789")
    assert ids.make_dip_id(rng, "15").startswith("15") and len(ids.make_dip_id(rng, "15")) == 10
    mpids = [ids.make_mpid(rng) for _ in range(60)]
    assert all(re.fullmatch("[A-Z]{4}", m) for m in mpids) and len({c for m in mpids for c in m}) > 20
    assert "Z" in {c for m in [ids.make_mpid(random.Random(s)) for s in range(60)] for c in m}
    assert ids.is_dip_id("1500000002") and not ids.is_dip_id("150000000") and not ids.is_dip_id("15000000021")
    assert not ids.is_dip_id(1500000002)
    assert ids.is_mpid("ABCD") and not ids.is_mpid("abcd") and not ids.is_mpid("ABCDE") and not ids.is_mpid(None)


def test_dip_timestamps() -> None:
    assert ids.dip_timestamp(datetime(2024, 7, 1, 10, 0, 5, 999999, tzinfo=timezone.utc)) == "2024-07-01T11:00:05+01:00"
    assert ids.dip_timestamp(datetime(2024, 1, 1, 10, 0, tzinfo=timezone.utc)) == "2024-01-01T10:00:00+00:00"
    now = ids.parse_dip_timestamp(ids.dip_timestamp())
    assert abs(now - datetime.now(timezone.utc)) < timedelta(minutes=1)  # no moment: the current time
    assert now.utcoffset() in (timedelta(0), timedelta(hours=1))
    with pytest.raises(ValueError, match="^dip_timestamp needs an aware datetime$"):
        ids.dip_timestamp(datetime(2024, 7, 1, 10, 0))
    assert ids.utc_timestamp(datetime(2024, 7, 1, 11, 0, 1, 5, tzinfo=timezone(timedelta(hours=1)))) == \
        "2024-07-01T10:00:01+00:00"


def test_timestamps_do_not_depend_on_the_machines_time_zone(monkeypatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        moment = datetime(2024, 7, 1, 10, 0, tzinfo=timezone.utc)
        assert ids.utc_timestamp(moment) == "2024-07-01T10:00:00+00:00"
        assert ids.dip_timestamp(moment) == "2024-07-01T11:00:00+01:00"
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize("bad", ["2024-07-01T11:00:00+01:00 ", "2024-07-01 11:00:00+01:00", "2024-07-01T11:00:00Z",
                                 "2024-07-01T11:00:00.000+01:00", "2024-07-01T11:00:00+0100x", None, 5])
def test_parse_dip_timestamp_takes_only_the_25_character_form(bad) -> None:
    with pytest.raises(ValueError, match="expected a 25-character timestamp like 2024-03-21T19:05:00"):
        ids.parse_dip_timestamp(bad)


def test_references_and_tokens() -> None:
    rng = random.Random(4)
    tokens = [ids.unique_token(rng) for _ in range(30)]
    assert all(re.fullmatch("[0-9a-z]{12}", t) for t in tokens) and "z" in "".join(tokens)
    assert len(ids.unique_token(rng, 5)) == 5
    late = datetime(2024, 6, 30, 23, 30, tzinfo=timezone.utc)  # 1 July in London
    assert ids.sender_unique_reference("if-064", "1500000002", "MDR", late, "u1") == \
        "S-IF-064-1500000002-MDR-20240701-u1"
    assert ids.sender_unique_reference("IF-064", "1500000002", "MDR", date(2024, 6, 30), "u1") == \
        "S-IF-064-1500000002-MDR-20240630-u1"
    ref = ids.parse_sender_unique_reference("S-IF-064-15000000aF-MDR-20240701-u1Z")
    assert ref == ids.SenderReference("064", "15000000aF", "MDR", "20240701", "u1Z", "IF")
    assert ids.parse_sender_unique_reference("S-0641-1500000002-SUPP-20240701-x").kind is None
    assert ids.parse_sender_unique_reference("S-IF-064-1500000002-MDR-20240701-u-1") is None
    assert ids.parse_sender_unique_reference(None) is None  # type: ignore[arg-type]
    tx = ids.transaction_id("if-006", "1500000002", "SDS", late, "abc")
    assert tx == "T-IF-006-1500000002-SDS-20240701-abc"
    assert len(ids.transaction_id("IF-006", "1500000002", "SDS", late, "x" * 80)) == 65
    corr = ids.correlation_id(late, random.Random(9))
    assert re.fullmatch(r"CI-20240701-[0-9a-z]{24}", corr)
    assert corr == ids.correlation_id(late, random.Random(9)) != ids.correlation_id(late, random.Random(8))


def test_settlement_period_ends_are_utc_half_hours() -> None:
    ends = ids.settlement_period_ends(date(2024, 3, 31))  # clock change in London: still 48
    assert len(ends) == 48 and ends[0] == datetime(2024, 3, 31, 0, 30, tzinfo=timezone.utc)
    assert ends[-1] == datetime(2024, 4, 1, tzinfo=timezone.utc) and ends[0].utcoffset() == timedelta(0)


# --- the extra rules (checks): a message and every field of each finding ---------------------------

MPAN = "120000000001" + str(published_check_digit("120000000001"))  # distributor 12: GSP group _C


def periods_of(day: date) -> list[dict]:
    return [{"sp": ids.utc_timestamp(end), "v": "1.000"} for end in ids.settlement_period_ends(day)]


def message(*, mpan: str = MPAN, gsp: str = "_C", days: list | None = None, interface: str = "IF-064",
            **s1: str) -> dict:
    fields = {"senderUniqueReference": "S-IF-064-1500000002-MDR-20240701-u1",
              "senderTimestamp": "2024-07-01T11:00:00+01:00", "senderDIPID": "1500000002", "senderRoleID": "MDR"}
    fields.update(s1)
    if days is None:
        days = [{"settlementDay": {"settlementDayDate": DAY}, "MDRConsumptionPeriods": periods_of(date(2024, 6, 30))}]
    return {"payload": {"CommonBlock": {"S0": {"interfaceID": interface}, "S1": fields,
                                        "M0": {"MPANCore": mpan, "GSPGroupID": gsp}},
                        "CustomBlock": {"B941List": days}}}


def test_the_consistent_message_passes() -> None:
    assert checks.check_message(message()) == []


def test_pointer_escapes_tilde_and_slash() -> None:
    assert ptr(3, "a/b", "c~d", 0) == "/3/payload/a~1b/c~0d/0"


def test_mpan_check_digit_finding() -> None:
    wrong = MPAN[:12] + str((int(MPAN[12]) + 3) % 10)
    assert checks.check_message(message(mpan=wrong), 4) == [Finding(
        "mpan.check-digit", "/4/payload/CommonBlock/M0/MPANCore", f"check digit {MPAN[12]}",
        f"{wrong[12]} in '{wrong}'", f"MPAN core {wrong} fails its check digit (expected {MPAN[12]})")]
    for odd in ("12345", "12000000000x1", 1200000000010):  # not 13 digits: the schema's finding
        assert checks.check_mpan_check_digit(message(mpan=odd), 0) == []


def test_mpan_gsp_finding() -> None:
    assert checks.check_message(message(gsp="_A"), 1) == [Finding(
        "mpan.gsp-mismatch", "/1/payload/CommonBlock/M0/GSPGroupID", "_C", "_A",
        f"MPAN {MPAN} belongs to GSP group _C (distributor 12), not _A")]
    assert checks.check_mpan_gsp(message(gsp=None), 0) == []  # type: ignore[arg-type]
    assert checks.check_mpan_gsp(message(mpan="12000000000", gsp="_A"), 0) == []  # not an MPAN core


def test_periods_count_finding_names_the_day() -> None:
    days = [{"settlementDay": {"settlementDayDate": DAY}, "MDRConsumptionPeriods": periods_of(date(2024, 6, 30))},
            {"settlementDay": {"settlementDayDate": "2024-07-01T00:00:00+00:00"},
             "MDRConsumptionPeriods": periods_of(date(2024, 7, 1))[:47]}]
    assert checks.check_periods_count(message(days=days), 2) == [Finding(
        "periods.count", "/2/payload/CustomBlock/B941List/1/MDRConsumptionPeriods", "48 periods", "47 periods",
        "settlement day 2024-07-01T00:00:00+00:00 has 47 periods, expected 48")]
    # Validation registers the rule as a warning (issue 13: the specification allows 1..48 periods).
    assert [f for f in checks.check_message(message(days=days), 2) if f.rule == "periods.count"] == [Finding(
        "periods.count", "/2/payload/CustomBlock/B941List/1/MDRConsumptionPeriods", "48 periods", "47 periods",
        "settlement day 2024-07-01T00:00:00+00:00 has 47 periods, expected 48 (a partial day: allowed by the "
        "specification)", severity="warning")]


def _day(periods: list[dict], when: str = DAY) -> dict:
    return {"settlementDay": {"settlementDayDate": when}, "MDRConsumptionPeriods": periods}


@pytest.mark.parametrize("how, at", [("duplicated", 11), ("early", 0), ("late", 47), ("shifted back", 20)])
def test_periods_sequence_catches_duplicated_and_early_ends(how, at) -> None:
    periods = periods_of(date(2024, 6, 30))
    expected = periods[at]["sp"]
    if how == "duplicated":
        periods[at]["sp"] = periods[at - 1]["sp"]  # two periods end at 05:30: the sequence stalls
    elif how == "early":
        periods[at]["sp"] = "2024-06-30T00:00:00+00:00"  # ends where the day starts
    elif how == "late":
        periods[at]["sp"] = "2024-07-01T00:30:00+00:00"
    else:
        periods[at]["sp"] = "2024-06-30T10:00:00+00:00"  # half an hour early
    got = periods[at]["sp"]
    assert checks.check_message(message(days=[_day(periods)]), 1) == [Finding(
        "periods.sequence", f"/1/payload/CustomBlock/B941List/0/MDRConsumptionPeriods/{at}/sp", expected, f"{got}",
        f"period {at + 1} of 2024-06-30 should end at {expected}, got {got}")]


def test_periods_sequence_reports_each_day_once_and_skips_what_it_cannot_read() -> None:
    broken = periods_of(date(2024, 6, 30))
    broken[5]["sp"] = broken[4]["sp"]
    unreadable = periods_of(date(2024, 6, 29))
    unreadable[0]["sp"] = "soon"  # the schema's finding; the next period is still judged
    unreadable[1]["sp"] = "2024-06-29T00:30:00+00:00"
    days = [_day(periods_of(date(2024, 6, 28)), "not a date"), _day(broken),
            _day(unreadable, "2024-06-29T00:00:00+00:00")]
    found = checks.check_periods_sequence(message(days=days), 0)
    assert [f.path for f in found] == ["/0/payload/CustomBlock/B941List/1/MDRConsumptionPeriods/5/sp",
                                       "/0/payload/CustomBlock/B941List/2/MDRConsumptionPeriods/1/sp"]
    assert [f.message.split(" should")[0] for f in found] == ["period 6 of 2024-06-30", "period 2 of 2024-06-29"]


def test_periods_utc_findings() -> None:
    periods = periods_of(date(2024, 6, 30))
    periods[3]["sp"] = "2024-06-30T03:00:00+01:00"
    days = [_day(periods_of(date(2024, 6, 29)), "2024-06-29T00:00:00+00:00"),
            _day(periods, "2024-06-30T01:00:00+01:00")]
    assert checks.check_periods_utc(message(days=days), 3) == [
        Finding("periods.utc", "/3/payload/CustomBlock/B941List/1/settlementDay/settlementDayDate", "offset +00:00",
                "2024-06-30T01:00:00+01:00",
                "settlementDayDate 2024-06-30T01:00:00+01:00 is not given in UTC (+00:00)"),
        Finding("periods.utc", "/3/payload/CustomBlock/B941List/1/MDRConsumptionPeriods/3/sp", "offset +00:00",
                "2024-06-30T03:00:00+01:00", "period end 2024-06-30T03:00:00+01:00 is not given in UTC (+00:00)")]
    periods[9]["sp"] = "2024-06-30T05:30:00+01:00"
    [finding] = checks.check_periods_utc(message(days=[_day(periods)]), 0)
    assert finding.message.endswith("(+00:00) (and 1 more in this day)")


def test_extra_rules_read_odd_shapes_without_findings() -> None:
    # three different days (one day twice is periods.duplicate-day's finding, issue 13)
    odd_periods = {"payload": {"CommonBlock": {}, "CustomBlock": {"B941List": [
        _day("48 periods", "2024-06-28T00:00:00+00:00"),  # type: ignore[arg-type]
        _day({"sp": "2024-06-29T00:30:00+01:00"}, "2024-06-29T00:00:00+00:00"), "day",  # type: ignore[arg-type]
        {"settlementDay": {"settlementDayDate": DAY}}]}}}  # no periods at all: the schema's finding
    assert checks.check_message(odd_periods) == []
    assert checks.check_message({"payload": {"CommonBlock": "text", "CustomBlock": {"B941List": "days"}}}) == []


SUR = "/0/payload/CommonBlock/S1/senderUniqueReference"


def test_sur_findings() -> None:
    assert checks.check_message(message(interface="IF-061")) == [Finding(
        "sur.interface", SUR, "S-IF-061-...", "S-IF-064-1500000002-MDR-20240701-u1",
        "senderUniqueReference names interface 064, S0 says IF-061")]
    assert checks.check_message(message(senderRoleID="SDS")) == [Finding(
        "sur.role", SUR, "role SDS", "role MDR", "senderUniqueReference names role MDR, S1.senderRoleID is SDS")]
    assert checks.check_message(message(senderDIPID="1500000009")) == [Finding(
        "sur.dip-id", SUR, "DIP ID 1500000009", "DIP ID 1500000002",
        "senderUniqueReference names DIP ID 1500000002, S1.senderDIPID is 1500000009")]


def test_sur_interface_compares_numbers_and_skips_what_is_not_an_interface() -> None:
    assert checks.check_sur_interface(message(interface="if-64"), 0) == []  # 064 and 64 are one number
    assert checks.check_sur_interface(message(interface="XX-061"), 0) == []
    assert checks.check_sur_interface(message(interface=None), 0) == []  # type: ignore[arg-type]
    assert checks.check_sur_interface(message(interface="IF-0x4"), 0)[0].expected == "S-IF-0x4-..."
    sur = message(senderUniqueReference="S-IF-064-1500000002-MDR-20240701-u1")
    assert checks.check_sur_role(message(senderRoleID=None), 0) == [] and checks.check_sur_dip_id(  # type: ignore
        message(senderDIPID=None), 0) == [] and checks.check_message(sur) == []  # type: ignore[arg-type]


# Issue 13 allows the day before the senderTimestamp's (a message built before midnight and sent
# after it, docs/rules.md): the boundary is now two days before, and the day after.
@pytest.mark.parametrize("sur_day, ok", [("20240701", True), ("20240630", True), ("20240629", False),
                                         ("20240702", False), ("20230701", False), ("20230630", False)])
def test_sur_date_is_the_london_date_of_the_timestamp_or_the_day_before(sur_day, ok) -> None:
    item = message(senderUniqueReference=f"S-IF-064-1500000002-MDR-{sur_day}-u1")
    found = checks.check_sur_date(item, 2)
    assert found == ([] if ok else [Finding(
        "sur.date", "/2/payload/CommonBlock/S1/senderUniqueReference", "date 20240701 (or the day before)",
        f"date {sur_day}",
        f"senderUniqueReference is dated {sur_day}, senderTimestamp 2024-07-01T11:00:00+01:00 is 20240701 in "
        f"Europe/London")])


def test_sur_date_near_midnight_takes_the_london_or_the_written_date_or_the_day_before_only() -> None:
    late = "2024-06-30T23:30:00+00:00"  # 00:30 on 1 July in London, 30 June as written
    for sur_day, ok in (("20240701", True), ("20240630", True), ("20240629", True), ("20240628", False),
                        ("20240702", False)):
        item = message(senderTimestamp=late, senderUniqueReference=f"S-IF-064-1500000002-MDR-{sur_day}-u1")
        assert (checks.check_sur_date(item, 0) == []) is ok, sur_day
    assert checks.check_sur_date(message(senderTimestamp="yesterday"), 0) == []


def _item(sur: str | None, tx: str | None, **extra: object) -> dict:
    common: dict = {"S1": {"senderUniqueReference": sur}, **extra}
    if tx is not None:
        common["D0"] = {"transactionID": tx}
    return {"payload": {"CommonBlock": common}}


def test_body_duplicates_are_named_field_by_field_and_checking_goes_on_after_each() -> None:
    """check_body: every field of the three findings, items that are not objects skipped (not an end),
    and a message repeated with its keys in another order is the same message."""
    a = _item("S-a", "T-a", x=1, y=2)
    a_reordered = {"payload": {"CommonBlock": {"y": 2, "x": 1, "D0": {"transactionID": "T-a"},
                                               "S1": {"senderUniqueReference": "S-a"}}}}
    b, c = _item("S-b", "T-b"), _item("S-a", "T-c")  # c: a's reference again
    d, e = _item("S-d", "T-b"), _item("S-e", "T-e")  # d: b's transaction again
    found = checks.check_body(["text", a, a_reordered, 7, b, c, d, e, copy.deepcopy(e)])
    assert found == [
        Finding("body.duplicate-message", "/2", "each message once per body", "the same as item 1",
                "item 2 repeats item 1 exactly (MSG1006)"),
        Finding("body.duplicate-sur", "/5/payload/CommonBlock/S1/senderUniqueReference", "a reference used once",
                "S-a (also item 1)", "items 1 and 5 share senderUniqueReference S-a (MSG1006 / RCP1006)"),
        Finding("body.duplicate-transaction", "/6/payload/CommonBlock/D0/transactionID",
                "a transaction id used once", "T-b (also item 4)",
                "items 4 and 6 share D0.transactionID T-b (RCP1043)"),
        Finding("body.duplicate-message", "/8", "each message once per body", "the same as item 7",
                "item 8 repeats item 7 exactly (MSG1006)")]
    # a reference or transaction id that is not a string is the schema's finding, not a duplicate
    assert checks.check_body([_item(None, None), _item(None, None, z=1)]) == []
    assert checks.check_body({"payload": {}}) == [] and checks.check_body([]) == []


def test_the_distributor_kind_of_an_mpan_core() -> None:
    """DNO for the fourteen area ids (10-23), IDNO for the ids allocated from 24, else None (A-MPAN-DISTRIBUTOR)."""
    assert [ids.distributor_kind(f"{p:02d}00000000000") for p in (10, 23)] == ["DNO", "DNO"]
    assert [ids.distributor_kind(f"{p:02d}00000000000") for p in (24, 49)] == ["IDNO", "IDNO"]
    assert [ids.distributor_kind(m) for m in ("0900000000000", "5000000000000", "١٠00000000000", "", None)] == [
        None, None, None, None, None]


def _r0(code: object, messages: object) -> dict:
    return {"payload": {"CommonBlock": {"R0": {"responseCode": code, "responseMessages": messages}}}}


def test_r0_that_contradicts_its_messages_is_named_field_by_field() -> None:
    at = "/4/payload/CommonBlock/R0/responseCode"
    assert content.check_r0_consistency(_r0("A", ["SP000 fine", "no code here", "MSG1030 no primary"]), 4) == [
        Finding("r0.inconsistent", at, "R (or W) for a failure message", "A",
                "R0 says accepted (A) but responseMessages[2] reports a failure: MSG1030 no primary (RCP1052)")]
    assert content.check_r0_consistency(_r0("R", [7, "RCP0000 accepted", "MSG0000"]), 4) == [
        Finding("r0.inconsistent", at, "A for success messages only", "R",
                "R0 says rejected (R) but every coded message reports success: RCP0000 accepted (RCP1052)")]
    for consistent in (_r0("A", ["RCP0000"]), _r0("R", ["RCP1006 duplicate"]), _r0("R", ["no code"]),
                       _r0("W", ["MSG1030"]), _r0(None, ["MSG1030"]), _r0("A", "MSG1030"), {"payload": {}}):
        assert content.check_r0_consistency(consistent, 4) == [], consistent


def test_an_if061_without_a_primary_recipient_is_named_field_by_field() -> None:
    item = sample("IF-061", "MDRStart")
    message = "IF-061 names no primary recipient: the DIP cannot route a start request to the MDR (MSG1030)"
    assert content.check_primary_recipient(item, 2) == []
    item["payload"]["CommonBlock"]["A0"]["primaryRecipients"] = ["", None]
    assert content.check_primary_recipient(item, 2) == [Finding(
        "a0.no-primary", "/2/payload/CommonBlock/A0/primaryRecipients", "the assigned MDR's DIP ID", "none", message)]
    del item["payload"]["CommonBlock"]["A0"]
    assert content.check_primary_recipient(item, 2) == [Finding(
        "a0.no-primary", "/2/payload/CommonBlock", "the assigned MDR's DIP ID", "none", message)]
    for malformed in ("A0", {"primaryRecipients": "1500000001"}):  # the schema's finding, not this rule's
        item["payload"]["CommonBlock"]["A0"] = malformed
        assert content.check_primary_recipient(item, 2) == [], malformed
    other = sample("IF-064", "MDRConsumption")
    other["payload"]["CommonBlock"]["A0"] = {"primaryRecipients": []}
    assert content.check_primary_recipient(other, 2) == []  # only an IF-061 must name its MDR


def test_a_message_whose_content_list_is_empty_is_named_field_by_field() -> None:
    reading = sample("IF-065", "ReadingRemote")
    block = reading["payload"]["CustomBlock"]
    block.pop("B065List", None)
    block["B076List"] = []
    empty = [Finding("content.empty", "/1/payload/CustomBlock", "at least one B076List or B065List reading",
                     "no reading", "a [ReadingRemote] message carries no reading (RCP1021)")]
    assert content.check_content_empty(reading, 1) == empty
    block["B065List"] = [{"x": 1}]  # a B065List reading alone is content
    assert content.check_content_empty(reading, 1) == []
    block["B065List"] = None
    assert content.check_content_empty(reading, 1) == empty
    offpeak = sample("IF-024", "SN-OffPeakDec")
    assert content.check_content_empty(offpeak, 1) == []
    offpeak["payload"]["CustomBlock"]["B097List"] = []
    assert content.check_content_empty(offpeak, 1) == [Finding(
        "content.empty", "/1/payload/CustomBlock/B097List", "at least one declaration", "0 items",
        "B097List is empty: the off-peak declaration declares nothing (RCP1021)")]


def test_a_settlement_day_not_at_midnight_is_named_field_by_field() -> None:
    days = [_day("48 periods", "2024-06-28T00:00:00+00:00"), _day("48 periods", "2024-06-29T00:30:00+01:00"),
            _day("48 periods", "not a date")]  # type: ignore[arg-type]
    item = {"payload": {"CustomBlock": {"B941List": days}}}
    assert checks.check_periods_day_start(item, 5) == [Finding(
        "periods.day-start", "/5/payload/CustomBlock/B941List/1/settlementDay/settlementDayDate",
        "2024-06-29T00:00:00+00:00", "2024-06-29T00:30:00+01:00",
        "settlementDayDate 2024-06-29T00:30:00+01:00 is not the start of a day (expected time 00:00:00)")]


def test_the_rule_registry_reads_odd_blocks_without_raising_and_numbers_from_item_zero() -> None:
    """A schema-invalid message (S0's interfaceID or eventCode a list, a block that is not an object)
    gets the schema's findings: no rule may raise on it, and the readers give an empty block."""
    for field in ("interfaceID", "eventCode"):
        item = sample("IF-064")
        common_block = item["payload"]["CommonBlock"]
        common_block["S0"][field] = [common_block["S0"][field]]
        common_block["S1"]["senderRoleID"] = "SDS"  # sender.role would fire if the event were read
        assert base.event_of(item) is None
        assert [f.rule for f in checks.check_message(item, 0, now=NOW)] == ["sur.role"], field
    for block in ("CommonBlock", "CustomBlock"):
        for odd in (["S0"], "S0", 7):
            item = {"payload": {block: odd}}
            assert base.common(item) == {} and base.custom(item) == {}
            assert checks.check_message(item, 0, now=NOW) == []
    wrong_role = sample("IF-064")
    wrong_role["payload"]["CommonBlock"]["S1"]["senderRoleID"] = "SDS"
    assert [f.path for f in checks.RULES["sender.role"](wrong_role)] == ["/0/payload/CommonBlock/S1/senderRoleID"]
