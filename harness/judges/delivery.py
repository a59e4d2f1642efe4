"""A delivery as the DIP's transcript shows it: its attempts, concluded as the live delivery concludes.

The DIP records every attempt to a webhook as one `delivery` record (status, error, the bytes sent
and received). `delivery_result` rebuilds a `DeliveryResult` from those records with
`transport.delivery.conclude`, the same function the live delivery uses, so a verdict recomputed
from the transcript is the verdict reached while the run went on.
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.judges.records import TranscriptRecord
from harness.transport.delivery import Attempt, DeliveryResult, Outcome, conclude
from harness.transport.responses import load_code_table

_SEVERITY_ORDER = ("accepted", "partial", "rejected", "refused", "timeout", "failed")
NO_OUTCOME = "the record shows neither an HTTP status nor an error"


def _attempt(record: TranscriptRecord) -> Attempt:
    """The attempt a record shows (an `attempt` number that is not an integer reads as the first; a record
    with neither a status nor an error, which the DIP never writes, reads as an attempt that failed)."""
    error, number = record.get("error"), record.get("attempt")
    if not isinstance(error, str) and record.status is None:
        error = NO_OUTCOME
    return Attempt(batch=int(record.get("batch") or 0), number=number if isinstance(number, int) else 1,
                   status=record.status, error=error if isinstance(error, str) else None,
                   elapsed=float(record.get("elapsed_ms") or 0) / 1000.0, body=record.response_body or b"",
                   truncated=False, message_count=len(record.items()), started=record.moment,
                   response_headers=dict(record.get("response_headers") or {}),
                   peer_certificate=record.get("server_cert_sha256"), seq=record.seq)


def delivery_result(records: Iterable[TranscriptRecord]) -> DeliveryResult:
    """The result of one delivery (all attempt records of one `delivery_id`, any order).

    Attempts are taken by batch, then attempt number (as `_attempt` reads it), then seq. Within a
    batch the last attempt decides (earlier ones were retried); a batch's last attempt that would
    still be retried (the DIP's final attempt not yet recorded) counts as its outcome so far.
    """
    table = load_code_table()
    result = DeliveryResult("failed", 0, None)
    batches: dict[int, list[Attempt]] = {}
    for attempt in sorted((_attempt(r) for r in records if r.kind == "delivery"), key=lambda a: (a.number, a.seq)):
        batches.setdefault(attempt.batch, []).append(attempt)
    if not batches:
        return result
    result.batches = len(batches)
    outcomes: list[Outcome] = []
    for index, batch in sorted(batches.items()):
        where = f"batch {index}" if result.batches > 1 else "delivery"
        outcome: Outcome | None = None
        for number, attempt in enumerate(batch, start=1):
            result.attempts += 1
            result.status = attempt.status
            result.responses.append(attempt)
            outcome = conclude(attempt, attempt.message_count, table, where, result, last=number == len(batch))
            if outcome is not None:
                break
        outcomes.append(outcome or "failed")
    result.outcome = max(outcomes, key=_SEVERITY_ORDER.index)
    return result
