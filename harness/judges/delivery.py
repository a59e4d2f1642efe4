"""A delivery as the DIP's transcript shows it: its attempts, concluded as the live delivery concludes.

The DIP records every attempt to a webhook as one `delivery` record (status, error, the bytes sent
and received). `delivery_result` rebuilds a `DeliveryResult` from those records with
`transport.delivery.conclude`, the same function the live delivery uses, so a verdict recomputed
from the transcript is the verdict reached while the run went on.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

from harness.judges.records import TranscriptRecord
from harness.transport.delivery import Attempt, DeliveryResult, Outcome, conclude
from harness.transport.responses import load_code_table

_SEVERITY_ORDER = ("accepted", "partial", "rejected", "refused", "timeout", "failed")


def _attempt(record: TranscriptRecord) -> Attempt:
    error = record.get("error")
    body = record.response_body or b""
    try:
        started = datetime.fromisoformat(record.time.replace("Z", "+00:00"))
    except ValueError:
        started = datetime.now(timezone.utc)
    number = record.get("attempt")
    return Attempt(batch=int(record.get("batch") or 0), number=number if isinstance(number, int) else 1,
                   status=record.status, error=error if isinstance(error, str) else None,
                   elapsed=float(record.get("elapsed_ms") or 0) / 1000.0, body=body, truncated=False,
                   message_count=len(record.items()), started=started,
                   response_headers=dict(record.get("response_headers") or {}),
                   peer_certificate=record.get("server_cert_sha256"), seq=record.seq)


def delivery_result(records: Iterable[TranscriptRecord]) -> DeliveryResult:
    """The result of one delivery (all attempt records of one `delivery_id`, any order).

    Within a batch the last attempt decides (earlier ones were retried); a batch's last attempt that
    would still be retried (the DIP's final attempt not yet recorded) counts as its outcome so far.
    """
    table = load_code_table()
    attempts = sorted((r for r in records if r.kind == "delivery"),
                      key=lambda r: (int(r.get("batch") or 0), r.get("attempt") or 0, r.seq))
    result = DeliveryResult("accepted", 0, None)
    if not attempts:
        result.outcome = "failed"
        return result
    batches: dict[int, list[TranscriptRecord]] = {}
    for record in attempts:
        batches.setdefault(int(record.get("batch") or 0), []).append(record)
    result.batches = len(batches)
    outcomes: list[Outcome] = []
    for index, batch in sorted(batches.items()):
        where = f"batch {index}" if result.batches > 1 else "delivery"
        outcome: Outcome | None = None
        for number, record in enumerate(batch, start=1):
            attempt = _attempt(record)
            result.attempts += 1
            result.status = attempt.status
            result.responses.append(attempt)
            last = number == len(batch)
            outcome = conclude(attempt, attempt.message_count, table, where, result, last=last)
            if outcome is not None:
                break
        outcomes.append(outcome or "failed")
    result.outcome = max(outcomes, key=_SEVERITY_ORDER.index)
    return result


def group(records: Iterable[TranscriptRecord]) -> dict[str, list[TranscriptRecord]]:
    """Delivery records by `delivery_id`, in seq order."""
    out: dict[str, list[TranscriptRecord]] = {}
    for record in sorted(records, key=lambda r: r.seq):
        if record.kind == "delivery":
            out.setdefault(str(record.get("delivery_id")), []).append(record)
    return out
