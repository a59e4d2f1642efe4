"""Guidance 5.2b / 6.2b: the participant produces valid messages of every enabled outgoing flow.

The harness triggers the participant (its profile's `http`, `command` or `manual` trigger), then
waits, bounded, for what it sends to the DIP (as the DIP's records show it). The DIP's own judgement
is the first check
(API key, signature, envelope and schema, sender, recipient, duplicate reference, timestamp skew:
a rejection carries those findings and the DIP's MSG code, also when the trigger itself reports the
refusal); on an accepted message the harness adds what the DIP would not reject but certification
requires: the business checks the hub recorded (MPAN check digit, settlement periods), the sender
identity, DCP and environment tag against the profile, the nominated partner as the primary
recipient and, for IF-064, 48 periods per day and complete past days only (A-PERIODS-48,
A-COMPLETE-DAYS: provisional).

`run_declared_flows` (requirement `<role>-5.2b/declared-flows`, planned last) flags any message the
party sent on an interface its profile does not enable.

The judgement itself is `harness.judges.produce`, on the DIP's record of the submission: the same
judges `verify --dip-cert` runs on the DIP's signed transcript.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from harness.core.findings import Finding
from harness.judges.produce import identity_of, produce_rules
from harness.messages.access import dig
from harness.messages.ids import correlation_id
from harness.plan.requirements import Requirement
from harness.run.context import RunContext

UTC = timezone.utc
__all__ = ["produce_rules", "run_produce", "run_declared_flows"]


def run_produce(ctx: RunContext, req: Requirement) -> bool:
    if req.interface is None:
        return run_declared_flows(ctx, req)
    assert req.event
    rid, interface_id, event = req.id, req.interface, req.event
    me = ctx.me
    corr = correlation_id(datetime.now(UTC), ctx.rng_for(rid))
    since = ctx.hub.last_seq + 1  # the DIP's order, not a clock
    claimed_before = {s.transaction_id for s in ctx.hub.received()}
    rejections_before = len(ctx.hub.rejections())
    sent = ctx.send(ctx.role, interface_id, event, correlation_id=corr,
                    context={"requirement": rid, "step": "trigger"})

    def mine(s: Any) -> bool:
        return (s.transaction_id not in claimed_before and s.interface_id == interface_id and s.event == event
                and s.sender == me.dip_id and (s.transcript_seq or 0) >= since)

    def refused() -> Any:
        for r in ctx.hub.rejections()[rejections_before:]:
            if r.endpoint == "submit" and (r.interface_id or "").upper() == interface_id \
                    and r.sender in (me.dip_id, None):
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
        ctx.hub.sync()  # what the DIP has seen by now, not only what the stream has brought so far
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
        args = {"seq": what.transcript_seq, "prefix": f"the DIP refused the {interface_id} submission",
                "fallback": "hub.rejected", "interface": interface_id, "trigger": None if sent.ok else sent.detail}
        return ctx.judge(rid, "produce.accepted", "submission.rejected", args, [what.transcript_seq],
                         also=[sent.seq], step="submit", status=what.status, codes=what.codes,
                         expected_valid=True).passed
    sub = what
    args = {"message": {"seq": sub.transcript_seq, "index": sub.index}, "identity": identity_of(ctx.profile),
            "today": datetime.now(UTC).date().isoformat()}
    return ctx.judge(rid, "produce.accepted", "produce.submission", args, [sub.transcript_seq], also=[sent.seq],
                     step="submit", transaction_id=sub.transaction_id).passed


def run_declared_flows(ctx: RunContext, req: Requirement) -> bool:
    """Every message the party sent during the run is on an interface its profile enables."""
    me = ctx.me.dip_id
    enabled = set(ctx.profile.enabled_interfaces)
    mine = [s for s in ctx.hub.received() if s.sender == me]
    undeclared = [s for s in mine if s.interface_id not in enabled]
    seqs = [s.transcript_seq for s in (undeclared or mine)]
    args = {"party": me, "role": ctx.role, "enabled": sorted(enabled)}
    # The check judges which interfaces were used, not the messages' content (their own produce and
    # exchange checks do): expected_valid=False tells verify not to hold an invalid one against it.
    return ctx.judge(req.id, "produce.undeclared-flow", "produce.declared-flows", args, seqs,
                     scan=(1, max(1, ctx.hub.last_seq)), step="declared-flows", sent=len(mine),
                     expected_valid=False).passed
