"""The produce judges' own bodies, now that mutmut mutates them (issue 21).

The judges were registered with `@judge(...)`, and mutmut never mutates a decorated function: the
defaults of a refusal check (no `fallback`, no `prefix`), a message cited without an index, and what
`identity_of` records from a profile were never put to the test. Records are built as in
tests/test_mutation_killers_judges.py; every test asserts the exact findings.
"""

from __future__ import annotations

from types import SimpleNamespace

from test_mutation_killers_judges import (
    IDENTITY,
    MDR,
    SDS,
    _produce_args,
    _refusal,
    _sent,
    judge,
    produced,
    record,
    submission,
)

from harness.core.findings import Finding
from harness.judges import produce as produce_judge


def test_identity_of_records_what_the_profile_declares():
    partner = SimpleNamespace(role="SDS", dip_id=SDS.dip_id)
    profile = SimpleNamespace(role="MDR", party=SimpleNamespace(dip_id=MDR.dip_id, dcp_id="DCP1"), environment="UIT",
                              partner=partner)
    assert produce_judge.identity_of(profile) == {
        "role": "MDR", "dip_id": MDR.dip_id, "dcp_id": "DCP1", "environment": "UIT",
        "partner": {"role": "SDS", "dip_id": SDS.dip_id}}
    alone = SimpleNamespace(**{**vars(profile), "partner": None})
    assert produce_judge.identity_of(alone)["partner"] is None


def test_a_message_cited_without_an_index_is_the_first_of_its_submission():
    item = produced("CI-1")
    item["payload"]["CommonBlock"]["S1"]["senderRoleID"] = "SUP"
    args = {**_produce_args(), "message": {"seq": 21}}
    assert judge("produce.submission", [submission(21, [item])], args) == [Finding(
        "produce.sender-role", "/0/payload/CommonBlock/S1/senderRoleID", "MDR", "SUP",
        "senderRoleID should be the party's role MDR")]


def test_identity_findings_on_a_later_message_point_into_it_environment_included():
    item = produced("CI-1")
    item["payload"]["CommonBlock"]["S1"].update(senderRoleID="SUP", environmentTag="PRD")
    found = judge("produce.submission", [submission(21, [produced("CI-0"), item])], _produce_args(index=1))
    assert [(f.rule, f.path) for f in found] == [
        ("produce.sender-role", "/1/payload/CommonBlock/S1/senderRoleID"),
        ("environment.tag", "/1/payload/CommonBlock/S1/environmentTag")]
    assert [(f.rule, f.path) for f in produce_judge.identity_findings(item, IDENTITY, 3)] == [
        ("produce.sender-role", "/3/payload/CommonBlock/S1/senderRoleID"),
        ("environment.tag", "/3/payload/CommonBlock/S1/environmentTag")]


def test_a_refusal_check_without_fallback_or_prefix_reads_hub_rejected_and_the_dip_refused():
    assert judge("submission.rejected", [_refusal(40, ["MSG1001"])], {"seq": 40}) == [Finding(
        "hub.rejected", "", "MSG0000", "MSG1001", "the DIP refused the submission (MSG1001)",
        extra={"codes": ["MSG1001"]})]
    assert judge("submission.rejected", [], {"seq": 40}) == [Finding(
        "hub.rejected", "", "a refusal in the DIP's transcript", "absent",
        "the refused submission the check names is not among the records it cites")]


def test_a_refusal_check_names_its_own_fallback_rule():
    args = {"seq": 40, "fallback": "exchange.request", "prefix": "the DIP refused the request"}
    assert judge("submission.rejected", [_refusal(40, ["MSG1001"])], args) == [Finding(
        "exchange.request", "", "MSG0000", "MSG1001", "the DIP refused the request (MSG1001)",
        extra={"codes": ["MSG1001"]})]
    [absent] = judge("submission.rejected", [], args)
    assert (absent.rule, absent.actual) == ("exchange.request", "absent")


def test_a_refusal_must_be_the_partys_inbound_call():
    delivered = record(40, "delivery", status=400, caller=MDR.dip_id, codes=["MSG1001"], request=[{}])
    [finding] = judge("submission.rejected", [delivered], {"seq": 40})
    assert (finding.rule, finding.actual) == ("hub.rejected", "absent")


def test_declared_flows_reads_past_records_that_are_not_the_partys_and_says_when_nothing_is_enabled():
    args = {"party": MDR.dip_id, "role": "MDR", "enabled": []}
    found = judge("produce.declared-flows", [_sent("IF-070", caller=SDS.dip_id, seq=41), _sent("IF-064", seq=42)],
                  args)
    assert [(f.rule, f.expected, f.actual) for f in found] == [
        ("produce.undeclared-flow", "one of the enabled interfaces (none)", "IF-064")]
