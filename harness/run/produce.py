"""Guidance 5.2b / 6.2b: the participant produces valid messages of every enabled outgoing flow.

The harness triggers the participant (its profile's `http`, `command` or `manual` trigger), then
waits, bounded, for what it sends to the simulated DIP. The hub's own judgement is the first check
(API key, signature, envelope and schema, sender, recipient, duplicate reference, timestamp skew:
a rejection carries those findings); on an accepted message the harness adds what the DIP would
not reject but certification requires: the business checks the hub recorded (MPAN check digit,
settlement periods), the sender identity and DCP against the profile, and the nominated partner as
the primary recipient.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from harness.findings import Finding
from harness.messages.checks import check_periods_count
from harness.messages.access import dig
from harness.messages.ids import correlation_id
from harness.plan import Requirement
from harness.run.context import RunContext

UTC = timezone.utc


def run_produce(ctx: RunContext, req: Requirement) -> bool:
    assert req.interface and req.event
    rid, interface_id, event = req.id, req.interface, req.event
    me = ctx.me
    corr = correlation_id(datetime.now(UTC), ctx.rng_for(rid))
    t0 = datetime.now(UTC)
    claimed_before = {s.transaction_id for s in ctx.hub.received()}
    rejections_before = len(ctx.hub.rejections())
    sent = ctx.send(ctx.role, interface_id, event, correlation_id=corr,
                    context={"requirement": rid, "step": "trigger"})
    if not sent.ok:
        return ctx.check(rid, "produce.trigger", False, [Finding(
            "produce.trigger", f"triggers.{interface_id}", "the trigger to succeed", sent.detail,
            f"could not ask the {ctx.role} to send {interface_id} [{event}]: {sent.detail}")],
            [sent.seq], step="trigger").passed

    def mine(s: Any) -> bool:
        return (s.transaction_id not in claimed_before and s.interface_id == interface_id and s.event == event
                and s.sender == me.dip_id and s.received_at >= t0)

    def outcome() -> Any:
        correlated = [s for s in ctx.hub.received() if mine(s)
                      and dig(s.item, "payload", "CommonBlock", "S1", "senderCorrelationID") == corr]
        if correlated:
            return ("accepted", correlated[0])
        for r in ctx.hub.rejections()[rejections_before:]:
            if r.endpoint == "submit" and (r.interface_id or "").upper() == interface_id and r.sender in (me.dip_id, None):
                return ("rejected", r)
        return None

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
        findings = [f for f in what.findings if f.severity == "error"] or [Finding(
            "hub.rejected", "", "MSG0000", ",".join(what.codes) or f"HTTP {what.status}",
            f"the DIP rejected the {interface_id} submission (HTTP {what.status})")]
        return ctx.check(rid, "produce.accepted", False, findings, [what.seq, sent.seq], step="submit",
                         status=what.status, codes=what.codes, expected_valid=True).passed
    sub = what
    findings = [f for f in sub.findings]
    if interface_id == "IF-064":  # whole settlement days required here (a partial day is only a warning
        # in validation): the same rule applied as an error. Issue 14b names this as an assumption.
        findings = [f for f in findings if f.rule != "periods.count"] + check_periods_count(sub.item, sub.index)
    findings += identity_findings(ctx, sub.item, sub.index)
    passed = not any(f.severity == "error" for f in findings)
    return ctx.check(rid, "produce.accepted", passed, findings, [sub.seq, sent.seq], step="submit",
                     transaction_id=sub.transaction_id).passed


def identity_findings(ctx: RunContext, item: dict, index: int = 0) -> list[Finding]:
    """Sender and recipient as the profile declares them (the hub checks only that they are consistent)."""
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
    if p.partner is not None:
        primary = dig(common, "A0", "primaryRecipients")
        receivers = _receivers(ctx, common)
        if p.partner.role in receivers and (not isinstance(primary, list) or p.partner.dip_id not in primary):
            out.append(Finding("produce.recipient", f"{base}/A0/primaryRecipients", [p.partner.dip_id], primary,
                               f"A0.primaryRecipients should address the nominated {p.partner.role} "
                               f"{p.partner.dip_id}"))
    return out


def _receivers(ctx: RunContext, common: dict) -> tuple[str, ...]:
    interface_id = dig(common, "S0", "interfaceID")
    code = dig(common, "S0", "eventCode")
    try:
        ev = ctx.catalogue.find_event_by_code(interface_id, code)
    except Exception:  # noqa: BLE001 - an unreadable S0 is already a schema finding
        return ()
    return tuple(getattr(ev, "receivers", ()) or ())
