"""Guidance 5.2b / 6.2b: the participant produces valid messages of every enabled outgoing flow.

The harness triggers the participant (its profile's `http`, `command` or `manual` trigger), then
waits, bounded, for what it sends to the simulated DIP. The hub's own judgement is the first check
(API key, signature, envelope and schema, sender, recipient, duplicate reference, timestamp skew:
a rejection carries those findings and the DIP's MSG code, also when the trigger itself reports the
refusal); on an accepted message the harness adds what the DIP would not reject but certification
requires: the business checks the hub recorded (MPAN check digit, settlement periods), the sender
identity, DCP and environment tag against the profile, the nominated partner as the primary
recipient and, for IF-064, 48 periods per day and complete past days only (A-PERIODS-48,
A-COMPLETE-DAYS: provisional).

`run_declared_flows` (requirement `<role>-5.2b/declared-flows`, planned last) flags any message the
party sent on an interface its profile does not enable.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from harness import business
from harness.findings import Finding
from harness.messages.access import dig
from harness.messages.ids import correlation_id
from harness.plan import Requirement
from harness.run.context import RunContext

UTC = timezone.utc
# Rules produce applies beyond the hub's, per interface (the plan reads them for the assumptions they rest on).
PRODUCE_RULES: dict[str, tuple[str, ...]] = {"IF-064": ("periods.count", "consumption.complete-days")}


def produce_rules(interface_id: str) -> tuple[str, ...]:
    return PRODUCE_RULES.get(interface_id, ())


def run_produce(ctx: RunContext, req: Requirement) -> bool:
    if req.interface is None:
        return run_declared_flows(ctx, req)
    assert req.event
    rid, interface_id, event = req.id, req.interface, req.event
    me = ctx.me
    corr = correlation_id(datetime.now(UTC), ctx.rng_for(rid))
    t0 = datetime.now(UTC)
    claimed_before = {s.transaction_id for s in ctx.hub.received()}
    rejections_before = len(ctx.hub.rejections())
    sent = ctx.send(ctx.role, interface_id, event, correlation_id=corr,
                    context={"requirement": rid, "step": "trigger"})

    def mine(s: Any) -> bool:
        return (s.transaction_id not in claimed_before and s.interface_id == interface_id and s.event == event
                and s.sender == me.dip_id and s.received_at >= t0)

    def refused() -> Any:
        for r in ctx.hub.rejections()[rejections_before:]:
            if r.endpoint == "submit" and (r.interface_id or "").upper() == interface_id and r.sender in (me.dip_id, None):
                return ("rejected", r)
        return None

    def outcome() -> Any:
        correlated = [s for s in ctx.hub.received() if mine(s)
                      and dig(s.item, "payload", "CommonBlock", "S1", "senderCorrelationID") == corr]
        if correlated:
            return ("accepted", correlated[0])
        return refused()

    if not sent.ok:
        # The trigger failed; if that is because the DIP refused what the participant sent, say so with
        # the DIP's code rather than "could not ask".
        found = ctx.hub.wait_until(refused, 0.0)
        if found is None:
            return ctx.check(rid, "produce.trigger", False, [Finding(
                "produce.trigger", f"triggers.{interface_id}", "the trigger to succeed", sent.detail,
                f"could not ask the {ctx.role} to send {interface_id} [{event}]: {sent.detail}")],
                [sent.seq], step="trigger").passed
    else:
        found = ctx.hub.wait_until(outcome, ctx.step_timeout)
    if found is None:
        # The participant may not carry the correlation id on a triggered message: take its first one.
        loose = [s for s in ctx.hub.received() if mine(s)]
        found = ("accepted", loose[0]) if loose else None
    if found is None:
        return ctx.check(rid, "produce.timeout", False, [Finding(
            "produce.timeout", "", f"{interface_id} [{event}] from {me.dip_id} within {ctx.step_timeout:g} s",
            "nothing", f"the {ctx.role} did not send {interface_id} [{event}] to the DIP within "
            f"{ctx.step_timeout:g} s of being asked ({sent.detail})")], [sent.seq], step="wait").passed
    kind, what = found
    if kind == "rejected":
        codes = ",".join(what.codes) or f"HTTP {what.status}"
        findings = [Finding(f.rule, f.path, f.expected, f.actual,
                            f"the DIP refused the {interface_id} submission ({codes}): {f.message}", f.severity,
                            {**f.extra, "codes": list(what.codes)})
                    for f in what.findings if f.severity == "error"] or [Finding(
            "hub.rejected", "", "MSG0000", codes, f"the DIP rejected the {interface_id} submission ({codes})",
            extra={"codes": list(what.codes)})]
        if not sent.ok:
            findings = [*findings, Finding("produce.trigger", f"triggers.{interface_id}", "the trigger to succeed",
                                           sent.detail, f"the trigger reported the refusal: {sent.detail}",
                                           "warning")]
        return ctx.check(rid, "produce.accepted", False, findings, [what.seq, sent.seq], step="submit",
                         status=what.status, codes=what.codes, expected_valid=True).passed
    sub = what
    findings = message_findings(ctx, sub.item, sub.index, sub.findings)
    passed = not any(f.severity == "error" for f in findings)
    return ctx.check(rid, "produce.accepted", passed, findings, [sub.seq, sent.seq], step="submit",
                     transaction_id=sub.transaction_id).passed


def message_findings(ctx: RunContext, item: dict, index: int, hub_findings: list[Finding]) -> list[Finding]:
    """Everything judged on one accepted outgoing message: the hub's business checks, the identity and
    environment against the profile, and the produce rules of its interface (resting on assumptions)."""
    interface_id = dig(item, "payload", "CommonBlock", "S0", "interfaceID")
    rules = produce_rules(interface_id) if isinstance(interface_id, str) else ()
    found = [f for f in hub_findings if f.rule not in rules]
    found += identity_findings(ctx, item, index)
    if "periods.count" in rules:
        found += business.check_periods_count(item, index=index)
    if "consumption.complete-days" in rules:
        found += business.check_complete_days(item, today=datetime.now(UTC).date(), index=index)
    return business.provisional(found, ctx.catalogue)


def identity_findings(ctx: RunContext, item: dict, index: int = 0) -> list[Finding]:
    """Sender, recipient and environment as the profile declares them (the hub checks only consistency)."""
    p = ctx.profile
    common = dig(item, "payload", "CommonBlock") or {}
    base = f"/{index}/payload/CommonBlock"
    out: list[Finding] = []
    s1 = common.get("S1") or {}
    if s1.get("senderRoleID") != p.role:
        out.append(Finding("produce.sender-role", f"{base}/S1/senderRoleID", p.role, s1.get("senderRoleID"),
                           f"senderRoleID should be the party's role {p.role}"))
    if s1.get("senderDIPID") != p.party.dip_id:
        out.append(Finding("produce.sender-dip-id", f"{base}/S1/senderDIPID", p.party.dip_id, s1.get("senderDIPID"),
                           "senderDIPID should be the party's DIP ID from the profile"))
    dcp = s1.get("DIPConnectionProviderID")
    if p.party.dcp_id and dcp != p.party.dcp_id:
        out.append(Finding("produce.dcp", f"{base}/S1/DIPConnectionProviderID", p.party.dcp_id, dcp,
                           "DIPConnectionProviderID should be the DCP ID from the profile"))
    out += business.check_environment(item, p.environment, index=index)
    if p.partner is not None:
        primary = dig(common, "A0", "primaryRecipients")
        receivers = _receivers(ctx, common)
        if p.partner.role in receivers and (not isinstance(primary, list) or p.partner.dip_id not in primary):
            out.append(Finding("produce.recipient", f"{base}/A0/primaryRecipients", [p.partner.dip_id], primary,
                               f"A0.primaryRecipients should address the nominated {p.partner.role} "
                               f"{p.partner.dip_id}"))
    return out


def run_declared_flows(ctx: RunContext, req: Requirement) -> bool:
    """Every message the party sent during the run is on an interface its profile enables."""
    me = ctx.me.dip_id
    enabled = set(ctx.profile.enabled_interfaces)
    mine = [s for s in ctx.hub.received() if s.sender == me]
    undeclared = [s for s in mine if s.interface_id not in enabled]
    findings = [Finding(
        "produce.undeclared-flow", f"/{s.index}/payload/CommonBlock/S0/interfaceID",
        f"one of the enabled interfaces ({', '.join(sorted(enabled)) or 'none'})", s.interface_id,
        f"{business.message_label(s.item)}: the {ctx.role} sent {s.interface_id}, which its profile does not "
        f"enable (interfaces.{s.interface_id} = \"N\"): enable and certify it, or stop sending it",
        extra={"transactionID": s.transaction_id}) for s in undeclared]
    seqs = [s.seq for s in (undeclared or mine)]
    # The check judges which interfaces were used, not the messages' content (their own produce and
    # exchange checks do): expected_valid=False tells verify not to hold an invalid one against it.
    return ctx.check(req.id, "produce.undeclared-flow", not findings, findings, seqs, step="declared-flows",
                     sent=len(mine), expected_valid=False).passed


def _receivers(ctx: RunContext, common: dict) -> tuple[str, ...]:
    interface_id = dig(common, "S0", "interfaceID")
    code = dig(common, "S0", "eventCode")
    try:
        ev = ctx.catalogue.find_event_by_code(interface_id, code)
    except Exception:  # noqa: BLE001 - an unreadable S0 is already a schema finding
        return ()
    return tuple(getattr(ev, "receivers", ()) or ())
