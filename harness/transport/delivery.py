"""Webhook delivery: POST signed DIPMessageEgressArray batches to a participant, as the DIP does.

The participant's endpoint is the system under test, so the client assumes nothing good of it:
every phase has a timeout, the response is streamed and cut off at a size bound, and retries
follow the DIP's published table (retry 408/429/5xx gateway codes; never 400/401/403/404/405/406/
413/505; data in `schemas/response-codes.toml`). How many retries and how long between them is
not published ([U]): those are parameters here, with an injectable `sleep` so tests never wait.

Outcomes: `accepted` (201 + well-formed StandardResponse, one entry per message), `partial` (207),
`rejected` (400), `refused` (a no-retry status, or any status outside the table), `failed` (no
usable answer: connection errors after retries, or a reply whose body is not a usable
StandardResponse), `timeout` (timeouts after retries). A multi-batch delivery reports the worst.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from harness.core.findings import Finding, short
from harness.transport.responses import SUCCESS_CODES, ParsedResponse, load_code_table, parse_standard_response
from harness.transport.signing import sign_request
from harness.transport.tls import peer_certificate_sha256, system_context

Outcome = Literal["accepted", "partial", "rejected", "refused", "failed", "timeout"]
_SEVERITY_ORDER = ("accepted", "partial", "rejected", "refused", "timeout", "failed")
_TERMINAL = ("refused", "failed", "timeout")
MAX_RESPONSE_BYTES = 1024 * 1024
KB = 1024  # maxPayloadSize is "in Kb" ([U] whether 1000 or 1024; 1024 is the stricter reading here)


Signer = Callable[[str, str, bytes, Any], dict[str, str]]  # (method, url, body, identity) -> X-DIP-* headers


@dataclass(frozen=True)
class Timeouts:
    """Per-phase limits in seconds; `total` bounds one attempt including reading the reply."""

    connect: float = 5.0
    read: float = 10.0
    write: float = 10.0
    pool: float = 5.0
    total: float = 30.0

    def httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.pool)


@dataclass(frozen=True)
class WebhookConfig:
    """The pubconfig body: where to deliver and how much at once (WebhookConfig in the spec)."""

    callback_url: str
    max_message_count: int | None = None
    max_payload_kb: float | None = None

    @classmethod
    def from_json(cls, data: Any) -> "WebhookConfig":
        """Raises ValueError with one line naming the field when the body is not usable."""
        if not isinstance(data, dict):
            raise ValueError("body should be an object {callbackURL, maxMessageCount, maxPayloadSize}")
        url = data.get("callbackURL")
        if not isinstance(url, str) or (parts := urlsplit(url)).scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"callbackURL should be an http(s) URL, got {short(url)}")
        count, size = data.get("maxMessageCount"), data.get("maxPayloadSize")
        for name, value in (("maxMessageCount", count), ("maxPayloadSize", size)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise ValueError(f"{name} should be a positive number, got {short(value)}")
        extra = sorted(set(data) - {"callbackURL", "maxMessageCount", "maxPayloadSize"})
        if extra:
            raise ValueError(f"unexpected keys: {', '.join(extra)}")
        return cls(url, int(count) if count is not None else None, float(size) if size is not None else None)

    def to_json(self) -> dict:
        return {"callbackURL": self.callback_url, "maxMessageCount": self.max_message_count,
                "maxPayloadSize": self.max_payload_kb}


@dataclass
class Attempt:
    """One POST: what was sent (transaction ids) and what came back (bounded)."""

    batch: int
    number: int  # 1-based within the batch
    status: int | None
    error: str | None
    elapsed: float
    body: bytes
    truncated: bool
    message_count: int
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    retry_after: str | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    peer_certificate: str | None = None  # "sha256:<hex>" of the webhook's TLS certificate
    seq: int | None = None  # evidence sequence number when recorded
    transcript_seq: int | None = None  # the hub's transcript record of this attempt, when it keeps one
    _parsed: dict[tuple[int, int], ParsedResponse] = field(default_factory=dict, repr=False, compare=False)

    def standard_response(self, count: int, table: Any) -> ParsedResponse:
        """The reply read as a StandardResponse for `count` messages: read once per attempt, however
        many verdicts (the live outcome, the transcript record's) ask for it."""
        key = (count, id(table))
        if key not in self._parsed:
            self._parsed[key] = parse_standard_response(self.body, expected_count=count, table=table)
        return self._parsed[key]


@dataclass
class DeliveryResult:
    outcome: Outcome
    attempts: int
    status: int | None
    findings: list[Finding] = field(default_factory=list)
    responses: list[Attempt] = field(default_factory=list)
    codes: list[str | None] = field(default_factory=list)  # per message, from the final replies
    batches: int = 0

    @property
    def rcp_codes(self) -> list[str]:
        return [c for c in self.codes if c]


AttemptHook = Callable[[Attempt, dict[str, str], bytes, list[dict]], None]


def wire_text(message: dict) -> str:
    """One message as it goes on the wire: compact JSON, UTF-8 characters as they are."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


def split_batches(messages: list[dict], config: WebhookConfig | None,
                  wire: list[bytes] | None = None) -> list[tuple[list[dict], bytes]]:
    """Batches honouring maxMessageCount and maxPayloadSize, each with its exact wire bytes.

    A single message larger than maxPayloadSize is still sent, alone: dropping it silently would
    hide it; the caller gets a warning finding instead. `wire`: each message's `wire_text` bytes,
    when the caller has them already (used only when there is one per message).
    """
    max_count = config.max_message_count if config and config.max_message_count else None
    max_bytes = int(config.max_payload_kb * KB) if config and config.max_payload_kb else None
    batches: list[tuple[list[dict], bytes]] = []
    items: list[dict] = []
    parts: list[bytes] = []
    size = 2  # the brackets
    given = wire if wire is not None and len(wire) == len(messages) else None
    for index, message in enumerate(messages):
        part = given[index] if given is not None else wire_text(message).encode("utf-8")
        extra = len(part) + (1 if parts else 0)
        full = (max_count is not None and len(items) >= max_count) or (
            max_bytes is not None and parts and size + extra > max_bytes)
        if full:
            batches.append((items, b"[" + b",".join(parts) + b"]"))
            items, parts, size = [], [], 2
            extra = len(part)
        items.append(message)
        parts.append(part)
        size += extra
    if items:
        batches.append((items, b"[" + b",".join(parts) + b"]"))
    return batches


def deliver(url: str, messages: list[dict], *, identity: Any, config: WebhookConfig | None = None,
            timeout: Timeouts = Timeouts(), retries: int = 3, backoff: tuple[float, float] = (0.05, 2.0),
            sleep: Callable[[float], None] = time.sleep, client_tls: Any = None,
            max_response_bytes: int = MAX_RESPONSE_BYTES, recorder: Any = None,
            channel: str = "hub-outbound", extra_headers: dict[str, str] | None = None,
            sign: Signer | None = None, retry_errors: bool = True, client: httpx.Client | None = None,
            on_attempt: AttemptHook | None = None,
            batches: list[tuple[list[dict], bytes]] | None = None) -> DeliveryResult:
    """Deliver `messages` to `url` in signed batches; never raises for anything the peer does.

    `retries` is the number of re-tries after the first attempt (so at most 1 + retries POSTs per
    batch); the wait before re-try n is min(backoff[1], backoff[0] * 2**(n-1)), or the peer's
    Retry-After when smaller than the cap. `retry_errors=False` re-tries only a retryable status
    (a 5xx gateway code, 408, 429), never a timeout or a refused connection: a certification check
    that waits once for a slow webhook must not wait again. `sign(method, url, body, identity)` makes
    the X-DIP-* headers (default: `signing.sign_request`); the hub's probes pass hostile signers
    (another certificate, a stale date, a hash of other bytes) to see that the webhook refuses them.
    `client`: a long-lived (pooled, keep-alive) httpx client to send with instead of a new one per
    call; `on_attempt(attempt, headers, body, items)` runs after each POST (the hub's transcript).
    `batches`: `split_batches(messages, config)` when the caller has made it already.
    """
    signer: Signer = sign or sign_request

    if not messages:
        raise ValueError("deliver() needs at least one message")
    table = load_code_table()
    result = DeliveryResult("accepted", 0, None)
    batches = batches if batches is not None else split_batches(messages, config)
    result.batches = len(batches)
    if config and config.max_payload_kb:
        for i, (items, body) in enumerate(batches):
            if len(items) == 1 and len(body) > config.max_payload_kb * KB:
                result.findings.append(Finding(
                    "delivery.message-too-large", f"/{i}", f"at most {config.max_payload_kb:g} KB",
                    f"{len(body) / KB:.1f} KB", "one message exceeds maxPayloadSize; sent alone", "warning"))
    outcomes: list[Outcome] = []
    own = client is None
    if client is None:
        verify = client_tls if client_tls is not None else system_context()
        client = httpx.Client(timeout=timeout.httpx(), verify=verify, follow_redirects=False, trust_env=False)
    try:
        for index, (items, body) in enumerate(batches):
            outcome = _deliver_batch(client, url, index, items, body, identity, signer, table, timeout,
                                     retries, backoff, sleep, max_response_bytes, recorder, channel,
                                     extra_headers or {}, result, retry_errors, on_attempt)
            outcomes.append(outcome)
            if outcome in _TERMINAL:
                break
    finally:
        if own:
            client.close()
    result.outcome = max(outcomes, key=_SEVERITY_ORDER.index)
    return result


def _deliver_batch(client: httpx.Client, url: str, index: int, items: list[dict], body: bytes, identity: Any,
                   sign_request: Callable, table: Any, timeout: Timeouts, retries: int,
                   backoff: tuple[float, float], sleep: Callable[[float], None], max_bytes: int,
                   recorder: Any, channel: str, extra_headers: dict[str, str],
                   result: DeliveryResult, retry_errors: bool = True,
                   on_attempt: AttemptHook | None = None) -> Outcome:
    where = f"batch {index}" if result.batches > 1 else "delivery"
    for number in range(1, retries + 2):
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "Accept-Encoding": "identity", **extra_headers, **sign_request("POST", url, body, identity)}
        attempt = _post(client, url, body, headers, timeout, max_bytes, index, number, len(items))
        result.attempts += 1
        result.status = attempt.status
        result.responses.append(attempt)
        attempt.seq = _record(recorder, channel, url, headers, body, attempt)
        if on_attempt is not None:
            on_attempt(attempt, headers, body, items)
        outcome = conclude(attempt, len(items), table, where, result, last=number == retries + 1,
                           retry_errors=retry_errors)
        if outcome is not None:
            return outcome
        sleep(_delay(number, backoff, attempt if attempt.error is None else None))
    raise AssertionError("unreachable")


def conclude(attempt: Attempt, count: int, table: Any, where: str, result: DeliveryResult, *, last: bool,
             retry_errors: bool = True) -> Outcome | None:
    """What one attempt means for its batch: an outcome (findings added to `result`), or None when the
    DIP delivers again. Pure: the live delivery and the transcript judges (`harness.judges`) share it,
    so a verdict recomputed from the DIP's transcript is the verdict the run reached."""
    if attempt.error is not None:
        if attempt.error.startswith("response-too-large") or attempt.error.startswith("total-timeout"):
            rule = "delivery.response-too-large" if attempt.error.startswith("response") else "delivery.timeout"
            result.findings.append(Finding(rule, "", "a reply within the size and time bounds", attempt.error,
                                           f"{where}: the webhook's reply was cut off ({attempt.error})"))
            return "failed"
        kind = "timeout" if attempt.error.startswith("timeout") else "failed"
        if last or not retry_errors:
            result.findings.append(Finding(f"delivery.{'timeout' if kind == 'timeout' else 'connection'}", "",
                                           "a reply from the webhook", attempt.error,
                                           f"{where}: no reply after {attempt.number} attempt(s): {attempt.error}"))
            return kind  # type: ignore[return-value]
        return None
    status = attempt.status
    assert status is not None
    if status in table.retry:
        if last:
            result.findings.append(Finding("delivery.status", "", "201", str(status),
                                           f"{where}: still HTTP {status} after {attempt.number} attempt(s)"))
            return "failed"
        return None
    return _classify(status, attempt, [None] * count, table, where, result)


def _classify(status: int, attempt: Attempt, items: Sequence[object], table: Any, where: str,
              result: DeliveryResult) -> Outcome:
    if status in table.no_retry or status not in (table.success | table.partial | table.rejected):
        result.findings.append(Finding("delivery.status", "", "201 with a StandardResponse", str(status),
                                       f"{where}: the webhook answered HTTP {status}"))
        result.codes.extend([None] * len(items))
        return "refused"
    parsed = attempt.standard_response(len(items), table)
    result.codes.extend(parsed.codes if len(parsed.codes) == len(items) else
                        (parsed.codes + [None] * len(items))[: len(items)])
    result.findings.extend(_located(parsed.findings, where))
    for i, (entry, code) in enumerate(zip(parsed.entries, parsed.codes)):
        if code and code not in SUCCESS_CODES:
            result.findings.append(Finding(
                "delivery.message-rejected", f"/messageArray/{i}/message", "RCP0000",
                short(entry.get("message")), f"{where}: the webhook reported {code} for message {i}",
                "error" if status != 201 else "warning",
                {"code": code, "transactionID": entry.get("transactionID")}))
    if status in table.success:
        return "accepted" if parsed.ok else "failed"
    if status in table.partial:
        return "partial"
    return "rejected"


def classify_attempt(attempt: Attempt, items: list[dict], retries_left: bool = False) -> tuple[str, list[str | None]]:
    """(outcome, RCP codes) of one attempt on its own: what a transcript record of it says.

    `retryable` for a status the DIP re-tries (when a retry is still to come); otherwise the outcomes
    of `deliver` (`accepted`, `partial`, `rejected`, `refused`, `failed`, `timeout`).
    """
    table = load_code_table()
    if attempt.error is not None:
        return ("timeout" if attempt.error.startswith(("timeout", "total-timeout")) else "failed"), []
    assert attempt.status is not None
    if attempt.status in table.retry:
        return ("retryable" if retries_left else "failed"), []
    scratch = DeliveryResult("accepted", 1, attempt.status)
    return _classify(attempt.status, attempt, items, table, "delivery", scratch), scratch.codes


def _located(findings: list[Finding], where: str) -> list[Finding]:
    return [Finding(f.rule, f.path, f.expected, f.actual, f"{where}: {f.message}", f.severity, f.extra)
            for f in findings]


def _delay(number: int, backoff: tuple[float, float], attempt: Attempt | None) -> float:
    base, cap = backoff
    delay = min(cap, base * (2 ** (number - 1)))
    retry_after = _retry_after(attempt)
    if retry_after is not None:
        delay = min(cap, max(delay, retry_after))
    return delay


def _retry_after(attempt: Attempt | None) -> float | None:
    value = getattr(attempt, "retry_after", None)
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _post(client: httpx.Client, url: str, body: bytes, headers: dict[str, str], timeout: Timeouts,
          max_bytes: int, batch: int, number: int, count: int) -> Attempt:
    when = datetime.now(timezone.utc)
    started = time.monotonic()
    deadline = started + timeout.total
    try:
        with client.stream("POST", url, content=body, headers=headers, timeout=timeout.httpx()) as response:
            try:  # before the body is read: the connection may close with its last byte
                peer = peer_certificate_sha256(response)
            except (TypeError, ValueError, AttributeError):
                peer = None
            chunks: list[bytes] = []
            size = 0
            error = None
            for chunk in response.iter_raw():
                size += len(chunk)
                chunks.append(chunk)
                if size > max_bytes:
                    error = f"response-too-large: more than {max_bytes} bytes"
                    break
                if time.monotonic() > deadline:
                    error = f"total-timeout: reply still arriving after {timeout.total:g} s"
                    break
            data = b"".join(chunks)
            return Attempt(batch, number, response.status_code, error, time.monotonic() - started,
                           data[:max_bytes], error is not None, count, when,
                           response.headers.get("Retry-After"), dict(response.headers), peer)
    except httpx.TimeoutException as exc:
        error = f"timeout: {type(exc).__name__}"
    except httpx.HTTPError as exc:
        error = f"connection: {type(exc).__name__}: {short(str(exc), 120)}"
    except OSError as exc:  # ssl errors surfaced raw by some paths
        error = f"connection: {type(exc).__name__}: {short(str(exc), 120)}"
    return Attempt(batch, number, None, error, time.monotonic() - started, b"", False, count, when)


def _record(recorder: Any, channel: str, url: str, headers: dict[str, str], body: bytes,
            attempt: Attempt) -> int | None:
    if recorder is None:
        return None
    return recorder.http(channel=channel, method="POST", url=url, request_headers=headers, request_body=body,
                         status=attempt.status, response_headers=attempt.response_headers,
                         response_body=attempt.body, started=attempt.started,
                         elapsed_ms=attempt.elapsed * 1000.0, peer_certificate_sha256=attempt.peer_certificate,
                         error=attempt.error,
                         context={"batch": attempt.batch, "attempt": attempt.number,
                                  "messages": attempt.message_count, "truncated": attempt.truncated})
