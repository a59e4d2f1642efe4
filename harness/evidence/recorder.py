"""The evidence recorder: an append-only, hash-chained log written as things happen.

Why append-and-flush per record: a crash or Ctrl-C must still leave everything that happened up
to that moment on disk, readable by `verify` (which then says "incomplete"). Why a hash chain:
each record carries the SHA-256 of the previous record's line, so removing, reordering or editing
a record is visible; the manifest signature then pins the whole log to the party.

Layout of a run folder::

    evidence.jsonl              one JSON object per line (sorted keys, compact, UTF-8)
    messages/bodies-0001.bin    exact body bytes sent and received (after secret redaction, see
                                `redacted`), appended one after another; a record's body names its
                                segment file, offset, size and SHA-256

Why segments and not a file per body: a bundle of 100,000 messages held 200,000 files, and every
file costs the manifest an entry and a zip a member (issue 16); a segment is rolled over at
`SEGMENT_BYTES`. Bundles written before held ``messages/<seq>-request.bin`` and
``messages/<seq>-response.bin`` (a body without ``offset`` is a whole file): verify and the reports
still read them, and `Recorder(layout="files")` still writes them so that reading stays tested.

Record: ``{"seq", "time", "kind", ..., "prev"}`` where ``kind`` is one of ``run-start``, ``http``,
``event``, ``check``, ``run-end`` and ``prev`` is the SHA-256 (hex) of the previous line's bytes
without its newline (64 zeros for the first record).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Generator, Iterable, Mapping, Sequence
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from harness import __version__
from harness.core.errors import ConfigError
from harness.core.findings import Finding
from harness.evidence.redact import MARKER_SCHEME, Redactor

EVIDENCE_FILE = "evidence.jsonl"
MESSAGES_DIR = "messages"
GENESIS = "0" * 64
KINDS = ("run-start", "http", "event", "check", "run-end")
#: a body segment is rolled over once it would pass this size (well under a zip member's limit)
SEGMENT_BYTES = 64 * 1024 * 1024
LAYOUTS = ("segments", "files")


def segment_name(number: int) -> str:
    """messages/bodies-0001.bin: the name of body segment `number` (from 1)."""
    return f"{MESSAGES_DIR}/bodies-{number:04d}.bin"


def utc_iso(moment: datetime | None = None) -> str:
    """UTC ISO 8601 with microseconds; naive datetimes are taken to be UTC."""
    moment = moment or datetime.now(timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def encode_record(record: Mapping[str, Any]) -> bytes:
    """The one canonical line form; the chain hashes exactly these bytes."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_jsonable).encode("utf-8")


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Finding):
        return value.to_dict()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)


class Recorder:
    """Writes evidence.jsonl and messages/ for one run. Thread-safe: the hub records from its threads.

    `run` goes into the run-start record (redacted): run_id, party, and ``signer_certificate_sha256``
    ("sha256:<hex>" of the party's DIP certificate), which `verify` compares with the certificate
    that signs the manifest. Record the plan as ``event("plan", requirements=[...],
    profile_digest=..., profile={...})`` and reuse grants as ``event("reuse", requirement=...,
    run_id=..., manifest_sha256=..., party=...)``: `verdicts.recompute` reads exactly those.
    """

    def __init__(self, folder: Path | str, *, secrets: Sequence[str] = (), salt: bytes | None = None,
                 fsync: bool = False, run: Mapping[str, Any] | None = None, layout: str = "segments",
                 segment_bytes: int = SEGMENT_BYTES) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
        self.folder = Path(folder)
        self.layout = layout
        self.segment_bytes = segment_bytes
        self._segment: Any = None  # the open segment file (layout "segments")
        self._segment_number = 0
        self._segment_size = 0
        self.path = self.folder / EVIDENCE_FILE
        self.messages = self.folder / MESSAGES_DIR
        try:
            self.messages.mkdir(parents=True, exist_ok=True)
            # "x": a second recorder must never append to (and so corrupt) an earlier run's chain.
            self._file = open(self.path, "xb")
        except FileExistsError:
            raise ConfigError(f"{self.path}: evidence already recorded here; use a new run folder") from None
        except OSError as exc:
            raise ConfigError(f"{self.folder}: cannot create the evidence folder ({exc.strerror})") from None
        self.redactor = Redactor(secrets, salt)
        self._fsync = fsync
        self._lock = threading.Lock()
        self._seq = 0
        self._prev = GENESIS
        self._closed = False
        self._append({"kind": "run-start", "harness_version": __version__,
                      "redaction": {"scheme": MARKER_SCHEME, "salt": self.redactor.salt_hex},
                      "run": self._clean(dict(run or {}))})

    # -- public API -------------------------------------------------------------------------
    @property
    def seq(self) -> int:
        """Sequence number of the last record written."""
        return self._seq

    @property
    def closed(self) -> bool:
        return self._closed

    def http(self, *, channel: str, method: str, url: str, request_headers: Any,
             request_body: bytes | None, status: int | None, response_headers: Any = None,
             response_body: bytes | None = None, started: datetime, elapsed_ms: float,
             peer_certificate_sha256: str | None = None, error: str | None = None,
             context: Mapping[str, Any] | None = None) -> int:
        """One HTTP exchange, either direction. `status=None` means no response (timeout, refused)."""
        r = self.redactor
        record: dict[str, Any] = {
            "kind": "http", "channel": channel, "method": method.upper(), "url": r.text(url),
            "started": utc_iso(started), "elapsed_ms": round(float(elapsed_ms), 3),
            "peer_certificate_sha256": peer_certificate_sha256,
            "error": r.text(error) if error is not None else None,
            "context": self._clean(dict(context or {})),
            "request": {"headers": r.headers(request_headers)},
            "response": None,
        }
        if status is not None or response_headers is not None or response_body is not None:
            record["response"] = {"status": status, "headers": r.headers(response_headers)}
        with self._lock:
            seq = self._next_seq()
            record["request"]["body"] = self._store_body(seq, "request", request_body)
            if record["response"] is not None:
                record["response"]["body"] = self._store_body(seq, "response", response_body)
            self._append_locked(record, seq)
        return seq

    def event(self, kind: str, **data: Any) -> int:
        """A harness event (`plan`, `reuse`, `trigger`, `note`...); data is redacted."""
        if not kind or not isinstance(kind, str):
            raise ValueError("event kind must be a non-empty string")
        return self._append({"kind": "event", "event": kind, "data": self._clean(data)})

    def check(self, requirement: str, rule: str, passed: bool, findings: Iterable[Finding] = (),
              messages: Iterable[int] = (), *, judge: str | None = None, judge_args: Mapping[str, Any] | None = None,
              transcript: Iterable[int] | None = None, transcript_scan: Sequence[int] | None = None,
              **data: Any) -> int:
        """A check outcome for a requirement; `messages` are the seqs of the exchanges it judged.

        Put ``expected_valid=False`` in data when the judged messages were meant to be invalid
        (negative tests), so that `verify`'s re-validation does not count them against the check.
        A check judged from the DIP's transcript names its `judge` (harness.judges), the `judge_args`
        and the `transcript` seqs it read (and `transcript_scan`, the range it scanned for an absence):
        `verify --dip-cert` judges the signed transcript with them again.
        """
        found = [f.to_dict() if isinstance(f, Finding) else dict(f) for f in findings]
        record: dict[str, Any] = {"kind": "check", "requirement": requirement, "rule": rule,
                                  "passed": bool(passed), "findings": self._clean(found),
                                  "messages": sorted({int(m) for m in messages}), "data": self._clean(data)}
        if judge is not None:
            record.update(judge=judge, judge_args=self._clean(dict(judge_args or {})),
                          transcript=sorted({int(s) for s in transcript or ()}))
            if transcript_scan:
                record["transcript_scan"] = [int(transcript_scan[0]), int(transcript_scan[1])]
        return self._append(record)

    def close(self, status: str = "complete") -> None:
        """Writes the run-end record. Without it, `verify` reports the run as incomplete."""
        if self._closed:
            return
        self._append({"kind": "run-end", "status": status})
        with self._lock:
            self._closed = True
            self._file.close()
            if self._segment is not None:
                self._segment.close()

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close("complete" if exc_type is None else "interrupted")

    # -- internals --------------------------------------------------------------------------
    def _clean(self, value: Any) -> Any:
        # To plain JSON first (datetimes, Paths, Findings become text), then redact that text:
        # nothing reaches the log without passing through the redactor.
        return self.redactor.data(json.loads(json.dumps(value, default=_jsonable)))

    def _next_seq(self) -> int:
        if self._closed:
            raise RuntimeError(f"{self.path}: recorder already closed")
        return self._seq + 1

    def _store_body(self, seq: int, side: str, body: bytes | None) -> dict[str, Any] | None:
        if body is None:
            return None
        stored, redacted = self.redactor.bytes(bytes(body))
        digest = hashlib.sha256(stored).hexdigest()
        if self.layout == "files":
            name = f"{MESSAGES_DIR}/{seq}-{side}.bin"
            with open(self.folder / name, "wb") as handle:
                handle.write(stored)
                handle.flush()
                if self._fsync:
                    os.fsync(handle.fileno())
            return {"file": name, "sha256": digest, "size": len(stored), "redacted": redacted}
        if self._segment is None or (self._segment_size and self._segment_size + len(stored) > self.segment_bytes):
            if self._segment is not None:
                self._segment.close()
            self._segment_number += 1
            # "x": like the log, a segment is never appended to by a second recorder
            self._segment = open(self.folder / segment_name(self._segment_number), "xb")
            self._segment_size = 0
        offset = self._segment_size
        self._segment.write(stored)
        self._segment.flush()
        if self._fsync:
            os.fsync(self._segment.fileno())
        self._segment_size += len(stored)
        return {"file": segment_name(self._segment_number), "offset": offset, "size": len(stored),
                "sha256": digest, "redacted": redacted}

    def _append(self, record: dict[str, Any]) -> int:
        with self._lock:
            seq = self._next_seq()
            self._append_locked(record, seq)
        return seq

    def _append_locked(self, record: dict[str, Any], seq: int) -> None:
        record = {**record, "seq": seq, "time": utc_iso(), "prev": self._prev}
        line = encode_record(record)
        self._file.write(line + b"\n")
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())
        self._seq = seq
        self._prev = line_hash(line)


def iter_records(path: Path | str) -> Generator[dict[str, Any], None, None]:
    """Parsed records of an evidence log, one line at a time, skipping unreadable lines (verify
    reports those)."""
    with open(path, "rb") as handle:
        for raw in handle:
            if raw.strip():
                try:
                    value = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(value, dict):
                    yield value


def first_record(path: Path | str) -> dict[str, Any] | None:
    """The first readable record of an evidence log (what `read_records` would give first), reading
    no further than it."""
    records = iter_records(path)
    try:
        return next(records, None)
    finally:
        records.close()  # the file now, not when the generator is collected


def read_records(path: Path | str) -> list[dict[str, Any]]:
    """Parsed records of an evidence log, skipping unreadable lines (verify reports those)."""
    return list(iter_records(path))
