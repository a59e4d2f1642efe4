"""RemoteHub: the harness's view of its DIP session, built only from the DIP's API.

The run opens a session as the party under test (`open`), registering the counterparties it plays;
a background thread then long-polls the session's records (`GET .../records?after=N&wait=S`) and
turns each into what the check code waits on (`harness.dip.views`), after mirroring it into the
party's evidence. A DIP that restarts is reconnected to (bounded) and the stream goes on after the
last record seen: the DIP's transcript lost nothing, so neither does the run. Waits are bounded and
event-based (`wait_until`), as the in-process hub's were, so the check code reads the same.

Only the DIP holds its key: crafted deliveries (a replay with a given transaction id, the hostile
ones) are asked for with `probe`; the DIP makes and records them.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from harness.core.catalogue import Catalogue, load_catalogue
from harness.dip import views
from harness.dip.connection import DipCaller, DipUnavailable
from harness.dip.model import Delivery, HubTimeout, Rejection, StatusMessage, Submission
from harness.judges.records import RecordSet, TranscriptRecord
from harness.transport.delivery import WebhookConfig

if TYPE_CHECKING:
    from harness.transport.signing import SigningIdentity

T = TypeVar("T")
API = "/dipcert/v1"
POLL_WAIT = 5.0  # seconds one long-poll may wait on the DIP (the DIP caps it at 10)
TRANSCRIPT_FILE, ENVELOPE_FILE = "dip/transcript.jsonl", "dip/transcript.dsse.json"


@dataclass
class Counterparty:
    """A party the harness plays in the session (REGS, SUP, the reference partner)."""

    role: str
    mpid: str
    dip_id: str
    identity: SigningIdentity  # it signs its submissions with
    webhooks: dict[str, str] = field(default_factory=dict)  # IF -> URL where its deliveries go
    api_keys: tuple[str, str] | None = None  # from the DIP, once the session is open

    def request(self) -> dict[str, Any]:
        return {"role": self.role, "mpid": self.mpid, "dip_id": self.dip_id,
                "certificate_pem": self.identity.certificate.public_bytes(Encoding.PEM).decode("ascii"),
                "webhooks": dict(self.webhooks)}


@dataclass
class ProbeResult:
    delivery_id: str
    seqs: list[int]
    outcome: str | None
    status: int | None
    answer: dict[str, Any] = field(default_factory=dict)  # the DIP's whole answer (a tls-probe's handshake)


class RemoteHub:
    """A session of the party under test on a DIP, seen through the DIP's API only."""

    def __init__(self, caller: DipCaller, *, recorder: Any = None, catalogue: Catalogue | None = None,
                 poll_wait: float = POLL_WAIT) -> None:
        self.caller = caller
        self.recorder = recorder
        self.catalogue = catalogue or load_catalogue()
        self.poll_wait = poll_wait
        self.session: str | None = None
        self.dip: dict[str, Any] = {}
        self.party: dict[str, Any] = {}
        self.counterparties: dict[str, Counterparty] = {}
        self._cond = threading.Condition()
        self._records = RecordSet()
        self._evidence: dict[int, int] = {}  # transcript seq -> evidence seq of its mirror
        self._last = 0
        self._submissions: list[Submission] = []
        self._rejections: list[Rejection] = []
        self._status: list[StatusMessage] = []
        self._deliveries: list[Delivery] = []
        self._attempts: dict[str, list[TranscriptRecord]] = {}
        self._webhooks: dict[tuple[str, str], WebhookConfig] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._error: str | None = None

    # -- the session ------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self.caller.connection.base_url

    @property
    def certificate(self) -> x509.Certificate:
        """The DIP's signing certificate as the session announced it (deliveries are signed with it)."""
        pem = self.dip.get("signing_certificate_pem") or self.dip.get("certificate_pem")
        return x509.load_pem_x509_certificate(str(pem).encode("ascii"))

    def open(self, run_id: str, counterparties: Iterable[Counterparty], partner: str | None) -> "RemoteHub":
        wanted = list(counterparties)
        answer = self.caller.json("POST", f"{API}/sessions", data={  # sent twice if unanswered: the DIP
            "run_id": run_id, "counterparties": [c.request() for c in wanted],  # closes the first on the second
            "partner": {"dip_id": partner} if partner else None}, retry_unanswered=True)
        self.session = str(answer["session"])
        self.dip = dict(answer.get("dip") or {})
        self.party = dict(answer.get("party") or {})
        given = {c["role"]: c for c in answer.get("counterparties") or []}
        for c in wanted:
            got = given.get(c.role) or {}
            c.dip_id = str(got.get("dip_id") or c.dip_id)
            keys = got.get("api_keys") or []
            c.api_keys = (str(keys[0]), str(keys[1] if len(keys) > 1 else keys[0])) if keys else None
            self.counterparties[c.role] = c
        if self.recorder is not None:
            self.recorder.redactor.add([k for c in wanted for k in (c.api_keys or ())])
        for interface, config in (self.party.get("webhooks") or {}).items():
            self._set_webhook(str(self.party.get("dip_id")), interface, config)
        self._thread = threading.Thread(target=self._stream, name="dipcert-records", daemon=True)
        self._thread.start()
        return self

    def close(self, folder: Path, *, drain: float = 30.0) -> None:
        """Close the session, read its last records, and write its signed transcript into `folder`."""
        if self.session is None:
            return
        try:
            self.caller.json("POST", f"{API}/sessions/{self.session}/close", data={})
            self.sync(drain)
        finally:
            self._stop.set()
            if self._thread is not None:
                self._thread.join(self.poll_wait + self.caller.connection.timeout + 1)
        (folder / "dip").mkdir(parents=True, exist_ok=True)
        # The envelope first, then the records: a delivery still in flight when the session closed may
        # append a record after the DIP signed. The chain is append-only, so the bundle keeps exactly
        # the first `count` records the signature covers (verify checks them against its hash).
        envelope = self._download(f"{API}/sessions/{self.session}/transcript/envelope", folder / ENVELOPE_FILE)
        lines = self._fetch(f"{API}/sessions/{self.session}/transcript")
        count = _signed_count(envelope)
        if count is not None:
            lines = b"".join(lines.splitlines(keepends=True)[:count])
        (folder / TRANSCRIPT_FILE).write_bytes(lines)

    def stop(self) -> None:
        """Stop reading records, leaving the session open (its owner closes it, or a new session of the
        same party supersedes it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.poll_wait + self.caller.connection.timeout + 1)
        self.caller.close()

    def _fetch(self, path: str) -> bytes:
        response = self.caller.call("GET", path, timeout=max(60.0, self.caller.connection.timeout))
        if response.status_code != 200:
            raise DipUnavailable(f"GET {path}: the DIP answered HTTP {response.status_code}: {response.text[:200]}")
        return response.content

    def _download(self, path: str, target: Path) -> bytes:
        content = self._fetch(path)
        target.write_bytes(content)
        return content

    def _stream(self) -> None:
        """Long-poll the records until stopped; connection trouble is retried by the caller (bounded)."""
        while not self._stop.is_set():
            try:
                page = self.caller.json("GET", f"{API}/sessions/{self.session}/records",
                                        params={"after": self._last, "wait": self.poll_wait, "bodies": 1},
                                        timeout=self.poll_wait + self.caller.connection.timeout)
            except DipUnavailable as exc:
                with self._cond:
                    self._error = str(exc)
                    self._cond.notify_all()
                if self._stop.wait(1.0):
                    return
                continue
            try:
                for raw in page.get("records") or []:
                    self._ingest(TranscriptRecord.from_json(self._with_bodies(raw)))
            except DipUnavailable as exc:  # a body could not be read: read this page again
                with self._cond:
                    self._error = str(exc)
                if self._stop.wait(1.0):
                    return

    def _with_bodies(self, raw: dict) -> dict:
        """A record with its bodies inline (a DIP that does not inline them is asked for each one)."""
        out = dict(raw)
        for side in ("request", "response"):
            sha = raw.get(f"{side}_sha256")
            if sha and f"{side}_b64" not in raw:
                response = self.caller.call("GET", f"{API}/sessions/{self.session}/bodies/{sha}")
                if response.status_code != 200:
                    raise DipUnavailable(f"body {sha[:12]} of record {raw.get('seq')}: HTTP {response.status_code}")
                out[f"{side}_b64"] = base64.b64encode(response.content).decode("ascii")
        return out

    def _ingest(self, record: TranscriptRecord) -> None:
        if record.seq <= self._last or (self._stop.is_set() and getattr(self.recorder, "closed", False)):
            return  # (a stream thread that outlived close() writes nothing into a closed evidence log)
        # evidence first, then visible to waiters
        seq = views.mirror(self.recorder, record, self.party.get("dip_id"))
        with self._cond:
            self._records.add(record)
            self._last = record.seq
            if seq is not None:
                self._evidence[record.seq] = seq
            self._error = None
            if record.accepted_submission:
                self._submissions.extend(views.submissions(record, self.catalogue, seq))
            elif (rejected := views.rejection(record, seq)) is not None:
                self._rejections.append(rejected)
            if (status := views.status_message(record, seq)) is not None:
                self._status.append(status)
            if record.kind == "delivery" and record.get("probe") != "tls-probe":
                key = views.delivery_key(record)
                attempts = self._attempts.setdefault(key, [])
                attempts.append(record)
                if views.final(record):
                    self._deliveries.append(views.delivery(self._attempts.pop(key)))
            if record.kind == "event" and record.get("event") == "webhook":
                data = record.get("data") or {}
                self._set_webhook(str(data.get("dip_id")), str(data.get("interface")), data.get("config"))
            self._cond.notify_all()

    def _set_webhook(self, dip_id: str, interface: str, config: Any) -> None:
        key = (dip_id, interface.upper())
        if isinstance(config, Mapping):
            try:
                self._webhooks[key] = WebhookConfig.from_json(dict(config))
                return
            except ValueError:
                pass
        self._webhooks.pop(key, None)

    # -- probes -----------------------------------------------------------------------------------
    def probe(self, interface: str, recipient: str, kind: str, messages: list[dict], *, redeliver: bool = False,
              timeout: float | None = None, tag: dict[str, str] | None = None) -> ProbeResult:
        """One crafted delivery by the DIP (`redeliver`: a `plain` one redelivered once after a 5xx, as the
        DIP redelivers); returns once its records are in this view (bounded by `timeout` and the reconnect)."""
        bound = float(timeout or self.caller.connection.timeout)
        kind = "redelivery" if kind == "plain" and redeliver else kind
        answer = self.caller.json("POST", f"{API}/sessions/{self.session}/probe", data={
            "interface": interface, "recipient": recipient, "kind": kind, "messages": messages,
            **({"tag": tag} if tag else {})},
            timeout=2 * bound + self.caller.connection.timeout)
        seqs = [int(s) for s in answer.get("transcript") or answer.get("records") or [] if isinstance(s, int)]
        if seqs:
            self.wait_seq(max(seqs), bound + self.caller.connection.timeout)
        return ProbeResult(str(answer.get("delivery_id")), seqs, answer.get("outcome"), answer.get("status"),
                           dict(answer))

    # -- what happened ----------------------------------------------------------------------------
    def received(self, interface_id: str | None = None) -> list[Submission]:
        wanted = self.catalogue.get(interface_id).id if interface_id else None
        with self._cond:
            return [s for s in self._submissions if wanted is None or s.interface_id == wanted]

    def rejections(self) -> list[Rejection]:
        with self._cond:
            return list(self._rejections)

    def deliveries(self) -> list[Delivery]:
        with self._cond:
            return list(self._deliveries)

    def status_messages(self) -> list[StatusMessage]:
        with self._cond:
            return list(self._status)

    def webhook(self, dip_id: str, interface_id: str) -> WebhookConfig | None:
        with self._cond:
            return self._webhooks.get((dip_id, self.catalogue.get(interface_id).id))

    @property
    def last_seq(self) -> int:
        with self._cond:
            return self._last

    def evidence_seq(self, transcript_seq: int | None) -> int | None:
        """The party's evidence record mirroring a transcript record."""
        with self._cond:
            return self._evidence.get(transcript_seq) if transcript_seq is not None else None

    def evidence_seqs(self, transcript_seqs: Iterable[int | None]) -> list[int]:
        return [e for s in transcript_seqs if (e := self.evidence_seq(s)) is not None]

    def record_set(self, seqs: Iterable[int | None] = (), scan: tuple[int, int] | None = None) -> RecordSet:
        """The records a judge reads: those named, and every record of the scanned range."""
        with self._cond:
            out = RecordSet(r for s in seqs if (r := self._records.get(s)) is not None)
            if scan is not None:
                for record in self._records.between(*scan):
                    out.add(record)
        return out

    # -- waiting ------------------------------------------------------------------------------------
    def sync(self, timeout: float = 5.0) -> bool:
        """Every record the DIP has written so far is in this view (read-your-writes after a trigger
        returned, say): asks the DIP for its head, then waits (bounded) for the stream to reach it."""
        try:
            head = self.caller.json("GET", f"{API}/sessions/{self.session}/records",
                                    params={"after": 2 ** 62, "wait": 0}).get("head") or {}
        except DipUnavailable:
            return False
        return self.wait_seq(int(head.get("seq") or 0), timeout)

    def wait_seq(self, seq: int, timeout: float) -> bool:
        """True once every record up to `seq` is in this view."""
        return bool(self.wait_until(lambda: self._last >= seq or None, timeout))

    def wait_for(self, predicate: Callable[[Submission], bool] | None = None, timeout: float = 10.0) -> Submission:
        return self._wait(self._submissions, predicate, timeout, "submission")

    def wait_for_delivery(self, predicate: Callable[[Delivery], bool] | None = None,
                          timeout: float = 10.0) -> Delivery:
        return self._wait(self._deliveries, predicate, timeout, "delivery")

    def wait_for_rejection(self, predicate: Callable[[Rejection], bool] | None = None,
                           timeout: float = 10.0) -> Rejection:
        return self._wait(self._rejections, predicate, timeout, "rejection")

    def wait_for_status(self, predicate: Callable[[StatusMessage], bool] | None = None,
                        timeout: float = 10.0) -> StatusMessage:
        return self._wait(self._status, predicate, timeout, "status message")

    def wait_until(self, condition: Callable[[], T | None], timeout: float) -> T | None:
        """`condition()` (called with the view's lock held, on every new record) until truthy or `timeout`."""
        with self._cond:
            return self._cond.wait_for(condition, timeout) or None

    def _wait(self, items: list[T], predicate: Callable[[T], bool] | None, timeout: float, what: str) -> T:
        found = self.wait_until(lambda: next((i for i in items if predicate is None or predicate(i)), None), timeout)
        if found is None:
            extra = f"; the DIP's record stream: {self._error}" if self._error else ""
            raise HubTimeout(f"no matching {what} within {timeout:g} s ({len(items)} {what}(s) seen, "
                             f"{len(self._rejections)} rejected request(s){extra})")
        return found


def _signed_count(envelope: bytes) -> int | None:
    """The record count the DIP's signed statement names; None when the envelope cannot be read
    (verify then reports it: nothing is cut on a guess)."""
    try:
        statement = json.loads(base64.b64decode(json.loads(envelope)["payload"]))
    except (ValueError, KeyError, TypeError):
        return None
    count = statement.get("count") if isinstance(statement, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else None
