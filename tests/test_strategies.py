"""Hypothesis-generated messages: every one valid in both packs and passing the business rules."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.core.catalogue import load_catalogue
from harness.core.errors import UsageError
from harness.core.paths import default_spec_dir
from harness.messages.checks import check_message
from harness.messages.checks.content import check_r0_consistency
from harness.messages.mutations import mutate
from harness.messages.schemapack import load_pack
from harness.messages.strategies import _TEXT_KINDS, body_strategy, message_strategy, uncoded
from harness.messages.validate import validate_body, validate_message

EVENTS = load_catalogue().events()
OURS = load_pack()
SPEC = default_spec_dir()
OFFICIAL = load_pack(SPEC) if SPEC is not None else None
FAST = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _no_findings(item: dict, form: str) -> None:
    assert validate_message(item, form=form, pack=OURS) == []
    if OFFICIAL is not None:
        assert validate_message(item, form=form, pack=OFFICIAL, extra_checks=False) == []


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.key)
def test_generated_ingress_messages_are_valid(event) -> None:
    @settings(max_examples=200, **FAST)
    @given(message_strategy(event.interface_id, event.name))
    def check(item: dict) -> None:
        _no_findings(item, "ingress")

    check()


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.key)
def test_generated_egress_messages_are_valid(event) -> None:
    @settings(max_examples=10, **FAST)
    @given(message_strategy(event.interface_id, event.name, form="egress"))
    def check(item: dict) -> None:
        assert "D0" in item["payload"]["CommonBlock"]
        _no_findings(item, "egress")

    check()


def test_official_spec_is_available_or_reported() -> None:
    if OFFICIAL is None:
        pytest.skip("Elexon's specification is not at ../shared/elexon-dip-api: generated messages were "
                    "checked against dipcert's pack only")
    assert OFFICIAL.name == "elexon-dip-api"


@settings(max_examples=30, **FAST)
@given(body_strategy("IF-064"))
def test_generated_bodies_validate_as_posted(body: list) -> None:
    assert validate_body(body, interface_id="IF-064", pack=OURS) == []


@settings(max_examples=30, **FAST)
@given(message_strategy("IF-064"), st.sampled_from(["mpan.check-digit", "mpan.gsp-mismatch", "periods.count",
                                                    "periods.sequence", "periods.utc", "sur.role", "sur.date"]))
def test_business_rules_catch_a_broken_generated_message(item: dict, rule: str) -> None:
    assert check_message(item) == []
    assert rule in {f.rule for f in check_message(mutate(item, rule).item)}


CORNERS = {  # (interface, event): {feature name: predicate}, each seen at least once in 100 examples
    # A0 may be left out, except in IF-061 (rule a0.no-primary).
    ("IF-063", None): {"no A0": lambda m: "A0" not in m["payload"]["CommonBlock"]},
    ("IF-061", None): {"no B012": lambda m: "B012" not in m["payload"]["CustomBlock"],
                       "null correlation": lambda m: m["payload"]["CommonBlock"]["S1"]["senderCorrelationID"] is None,
                       "BST timestamp":
                           lambda m: m["payload"]["CommonBlock"]["S1"]["senderTimestamp"].endswith("+01:00"),
                       "GMT timestamp":
                           lambda m: m["payload"]["CommonBlock"]["S1"]["senderTimestamp"].endswith("+00:00"),
                       "several meters": lambda m: len(m["payload"]["CustomBlock"].get("B074List", [])) > 1},
    ("IF-064", None): {"3 days": lambda m: len(m["payload"]["CustomBlock"]["B941List"]) == 3,
                       "reactive export":
                           lambda m: m["payload"]["CustomBlock"]["B045"]["measurementQuantityID"] == "RE",
                       "estimated period": lambda m: any(p["q"] != "A" for d in m["payload"]["CustomBlock"]["B941List"]
                                                         for p in d["MDRConsumptionPeriods"])},
    ("IF-026", "SSCandProfileClass"): {"null SSC": lambda m: m["payload"]["CustomBlock"]["B032"]["SSC"] is None},
    # Never an empty CustomBlock (rule content.empty), but either list may be left out.
    ("IF-065", "ReadingRemote"): {"no B065List": lambda m: "B065List" not in m["payload"]["CustomBlock"],
                                  "no B076List": lambda m: "B076List" not in m["payload"]["CustomBlock"]},
}


@pytest.mark.parametrize("key", CORNERS, ids=lambda k: "/".join(p for p in k if p))
def test_the_strategies_reach_the_corners(key) -> None:
    """Optional blocks absent, nullables null, several days, both clock offsets: not one shape only."""
    wanted, seen = CORNERS[key], set()

    @settings(max_examples=100, **FAST)
    @given(message_strategy(*key))
    def record(item: dict) -> None:
        seen.update(name for name, present in wanted.items() if present(item))

    record()
    assert seen == set(wanted)


@pytest.mark.parametrize("call, message", [
    (lambda: message_strategy("IF-099"), "unknown interface"),
    (lambda: message_strategy("IF-006"), "several events"),
    (lambda: message_strategy("IF-061", form="sideways"), "unknown message form"),
])
def test_unknown_interface_event_or_form_is_a_usage_error(call, message) -> None:
    with pytest.raises(UsageError, match=message):
        call()


@pytest.mark.parametrize("code, text", [("A", "AAA100"), ("A", " RCP1061 lost"), ("R", "MSG0000"), ("R", "SP000 ok")])
def test_free_text_read_as_a_contradicting_code_is_never_drawn(code, text) -> None:
    """Regression (merge of issue 15): hypothesis drew free text starting like a failure code for an
    R0 with responseCode A (and could draw a success code for R); r0.inconsistent rightly reads it
    as a code, so a generated message contradicted itself. Such free text is never drawn now."""
    item = {"payload": {"CommonBlock": {"R0": {"responseCode": code, "responseMessages": [text]}}}}
    assert [f.rule for f in check_r0_consistency(item, 0)] == ["r0.inconsistent"]
    assert not uncoded(text) and uncoded("appointment accepted") and uncoded("A100 is no code")


@settings(max_examples=300, **FAST)
@given(st.sampled_from(("A", "R")), st.data())
def test_generated_response_messages_agree_with_their_code(code, data) -> None:
    text = data.draw(_TEXT_KINDS["message" if code == "A" else "rejection"])
    item = {"payload": {"CommonBlock": {"R0": {"responseCode": code, "responseMessages": [text]}}}}
    assert check_r0_consistency(item, 0) == []
