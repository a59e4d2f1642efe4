"""The hub's transcript: every request, response, delivery attempt and event, hash-chained per session.

A record is one JSON object; its canonical bytes are `json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=False)` in UTF-8, and its hash is the SHA-256 hex of those bytes. Each chain (a session
id, or `hub` for traffic that belongs to no session) numbers its records from 1 and each record names
the hash of the one before (`prev`, 64 zeros first), so a record cannot be removed, re-ordered or
edited without breaking every later link. Bodies are kept apart, by SHA-256 (hex), and cited from
records as `request_sha256` / `response_sha256`.

Write, then notify: `append` commits before anyone is told, so whatever a caller saw (a response,
a long-poll answer) is already in the transcript.

The export of a session is `transcript.jsonl` (each record, in order, with its bodies inline as
`request_b64` / `response_b64`; a verifier drops those two keys before hashing a line) and a DSSE
envelope (harness.evidence.dsse) over a statement naming the session, the party, the DIP, the count,
the head hash and the SHA-256 of transcript.jsonl, signed with the DIP's signing key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Protocol

from cryptography import x509

from harness.dip.store import Database
from harness.evidence.dsse import EnvelopeError, sign_envelope, verify_envelope

GENESIS = "0" * 64
HUB_CHAIN = "hub"
FORMAT = "dipcert-transcript/1"
PAYLOAD_TYPE = "application/vnd.dipcert.transcript+json"
BODY_KEYS = (("request_sha256", "request_b64"), ("response_sha256", "response_b64"))

Listener = Callable[[str, dict], None]


def canonical(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def record_hash(record: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


def body_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class TranscriptStore(Protocol):
    """What the hub needs of a transcript; SQLite is the one implementation (another would fit here)."""

    def append(self, chains: Sequence[str], record: Mapping[str, Any], bodies: Mapping[str, bytes] | None = None,
               also: Callable[[Any], None] | None = None) -> dict[str, int]: ...

    def records(self, chain: str, after: int = 0, limit: int | None = None) -> list[dict]: ...

    def head(self, chain: str) -> tuple[int, str]: ...

    def body(self, sha256: str, chain: str | None = None) -> bytes | None: ...

    def wait(self, chain: str, after: int, timeout: float) -> bool: ...

    def release_waiters(self) -> None: ...

    def subscribe(self, listener: Listener) -> None: ...


class SqliteTranscript:
    """The transcript in the hub's SQLite file (records and bodies tables)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._heads: dict[str, tuple[int, str]] = {}
        self._changed = threading.Condition()
        self._stopping = False  # set by the hub's stop: no long poll outlives the server
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        """`listener(chain, record)` after every append (the live log); it must not raise or block."""
        self._listeners.append(listener)

    def _head(self, conn: Any, chain: str) -> tuple[int, str]:
        if chain not in self._heads:
            row = conn.execute("SELECT seq, hash FROM records WHERE chain=? ORDER BY seq DESC LIMIT 1",
                               (chain,)).fetchone()
            self._heads[chain] = (row[0], row[1]) if row else (0, GENESIS)
        return self._heads[chain]

    def append(self, chains: Sequence[str], record: Mapping[str, Any], bodies: Mapping[str, bytes] | None = None,
               also: Callable[[Any], None] | None = None) -> dict[str, int]:
        """Write `record` at the end of each chain (once per chain) with its bodies; return chain -> seq.

        `also(connection)` runs in the same transaction (work that must not outlive or predate the record).
        """
        written: list[tuple[str, dict]] = []
        time = record.get("time") or utc_now()
        heads = {}
        with self.db.transaction() as conn:
            if also is not None:
                also(conn)
            if bodies:
                conn.executemany("INSERT OR IGNORE INTO bodies VALUES (?, ?)", bodies.items())
                conn.executemany("INSERT OR IGNORE INTO refs VALUES (?, ?)",
                                 [(chain, sha) for sha in bodies for chain in dict.fromkeys(chains)])
            for chain in dict.fromkeys(chains):
                seq, prev = self._head(conn, chain)
                full = {**record, "seq": seq + 1, "session": chain, "prev": prev, "time": time}
                data = canonical(full)
                digest = hashlib.sha256(data).hexdigest()
                conn.execute("INSERT INTO records VALUES (?, ?, ?, ?)", (chain, seq + 1, digest, data))
                heads[chain] = (seq + 1, digest)
                written.append((chain, full))
            self._heads.update(heads)
        with self._changed:
            self._changed.notify_all()
        for chain, full in written:
            for listener in self._listeners:
                listener(chain, full)
        return {chain: full["seq"] for chain, full in written}

    def records(self, chain: str, after: int = 0, limit: int | None = None) -> list[dict]:
        rows = self.db.query("SELECT data FROM records WHERE chain=? AND seq>? ORDER BY seq LIMIT ?",
                             (chain, after, -1 if limit is None else limit))
        return [json.loads(row[0]) for row in rows]

    def head(self, chain: str) -> tuple[int, str]:
        with self.db.lock:
            return self._head(self.db._db, chain)  # noqa: SLF001 - the store's own connection

    def body(self, sha256: str, chain: str | None = None) -> bytes | None:
        """A body by its SHA-256 hex; with `chain`, only when a record of that chain cites it."""
        if chain is not None and not self.db.query("SELECT 1 FROM refs WHERE chain=? AND sha256=?", (chain, sha256)):
            return None
        rows = self.db.query("SELECT data FROM bodies WHERE sha256=?", (sha256,))
        return bytes(rows[0][0]) if rows else None

    def wait(self, chain: str, after: int, timeout: float) -> bool:
        """True as soon as `chain` has a record after `after` (at once if it has), False after `timeout`
        or as soon as the hub stops (a long poll then answers with what there is)."""
        with self._changed:
            return self._changed.wait_for(lambda: self.head(chain)[0] > after or self._stopping, timeout) \
                and self.head(chain)[0] > after

    def release_waiters(self) -> None:
        """End every long poll now: the hub is stopping."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()


# --- export ---------------------------------------------------------------------------------------

class TranscriptError(ValueError):
    """An exported transcript does not verify; the message (one line) says where and why."""


def with_bodies(store: TranscriptStore, record: Mapping[str, Any]) -> dict[str, Any]:
    """`record` with its bodies inline (`request_b64`, `response_b64`), as exported."""
    line = dict(record)
    for sha_key, b64_key in BODY_KEYS:
        sha = record.get(sha_key)
        if sha:
            data = store.body(sha)
            if data is None:
                raise TranscriptError(f"{record.get('session')} seq {record.get('seq')}: body {sha} is missing")
            line[b64_key] = base64.b64encode(data).decode("ascii")
    return line


def export_lines(store: TranscriptStore, chain: str) -> bytes:
    """transcript.jsonl for `chain`: every record in order, bodies inline."""
    return b"".join(canonical(with_bodies(store, record)) + b"\n" for record in store.records(chain))


def statement(lines: bytes, *, session: str, run_id: str | None, party: Mapping[str, Any],
              dip: Mapping[str, Any], opened: str | None, closed: str | None) -> dict[str, Any]:
    """The statement the DIP signs over transcript.jsonl."""
    count, head = 0, GENESIS
    for raw in lines.splitlines():
        if raw.strip():
            count += 1
            head = record_hash(_strip(json.loads(raw)))
    return {"format": FORMAT, "session": session, "run_id": run_id, "party": dict(party), "dip": dict(dip),
            "count": count, "head": head, "transcript_sha256": hashlib.sha256(lines).hexdigest(),
            "opened": opened, "closed": closed}


def sign_export(lines: bytes, identity: Any, **fields: Any) -> dict[str, Any]:
    """The DSSE envelope (transcript.dsse.json) over `statement(lines, **fields)`."""
    return sign_envelope(PAYLOAD_TYPE, canonical(statement(lines, **fields)), identity)


def _strip(line: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in line.items() if k not in ("request_b64", "response_b64")}


def verify_chain(records: Sequence[Mapping[str, Any]], session: str | None = None) -> tuple[int, str]:
    """(count, head hash) of records that form one unbroken chain from seq 1; TranscriptError otherwise."""
    prev, seq = GENESIS, 0
    for line in records:
        seq += 1
        where = f"record {seq}"
        if line.get("seq") != seq:
            raise TranscriptError(f"{where}: seq is {line.get('seq')!r}, expected {seq}")
        if session is not None and line.get("session") != session:
            raise TranscriptError(f"{where}: session is {line.get('session')!r}, expected {session!r}")
        if line.get("prev") != prev:
            raise TranscriptError(f"{where}: prev does not match the previous record's hash")
        for sha_key, b64_key in BODY_KEYS:
            if line.get(sha_key) and b64_key in line:
                try:
                    data = base64.b64decode(line[b64_key], validate=True)
                except (binascii.Error, ValueError, TypeError):
                    raise TranscriptError(f"{where}: {b64_key} is not base64") from None
                if body_sha256(data) != line[sha_key]:
                    raise TranscriptError(f"{where}: {b64_key} does not hash to {sha_key}")
        prev = record_hash(_strip(line))
    return seq, prev


def read_export(lines: bytes, envelope: Any, trusted: Sequence[x509.Certificate]) -> tuple[dict, list[dict]]:
    """(statement, records) of an export whose envelope verifies under `trusted` and whose lines match it."""
    try:
        verified = verify_envelope(envelope, trusted, payload_type=PAYLOAD_TYPE)
    except EnvelopeError as exc:
        raise TranscriptError(f"transcript.dsse.json: {exc}") from None
    try:
        claim = json.loads(verified.payload)
    except ValueError:
        raise TranscriptError("transcript.dsse.json: the statement is not JSON") from None
    if not isinstance(claim, dict) or claim.get("format") != FORMAT:
        raise TranscriptError(f"transcript.dsse.json: format is not {FORMAT}")
    if hashlib.sha256(lines).hexdigest() != claim.get("transcript_sha256"):
        raise TranscriptError("transcript.jsonl: its SHA-256 is not the one the DIP signed")
    try:
        records = [json.loads(raw) for raw in lines.splitlines() if raw.strip()]
    except ValueError:
        raise TranscriptError("transcript.jsonl: a line is not JSON") from None
    count, head = verify_chain(records, claim.get("session"))
    if count != claim.get("count") or head != claim.get("head"):
        raise TranscriptError(f"transcript.jsonl: {count} records ending {head[:12]}, the statement says "
                              f"{claim.get('count')} ending {str(claim.get('head'))[:12]}")
    return claim, records
