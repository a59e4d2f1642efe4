"""Was a replay processed twice? Watching the hub for a second answer to a replayed request.

Assumption A-REPLAY: a participant acknowledges a re-delivered transaction (same D0.transactionID,
replayIndicator true) and does not process it again. Processing is mostly invisible from outside,
except where the participant answers: the MDR answers IF-061 with IF-062, IF-065 reads with IF-065
[ReadingRemote] or IF-064. Which request is answered by what is read from the exchange definitions
(`scenarios/exchanges/*.toml`): the first answer step after a request step. After the first delivery
the harness waits (bounded) for that answer in the DIP's records; after the replay it watches, for a window
as long as the first answer took three times over (`harness.config.exchanges.watch_window`: at least the run's
quiet window, at most its timeout; the first answer's time is taken on the DIP's clock, from the first
delivery's reply to the answer's acceptance, or as long as the harness waited for it, whichever is
longer), for a second answer correlated with the same request (A-CORRELATION); at the window's end the
DIP is asked for its records up to now. Two answers: processed twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from harness.config.exchanges import bundled_exchanges
from harness.messages.business import correlation_rule

ANSWER_EXPECTS = ("accepted", "rejected", "answer", "consumption")


@dataclass(frozen=True)
class Answer:
    """What the receiver of a request sends back: interface and event."""

    interface: str
    event: str
    sender: str  # role


@lru_cache(maxsize=1)
def _answers() -> dict[tuple[str, str], tuple[Answer, ...]]:
    found: dict[tuple[str, str], list[Answer]] = {}
    for exchange in bundled_exchanges():
        steps = {s.name: s for s in exchange.steps}
        answered: set[str] = set()
        for step in exchange.steps:
            request = steps.get(step.request) if step.request else None
            if step.expect not in ANSWER_EXPECTS or request is None or request.name in answered:
                continue
            answered.add(request.name)  # only the first answer step answers the request directly
            answer = Answer(step.interface, step.event, step.sender)
            known = found.setdefault((request.interface, request.event), [])
            if answer not in known:
                known.append(answer)
    return {key: tuple(value) for key, value in found.items()}


def answers_to(interface_id: str, event: str, role: str, enabled: set[str]) -> tuple[Answer, ...]:
    """The answers `role` sends to an incoming (interface, event), restricted to interfaces it enabled."""
    return tuple(a for a in _answers().get((interface_id, event), ())
                 if a.sender == role and a.interface in enabled)


def answers_seen(hub: Any, request: dict, answers: tuple[Answer, ...], sender: str, since: int) -> list[Any]:
    """The DIP's accepted submissions from `sender` answering `request` (correlated), from transcript
    seq `since` on (the DIP's order, not a clock: a hosted DIP's clock is not the harness's)."""
    rule = correlation_rule()
    wanted = {(a.interface, a.event) for a in answers}
    return [s for s in hub.received() if s.sender == sender and (s.interface_id, s.event) in wanted
            and (s.transcript_seq or 0) >= since and rule.matches(request, s.item)]


def first_answer(hub: Any, request: dict, answers: tuple[Answer, ...], sender: str, since: int,
                 timeout: float) -> tuple[Any, float] | None:
    """(the first answer, seconds it took) within `timeout`, or None."""
    started = time.monotonic()
    found = hub.wait_until(lambda: answers_seen(hub, request, answers, sender, since) or None, timeout)
    return (found[0], time.monotonic() - started) if found else None


def latency(delivered: Any, answer: Any) -> float:
    """Seconds from the DIP's record of a delivery's reply (a TranscriptRecord) to its acceptance of the
    answer (a Submission), on the DIP's own clock; 0 when the answer came first or a time is unknown."""
    try:
        replied = datetime.fromisoformat(str(delivered.time).replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return 0.0
    answered = getattr(answer, "received_at", None)
    if not isinstance(answered, datetime) or (replied.tzinfo is None) != (answered.tzinfo is None):
        return 0.0
    return max(0.0, (answered - replied).total_seconds())


def second_answer(hub: Any, request: dict, answers: tuple[Answer, ...], sender: str, since: int,
                  window: float) -> list[Any] | None:
    """Every answer when a second one arrives within `window` (or is in the DIP's records when the
    window ends), else None."""
    def twice() -> list[Any] | None:
        seen = answers_seen(hub, request, answers, sender, since)
        return seen if len(seen) > 1 else None

    found = hub.wait_until(twice, window)
    if found is None:
        hub.sync()
        found = hub.wait_until(twice, 0.0)
    return found

