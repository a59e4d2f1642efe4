"""senderUniqueReferences being accepted right now: MSG1006's check made atomic with its claim.

An accepted batch claims its references in the transaction that writes its transcript record
(harness.dip.api), so a batch the hub never recorded has claimed nothing. Between the check (is the
reference used?) and that record, a second batch with the same reference must not pass the same
check: it waits here until the first is recorded or refused, then checks again. Batches with other
references never wait for each other (one lock over the whole path would queue every submission
behind the slowest, which on a busy machine is seconds).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

Reference = tuple[str, str, str]  # (sender scope, sender DIP ID, senderUniqueReference)
WAIT_BOUND = 30.0  # seconds a batch waits for another one with the same reference (never reached in practice)


class InFlight:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._busy: set[Reference] = set()

    def reserve(self, references: Iterable[Reference], bound: float = WAIT_BOUND) -> frozenset[Reference] | None:
        """Mark `references` as being accepted (all or none), once no other batch is accepting any of them;
        None when that takes longer than `bound`. Taken with no other lock held; `release` what it returns."""
        wanted = frozenset(references)
        with self._changed:
            if not self._changed.wait_for(lambda: self._busy.isdisjoint(wanted), bound):
                return None
            self._busy |= wanted
        return wanted

    def release(self, references: frozenset[Reference]) -> None:
        with self._changed:
            self._busy -= references
            self._changed.notify_all()
