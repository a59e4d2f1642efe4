"""The paired SDS-MDR exchange: definitions as data, and the runner that drives and judges them.

An exchange (`scenarios/exchanges/<name>.toml`) is an ordered list of steps. A `request` step asks
the party playing its sender role to send one message (`host.send`); every other step waits for
what the partner does about it, watching the hub (`hub.wait_for`, bounded and event-based), and
judges it with the business rules of `harness.business`. The runner never trusts what a trigger
says it did: it finds messages among the hub's accepted submissions by sender, interface, event,
MPAN and correlation (`business.CorrelationRule.matches`). Each request carries a correlation id
of its own, so an answer carrying another request's id is an answer to the wrong message.

What the party under test does is judged besides the business rules: every message it sends
carries the run's environment tag (`environment.tag`); every message the DIP delivers to it is
answered on its webhook, with StandardResponse entries naming the delivered message
(`exchange.delivery`, `exchange.reply`). An exchange in which the party under test performed none
of its own steps never passes (`exchange.vacuous`).

A `scheduled` answer (consumption after an accepted start) is not a direct reply: the MDR sends it
on its own schedule. The run's `[exchange] consumption` profile setting says how the harness gets
it: `triggered` (default: the MDR's IF-064 trigger is asked for the MPAN) or `spontaneous` (the
harness waits `spontaneous_within` seconds for it).

Bounds: a step waits at most `host.step_timeout` seconds. A definition's `timeout` may shorten
that bound for its step but never lengthen it: the host's value (from the participant's profile)
is the ceiling, so one profile setting bounds a whole run. A `nothing` step (shows that the
partner did *not* send something, e.g. consumption after a stop) watches for as long as the partner's
own answers take: `REACTION_FACTOR` times the slowest direct answer it gave in this exchange (request
accepted to answer accepted, on the DIP's clock), at least the quiet window (`QUIET_WINDOW`, 0.25 s)
and at most the step's bound; a step's `window` fixes it instead. The window runs from the moment the
latest request was accepted, so time spent on the steps since counts; when it is over the DIP is asked
for its records up to now, so a message it accepted in time is never missed. After a timeout the
exchange stops: later steps are `skipped` (they would only time out too).

Only steps whose interface both parties enabled run; the others are `not-enabled`, and so is any
step answering a request that did not run. The plan enables an exchange for a party only when the
opening request and every step the party itself sends are enabled (`exchange_enabled`). Every
judgement is recorded as a check record on the exchange's requirement (`host.recorder.check`),
naming the hub-inbound records it judged.
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
from harness.judges import apply as apply_judge
from harness.judges.exchange import CONSUMPTION_RULES as _CONSUMPTION, REPLIES, unwanted

UTC = timezone.utc
QUIET_WINDOW = 0.25  # seconds: the least a negative check watches for what must not arrive
REACTION_FACTOR = 3.0  # ... and it watches this many times the slowest answer the party gave

# What a step expects; `request` steps are sent on request, every other one is awaited.
EXPECTATIONS: dict[str, str] = {
    "request": "the harness asks the sender to send it; passes when the hub accepted it",
    "accepted": "an IF-062 answering the request with R0.responseCode A, echoing its blocks",
    "rejected": "an IF-062 answering the request with R0.responseCode R and a reason",
    "answer": "an answer to the request, correlated with it",
    "consumption": "an IF-064 for the request's MPAN: quantity, 48 UTC periods per day, complete past days "
                   "inside the start/stop window",
    "nothing": "no such message for the MPAN (after `after`) while the partner's answers would come: "
               "3 x its slowest answer in the exchange, at least 0.25 s",
}
ANSWERS = ("accepted", "rejected", "answer", "consumption")  # steps that answer their request
# The rule a `nothing` step reports when the message does arrive.
NOTHING_RULES = ("exchange.after-stop", "exchange.reject", "exchange.unstarted")
# Which MPAN a step concerns: the exchange's own, or a second one that no request of the exchange starts.
MPANS = ("exchange", "unstarted")
# The consumption rules every IF-064 answer is judged by (before-start and after-stop when they bind).
CONSUMPTION_RULES = [r for r in _CONSUMPTION if r not in ("exchange.before-start", "exchange.after-stop")]
CONSUMPTION_MODES = ("triggered", "spontaneous")
STEP_KEYS = {"name", "sender", "interface", "event", "expect", "timeout", "fields", "rule", "window", "after",
             "scheduled", "reply", "mpan"}
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
    window: float | None = None  # `nothing` steps: a fixed window in seconds (default: watch_window)
    after: str | None = None  # `nothing` steps: only messages after this step's request count
    request: str | None = None  # non-request steps: the request step they answer (the latest before them)
    scheduled: bool = False  # answer steps: sent on the sender's own schedule, not as a direct reply
    reply: str = "accept"  # request steps: how the recipient's webhook must answer the delivery (REPLIES)
    mpan: str = "exchange"  # request and nothing steps: which of the exchange's MPANs (MPANS)

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

    def own_steps(self, role: str) -> tuple[Step, ...]:
        """The steps a party of `role` performs itself: what it sends (not what it must refrain from)."""
        return tuple(s for s in self.steps if s.sender == role and s.expect != "nothing")

    def answer_pairs(self) -> list[tuple[Step, Step]]:
        """(request, answer) for every step answering a request: IF-061 -> IF-062, IF-065 -> IF-064, ..."""
        return [(self.step(s.request), s) for s in self.steps if s.expect in ANSWERS and s.request]

    def rules(self) -> set[str]:
        """Every finding rule the runner may judge this exchange by (for the assumptions it rests on)."""
        rules = {"exchange.timeout", "environment.tag", "exchange.delivery", "exchange.reply"}
        for step in self.steps:
            if step.expect in ("accepted", "rejected"):
                rules |= {"exchange.correlation", "exchange.echo",
                          "exchange.accept" if step.expect == "accepted" else "exchange.reject"}
            elif step.expect == "answer":
                rules.add("exchange.correlation")
            elif step.expect == "consumption":
                rules |= {"exchange.correlation", "exchange.measurement-quantity", "periods.count",
                          "periods.sequence", "periods.utc", "periods.duration", "periods.quantity",
                          "consumption.complete-days", "exchange.before-start", "exchange.after-stop"}
            elif step.expect == "nothing" and step.rule:
                rules.add(step.rule)
        return rules

    def assumptions(self, catalogue: Catalogue | None = None) -> tuple[str, ...]:
        """The catalogue assumptions a verdict on this exchange rests on, sorted: those of its events
        (IF-065 directions), of its rules (A-ECHO, A-PERIODS-48, ...), and A-CONSUMPTION-RESPONSE
        when an IF-065 consumption request is answered by an IF-064."""
        catalogue = catalogue or load_catalogue()
        found = {a for rule in self.rules() if (a := catalogue.assumption_for_rule(rule))}
        for step in self.steps:
            event = catalogue.event(step.interface, step.event)
            if event.assumption:
                found.add(event.assumption)
        for request, answer in self.answer_pairs():
            if request.interface == "IF-065" and answer.interface == "IF-064" \
                    and "A-CONSUMPTION-RESPONSE" in catalogue.assumptions:
                found.add("A-CONSUMPTION-RESPONSE")
        return tuple(sorted(found))


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
    scheduled = raw.get("scheduled", False)
    if not isinstance(scheduled, bool):
        raise ConfigError(f"{where}: key 'scheduled' should be true or false, got {scheduled!r}")
    if scheduled and expect not in ("answer", "consumption"):
        raise ConfigError(f"{where}: key 'scheduled' applies to expect = \"answer\" or \"consumption\" steps only")
    reply = raw.get("reply", "accept")
    if reply not in REPLIES:
        raise ConfigError(f"{where}: key 'reply' should be one of {', '.join(REPLIES)}, got {reply!r}")
    if "reply" in raw and expect != "request":
        raise ConfigError(f"{where}: key 'reply' applies to expect = \"request\" steps only")
    mpan = raw.get("mpan", "exchange")
    if mpan not in MPANS:
        raise ConfigError(f"{where}: key 'mpan' should be one of {', '.join(MPANS)}, got {mpan!r}")
    if mpan != "exchange" and expect not in ("request", "nothing"):
        raise ConfigError(f"{where}: key 'mpan' applies to request and nothing steps (an answer has its request's)")

    # The request a step depends on: the latest before it, or a `nothing` step's `after`.
    request = (after or requests[-1].name) if expect != "request" else None
    return Step(name, sender, event.interface_id, event.name, expect, seconds("timeout"), dict(fields), rule,
                window, request if expect == "nothing" else None, request, scheduled, reply, mpan)


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


def exchange_enabled(exchange: Exchange, enabled: set[str], role: str | None = None) -> bool:
    """An exchange runs when its opening request's interface is enabled by both parties and, given the
    role of the party under test, when that party enabled every step it performs itself (`own_steps`).

    An exchange in which the party would send nothing, or only part of what it must send, is not an
    exchange of that party: it is `not-enabled` rather than a pass that proves nothing.
    """
    enabled = set(enabled)
    if not step_enabled(exchange.steps[0], enabled):
        return False
    return role is None or all(step_enabled(s, enabled) for s in exchange.own_steps(role))


def unanswered_requests(enabled: Iterable[str], exchanges: Iterable[Exchange] | None = None
                        ) -> list[tuple[str, str, list[str]]]:
    """(request interface, answer interface, exchanges) where a profile enables a request but not its
    answer, derived from the definitions (IF-061 without IF-062, IF-065 without IF-064, ...)."""
    enabled = set(enabled)
    gaps: dict[tuple[str, str], list[str]] = {}
    for exchange in exchanges if exchanges is not None else bundled_exchanges():
        for request, answer in exchange.answer_pairs():
            if request.interface in enabled and answer.interface not in enabled:
                names = gaps.setdefault((request.interface, answer.interface), [])
                if exchange.name not in names:
                    names.append(exchange.name)
    return [(req, ans, names) for (req, ans), names in sorted(gaps.items())]


def watch_window(reaction: float, floor: float, bound: float) -> float:
    """How long a negative check watches: REACTION_FACTOR x `reaction` (the party's slowest answer, in
    seconds on the DIP's clock), at least `floor` (the quiet window), at most `bound`."""
    return min(bound, max(floor, REACTION_FACTOR * reaction))


# --- the host the runner talks to ---------------------------------------------------------------

class ExchangeHost(Protocol):
    """What the runner needs from a run (`harness.run.context.RunContext` implements it).

    Optional attributes read when present: `enabled_interfaces`, `quiet_window`, and `profile`
    (its `environment` and `exchange` settings: consumption mode and window).
    """

    role: str  # role of the party under test; the other role is its partner
    hub: Any  # harness.dip.client.RemoteHub: the run's DIP session (records, waits, record sets)
    recorder: Any  # Recorder | None
    step_timeout: float

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
        own = [(s, o) for s, o in zip(self.exchange.steps, self.result.steps) if s.sender == role and s.expect != "nothing"]
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
        base = {"answer": _ref(answer), "request": _ref(request), "others": others}
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
        args = {"rule": step.rule or "exchange.reject", "mpan": mpan, "sender": self._sender_id(step.sender),
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
