"""The simulated DIP ("hub"): the inbound message-channel API, its checks, store and router.

A participant under test talks to the hub as it would to the DIP: it POSTs batches to
`/dip-channel/{IF}` with its API key and signature headers, registers webhooks with `pubconfig`,
asks for `replay`/`requeue`, posts `statusmessage`s and may use `/validate`. The hub answers as the
DIP documents (StandardResponse, MSG codes, all-or-nothing batches), keeps what it accepted, and
routes each message to its primary recipients' webhooks, signed as the DIP signs, with D0 added.

Check order for `POST /dip-channel/{IF}` (the first failing step answers; the DIP's own order is [U]):

1. `X-API-Key` is a registered primary or secondary key -> else 401, nothing routed.
2. Signature headers verify against the key owner's registered certificate -> else 401.
   The real DIP's status for a bad signature is unknown ([I] 401/403); we answer 401.
3. The URL's interface is one the catalogue knows -> else 400 MSG1002.
4. Body: JSON array, S0 and schema (`validate_body`, ingress form) -> 400 MSG1001, or MSG1002 when
   S0.interfaceID is unknown or differs from the URL. Business checks (MPAN check digit, periods,
   SUR parts) are not DIP L1 validation: they are kept on the Submission as `findings` and reject
   only with `HubConfig.reject_on_checks`.
5. Per message, first failure wins: MSG1009 S1.senderDIPID is not the API key's DIP ID; MSG1010
   S1.senderRoleID is not the registered role, or that role does not send this event (catalogue);
   MSG1011 DIPConnectionProviderID set and not the registered DCP; MSG1007 senderTimestamp not
   DT-003 or more than `skew` in the future; MSG1030 no primary recipients; MSG1031 a primary
   recipient is not registered; MSG1032 a primary recipient's role does not receive this event;
   MSG1006 senderUniqueReference already accepted (hub lifetime) or repeated in the batch. The
   duplicate check is last because only an accepted batch consumes its references.

A rejected batch (400) lists one StandardResponse entry per failing message (transactionID null,
`help` says what was wrong); an unreadable body gets one entry. Nothing of it is stored or routed.
"""

from __future__ import annotations

import copy
import json
import queue
import re
import secrets
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

from cryptography import x509
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from harness.catalogue import Catalogue, Event, Interface, load_catalogue
from harness.errors import ConfigError, DipcertError
from harness.findings import Finding, short
from harness.messages import ids
from harness.transport.apikeys import API_KEY_HEADER, ApiKeyRegistry, KeyMatch
from harness.transport.delivery import (MAX_RESPONSE_BYTES, DeliveryResult, Timeouts, WebhookConfig,
                                        deliver)
from harness.transport.responses import (load_code_table, parse_standard_response, response_entry,
                                         standard_response)

T = TypeVar("T")
UTC = timezone.utc
DIP_SENDER_ID = "0000000000"  # the DIP's own id in StandardResponse.senderID (spec examples: zeros)
_SCHEMA_RULES = ("json.", "envelope.", "schema.", "s0.event")
_INTERFACE_RULES = ("s0.interface", "interface.mismatch")


class HubTimeout(TimeoutError):
    """Nothing matching arrived in time; the message says what did arrive."""


# --- configuration ------------------------------------------------------------------------------

@dataclass(frozen=True)
class HubTLS:
    """Server certificate and key (PEM files); with `client_ca` clients must present a cert (mTLS)."""

    cert: Path | str
    key: Path | str
    client_ca: Path | str | bytes | None = None


@dataclass(frozen=True)
class DeliverySettings:
    """How the hub delivers to webhooks. Retry count and backoff are not published by the DIP ([U])."""

    timeouts: Timeouts = Timeouts()
    retries: int = 3
    backoff: tuple[float, float] = (0.05, 2.0)
    client_tls: ssl.SSLContext | None = None  # e.g. tls.client_context(ca=..., cert=..., key=...) for mTLS
    max_response_bytes: int = MAX_RESPONSE_BYTES
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class HubConfig:
    host: str = "127.0.0.1"
    port: int = 0
    environment: str = "UIT"
    identity: Any = None  # SigningIdentity of the DIP; None: a throw-away one is made at start
    tls: HubTLS | None = None
    skew: timedelta = timedelta(minutes=5)
    delivery: DeliverySettings = DeliverySettings()
    require_signature: bool = True
    trust: tuple[x509.Certificate, ...] = ()  # CAs a signing certificate must chain to (empty: not checked)
    reject_on_checks: bool = False
    max_body_bytes: int = 10 * 1024 * 1024
    dip_id: str = DIP_SENDER_ID
    catalogue: Catalogue | None = None


@dataclass(frozen=True)
class PartyRegistration:
    dip_id: str
    role: str
    mpid: str
    api_keys: tuple[str, str]
    certificate: x509.Certificate | None
    dcp_id: str | None = None
    webhooks: dict[str, WebhookConfig] | None = None

    def __repr__(self) -> str:  # never show the keys
        return f"PartyRegistration(dip_id={self.dip_id!r}, role={self.role!r}, mpid={self.mpid!r})"


# --- what the hub keeps -------------------------------------------------------------------------

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


@dataclass
class Rejection:
    """A request the hub refused (401) or rejected (400), with the reasons."""

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


# --- the hub ------------------------------------------------------------------------------------

_ROUTES: list[tuple[re.Pattern[str], str, tuple[str, ...]]] = [
    (re.compile(r"^/dip-channel/(?P<iface>[^/]+)$", re.I), "submit", ("POST",)),
    (re.compile(r"^/dip-channel/(?P<iface>[^/]+)/pubconfig/(?P<rid>[^/]+)$", re.I), "pubconfig", ("POST", "DELETE")),
    (re.compile(r"^/dip-channel/(?P<iface>[^/]+)/replay/(?P<rid>[^/]+)$", re.I), "replay", ("POST",)),
    (re.compile(r"^/dip-channel/(?P<iface>[^/]+)/requeue/(?P<rid>[^/]+)$", re.I), "requeue", ("POST",)),
    (re.compile(r"^/statusmessage$", re.I), "statusmessage", ("POST",)),
    (re.compile(r"^/validate/(?P<iface>[^/]+)/(?P<event>[^/]+)$", re.I), "validate", ("POST",)),
]


class _Reply(Exception):
    """Raised inside a handler to answer at once (auth failures, bad bodies)."""

    def __init__(self, response: Response, findings: list[Finding] | None = None, codes: list[str] | None = None,
                 sender: str | None = None) -> None:
        super().__init__(response.status_code)
        self.response, self.findings, self.codes, self.sender = response, findings or [], codes or [], sender


class Hub:
    """The simulated DIP. Use as a context manager, or `start()`/`stop()`."""

    def __init__(self, config: HubConfig | None = None, *, recorder: Any = None, pack: Any = None) -> None:
        self.config = config or HubConfig()
        self.recorder = recorder
        self.pack = pack
        self.catalogue = self.config.catalogue or load_catalogue()
        self.codes = load_code_table()
        self.identity = self.config.identity
        self._keys = ApiKeyRegistry()
        self._parties: dict[str, PartyRegistration] = {}
        self._webhooks: dict[tuple[str, str], WebhookConfig] = {}
        self._cond = threading.Condition()
        self._surs: set[str] = set()
        self._submissions: list[Submission] = []
        self._rejections: list[Rejection] = []
        self._store: list[StoredMessage] = []
        self._deliveries: list[Delivery] = []
        self._status: list[StatusMessage] = []
        self._workers: dict[tuple[str, str], tuple[queue.Queue, threading.Thread]] = {}
        self._server: BaseWSGIServer | None = None
        self._accepting = False
        self._thread: threading.Thread | None = None
        self._record_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> "Hub":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> "Hub":
        if self._server is not None:
            return self
        if self.identity is None:
            from harness.transport.certs import cached_key, make_ca

            ca = make_ca("dipcert hub signing CA", key=cached_key("hub-signing-ca"))
            self.identity = ca.issue("dip.hub.dipcert", key=cached_key("hub-signing")).identity()
        ssl_context = None
        if self.config.tls is not None:
            from harness.transport.tls import server_context

            ssl_context = server_context(self.config.tls.cert, self.config.tls.key, client_ca=self.config.tls.client_ca)
        try:
            self._server = make_server(self.config.host, self.config.port, self._wsgi, threaded=True,
                                       ssl_context=ssl_context)
        except OSError as exc:
            raise ConfigError(f"hub: cannot listen on {self.config.host}:{self.config.port} ({exc.strerror})") from None
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="dipcert-hub", daemon=True)
        self._accepting = True
        self._thread.start()
        self._event("hub.start", base_url=self.base_url, environment=self.config.environment,
                    mtls=bool(self.config.tls and self.config.tls.client_ca),
                    signer=self.identity.fingerprint() if hasattr(self.identity, "fingerprint") else None)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        with self._cond:
            self._accepting = False
            workers = list(self._workers.values())
            self._workers.clear()
        for jobs, _ in workers:
            jobs.put(None)
        d = self.config.delivery  # a job in flight may make every attempt: wait for it (bounded)
        bound = (d.retries + 1) * (d.timeouts.total + d.backoff[1]) + 1
        for _, thread in workers:
            thread.join(bound)
        self._server = None
        self._event("hub.stop")

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the hub is not started")
        scheme = "https" if self.config.tls is not None else "http"
        host = self.config.host if ":" not in self.config.host else f"[{self.config.host}]"
        return f"{scheme}://{host}:{self._server.server_port}"

    # -- registration ----------------------------------------------------------------------------

    def register_party(self, party: PartyRegistration) -> None:
        where = f"party {party.dip_id!r}"
        if not ids.is_dip_id(party.dip_id):
            raise ConfigError(f"{where}: dip_id should be exactly 10 characters")
        if not isinstance(party.role, str) or not re.fullmatch(r"[A-Z]{3,5}", party.role):
            raise ConfigError(f"{where}: role should be a DIP role code like MDR or SDS, got {party.role!r}")
        if party.dcp_id is not None and not ids.is_dip_id(party.dcp_id):
            raise ConfigError(f"{where}: dcp_id should be a 10-character DIP ID or None")
        if party.certificate is not None and not isinstance(party.certificate, x509.Certificate):
            raise ConfigError(f"{where}: certificate should be an x509.Certificate or None")
        self._keys.register(party.dip_id, tuple(party.api_keys))  # type: ignore[arg-type]
        with self._cond:
            self._parties[party.dip_id] = party
        for interface_id, config in (party.webhooks or {}).items():
            self.register_webhook(party.dip_id, interface_id, config)
        self._event("hub.party", dip_id=party.dip_id, role=party.role, mpid=party.mpid, dcp_id=party.dcp_id,
                    certificate=_fingerprint(party.certificate))

    def register_webhook(self, dip_id: str, interface_id: str, config: WebhookConfig | None) -> None:
        """Set (or with None remove) where `interface_id` messages for `dip_id` are delivered."""
        interface = self.catalogue.get(interface_id).id
        with self._cond:
            if config is None:
                self._webhooks.pop((dip_id, interface), None)
            else:
                self._webhooks[(dip_id, interface)] = config
        self._event("hub.webhook", dip_id=dip_id, interface=interface,
                    config=config.to_json() if config else None)

    def webhook(self, dip_id: str, interface_id: str) -> WebhookConfig | None:
        with self._cond:
            return self._webhooks.get((dip_id, self.catalogue.get(interface_id).id))

    # -- what happened ---------------------------------------------------------------------------

    def received(self, interface_id: str | None = None) -> list[Submission]:
        wanted = self.catalogue.get(interface_id).id if interface_id else None
        with self._cond:
            return [s for s in self._submissions if wanted is None or s.interface_id == wanted]

    def rejections(self) -> list[Rejection]:
        with self._cond:
            return list(self._rejections)

    def inbox(self, dip_id: str) -> list[StoredMessage]:
        with self._cond:
            return [m for m in self._store if m.recipient == dip_id]

    def deliveries(self) -> list[Delivery]:
        with self._cond:
            return list(self._deliveries)

    def status_messages(self) -> list[StatusMessage]:
        with self._cond:
            return list(self._status)

    def wait_for(self, predicate: Callable[[Submission], bool] | None = None, timeout: float = 10.0) -> Submission:
        """The first accepted message matching `predicate` (already here or arriving within `timeout`)."""
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
        """`condition()` (called with the hub's lock held, on every change) until truthy or `timeout`.

        For waits on more than one kind of thing at once, e.g. "accepted *or* rejected".
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = condition()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def _wait(self, items: list[T], predicate: Callable[[T], bool] | None, timeout: float, what: str) -> T:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for item in items:
                    if predicate is None or predicate(item):
                        return item
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise HubTimeout(f"no matching {what} within {timeout:g} s ({len(items)} {what}(s) seen, "
                                     f"{len(self._rejections)} rejected request(s))")
                self._cond.wait(remaining)

    # -- HTTP ------------------------------------------------------------------------------------

    def _wsgi(self, environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        request.max_content_length = self.config.max_body_bytes
        started = datetime.now(UTC)
        clock = time.monotonic()
        context: dict[str, Any] = {}
        body = b""
        try:
            endpoint, params = self._route(request)
            context["endpoint"] = endpoint
            if params.get("iface"):  # known before authentication, so a refused request still names it
                context["interface"] = params["iface"].upper()
            body = request.get_data(cache=True)
            response = getattr(self, f"_handle_{endpoint}")(request, body, params, context)
        except _Reply as reply:
            response = reply.response
            context.update(outcome="refused" if response.status_code in (401, 403) else "rejected",
                           codes=reply.codes, findings=[f.to_dict() for f in reply.findings])
            if context.get("endpoint"):
                self._reject(Rejection(context["endpoint"], context.get("interface"), response.status_code,
                                       reply.codes, reply.findings, started, body, _safe_headers(request.headers),
                                       reply.sender or context.get("sender")), context)
        except HTTPException as exc:
            response = Response(exc.description or exc.name, status=exc.code, content_type="text/plain")
        except DipcertError as exc:
            response = Response(str(exc), status=400, content_type="text/plain")
        except Exception as exc:  # noqa: BLE001 - the hub must answer, and the evidence must say why
            response = Response("MSG1000 - Message Processing Failed", status=500, content_type="text/plain")
            context["error"] = f"{type(exc).__name__}: {exc}"
        seq = self._record(request, body, response, started, clock, context)
        self._publish(context, seq)
        return response(environ, start_response)

    def _route(self, request: Request) -> tuple[str, dict[str, str]]:
        path = request.path.rstrip("/") or "/"
        for pattern, endpoint, methods in _ROUTES:
            match = pattern.match(path)
            if match:
                if request.method.upper() not in methods:
                    raise _NotAllowed(methods)
                return endpoint, match.groupdict()
        raise _NotFound()

    def _url(self, request: Request) -> str:
        """The hub's own view of the request URL (what a correct signer signed)."""
        query = request.query_string.decode("latin-1")
        return self.base_url + request.path + (f"?{query}" if query else "")

    def _authenticate(self, request: Request, body: bytes, context: dict, *,
                      owner: str | None = None) -> tuple[KeyMatch, PartyRegistration]:
        """API key (401 missing/unknown, 403 another DIP ID's key) then the signature (401)."""
        match = self._keys.lookup(request.headers.get(API_KEY_HEADER))
        if match is None:
            state = "missing" if not request.headers.get(API_KEY_HEADER) else "not registered"
            finding = Finding("hub.api-key", f"header:{API_KEY_HEADER}", "a registered primary or secondary key",
                              state, f"{API_KEY_HEADER} is {state}")
            raise _Reply(_text(401, f"Unauthorised: {API_KEY_HEADER} is {state}"), [finding])
        context.update(sender=match.dip_id, key_slot=match.slot)
        with self._cond:
            party = self._parties[match.dip_id]
        if owner is not None and owner != match.dip_id:
            finding = Finding("hub.api-key", f"header:{API_KEY_HEADER}", f"a key of DIP ID {owner}",
                              f"a key of DIP ID {match.dip_id}", "the API key belongs to another DIP ID")
            raise _Reply(_text(403, f"Forbidden: the API key is not one of {owner}'s keys"), [finding],
                         sender=match.dip_id)
        from harness.transport.signing import verify_request

        findings = verify_request(request.method, self._url(request), body, request.headers,
                                  expected_certificate=party.certificate, trust=self.config.trust,
                                  skew=self.config.skew)
        errors = [f for f in findings if f.severity == "error"]
        if errors and self.config.require_signature:
            raise _Reply(_text(401, "Unauthorised: " + "; ".join(str(f) for f in errors)), findings,
                         sender=match.dip_id)
        if findings:
            context["signature_findings"] = [f.to_dict() for f in findings]
        return match, party

    # -- POST /dip-channel/{IF} ------------------------------------------------------------------

    def _handle_submit(self, request: Request, body: bytes, params: dict, context: dict) -> Response:
        match, party = self._authenticate(request, body, context)
        now = datetime.now(UTC)
        try:
            interface = self.catalogue.get(params["iface"])
        except DipcertError:
            finding = Finding("interface.unknown", "", f"one of {', '.join(self.catalogue.interfaces)}",
                              short(params["iface"]), f"the DIP has no message channel {params['iface']!r}")
            raise _Reply(self._rejected([(None, "MSG1002", finding)], party), [finding], ["MSG1002"]) from None
        context["interface"] = interface.id
        from harness.messages.validate import parse_body, validate_body

        findings = validate_body(body, interface_id=interface.id, form="ingress", pack=self.pack)
        data, _ = parse_body(body)
        failures: dict[int | None, tuple[str, Finding]] = {}
        business: dict[int, list[Finding]] = {}
        for finding in findings:
            index = _index_of(finding.path)
            code = _code_for(finding.rule, self.config.reject_on_checks, finding.path)
            if code is None:
                business.setdefault(index if index is not None else 0, []).append(finding)
            elif index not in failures or (code == "MSG1002" and failures[index][0] != "MSG1002"):
                failures[index] = (code, finding)
        if None in failures:  # the body as a whole is unreadable
            code, finding = failures[None]
            raise _Reply(self._rejected([(None, code, finding)], party), findings, [code])
        items: list[dict] = data
        events: list[Event | None] = []
        for index, item in enumerate(items):
            event = None
            if index not in failures:
                event = self.catalogue.find_event_by_code(interface.id, item["payload"]["CommonBlock"]["S0"]["eventCode"])
                problem = self._check_message(item, index, event, match, party, now)
                if problem is not None:
                    failures[index] = problem
            events.append(event)
        with self._cond:
            batch_surs: set[str] = set()
            for index, item in enumerate(items):
                if index in failures:
                    continue
                sur = item["payload"]["CommonBlock"]["S1"]["senderUniqueReference"]
                if sur in self._surs or sur in batch_surs:
                    failures[index] = ("MSG1006", Finding(
                        "hub.duplicate-sur", f"/{index}/payload/CommonBlock/S1/senderUniqueReference",
                        "a reference not used before", short(sur),
                        "senderUniqueReference was already used" + (" in this batch" if sur in batch_surs else "")))
                batch_surs.add(sur)
            if failures:
                rows = [(i, code, f) for i, (code, f) in sorted(failures.items(), key=lambda kv: kv[0] or 0)]
                all_findings = [f for _, _, f in rows] + [f for f in findings if f not in [r[2] for r in rows]]
                raise _Reply(self._rejected(rows, party, items), all_findings, [code for _, code, _ in rows])
            self._surs |= batch_surs
        submissions = []
        for index, item in enumerate(items):
            event = events[index]
            assert event is not None
            s1 = item["payload"]["CommonBlock"]["S1"]
            tx = ids.transaction_id(interface.id, s1["senderDIPID"], s1["senderRoleID"], now, secrets.token_hex(8))
            recipients = tuple(r for r in item["payload"]["CommonBlock"]["A0"]["primaryRecipients"] if r)
            submissions.append(Submission(interface.id, event.name, item, match.dip_id, tx, now, body,
                                          _safe_headers(request.headers), index, match.slot, recipients,
                                          business.get(index, [])))
        entries = [self._entry("MSG0000", s.item, transaction_id=s.transaction_id) for s in submissions]
        context.update(outcome="accepted", codes=["MSG0000"] * len(entries), pending=submissions,
                       transaction_ids=[s.transaction_id for s in submissions],
                       findings=[f.to_dict() for s in submissions for f in s.findings])
        return _json(201, standard_response(entries))

    def _check_message(self, item: dict, index: int, event: Event | None, match: KeyMatch,
                       party: PartyRegistration, now: datetime) -> tuple[str, Finding] | None:
        common = item["payload"]["CommonBlock"]
        s1 = common["S1"]
        at = f"/{index}/payload/CommonBlock"
        if s1.get("senderDIPID") != match.dip_id:
            return "MSG1009", Finding("hub.sender-dip-id", f"{at}/S1/senderDIPID", match.dip_id,
                                      short(s1.get("senderDIPID")), "senderDIPID is not the DIP ID of the API key")
        if s1.get("senderRoleID") != party.role or (event is not None and event.sender != party.role):
            expected = party.role if s1.get("senderRoleID") != party.role else f"{event.sender} (sender of {event.key})"
            return "MSG1010", Finding("hub.sender-role", f"{at}/S1/senderRoleID", expected,
                                      short(s1.get("senderRoleID")),
                                      f"a {party.role} party cannot send this event as {s1.get('senderRoleID')}")
        dcp = s1.get("DIPConnectionProviderID")
        if dcp is not None and dcp != party.dcp_id:
            return "MSG1011", Finding("hub.dcp", f"{at}/S1/DIPConnectionProviderID", str(party.dcp_id),
                                      short(dcp), "DIPConnectionProviderID is not the DCP registered for the sender")
        stamp = s1.get("senderTimestamp")
        try:
            sent = ids.parse_dip_timestamp(stamp)
        except ValueError:
            return "MSG1007", Finding("hub.sender-timestamp", f"{at}/S1/senderTimestamp",
                                      "a 25-character DT-003 timestamp", short(stamp), "senderTimestamp is not DT-003")
        if sent - now > self.config.skew:
            return "MSG1007", Finding("hub.sender-timestamp", f"{at}/S1/senderTimestamp",
                                      f"not after {ids.dip_timestamp(now + self.config.skew)}", stamp,
                                      "senderTimestamp is in the future")
        primaries = [r for r in ((common.get("A0") or {}).get("primaryRecipients") or []) if r]
        if not primaries:
            return "MSG1030", Finding("hub.no-recipient", f"{at}/A0/primaryRecipients", "at least one DIP ID",
                                      "none", "no primary recipient: the DIP cannot route the message")
        with self._cond:
            parties = dict(self._parties)
        for i, recipient in enumerate(primaries):
            if recipient not in parties:
                return "MSG1031", Finding("hub.recipient-unknown", f"{at}/A0/primaryRecipients/{i}",
                                          "a registered DIP ID", short(recipient), "primary recipient is not a DIP participant")
            if event is not None and parties[recipient].role not in event.receivers:
                return "MSG1032", Finding("hub.recipient-role", f"{at}/A0/primaryRecipients/{i}",
                                          f"a party of role {'/'.join(event.receivers)}",
                                          f"{recipient} ({parties[recipient].role})",
                                          f"a {parties[recipient].role} does not receive {event.key}")
        return None

    def _entry(self, code: str, item: Any, *, transaction_id: str | None = None, help: str | None = None) -> dict:
        s1 = _s1(item)
        stamp = s1.get("senderTimestamp")
        try:
            ids.parse_dip_timestamp(stamp)
        except ValueError:
            stamp = None
        return response_entry(code, transaction_id=transaction_id,
                              sender_unique_reference=_str_or_none(s1.get("senderUniqueReference"), 200),
                              correlation_id=_str_or_none(s1.get("senderCorrelationID"), 60),
                              sent_timestamp=stamp, sender_id=self.config.dip_id,
                              recipient_id=_str_or_none(s1.get("senderDIPID"), 10),
                              dcp_id=_str_or_none(s1.get("DIPConnectionProviderID"), 10), help=help, table=self.codes)

    def _rejected(self, rows: list[tuple[int | None, str, Finding]], party: PartyRegistration,
                  items: list | None = None) -> Response:
        entries = []
        for index, code, finding in rows:
            item = items[index] if items is not None and index is not None and index < len(items) else None
            entry = self._entry(code, item, help=f"{finding.path or '/'}: {finding.message}")
            if item is None:
                entry["recipientID"] = party.dip_id
            entries.append(entry)
        return _json(400, standard_response(entries))

    # -- pubconfig, replay, requeue --------------------------------------------------------------

    def _handle_pubconfig(self, request: Request, body: bytes, params: dict, context: dict) -> Response:
        interface = self._interface(params["iface"], context)
        self._authenticate(request, body, context, owner=params["rid"])
        if request.method.upper() == "DELETE":
            self.register_webhook(params["rid"], interface.id, None)
            context["outcome"] = "webhook-deleted"
            return Response(status=204)
        try:
            config = WebhookConfig.from_json(json.loads(body))
        except ValueError as exc:
            finding = Finding("hub.webhook-config", "", "WebhookConfig {callbackURL, maxMessageCount, maxPayloadSize}",
                              short(body.decode("utf-8", "replace")), str(exc))
            raise _Reply(_text(400, f"Bad Request: {exc}"), [finding]) from None
        self.register_webhook(params["rid"], interface.id, config)
        context["outcome"] = "webhook-registered"
        return Response(status=201)

    def _handle_replay(self, request: Request, body: bytes, params: dict, context: dict) -> Response:
        interface = self._interface(params["iface"], context)
        _, party = self._authenticate(request, body, context, owner=params["rid"])
        matches = self._matching(params["rid"], interface.id, body, party)
        context.update(outcome="replayed", transaction_ids=[m.transaction_id for m in matches])
        return _json(200, [_replayed(m.item) for m in matches])

    def _handle_requeue(self, request: Request, body: bytes, params: dict, context: dict) -> Response:
        interface = self._interface(params["iface"], context)
        _, party = self._authenticate(request, body, context, owner=params["rid"])
        matches = self._matching(params["rid"], interface.id, body, party)
        config = self.webhook(params["rid"], interface.id)
        if config is None:
            finding = Finding("hub.no-webhook", "", f"a webhook for {interface.id}", "none",
                              f"{params['rid']} has no webhook registered for {interface.id}")
            raise _Reply(_json(400, standard_response([response_entry(
                "MSG1000", sender_id=self.config.dip_id, recipient_id=params["rid"], help=finding.message,
                table=self.codes)])), [finding], ["MSG1000"])
        context.update(outcome="requeued", transaction_ids=[m.transaction_id for m in matches])
        if matches:
            context["jobs"] = [(params["rid"], interface.id, config, [_replayed(m.item) for m in matches], True)]
        return Response(status=200)

    def _interface(self, raw: str, context: dict) -> Interface:
        try:
            interface = self.catalogue.get(raw)
        except DipcertError:
            raise _Reply(_text(404, f"Not found: no message channel {raw!r}")) from None
        context["interface"] = interface.id
        return interface

    def _matching(self, recipient: str, interface_id: str, body: bytes, party: PartyRegistration) -> list[StoredMessage]:
        """Stored messages for `recipient` matching a MessageRequest; 400 when the request is malformed."""
        try:
            request = _message_request(body)
        except ValueError as exc:
            finding = Finding("hub.message-request", "", "MessageRequest {datetimeFrom, datetimeTo, eventCode, MPAN, version}",
                              short(body.decode("utf-8", "replace")), str(exc))
            raise _Reply(_json(400, standard_response([response_entry(
                "MSG1001", sender_id=self.config.dip_id, recipient_id=party.dip_id, help=str(exc),
                table=self.codes)])), [finding], ["MSG1001"]) from None
        start, end, code, mpan, version, wanted = request
        out = []
        for message in self.inbox(recipient):
            common = message.item["payload"]["CommonBlock"]
            when = ids.parse_dip_timestamp(common["D0"]["transactionTimestamp"])
            if message.interface_id != interface_id or (start and when < start) or (end and when > end):
                continue
            if code and common["S0"]["eventCode"].strip("[]") != code.strip("[]"):
                continue
            if mpan and (common.get("M0") or {}).get("MPANCore") != mpan:
                continue
            if version and common["S0"].get("schemaVersion") != version:
                continue
            if wanted is not None and message.transaction_id not in wanted:
                continue
            out.append(message)
        return out

    # -- statusmessage and validate --------------------------------------------------------------

    def _handle_statusmessage(self, request: Request, body: bytes, params: dict, context: dict) -> Response:
        match, party = self._authenticate(request, body, context)
        parsed = parse_standard_response(body, array_only=True, prefix="status", table=self.codes)
        if not parsed.ok:
            errors = [f for f in parsed.findings if f.severity == "error"]
            raise _Reply(_json(400, standard_response([response_entry(
                "MSG1001", sender_id=self.config.dip_id, recipient_id=party.dip_id,
                help="; ".join(str(f) for f in errors)[:500], table=self.codes)])), parsed.findings, ["MSG1001"])
        status = StatusMessage(match.dip_id, parsed.entries, parsed.codes, datetime.now(UTC), body)
        context.update(outcome="status-recorded", codes=[c for c in parsed.codes if c], pending_status=status)
        entries = [response_entry("MSG0000", transaction_id=e.get("transactionID"),
                                  sender_unique_reference=e.get("senderUniqueReference"),
                                  correlation_id=e.get("correlationID"), sender_id=self.config.dip_id,
                                  recipient_id=party.dip_id, table=self.codes) for e in parsed.entries]
        return _json(201, standard_response(entries))

    def _handle_validate(self, request: Request, body: bytes, params: dict, context: dict) -> Response:
        if self._keys.lookup(request.headers.get(API_KEY_HEADER)) is None:
            raise _Reply(_text(401, f"Unauthorised: {API_KEY_HEADER} is missing or not registered"))
        from harness.messages.validate import identify, parse_body, validate_body

        try:
            event = self.catalogue.get(params["iface"]).event(params["event"])
        except DipcertError as exc:
            return _json(400, f"Bad Request: {exc}")
        context["interface"] = event.interface_id
        findings = validate_body(body, interface_id=event.interface_id, pack=self.pack)
        data, _ = parse_body(body)
        if isinstance(data, list):
            for index, item in enumerate(data):
                found = identify(item) if isinstance(item, dict) else None
                if found is not None and found != (event.interface_id, event.name):
                    findings.append(Finding("interface.event-mismatch", f"/{index}/payload/CommonBlock/S0/eventCode",
                                            event.code, f"[{found[1]}]", f"message is not a {event.key} message"))
        errors = [f for f in findings if f.severity == "error"]
        context.update(outcome="valid" if not errors else "invalid", findings=[f.to_dict() for f in findings])
        if errors:
            return _json(400, "\n".join(str(f) for f in errors))
        return _json(201, "Message OK")

    # -- store, route, deliver -------------------------------------------------------------------

    def _reject(self, rejection: Rejection, context: dict) -> None:
        context["pending_rejection"] = rejection

    def _publish(self, context: dict, seq: int | None) -> None:
        """Make the outcome visible to waiters, after it is in the evidence log."""
        jobs = list(context.get("jobs", []))
        with self._cond:
            if "pending_rejection" in context:
                rejection = context["pending_rejection"]
                rejection.seq = seq
                self._rejections.append(rejection)
            if "pending_status" in context:
                status = context["pending_status"]
                status.seq = seq
                self._status.append(status)
            for submission in context.get("pending", []):
                submission.seq = seq
                self._submissions.append(submission)
                jobs.extend(self._route_submission(submission))
            self._cond.notify_all()
        merged: dict[tuple, list[dict]] = {}
        for recipient, interface_id, config, items, replay in jobs:  # one POST per recipient per batch
            merged.setdefault((recipient, interface_id, config, replay), []).extend(items)
        for (recipient, interface_id, config, replay), items in merged.items():
            self._enqueue(recipient, interface_id, config, items, replay)

    def _route_submission(self, submission: Submission) -> list[tuple]:
        """Store one egress copy per primary recipient; return delivery jobs (call with the lock held)."""
        jobs = []
        interface = self.catalogue.get(submission.interface_id)
        for recipient in dict.fromkeys(submission.recipients):
            item = build_egress(submission.item, transaction_id=submission.transaction_id,
                                moment=datetime.now(UTC), publication_id=interface.publication_id)
            self._store.append(StoredMessage(recipient, submission.interface_id, submission.event,
                                             submission.transaction_id, item, datetime.now(UTC)))
            config = self._webhooks.get((recipient, submission.interface_id))
            if config is not None:
                jobs.append((recipient, submission.interface_id, config, [item], False))
        return jobs

    def _enqueue(self, recipient: str, interface_id: str, config: WebhookConfig, items: list[dict],
                 replay: bool) -> None:
        """Deliveries to one recipient keep their order per MPAN (an IF-063 never overtakes its IF-061):
        one worker per recipient and MPAN (the batch's first message's), ending when it has nothing left
        to deliver. Different MPANs are delivered in parallel, so one slow delivery holds back only the
        messages about the same MPAN, not every message to that recipient."""
        common = ((items[0].get("payload") or {}).get("CommonBlock") or {}) if items else {}
        mpan = common.get("M0", {}).get("MPANCore") if isinstance(common.get("M0"), dict) else None
        key = (recipient, str(mpan or ""))
        with self._cond:
            if not self._accepting:
                return
            worker = self._workers.get(key)
            if worker is None:
                jobs: queue.Queue = queue.Queue()
                thread = threading.Thread(target=self._work, args=(key, jobs), daemon=True,
                                          name=f"dipcert-hub-deliver-{recipient}-{mpan or 'none'}")
                worker = self._workers[key] = (jobs, thread)
                thread.start()
            worker[0].put((recipient, interface_id, config, items, replay))  # under the lock: see _work

    def _work(self, key: tuple[str, str], jobs: queue.Queue) -> None:
        while True:
            job = jobs.get()
            if job is None:
                return
            self._deliver_job(job)
            with self._cond:  # nothing left: end (jobs are put under this lock, so none is lost)
                if jobs.empty() and self._workers.get(key, (None,))[0] is jobs:
                    del self._workers[key]
                    return

    def _deliver_job(self, job: tuple) -> None:
        """One delivery job: deliver with the DIP's retries, record it, make it visible to waiters."""
        recipient, interface_id, config, items, replay = job
        settings = self.config.delivery
        started = datetime.now(UTC)
        try:
            result = deliver(config.callback_url, items, identity=self.identity, config=config,
                             timeout=settings.timeouts, retries=settings.retries, backoff=settings.backoff,
                             sleep=settings.sleep, client_tls=settings.client_tls,
                             max_response_bytes=settings.max_response_bytes, recorder=self.recorder)
        except Exception as exc:  # noqa: BLE001 - a bad URL or TLS setup must not kill the worker
            result = DeliveryResult("failed", 0, None, [Finding(
                "delivery.error", "", "a delivery attempt", type(exc).__name__, f"delivery could not start: {exc}")])
        tx_ids = [item["payload"]["CommonBlock"]["D0"]["transactionID"] for item in items]
        delivery = Delivery(recipient, interface_id, config.callback_url, tx_ids, replay, result, started,
                            datetime.now(UTC))
        self._event("hub.delivery", recipient=recipient, interface=interface_id, url=config.callback_url,
                    transaction_ids=tx_ids, replay=replay, outcome=result.outcome, attempts=result.attempts,
                    status=result.status, codes=result.codes,
                    findings=[f.to_dict() for f in result.findings],
                    seqs=[a.seq for a in result.responses if a.seq is not None])
        with self._cond:
            self._deliveries.append(delivery)
            self._cond.notify_all()

    # -- evidence --------------------------------------------------------------------------------

    def _record(self, request: Request, body: bytes, response: Response, started: datetime, clock: float,
                context: dict) -> int | None:
        if self.recorder is None:
            return None
        from harness.transport.tls import peer_certificate_sha256

        try:
            peer = peer_certificate_sha256(request.environ)
        except (TypeError, ValueError):
            peer = None
        data = {k: v for k, v in context.items() if not k.startswith("pending") and k != "jobs"}
        with self._record_lock:
            return self.recorder.http(channel="hub-inbound", method=request.method, url=self._url(request),
                                      request_headers=_safe_headers(request.headers), request_body=body,
                                      status=response.status_code, response_headers=dict(response.headers),
                                      response_body=response.get_data(), started=started,
                                      elapsed_ms=(time.monotonic() - clock) * 1000.0,
                                      peer_certificate_sha256=peer, error=data.pop("error", None), context=data)

    def _event(self, kind: str, **data: Any) -> None:
        if self.recorder is not None:
            with self._record_lock:
                self.recorder.event(kind, **data)


# --- helpers ------------------------------------------------------------------------------------

class _NotFound(HTTPException):
    code = 404
    description = "Not found"


class _NotAllowed(HTTPException):
    code = 405
    description = "Method Not Allowed"

    def __init__(self, methods: tuple[str, ...]) -> None:
        super().__init__()
        self.methods = methods


def build_egress(item: dict, *, transaction_id: str, moment: datetime, publication_id: str | None = None,
                 replay: bool = False) -> dict:
    """A copy of an accepted item as the DIP delivers it: D0 added, A0 completed (A-D0-EGRESS)."""
    from harness.messages.samples import add_d0

    out = copy.deepcopy(item)
    common = out["payload"]["CommonBlock"]
    add_d0(common, None, moment, transaction_id=transaction_id, replay=replay)  # type: ignore[arg-type]
    if publication_id is not None:
        common["D0"]["publicationID"] = publication_id
    return out


def _replayed(item: dict) -> dict:
    out = copy.deepcopy(item)
    out["payload"]["CommonBlock"]["D0"]["replayIndicator"] = True
    return out


def _message_request(body: bytes) -> tuple[datetime | None, datetime | None, str | None, str | None, str | None,
                                           set[str] | None]:
    try:
        data = json.loads(body)
    except ValueError:
        raise ValueError("body is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("body should be a MessageRequest object")
    required = ("datetimeFrom", "datetimeTo", "eventCode", "MPAN", "version")
    missing = [k for k in required if k not in data]
    if missing:
        raise ValueError(f"missing {', '.join(missing)} (required, null when not used)")
    extra = sorted(set(data) - set(required) - {"transactionIDs"})
    if extra:
        raise ValueError(f"unexpected keys: {', '.join(extra)}")
    stamps = []
    for key in ("datetimeFrom", "datetimeTo"):
        value = data[key]
        if value is None:
            stamps.append(None)
            continue
        try:
            stamps.append(ids.parse_dip_timestamp(value))
        except ValueError:
            raise ValueError(f"{key} should be a 25-character DT-003 timestamp or null, got {short(value)}") from None
    for key in ("eventCode", "MPAN", "version"):
        if data[key] is not None and not isinstance(data[key], str):
            raise ValueError(f"{key} should be a string or null")
    wanted = data.get("transactionIDs")
    if wanted is not None:
        if not isinstance(wanted, list) or not 1 <= len(wanted) <= 100 or not all(isinstance(t, str) for t in wanted):
            raise ValueError("transactionIDs should be 1 to 100 transaction IDs")
        wanted = set(wanted)
    return stamps[0], stamps[1], data["eventCode"], data["MPAN"], data["version"], wanted


def _index_of(path: str) -> int | None:
    match = re.match(r"^/(\d+)(?:/|$)", path or "")
    return int(match.group(1)) if match else None


def _code_for(rule: str, reject_on_checks: bool, path: str = "") -> str | None:
    if rule.startswith(_INTERFACE_RULES):
        return "MSG1002"
    if rule == "schema.format" and path.endswith("/S1/senderTimestamp"):
        return "MSG1007"  # not a real date-time: the DIP's Sender Timestamp Invalid, not its schema failure
    if rule.startswith(_SCHEMA_RULES) or reject_on_checks:
        return "MSG1001"
    return None


def _s1(item: Any) -> dict:
    try:
        s1 = item["payload"]["CommonBlock"]["S1"]
    except (TypeError, KeyError):
        return {}
    return s1 if isinstance(s1, dict) else {}


def _str_or_none(value: Any, limit: int) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def _safe_headers(headers: Any) -> dict[str, str]:
    """Request headers as received, minus the API key (a secret never kept outside registration)."""
    return {k: v for k, v in headers.items() if k.lower() != API_KEY_HEADER.lower()}


def _fingerprint(cert: x509.Certificate | None) -> str | None:
    if cert is None:
        return None
    from harness.transport.signing import certificate_fingerprint

    return certificate_fingerprint(cert)


def _json(status: int, data: Any) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), status=status, content_type="application/json")


def _text(status: int, text: str) -> Response:
    return Response(text, status=status, content_type="text/plain; charset=utf-8")
