"""Store, route and deliver: what happens to an accepted message after the hub has answered.

Each primary recipient (resolved in the sender's scope, harness.dip.parties) gets its own egress copy
(D0 added), kept in its inbox for replay/requeue, and a delivery job when it has a webhook for the
interface. Jobs are written to the database in the same transaction as the transcript record of the
submission that made them, so a hub killed in between loses none; a restarted hub resumes them (an
attempt the restart interrupted is recorded as failed, then made again).

Deliveries to one recipient keep their order per MPAN (an IF-063 never overtakes its IF-061): one
worker per recipient and MPAN (the batch's first message's), ending when it has nothing left.
Different MPANs go in parallel, so one slow delivery holds back only messages about the same MPAN.
Every attempt is a `delivery` record in the transcript, written as soon as the answer is in.
"""

from __future__ import annotations

import json
import queue
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from harness.core.findings import Finding
from harness.dip.ingress import build_egress
from harness.dip.model import Delivery, StoredMessage, Submission
from harness.dip.parties import Party, PartyKey
from harness.dip.pool import ClientPool
from harness.dip.transcript import HUB_CHAIN, body_sha256
from harness.transport.delivery import (
    Attempt,
    DeliveryResult,
    Signer,
    Timeouts,
    WebhookConfig,
    classify_attempt,
    deliver,
    split_batches,
    wire_text,
)

UTC = timezone.utc
INTERRUPTED = "interrupted: the hub stopped during this attempt"
ATTEMPT_MARGIN = 2.0  # seconds a stopping hub waits beyond one attempt's bound for deliveries in progress


class Stopped(Exception):
    """The hub is stopping: the delivery ends after its recorded attempt and stays pending (resumed at start)."""


@dataclass
class Job:
    """One delivery to make: to whom, what, and which transcript chains record it."""

    recipient: PartyKey
    interface_id: str
    config: WebhookConfig
    items: list[dict]
    replay: bool = False
    chains: list[str] = field(default_factory=list)
    row: int | None = None  # its row in the pending table while it is not done
    delivery_id: str | None = None  # of the attempts in progress (kept, so a restart can name them)
    # Each item's wire bytes (compact JSON), made once when routed and shared with its inbox row; not
    # stored: a job read back from the pending table has none, and split_batches makes them then.
    wire: list[bytes] | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> str:
        return json.dumps({"recipient": list(self.recipient), "interface": self.interface_id,
                           "config": self.config.to_json(), "items": self.items, "replay": self.replay,
                           "chains": self.chains, "delivery_id": self.delivery_id})

    @classmethod
    def from_json(cls, text: str, row: int) -> "Job":
        d = json.loads(text)
        return cls(tuple(d["recipient"]), d["interface"], WebhookConfig.from_json(d["config"]),
                   d["items"], d["replay"], d["chains"], row, d.get("delivery_id"))


def new_delivery_id() -> str:
    return "d-" + secrets.token_hex(8)


def _tx_ids(items: list[dict]) -> list[str]:
    out = []
    for item in items:
        try:
            out.append(item["payload"]["CommonBlock"]["D0"]["transactionID"])
        except (TypeError, KeyError):
            out.append(None)
    return out


class Router:
    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self.pool = ClientPool(hub.config.delivery)
        self._lock = threading.Lock()
        self._workers: dict[tuple, tuple[queue.Queue, threading.Thread]] = {}
        self._accepting = False
        self._stopping = threading.Event()  # set by stop(): no new job, no retry, no wait between attempts
        self._closed = False  # set once stop() returns: nothing more is written, whatever thread is late
        self._active = 0  # deliver() calls in progress (workers and probes)
        self._idle = threading.Condition(self._lock)

    # -- routing ---------------------------------------------------------------------------------

    def route(self, sender: Party, submission: Submission, chains: list[str]) -> tuple[list[tuple], list[Job]]:
        """(inbox rows, delivery jobs) for one accepted message; nothing written yet."""
        rows, jobs = [], []
        directory = self.hub.directory
        interface = self.hub.catalogue.get(submission.interface_id)
        now = datetime.now(UTC)
        for dip_id in dict.fromkeys(submission.recipients):
            party = directory.resolve(sender, dip_id)
            if party is None:  # unregistered since the check: kept nowhere, as the DIP would fail it
                continue
            item = build_egress(submission.item, transaction_id=submission.transaction_id, moment=now,
                                publication_id=interface.publication_id)
            text = wire_text(item)
            rows.append((*party.key, interface.id, submission.event, submission.transaction_id, text,
                         now.isoformat()))
            config = directory.webhook(party.key, interface.id)
            if config is not None:
                jobs.append(Job(party.key, interface.id, config, [item], False, chains, wire=[text.encode("utf-8")]))
        return rows, jobs

    @staticmethod
    def merge(jobs: list[Job]) -> list[Job]:
        """One POST per recipient per batch."""
        merged: dict[tuple, Job] = {}
        for job in jobs:
            key = (job.recipient, job.interface_id, job.config, job.replay)
            if key in merged:
                into = merged[key]
                into.items.extend(job.items)
                into.wire = into.wire + job.wire if into.wire is not None and job.wire is not None else None
            else:
                merged[key] = Job(job.recipient, job.interface_id, job.config, list(job.items), job.replay,
                                  list(job.chains), wire=list(job.wire) if job.wire is not None else None)
        return list(merged.values())

    def persist(self, conn: Any, rows: list[tuple], jobs: list[Job]) -> None:
        """Inbox rows and pending jobs, inside the caller's transaction."""
        conn.executemany("INSERT INTO inbox (scope, dip_id, interface, event, transaction_id, item, stored_at) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        for job in jobs:
            job.row = conn.execute("INSERT INTO pending (job) VALUES (?)", (job.to_json(),)).lastrowid

    def inbox(self, key: PartyKey) -> list[StoredMessage]:
        rows = self.hub.db.query("SELECT interface, event, transaction_id, item, stored_at FROM inbox "
                                 "WHERE scope=? AND dip_id=? ORDER BY id", key)
        return [StoredMessage(key[1], i, e, t, json.loads(item), datetime.fromisoformat(at))
                for i, e, t, item, at in rows]

    # -- workers ---------------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            self._accepting = True
            self._closed = False
        self._stopping.clear()
        self.resume()

    def resume(self) -> None:
        """Pending jobs of an earlier life of this hub: an interrupted attempt is recorded, then all resume."""
        for row, text, in_flight in self.hub.db.query("SELECT id, job, in_flight FROM pending ORDER BY id"):
            job = Job.from_json(text, row)
            if in_flight:
                party = self.hub.directory.party(job.recipient)
                self.hub.transcript.append(job.chains or [HUB_CHAIN], {
                    "kind": "delivery", "delivery_id": job.delivery_id, "final": False,
                    "recipient": job.recipient[1], "interface": job.interface_id,
                    "url": job.config.callback_url, "attempt": 0, "batch": 0, "probe": None, "replay": job.replay,
                    "request_headers": {}, "request_sha256": None, "status": None, "response_headers": {},
                    "response_sha256": None, "outcome": "failed", "codes": [], "error": INTERRUPTED,
                    "transaction_ids": _tx_ids(job.items), "client_cert_presented": None,
                    "server_cert_sha256": None, "resumed": True,
                    "recipient_scope": party.scope if party else job.recipient[0]})
            self.dispatch(job)

    def dispatch(self, job: Job) -> None:
        common = ((job.items[0].get("payload") or {}).get("CommonBlock") or {}) if job.items else {}
        mpan = common.get("M0", {}).get("MPANCore") if isinstance(common.get("M0"), dict) else None
        key = (job.recipient, str(mpan or ""))
        with self._lock:
            if not self._accepting:
                return
            worker = self._workers.get(key)
            if worker is None:
                jobs: queue.Queue = queue.Queue()
                thread = threading.Thread(target=self._work, args=(key, jobs), daemon=True,
                                          name=f"dipcert-hub-deliver-{job.recipient[1]}-{mpan or 'none'}")
                worker = self._workers[key] = (jobs, thread)
                thread.start()
            worker[0].put(job)  # under the lock: see _work

    def _work(self, key: tuple, jobs: queue.Queue) -> None:
        while True:
            job = jobs.get()
            if job is None or self._stopping.is_set():  # a job not started stays pending for the next start
                return
            try:
                self.run(job)
            except Stopped:
                return
            with self._lock:  # nothing left: end (jobs are put under this lock, so none is lost)
                if jobs.empty() and self._workers.get(key, (None,))[0] is jobs:
                    del self._workers[key]
                    return

    def stop(self) -> None:
        """No new delivery; the attempts in progress (workers' and probes') end and are recorded, bounded
        by one attempt's timeout: no retry and no backoff wait follow them (their jobs stay pending, and
        the next start records them interrupted and makes them again). Only then may the hub close its
        storage; a thread later still than the bound writes nothing (`_closed`)."""
        self._stopping.set()
        with self._lock:
            self._accepting = False
            workers = list(self._workers.values())
            self._workers.clear()
        for jobs, _ in workers:
            jobs.put(None)
        deadline = time.monotonic() + self.hub.config.delivery.timeouts.total + ATTEMPT_MARGIN
        for _, thread in workers:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            while self._active and (left := deadline - time.monotonic()) > 0:
                self._idle.wait(left)
            self._closed = True
        self.pool.close()

    def _sleep(self, base: Any) -> Any:
        """The wait between attempts (the settings' own, which tests may replace): cut short, and the
        delivery ended, when the hub stops."""
        def pause(seconds: float) -> None:
            if base is time.sleep:
                stopped = self._stopping.wait(seconds)
            else:
                base(seconds)
                stopped = self._stopping.is_set()
            if stopped:
                raise Stopped()
        return pause

    # -- delivering ------------------------------------------------------------------------------

    def run(self, job: Job) -> Delivery:
        """One routed delivery with the DIP's retries; recorded, then visible to waiters."""
        job.delivery_id = new_delivery_id()
        if job.row is not None:  # json_set: the stored job as it was, naming the attempts (not re-serialised)
            with self.hub.db.transaction() as conn:
                conn.execute("UPDATE pending SET in_flight=1, job=json_set(job, '$.delivery_id', ?) WHERE id=?",
                             (job.delivery_id, job.row))
        settings = self.hub.config.delivery
        delivery = self.deliver(job, retries=settings.retries)
        if job.row is not None:  # normally gone already, with the final attempt's record (see deliver)
            with self.hub.db.transaction() as conn:
                conn.execute("DELETE FROM pending WHERE id=?", (job.row,))
            job.row = None
        return delivery

    def deliver(self, job: Job, *, retries: int, retry_errors: bool = True, identity: Any = None,
                sign: Signer | None = None, probe: str | None = None, timeouts: Timeouts | None = None,
                tag: dict[str, str] | None = None) -> Delivery:
        """Deliver `job` now, on this thread: every attempt a transcript record sharing one `delivery_id`;
        the last one (no retry follows, no batch left) is `final`."""
        hub = self.hub
        party = hub.directory.party(job.recipient)
        tls_ca = party.tls_ca if party is not None else None
        url = job.config.callback_url
        started = datetime.now(UTC)
        seqs: list[int] = []
        chains = job.chains or [HUB_CHAIN]
        delivery_id = job.delivery_id or new_delivery_id()
        batches = split_batches(job.items, job.config, wire=job.wire)

        def on_attempt(attempt: Attempt, headers: dict[str, str], body: bytes, items: list[dict]) -> None:
            if self._closed:  # later than stop's bound: the storage may be gone
                raise Stopped()
            more = attempt.number <= retries
            outcome, codes = classify_attempt(attempt, items, retries_left=more)
            cut_off = attempt.error is not None and attempt.error.startswith(("response-too-large", "total-timeout"))
            retry_follows = more and (outcome == "retryable" or (
                attempt.error is not None and retry_errors and not cut_off))
            final = not retry_follows and (attempt.batch == len(batches) - 1 or outcome in ("refused", "failed",
                                                                                             "timeout"))
            done = job.row if final else None  # the pending row goes with the final record: one transaction

            def forget(conn: Any) -> None:
                conn.execute("DELETE FROM pending WHERE id=?", (done,))

            sent, answered = body_sha256(body), body_sha256(attempt.body)
            written = hub.transcript.append(chains, {
                "kind": "delivery", "delivery_id": delivery_id, "final": final,
                "recipient": job.recipient[1], "recipient_scope": job.recipient[0] or "global",
                "interface": job.interface_id, "url": url, "attempt": attempt.number, "batch": attempt.batch,
                "probe": probe, "replay": job.replay, "request_headers": dict(headers),
                "request_sha256": sent, "status": attempt.status,
                "response_headers": attempt.response_headers, "response_sha256": answered,
                "response_truncated": attempt.truncated, "outcome": outcome, "codes": codes,
                "transaction_ids": _tx_ids(items), "error": attempt.error,
                "elapsed_ms": round(attempt.elapsed * 1000.0, 3),
                "client_cert_presented": url.lower().startswith("https:") and self.pool.presents_certificate,
                "server_cert_sha256": attempt.peer_certificate, **({"tag": tag} if tag else {})},
                {sent: body, answered: attempt.body},
                also=forget if done is not None else None)
            if done is not None:
                job.row = None
            attempt.transcript_seq = written[chains[0]]
            seqs.append(written[chains[0]])
            if retry_follows and self._stopping.is_set():
                raise Stopped()

        with self._lock:
            if self._closed:
                raise Stopped()
            self._active += 1
        try:
            return self._attempts(job, on_attempt, seqs, chains, delivery_id, started, url, tls_ca, retries,
                                  retry_errors, identity, sign, probe, timeouts, batches)
        finally:
            with self._lock:
                self._active -= 1
                self._idle.notify_all()

    def _attempts(self, job: Job, on_attempt: Any, seqs: list[int], chains: list[str], delivery_id: str,
                  started: datetime, url: str, tls_ca: Any, retries: int, retry_errors: bool, identity: Any,
                  sign: Signer | None, probe: str | None, timeouts: Timeouts | None,
                  batches: list[tuple[list[dict], bytes]]) -> Delivery:
        """deliver()'s attempts (counted active by the caller, so stop() waits for them)."""
        hub, settings = self.hub, self.hub.config.delivery
        try:
            result = deliver(url, job.items, identity=identity or hub.identity, config=job.config,
                             timeout=timeouts or settings.timeouts, retries=retries, backoff=settings.backoff,
                             sleep=self._sleep(settings.sleep), max_response_bytes=settings.max_response_bytes,
                             recorder=hub.recorder, sign=sign, retry_errors=retry_errors,
                             client=self.pool.client(url, tls_ca), on_attempt=on_attempt, batches=batches)
        except Stopped:
            raise
        except Exception as exc:  # noqa: BLE001 - a bad URL or TLS setup must not kill the worker
            result = DeliveryResult("failed", 0, None, [Finding(
                "delivery.error", "", "a delivery attempt", type(exc).__name__, f"delivery could not start: {exc}")])
            written = hub.transcript.append(chains, {
                "kind": "delivery", "delivery_id": delivery_id, "final": True, "recipient": job.recipient[1],
                "recipient_scope": job.recipient[0] or "global", "interface": job.interface_id, "url": url,
                "attempt": 0, "batch": 0, "probe": probe, "replay": job.replay, "request_headers": {},
                "request_sha256": None, "status": None, "response_headers": {}, "response_sha256": None,
                "outcome": "failed", "codes": [], "transaction_ids": _tx_ids(job.items),
                "error": f"not sent: {type(exc).__name__}: {exc}", "client_cert_presented": None,
                "server_cert_sha256": None})
            seqs.append(written[chains[0]])
        tx_ids = _tx_ids(job.items)
        delivery = Delivery(job.recipient[1], job.interface_id, url, tx_ids, job.replay, result, started,
                            datetime.now(UTC), probe, seqs, delivery_id)
        if self._closed:  # stop() gave up waiting for this thread: its caller may have closed the recorder
            raise Stopped()
        hub.evidence_event("hub.delivery", recipient=job.recipient[1], interface=job.interface_id, url=url,
                           transaction_ids=tx_ids, replay=job.replay, outcome=result.outcome,
                           attempts=result.attempts, status=result.status, codes=result.codes,
                           findings=[f.to_dict() for f in result.findings],
                           seqs=[a.seq for a in result.responses if a.seq is not None],
                           **({"probe": probe} if probe else {}))
        hub.observed.delivered(delivery)
        return delivery
