"""The compiled verdict (jsonschema-rs) and the reference path (jsonschema with the dialect) agree.

Every differential case of every event (harness.messages.differential: wrong types, 30.0 for
integers, trailing newlines, Arabic-Indic digits, impossible date-times, removed keys...) is judged
by both, for dipcert's pack and, where it is beside the repository, Elexon's specification. A
compiled "valid" on a message the reference path faults would hide a finding, so any disagreement
fails; "not judged" (None) is allowed only where the reference path then decides.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.core.catalogue import load_catalogue
from harness.core.paths import default_spec_dir
from harness.messages import validate as validate_module
from harness.messages.compiled import CompiledCheck
from harness.messages.differential import cases
from harness.messages.samples import SampleFactory
from harness.messages.schemapack import load_pack
from harness.messages.validate import schema_findings, validate_message

EVENTS = load_catalogue().events()
SPEC = default_spec_dir()


def _sample(event: Any) -> dict:
    item = SampleFactory(0).message(event.interface_id, event.name)
    days = item["payload"]["CustomBlock"].get("B941List")
    if days:  # two periods keep IF-064 quick; every period is the same schema
        days[0]["MDRConsumptionPeriods"] = days[0]["MDRConsumptionPeriods"][:2]
    return item


def _disagreements(pack: Any, event: Any) -> tuple[list[tuple], int]:
    check = pack.message_check(event.interface_id, event.name)
    reference = pack.message_validator(event.interface_id, event.name)
    item = _sample(event)
    found, judged = [], 0
    for description, path, bent in [("sample", "", item), *((c.description, c.path, c.item) for c in cases(item))]:
        verdict = check.verdict(bent)
        if verdict is None:
            continue
        judged += 1
        if verdict != (not schema_findings(reference, bent)):
            found.append((description, path, verdict))
    return found, judged


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.key)
def test_own_pack_compiled_verdict_is_the_reference_verdict(event: Any) -> None:
    found, judged = _disagreements(load_pack(), event)
    assert judged > 50
    assert found == []


@pytest.mark.needs_spec
@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.key)
def test_specification_compiled_verdict_is_the_reference_verdict(event: Any) -> None:
    if SPEC is None:
        pytest.skip("Elexon's specification is not at ../shared/elexon-dip-api")
    found, judged = _disagreements(load_pack(SPEC), event)
    assert judged > 50
    assert found == []


def test_an_integral_float_is_not_an_integer_to_the_compiled_verdict() -> None:
    """30.0 is an integer to draft 2020-12 (jsonschema-rs) and not to the specification."""
    event = load_catalogue().event("IF-064")
    item = _sample(event)
    item["payload"]["CustomBlock"]["B941List"][0]["settlementDay"]["periodDuration"] = 30.0
    assert load_pack().message_check("IF-064", event.name).verdict(item) is False
    rules = {f.rule for f in validate_message(item, extra_checks=False)}
    assert "schema.type" in rules


def test_a_value_without_a_json_counterpart_is_left_to_the_reference_path() -> None:
    check = CompiledCheck({"type": "object"}, [], "2020-12")
    assert check.verdict({1: "a key that is not a string"}) is None


def test_the_compiled_formats_patterns_and_integers_are_the_dialects() -> None:
    check = CompiledCheck({"type": "object", "properties": {
        "count": {"type": ["integer", "null"]}, "amount": {"type": ["integer", "number"]},
        "fixed": {"enum": [{"type": "integer"}]},
        "when": {"type": "string", "format": "dip-date-time"},
        "day": {"type": "string", "format": "dip-date"},
        "code": {"type": "string", "pattern": "^[0-9]{3}$"}}}, [], "2020-12")
    assert check.verdict({"when": "2024-03-21T19:05:00+00:00", "day": "2024-02-29", "code": "123", "count": 30,
                          "amount": 30.0, "fixed": {"type": "integer"}}) is True
    assert check.verdict({"count": None}) is True
    for bad in ({"count": 30.0}, {"count": 1e3}, {"fixed": {"type": "integer", "dipcert-integer": True}},
                {"when": "x" * 25}, {"when": "2024-02-30T10:00:00+00:00"}, {"day": "2023-02-29"},
                {"code": "123\n"}, {"code": "١٢٣"}):
        assert check.verdict(bad) is False, bad


def test_a_valid_message_never_reaches_the_reference_validator(monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of the compiled verdict: the slow path runs only for what fails."""
    calls: list[int] = []
    real = validate_module.schema_findings
    monkeypatch.setattr(validate_module, "schema_findings",
                        lambda *args, **kwargs: calls.append(1) or real(*args, **kwargs))
    event = load_catalogue().event("IF-061")
    item = SampleFactory(0).message(event.interface_id, event.name)
    assert validate_message(item, extra_checks=False) == []
    assert calls == []
    item["payload"]["CommonBlock"]["S0"]["interfaceID"] = "IF-061"
    del item["payload"]["CommonBlock"]["S1"]
    assert {f.rule for f in validate_message(item, extra_checks=False)} == {"schema.required"}
    assert calls == [1]
