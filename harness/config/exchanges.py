"""The paired SDS-MDR exchanges as data: `scenarios/exchanges/<name>.toml`, read and checked here.

An exchange is an ordered list of steps. A `request` step asks the party playing its sender role to
send one message; every other step says what the partner must do about it (EXPECTATIONS): accept,
reject, answer, send consumption inside the start/stop window, or send *nothing* (a quiet window,
as long as the partner's own answers take, at least `QUIET_WINDOW`, unless the step's `window` says
otherwise: `harness.run.exchange.watch_window`). The engine half, which drives an
exchange through the DIP and judges it, is `harness.run.exchange`; the judgements themselves are
`harness.judges.exchange`, pure functions of the DIP's records.

Kept beside the profile because a profile's enabled interfaces decide which exchanges run: only
steps whose interface both parties enabled run, and the plan enables an exchange for a party only
when the opening request and every step the party itself sends are enabled (`exchange_enabled`).
A profile that enables a request without its answer gets a warning (`unanswered_requests`).

A `scheduled` answer (consumption after an accepted start) is not a direct reply: the MDR sends it
on its own schedule; the profile's `[exchange] consumption` says whether the harness asks for it
(`triggered`) or waits for it (`spontaneous`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from harness.core.catalogue import Catalogue, load_catalogue
from harness.core.errors import ConfigError, DipcertError
from harness.core.files import read_toml
from harness.core.paths import scenarios_dir
from harness.judges.exchange import CONSUMPTION_RULES as _CONSUMPTION
from harness.judges.exchange import REPLIES
from harness.messages.ids import LONDON, dip_timestamp

UTC = timezone.utc
QUIET_WINDOW = 0.25  # seconds: the least a negative check watches for what must not arrive

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
    window: float | None = None  # `nothing` steps: a fixed window in seconds (default: run.exchange.watch_window)
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

    def text(key: str) -> str:
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: key {key!r} should be a non-empty string")
        return value.strip()

    def optional_text(key: str) -> str | None:
        return None if raw.get(key) is None else text(key)

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
        event = catalogue.event(text("interface"), optional_text("event"))
    except DipcertError as exc:
        raise ConfigError(f"{where}: key 'interface'/'event': {exc}") from None
    sender = optional_text("sender") or event.sender
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
    rule = optional_text("rule")
    after = optional_text("after")
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
