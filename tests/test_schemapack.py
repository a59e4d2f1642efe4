"""The bundled schema pack: well-formed, complete for the catalogue, strict where the DIP spec is strict.

Valid messages here are hand-built (not from the sample factory) so that the pack is checked
against an independent statement of each event. Where Elexon's specification sits next to the
repository, every event is also compared with it: structurally (keys, required lists, constraints)
and by verdict (the same good and broken messages are accepted/rejected by both).
"""

from __future__ import annotations

import copy
import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from harness.core.catalogue import load_catalogue
from harness.core.errors import ConfigError, UsageError
from harness.core.paths import default_spec_dir, schemas_dir
from harness.messages.schemapack import BundledPack, SchemaPack, fingerprint_files, load_pack

PACK_DIR = schemas_dir() / "dip"
CATALOGUE = load_catalogue()
EVENTS = CATALOGUE.events()
EVENT_IDS = [e.key for e in EVENTS]

TS = "2024-03-21T10:15:00+00:00"
DAY = "2024-03-21T00:00:00+00:00"
DIP = "1400000001"
MDR_DIP = "1500000002"


# -- hand-built blocks ---------------------------------------------------------------------------
B074 = {"meterID": "M000000001", "meterType": "S2AD", "manufacturersMakeAndType": None,
        "ESMEGUID": "0C-A2-F4-00-00-76-21-BC", "meterLocation": "A", "numberOfDisplayedRegisterDigits": 5,
        "meterInstallationDate": TS}
B033 = {**B074, "modifiedMeterID": None}
B034 = {"meterAssetProviderID": "MAPA", "meterAssetProviderEffectiveFromDate": TS}
B906 = {"existingMeter": B033, "historyMAP": [B034]}
B905 = {"existingMeter": B074, "existingMAP": dict(B034)}
B030 = {"IHDInstallStatus": "I", "IHDEffectiveFromDate": TS}
B039 = {"meterIDRemoved": "M000000001", "meterRemovalDate": None}
B025 = {"energisationStatus": "E", "energisationStatusEffectiveFromDate": TS}
B057 = {"supplierNotificationEffectiveFromDate": TS, "supplierNotificationExpiryDate": None,
        "additionalInformation": None}
B060 = {"additionalInformation": None}
B013 = {"CSSRegistrationID": "3f2504e0-4f89-11d3-9a0c-0305e82c3301"}
MDR_START = {
    "B019": {"assignedMDRDIPID": MDR_DIP, "assignedMDRMPID": "MDRA", "assignedMDREffectiveFromDate": TS},
    "B012": {"serviceProviderAppointmentRequestingSupplierDIPID": "2300000003",
             "serviceProviderAppointmentRequestingSupplierMPID": "SUPA"},
    "B078": {"energyDirection": "I"},
    "B025": B025,
    "B068": {"consentGranularity": "H", "consentGranularityEffectiveFromDate": TS},
    "B031": {"SMSOID": "TRIL", "SMSOEffectiveFromDate": TS},
    "B074List": [B074],
    "B060": {"additionalInformation": "meter behind a locked gate"},
}


def periods(n: int) -> list[dict]:
    start = datetime(2024, 3, 21, tzinfo=timezone.utc)  # the 48th period ends at 00:00 the next day
    return [{"sp": (start + timedelta(minutes=30 * (i + 1))).isoformat(), "v": "0.250", "q": "A"}
            for i in range(n)]


def day(n_periods: int = 48) -> dict:
    return {"settlementDay": {"settlementDayDate": DAY, "periodDuration": 30},
            "MDRConsumptionPeriods": periods(n_periods)}


# event key -> (a CustomBlock with every block filled in, the blocks the spec requires)
CUSTOM: dict[str, tuple[dict, list[str]]] = {
    "IF-006/MeterInstall": ({"B906": B906, "B030": B030, "B905List": [B905]}, ["B906"]),
    "IF-006/MeterRemoval": ({"B039": B039, "B905List": [B905]}, ["B039"]),
    "IF-006/MeterExchange": ({"B906": B906, "B039": B039, "B030": B030, "B905List": [B905]}, ["B906", "B039"]),
    "IF-006/MeterUpdate": ({"B906": B906, "B030": B030, "B039": B039, "B905List": [{}]}, ["B906"]),
    "IF-006/MeterHistoryUpdate": ({"B906": {"existingMeter": B033}, "B039": B039, "B905List": [B905]}, ["B906"]),
    "IF-008/EnergisationStatusChange": ({"B025": B025}, ["B025"]),
    "IF-024/SN-Vacant": ({"B057": B057}, ["B057"]),
    "IF-024/SN-NoComms": ({"B057": B057}, ["B057"]),
    "IF-024/SN-RemoteEnabled": ({"B057": B057, "B069": {"meterID": "M000000001"}}, ["B057", "B069"]),
    "IF-024/SN-RemoteDisabled": ({"B057": B057, "B069": {"meterID": "M000000001"}}, ["B057", "B069"]),
    "IF-024/SN-SupplierAC": ({"B057": B057, "B058": {"supplierNominatedAnnualConsumption": "3100.000"}},
                             ["B057", "B058"]),
    "IF-024/SN-OffPeakDec": ({"B097List": [{"offPeakDeclarationDate": TS, "offPeakDeclarationProportion": 42.5}]},
                             ["B097List"]),
    "IF-026/ConsentGranularity": ({"B013": B013, "B068": {"consentGranularity": "x",
                                                          "consentGranularityEffectiveFromDate": TS}}, ["B068"]),
    "IF-026/IHDInfo": ({"B013": B013, "B030": {"IHDInstallStatus": None, "IHDEffectiveFromDate": TS}}, ["B030"]),
    "IF-026/SMSO": ({"B013": B013, "B031": {"SMSOID": None, "SMSOEffectiveFromDate": TS}}, ["B031"]),
    "IF-026/SSCandProfileClass": ({"B013": B013, "B032": {"profileClass": "1", "profileClassEffectiveFromDate": TS,
                                                          "SSC": "0393", "SSCEffectiveFromDate": None}}, ["B032"]),
    "IF-061/MDRStart": (MDR_START, ["B019", "B078", "B025", "B068"]),
    "IF-062/MDRStartResponse": (MDR_START, ["B019", "B078", "B025", "B068"]),
    "IF-063/MDRStop": ({"B083": {"assignedMDRDIPID": MDR_DIP, "assignedMDRMPID": "MDRA",
                                 "assignedMDREffectiveToDate": TS}, "B060": B060}, ["B083"]),
    "IF-064/MDRConsumption": ({"B045": {"measurementQuantityID": "AI"}, "B941List": [day()], "B060": B060},
                              ["B045", "B941List"]),
    "IF-065/ReadingRemote": ({"B076List": [{"meterID": "M000000001", "cumulativeRegisterReading": "12345.678",
                                            "cumulativeRegisterReadingDateTime": TS}],
                              "B065List": [{"meterID": "M000000001", "configurableRegisterReadingDate": TS,
                                            "configurableRegisterID": "01", "configurableRegisterReading": "-1.000"}],
                              "B060": B060}, []),
    "IF-065/MDRInstantaneous": ({"B060": B060}, []),
    "IF-065/MDRTOU": ({"B077": {"MDRReferenceDateTime": TS}, "B060": B060}, ["B077"]),
    "IF-065/MDRConsumption": ({"B077": {"MDRReferenceDateTime": TS}}, ["B077"]),
}


def message(key: str, *, full: bool = False, egress: bool = False) -> dict:
    """One wire item for the event `key`: only required blocks unless `full`."""
    event = CATALOGUE.event(*key.split("/"))
    interface = CATALOGUE.get(event.interface_id)
    custom, required = CUSTOM[key]
    common: dict[str, Any] = {
        "S0": {"interfaceID": event.interface_id, "schemaVersion": "011", "eventCode": event.code},
        "S1": {"environmentTag": "UIT", "subText": None,
               "senderUniqueReference": f"S-{event.interface_id}-{DIP}-{event.sender}-20240321-abc123",
               "senderTimestamp": TS, "senderDIPID": DIP, "senderRoleID": event.sender,
               "senderCorrelationID": None, "DIPConnectionProviderID": None},
        "M0": {"MPANCore": "2000056535971", "distributorDIPID": "2000000004", "GSPGroupID": "_H"},
    }
    if interface.r0_required:
        common["R0"] = {"responseCode": "A", "responseMessages": []}
    if full or egress:
        common["A0"] = {"primaryRecipients": [MDR_DIP], "secondaryRecipients": [], "always": []}
    if egress:
        common["D0"] = {"transactionID": f"T-{event.interface_id}-{DIP}-{event.sender}-20240321-1",
                        "transactionTimestamp": TS, "publicationID": "PUB-" + event.interface_id[3:],
                        "initialCorrelationID": None, "replayIndicator": False, "serviceTicketURL": None}
    body = custom if full else {k: v for k, v in custom.items() if k in required}
    return {"payload": {"CommonBlock": common, "CustomBlock": copy.deepcopy(body)}}


@pytest.fixture(scope="module")
def pack() -> BundledPack:
    p = load_pack()
    assert isinstance(p, BundledPack)
    return p


def keywords(pack: BundledPack, item: dict, key: str, form: str = "ingress") -> set[str]:
    validator = pack.message_validator(*key.split("/"), form)  # type: ignore[arg-type]
    return {e.validator for e in validator.iter_errors(item)}  # type: ignore[misc]


# -- the pack as files ---------------------------------------------------------------------------
SCHEMA_FILES = sorted(PACK_DIR.rglob("*.json"))


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.relative_to(PACK_DIR).as_posix())
def test_every_file_is_a_valid_2020_12_schema_with_id_and_comment(path: Path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    rel = path.relative_to(PACK_DIR).as_posix()
    assert doc["$id"] == f"https://schemas.dipcert.local/dip/{rel}"
    assert "v2.1.0" in doc["$comment"] and "not a copy" in doc["$comment"]


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return ([node["$ref"]] if isinstance(node.get("$ref"), str) else []) + \
            [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_ref_is_relative_and_resolves_locally(pack: BundledPack) -> None:
    registry = Registry().with_resources(
        (d["$id"], Resource.from_contents(d, default_specification=DRAFT202012)) for d in pack.documents.values())
    for rel, doc in pack.documents.items():
        resolver = registry.resolver(doc["$id"])
        for ref in _refs(doc):
            assert not ref.startswith(("http:", "https:")), f"{rel}: absolute $ref {ref}"
            resolver.lookup(ref)  # raises if it points nowhere


def test_pack_covers_exactly_the_catalogue(pack: BundledPack) -> None:
    expected: dict[str, set[str]] = {}
    for e in EVENTS:
        expected.setdefault(e.interface_id, set()).add(e.name)
    assert {k: set(v) for k, v in pack.interfaces().items()} == expected
    assert set(CUSTOM) == set(EVENT_IDS)


def test_pack_identity(pack: BundledPack) -> None:
    assert isinstance(pack, SchemaPack)
    assert pack.name == "dipcert" and pack.version.startswith("dipcert-")
    assert pack.fingerprint.startswith("sha256:") and len(pack.fingerprint) == 7 + 64
    assert load_pack() is pack
    assert pack.message_validator("IF-061", "MDRStart") is pack.message_validator("if061", "[MDRStart]")


def test_fingerprint_follows_bytes_and_names(tmp_path: Path) -> None:
    copy_dir = tmp_path / "dip"
    shutil.copytree(PACK_DIR, copy_dir)
    original = BundledPack(copy_dir).fingerprint
    assert original == BundledPack(PACK_DIR).fingerprint
    target = copy_dir / "types.schema.json"
    target.write_bytes(target.read_bytes() + b"\n")
    assert BundledPack(copy_dir).fingerprint != original
    assert fingerprint_files({"a": b"xy"}) != fingerprint_files({"ax": b"y"})


@pytest.mark.parametrize("breakage, expected", [
    (lambda d: (d / "types.schema.json").write_text("{not json", encoding="utf-8"), "not valid JSON"),
    (lambda d: (d / "common.schema.json").write_text("{}", encoding="utf-8"), "'$id'"),
    (lambda d: (d / "envelope.schema.json").unlink(), "envelope.schema.json is missing"),
    (lambda d: shutil.rmtree(d / "interfaces"), "no interface schemas"),
])
def test_broken_pack_folder_is_a_config_error(tmp_path: Path, breakage: Callable[[Path], None],
                                              expected: str) -> None:
    folder = tmp_path / "dip"
    shutil.copytree(PACK_DIR, folder)
    breakage(folder)
    with pytest.raises(ConfigError, match=expected.replace("$", r"\$")):
        BundledPack(folder)
    with pytest.raises(ConfigError, match="not found"):
        BundledPack(tmp_path / "absent")


def test_unknown_names_are_usage_errors_naming_the_choices(pack: BundledPack) -> None:
    with pytest.raises(UsageError, match=r"IF-099.*IF-006, IF-008"):
        pack.message_validator("IF-099", "MDRStart")
    with pytest.raises(UsageError, match=r"IF-065 has no event 'MDRStart'.*ReadingRemote, MDRInstantaneous"):
        pack.message_validator("IF-065", "MDRStart")
    with pytest.raises(UsageError, match=r"form 'sideways'.*ingress, egress"):
        pack.message_validator("IF-061", "MDRStart", "sideways")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="no file"):
        pack.schema("nope.json")


def test_an_unresolvable_ref_fails_rather_than_fetching(tmp_path: Path) -> None:
    folder = tmp_path / "dip"
    shutil.copytree(PACK_DIR, folder)
    path = folder / "interfaces" / "IF-063.schema.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["$defs"]["MDRStop"]["properties"]["CustomBlock"]["properties"]["B060"] = {
        "$ref": "https://example.invalid/B060.json"}
    path.write_text(json.dumps(doc), encoding="utf-8")
    validator = BundledPack(folder).message_validator("IF-063", "MDRStop")
    item = message("IF-063/MDRStop", full=True)
    with pytest.raises(Exception, match="example.invalid"):
        list(validator.iter_errors(item))


# -- good messages -------------------------------------------------------------------------------
@pytest.mark.parametrize("key", EVENT_IDS)
def test_minimal_full_and_egress_messages_pass(pack: BundledPack, key: str) -> None:
    for form in ("ingress", "egress"):
        assert pack.message_validator(*key.split("/"), form) is not None  # type: ignore[arg-type]
    assert keywords(pack, message(key), key) == set()
    assert keywords(pack, message(key, full=True), key) == set()
    assert keywords(pack, message(key, egress=True), key, "egress") == set()
    assert keywords(pack, message(key, full=True, egress=True), key, "egress") == set()
    schema = pack.event_schema(*key.split("/"), "egress")  # type: ignore[arg-type]
    assert json.loads(json.dumps(schema)) == schema


# -- broken messages: (name, mutate(payload, event key) -> None or "skip", expected keyword) -----
def _set(path: str, value: Any) -> Callable[[dict, str], None]:
    def mutate(payload: dict, key: str) -> None:
        *parents, last = path.split("/")
        node = payload
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = copy.deepcopy(value)
    return mutate


_DELETE = object()
GENERIC = [
    ("S1.subText missing", _set("CommonBlock/S1/subText", _DELETE), "required"),
    ("S1.senderCorrelationID missing", _set("CommonBlock/S1/senderCorrelationID", _DELETE), "required"),
    ("M0 missing", _set("CommonBlock/M0", _DELETE), "required"),
    ("CustomBlock missing", _set("CustomBlock", _DELETE), "required"),
    ("S0.eventCode missing", _set("CommonBlock/S0/eventCode", _DELETE), "required"),
    ("S1.senderDIPID null", _set("CommonBlock/S1/senderDIPID", None), "type"),
    ("S1.subText empty string", _set("CommonBlock/S1/subText", ""), "minLength"),
    ("M0.GSPGroupID _Z", _set("CommonBlock/M0/GSPGroupID", "_Z"), "enum"),
    ("S1.environmentTag PROD", _set("CommonBlock/S1/environmentTag", "PROD"), "enum"),
    ("S1.senderUniqueReference malformed", _set("CommonBlock/S1/senderUniqueReference", "S-IF-061-x"), "pattern"),
    ("M0.MPANCore 12 digits", _set("CommonBlock/M0/MPANCore", "200005653597"), "minLength"),
    ("M0.MPANCore letters", _set("CommonBlock/M0/MPANCore", "20000565359AB"), "pattern"),
    ("S1.senderTimestamp 24 chars", _set("CommonBlock/S1/senderTimestamp", TS[:-1]), "minLength"),
    ("S1.senderTimestamp 26 chars", _set("CommonBlock/S1/senderTimestamp", TS + "0"), "maxLength"),
    ("S1.senderDIPID 11 chars", _set("CommonBlock/S1/senderDIPID", DIP + "1"), "maxLength"),
    ("S1.senderRoleID 6 chars", _set("CommonBlock/S1/senderRoleID", "ABCDEF"), "maxLength"),
    ("S1 extra key", _set("CommonBlock/S1/colour", "red"), "additionalProperties"),
    ("M0 extra key", _set("CommonBlock/M0/colour", "red"), "additionalProperties"),
    ("CommonBlock extra key", _set("CommonBlock/Z9", {}), "additionalProperties"),
    ("CustomBlock extra key", _set("CustomBlock/B999", {}), "additionalProperties"),
    ("payload extra key", _set("Extra", {}), "additionalProperties"),
    ("S0.schemaVersion 010", _set("CommonBlock/S0/schemaVersion", "010"), "enum"),
    ("S0.eventCode without brackets", lambda p, k: _set("CommonBlock/S0/eventCode", k.split("/")[1])(p, k), "const"),
    ("S0.interfaceID other", lambda p, k: _set("CommonBlock/S0/interfaceID",
                                               "IF-007" if k.startswith("IF-006") else "IF-006")(p, k), "const"),
    ("A0.primaryRecipients 9 chars", _set("CommonBlock/A0", {"primaryRecipients": ["123456789"],
                                                             "secondaryRecipients": [], "always": []}), "minLength"),
    ("A0 missing always", _set("CommonBlock/A0", {"primaryRecipients": [], "secondaryRecipients": []}), "required"),
    ("D0 replayIndicator null", _set("CommonBlock/D0", {
        "transactionID": "T-1", "transactionTimestamp": TS, "publicationID": "PUB-061",
        "initialCorrelationID": None, "replayIndicator": None, "serviceTicketURL": None}), "type"),
]


def _r0(payload: dict, key: str) -> None:
    if CATALOGUE.get(key.split("/")[0]).r0_required:
        del payload["CommonBlock"]["R0"]
    else:
        payload["CommonBlock"]["R0"] = {"responseCode": "A", "responseMessages": []}


def _r0_code(payload: dict, key: str) -> str | None:
    if "R0" not in payload["CommonBlock"]:
        return "skip"
    payload["CommonBlock"]["R0"]["responseCode"] = "Q"
    return None


def _r0_keyword(key: str) -> str:
    return "required" if CATALOGUE.get(key.split("/")[0]).r0_required else "additionalProperties"


SPECIFIC: dict[str, list[tuple[str, Callable[[dict, str], Any], str]]] = {
    "IF-064/MDRConsumption": [
        ("49 periods", _set("CustomBlock/B941List/0/MDRConsumptionPeriods", periods(49)), "maxItems"),
        ("0 periods", _set("CustomBlock/B941List/0/MDRConsumptionPeriods", []), "minItems"),
        ("201 days", _set("CustomBlock/B941List", [day(1)] * 201), "maxItems"),
        ("periodDuration 15", _set("CustomBlock/B941List/0/settlementDay/periodDuration", 15), "minimum"),
        ("periodDuration string", _set("CustomBlock/B941List/0/settlementDay/periodDuration", "30"), "type"),
        ("v without 3 decimals", _set("CustomBlock/B941List/0/MDRConsumptionPeriods/0/v", "0.25"), "pattern"),
        ("v as number", _set("CustomBlock/B941List/0/MDRConsumptionPeriods/0/v", 0.25), "type"),
        ("q unknown", _set("CustomBlock/B941List/0/MDRConsumptionPeriods/0/q", "Z"), "enum"),
        ("period extra key e", _set("CustomBlock/B941List/0/MDRConsumptionPeriods/0/e", "x"), "additionalProperties"),
        ("measurement quantity XX", _set("CustomBlock/B045/measurementQuantityID", "XX"), "enum"),
    ],
    "IF-061/MDRStart": [
        ("assignedMDRMPID lower case", _set("CustomBlock/B019/assignedMDRMPID", "mdra"), "pattern"),
        ("consentGranularity Q", _set("CustomBlock/B068/consentGranularity", "Q"), "enum"),
        ("energyDirection B", _set("CustomBlock/B078/energyDirection", "B"), "enum"),
        ("energisationStatus null", _set("CustomBlock/B025/energisationStatus", None), "type"),
        ("B074List meterLocation Q", _set("CustomBlock/B074List", [{**B074, "meterLocation": "Q"}]), "enum"),
        ("B074List missing ESMEGUID", _set("CustomBlock/B074List", [{k: v for k, v in B074.items()
                                                                    if k != "ESMEGUID"}]), "required"),
    ],
    "IF-062/MDRStartResponse": [
        ("R0 responseMessages item empty", _set("CommonBlock/R0/responseMessages", [""]), "minLength"),
        ("SMSOID 5 chars", _set("CustomBlock/B031", {"SMSOID": "TRILX", "SMSOEffectiveFromDate": TS}), "maxLength"),
    ],
    "IF-006/MeterInstall": [
        ("historyMAP empty", _set("CustomBlock/B906/historyMAP", []), "minItems"),
        ("historyMAP missing", _set("CustomBlock/B906/historyMAP", _DELETE), "required"),
        ("register digits 10", _set("CustomBlock/B906/existingMeter/numberOfDisplayedRegisterDigits", 10), "maximum"),
        ("meterType XYZ", _set("CustomBlock/B906/existingMeter/meterType", "XYZ"), "enum"),
        ("MAP id 3 chars", _set("CustomBlock/B906/historyMAP/0/meterAssetProviderID", "MAP"), "minLength"),
    ],
    "IF-006/MeterRemoval": [
        ("meterIDRemoved 11 chars", _set("CustomBlock/B039/meterIDRemoved", "M0000000012"), "maxLength"),
    ],
    "IF-024/SN-OffPeakDec": [
        ("proportion 101", _set("CustomBlock/B097List/0/offPeakDeclarationProportion", 101), "maximum"),
        ("proportion string", _set("CustomBlock/B097List/0/offPeakDeclarationProportion", "42"), "type"),
    ],
    "IF-024/SN-SupplierAC": [
        ("EAC 10 integer digits", _set("CustomBlock/B058/supplierNominatedAnnualConsumption", "1234567890.000"),
         "pattern"),
    ],
    "IF-026/SSCandProfileClass": [
        ("SSC 3 digits", _set("CustomBlock/B032/SSC", "393"), "minLength"),
        ("profileClass letters", _set("CustomBlock/B032/profileClass", "A"), "pattern"),
    ],
    "IF-026/IHDInfo": [
        ("IHDInstallStatus Z", _set("CustomBlock/B030/IHDInstallStatus", "Z"), "enum"),
    ],
    "IF-065/ReadingRemote": [
        ("configurableRegisterID 3 chars", _set("CustomBlock/B065List/0/configurableRegisterID", "001"), "maxLength"),
        ("reading without decimals", _set("CustomBlock/B076List/0/cumulativeRegisterReading", "12345"), "pattern"),
    ],
    "IF-065/MDRTOU": [
        ("B077 reference date 10 chars", _set("CustomBlock/B077/MDRReferenceDateTime", "2024-03-21"), "minLength"),
    ],
}


def _cases() -> list[tuple[str, str, Callable[[dict, str], Any], str | None]]:
    cases: list[tuple[str, str, Callable[[dict, str], Any], str | None]] = []
    for key in EVENT_IDS:
        for name, mutate, kw in GENERIC:
            cases.append((key, name, mutate, kw))
        cases.append((key, "R0 presence", _r0, None))
        cases.append((key, "R0.responseCode Q", _r0_code, "enum"))
        for block in CUSTOM[key][1]:
            cases.append((key, f"{block} missing", _set(f"CustomBlock/{block}", _DELETE), "required"))
        for name, mutate, kw in SPECIFIC.get(key, []):
            cases.append((key, name, mutate, kw))
    return cases


CASES = _cases()


def _broken(key: str, mutate: Callable[[dict, str], Any]) -> dict | None:
    item = message(key, full=True, egress=True)
    if mutate(item["payload"], key) == "skip":
        return None
    return item


@pytest.mark.parametrize("key, name, mutate, expected", CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_broken_message_fails_with_expected_keyword(pack: BundledPack, key: str, name: str,
                                                    mutate: Callable[[dict, str], Any], expected: str | None) -> None:
    item = _broken(key, mutate)
    if item is None:
        pytest.skip("mutation does not apply to this event")
    # the full egress message is valid in both forms; the ingress form accepts A0/D0 when present
    found = keywords(pack, item, key, "ingress")
    assert (expected or _r0_keyword(key)) in found, found
    assert found == keywords(pack, item, key, "egress")


@pytest.mark.parametrize("key", EVENT_IDS)
def test_egress_requires_d0_and_a0_ingress_does_not(pack: BundledPack, key: str) -> None:
    for block in ("D0", "A0"):
        item = message(key, full=True, egress=True)
        del item["payload"]["CommonBlock"][block]
        assert keywords(pack, item, key, "ingress") == set()
        validator = pack.message_validator(*key.split("/"), "egress")  # type: ignore[arg-type]
        errors = list(validator.iter_errors(item))
        assert [(e.validator, e.json_path) for e in errors] == [("required", "$.payload.CommonBlock")]
        assert block in errors[0].message


@pytest.mark.parametrize("key", ["IF-061/MDRStart", "IF-006/MeterInstall", "IF-064/MDRConsumption"])
def test_the_wire_item_needs_a_payload_and_is_open(pack: BundledPack, key: str) -> None:
    # As the specification's DIPMessage: an extra key beside payload is no schema error (validation
    # warns: envelope.extra-key); a missing payload is.
    item = message(key)
    item["signature"] = "x"
    assert keywords(pack, item, key) == set()
    assert "required" in keywords(pack, {}, key)


def test_nullable_keys_take_null_but_must_be_present(pack: BundledPack) -> None:
    key = "IF-024/SN-Vacant"
    assert keywords(pack, message(key), key) == set()  # expiry date and additionalInformation are null
    item = message(key)
    del item["payload"]["CustomBlock"]["B057"]["supplierNotificationExpiryDate"]
    assert keywords(pack, item, key) == {"required"}
    item = message(key)
    item["payload"]["CustomBlock"]["B057"]["supplierNotificationEffectiveFromDate"] = None
    assert keywords(pack, item, key) == {"type"}


def test_envelope_schema_validates_wire_arrays(pack: BundledPack) -> None:
    registry = Registry().with_resources(
        (d["$id"], Resource.from_contents(d, default_specification=DRAFT202012)) for d in pack.documents.values())
    base = pack.schema("envelope.schema.json")["$id"]

    def valid(form: str, body: Any) -> bool:
        return Draft202012Validator({"$ref": f"{base}#/$defs/{form}"}, registry=registry).is_valid(body)

    ingress = [message(k) for k in EVENT_IDS]
    egress = [message(k, egress=True) for k in EVENT_IDS]
    assert valid("ingress", ingress) and valid("egress", egress) and valid("ingress", egress)
    assert not valid("egress", ingress)
    assert not valid("ingress", [])
    assert not valid("ingress", message("IF-061/MDRStart"))  # not an array
    broken = message("IF-061/MDRStart")
    broken["payload"]["CommonBlock"]["S0"]["eventCode"] = "[MDRStop]"
    assert not valid("ingress", [broken])


# -- against Elexon's specification --------------------------------------------------------------
SPEC_DIR = default_spec_dir()
_skip_without_spec = pytest.mark.skipif(
    SPEC_DIR is None,
    reason="Elexon's specification is not at ../shared/elexon-dip-api (harness.core.paths.default_spec_dir)")


def needs_spec(test: Callable) -> Callable:
    return pytest.mark.needs_spec(_skip_without_spec(test))
PREFIX = "https://raw.githubusercontent.com/elexon-data/dip-api-documentation/main/"
CONSTRAINTS = ("enum", "minLength", "maxLength", "pattern", "minimum", "maximum", "multipleOf", "minItems", "maxItems")


class Spec:
    """Elexon's unresolved YAML, with `$ref`s resolved against the local copy (nothing fetched)."""

    def __init__(self, folder: Path) -> None:
        import yaml

        self.folder = folder
        self.files: dict[str, dict] = {}
        self._yaml = yaml

    def load(self, name: str) -> dict:
        if name not in self.files:
            self.files[name] = self._yaml.safe_load((self.folder / name).read_text(encoding="utf-8"))
        return self.files[name]

    def deref(self, node: Any, current: str) -> tuple[Any, str]:
        while isinstance(node, dict) and "$ref" in node:  # OpenAPI 3.0: siblings of $ref are ignored
            ref = node["$ref"].removeprefix(PREFIX)
            file, _, pointer = ref.partition("#")
            current = file or current
            node = self.load(current)
            for part in pointer.strip("/").split("/"):
                node = node[part]
        return node, current

    def event(self, name: str) -> tuple[dict, str]:
        file = "Interfaces-EventCodes-unresolved.yaml"
        return self.load(file)["components"]["schemas"][name], file

    def canonical(self, node: Any, current: str) -> dict:
        node, current = self.deref(node, current)
        types = node.get("type")
        out: dict[str, Any] = {"type": None if types is None else
                               sorted({types} | ({"null"} if node.get("nullable") else set()))}
        for k in CONSTRAINTS:
            if k in node:
                out[k] = node[k]
        out["closed"] = node.get("additionalProperties") is False
        out["required"] = sorted(node.get("required", []))
        out["properties"] = {k: self.canonical(v, current) for k, v in node.get("properties", {}).items()}
        if "items" in node:
            out["items"] = self.canonical(node["items"], current)
        return out

    def json_schema(self, node: Any, current: str) -> Any:
        """The OpenAPI 3.0 schema as plain JSON Schema: refs inlined, nullable as a type list."""
        node, current = self.deref(node, current)
        if isinstance(node, list):
            return [self.json_schema(v, current) for v in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for k, v in node.items():
            if k in ("description", "example", "nullable"):
                continue
            if k == "properties":
                out[k] = {p: self.json_schema(s, current) for p, s in v.items()}
            elif k in ("items", "additionalProperties") and isinstance(v, dict):
                out[k] = self.json_schema(v, current)
            elif k in ("oneOf", "anyOf", "allOf"):
                out[k] = [self.json_schema(s, current) for s in v]
            else:
                out[k] = v
        if node.get("nullable") and "type" in out:
            out["type"] = [out["type"], "null"]
        return out


def ours_canonical(pack: BundledPack, schema: Any, resolver: Any) -> dict:
    while "$ref" in schema:
        resolved = resolver.lookup(schema["$ref"])
        schema, resolver = resolved.contents, resolved.resolver
    types = schema.get("type")
    out: dict[str, Any] = {"type": None if types is None else sorted({types} if isinstance(types, str) else set(types))}
    for k in CONSTRAINTS:
        if k in schema:
            out[k] = schema[k]
    if "const" in schema:
        out["enum"] = [schema["const"]]
    out["closed"] = schema.get("additionalProperties") is False
    out["required"] = sorted(schema.get("required", []))
    out["properties"] = {k: ours_canonical(pack, v, resolver) for k, v in schema.get("properties", {}).items()}
    if "items" in schema:
        out["items"] = ours_canonical(pack, schema["items"], resolver)
    return out


@pytest.fixture(scope="module")
def spec() -> Spec:
    assert SPEC_DIR is not None
    return Spec(SPEC_DIR)


def _ours(pack: BundledPack, key: str) -> dict:
    iid, event = key.split("/")
    uri = pack.schema(f"interfaces/{iid}.schema.json")["$id"]
    # the pack's own registry: exactly what its validators resolve against
    return ours_canonical(pack, {"$ref": f"{uri}#/$defs/{event}"}, pack.registry.resolver(uri))


@needs_spec
@pytest.mark.parametrize("key", EVENT_IDS)
def test_structure_matches_the_specification(pack: BundledPack, spec: Spec, key: str) -> None:
    event = CATALOGUE.event(*key.split("/"))
    official = spec.canonical(*spec.event(event.official_schema))
    # Deliberate tightening (stated in the interface file's $comment): the spec omits `type` on
    # the CommonBlock of IF-061..IF-065; dipcert declares it an object.
    if official["properties"]["CommonBlock"]["type"] is None:
        official["properties"]["CommonBlock"]["type"] = ["object"]
    ours = _ours(pack, key)

    def diff(a: dict, b: dict, path: str) -> list[str]:
        out = [f"{path}: {k}: ours {a.get(k)!r} spec {b.get(k)!r}"
               for k in sorted(set(a) | set(b)) if k not in ("properties", "items") and a.get(k) != b.get(k)]
        if set(a["properties"]) != set(b["properties"]):
            out.append(f"{path}: properties ours {sorted(a['properties'])} spec {sorted(b['properties'])}")
        for p in set(a["properties"]) & set(b["properties"]):
            out += diff(a["properties"][p], b["properties"][p], f"{path}/{p}")
        if ("items" in a) != ("items" in b):
            out.append(f"{path}: items ours {'items' in a} spec {'items' in b}")
        elif "items" in a:
            out += diff(a["items"], b["items"], f"{path}[]")
        return out

    assert diff(ours, official, "") == []


@needs_spec
@pytest.mark.parametrize("key", EVENT_IDS)
def test_good_messages_agree_with_the_specification(spec: Spec, key: str) -> None:
    event = CATALOGUE.event(*key.split("/"))
    official = Draft202012Validator(spec.json_schema(*spec.event(event.official_schema)))
    for item in (message(key), message(key, full=True), message(key, full=True, egress=True)):
        assert list(official.iter_errors(item["payload"])) == []


@needs_spec
@pytest.mark.parametrize("key, name, mutate, expected", CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_broken_messages_agree_with_the_specification(pack: BundledPack, spec: Spec, key: str, name: str,
                                                      mutate: Callable[[dict, str], Any],
                                                      expected: str | None) -> None:
    item = _broken(key, mutate)
    if item is None:
        pytest.skip("mutation does not apply to this event")
    event = CATALOGUE.event(*key.split("/"))
    official = Draft202012Validator(spec.json_schema(*spec.event(event.official_schema)))
    assert not official.is_valid(item["payload"])
    assert not pack.message_validator(*key.split("/")).is_valid(item)


@needs_spec
def test_load_pack_with_a_folder_gives_the_official_pack_and_both_agree(pack: BundledPack) -> None:
    pytest.importorskip("harness.messages.official")
    official = load_pack(SPEC_DIR)
    assert isinstance(official, SchemaPack) and official.name == "elexon-dip-api"
    assert official.fingerprint.startswith("sha256:") and official.fingerprint != pack.fingerprint
    for key in EVENT_IDS:
        for item in (message(key), message(key, full=True, egress=True)):
            errors = list(official.message_validator(*key.split("/")).iter_errors(item))
            assert errors == [], (key, [e.message for e in errors])
