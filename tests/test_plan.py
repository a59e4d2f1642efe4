"""The certification plan: ids traceable to the guidance, every interface planned, order fixed."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from harness.config.profile import Partner, load_profile
from harness.plan.requirements import (
    PREFLIGHT_CHECKS,
    build_plan,
    exchange_requirement,
    plan_to_dicts,
    reuse_requirement,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "profiles"


def ids(plan) -> list[str]:
    return [r.id for r in plan]


@pytest.fixture(scope="module")
def mdr_all():
    return load_profile(FIXTURES / "mdr-example.toml")


def test_mdr_all_enabled(mdr_all) -> None:
    plan = build_plan(mdr_all)
    got = ids(plan)
    assert got[:6] == [f"MDR-4.1/preflight/{c}" for c in PREFLIGHT_CHECKS]
    consume = [
        *(f"MDR-5.2a/IF-006/consume/{e}" for e in
          ("MeterInstall", "MeterRemoval", "MeterExchange", "MeterUpdate", "MeterHistoryUpdate")),
        "MDR-5.2a/IF-006/reject",
        "MDR-5.2a/IF-008/consume", "MDR-5.2a/IF-008/reject",
        *(f"MDR-5.2a/IF-024/consume/SN-{e}" for e in
          ("Vacant", "NoComms", "RemoteEnabled", "RemoteDisabled", "SupplierAC", "OffPeakDec")),
        "MDR-5.2a/IF-024/reject",
        *(f"MDR-5.2a/IF-026/consume/{e}" for e in ("ConsentGranularity", "IHDInfo", "SMSO", "SSCandProfileClass")),
        "MDR-5.2a/IF-026/reject",
        "MDR-5.2a/IF-061/consume", "MDR-5.2a/IF-061/reject",
        "MDR-5.2b/IF-062/produce",
        "MDR-5.2a/IF-063/consume", "MDR-5.2a/IF-063/reject",
        "MDR-5.2b/IF-064/produce",
        *(f"MDR-5.2a/IF-065/consume/{e}" for e in ("MDRInstantaneous", "MDRTOU", "MDRConsumption")),
        "MDR-5.2a/IF-065/reject",
        "MDR-5.2b/IF-065/produce",
    ]
    assert got[6:] == consume
    assert all(r.enabled for r in plan if r.id != "MDR-4.1/preflight/dcp")  # no DCP in this profile
    if062 = next(r for r in plan if r.id == "MDR-5.2b/IF-062/produce")
    assert (if062.kind, if062.interface, if062.event, if062.direction, if062.section) == \
        ("produce", "IF-062", "MDRStartResponse", "outgoing", "5.2b")
    assert not if062.provisional
    if065 = [r for r in plan if r.interface == "IF-065" and r.kind != "reject"]
    assert all(r.provisional and r.assumptions == ("A-IF065-DIRECTION",) for r in if065)
    assert next(r for r in if065 if r.kind == "produce").event == "ReadingRemote"


def test_mdr_some_disabled() -> None:
    profile = load_profile(FIXTURES / "mdr-optional-only.toml")
    plan = build_plan(profile)
    enabled = {r.id for r in plan if r.enabled}
    assert "MDR-5.2a/IF-008/consume" in enabled
    assert "MDR-5.2a/IF-006/consume/MeterInstall" in enabled
    disabled = {r.id for r in plan if not r.enabled}
    assert {"MDR-5.2a/IF-061/consume", "MDR-5.2b/IF-062/produce", "MDR-5.2a/IF-024/consume/SN-Vacant"} <= disabled
    # all nine interfaces are planned even when not enabled
    assert {r.interface for r in plan if r.interface} == {
        "IF-006", "IF-008", "IF-024", "IF-026", "IF-061", "IF-062", "IF-063", "IF-064", "IF-065"}
    # no extended interface: partner check not needed; a DCP provisions the service: dcp check needed
    assert "MDR-4.1/preflight/partner" in disabled
    assert "MDR-4.1/preflight/dcp" in enabled
    assert "MDR-4.1/preflight/webhooks" in enabled


def test_preflight_applicability_follows_profile(mdr_all) -> None:
    plan = {r.id: r for r in build_plan(mdr_all)}
    assert plan["MDR-4.1/preflight/partner"].enabled
    assert not plan["MDR-4.1/preflight/dcp"].enabled  # no DCP in this profile
    outgoing_only = replace(mdr_all, interfaces={k: k in ("IF-062", "IF-064") for k in mdr_all.interfaces})
    plan = {r.id: r for r in build_plan(outgoing_only)}
    assert not plan["MDR-4.1/preflight/webhooks"].enabled


def test_sds_plan() -> None:
    profile = load_profile(FIXTURES / "sds-example.toml")
    plan = build_plan(profile)
    by_id = {r.id: r for r in plan}
    assert ids(plan)[:6] == [f"SDS-4.1/preflight/{c}" for c in PREFLIGHT_CHECKS]
    assert by_id["SDS-6.2b/IF-061/produce"].enabled
    assert by_id["SDS-6.2a/IF-062/consume"].direction == "incoming"
    assert by_id["SDS-6.2b/IF-063/produce"].enabled
    assert by_id["SDS-6.2a/IF-064/consume"].enabled
    assert by_id["SDS-6.2a/IF-065/consume"].event == "ReadingRemote"
    assert {f"SDS-6.2b/IF-065/produce/{e}" for e in ("MDRInstantaneous", "MDRTOU", "MDRConsumption")} <= set(by_id)
    assert not by_id["SDS-6.2a/IF-006/consume/MeterInstall"].enabled  # IF-006 = "N"
    assert by_id["SDS-6.2a/IF-024/consume/SN-Vacant"].enabled  # written IF024
    assert all(r.role == "SDS" for r in plan)


def test_plan_is_deterministic_and_serialisable(mdr_all) -> None:
    first, second = plan_to_dicts(build_plan(mdr_all)), plan_to_dicts(build_plan(mdr_all))
    assert first == second
    json.dumps(first)
    assert set(first[0]) == {"id", "role", "section", "kind", "interface", "event", "direction", "enabled",
                             "provisional", "assumptions", "title", "advisory"}
    assert len({d["id"] for d in first}) == len(first)


def test_exchange_and_reuse_helpers(mdr_all) -> None:
    ex = exchange_requirement("MDR", "start-consume-stop", True)
    assert ex.id == "MDR-5.3/exchange/start-consume-stop" and ex.kind == "exchange" and ex.enabled
    assert exchange_requirement("SDS", "x", False).id == "SDS-6.3/exchange/x"
    assert reuse_requirement("MDR", False).id == "MDR-5.4/reuse"
    assert reuse_requirement("SDS", True).id == "SDS-6.4/reuse"
    assert ids(build_plan(mdr_all, include_reuse=True))[-1] == "MDR-5.4/reuse"
    with pytest.raises(ValueError):
        exchange_requirement("SUP", "x", True)


def test_plan_for_partnerless_profile_still_lists_partner_check(mdr_all) -> None:
    profile = replace(mdr_all, partner=None)
    plan = {r.id: r for r in build_plan(profile)}
    assert plan["MDR-4.1/preflight/partner"].enabled  # extended enabled: the check applies (and will fail)
    assert isinstance(mdr_all.partner, Partner)


def test_must_reject_is_its_own_requirement_per_interface_advisory_unless_the_policy_blocks(mdr_all) -> None:
    from harness.config.profile import Policy

    plan = {r.id: r for r in build_plan(mdr_all)}
    rejects = [r for r in plan.values() if r.kind == "reject"]
    assert [r.interface for r in rejects] == ["IF-006", "IF-008", "IF-024", "IF-026", "IF-061", "IF-063", "IF-065"]
    first = plan["MDR-5.2a/IF-006/reject"]
    assert (first.event, first.direction, first.section, first.advisory) == ("MeterInstall", "incoming", "5.2a", True)
    assert first.provisional and first.assumptions == ("A-RECIPIENT-REJECTS",)
    assert "advisory" in first.title and "RCP1061" in first.title and "RCP1008" in first.title
    assert not any(r.advisory for r in plan.values() if r.kind != "reject")
    blocking = build_plan(replace(mdr_all, policy=Policy(must_reject="blocking")))
    assert not any(r.advisory for r in blocking) and "blocking" in next(r for r in blocking if r.kind == "reject").title
