"""Seeded samples: valid against both schema packs, realistic, and reproducible from their seed."""

from __future__ import annotations

import json
import threading
from datetime import date, datetime, timedelta, timezone

import pytest

from harness.core.catalogue import load_catalogue
from harness.core.errors import UsageError
from harness.core.paths import default_spec_dir
from harness.messages import ids
from harness.messages.samples import (
    DEFAULT_PARTIES,
    DISTRIBUTOR_DIP_IDS,
    Party,
    SampleFactory,
    sample_message,
    seeded_parties,
)
from harness.messages.schemapack import load_pack
from harness.messages.validate import validate_body, validate_message

EVENTS = load_catalogue().events()
NOW = datetime(2025, 6, 30, 23, 15, 10, tzinfo=timezone.utc)  # BST: London date is 1 July


@pytest.fixture(scope="module")
def ours():
    return load_pack()


@pytest.fixture(scope="module")
def official():
    spec = default_spec_dir()
    if spec is None:
        pytest.skip("Elexon's specification is not at ../shared/elexon-dip-api (needed to test against it)")
    return load_pack(spec)


def common(item: dict) -> dict:
    return item["payload"]["CommonBlock"]


def custom(item: dict) -> dict:
    return item["payload"]["CustomBlock"]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.key)
def test_samples_of_every_event_have_no_findings_in_either_pack(event, ours, official) -> None:
    factory = SampleFactory(7)
    for seed in (0, 1, 2):
        for form in ("ingress", "egress"):
            item = sample_message(event.interface_id, event.name, seed=seed, form=form)
            for pack in (ours, official):
                assert validate_message(item, form=form, pack=pack) == [], (seed, form, pack.name)
    item = factory.message(event.interface_id, event.name)  # a factory's later messages too
    assert validate_message(item, pack=ours) == []


def test_sample_identity_matches_the_catalogue() -> None:
    for event in EVENTS:
        item = sample_message(event.interface_id, event.name, seed=5, now=NOW)
        s0, s1, a0 = common(item)["S0"], common(item)["S1"], common(item)["A0"]
        sender = seeded_parties(5)[event.sender]
        assert s0 == {"interfaceID": event.interface_id, "schemaVersion": "011", "eventCode": event.code}
        assert (s1["senderRoleID"], s1["senderDIPID"]) == (sender.role, sender.dip_id)
        assert s1["senderTimestamp"] == "2025-07-01T00:15:10+01:00"
        assert s1["environmentTag"] == "UIT" and s1["subText"] is None
        ref = ids.parse_sender_unique_reference(s1["senderUniqueReference"])
        assert ref is not None and (ref.interface_number, ref.dip_id, ref.role, ref.day) == (
            event.interface_id[3:], sender.dip_id, sender.role, "20250701")
        receiver = "SDS" if event.sender == "MDR" else "MDR"
        assert a0 == {"primaryRecipients": [seeded_parties(5)[receiver].dip_id], "secondaryRecipients": [],
                      "always": []}
        assert ("R0" in common(item)) == load_catalogue().get(event.interface_id).r0_required
        assert "D0" not in common(item)


def test_mpan_distributor_and_gsp_agree() -> None:
    for seed in range(20):
        m0 = common(sample_message("IF-061", seed=seed))["M0"]
        assert ids.is_valid_mpan(m0["MPANCore"])
        assert ids.gsp_for_mpan(m0["MPANCore"]) == m0["GSPGroupID"]
        assert m0["distributorDIPID"] == DISTRIBUTOR_DIP_IDS[m0["GSPGroupID"]]
    m0 = common(sample_message("IF-063", gsp="_P"))["M0"]
    assert m0["GSPGroupID"] == "_P" and m0["MPANCore"].startswith("17")
    assert common(sample_message("IF-063", mpan="2000056535971"))["M0"]["GSPGroupID"] == "_H"


def test_meter_details_look_real() -> None:
    factory = SampleFactory(11)
    meters = [m for _ in range(10) for m in custom(factory.message("IF-061")).get("B074List", [])]
    meters += [custom(factory.message("IF-006", "MeterInstall"))["B906"]["existingMeter"] for _ in range(10)]
    assert len(meters) >= 10
    for meter in meters:  # serials like 19L1234567: year, maker letter, number
        assert len(meter["meterID"]) == 10 and meter["meterID"][:2].isdigit() and meter["meterID"][2].isalpha()
        if meter["ESMEGUID"] is not None:  # like 0C-A2-F4-00-00-76-21-BC
            parts = meter["ESMEGUID"].split("-")
            assert len(meter["ESMEGUID"]) == 23 and len(parts) == 8 and parts[3:5] == ["00", "00"]
        assert ids.parse_dip_timestamp(meter["meterInstallationDate"]) < factory.now
    maps = custom(factory.message("IF-006", "MeterInstall"))["B906"]["historyMAP"]
    assert maps and all(ids.is_mpid(m["meterAssetProviderID"]) for m in maps)


def test_consumption_day_is_48_utc_half_hours_of_a_domestic_profile() -> None:
    item = sample_message("IF-064", seed=2, now=NOW, direction="I")
    assert custom(item)["B045"] == {"measurementQuantityID": "AI"}
    [day] = custom(item)["B941List"]
    assert day["settlementDay"] == {"settlementDayDate": "2025-06-29T00:00:00+00:00", "periodDuration": 30}
    periods = day["MDRConsumptionPeriods"]
    assert [p["sp"] for p in periods] == [ids.utc_timestamp(e) for e in ids.settlement_period_ends(date(2025, 6, 29))]
    assert periods[0]["sp"] == "2025-06-29T00:30:00+00:00" and periods[-1]["sp"] == "2025-06-30T00:00:00+00:00"
    values = [float(p["v"]) for p in periods]
    assert all(0.03 <= v <= 1.5 for v in values)
    assert all(len(p["v"].split(".")[1]) == 3 for p in periods)
    assert 6 <= sum(values) <= 11  # a home's day: 7-10 kWh typical
    export = custom(sample_message("IF-064", seed=2, direction="E"))
    assert export["B045"] == {"measurementQuantityID": "AE"}
    assert float(export["B941List"][0]["MDRConsumptionPeriods"][0]["v"]) == 0.0  # no sun at midnight


def test_two_hundred_settlement_days(ours) -> None:
    item = sample_message("IF-064", seed=4, days=200)
    days = custom(item)["B941List"]
    assert len(days) == 200
    starts = [datetime.fromisoformat(d["settlementDay"]["settlementDayDate"]) for d in days]
    assert all(b - a == timedelta(days=1) for a, b in zip(starts, starts[1:]))
    assert validate_message(item, pack=ours) == []


def test_consumption_is_shaped_by_profile_class_with_some_estimates() -> None:
    """Over many seeds: 6-11 kWh a day, unrestricted homes peak in the evening, Economy 7 homes use
    the night, most periods are actual and some days carry a run of estimated ones."""
    night_heavy = evening_peak = estimated_days = 0
    qualities = []
    for seed in range(40):
        [day] = SampleFactory(seed, now=NOW).consumption_days(date(2025, 1, 15), 1)  # winter: local = UTC
        periods = day["MDRConsumptionPeriods"]
        values = [float(p["v"]) for p in periods]
        assert 6 <= sum(values) <= 11
        night, evening = sum(values[1:15]), sum(values[32:42])  # 00:30-07:30 and 16:00-21:00
        night_heavy += night > 0.3 * sum(values)
        evening_peak += evening > 2 * night
        flags = [p["q"] for p in periods]
        qualities += flags
        estimated = [i for i, q in enumerate(flags) if q == "E"]
        if estimated:
            estimated_days += 1
            assert estimated == list(range(estimated[0], estimated[-1] + 1))  # one gap, consecutive
    assert night_heavy and evening_peak and night_heavy < evening_peak  # class 2 less common than 1
    assert 5 <= estimated_days <= 25 and qualities.count("A") > 0.9 * len(qualities)


def test_parties_vary_by_seed_unless_named() -> None:
    a, b = SampleFactory(1, now=NOW), SampleFactory(2, now=NOW)
    assert a.parties["MDR"].dip_id != b.parties["MDR"].dip_id and a.parties["SUP"].mpid != b.parties["SUP"].mpid
    assert all(ids.is_dip_id(p.dip_id) and ids.is_mpid(p.mpid) for p in a.parties.values())
    assert a.parties["SDS"].dip_id.startswith("14") and a.parties["SUP"].dip_id.startswith("23")
    named = SampleFactory(1, now=NOW, parties=DEFAULT_PARTIES)
    item = named.message("IF-061")
    assert common(item)["S1"]["senderDIPID"] == DEFAULT_PARTIES["SDS"].dip_id
    assert common(item)["A0"]["primaryRecipients"] == [DEFAULT_PARTIES["MDR"].dip_id]
    assert custom(item)["B019"]["assignedMDRMPID"] == DEFAULT_PARTIES["MDR"].mpid


def test_egress_adds_d0_as_the_dip_would() -> None:
    factory = SampleFactory(3, now=NOW)
    item = factory.message("IF-061", correlation_id="CI-20250701-abc123")
    delivered = factory.egress(item, replay=True)
    assert "D0" not in common(item)  # the original is untouched
    d0 = common(delivered)["D0"]
    assert d0["publicationID"] == "PUB-061" and d0["replayIndicator"] is True
    assert d0["initialCorrelationID"] == "CI-20250701-abc123" and d0["serviceTicketURL"] is None
    assert d0["transactionID"].startswith(f"T-IF-061-{factory.parties['SDS'].dip_id}-SDS-20250701-")
    assert ids.parse_dip_timestamp(d0["transactionTimestamp"]) > NOW
    assert list(common(delivered)) == ["S0", "S1", "A0", "D0", "M0"]
    assert factory.egress(item, transaction_id="T-1")["payload"]["CommonBlock"]["D0"]["transactionID"] == "T-1"
    direct = sample_message("IF-064", form="egress")
    assert common(direct)["D0"]["publicationID"] == "PUB-064" and common(direct)["D0"]["replayIndicator"] is False


def test_common_block_and_consumption_days_as_building_blocks() -> None:
    factory = SampleFactory(2, now=NOW)
    block = factory.common_block("IF-062", gsp="_C", correlation_id="CI-20250701-x1")
    assert block["S0"]["eventCode"] == "[MDRStartResponse]" and block["M0"]["GSPGroupID"] == "_C"
    assert block["S1"]["senderCorrelationID"] == "CI-20250701-x1" and "R0" in block
    days = factory.consumption_days(date(2025, 3, 29), 3, "I")  # over the spring clock change: still 48 UTC periods
    assert [len(d["MDRConsumptionPeriods"]) for d in days] == [48, 48, 48]
    assert days[2]["settlementDay"]["settlementDayDate"] == "2025-03-31T00:00:00+00:00"


def test_body_is_an_array_of_messages_with_unique_references(ours) -> None:
    body = SampleFactory(9).body("IF-065", "MDRTOU", count=5)
    assert len(body) == 5 and len({common(m)["S1"]["senderUniqueReference"] for m in body}) == 5
    assert validate_body(json.dumps(body), interface_id="IF-065", pack=ours) == []


def test_same_seed_same_json_and_different_seeds_differ() -> None:
    for event in EVENTS:
        a = json.dumps(sample_message(event.interface_id, event.name, seed=42))
        assert a == json.dumps(sample_message(event.interface_id, event.name, seed=42))
        assert a != json.dumps(sample_message(event.interface_id, event.name, seed=43))
    one = SampleFactory(5).body("IF-024", "SN-Vacant", count=3)
    two = SampleFactory(5).body("IF-024", "SN-Vacant", count=3)
    assert one == two


def test_factories_used_at_once_on_threads_give_what_each_gives_alone() -> None:
    """The Fakers are shared (lent one value at a time): each factory still draws from its own seeded
    stream, whatever other factories draw on other threads meanwhile."""
    events = [e for e in EVENTS if e.interface_id in ("IF-006", "IF-026")]

    def messages(seed: int) -> list[str]:
        factory = SampleFactory(seed)
        return [json.dumps(factory.message(e.interface_id, e.name)) for _ in range(3) for e in events]

    alone = {seed: messages(seed) for seed in range(4)}
    together: dict[int, list[str]] = {}
    start = threading.Barrier(4)

    def run(seed: int) -> None:
        start.wait()
        together[seed] = messages(seed)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in alone]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert together == alone


def test_parties_recipients_and_custom_overrides() -> None:
    mine = Party("MDR", "9988776655", "ABCD", dcp_id="1122334455")
    item = SampleFactory(1).message("IF-064", sender=mine, recipients=["5544332211"])
    s1 = common(item)["S1"]
    assert (s1["senderDIPID"], s1["DIPConnectionProviderID"]) == ("9988776655", "1122334455")
    assert "-9988776655-MDR-" in s1["senderUniqueReference"]
    assert common(item)["A0"]["primaryRecipients"] == ["5544332211"]
    overridden = SampleFactory(1).message("IF-063", custom={"B060": {"additionalInformation": "stop"}})
    assert custom(overridden)["B060"] == {"additionalInformation": "stop"}
    assert "B060" not in custom(SampleFactory(1).message("IF-063", custom={"B060": None}))
    assigned = custom(SampleFactory(1, parties={"MDR": mine}).message("IF-061"))["B019"]
    assert (assigned["assignedMDRDIPID"], assigned["assignedMDRMPID"]) == ("9988776655", "ABCD")


def test_response_to_answers_each_request(ours) -> None:
    factory = SampleFactory(8)
    start = factory.message("IF-061", correlation_id="CI-20250101-start")
    answer = factory.response_to(start)
    assert common(answer)["S0"]["interfaceID"] == "IF-062"
    assert custom(answer) == custom(start)
    assert common(answer)["R0"] == {"responseCode": "A", "responseMessages": ["SP000 - Proposed Appointment ACCEPTED"]}
    assert common(answer)["M0"] == common(start)["M0"]
    assert common(answer)["S1"]["senderCorrelationID"] == "CI-20250101-start"
    assert common(answer)["A0"]["primaryRecipients"] == [factory.parties["SDS"].dip_id]
    assert common(factory.response_to(start, accepted=False))["R0"]["responseCode"] == "R"
    request = factory.message("IF-065", "MDRConsumption")
    consumption = factory.response_to(request)
    reference = ids.parse_dip_timestamp(custom(request)["B077"]["MDRReferenceDateTime"])
    assert common(consumption)["S0"]["interfaceID"] == "IF-064"
    assert custom(consumption)["B941List"][0]["settlementDay"]["settlementDayDate"] == \
        f"{reference:%Y-%m-%d}T00:00:00+00:00"
    tou = factory.response_to(factory.message("IF-065", "MDRTOU"))
    assert common(tou)["S0"]["eventCode"] == "[ReadingRemote]"
    for item in (answer, consumption, tou):
        assert validate_message(item, pack=ours) == []
    with pytest.raises(UsageError, match="IF-063/MDRStop is not a request"):
        factory.response_to(factory.message("IF-063"))


@pytest.mark.parametrize("call, message", [
    (lambda: sample_message("IF-099"), "unknown interface"),
    (lambda: sample_message("IF-065"), "several events"),
    (lambda: sample_message("IF-061", "Nope"), "has no event"),
    (lambda: sample_message("IF-061", mpan="2000056535972"), "check digit"),
    (lambda: sample_message("IF-061", gsp="_Q"), "unknown GSP group"),
    (lambda: sample_message("IF-061", form="sideways"), "unknown message form"),
    (lambda: sample_message("IF-061", environment="LIVE"), "unknown environment"),
    (lambda: SampleFactory(now=datetime(2025, 1, 1)), "timezone-aware"),
    (lambda: SampleFactory().body("IF-061", count=0), "count"),
])
def test_user_mistakes_are_one_line_usage_errors(call, message) -> None:
    with pytest.raises(UsageError, match=message):
        call()


@pytest.mark.parametrize("value", ["2026-02-30T00:00:00+00:00", "2026-11-23T17:01:02Z", "2026-11-23 17:01:02+00:00",
                                   "2026-11-23T17:01:02+00:00\n", None, 20261123])
def test_a_timestamp_that_is_not_dt003_is_refused_every_time_though_parsing_is_remembered(value: object) -> None:
    for _ in range(2):  # a refusal is never remembered as an answer
        with pytest.raises(ValueError, match="25-character timestamp|day is out of range"):
            ids.parse_dip_timestamp(value)  # type: ignore[arg-type]
    first = ids.parse_dip_timestamp("2026-11-23T17:01:02+00:00")
    expected = datetime(2026, 11, 23, 17, 1, 2, tzinfo=timezone.utc)
    assert first == ids.parse_dip_timestamp("2026-11-23T17:01:02+00:00") == expected
