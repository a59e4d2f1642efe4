"""Guidance 5.2a / 6.2a: the participant's webhook consumes every enabled incoming flow, and refuses
what the DIP would never send.

For one `consume` requirement (interface and event) the DIP delivers, as the harness asks it (the
harness, playing the sending counterparty, submits through the DIP API where it holds that party's
session keys, else asks the DIP for a `plain` probe; the replay, the hostile deliveries and the
must-reject samples are always probes, since they need exact DIP fields or a crafted defect):
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
4. four hostile deliveries (`harness.judges.attacks` describes them; the DIP makes them), each
   refused with 400/401/403 or RCP9999: a signature that does not verify (`consume.bad-signature`),
   an attacker's own certificate
   (`consume.foreign-certificate`), a body altered after signing (`consume.altered-body`), a
   signature date a day old (`consume.stale-signature`).
When the first delivery gets no answer at all, the rest would only repeat that, so they are not sent.
Steps 2-4 run concurrently; their checks are recorded in the order above.

A `reject` requirement (one per interface, advisory unless the profile's policy says blocking)
delivers the messages a recipient must reject, both at once: an MPAN core with a wrong check digit
(RCP1061) and a senderTimestamp a day in the future (RCP1008), answered with that code in the reply
or by `/statusmessage` within ONE bound for both (`consume.recipient-rejection`).

Every check is judged from the DIP's records of those deliveries by `harness.judges.consume`, the
judges `verify --dip-cert` runs again on the DIP's signed transcript.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

from harness.core.findings import Finding
from harness.judges import apply, attacks
from harness.judges.consume import acknowledged, errors_in
from harness.judges.delivery import delivery_result
from harness.judges.records import TranscriptRecord
from harness.messages.access import dig
from harness.messages.ids import break_check_digit, dip_timestamp
from harness.plan.requirements import Requirement
from harness.run import replay
from harness.run.context import DEFAULT_BATCH, RunContext
from harness.run.exchange import watch_window
from harness.transport.delivery import DeliveryResult, WebhookConfig

UTC = timezone.utc
# Negative samples a recipient must reject, and the code it must give (the RCP code table).
RECIPIENT_REJECTIONS = (
    ("bad-mpan", "RCP1061", "an MPAN core with a wrong check digit"),
    ("future-timestamp", "RCP1008", "a senderTimestamp a day in the future"),
)


@dataclass
class _Check:
    """A check worked out in a step (possibly on another thread), recorded later in a fixed order."""

    rule: str
    judge: str | None
    args: dict[str, Any]
    transcript: list[int] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # only for a check no judge can make
    data: dict[str, Any] = field(default_factory=dict)
    scan: tuple[int, int] | None = None


@dataclass
class _Sent:
    """One delivery the DIP made to the participant: its attempt records (empty: none came)."""

    attempts: list[TranscriptRecord]
    problem: str | None = None  # why nothing was delivered (the DIP refused the sample, ...)

    @property
    def seqs(self) -> list[int]:
        return [a.seq for a in self.attempts]

    @property
    def result(self) -> DeliveryResult:
        return delivery_result(self.attempts)

    @property
    def delivered(self) -> list[dict]:
        """The messages as the DIP delivered them (D0 added)."""
        return [i for i in self.attempts[-1].items() if isinstance(i, dict)] if self.attempts else []


def _record(ctx: RunContext, rid: str, checks: list[_Check]) -> bool:
    ok = True
    for c in checks:
        if c.judge is None:
            ok &= ctx.check(rid, c.rule, not errors_in(c.findings), c.findings, [], **c.data).passed
        else:
            ok &= ctx.judge(rid, c.rule, c.judge, c.args, c.transcript, scan=c.scan, **c.data).passed
    return bool(ok)


def _concurrently(ctx: RunContext, steps: list[Callable[[], list[_Check]]]) -> list[_Check]:
    """Run independent steps at once; their checks come back in the steps' order (exceptions re-raised)."""
    return [check for checks in ctx.concurrently(steps) for check in checks]


class _Deliveries:
    """One requirement's view: where the DIP delivers, who sends, fresh samples per step."""

    def __init__(self, ctx: RunContext, req: Requirement, hook: WebhookConfig) -> None:
        assert req.interface and req.event
        self.ctx, self.req, self.hook = ctx, req, hook
        self.interface, self.event = req.interface, req.event
        self.sender, self.me = ctx.sender_for(req.interface, req.event), ctx.me
        self.label = f"{req.interface} [{req.event}]"
        self._factories: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _factory(self, step: str) -> Any:
        """The step's own factory, seeded by requirement and step, so the values are reproducible
        whatever runs alongside (each step makes its samples on one thread)."""
        with self._lock:
            factory = self._factories.get(step)
            if factory is None:
                factory = self._factories[step] = self.ctx.factory_for(f"{self.req.id}:{step}")
        return factory

    def message(self, step: str) -> dict:
        """A new valid sample as its sender submits it (ingress form)."""
        return self._factory(step).message(self.interface, self.event, sender=self.sender,
                                           recipients=[self.me.dip_id])

    def sample(self, step: str) -> dict:
        """A new valid sample as the DIP delivers it (egress form: D0 added), for a probe."""
        return self._factory(step).egress(self.message(step), recipients=[self.me.dip_id])

    def send(self, step: str, count: int = 1) -> _Sent:
        """`count` new samples delivered by the DIP in one batch: submitted through the DIP API as the
        sending counterparty when the harness plays it, else a `plain` probe (with one redelivery after
        a 5xx, as the DIP redelivers)."""
        ctx = self.ctx
        client = ctx.sender(self.sender.role)
        if client is None:
            return self.probe(step, [self.sample(step) for _ in range(count)], redeliver=True)
        answer = ctx.send_through_dip(self.sender.role, self.interface, [self.message(step) for _ in range(count)])
        if not answer.ok or not all(answer.transaction_ids):
            return _Sent([], f"the DIP refused the harness's own {self.label} sample as {self.sender.role} "
                             f"{self.sender.dip_id} (HTTP {answer.status}, {', '.join(answer.messages) or 'no code'})")
        wanted = set(answer.transaction_ids)
        bound = ctx.delivery_bound()
        try:
            done = ctx.hub.wait_for_delivery(lambda d: d.recipient == self.me.dip_id
                                             and wanted & set(d.transaction_ids),
                                             bound)
        except TimeoutError:
            return _Sent([], f"the DIP did not finish delivering the {self.label} sample within {bound:g} s")
        records = ctx.hub.record_set(done.transcript_seqs)
        return _Sent([r for s in done.transcript_seqs if (r := records.get(s)) is not None])

    def probe(self, step: str, items: list[dict], *, kind: str = "plain", redeliver: bool = False) -> _Sent:
        done = self.ctx.probe(self.interface, kind, items, redeliver=redeliver,
                              tag={"requirement": self.req.id, "step": step})
        records = self.ctx.hub.record_set(done.seqs)
        return _Sent([r for s in done.seqs if (r := records.get(s)) is not None],
                     None if done.seqs else f"the DIP made no {kind} delivery ({done.outcome})")

    def accepted(self, step: str, sent: _Sent, what: str, **extra: Any) -> _Check:
        """The check that a delivery of valid messages was consumed (judge `consume.accepted`)."""
        rule = "consume.replay" if extra.get("replay") else f"consume.{'single' if step == 'smoke' else step}"
        if sent.problem is not None:
            return _Check(rule, None, {}, findings=[Finding(
                "consume.no-delivery", "", f"a {self.label} delivery by the DIP", "none", f"{what}: {sent.problem}")],
                data={"step": step})
        args = {"attempts": sent.seqs, "what": what, "timeout": self.ctx.step_timeout, **extra}
        return _Check(rule, "consume.accepted", args, sent.seqs, data={"step": step})


def _webhook(ctx: RunContext, req: Requirement) -> WebhookConfig | None:
    assert req.interface
    hook = ctx.webhook(req.interface)
    if hook is None:
        ctx.check(req.id, "consume.webhook", False, [Finding(
            "consume.webhook", f"webhooks.{req.interface}", "a webhook URL for this interface", "none",
            f"no webhook is configured in the profile or registered with the DIP for {req.interface}: nothing "
            f"can be delivered")])
    return hook


def run_consume(ctx: RunContext, req: Requirement) -> bool:
    """Every consume check of one requirement; True when all passed."""
    hook = _webhook(ctx, req)
    if hook is None:
        return False
    d = _Deliveries(ctx, req, hook)
    rid = req.id
    # 1. one message (redelivered once after a 5xx, as the DIP does)
    since = ctx.hub.last_seq + 1
    single = d.send("single")
    check = d.accepted("single", single, f"{d.label} single delivery")
    ok = _record(ctx, rid, [check])
    if not single.attempts or single.result.status is None:
        return False
    consumed = ok
    checks = _concurrently(ctx, [lambda: _batch(d), lambda: _replay(d, single, since, consumed),
                            *[(lambda a=a: _refused(d, a)) for a in attacks.ATTACKS]])
    return _record(ctx, rid, checks) and ok


def _batch(d: _Deliveries) -> list[_Check]:
    """2. a batch in one POST."""
    size = max(1, min(DEFAULT_BATCH, d.hook.max_message_count or DEFAULT_BATCH))
    sent = d.send("batch", size)
    check = d.accepted("batch", sent, f"{d.label} batch of {size}", batch=size)
    check.data["size"] = size
    return [check]


def _replay(d: _Deliveries, first: _Sent, since: int, consumed: bool) -> list[_Check]:
    """3. the first message replayed: acknowledged, and (where the party answers it) not processed twice."""
    ctx = d.ctx
    delivered = first.delivered[0]
    answers = replay.answers_to(d.interface, d.event, ctx.role, ctx.enabled_interfaces) if consumed else ()
    seen = replay.first_answer(ctx.hub, delivered, answers, d.me.dip_id, since, ctx.step_timeout) if answers else None
    sent = d.probe("replay", [_as_replay(delivered)])
    check = d.accepted("replay", sent, f"{d.label} replayed delivery", replay=True)
    if not answers or check.judge is None or errors_in(_judged(ctx, check)):
        return [check]
    window = 0.0
    if seen is not None:  # watched for as long as the party's first answer took, REACTION_FACTOR times over
        reaction = max(seen[1], replay.latency(first.attempts[-1], seen[0]))
        window = watch_window(reaction, ctx.quiet_window, ctx.step_timeout)
        replay.second_answer(ctx.hub, delivered, answers, d.me.dip_id, since, window)
    args = {"attempts": sent.seqs, "label": d.label, "answers": [[a.interface, a.event] for a in answers],
            "party": d.me.dip_id, "role": ctx.role, "timeout": ctx.step_timeout}
    data = {"step": "replay-once"} if seen is None else {"step": "replay-once", "window": round(window, 3)}
    return [check, _Check("consume.replay-once", "consume.replay-once", args, sent.seqs, data=data,
                          scan=(since, ctx.hub.last_seq))]


def _judged(ctx: RunContext, check: _Check) -> list[Finding]:
    """A check's findings now (without recording it): the step after it depends on them."""
    return apply(str(check.judge), ctx.hub.record_set(check.transcript, check.scan), check.args)


def _refused(d: _Deliveries, a: attacks.Attack) -> list[_Check]:
    """4. a hostile delivery the DIP makes on request: 400/401/403 or RCP9999 for every message."""
    sent = d.probe(a.step, [d.sample(a.step)], kind=a.step)
    if sent.problem is not None:
        return [_Check(a.check, None, {}, findings=[Finding("consume.no-delivery", "", f"a {a.step} probe", "none",
                                                            f"{d.label}: {sent.problem}")], data={"step": a.step})]
    return [_Check(a.check, "consume.refused", {"attempts": sent.seqs, "attack": a.step, "label": d.label},
                   sent.seqs, data={"step": a.step, "expected_valid": True})]


def run_reject(ctx: RunContext, req: Requirement) -> bool:
    """The must-reject samples of one interface, delivered at once; ONE bound for their status messages."""
    hook = _webhook(ctx, req)
    if hook is None:
        return False
    d = _Deliveries(ctx, req, hook)
    negatives = [(name, code, what, _negative(d.sample(name), name)) for name, code, what in RECIPIENT_REJECTIONS]
    sent: dict[str, _Sent] = {}

    def send(name: str, item: dict) -> list[_Check]:
        sent[name] = d.probe(name, [item], redeliver=True)
        return []

    _concurrently(ctx, [partial(send, name, item) for name, _, _, item in negatives])
    # Accepted in the reply: the rejection may still come by /statusmessage; wait for all at once.
    later = {name: (code, item) for name, code, _, item in negatives
             if sent[name].attempts and acknowledged(sent[name].result)}
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
        tx = dig(item, "payload", "CommonBlock", "D0", "transactionID")
        data = {"step": name, "expected_valid": False, "expected_code": code}
        if sent[name].problem is not None:
            checks.append(_Check("consume.recipient-rejection", None, {}, findings=[Finding(
                "consume.no-delivery", "", f"a {name} probe", "none", f"{d.label}: {sent[name].problem}")], data=data))
            continue
        status = reported.get(name)
        seqs = sent[name].seqs + ([status.transcript_seq] if status is not None else [])
        args = {"attempts": sent[name].seqs, "code": code, "what": what, "label": d.label,
                "timeout": ctx.step_timeout, "transaction_id": tx, "party": ctx.me.dip_id}
        checks.append(_Check("consume.recipient-rejection", "consume.recipient-rejection", args, seqs, data=data))
    return _record(ctx, req.id, checks)


def run_smoke(ctx: RunContext, req: Requirement) -> bool:
    """5.4 smoke test: one valid delivery to the party's own webhook, consumed (201, RCP0000)."""
    hook = _webhook(ctx, req)
    if hook is None:
        return False
    d = _Deliveries(ctx, req, hook)
    return _record(ctx, req.id, [d.accepted("smoke", d.send("smoke"), f"{d.label} smoke delivery")])


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


def _status_for(ctx: RunContext, item: dict, code: str) -> Any:
    tx = item["payload"]["CommonBlock"]["D0"]["transactionID"]
    me = ctx.me.dip_id
    return next((s for s in ctx.hub.status_messages() if s.sender == me and code in s.codes and any(
        isinstance(e, dict) and e.get("transactionID") == tx for e in s.entries)), None)
