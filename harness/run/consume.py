"""Guidance 5.2a / 6.2a: the participant's webhook consumes every enabled incoming flow, and refuses
what the DIP would never send.

For one `consume` requirement (interface and event) the harness, playing the DIP, delivers:
1. one valid sample: `201` and a correct StandardResponse with RCP0000 (`consume.single`; finding
   rules `consume.status`, `consume.timeout` when no answer comes within the bound,
   `consume.connection` when the webhook cannot be reached at all, e.g. its TLS certificate is not
   trusted). A retryable answer (5xx gateway code, 408, 429) is followed by ONE redelivery of the
   same batch, as the DIP redelivers: the redelivered batch must be accepted (`consume.redelivery`);
2. a batch of valid samples in one POST (up to the webhook's maxMessageCount): the same (`consume.batch`);
3. the first sample again as a replay (same transactionID, `replayIndicator: true`): accepted again
   without error (`consume.replay`) and, where the party answers that flow (IF-061 -> IF-062, ...),
   not processed twice: no second answer to it on the DIP (`consume.replay-once`, finding
   `consume.replay-processed`; assumption A-REPLAY, `harness.run.replay`);
4. four hostile deliveries (`harness.run.adversary`), each refused with 400/401/403 or RCP9999: a
   signature that does not verify (`consume.bad-signature`), an attacker's own certificate
   (`consume.foreign-certificate`), a body altered after signing (`consume.altered-body`), a
   signature date a day old (`consume.stale-signature`).
When the first delivery gets no answer at all, the rest would only repeat that, so they are not sent.
Steps 2-4 run concurrently; their checks are recorded in the order above.

A `reject` requirement (one per interface, advisory unless the profile's policy says blocking)
delivers the messages a recipient must reject, both at once: an MPAN core with a wrong check digit
(RCP1061) and a senderTimestamp a day in the future (RCP1008), answered with that code in the reply
or by `/statusmessage` within ONE bound for both (`consume.recipient-rejection`).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from harness.findings import Finding
from harness.messages.ids import break_check_digit, dip_timestamp
from harness.plan import Requirement
from harness.run import adversary, replay
from harness.run.context import DEFAULT_BATCH, RunContext
from harness.transport.delivery import DeliveryResult, WebhookConfig
from harness.transport.responses import SUCCESS_CODES

UTC = timezone.utc
REFUSAL_STATUSES = (400, 401, 403)
SIGNATURE_REFUSAL = "RCP9999"
# Negative samples a recipient must reject, and the code it must give (the RCP code table).
RECIPIENT_REJECTIONS = (
    ("bad-mpan", "RCP1061", "an MPAN core with a wrong check digit"),
    ("future-timestamp", "RCP1008", "a senderTimestamp a day in the future"),
)


@dataclass
class _Check:
    """A check worked out in a step (possibly on another thread), recorded later in a fixed order."""

    rule: str
    passed: bool
    findings: list[Finding] = field(default_factory=list)
    messages: list[int] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


def _record(ctx: RunContext, rid: str, checks: list[_Check]) -> bool:
    ok = True
    for c in checks:
        ok &= ctx.check(rid, c.rule, c.passed, c.findings, c.messages, **c.data).passed
    return bool(ok)


def _concurrently(steps: list[Callable[[], list[_Check]]]) -> list[_Check]:
    """Run independent steps at once; their checks come back in the steps' order (exceptions re-raised)."""
    with ThreadPoolExecutor(max_workers=max(1, len(steps)), thread_name_prefix="dipcert-step") as pool:
        futures = [pool.submit(step) for step in steps]
        return [check for future in futures for check in future.result()]


def _seqs(result: DeliveryResult) -> list[int]:
    return [a.seq for a in result.responses if a.seq is not None]


def _codes(result: DeliveryResult) -> str:
    """The RCP codes of a reply, or what stood in their place (never "None")."""
    codes = [c for c in result.codes if c]
    return ", ".join(codes) if codes else "no RCP code (no usable StandardResponse)"


def _answered(result: DeliveryResult) -> str:
    """How the webhook answered, including a redelivery: `HTTP 500, then HTTP 400 (RCP1006)`."""
    parts = [f"HTTP {a.status}" if a.status is not None else (a.error or "no answer") for a in result.responses]
    text = ", then ".join(parts) or "no answer"
    codes = [c for c in result.codes if c]
    return text + (f" ({', '.join(codes)})" if codes else "")


def _redirect(status: int | None) -> bool:
    return status is not None and 300 <= status < 400


def _accept_findings(result: DeliveryResult, what: str, timeout: float) -> list[Finding]:
    """Why a delivery of valid messages was not consumed: `consume.timeout`, `consume.connection`,
    `consume.redelivery` or `consume.status`; a warning when it was, but only on redelivery."""
    first = result.responses[0].status if result.responses else None
    redelivered = len(result.responses) > 1
    if result.outcome == "accepted" and all(c in SUCCESS_CODES for c in result.codes):
        if redelivered:
            return [Finding("consume.redelivery", "", "HTTP 201 at the first delivery", f"HTTP {first}",
                            f"{what}: the webhook answered HTTP {first}; the DIP's redelivery of the same batch "
                            f"was accepted", "warning")]
        return []
    if result.status is None:
        detail = "; ".join(f.message for f in result.findings) or "no reply"
        if any(f.rule == "delivery.timeout" for f in result.findings):
            return [Finding("consume.timeout", "", f"an answer within {timeout:g} s", detail,
                            f"{what}: the webhook did not answer within {timeout:g} s ({detail})")]
        return [Finding("consume.connection", "", "a connection to the webhook (TCP, TLS)", detail,
                        f"{what}: the webhook could not be reached ({detail})")]
    detail = "; ".join(f"{f.rule}: {f.message}" for f in result.findings if f.severity == "error")
    if redelivered and result.status is not None and result.status < 500 and result.status not in (408, 429):
        return [Finding("consume.redelivery", "", "the redelivered batch accepted: HTTP 201, RCP0000",
                        _answered(result),
                        f"{what}: the webhook answered HTTP {first}, then refused the DIP's redelivery of the same "
                        f"batch ({_answered(result)}). After a 5xx the DIP delivers the batch again: a webhook "
                        f"must accept it (201, RCP0000) and must not treat it as a duplicate of what it failed",
                        extra={"codes": result.codes})]
    if _redirect(result.status):
        return [Finding("consume.status", "", "HTTP 201 with a StandardResponse, RCP0000 for every message",
                        f"HTTP {result.status}",
                        f"{what}: the webhook answered with a redirect (HTTP {result.status}); the DIP does not "
                        f"follow redirects, so the delivery was not consumed. Register the final URL",
                        extra={"codes": result.codes})]
    return [Finding("consume.status", "", "HTTP 201 with a StandardResponse, RCP0000 for every message",
                    _answered(result),
                    f"{what}: not consumed ({_answered(result)}{'; ' + detail if detail else ''})",
                    extra={"codes": result.codes})]


class _Deliveries:
    """One requirement's view: where to deliver, who sends, fresh samples per step."""

    def __init__(self, ctx: RunContext, req: Requirement, hook: WebhookConfig) -> None:
        assert req.interface and req.event
        self.ctx, self.req, self.hook = ctx, req, hook
        self.interface, self.event = req.interface, req.event
        self.sender, self.me = ctx.sender_for(req.interface, req.event), ctx.me
        self.label = f"{req.interface} [{req.event}]"
        self._factories: dict[str, Any] = {}
        self._lock = threading.Lock()

    def sample(self, step: str) -> dict:
        """A new valid egress sample from the step's own factory, seeded by requirement and step, so the
        values are reproducible whatever runs alongside (each step makes its samples on one thread)."""
        with self._lock:
            factory = self._factories.get(step)
            if factory is None:
                factory = self._factories[step] = self.ctx.factory_for(f"{self.req.id}:{step}")
        item = factory.message(self.interface, self.event, sender=self.sender, recipients=[self.me.dip_id])
        return factory.egress(item, recipients=[self.me.dip_id])

    def deliver(self, step: str, items: list[dict], **kw: Any) -> DeliveryResult:
        context = {"requirement": self.req.id, "interface": self.interface, "event": self.event, "step": step}
        return self.ctx.deliver(self.hook.callback_url, items, config=self.hook, context=context, **kw)


def _webhook(ctx: RunContext, req: Requirement) -> WebhookConfig | None:
    assert req.interface
    hook = ctx.webhook(req.interface)
    if hook is None:
        ctx.check(req.id, "consume.webhook", False, [Finding(
            "consume.webhook", f"webhooks.{req.interface}", "a webhook URL for this interface", "none",
            f"no webhook is configured or registered for {req.interface}: nothing can be delivered")])
    return hook


def run_consume(ctx: RunContext, req: Requirement) -> bool:
    """Every consume check of one requirement; True when all passed."""
    hook = _webhook(ctx, req)
    if hook is None:
        return False
    d = _Deliveries(ctx, req, hook)
    rid = req.id
    # 1. one message (redelivered once after a 5xx, as the DIP does)
    first = d.sample("single")
    since = datetime.now(UTC)
    single = d.deliver("single", [first], redeliver=True)
    problems = _accept_findings(single, f"{d.label} single delivery", ctx.step_timeout)
    ok = _record(ctx, rid, [_Check("consume.single", not _errors(problems), problems, _seqs(single),
                                   {"step": "single"})])
    if single.status is None:
        return False
    consumed = not _errors(problems)
    checks = _concurrently([lambda: _batch(d), lambda: _replay(d, first, since, consumed),
                            *[(lambda a=a: _refused(d, a)) for a in adversary.ATTACKS]])
    return _record(ctx, rid, checks) and ok


def _errors(findings: list[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)


def _batch(d: _Deliveries) -> list[_Check]:
    """2. a batch in one POST."""
    size = max(1, min(DEFAULT_BATCH, d.hook.max_message_count or DEFAULT_BATCH))
    batch = [d.sample("batch") for _ in range(size)]
    result = d.deliver("batch", batch, redeliver=True)
    problems = _accept_findings(result, f"{d.label} batch of {size}", d.ctx.step_timeout)
    if not _errors(problems) and result.batches != 1 and size > 1:
        problems.append(Finding("consume.status", "", "one POST", f"{result.batches} POSTs", "the batch was split",
                                "warning"))
    return [_Check("consume.batch", not _errors(problems), problems, _seqs(result), {"step": "batch", "size": size})]


def _replay(d: _Deliveries, first: dict, since: datetime, consumed: bool) -> list[_Check]:
    """3. the first message replayed: acknowledged, and (where the party answers it) not processed twice."""
    ctx = d.ctx
    answers = replay.answers_to(d.interface, d.event, ctx.role, ctx.enabled_interfaces) if consumed else ()
    seen = replay.first_answer(ctx.hub, first, answers, d.me.dip_id, since, ctx.step_timeout) if answers else None
    result = d.deliver("replay", [_as_replay(first)])
    problems = [Finding("consume.replay", f.path, f.expected, f.actual,
                        f"replay (same D0.transactionID, replayIndicator true): {f.message}; a replay must be "
                        f"acknowledged like the first delivery (assumption A-REPLAY)", f.severity, f.extra)
                for f in _accept_findings(result, f"{d.label} replayed delivery", ctx.step_timeout)]
    checks = [_Check("consume.replay", not _errors(problems), problems, _seqs(result), {"step": "replay"})]
    if not answers or _errors(problems):
        return checks
    what = " or ".join(f"{a.interface} [{a.event}]" for a in answers)
    if seen is None:
        checks.append(_Check("consume.replay-once", True, [Finding(
            "consume.replay-processed", "", f"{what} answering the first delivery", "none",
            f"{d.label}: no {what} answering the first delivery reached the DIP within {ctx.step_timeout:g} s, so "
            f"whether the replay was processed again could not be observed", "warning")],
            _seqs(result), {"step": "replay-once"}))
        return checks
    answer, took = seen
    window = min(ctx.step_timeout, max(ctx.quiet_window, 2 * took))
    twice = replay.second_answer(ctx.hub, first, answers, d.me.dip_id, since, window)
    tx = first["payload"]["CommonBlock"]["D0"]["transactionID"]
    if twice:
        seqs = [s.seq for s in twice if s.seq is not None]
        checks.append(_Check("consume.replay-once", False, [Finding(
            "consume.replay-processed", "/0/payload/CommonBlock/D0/replayIndicator",
            f"one {what} for transaction {tx}", f"{len(twice)} answers (evidence {', '.join(map(str, seqs))})",
            f"{d.label}: the replay of transaction {tx} (replayIndicator true) was processed again: the "
            f"{ctx.role} sent {len(twice)} {what} answering it. A replay must be acknowledged (201, RCP0000) "
            f"and not processed twice (assumption A-REPLAY)", extra={"transactionID": tx})],
            _seqs(result) + seqs, {"step": "replay-once", "window": round(window, 3)}))
    else:
        # The answer is named, not cited: this check judges its count, not its content (which the
        # produce and exchange requirements judge), so verify must not re-validate it as this check's.
        checks.append(_Check("consume.replay-once", True, [], _seqs(result),
                             {"step": "replay-once", "window": round(window, 3), "answer_seq": answer.seq}))
    return checks


def _refused(d: _Deliveries, a: adversary.Attack) -> list[_Check]:
    """4. a hostile delivery: 400/401/403 or RCP9999 for every message."""
    items, identity, sign = adversary.hostile(a.step, d.ctx.hub.identity, lambda: d.sample(a.step), d.hook)
    result = d.deliver(a.step, items, identity=identity, sign=sign)
    refused = result.status in REFUSAL_STATUSES or (
        result.status is not None and result.status < 300 and bool(result.codes)
        and all(c == SIGNATURE_REFUSAL for c in result.codes))
    problems = []
    if not refused:
        if result.status is None or result.status >= 500:
            how = f"was not refused cleanly ({_answered(result)})"
        elif _redirect(result.status):
            how = (f"was answered with a redirect (HTTP {result.status}), which is neither a refusal nor an "
                   f"acknowledgement")
        else:
            how = f"was accepted ({_answered(result)})"
        problems.append(Finding(a.rule, f"header:{a.header}", "HTTP 400/401/403 or RCP9999 for every message",
                                _answered(result),
                                f"{d.label}: {a.what} {how}; the webhook must {a.must}, and answer 401 (or 400/403) "
                                f"or RCP9999"))
    return [_Check(a.check, not problems, problems, _seqs(result), {"step": a.step, "expected_valid": True})]


def run_reject(ctx: RunContext, req: Requirement) -> bool:
    """The must-reject samples of one interface, delivered at once; ONE bound for their status messages."""
    hook = _webhook(ctx, req)
    if hook is None:
        return False
    d = _Deliveries(ctx, req, hook)
    negatives = [(name, code, what, _negative(d.sample(name), name)) for name, code, what in RECIPIENT_REJECTIONS]
    results = {}

    def send(name: str, item: dict) -> list[_Check]:
        results[name] = d.deliver(name, [item], redeliver=True)
        return []

    _concurrently([(lambda n=name, i=item: send(n, i)) for name, _, _, item in negatives])
    # Accepted in the reply: the rejection may still come by /statusmessage; wait for all at once.
    later = {name: (code, item) for name, code, _, item in negatives if _acknowledged(results[name])}
    reported: dict[str, Any] = {}
    if later:
        def all_reported() -> bool:
            for name, (code, item) in later.items():
                if name not in reported:
                    status = _status_for(ctx, item, code)
                    if status is not None:
                        reported[name] = status
            return len(reported) == len(later)

        ctx.hub.wait_until(all_reported, ctx.step_timeout)
    checks = []
    for name, code, what, item in negatives:
        result = results[name]
        problems = _rejection_findings(ctx, result, item, code, what, d.label, reported.get(name))
        seqs = _seqs(result) + ([reported[name].seq] if name in reported and reported[name].seq else [])
        checks.append(_Check("consume.recipient-rejection", not problems, problems, seqs,
                             {"step": name, "expected_valid": False, "expected_code": code}))
    return _record(ctx, req.id, checks)


def run_smoke(ctx: RunContext, req: Requirement) -> bool:
    """5.4 smoke test: one valid delivery to the party's own webhook, consumed (201, RCP0000)."""
    hook = _webhook(ctx, req)
    if hook is None:
        return False
    d = _Deliveries(ctx, req, hook)
    result = d.deliver("smoke", [d.sample("smoke")], redeliver=True)
    problems = _accept_findings(result, f"{d.label} smoke delivery", ctx.step_timeout)
    return ctx.check(req.id, "consume.single", not _errors(problems), problems, _seqs(result), step="smoke").passed


def _as_replay(item: dict) -> dict:
    out = copy.deepcopy(item)
    out["payload"]["CommonBlock"]["D0"]["replayIndicator"] = True
    return out


def _negative(item: dict, name: str) -> dict:
    common = item["payload"]["CommonBlock"]
    if name == "bad-mpan":
        common["M0"]["MPANCore"] = break_check_digit(common["M0"]["MPANCore"])
    elif name == "future-timestamp":
        common["S1"]["senderTimestamp"] = dip_timestamp(datetime.now(UTC) + timedelta(days=1))
    return item


def _acknowledged(result: DeliveryResult) -> bool:
    return result.status == 201 and bool(result.codes) and all(c in SUCCESS_CODES for c in result.codes)


def _status_for(ctx: RunContext, item: dict, code: str) -> Any:
    tx = item["payload"]["CommonBlock"]["D0"]["transactionID"]
    me = ctx.me.dip_id
    return next((s for s in ctx.hub.status_messages() if s.sender == me and code in s.codes and any(
        isinstance(e, dict) and e.get("transactionID") == tx for e in s.entries)), None)


def _rejection_findings(ctx: RunContext, result: DeliveryResult, item: dict, code: str, what: str, label: str,
                        status: Any) -> list[Finding]:
    """The right code in the reply, or (after a 201 without it) in a status message within the bound."""
    tx = item["payload"]["CommonBlock"]["D0"]["transactionID"]
    where, extra = "/0/payload/CommonBlock", {"transactionID": tx}
    if result.status is None:
        timed_out = any(f.rule == "delivery.timeout" for f in result.findings)
        return [Finding("consume.timeout" if timed_out else "consume.connection", "",
                        f"an answer within {ctx.step_timeout:g} s", _answered(result),
                        f"{label}: no answer to {what} ({_answered(result)})", extra=extra)]
    if code in result.codes:
        return []
    if _acknowledged(result):
        if status is not None:
            return []
        return [Finding("consume.recipient-rejection", where, code, f"HTTP 201, {_codes(result)}",
                        f"{label}: {what} was accepted; a recipient must reject it with {code}, in the reply or by "
                        f"/statusmessage within {ctx.step_timeout:g} s (assumption A-RECIPIENT-REJECTS)",
                        extra=extra)]
    if _redirect(result.status):
        return [Finding("consume.recipient-rejection", where, code, f"HTTP {result.status}",
                        f"{label}: {what} was answered with a redirect (HTTP {result.status}): neither a rejection "
                        f"nor an acknowledgement; expected {code}", extra=extra)]
    return [Finding("consume.recipient-rejection", where, code, _answered(result),
                    f"{label}: {what} was answered {_answered(result)}, without {code}; a recipient must reject it "
                    f"with {code} (assumption A-RECIPIENT-REJECTS)", extra=extra)]
