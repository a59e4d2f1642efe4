"""The certification plan: one requirement per thing the DIP Manager's guidance asks a party to prove.

Ids trace straight back to the guidance note, so a verdict in a report can be checked against the
paragraph it answers: an MDR's consume/produce/exchange/reuse are 5.2a/5.2b/5.3/5.4, an SDS's are
6.2a/6.2b/6.3/6.4, and onboarding readiness is 4.1 for both. Every interface of the catalogue is
planned for the party's role; the ones the profile does not enable stay in the plan with
`enabled=False`, so a report shows what was *not* certified as plainly as what was.

A requirement marked `advisory` (the must-reject checks, unless the profile's policy makes them
blocking) is judged and shown like any other, but its failure does not stop the party being ready.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from harness.core.catalogue import Catalogue, Direction, load_catalogue

if TYPE_CHECKING:
    from harness.config.profile import Profile

Kind = Literal["preflight", "qualification", "consume", "reject", "produce", "exchange", "reuse", "smoke"]

SECTIONS: dict[str, dict[str, str]] = {
    "MDR": {"preflight": "4.1", "qualification": "5.1", "consume": "5.2a", "reject": "5.2a", "produce": "5.2b",
            "exchange": "5.3", "reuse": "5.4"},
    "SDS": {"preflight": "4.1", "qualification": "6.1", "consume": "6.2a", "reject": "6.2a", "produce": "6.2b",
            "exchange": "6.3", "reuse": "6.4"},
}

# The onboarding checks of guidance 4.1, in the order they are planned and reported.
PREFLIGHT_CHECKS: dict[str, str] = {
    "certificates": "signing (and mTLS) certificate present, valid, matching its private key, and accepted by the DIP",
    "api-keys": "primary and secondary API keys present and distinct",
    "identifiers": "DIP IDs and MPIDs of the party and partner well-formed",
    "webhooks": "a reachable webhook for every enabled incoming interface, over TLS from the DIP too",
    "dcp": "DCP Id assigned when a DIP Connection Provider provisions the service",
    "partner": "partner nominated (DIP ID, MPID, endpoint) when extended interfaces are enabled",
}
EXTENDED = ("IF-061", "IF-062", "IF-063", "IF-064", "IF-065")
# issue 14: what a recipient must refuse, checked per interface by the `reject` requirement.
MUST_REJECT_ASSUMPTION = "A-RECIPIENT-REJECTS"


@dataclass(frozen=True)
class Requirement:
    id: str  # e.g. "MDR-5.2a/IF-006/consume/MeterInstall"
    role: str
    section: str  # guidance paragraph, e.g. "5.2a"
    kind: Kind
    interface: str | None
    event: str | None
    direction: str | None  # "incoming", "outgoing", "both" (exchange) or None
    enabled: bool
    provisional: bool  # rests on a catalogue assumption
    assumptions: tuple[str, ...]
    title: str
    # issue 14: a check beyond the guidance's words, shown but not blocking readiness (profile [policy]).
    advisory: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["assumptions"] = list(self.assumptions)
        return data


def section(role: str, kind: str) -> str:
    try:
        return SECTIONS[role][kind]
    except KeyError:
        raise ValueError(f"no guidance section for role {role!r} and kind {kind!r}") from None


def preflight_applicable(profile: "Profile", catalogue: Catalogue | None = None) -> dict[str, bool]:
    """Which 4.1 checks apply: a DCP check only with a DCP, a partner check only with extended flows."""
    catalogue = catalogue or load_catalogue()
    enabled = set(profile.enabled_interfaces)
    incoming = any("incoming" in catalogue.get(i).directions_for(profile.role) for i in enabled)
    return {
        "certificates": True,
        "api-keys": True,
        "identifiers": True,
        "webhooks": incoming,
        "dcp": profile.system.supplier_is_dcp or profile.party.dcp_id is not None,
        "partner": bool(enabled & set(EXTENDED)),
    }


def preflight_requirement(role: str, check: str, enabled: bool = True) -> Requirement:
    if check not in PREFLIGHT_CHECKS:
        raise ValueError(f"unknown preflight check {check!r} (expected one of: {', '.join(PREFLIGHT_CHECKS)})")
    sec = section(role, "preflight")
    return Requirement(id=f"{role}-{sec}/preflight/{check}", role=role, section=sec, kind="preflight",
                       interface=None, event=None, direction=None, enabled=enabled, provisional=False,
                       assumptions=(), title=f"Onboarding: {PREFLIGHT_CHECKS[check]} (guidance {sec})")


def qualification_requirement(profile: "Profile") -> Requirement | None:
    """`<role>-5.1|6.1/qualification/uep-confirmation` (issue 19), planned when the profile has a [qualification].

    Enabled when the smart-meter data is collected with the MDR DCC User Role, by an MDR or an SDS:
    the guidance note's introduction asks the organisation using that role to complete UEPT in it
    before BSC Qualification, and MHHS-DEL1384 A203 asks SDSs for SECAS's confirmation that the full
    User Entry Process was completed. With the existing Import/Export Supplier roles (A198) no UEP is
    needed: planned, not enabled. It checks that the confirmation is attached, not what it says.
    """
    q = getattr(profile, "qualification", None)
    if q is None:
        return None
    role = profile.role
    sec = section(role, "qualification")
    return Requirement(
        id=f"{role}-{sec}/qualification/uep-confirmation", role=role, section=sec, kind="qualification",
        interface=None, event=None, direction=None, enabled=q.dcc_user_role == "MDR", provisional=False,
        assumptions=(),
        title="Qualification prerequisite: SECAS's confirmation that the full DCC User Entry Process for the MDR "
              "User Role was completed, attached (MHHS-DEL1384 A203; attested by the party, not proved by dipcert)")


def exchange_requirement(role: str, name: str, enabled: bool, *, title: str | None = None,
                         assumptions: tuple[str, ...] = ()) -> Requirement:
    """`MDR-5.3/exchange/<name>`: one extended message exchange with the nominated partner."""
    sec = section(role, "exchange")
    return Requirement(id=f"{role}-{sec}/exchange/{name}", role=role, section=sec, kind="exchange",
                       interface=None, event=None, direction="both", enabled=enabled,
                       provisional=bool(assumptions), assumptions=tuple(assumptions),
                       title=title or f"Exchange {name} with the nominated partner (guidance {sec})")


def declared_flows_requirement(role: str, enabled: bool = True) -> Requirement:
    """`MDR-5.2b/declared-flows`: the party sends only the outgoing flows its profile enables.

    Planned last (after the exchanges), because it judges everything the party sent during the run.
    """
    sec = section(role, "produce")
    return Requirement(id=f"{role}-{sec}/declared-flows", role=role, section=sec, kind="produce", interface=None,
                       event=None, direction="outgoing", enabled=enabled, provisional=False, assumptions=(),
                       title=f"Sends only the outgoing flows the profile enables (guidance {sec})")


def reuse_requirement(role: str, enabled: bool) -> Requirement:
    """`MDR-5.4/reuse`: evidence resting on a DCP's or supplier's earlier certification."""
    sec = section(role, "reuse")
    return Requirement(id=f"{role}-{sec}/reuse", role=role, section=sec, kind="reuse", interface=None,
                       event=None, direction=None, enabled=enabled, provisional=False, assumptions=(),
                       title=f"Reuse of an earlier certification of the same system (guidance {sec})")


def smoke_requirement(role: str, interface_id: str, event: str | None, enabled: bool = True) -> Requirement:
    """`MDR-5.4/IF-061/smoke`: with reused evidence, the party's own webhook still consumes live (5.4)."""
    sec = section(role, "reuse")
    return Requirement(id=f"{role}-{sec}/{interface_id}/smoke", role=role, section=sec, kind="smoke",
                       interface=interface_id, event=event, direction="incoming", enabled=enabled,
                       provisional=False, assumptions=(),
                       title=f"Live consume smoke test of {interface_id} on the party's own webhook (guidance {sec})")


def reject_requirement(profile: "Profile", interface_id: str, name: str, event: str, enabled: bool) -> Requirement:
    """`MDR-5.2a/IF-061/reject`: the interface's must-reject samples refused with the right RCP code.

    One per interface (the MPAN check digit and senderTimestamp are CommonBlock fields, the same for
    every event). Advisory unless the profile's `[policy] must_reject = "blocking"`.
    """
    role = profile.role
    sec = section(role, "reject")
    advisory = getattr(getattr(profile, "policy", None), "must_reject", "advisory") != "blocking"
    return Requirement(
        id=f"{role}-{sec}/{interface_id}/reject", role=role, section=sec, kind="reject", interface=interface_id,
        event=event, direction="incoming", enabled=enabled, provisional=True,
        assumptions=(MUST_REJECT_ASSUMPTION,), advisory=advisory,
        title=f"Refuse {interface_id} {name} messages a recipient must reject: wrong MPAN check digit (RCP1061), "
              f"senderTimestamp in the future (RCP1008) (guidance {sec}, {'advisory' if advisory else 'blocking'})")


def build_plan(profile: "Profile", catalogue: Catalogue | None = None, *,
               include_reuse: bool = False) -> list[Requirement]:
    """Preflight checks, then consume (with the interface's reject requirement after its consume ones) and
    produce per interface in catalogue order (exchanges come from elsewhere)."""
    catalogue = catalogue or load_catalogue()
    role = profile.role
    applicable = preflight_applicable(profile, catalogue)
    plan = [preflight_requirement(role, check, applicable[check]) for check in PREFLIGHT_CHECKS]
    qualification = qualification_requirement(profile)
    if qualification is not None:
        plan.append(qualification)
    enabled = set(profile.enabled_interfaces)
    flows: tuple[tuple[Direction, Kind, str], ...] = (("incoming", "consume", "Consume"),
                                                      ("outgoing", "produce", "Produce"))
    for interface in catalogue.interfaces.values():
        for direction, kind, verb in flows:
            events = interface.events_for(role, direction)
            if not events:
                continue
            sec = section(role, kind)
            base = f"{role}-{sec}/{interface.id}/{kind}"
            per_event = len(events) > 1
            for event in events:
                assumptions = (event.assumption,) if event.assumption else ()
                plan.append(Requirement(
                    id=f"{base}/{event.name}" if per_event else base, role=role, section=sec, kind=kind,
                    interface=interface.id, event=event.name, direction=direction,
                    enabled=interface.id in enabled, provisional=bool(assumptions), assumptions=assumptions,
                    title=f"{verb} {interface.id} {interface.name} {event.code} (guidance {sec})"))
            if direction == "incoming":
                plan.append(reject_requirement(profile, interface.id, interface.name, events[0].name,
                                               interface.id in enabled))
    if include_reuse:
        plan.append(reuse_requirement(role, True))
    ids = [r.id for r in plan]
    assert len(ids) == len(set(ids)), "requirement ids must be unique"
    return plan


def plan_to_dicts(plan: list[Requirement]) -> list[dict[str, Any]]:
    """The plan as evidence records: plain JSON-ready dicts in plan order."""
    return [r.to_dict() for r in plan]
