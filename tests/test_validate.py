"""validate_body / validate_message: the right rule at the right JSON pointer, under both packs.

Messages are built by hand here (not by the sample factory) so that a broken generator cannot hide
a broken validator. `valid_item` is also used by the CLI tests.
"""

from __future__ import annotations

import copy
import random
from datetime import date, datetime, timezone

import pytest

from harness.core.errors import UsageError
from harness.core.paths import default_spec_dir
from harness.messages.ids import (
    break_check_digit,
    dip_timestamp,
    make_mpan,
    sender_unique_reference,
    settlement_period_ends,
    utc_timestamp,
)
from harness.messages.validate import identify, pointer, validate_body, validate_message

WHEN = datetime(2024, 3, 21, 12, 0, tzinfo=timezone.utc)
MPAN = make_mpan(random.Random(1), "_J")
SENDERS = {"SDS": "1400000001", "MDR": "1500000002", "REGS": "2200000003"}


def _common(interface_id: str, code: str, role: str) -> dict:
    dip_id = SENDERS[role]
    return {
        "S0": {"interfaceID": interface_id, "schemaVersion": "011", "eventCode": code},
        "S1": {"environmentTag": "UIT", "subText": None,
               "senderUniqueReference": sender_unique_reference(interface_id, dip_id, role, WHEN, "abc123"),
               "senderTimestamp": dip_timestamp(WHEN), "senderDIPID": dip_id, "senderRoleID": role,
               "senderCorrelationID": "CI-20240321-abc", "DIPConnectionProviderID": None},
        "A0": {"primaryRecipients": ["1500000002"], "secondaryRecipients": [], "always": []},
        "M0": {"MPANCore": MPAN, "distributorDIPID": "2000000001", "GSPGroupID": "_J"},
    }


def valid_item(interface_id: str = "IF-061", periods: int = 48) -> dict:
    """A schema-valid, check-valid wire item of IF-061 [MDRStart], IF-062 or IF-064."""
    stamp = dip_timestamp(WHEN)
    if interface_id == "IF-064":
        ends = settlement_period_ends(date(2024, 3, 20))
        sps = [{"sp": utc_timestamp(ends[i % 48]), "v": "0.125", "q": "A"} for i in range(periods)]
        return {"payload": {"CommonBlock": _common("IF-064", "[MDRConsumption]", "MDR"), "CustomBlock": {
            "B045": {"measurementQuantityID": "AI"},
            "B941List": [{"settlementDay": {"settlementDayDate": "2024-03-20T00:00:00+00:00", "periodDuration": 30},
                          "MDRConsumptionPeriods": sps}]}}}
    code, role = {"IF-061": ("[MDRStart]", "SDS"), "IF-062": ("[MDRStartResponse]", "MDR")}[interface_id]
    common = _common(interface_id, code, role)
    if interface_id == "IF-062":
        common["R0"] = {"responseCode": "A", "responseMessages": []}
    return {"payload": {"CommonBlock": common, "CustomBlock": {
        "B019": {"assignedMDRDIPID": "1500000002", "assignedMDRMPID": "ABCD", "assignedMDREffectiveFromDate": stamp},
        "B078": {"energyDirection": "I"},
        "B025": {"energisationStatus": "E", "energisationStatusEffectiveFromDate": stamp},
        "B068": {"consentGranularity": "H", "consentGranularityEffectiveFromDate": stamp}}}}


def egress_item(interface_id: str = "IF-061") -> dict:
    item = valid_item(interface_id)
    item["payload"]["CommonBlock"]["D0"] = {
        "transactionID": "T-IF-061-1400000001-SDS-20240321-abc", "transactionTimestamp": dip_timestamp(WHEN),
        "publicationID": "PUB-061", "initialCorrelationID": None, "replayIndicator": False, "serviceTicketURL": None}
    return item


@pytest.fixture(params=["dipcert", "official"], scope="module")
def pack(request):
    from harness.messages.schemapack import load_pack

    if request.param == "official":
        spec = default_spec_dir()
        if spec is None:
            pytest.skip("Elexon's specification is not at ../shared/elexon-dip-api "
                        "(harness.core.paths.default_spec_dir)")
        return load_pack(spec)
    return load_pack()


def rules_at(findings) -> set[tuple[str, str]]:
    return {(f.rule, f.path) for f in findings}


def mutate(item: dict, path: str, value=..., *, delete: bool = False) -> dict:
    """A copy of `item` with the field at slash-separated `path` (under payload) set or deleted."""
    item = copy.deepcopy(item)
    *parents, last = path.split("/")
    node = item["payload"]
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if delete:
        del node[last]
    else:
        node[last] = value
    return item


# --- good messages ------------------------------------------------------------------------------

@pytest.mark.parametrize("interface_id", ["IF-061", "IF-062", "IF-064"])
def test_valid_messages_have_no_findings(pack, interface_id) -> None:
    assert validate_body([valid_item(interface_id)], pack=pack) == []


def test_valid_egress_message_has_no_findings(pack) -> None:
    assert validate_body([egress_item()], pack=pack, form="egress") == []


def test_nullable_fields_accept_null(pack) -> None:
    item = mutate(valid_item(), "CommonBlock/S1/senderCorrelationID", None)
    assert validate_body([item], pack=pack) == []


# --- broken messages: rule and pointer ------------------------------------------------------------

BROKEN = [
    ("missing key", "CommonBlock/M0/GSPGroupID", None, True, "schema.required", "/0/payload/CommonBlock/M0/GSPGroupID"),
    ("wrong enum", "CustomBlock/B078/energyDirection", "X", False, "schema.enum",
     "/0/payload/CustomBlock/B078/energyDirection"),
    ("bad pattern", "CommonBlock/M0/MPANCore", "20000565359AB", False, "schema.pattern",
     "/0/payload/CommonBlock/M0/MPANCore"),
    ("too long", "CommonBlock/S1/senderDIPID", "12345678901", False, "schema.maxLength",
     "/0/payload/CommonBlock/S1/senderDIPID"),
    ("extra property", "CustomBlock/B999", {"x": 1}, False, "schema.additionalProperties",
     "/0/payload/CustomBlock/B999"),
    ("null not nullable", "CommonBlock/S1/senderDIPID", None, False, "schema.type",
     "/0/payload/CommonBlock/S1/senderDIPID"),
    ("empty nullable string", "CommonBlock/S1/subText", "", False, "schema.minLength",
     "/0/payload/CommonBlock/S1/subText"),
]


@pytest.mark.parametrize("label,path,value,delete,rule,where", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_message_reports_rule_and_pointer(pack, label, path, value, delete, rule, where) -> None:
    findings = validate_body([mutate(valid_item(), path, value, delete=delete)], pack=pack)
    assert (rule, where) in rules_at(findings), findings
    assert all(f.severity == "error" for f in findings)


def test_finding_fields_are_short_and_useful(pack) -> None:
    enum = validate_body([mutate(valid_item(), "CustomBlock/B078/energyDirection", "X")], pack=pack)[0]
    assert enum.expected in ("one of ['I', 'E']", "one of ['E', 'I']", "exactly 'I'") or "'I'" in enum.expected
    assert enum.actual == "'X'"
    assert "\n" not in enum.message and "energyDirection" in enum.message
    required = validate_body([mutate(valid_item(), "CustomBlock/B019", delete=True)], pack=pack)
    assert [(f.rule, f.path, f.expected, f.actual) for f in required] == [
        ("schema.required", "/0/payload/CustomBlock/B019", "required key 'B019'", "missing")]
    length = validate_body([mutate(valid_item(), "CommonBlock/S1/senderDIPID", "12345678901")], pack=pack)
    assert any(f.expected == "length <= 10" for f in length)


def test_missing_r0_on_if062(pack) -> None:
    findings = validate_body([mutate(valid_item("IF-062"), "CommonBlock/R0", delete=True)], pack=pack)
    assert ("schema.required", "/0/payload/CommonBlock/R0") in rules_at(findings)


def test_forty_nine_periods(pack) -> None:
    findings = validate_body([valid_item("IF-064", periods=49)], pack=pack)
    where = "/0/payload/CustomBlock/B941List/0/MDRConsumptionPeriods"
    assert ("schema.maxItems", where) in rules_at(findings)
    assert ("periods.count", where) in rules_at(findings)


def test_wrong_event_code_for_the_interface(pack) -> None:
    findings = validate_body([mutate(valid_item(), "CommonBlock/S0/eventCode", "[MDRStop]")], pack=pack)
    assert rules_at(findings) == {("s0.event", "/0/payload/CommonBlock/S0/eventCode")}


def test_unknown_or_missing_interface(pack) -> None:
    unknown = validate_body([mutate(valid_item(), "CommonBlock/S0/interfaceID", "IF-999")], pack=pack)
    assert rules_at(unknown) == {("s0.interface", "/0/payload/CommonBlock/S0/interfaceID")}
    missing = validate_body([mutate(valid_item(), "CommonBlock/S0", delete=True)], pack=pack)
    assert [f.rule for f in missing] == ["s0.interface"]


def test_interface_mismatch_with_the_endpoint(pack) -> None:
    findings = validate_body([valid_item("IF-061")], interface_id="IF-062", pack=pack)
    assert rules_at(findings) == {("interface.mismatch", "/0/payload/CommonBlock/S0/interfaceID")}
    assert validate_body([valid_item("IF-061")], interface_id="if061", pack=pack) == []


def test_pointer_carries_the_item_index_and_escapes(pack) -> None:
    bad = valid_item()
    bad["payload"]["CustomBlock"]["a/b~c"] = 1
    findings = validate_body([valid_item(), bad], pack=pack)
    # The second item's fault, and its reference repeating the first's (body.duplicate-sur).
    assert rules_at(findings) == {("schema.additionalProperties", "/1/payload/CustomBlock/a~1b~0c"),
                                  ("body.duplicate-sur", "/1/payload/CommonBlock/S1/senderUniqueReference")}
    assert pointer(0, "a/b", "~") == "/0/a~1b/~0"


def test_findings_come_in_document_order(pack) -> None:
    item = mutate(valid_item(), "CustomBlock/B078/energyDirection", "X")
    item = mutate(item, "CommonBlock/M0/GSPGroupID", "ZZ")
    paths = [f.path for f in validate_body([item], pack=pack, extra_checks=False)]
    assert paths == sorted(paths, key=lambda p: p.replace("Common", "A").replace("Custom", "B"))


def test_egress_form(pack) -> None:
    # The bundled pack requires D0 on delivery; Elexon's specification makes no difference.
    findings = validate_body([valid_item()], pack=pack, form="egress")
    if pack.name == "dipcert":
        assert ("schema.required", "/0/payload/CommonBlock/D0") in rules_at(findings)
    else:
        assert findings == []


def test_extra_checks_run_and_can_be_switched_off(pack) -> None:
    item = mutate(valid_item(), "CommonBlock/M0/MPANCore", break_check_digit(MPAN))
    assert [f.rule for f in validate_body([item], pack=pack)] == ["mpan.check-digit"]
    assert validate_body([item], pack=pack, extra_checks=False) == []


# --- the body -------------------------------------------------------------------------------------

@pytest.mark.parametrize("body,rule", [
    (b'[{"payload": "\xff"}]', "json.encoding"),
    (b'[{"payload": ', "json.parse"),
    ("[NaN]", "json.parse"),
    ('{"payload": {}}', "envelope.not-array"),
    ("[]", "envelope.empty"),
    ("[1]", "envelope.item"),
    ("[{}]", "envelope.item"),
])
def test_body_level_rules(body, rule) -> None:
    findings = validate_body(body)
    assert [f.rule for f in findings] == [rule]
    assert findings[0].path in ("", "/0")


def test_parse_error_names_line_and_column() -> None:
    finding = validate_body(b'[\n  {"payload": }\n]')[0]
    assert finding.actual == "line 2 column 15" and "line 2 column 15" in finding.message


def test_bytes_and_text_and_list_agree() -> None:
    import json

    item = mutate(valid_item(), "CustomBlock/B078/energyDirection", "X")
    text = json.dumps([item])
    assert validate_body(text) == validate_body(text.encode()) == validate_body([item])


def test_identify() -> None:
    assert identify(valid_item()) == ("IF-061", "MDRStart")
    assert identify(valid_item("IF-064")) == ("IF-064", "MDRConsumption")
    assert identify(mutate(valid_item(), "CommonBlock/S0/eventCode", "MDRStart")) is None
    assert identify({"payload": []}) is None
    assert identify("nonsense") is None  # type: ignore[arg-type]


def test_validate_message_directly_and_unknown_endpoint() -> None:
    assert validate_message(valid_item(), 3) == []
    bad = validate_message(mutate(valid_item(), "CustomBlock/B078", delete=True), 3)
    assert [f.path for f in bad] == ["/3/payload/CustomBlock/B078"]
    with pytest.raises(UsageError):
        validate_message(valid_item(), interface_id="IF-999")


def test_samples_validate_cleanly_under_both_packs(pack) -> None:
    samples = pytest.importorskip("harness.messages.samples")
    from harness.core.catalogue import load_catalogue

    factory = samples.SampleFactory(seed=7)
    for event in load_catalogue().events():
        for form in ("ingress", "egress"):
            item = factory.message(event.interface_id, event.name, form=form)
            assert validate_body([item], pack=pack, form=form) == [], (event.key, form)
