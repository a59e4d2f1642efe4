"""The paired exchange's runner: drives an exchange definition between the party and its partner.

The definitions (steps, expectations, which exchanges a profile enables) are data, read by
`harness.config.exchanges`; this module is the engine half. A `request` step asks the party playing
its sender role to send one message (`host.send`); every other step waits for what the partner does
about it, watching the hub (`hub.wait_for`, bounded and event-based), and judges it with
`harness.judges.exchange` over the hub's records. The runner never trusts what a trigger says it
did: it finds messages among the hub's accepted submissions by sender, interface, event, MPAN and
correlation (`business.CorrelationRule.matches`).

Bounds: a step waits at most `host.step_timeout` seconds; a definition's `timeout` may shorten it,
never lengthen it. A `nothing` step (the partner must *not* send something, e.g. consumption after a
stop) watches for as long as the partner's own answers take: `REACTION_FACTOR` times the slowest
direct answer it gave in this exchange (request accepted to answer accepted, on the DIP's clock), at
least the quiet window (`QUIET_WINDOW`, 0.25 s) and at most the step's bound; a step's `window` fixes
it instead. The window runs from the moment the latest request was accepted, so time spent on the
steps since counts; when it is over the DIP is asked for its records up to now, so a message it
accepted in time is never missed. After a timeout the exchange stops: later steps are `skipped`.
Every judgement is recorded as a check record on the exchange's requirement.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from harness.config.exchanges import (
    CONSUMPTION_RULES,
    MPANS,
    QUIET_WINDOW,
    UTC,
    Exchange,
    Step,
    resolve_fields,
    step_enabled,
)
from harness.core.findings import Finding
from harness.judges import apply as apply_judge
from harness.judges.exchange import unwanted
from harness.messages import business
from harness.messages.access import dig
from harness.messages.ids import correlation_id, make_mpan

if TYPE_CHECKING:
    from harness.dip.client import RemoteHub

REACTION_FACTOR = 3.0  # a negative check watches this many times the slowest answer the party gave


def watch_window(reaction: float, floor: float, bound: float) -> float:
    """How long a negative check watches: REACTION_FACTOR x `reaction` (the party's slowest answer, in
    seconds on the DIP's clock), at least `floor` (the quiet window), at most `bound`."""
    return min(bound, max(floor, REACTION_FACTOR * reaction))


# --- the host the runner talks to ---------------------------------------------------------------

class CheckLog(Protocol):
    """What the runner records through: the evidence `Recorder`, or the run's wrapper that also tracks checks."""

    def check(self, requirement: str, rule: str, passed: bool, findings: Iterable[Finding] = (),
              messages: Iterable[int] = (), **data: Any) -> int: ...

    def event(self, kind: str, **data: Any) -> int: ...


class ExchangeHost(Protocol):
    """What the runner needs from a run (`harness.run.context.RunContext` implements it).

    Optional attributes read when present: `enabled_interfaces`, `quiet_window`, and `profile`
    (its `environment` and `exchange` settings: consumption mode and window).
    """

    role: str  # role of the party under test; the other role is its partner
    hub: RemoteHub  # the run's DIP session (records, waits, record sets)
    step_timeout: float

    @property
    def recorder(self) -> CheckLog | None: ...

    def party(self, role: str) -> Any: ...  # .role .dip_id .mpid

    def send(self, role: str, interface_id: str, event: str | None, *, mpan: str | None = None,
             correlation_id: str | None = None, fields: dict | None = None,
             context: dict | None = None) -> Any: ...  # SendResult(ok, detail, seq)


@dataclass(frozen=True)
class ConsumptionMode:
    """How a `scheduled` answer is obtained (profile `[exchange]`): asked for, or waited for."""

    mode: str = "triggered"
    within: float | None = None  # spontaneous: seconds to wait (default: the step's bound)


def consumption_mode(host: Any) -> ConsumptionMode:
    settings = getattr(getattr(host, "profile", None), "exchange", None)
    mode = getattr(settings, "consumption", None) or "triggered"
    return ConsumptionMode(mode, getattr(settings, "spontaneous_within", None))


# --- the runner -----------------------------------------------------------------------------------

@dataclass
class StepOutcome:
    name: str
    status: str  # "pass", "fail", "not-enabled", "skipped"
    elapsed: float = 0.0
    messages: list[int] = field(default_factory=list)  # evidence seqs of the judged hub-inbound records


@dataclass
class ExchangeResult:
    """Truthy when the exchange passed (no failing check). `findings` are the failing checks' findings."""

    exchange: str
    requirement: str
    passed: bool
    findings: list[Finding] = field(default_factory=list)
    steps: list[StepOutcome] = field(default_factory=list)
    checks: list[tuple[str, bool]] = field(default_factory=list)  # (rule, passed) in order

    def __bool__(self) -> bool:
        return self.passed

    @property
    def failed_rules(self) -> set[str]:
        return {rule for rule, ok in self.checks if not ok}


def run_exchange(host: ExchangeHost, exchange: Exchange, requirement_id: str, *,
                 enabled: Iterable[str] | None = None, quiet_window: float | None = None,
                 correlation: business.CorrelationRule | None = None, rng: random.Random | None = None
                 ) -> ExchangeResult:
    """Drive `exchange` between the party under test and its partner; record and return the verdict.

    `enabled`: interface ids both parties enabled (default: `host.enabled_interfaces` if the host
    has it, else all). `quiet_window` overrides `QUIET_WINDOW` (or `host.quiet_window`).
    """
    if enabled is None:
        enabled = getattr(host, "enabled_interfaces", None)
    if quiet_window is None:
        quiet_window = getattr(host, "quiet_window", None) or QUIET_WINDOW
    run = _Run(host, exchange, requirement_id, set(enabled) if enabled is not None else None, quiet_window,
               correlation or business.correlation_rule(), rng or random.Random())
    return run.go()


class _Run:
    def __init__(self, host: ExchangeHost, exchange: Exchange, requirement: str, enabled: set[str] | None,
                 quiet: float, rule: business.CorrelationRule, rng: random.Random) -> None:
        self.host, self.exchange, self.requirement = host, exchange, requirement
        self.enabled, self.quiet, self.rule = enabled, quiet, rule
        self.hub = host.hub
        self.mpans = {kind: make_mpan(rng) for kind in MPANS}
        self.mpan = self.mpans["exchange"]
        now = datetime.now(UTC)
        # One correlation id per request step: an answer carrying another request's id answers the wrong message.
        self.correlations = {s.name: correlation_id(now, rng) for s in exchange.steps if s.expect == "request"}
        self.result = ExchangeResult(exchange.name, requirement, True)
        self.found: dict[str, Any] = {}  # request step name -> its Submission
        self.marks: dict[str, set[int]] = {}  # request step name -> ids of submissions older than it
        self.used: set[str] = set()  # transaction ids already judged by a step
        self.asked_at: dict[str, float] = {}  # request step name -> monotonic time its acceptance was seen
        self.reaction = 0.0  # seconds: the slowest direct answer of this exchange (DIP clock)
        self.start: date | None = None
        self.stop: date | None = None
        self.direction: str | None = None
        self.aborted = False
        profile = getattr(host, "profile", None)
        self.environment: str | None = getattr(host, "environment", None) or getattr(profile, "environment", None)

    # -- driving ---------------------------------------------------------------------------------

    def go(self) -> ExchangeResult:
        self._event("exchange.start", mpan=self.mpan, mpans=self.mpans, correlation_ids=self.correlations,
                    steps=[s.name for s in self.exchange.steps])
        for step in self.exchange.steps:
            outcome = self._step(step)
            self.result.steps.append(outcome)
            if outcome.status in ("not-enabled", "skipped"):
                self._event("exchange.step", step=step.name, interface=step.interface, event=step.event,
                            status=outcome.status)
        self._vacuous()
        self._event("exchange.end", passed=self.result.passed,
                    steps={o.name: o.status for o in self.result.steps})
        return self.result

    def _vacuous(self) -> None:
        """An exchange never passes while the party under test performed none of its own steps."""
        role = getattr(self.host, "role", None)
        own = [(s, o) for s, o in zip(self.exchange.steps, self.result.steps)
               if s.sender == role and s.expect != "nothing"]
        if not self.result.passed or not own or any(o.status in ("pass", "fail") for _, o in own):
            return
        names = ", ".join(f"{s.name} ({s.label})" for s, _ in own)
        finding = Finding("exchange.vacuous", "", f"the {role} under test performs its steps: {names}",
                          "none ran (" + ", ".join(f"{s.name}: {o.status}" for s, o in own) + ")",
                          f"exchange {self.exchange.name}: the {role} under test performed none of its own steps "
                          f"({names}); an exchange it took no part in proves nothing (enable those interfaces)")
        self._check(self.exchange.steps[-1], "exchange.vacuous", [finding], [])

    def _step(self, step: Step) -> StepOutcome:
        if not step_enabled(step, self.enabled):
            return StepOutcome(step.name, "not-enabled")
        if self.aborted:
            return StepOutcome(step.name, "skipped")
        if step.request is not None and step.request not in self.found:
            return StepOutcome(step.name, "not-enabled")  # it answers a request that did not run
        started = time.monotonic()
        failures_before = len(self.result.findings)
        if step.expect == "request":
            messages = self._request(step)
        elif step.expect == "nothing":
            messages = self._nothing(step)
        else:
            messages = self._answer(step)
        failed = len(self.result.findings) > failures_before or self.aborted
        return StepOutcome(step.name, "fail" if failed else "pass", round(time.monotonic() - started, 3), messages)

    def bound(self, step: Step) -> float:
        ceiling = float(self.host.step_timeout)
        return min(step.timeout, ceiling) if step.timeout else ceiling

    def _ids(self) -> set[int]:
        return {id(s) for s in self.hub.received()}

    def _sender_id(self, role: str) -> str:
        return self.host.party(role).dip_id

    def _of_step(self, step: Step, sender: str) -> Callable[[Any], bool]:
        return lambda s: (s.sender == sender and s.interface_id == step.interface and s.event == step.event
                          and s.transaction_id not in self.used)

    def _request(self, step: Step) -> list[int]:
        bound = self.bound(step)
        before = self._ids()
        rejected_before = {id(r) for r in self.hub.rejections()}
        fields = resolve_fields(step.fields, datetime.now(UTC).date()) if step.fields else None
        mpan = self.mpans[step.mpan]
        sent = self.host.send(step.sender, step.interface, step.event, mpan=mpan,
                              correlation_id=self.correlations[step.name], fields=fields,
                              context=self._context(step))
        sender = self._sender_id(step.sender)
        ours = self._of_step(step, sender)
        # Nobody could be asked (no trigger at all): nothing can arrive, so the bound is not waited out.
        asked = getattr(sent, "ok", True) or getattr(sent, "seq", None) is not None
        trigger = [sent.seq] if getattr(sent, "seq", None) is not None else []

        def outcome() -> Any:
            for s in self.hub.received():
                if id(s) not in before and ours(s) and business.mpan_of(s.item) == mpan:
                    return ("accepted", s)
            for r in self.hub.rejections():
                if id(r) not in rejected_before and r.endpoint == "submit" and r.sender in (sender, None) \
                        and (r.interface_id or "").upper() == step.interface:
                    return ("rejected", r)
            return None

        if not asked:  # nothing more will come; what the DIP has seen so far decides
            self.hub.sync()
        found = self.hub.wait_until(outcome, bound if asked else 0.0)
        if found is not None and found[0] == "rejected":
            self._refused(step, found[1], trigger)
            return [found[1].seq, *trigger] if found[1].seq is not None else trigger
        if found is None:
            self._timeout(step, bound, trigger, f"trigger: {getattr(sent, 'detail', '?')}")
            return trigger
        submission = found[1]
        self.asked_at[step.name] = time.monotonic()
        self.used.add(submission.transaction_id)
        self.found[step.name] = submission
        self.marks[step.name] = before
        item = submission.item
        if step.mpan != "exchange":
            pass  # a request about another MPAN does not start or stop the exchange's own
        elif step.interface == "IF-061":
            custom = dig(item, "payload", "CustomBlock")
            self.start = business.day_of(dig(custom, "B019", "assignedMDREffectiveFromDate"))
            self.direction = dig(custom, "B078", "energyDirection")
        elif step.interface == "IF-063":
            self.stop = business.day_of(dig(item, "payload", "CustomBlock", "B083", "assignedMDREffectiveToDate"))
        messages = self._seqs(submission) + trigger
        self._received_check(step, submission, [submission.transcript_seq], messages)
        self._own_message(step, submission, messages)
        if step.sender != self.host.role:
            self._delivery(step, submission, reply=step.reply)
        return messages

    def _answer(self, step: Step) -> list[int]:
        assert step.request is not None, "an answer step names its request (harness.config.exchanges)"
        request = self.found[step.request]
        before = self.marks[step.request]
        bound = self.bound(step)
        ours = self._of_step(step, self._sender_id(step.sender))
        match = lambda s: id(s) not in before and ours(s) and self.rule.matches(request.item, s.item)  # noqa: E731
        asked: list[int] = []
        expected = f"an answer to {business.message_label(request.item)}"
        if step.scheduled:
            answer, bound, asked, expected = self._scheduled(step, match, bound)
        else:
            answer = self._wait(match, bound)
        if answer is None:
            self._timeout(step, bound, self._seqs(request) + asked, expected)
            return self._seqs(request) + asked
        self.used.add(answer.transaction_id)
        if not step.scheduled:  # how long this partner takes to answer: a negative check watches for it
            self.reaction = max(self.reaction, _seconds_between(request, answer))
        messages = self._seqs(answer) + self._seqs(request) + asked
        records = [answer.transcript_seq, request.transcript_seq]
        self._received_check(step, answer, records, messages)
        others = {cid: f"request step {name!r} ({self.exchange.step(name).label})"
                  for name, cid in self.correlations.items() if name != step.request}
        rules = ["exchange.correlation"]
        if step.expect == "accepted":
            rules += ["exchange.accept", "exchange.echo"]
        elif step.expect == "rejected":
            rules += ["exchange.reject", "exchange.echo"]
        elif step.expect == "consumption":
            rules += CONSUMPTION_RULES
            if self.start is not None:
                rules.append("exchange.before-start")
        after_stop = step.expect == "consumption" and self._after_stop(answer)
        if after_stop:
            rules.append("exchange.after-stop")
        base: dict[str, Any] = {"answer": _ref(answer), "request": _ref(request), "others": others}
        if step.expect == "consumption":
            base.update(direction=self.direction, start=_iso(self.start), stop=_iso(self.stop) if after_stop else None,
                        today=datetime.now(UTC).date().isoformat())
        for rule in rules:
            self._judge(step, rule, "exchange.answer", {"rule": rule, **base}, records, messages)
        self._own_message(step, answer, messages)
        if self.host.role != step.sender:
            self._delivery(step, answer)
        return messages

    def _scheduled(self, step: Step, match: Callable[[Any], bool], bound: float
                   ) -> tuple[Any, float, list[int], str]:
        """A scheduled answer: already sent, else asked for through the sender's trigger, or waited for."""
        assert step.request is not None, "an answer step names its request (harness.config.exchanges)"
        request = self.found[step.request]
        label = f"{step.label} for MPAN {self.mpan}"
        self.hub.sync()  # already sent? (the DIP's records up to now, not only those read so far)
        answer = self._wait(match, 0.0)
        if answer is not None:
            return answer, bound, [], label
        mode = consumption_mode(self.host)
        if mode.mode == "spontaneous":
            within = float(mode.within) if mode.within else bound
            return (self._wait(match, within), within, [],
                    f"{label} sent unprompted after {business.message_label(request.item)} "
                    f"(profile [exchange] consumption = \"spontaneous\", within {within:g} s)")
        sent = self.host.send(step.sender, step.interface, step.event, mpan=self.mpan,
                              correlation_id=self.correlations[step.request], context=self._context(step))
        asked = [sent.seq] if getattr(sent, "seq", None) is not None else []
        detail = getattr(sent, "detail", "?")
        expected = (f"{label} after asking the {step.sender} through its {step.interface} trigger with the MPAN and "
                    f"the correlation id of {business.message_label(request.item)} (profile [exchange] consumption = "
                    f"\"triggered\"; trigger: {detail})")
        if not (getattr(sent, "ok", True) or asked):
            return None, 0.0, asked, expected
        return self._wait(match, bound), bound, asked, expected

    def _after_stop(self, submission: Any) -> bool:
        """Was `submission` accepted after this exchange's stop request (so the stop date binds it)?"""
        stop_step = next((name for name, s in self.found.items() if s.interface_id == "IF-063"
                          and self.exchange.step(name).mpan == "exchange"), None)
        return self.stop is not None and stop_step is not None and id(submission) not in self.marks[stop_step] \
            and submission is not self.found[stop_step]

    def _nothing(self, step: Step) -> list[int]:
        after = step.after
        before = self.marks.get(after, set()) if after else set()
        window = min(step.window or watch_window(self.reaction, self.quiet, self.bound(step)), self.bound(step))
        ours = self._of_step(step, self._sender_id(step.sender))
        if step.rule == "exchange.after-stop" and self.stop is None:
            return []  # no stop was accepted: nothing to hold the partner to
        mpan = self.mpans[step.mpan]
        args: dict[str, Any] = {
                "rule": step.rule or "exchange.reject", "mpan": mpan, "sender": self._sender_id(step.sender),
                "interface": step.interface, "event": step.event, "stop": _iso(self.stop),
                "why": ("which the MDR was never started for (an IF-063 came before any IF-061)"
                        if step.rule == "exchange.unstarted" else "for which the MDR accepted no start"),
                "exclude": sorted(self.used)}
        match = lambda s: (id(s) not in before and ours(s) and business.mpan_of(s.item) == mpan  # noqa: E731
                           and bool(unwanted(s.item, args)))
        since = self.found[after].transcript_seq if after in self.found else 1
        latest = max(self.asked_at.values(), default=time.monotonic())  # the last request that could provoke it
        first = self._wait(match, max(0.0, latest + window - time.monotonic()))
        if first is None:  # the window is over: what the DIP accepted up to now, not only what was read so far
            self.hub.sync()
            first = self._wait(match, 0.0)
        request_seqs = self._seqs(self.found[after]) if after in self.found else []
        offenders = [s for s in self.hub.received() if match(s)] if first is not None else []
        for s in offenders:
            self.used.add(s.transaction_id)
        messages = [q for s in offenders for q in self._seqs(s)] + request_seqs
        records = [s.transcript_seq for s in offenders] + ([since] if after in self.found else [])
        # The scanned range is judged again by verify: a message the step forbids cannot be left uncited.
        self._judge(step, args["rule"], "exchange.nothing", args, records, messages,
                    scan=(since or 1, max(since or 1, self.hub.last_seq)), window_s=window)
        return messages

    def _own_message(self, step: Step, submission: Any, messages: list[int]) -> None:
        """What the party under test sent carries the run's environment tag."""
        if step.sender != self.host.role or not self.environment:
            return
        self._judge(step, "environment.tag", "message.environment",
                    {"message": _ref(submission), "environment": self.environment}, [submission.transcript_seq],
                    messages)

    def _delivery(self, step: Step, message: Any, *, reply: str = "accept") -> None:
        """The party under test is the recipient: its webhook must answer the DIP's delivery of `message`
        (`reply`: "accept" 201 and RCP0000, or "any" clean answer), naming the message it answers."""
        recipient = self._sender_id(self.host.role)
        tx = message.transaction_id
        bound = self.bound(step)
        delivery = self._wait_delivery(lambda d: d.recipient == recipient and tx in d.transaction_ids and not d.replay,
                                       bound)
        attempts = list(delivery.transcript_seqs) if delivery is not None else []
        messages = self._seqs(message) + self.hub.evidence_seqs(attempts)
        args = {"attempts": attempts, "reply": reply, "label": business.message_label(message.item),
                "role": self.host.role, "recipient": recipient, "bound": bound}
        records = [message.transcript_seq] + attempts
        self._judge(step, "exchange.delivery", "exchange.delivery", args, records, messages)
        if delivery is not None:
            self._judge(step, "exchange.reply", "exchange.reply", args, records, messages)

    # -- waiting and recording -------------------------------------------------------------------

    def _wait(self, predicate: Callable[[Any], bool], timeout: float) -> Any:
        try:
            return self.hub.wait_for(predicate, timeout)
        except TimeoutError:
            return None

    def _wait_delivery(self, predicate: Callable[[Any], bool], timeout: float) -> Any:
        try:
            return self.hub.wait_for_delivery(predicate, timeout)
        except TimeoutError:
            return None

    def _timeout(self, step: Step, bound: float, messages: list[int], detail: str) -> None:
        who = f"{step.sender} {self._sender_id(step.sender)}"
        finding = Finding("exchange.timeout", "", f"{step.label} from {who} within {bound:g} s",
                          f"nothing within {bound:g} s",
                          f"{step.label} (step {step.name!r}) for MPAN {self.mpans[step.mpan]}: nothing from {who} "
                          f"accepted by the hub within {bound:g} s (expected {detail})"
                          if step.expect != "request" else
                          f"{step.label} (step {step.name!r}) for MPAN {self.mpans[step.mpan]}: nothing from {who} "
                          f"accepted by the hub within {bound:g} s ({detail})")
        self._check(step, "exchange.timeout", [finding], messages, bound_s=bound)
        self.aborted = True

    def _refused(self, step: Step, rejection: Any, trigger: list[int]) -> None:
        """The sender did send, and the DIP refused it: the finding carries the DIP's MSG code and reasons."""
        who = f"{step.sender} {self._sender_id(step.sender)}"
        seqs = ([rejection.seq] if rejection.seq is not None else []) + trigger
        args = {"seq": rejection.transcript_seq, "prefix": f"{step.label} (step {step.name!r}) from {who}: the DIP "
                f"refused it", "fallback": "exchange.request"}
        self._judge(step, "exchange.request", "submission.rejected", args, [rejection.transcript_seq], seqs,
                    status=rejection.status, codes=rejection.codes)
        self.aborted = True

    def _received_check(self, step: Step, submission: Any, records: list[int | None], messages: list[int]) -> None:
        """The step's message arrived: the DIP accepted it from the step's sender."""
        args = {"message": _ref(submission), "sender": self._sender_id(step.sender), "interface": step.interface,
                "event": step.event}
        self._judge(step, "exchange.timeout", "exchange.received", args, records, messages,
                    received_at=self._received(submission))

    def _judge(self, step: Step, rule: str, judge: str, args: dict[str, Any], records: list[int | None],
               messages: list[int], *, scan: tuple[int, int] | None = None, **data: Any) -> None:
        """A check judged from the DIP's records (`harness.judges`), recorded with its judge, so that verify
        can judge the DIP's signed transcript the same way."""
        seqs = sorted({s for s in records if isinstance(s, int)})
        findings = apply_judge(judge, self.hub.record_set(seqs, scan), args)
        self._check(step, rule, findings, messages, judge=judge, judge_args=args, transcript=seqs,
                    transcript_scan=list(scan) if scan else None, **data)

    def _check(self, step: Step, rule: str, findings: list[Finding], messages: list[int], *,
               judge: str | None = None, judge_args: dict[str, Any] | None = None, transcript: list[int] | None = None,
               transcript_scan: list[int] | None = None, **data: Any) -> None:
        findings = business.provisional(findings)
        passed = not [f for f in findings if f.severity == "error"]
        self.result.checks.append((rule, passed))
        if not passed:
            self.result.passed = False
            self.result.findings.extend(findings)
        if self.host.recorder is not None:
            judged = {"judge": judge, "judge_args": judge_args, "transcript": transcript,
                      "transcript_scan": transcript_scan} if judge is not None else {}
            self.host.recorder.check(self.requirement, rule, passed, findings, messages=messages,
                                     exchange=self.exchange.name, step=step.name, interface=step.interface,
                                     event=step.event, mpan=self.mpans[step.mpan], **judged, **data)

    def _event(self, kind: str, **data: Any) -> None:
        if self.host.recorder is not None:
            self.host.recorder.event(kind, requirement=self.requirement, exchange=self.exchange.name, **data)

    def _context(self, step: Step) -> dict:
        return {"requirement": self.requirement, "exchange": self.exchange.name, "step": step.name,
                "interface": step.interface, "event": step.event}

    @staticmethod
    def _seqs(submission: Any) -> list[int]:
        return [submission.seq] if submission is not None and submission.seq is not None else []

    @staticmethod
    def _received(submission: Any) -> str:
        return submission.received_at.isoformat()


def _ref(submission: Any) -> dict[str, Any]:
    """How a judge's arguments name a message: its DIP transcript record and its place in the body."""
    return {"seq": submission.transcript_seq, "index": submission.index}


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def _seconds_between(request: Any, answer: Any) -> float:
    """Seconds from the DIP's acceptance of `request` to its acceptance of `answer` (its own clock; 0
    when either time is unknown)."""
    asked, answered = getattr(request, "received_at", None), getattr(answer, "received_at", None)
    if not isinstance(asked, datetime) or not isinstance(answered, datetime):
        return 0.0
    return max(0.0, (answered - asked).total_seconds())
