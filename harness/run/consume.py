"""Guidance 5.2a / 6.2a: the participant's webhook consumes every enabled incoming flow.

For one requirement (interface and event) the harness, playing the DIP, delivers:
1. one valid sample: `201` and a correct StandardResponse with RCP0000 (`consume.status`,
   `consume.timeout` when no answer comes within the bound, `consume.connection` when the webhook
   cannot be reached at all, e.g. its TLS certificate is not trusted);
2. a batch of valid samples in one POST (up to the webhook's maxMessageCount): the same;
3. the first sample again as a replay (same transactionID, `replayIndicator: true`): accepted
   again without error (`consume.replay`);
4. a delivery whose signature does not verify: refused with 400/401/403 or RCP9999
   (`consume.bad-signature-accepted` when it is taken);
5. messages a recipient must reject (an MPAN core with a wrong check digit, a senderTimestamp in
   the future): the right RCP code in the reply, or via `/statusmessage` within the bound
   (`consume.recipient-rejection`).
When the first delivery gets no answer at all, the rest would only repeat that, so they are not sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from harness.findings import Finding
from harness.messages.ids import break_check_digit, dip_timestamp
from harness.plan import Requirement
from harness.run.context import DEFAULT_BATCH, RunContext
from harness.transport.delivery import DeliveryResult
from harness.transport.responses import SUCCESS_CODES
from harness.transport.signing import SigningIdentity

REFUSAL_STATUSES = (400, 401, 403)
SIGNATURE_REFUSAL = "RCP9999"
# Negative samples a recipient must reject, and the code it must give (the RCP code table).
RECIPIENT_REJECTIONS = (
    ("bad-mpan", "RCP1061", "an MPAN core with a wrong check digit"),
    ("future-timestamp", "RCP1008", "a senderTimestamp a day in the future"),
)


def _seqs(result: DeliveryResult) -> list[int]:
    return [a.seq for a in result.responses if a.seq is not None]


def _accept_findings(result: DeliveryResult, what: str, timeout: float) -> list[Finding]:
    """Why a delivery of valid messages was not consumed: `consume.timeout`, `consume.connection` or `consume.status`."""
    if result.outcome == "accepted" and all(c in SUCCESS_CODES for c in result.codes):
        return []
    if result.status is None:
        detail = "; ".join(f.message for f in result.findings) or "no reply"
        if any(f.rule == "delivery.timeout" for f in result.findings):
            return [Finding("consume.timeout", "", f"an answer within {timeout:g} s", detail,
                            f"{what}: the webhook did not answer within {timeout:g} s ({detail})")]
        return [Finding("consume.connection", "", "a connection to the webhook (TCP, TLS)", detail,
                        f"{what}: the webhook could not be reached ({detail})")]
    detail = "; ".join(f"{f.rule}: {f.message}" for f in result.findings if f.severity == "error")
    return [Finding("consume.status", "", "HTTP 201 with a StandardResponse, RCP0000 for every message",
                    f"HTTP {result.status}" + (f", codes {', '.join(str(c) for c in result.codes)}" if result.codes else ""),
                    f"{what}: not consumed (HTTP {result.status}{'; ' + detail if detail else ''})",
                    extra={"codes": result.codes})]


def run_consume(ctx: RunContext, req: Requirement) -> bool:
    """Every consume check of one requirement; True when all passed."""
    assert req.interface and req.event
    rid, interface_id, event = req.id, req.interface, req.event
    base = {"requirement": rid, "interface": interface_id, "event": event}
    hook = ctx.webhook(interface_id)
    if hook is None:
        ctx.check(rid, "consume.webhook", False, [Finding(
            "consume.webhook", f"webhooks.{interface_id}", "a webhook URL for this interface", "none",
            f"no webhook is configured or registered for {interface_id}: nothing can be delivered")])
        return False
    sender, me = ctx.sender_for(interface_id, event), ctx.me
    factory = ctx.factory()

    def sample(**kw: Any) -> dict:
        item = factory.message(interface_id, event, sender=sender, recipients=[me.dip_id], **kw)
        return factory.egress(item, recipients=[me.dip_id])

    ok = True
    # 1. one message
    first = sample()
    single = ctx.deliver(hook.callback_url, [first], config=hook, context={**base, "step": "single"})
    problems = _accept_findings(single, f"{interface_id} [{event}] single delivery", ctx.step_timeout)
    ok &= ctx.check(rid, "consume.single", not problems, problems, _seqs(single), step="single").passed
    if single.status is None:
        return False

    # 2. a batch in one POST
    size = max(1, min(DEFAULT_BATCH, hook.max_message_count or DEFAULT_BATCH))
    batch = [sample() for _ in range(size)]
    result = ctx.deliver(hook.callback_url, batch, config=hook, context={**base, "step": "batch"})
    problems = _accept_findings(result, f"{interface_id} [{event}] batch of {size}", ctx.step_timeout)
    if not problems and result.batches != 1 and size > 1:
        problems = [Finding("consume.status", "", "one POST", f"{result.batches} POSTs",
                            "the batch was split", "warning")]
    ok &= ctx.check(rid, "consume.batch", not any(p.severity == "error" for p in problems), problems,
                    _seqs(result), step="batch", size=size).passed

    # 3. the first message replayed
    replay = _as_replay(first)
    result = ctx.deliver(hook.callback_url, [replay], config=hook, context={**base, "step": "replay"})
    problems = [Finding("consume.replay", f.path, f.expected, f.actual, f"replay: {f.message}", extra=f.extra)
                for f in _accept_findings(result, f"{interface_id} [{event}] replayed delivery", ctx.step_timeout)]
    ok &= ctx.check(rid, "consume.replay", not problems, problems, _seqs(result), step="replay").passed

    # 4. a signature that does not verify
    result = ctx.deliver(hook.callback_url, [sample()], config=hook, identity=_impostor(ctx),
                         context={**base, "step": "bad-signature"})
    taken = result.status is not None and result.status not in REFUSAL_STATUSES and not (
        result.codes and all(c == SIGNATURE_REFUSAL for c in result.codes)) and result.status < 500
    problems = []
    if taken:
        problems.append(Finding("consume.bad-signature-accepted", "header:X-DIP-Signature",
                                "HTTP 400/401/403 or RCP9999", f"HTTP {result.status}, codes {result.codes}",
                                f"{interface_id} [{event}]: a delivery whose X-DIP-Signature does not verify with the "
                                f"DIP's certificate was accepted"))
    elif result.status is None or result.status >= 500:
        problems.append(Finding("consume.bad-signature-accepted", "header:X-DIP-Signature",
                                "HTTP 400/401/403 or RCP9999", f"HTTP {result.status}",
                                f"{interface_id} [{event}]: a badly signed delivery was not refused cleanly "
                                f"(HTTP {result.status})"))
    ok &= ctx.check(rid, "consume.bad-signature", not problems, problems, _seqs(result), step="bad-signature",
                    expected_valid=True).passed

    # 5. messages the recipient must reject
    for name, code, what in RECIPIENT_REJECTIONS:
        bad = _negative(sample(), name)
        result = ctx.deliver(hook.callback_url, [bad], config=hook, context={**base, "step": name})
        problems = _recipient_findings(ctx, result, bad, code, what, f"{interface_id} [{event}]")
        ok &= ctx.check(rid, "consume.recipient-rejection", not problems, problems, _seqs(result), step=name,
                        expected_valid=False, expected_code=code).passed
    return bool(ok)


def run_smoke(ctx: RunContext, req: Requirement) -> bool:
    """5.4 smoke test: one valid delivery to the party's own webhook, consumed (201, RCP0000)."""
    assert req.interface and req.event
    hook = ctx.webhook(req.interface)
    if hook is None:
        return ctx.check(req.id, "consume.webhook", False, [Finding(
            "consume.webhook", f"webhooks.{req.interface}", "a webhook URL for this interface", "none",
            f"no webhook is configured or registered for {req.interface}")]).passed
    factory = ctx.factory()
    me = ctx.me
    item = factory.egress(factory.message(req.interface, req.event, sender=ctx.sender_for(req.interface, req.event),
                                          recipients=[me.dip_id]), recipients=[me.dip_id])
    result = ctx.deliver(hook.callback_url, [item], config=hook,
                         context={"requirement": req.id, "interface": req.interface, "event": req.event,
                                  "step": "smoke"})
    problems = _accept_findings(result, f"{req.interface} [{req.event}] smoke delivery", ctx.step_timeout)
    return ctx.check(req.id, "consume.single", not problems, problems, _seqs(result), step="smoke").passed


def _as_replay(item: dict) -> dict:
    import copy

    out = copy.deepcopy(item)
    out["payload"]["CommonBlock"]["D0"]["replayIndicator"] = True
    return out


def _negative(item: dict, name: str) -> dict:
    common = item["payload"]["CommonBlock"]
    if name == "bad-mpan":
        common["M0"]["MPANCore"] = break_check_digit(common["M0"]["MPANCore"])
    elif name == "future-timestamp":
        common["S1"]["senderTimestamp"] = dip_timestamp(datetime.now(timezone.utc) + timedelta(days=1))
    return item


def _recipient_findings(ctx: RunContext, result: DeliveryResult, item: dict, code: str, what: str,
                        label: str) -> list[Finding]:
    """The right code in the reply, or (after a 201 without it) in a status message within the bound."""
    tx = item["payload"]["CommonBlock"]["D0"]["transactionID"]
    if result.status is None:
        return [Finding("consume.timeout", "", f"an answer within {ctx.step_timeout:g} s", "no reply",
                        f"{label}: no answer to {what}")]
    if code in result.codes:
        return []
    if result.status == 201 and all(c in SUCCESS_CODES for c in result.codes):
        me = ctx.me.dip_id

        def status_for_it() -> Any:
            return next((s for s in ctx.hub.status_messages() if s.sender == me and code in s.codes and any(
                isinstance(e, dict) and e.get("transactionID") == tx for e in s.entries)), None)

        if ctx.hub.wait_until(status_for_it, ctx.step_timeout):
            return []
        return [Finding("consume.recipient-rejection", "/0/payload/CommonBlock", code,
                        f"HTTP 201, {', '.join(str(c) for c in result.codes)}",
                        f"{label}: {what} was accepted; a recipient must reject it with {code} (in the reply or "
                        f"via /statusmessage within {ctx.step_timeout:g} s)", extra={"transactionID": tx})]
    return [Finding("consume.recipient-rejection", "/0/payload/CommonBlock", code,
                    f"HTTP {result.status}, {', '.join(str(c) for c in result.codes) or 'no code'}",
                    f"{label}: {what} was rejected with {', '.join(str(c) for c in result.codes) or 'no code'}, "
                    f"expected {code}", extra={"transactionID": tx})]


def _impostor(ctx: RunContext) -> SigningIdentity:
    """The DIP's certificate with someone else's key: the signature cannot verify."""
    from harness.transport.certs import cached_key

    return SigningIdentity.from_key_and_cert(cached_key("dipcert-impostor"), ctx.hub.identity.certificate)
