"""What a reference participant has seen and done, shared between its server and worker threads.

Tests and scenarios wait on this state (`wait_for`) rather than sleeping: every change notifies a
condition variable, so a waiter wakes as soon as the message it needs has been sent or received.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class MpanState:
    mpan: str
    started: date | None = None
    stopped: date | None = None
    correlation_id: str | None = None
    direction: str = "I"
    accepted: bool = False  # the MDR answered its IF-061 with R0 "A"
    meters: list[str] = field(default_factory=list)  # meter ids from IF-061 B074List, for readings


@dataclass
class Received:
    interface_id: str
    event: str | None
    transaction_id: str | None
    mpan: str | None
    correlation_id: str | None
    replay: bool
    duplicate: bool  # a transaction id seen before: acknowledged, not processed again
    code: str  # the RCP code this participant answered with
    item: dict


@dataclass
class Sent:
    interface_id: str
    event: str | None
    mpan: str | None
    sender_unique_reference: str | None
    correlation_id: str | None
    status: int | None
    transaction_ids: list[str | None]
    messages: list[str]
    item: dict
    error: str | None = None


@dataclass
class WebhookReply:
    interface_id: str
    status: int
    codes: list[str]
    signature_findings: list[str] = field(default_factory=list)


class ParticipantState:
    """Thread-safe record; every mutation happens under the condition and wakes waiters."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.mpans: dict[str, MpanState] = {}
        self.received: list[Received] = []
        self.sent: list[Sent] = []
        self.replies: list[WebhookReply] = []
        self.handled: set[str] = set()  # transaction ids whose business handling has finished
        self.errors: list[str] = []
        self.declined: list[dict[str, Any]] = []  # requests deliberately not answered, and why
        self._seen: set[str] = set()

    # --- mutations --------------------------------------------------------------------------

    def _notify(self) -> None:
        self._cond.notify_all()

    def _append(self, target: list, item: Any) -> None:
        with self._cond:
            target.append(item)
            self._notify()

    def seen_before(self, transaction_id: str | None) -> bool:
        """Record a delivered transaction id; True if it was delivered before (a replay)."""
        if not transaction_id:
            return False
        with self._cond:
            if transaction_id in self._seen:
                return True
            self._seen.add(transaction_id)
            return False

    def add_received(self, record: Received) -> None:
        self._append(self.received, record)

    def add_sent(self, record: Sent) -> None:
        self._append(self.sent, record)

    def add_reply(self, reply: WebhookReply) -> None:
        self._append(self.replies, reply)

    def mark_handled(self, transaction_id: str | None) -> None:
        with self._cond:
            if transaction_id:
                self.handled.add(transaction_id)
            self._notify()

    def add_error(self, text: str) -> None:
        self._append(self.errors, text)

    def add_declined(self, **what: Any) -> None:
        self._append(self.declined, what)

    def update_mpan(self, mpan: str, **changes: Any) -> MpanState:
        with self._cond:
            record = self.mpans.setdefault(mpan, MpanState(mpan))
            for key, value in changes.items():
                setattr(record, key, value)
            self._notify()
            return copy.copy(record)

    def mpan(self, mpan: str) -> MpanState | None:
        with self._cond:
            record = self.mpans.get(mpan)
            return copy.copy(record) if record else None

    # --- queries ----------------------------------------------------------------------------

    def sent_for(self, interface_id: str, event: str | None = None, mpan: str | None = None) -> list[Sent]:
        with self._cond:
            return [s for s in self.sent if s.interface_id == interface_id
                    and (event is None or s.event == event) and (mpan is None or s.mpan == mpan)]

    def received_for(self, interface_id: str, event: str | None = None) -> list[Received]:
        with self._cond:
            return [r for r in self.received if r.interface_id == interface_id
                    and (event is None or r.event == event)]

    def wait_for(self, predicate: Callable[["ParticipantState"], T], timeout: float) -> T:
        """Block until `predicate(state)` is truthy (returned), or raise TimeoutError after `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = predicate(self)
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"reference participant state: condition not met within {timeout:g} s")
                self._cond.wait(remaining)

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready copy (what `GET /state` returns)."""
        def mpan_dict(m: MpanState) -> dict[str, Any]:
            data = asdict(m)
            data["started"] = m.started.isoformat() if m.started else None
            data["stopped"] = m.stopped.isoformat() if m.stopped else None
            return data

        with self._cond:
            return {
                "mpans": {k: mpan_dict(v) for k, v in self.mpans.items()},
                "received": [asdict(r) for r in self.received],
                "sent": [asdict(s) for s in self.sent],
                "replies": [asdict(r) for r in self.replies],
                "handled": sorted(self.handled),
                "errors": list(self.errors),
                "declined": list(self.declined),
            }
