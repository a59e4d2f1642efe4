"""The full certification plan: guidance 4.1 preflight, 5.2/6.2 consume and produce, 5.3/6.3 exchanges.

Kept apart from `harness.plan.requirements` (which knows only the catalogue) because the exchanges are data in
`scenarios/exchanges/`. `verify` derives the plan again from the profile recorded in a bundle with
this same function, so a quietly skipped requirement shows up as a difference.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.config.exchanges import bundled_exchanges, exchange_enabled
from harness.config.profile import Profile, parse_profile
from harness.core.catalogue import Catalogue, load_catalogue
from harness.judges.produce import produce_rules
from harness.plan.requirements import (
    Requirement,
    build_plan,
    declared_flows_requirement,
    exchange_requirement,
    plan_to_dicts,
    reuse_requirement,
    smoke_requirement,
)


def exchange_plan(profile: Profile, catalogue: Catalogue | None = None) -> list[Requirement]:
    """One requirement per bundled exchange; enabled only with a partner, the opening request enabled,
    and every step the party sends itself enabled (an exchange it takes no part in proves nothing)."""
    catalogue = catalogue or load_catalogue()
    enabled = set(profile.enabled_interfaces)
    out = []
    for exchange in bundled_exchanges():
        on = profile.partner is not None and exchange_enabled(exchange, enabled, profile.role)
        out.append(exchange_requirement(profile.role, exchange.name, on, title=exchange.title,
                                        assumptions=exchange.assumptions(catalogue)))
    return out


def produce_assumptions(plan: list[Requirement], catalogue: Catalogue) -> list[Requirement]:
    """Produce requirements judged by rules resting on assumptions (IF-064: A-PERIODS-48,
    A-COMPLETE-DAYS) carry them, so their verdicts are provisional."""
    out = []
    for req in plan:
        if req.kind == "produce" and req.interface:
            extra = [a for rule in produce_rules(req.interface) if (a := catalogue.assumption_for_rule(rule))]
            if extra:
                merged = tuple(dict.fromkeys([*req.assumptions, *extra]))
                req = replace(req, assumptions=merged, provisional=True)
        out.append(req)
    return out


def certification_plan(profile: Profile, catalogue: Catalogue | None = None, *,
                       reuse: bool = False) -> list[Requirement]:
    catalogue = catalogue or load_catalogue()
    plan = produce_assumptions(build_plan(profile, catalogue), catalogue) + exchange_plan(profile, catalogue)
    if reuse:
        # 5.4: what rests on earlier evidence, plus a live smoke test of the party's own webhooks.
        plan.append(reuse_requirement(profile.role, True))
        for interface in catalogue.interfaces.values():
            events = interface.events_for(profile.role, "incoming")
            if events and profile.is_enabled(interface.id):
                plan.append(smoke_requirement(profile.role, interface.id, events[0].name))
    plan.append(declared_flows_requirement(profile.role))  # last: it judges everything the party sent
    return plan


def plan_from_recorded_profile(plan_data: dict[str, Any]) -> list[dict[str, Any]]:
    """For `verify`: the plan this harness derives from the profile a bundle recorded."""
    recorded = plan_data.get("profile")
    if not isinstance(recorded, dict):
        return [dict(r) for r in plan_data.get("requirements") or [] if isinstance(r, dict)]
    data = as_profile_toml(recorded)
    profile = parse_profile(data, Path("<recorded profile>"))
    reuse = any(isinstance(r, dict) and r.get("kind") == "reuse" for r in plan_data.get("requirements") or [])
    return plan_to_dicts(certification_plan(profile, reuse=reuse))


def as_profile_toml(public: dict[str, Any]) -> dict[str, Any]:
    """The public dict back into the profile's TOML shape ("Y"/"N" flags)."""
    data = {k: v for k, v in public.items() if k != "interfaces"}
    interfaces: dict[str, Any] = {}  # a table ({"enabled", "direction"}) or a "Y"/"N" flag
    for key, value in (public.get("interfaces") or {}).items():
        if isinstance(value, dict):
            interfaces[key] = {"enabled": "Y" if value.get("enabled") else "N", "direction": value.get("direction")}
        else:
            interfaces[key] = "Y" if value else "N"
    data["interfaces"] = interfaces
    return data
