"""Transcript records as the judges read them: the DIP's record plus its bodies.

A transcript record (docs/dip.md, "Transcript") is one JSON object the DIP wrote: `inbound` (a
request to the DIP and its answer), `delivery` (one attempt of the DIP to a webhook) or `event`.
Bodies travel beside the record: inline as `request_b64` / `response_b64` in the exported
`dip/transcript.jsonl` and in the records stream the run reads, so the run and `verify` hand the
judges exactly the same thing. Nothing here trusts the DIP's own summary fields (`outcome`,
`codes`) where the bytes say more: a judge reads the request and response bodies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from harness.core.findings import Finding


@dataclass(frozen=True)
class TranscriptRecord:
    """One transcript record and its bodies (bytes, or None when the record has none)."""

    data: Mapping[str, Any]
    request_body: bytes | None = None
    response_body: bytes | None = None
    _parsed: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "TranscriptRecord":
        """A record as exported (bodies inline as base64); a body that is not base64 reads as None."""
        return cls({k: v for k, v in data.items() if k not in ("request_b64", "response_b64")},
                   _b64(data.get("request_b64")), _b64(data.get("response_b64")))

    # -- the record's own fields --------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    @property
    def seq(self) -> int:
        return int(self.data.get("seq") or 0)

    @property
    def kind(self) -> str:
        return str(self.data.get("kind") or "")

    @property
    def endpoint(self) -> str | None:
        return self.data.get("endpoint")

    @property
    def status(self) -> int | None:
        status = self.data.get("status")
        return status if isinstance(status, int) and not isinstance(status, bool) else None

    @property
    def caller(self) -> str | None:
        return self.data.get("caller")

    @property
    def interface(self) -> str | None:
        value = self.data.get("interface")
        return value.upper() if isinstance(value, str) else None

    @property
    def time(self) -> str:
        return str(self.data.get("time") or "")

    @property
    def moment(self) -> datetime:
        """`time` as an aware datetime: a time without offset is UTC; one that is not a time reads as now
        (only ever shown, never judged: no verdict rests on when a record was written)."""
        try:
            moment = datetime.fromisoformat(self.time)
        except ValueError:
            return datetime.now(timezone.utc)
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)

    @property
    def transaction_ids(self) -> list[str]:
        ids = self.data.get("transaction_ids")
        return [t for t in ids if isinstance(t, str)] if isinstance(ids, list) else []

    @property
    def codes(self) -> list[str]:
        codes = self.data.get("codes")
        return [c for c in codes if isinstance(c, str)] if isinstance(codes, list) else []

    @property
    def findings(self) -> list[Finding]:
        """The DIP's own findings on the request (ingress checks), as Findings."""
        out = []
        for raw in self.data.get("findings") or []:
            if isinstance(raw, Mapping):
                try:
                    out.append(Finding.from_dict(dict(raw)))
                except (KeyError, TypeError):
                    continue
        return out

    # -- bodies -------------------------------------------------------------------------------
    def request_json(self) -> Any:
        """The request body parsed as JSON (None when absent or not JSON)."""
        return self._json("request", self.request_body)

    def response_json(self) -> Any:
        return self._json("response", self.response_body)

    def items(self) -> list[Any]:
        """The messages of a submission or delivery body (a JSON array), else []."""
        data = self.request_json()
        return data if isinstance(data, list) else []

    def _json(self, side: str, body: bytes | None) -> Any:
        if side not in self._parsed:
            try:
                self._parsed[side] = json.loads(body) if body else None
            except (ValueError, RecursionError):
                self._parsed[side] = None
        return self._parsed[side]

    def body_hashes_hold(self) -> list[str]:
        """Sides whose inline body does not hash to the record's `<side>_sha256` (empty when all hold)."""
        wrong = []
        for side, body in (("request", self.request_body), ("response", self.response_body)):
            recorded = self.data.get(f"{side}_sha256")
            if recorded is None and body is None:
                continue
            if body is None or recorded != hashlib.sha256(body).hexdigest():
                wrong.append(side)
        return wrong

    # -- what a record means ------------------------------------------------------------------
    @property
    def accepted_submission(self) -> bool:
        """An accepted `POST /dip-channel/{IF}`: the DIP took every message (2xx, transaction ids given)."""
        return self.kind == "inbound" and self.endpoint == "submit" and self.status is not None \
            and 200 <= self.status < 300

    def messages(self) -> Iterator[tuple[int, dict, str | None]]:
        """(index, item, transactionID) for every message of an accepted submission."""
        if not self.accepted_submission:
            return
        ids = self.transaction_ids
        for index, item in enumerate(self.items()):
            if isinstance(item, dict):
                yield index, item, ids[index] if index < len(ids) else None

    def message(self, index: int) -> dict | None:
        items = self.items()
        return items[index] if 0 <= index < len(items) and isinstance(items[index], dict) else None


def _b64(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


class RecordSet:
    """The records a judge may read, by seq (the cited ones and those of any scanned range)."""

    def __init__(self, records: Iterable[TranscriptRecord] = ()) -> None:
        self._by_seq: dict[int, TranscriptRecord] = {}
        for record in records:
            self._by_seq[record.seq] = record

    def add(self, record: TranscriptRecord) -> None:
        self._by_seq[record.seq] = record

    def __contains__(self, seq: object) -> bool:
        return seq in self._by_seq

    def __len__(self) -> int:
        return len(self._by_seq)

    def get(self, seq: Any) -> TranscriptRecord | None:
        return self._by_seq.get(seq) if isinstance(seq, int) else None

    def ordered(self) -> list[TranscriptRecord]:
        return [self._by_seq[s] for s in sorted(self._by_seq)]

    def between(self, first: int, last: int) -> list[TranscriptRecord]:
        return [r for r in self.ordered() if first <= r.seq <= last]

    def message(self, ref: Mapping[str, Any] | None) -> dict | None:
        """The item a `{"seq", "index"}` reference names (None when the record or index is not there)."""
        if not isinstance(ref, Mapping):
            return None
        record = self.get(ref.get("seq"))
        index = ref.get("index", 0)
        return record.message(index) if record is not None and isinstance(index, int) else None

    def accepted_message(self, ref: Mapping[str, Any] | None) -> dict | None:
        """`message(ref)`, but only when its record is a submission the DIP accepted: a check about what a
        party sent must not be judged on a message the DIP refused (or on any other record's body)."""
        record = self.get(ref.get("seq")) if isinstance(ref, Mapping) else None
        return self.message(ref) if record is not None and record.accepted_submission else None
