"""What the hub accepted, refused, stored and delivered, as objects for callers that wait on them.

These are views of transcript records (each carries `transcript_seq`, its record's seq in the
session's chain when it belongs to one), kept in memory for callers in the hub's own process and
rebuilt from the record stream by a remote client. `seq` is the caller's own evidence sequence
number when the hub writes to a run's evidence recorder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from harness.core.findings import Finding
from harness.transport.delivery import DeliveryResult


class HubTimeout(TimeoutError):
    """Nothing matching arrived in time; the message says what did arrive."""


@dataclass
class Submission:
    """One accepted message (a batch of n gives n Submissions sharing `body`)."""

    interface_id: str
    event: str
    item: dict
    sender: str
    transaction_id: str
    received_at: datetime
    body: bytes
    headers: dict[str, str]  # as received, without X-API-Key
    index: int = 0
    key_slot: str = "primary"
    recipients: tuple[str, ...] = ()
    findings: list[Finding] = field(default_factory=list)  # business checks that did not reject
    seq: int | None = None
    transcript_seq: int | None = None


@dataclass
class Rejection:
    """A request the hub refused (401/403) or rejected (400), with the reasons."""

    endpoint: str
    interface_id: str | None
    status: int
    codes: list[str]
    findings: list[Finding]
    received_at: datetime
    body: bytes
    headers: dict[str, str]
    sender: str | None = None
    seq: int | None = None
    transcript_seq: int | None = None


@dataclass
class StoredMessage:
    recipient: str
    interface_id: str
    event: str
    transaction_id: str
    item: dict  # the egress form, as delivered (D0 filled, replayIndicator false)
    stored_at: datetime


@dataclass
class Delivery:
    recipient: str
    interface_id: str
    url: str
    transaction_ids: list[str]
    replay: bool
    result: DeliveryResult
    started: datetime
    finished: datetime
    probe: str | None = None
    transcript_seqs: list[int] = field(default_factory=list)
    delivery_id: str | None = None

    @property
    def outcome(self) -> str:
        return self.result.outcome


@dataclass
class StatusMessage:
    sender: str
    entries: list[dict]
    codes: list[str | None]
    received_at: datetime
    body: bytes
    seq: int | None = None
    transcript_seq: int | None = None
