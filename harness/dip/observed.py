"""In-process views of what the hub did, for callers in the hub's own process, with bounded waits.

The transcript is the authority; these lists are a convenience for the embedded self-test and the
unit tests (`Hub.received()`, `wait_for_delivery(...)`), filled after the transcript record is
written (write, then notify). A standing hub (`dipcert hub serve`) keeps none (HubConfig.keep_views).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from harness.dip.model import Delivery, HubTimeout, Rejection, StatusMessage, Submission

T = TypeVar("T")


class Observed:
    def __init__(self, keep: bool = True) -> None:
        self.keep = keep
        self.cond = threading.Condition()
        self.submissions: list[Submission] = []
        self.rejections: list[Rejection] = []
        self.deliveries: list[Delivery] = []
        self.status: list[StatusMessage] = []

    def publish(self, submissions: list[Submission] = (), rejection: Rejection | None = None,  # type: ignore[assignment]
                status: StatusMessage | None = None) -> None:
        with self.cond:
            if self.keep:
                self.submissions.extend(submissions)
                if rejection is not None:
                    self.rejections.append(rejection)
                if status is not None:
                    self.status.append(status)
            self.cond.notify_all()

    def delivered(self, delivery: Delivery) -> None:
        with self.cond:
            if self.keep:
                self.deliveries.append(delivery)
            self.cond.notify_all()

    def snapshot(self, items: list[T]) -> list[T]:
        with self.cond:
            return list(items)

    def wait_until(self, condition: Callable[[], T | None], timeout: float) -> T | None:
        """`condition()` (called with the lock held, on every change) until truthy or `timeout`."""
        with self.cond:
            return self.cond.wait_for(condition, timeout) or None

    def wait(self, items: list[T], predicate: Callable[[T], bool] | None, timeout: float, what: str) -> T:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for item in items:
                    if predicate is None or predicate(item):
                        return item
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise HubTimeout(f"no matching {what} within {timeout:g} s ({len(items)} {what}(s) seen, "
                                     f"{len(self.rejections)} rejected request(s))")
                self.cond.wait(remaining)
