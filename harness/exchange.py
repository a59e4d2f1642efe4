"""The paired SDS-MDR exchange: definitions as data, and the runner that drives and judges them.

An exchange (`scenarios/exchanges/<name>.toml`) is an ordered list of steps. A `request` step asks
the party playing its sender role to send one message (`host.send`); every other step waits for
what the partner does about it, watching the hub (`hub.wait_for`, bounded and event-based), and
judges it with the business rules of `harness.business`. The runner never trusts what a trigger
says it did: it finds messages among the hub's accepted submissions by sender, interface, event,
MPAN and correlation (`business.CorrelationRule.matches`).

Bounds: a step waits at most `host.step_timeout` seconds. A definition's `timeout` may shorten
that bound for its step but never lengthen it: the host's value (from the participant's profile)
is the ceiling, so one profile setting bounds a whole run. A `nothing` step (shows that the
partner did *not* send something, e.g. consumption after a stop) waits a short quiet window:
the step's `window`, else `QUIET_WINDOW` (1 s), also capped by the step's bound. After a timeout
the exchange stops: later steps are `skipped` (they would only time out too).

Only steps whose interface both parties enabled run; the others are `not-enabled`, and so is any
step answering a request that did not run. Every judgement is recorded as a check record on the
exchange's requirement (`host.recorder.check`), naming the hub-inbound records it judged.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from harness import business
from harness.catalogue import Catalogue, load_catalogue
from harness.errors import ConfigError, DipcertError
from harness.files import read_toml
from harness.findings import Finding, short
from harness.messages.access import dig
from harness.messages.ids import LONDON, correlation_id, dip_timestamp, make_mpan
from harness.paths import scenarios_dir

UTC = timezone.utc
QUIET_WINDOW = 1.0  # seconds a `nothing` step watches for what must not arrive (default)

# What a step expects; `request` steps are sent on request, every other one is awaited.
EXPECTATIONS: dict[str, str] = {
    "request": "the harness asks the sender to send it; passes when the hub accepted it",
    "accepted": "an IF-062 answering the request with R0.responseCode A, echoing its blocks",
    "rejected": "an IF-062 answering the request with R0.responseCode R and a reason",
    "answer": "an answer to the request, correlated with it",
    "consumption": "an IF-064 for the request's MPAN: quantity, 48 UTC periods per day, start/stop window",
    "nothing": "no such message for the MPAN within the quiet window (after `after`)",
}
# The rule a `nothing` step reports when the message does arrive.
NOTHING_RULES = ("exchange.after-stop", "exchange.reject")
STEP_KEYS = {"name", "sender", "interface", "event", "expect", "timeout", "fields", "rule", "window", "after"}
EXCHANGE_KEYS = {"title", "description", "step"}
_PLACEHOLDER = re.compile(r"^\{day(?P<offset>[+-]\d{1,3})?\}$")


# --- definitions ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    name: str
    sender: str  # role, from the catalogue
    interface: str
    event: str  # without brackets
    expect: str
    timeout: float | None = None
    fields: dict = field(default_factory=dict, compare=False)
    rule: str | None = None  # `nothing` steps: the rule an unwanted message breaks
    window: float | None = None  # `nothing` steps: quiet window in seconds
    after: str | None = None  # `nothing` steps: only messages after this step's request count
    request: str | None = None  # non-request steps: the request step they answer (the latest before them)

    @property
    def code(self) -> str:
        return f"[{self.event}]"

    @property
    def label(self) -> str:
        return f"{self.interface} [{self.event}]"


@dataclass(frozen=True)
class Exchange:
    name: str
    title: str
    description: str
    steps: tuple[Step, ...]
    source: Path

    @property
    def interfaces(self) -> set[str]:
        """Every interface id the steps use."""
        return {s.interface for s in self.steps}

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)


def load_exchanges(folder: Path | None = None, *, catalogue: Catalogue | None = None) -> list[Exchange]:
    """Every `*.toml` in `folder` (default: the bundled scenarios/exchanges), sorted by file name."""
    folder = Path(folder) if folder is not None else scenarios_dir() / "exchanges"
    if not folder.is_dir():
        raise ConfigError(f"{folder}: exchange definitions folder not found")
    catalogue = catalogue or load_catalogue()
    exchanges = [load_exchange(path, catalogue=catalogue) for path in sorted(folder.glob("*.toml"))]
    if not exchanges:
        raise ConfigError(f"{folder}: no exchange definitions (*.toml)")
    return exchanges


@lru_cache(maxsize=1)
def bundled_exchanges() -> tuple[Exchange, ...]:
    """The bundled definitions, read once: the plan, the runner and `verify` all ask for them."""
    return tuple(load_exchanges())


def exchange_named(name: str) -> Exchange:
    """A bundled exchange by its name (the last part of an exchange requirement's id)."""
    found = next((e for e in bundled_exchanges() if e.name == name), None)
    if found is None:
        raise ConfigError(f"no exchange definition named {name!r} in {scenarios_dir() / 'exchanges'}")
    return found


def load_exchange(path: Path, *, catalogue: Catalogue | None = None) -> Exchange:
    """One definition file; a bad one raises a one-line ConfigError naming the file and the key."""
    return _parse(read_toml(Path(path), "exchange definition"), Path(path), catalogue or load_catalogue())


def _parse(data: dict, source: Path, catalogue: Catalogue) -> Exchange:
    unknown = sorted(set(data) - EXCHANGE_KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r} (expected: {', '.join(sorted(EXCHANGE_KEYS))})")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ConfigError(f"{source}: key 'title' should be a non-empty string")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{source}: key 'description' should be a string")
    raw_steps = data.get("step")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ConfigError(f"{source}: no [[step]] entries")
    steps: list[Step] = []
    for i, raw in enumerate(raw_steps):
        steps.append(_parse_step(raw, f"{source}: step[{i}]", catalogue, steps))
    return Exchange(source.stem, title.strip(), description.strip(), tuple(steps), source)


def _parse_step(raw: Any, where: str, catalogue: Catalogue, before: list[Step]) -> Step:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} should be a table")
    unknown = sorted(set(raw) - STEP_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (expected: {', '.join(sorted(STEP_KEYS))})")

    def text(key: str, required: bool = True) -> str | None:
        value = raw.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: key {key!r} should be a non-empty string")
        return value.strip()

    def seconds(key: str) -> float | None:
        value = raw.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 3600:
            raise ConfigError(f"{where}: key {key!r} should be a number of seconds in (0, 3600], got {value!r}")
        return float(value)

    name = text("name")
    if any(s.name == name for s in before):
        raise ConfigError(f"{where}: key 'name' {name!r} is used by an earlier step")
    try:
        event = catalogue.event(text("interface"), text("event", required=False))
    except DipcertError as exc:
        raise ConfigError(f"{where}: key 'interface'/'event': {exc}") from None
    sender = text("sender", required=False) or event.sender
    if sender != event.sender:
        raise ConfigError(f"{where}: key 'sender' is {sender!r} but the catalogue says {event.key} is sent by "
                          f"{event.sender}")
    expect = text("expect")
    if expect not in EXPECTATIONS:
        raise ConfigError(f"{where}: key 'expect' should be one of {', '.join(EXPECTATIONS)}, got {expect!r}")
    requests = [s for s in before if s.expect == "request"]
    if expect != "request" and not requests:
        raise ConfigError(f"{where}: key 'expect' is {expect!r} but no request step comes before it")
    fields = raw.get("fields", {})
    if not isinstance(fields, dict):
        raise ConfigError(f"{where}: key 'fields' should be a table")
    if fields and expect != "request":
        raise ConfigError(f"{where}: key 'fields' applies to request steps only")
    _check_placeholders(fields, f"{where}: key 'fields'")
    rule = text("rule", required=False)
    after = text("after", required=False)
    window = seconds("window")
    if expect == "nothing":
        if rule not in NOTHING_RULES:
            raise ConfigError(f"{where}: key 'rule' should be one of {', '.join(NOTHING_RULES)}, got {rule!r}")
        if after is not None and not any(s.name == after and s.expect == "request" for s in before):
            raise ConfigError(f"{where}: key 'after' should name an earlier request step, got {after!r}")
    elif rule is not None or after is not None or window is not None:
        key = "rule" if rule is not None else "after" if after is not None else "window"
        raise ConfigError(f"{where}: key {key!r} applies to expect = \"nothing\" steps only")
    # The request a step depends on: the latest before it, or a `nothing` step's `after`.
    request = (after or requests[-1].name) if expect != "request" else None
    return Step(name, sender, event.interface_id, event.name, expect, seconds("timeout"), dict(fields), rule,
                window, request if expect == "nothing" else None, request)


def _check_placeholders(value: Any, where: str) -> None:
    if isinstance(value, dict):
        for v in value.values():
            _check_placeholders(v, where)
    elif isinstance(value, list):
        for v in value:
            _check_placeholders(v, where)
    elif isinstance(value, str) and value.startswith("{") and value.endswith("}") and not _PLACEHOLDER.match(value):
        raise ConfigError(f"{where}: unknown placeholder {value!r} (expected {{day}}, {{day-N}} or {{day+N}})")


def resolve_fields(value: Any, today: date) -> Any:
    """`{day-2}` -> DT-003 of that day's local midnight (Europe/London), `today` being the UTC date."""
    if isinstance(value, dict):
        return {k: resolve_fields(v, today) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_fields(v, today) for v in value]
    if isinstance(value, str) and (m := _PLACEHOLDER.match(value)):
        day = today + timedelta(days=int(m["offset"] or 0))
        return dip_timestamp(datetime(day.year, day.month, day.day, tzinfo=LONDON))
    return value


def step_enabled(step: Step, enabled: set[str] | None) -> bool:
    return enabled is None or step.interface in enabled


def exchange_enabled(exchange: Exchange, enabled: set[str]) -> bool:
    """An exchange runs when its opening request's interface is enabled by both parties."""
    return step_enabled(exchange.steps[0], set(enabled))


# --- the host the runner talks to ---------------------------------------------------------------

class ExchangeHost(Protocol):
    """What the runner needs from a run (`harness.run.context.RunContext` implements it)."""

    role: str  # role of the party under test; the other role is its partner
    hub: Any  # harness.transport.hub.Hub, started, both parties registered
    recorder: Any  # Recorder | None
    step_timeout: float

    def party(self, role: str) -> Any: ...  # .role .dip_id .mpid

    def send(self, role: str, interface_id: str, event: str | None, *, mpan: str | None = None,
             correlation_id: str | None = None, fields: dict | None = None,
             context: dict | None = None) -> Any: ...  # SendResult(ok, detail, seq)


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
        self.mpan = make_mpan(rng)
        self.correlation = correlation_id(datetime.now(UTC), rng)
        self.result = ExchangeResult(exchange.name, requirement, True)
        self.found: dict[str, Any] = {}  # request step name -> its Submission
        self.marks: dict[str, set[int]] = {}  # request step name -> ids of submissions older than it
        self.used: set[str] = set()  # transaction ids already judged by a step
        self.start: date | None = None
        self.stop: date | None = None
        self.direction: str | None = None
        self.aborted = False

    # -- driving ---------------------------------------------------------------------------------

    def go(self) -> ExchangeResult:
        self._event("exchange.start", mpan=self.mpan, correlation_id=self.correlation,
                    steps=[s.name for s in self.exchange.steps])
        for step in self.exchange.steps:
            outcome = self._step(step)
            self.result.steps.append(outcome)
            if outcome.status in ("not-enabled", "skipped"):
                self._event("exchange.step", step=step.name, interface=step.interface, event=step.event,
                            status=outcome.status)
        self._event("exchange.end", passed=self.result.passed,
                    steps={o.name: o.status for o in self.result.steps})
        return self.result

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
        fields = resolve_fields(step.fields, datetime.now(UTC).date()) if step.fields else None
        sent = self.host.send(step.sender, step.interface, step.event, mpan=self.mpan,
                              correlation_id=self.correlation, fields=fields,
                              context=self._context(step))
        ours = self._of_step(step, self._sender_id(step.sender))
        # Nobody could be asked (no trigger at all): nothing can arrive, so the bound is not waited out.
        asked = getattr(sent, "ok", True) or getattr(sent, "seq", None) is not None
        submission = self._wait(lambda s: id(s) not in before and ours(s) and business.mpan_of(s.item) == self.mpan,
                                bound if asked else 0.0)
        trigger = [sent.seq] if getattr(sent, "seq", None) is not None else []
        if submission is None:
            rejected = [f"{r.status} {','.join(r.codes)}" for r in self.hub.rejections()[-3:]]
            self._timeout(step, bound, trigger, f"trigger: {getattr(sent, 'detail', '?')}"
                          + (f"; hub rejected: {'; '.join(rejected)}" if rejected else ""))
            return trigger
        self.used.add(submission.transaction_id)
        self.found[step.name] = submission
        self.marks[step.name] = before
        item = submission.item
        if step.interface == "IF-061":
            custom = dig(item, "payload", "CustomBlock")
            self.start = business.day_of(dig(custom, "B019", "assignedMDREffectiveFromDate"))
            self.direction = dig(custom, "B078", "energyDirection")
        elif step.interface == "IF-063":
            self.stop = business.day_of(dig(item, "payload", "CustomBlock", "B083", "assignedMDREffectiveToDate"))
        messages = self._seqs(submission) + trigger
        self._check(step, "exchange.timeout", [], messages, received_at=self._received(submission))
        return messages

    def _answer(self, step: Step) -> list[int]:
        request = self.found[step.request]
        before = self.marks[step.request]
        bound = self.bound(step)
        ours = self._of_step(step, self._sender_id(step.sender))
        answer = self._wait(lambda s: id(s) not in before and ours(s) and self.rule.matches(request.item, s.item),
                            bound)
        if answer is None:
            self._timeout(step, bound, self._seqs(request), f"no answer to {business.message_label(request.item)}")
            return self._seqs(request)
        self.used.add(answer.transaction_id)
        messages = self._seqs(answer) + self._seqs(request)
        index, item = answer.index, answer.item
        self._check(step, "exchange.timeout", [], messages, received_at=self._received(answer))
        judged: list[tuple[str, list[Finding]]] = [
            ("exchange.correlation", business.check_correlation(request.item, item, index=index, rule=self.rule))]
        if step.expect == "accepted":
            judged += [("exchange.accept", business.check_accepted(item, index=index)),
                       ("exchange.echo", business.check_echo(request.item, item, index=index))]
        elif step.expect == "rejected":
            judged += [("exchange.reject", business.check_rejected(item, index=index)),
                       ("exchange.echo", business.check_echo(request.item, item, index=index))]
        elif step.expect == "consumption":
            judged += self._consumption_rules(item, index, after_stop=self._after_stop(answer))
        for rule, findings in judged:
            self._check(step, rule, findings, messages)
        if self.host.role != step.sender:
            self._delivery(step, answer)
        return messages

    def _consumption_rules(self, item: dict, index: int, *, after_stop: bool) -> list[tuple[str, list[Finding]]]:
        found = business.check_consumption(item, direction=self.direction, start=self.start,
                                           stop=self.stop if after_stop else None, index=index)
        rules = ["exchange.measurement-quantity", "periods.count", "periods.sequence", "periods.utc",
                 "periods.duration", "periods.quantity"]
        if self.start is not None:
            rules.append("exchange.before-start")
        if after_stop:
            rules.append("exchange.after-stop")
        return [(rule, [f for f in found if f.rule == rule]) for rule in rules]

    def _after_stop(self, submission: Any) -> bool:
        """Was `submission` accepted after this exchange's stop request (so the stop date binds it)?"""
        stop_step = next((name for name, s in self.found.items() if s.interface_id == "IF-063"), None)
        return self.stop is not None and stop_step is not None and id(submission) not in self.marks[stop_step] \
            and submission is not self.found[stop_step]

    def _nothing(self, step: Step) -> list[int]:
        after = step.after
        before = self.marks.get(after, set()) if after else set()
        window = min(step.window or self.quiet, self.bound(step))
        ours = self._of_step(step, self._sender_id(step.sender))
        if step.rule == "exchange.after-stop":
            if self.stop is None:
                return []  # no stop was accepted: nothing to hold the partner to
            stop = self.stop

            def unwanted(item: dict) -> list[Finding]:
                return business.check_consumption_window(item, stop=stop)
        else:
            def unwanted(item: dict) -> list[Finding]:
                return business.check_not_sent(item, rule=step.rule or "exchange.reject",
                                               why="which the MDR was asked to start and should have rejected")
        match = lambda s: (id(s) not in before and ours(s) and business.mpan_of(s.item) == self.mpan  # noqa: E731
                           and bool(unwanted(s.item)))
        first = self._wait(match, window)
        request_seqs = self._seqs(self.found[after]) if after in self.found else []
        if first is None:
            self._check(step, step.rule or "exchange.reject", [], request_seqs, window_s=window)
            return request_seqs
        offenders = [s for s in self.hub.received() if match(s)]
        findings = []
        for s in offenders:
            self.used.add(s.transaction_id)
            findings += [f for f in business.labelled(
                [_reindex(f, s.index) for f in unwanted(s.item)], s.item) if f.rule == step.rule]
        messages = [q for s in offenders for q in self._seqs(s)] + request_seqs
        self._check(step, step.rule or "exchange.reject", findings, messages, window_s=window)
        return messages

    def _delivery(self, step: Step, answer: Any) -> None:
        """The party under test is the recipient: its webhook must have accepted the answer."""
        recipient = self._sender_id(self.host.role)
        tx = answer.transaction_id
        bound = self.bound(step)
        delivery = self._wait_delivery(lambda d: d.recipient == recipient and tx in d.transaction_ids and not d.replay,
                                       bound)
        label = business.message_label(answer.item)
        messages = self._seqs(answer)
        if delivery is None:
            findings = [Finding("exchange.delivery", "", "delivered and accepted (201)", f"no delivery within {bound:g} s",
                                f"{label}: the hub did not finish delivering it to {self.host.role} {recipient} "
                                f"within {bound:g} s")]
        else:
            messages += [a.seq for a in delivery.result.responses if a.seq is not None]
            findings = [] if delivery.outcome == "accepted" else [Finding(
                "exchange.delivery", "", "accepted (201 StandardResponse)",
                f"{delivery.outcome} (HTTP {delivery.result.status}, codes {short(delivery.result.codes)})",
                f"{label}: the {self.host.role}'s webhook {delivery.url} answered the delivery "
                f"{delivery.outcome} (HTTP {delivery.result.status})")]
        self._check(step, "exchange.delivery", findings, messages)

    # -- waiting and recording -------------------------------------------------------------------

    def _wait(self, predicate: Callable[[Any], bool], timeout: float) -> Any:
        from harness.transport.hub import HubTimeout

        try:
            return self.hub.wait_for(predicate, timeout)
        except HubTimeout:
            return None

    def _wait_delivery(self, predicate: Callable[[Any], bool], timeout: float) -> Any:
        from harness.transport.hub import HubTimeout

        try:
            return self.hub.wait_for_delivery(predicate, timeout)
        except HubTimeout:
            return None

    def _timeout(self, step: Step, bound: float, messages: list[int], detail: str) -> None:
        who = f"{step.sender} {self._sender_id(step.sender)}"
        finding = Finding("exchange.timeout", "", f"{step.label} from {who} within {bound:g} s",
                          f"nothing within {bound:g} s",
                          f"{step.label} (step {step.name!r}) for MPAN {self.mpan}: nothing from {who} "
                          f"accepted by the hub within {bound:g} s ({detail})")
        self._check(step, "exchange.timeout", [finding], messages, bound_s=bound)
        self.aborted = True

    def _check(self, step: Step, rule: str, findings: list[Finding], messages: list[int], **data: Any) -> None:
        passed = not [f for f in findings if f.severity == "error"]
        self.result.checks.append((rule, passed))
        if not passed:
            self.result.passed = False
            self.result.findings.extend(findings)
        if self.host.recorder is not None:
            self.host.recorder.check(self.requirement, rule, passed, findings, messages=messages,
                                     exchange=self.exchange.name, step=step.name, interface=step.interface,
                                     event=step.event, mpan=self.mpan, **data)

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


def _reindex(finding: Finding, index: int) -> Finding:
    """A finding computed on item 0 moved to item `index` of its wire body."""
    if index == 0 or not finding.path.startswith("/0/"):
        return finding
    from dataclasses import replace

    return replace(finding, path=f"/{index}/" + finding.path[3:])
