"""The hub's WSGI application: routes, the DIP API's handlers, and how every request is recorded.

Each request is answered by one handler; then (write, then notify) its `inbound` transcript record
is appended to the chains it belongs to (the caller's session, the recipients' sessions, else the
hub's own chain) together with any inbox rows and delivery jobs it made, it is written to the run's
evidence recorder when the hub has one, and only then do waiters see it and delivery workers start.
Reads (records, bodies, transcript, the DIP's identity) change nothing and are not recorded.

Handler context keys starting with `_` are the hub's own (not recorded): `_caller` (Party),
`_submissions`, `_rows`, `_jobs`, `_claims` (senderUniqueReferences the record claims), `_hold` (an
ExitStack released once the record is written), `_status`, `_chains`, `_record` (False: do not record),
`_record_request` / `_record_response` (the body holds secrets: these redacted bytes are kept instead).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime, timezone
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from harness.core.errors import DipcertError
from harness.core.findings import Finding, short
from harness.dip import extension
from harness.dip.auth import authenticate
from harness.dip.http import Reply, json_response, safe_headers, text_response
from harness.dip.ingress import check_submission, claim_references, entry, message_request, reference_rows, replayed
from harness.dip.model import Rejection, StatusMessage, StoredMessage
from harness.dip.routing import Job
from harness.dip.transcript import HUB_CHAIN, body_sha256
from harness.messages import ids
from harness.messages.validate import identify, parse_body, validate_body
from harness.transport.apikeys import API_KEY_HEADER
from harness.transport.delivery import WebhookConfig
from harness.transport.responses import parse_standard_response, response_entry, standard_response
from harness.transport.tls import peer_certificate_sha256

UTC = timezone.utc
Handler = Callable[[Any, Request, bytes, dict, dict], Response]


class _NotFound(HTTPException):
    code = 404
    description = "Not found"


class _NotAllowed(HTTPException):
    code = 405
    description = "Method Not Allowed"

    def __init__(self, methods: tuple[str, ...]) -> None:
        super().__init__()
        self.methods = methods


def received_headers(request: Request) -> dict[str, str]:
    """The request's headers minus secrets, made once per request (the submission, a rejection and the
    transcript record all keep them; nothing changes them)."""
    kept = request.environ.get("dipcert.headers")
    if kept is None:
        kept = request.environ["dipcert.headers"] = safe_headers(request.headers)
    return kept


# --- the DIP API ----------------------------------------------------------------------------------

def submit(hub: Any, request: Request, body: bytes, params: dict, context: dict) -> Response:
    caller = authenticate(hub, request, body, context)
    try:
        context["interface"] = hub.catalogue.get(params["iface"]).id
    except DipcertError:
        pass
    submissions = check_submission(hub, caller.party, caller.slot, params["iface"], body,
                                   received_headers(request), datetime.now(UTC), hold=context["_hold"])
    rows, jobs, chains = [], [], []
    for s in submissions:
        for dip_id in s.recipients:
            chains += hub.directory.sessions_of(hub.directory.resolve(caller.party, dip_id))
        more_rows, more_jobs = hub.router.route(caller.party, s, [])
        rows += more_rows
        jobs += more_jobs
    entries = [entry(hub, "MSG0000", s.item, transaction_id=s.transaction_id) for s in submissions]
    context.update(outcome="accepted", codes=["MSG0000"] * len(entries),
                   transaction_ids=[s.transaction_id for s in submissions],
                   findings=[f.to_dict() for s in submissions for f in s.findings],
                   _submissions=submissions, _rows=rows, _jobs=hub.router.merge(jobs), _chains=chains,
                   _claims=reference_rows(caller.party, submissions))
    return json_response(201, standard_response(entries))


def _interface(hub: Any, raw: str, context: dict) -> Any:
    try:
        interface = hub.catalogue.get(raw)
    except DipcertError:
        raise Reply(text_response(404, f"Not found: no message channel {raw!r}")) from None
    context["interface"] = interface.id
    return interface


def pubconfig(hub: Any, request: Request, body: bytes, params: dict, context: dict) -> Response:
    interface = _interface(hub, params["iface"], context)
    caller = authenticate(hub, request, body, context, owner=params["rid"])
    if request.method.upper() == "DELETE":
        hub.set_webhook(caller.party, interface.id, None)
        context["outcome"] = "webhook-deleted"
        return Response(status=204)
    try:
        config = WebhookConfig.from_json(json.loads(body))
    except ValueError as exc:
        finding = Finding("hub.webhook-config", "", "WebhookConfig {callbackURL, maxMessageCount, maxPayloadSize}",
                          short(body.decode("utf-8", "replace")), str(exc))
        raise Reply(text_response(400, f"Bad Request: {exc}"), [finding]) from None
    hub.set_webhook(caller.party, interface.id, config)
    context["outcome"] = "webhook-registered"
    return Response(status=201)


def _matching(hub: Any, party: Any, interface_id: str, body: bytes) -> list[StoredMessage]:
    """Stored messages for `party` matching a MessageRequest; 400 when the request is malformed."""
    try:
        start, end, code, mpan, version, wanted = message_request(body)
    except ValueError as exc:
        finding = Finding("hub.message-request", "",
                          "MessageRequest {datetimeFrom, datetimeTo, eventCode, MPAN, version}",
                          short(body.decode("utf-8", "replace")), str(exc))
        raise Reply(json_response(400, standard_response([response_entry(
            "MSG1001", sender_id=hub.config.dip_id, recipient_id=party.dip_id, help=str(exc),
            table=hub.codes)])), [finding], ["MSG1001"]) from None
    out = []
    for message in hub.router.inbox(party.key):
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


def replay(hub: Any, request: Request, body: bytes, params: dict, context: dict) -> Response:
    interface = _interface(hub, params["iface"], context)
    caller = authenticate(hub, request, body, context, owner=params["rid"])
    matches = _matching(hub, caller.party, interface.id, body)
    context.update(outcome="replayed", transaction_ids=[m.transaction_id for m in matches])
    return json_response(200, [replayed(m.item) for m in matches])


def requeue(hub: Any, request: Request, body: bytes, params: dict, context: dict) -> Response:
    interface = _interface(hub, params["iface"], context)
    caller = authenticate(hub, request, body, context, owner=params["rid"])
    matches = _matching(hub, caller.party, interface.id, body)
    config = hub.directory.webhook(caller.party.key, interface.id)
    if config is None:
        finding = Finding("hub.no-webhook", "", f"a webhook for {interface.id}", "none",
                          f"{params['rid']} has no webhook registered for {interface.id}")
        raise Reply(json_response(400, standard_response([response_entry(
            "MSG1000", sender_id=hub.config.dip_id, recipient_id=params["rid"], help=finding.message,
            table=hub.codes)])), [finding], ["MSG1000"])
    context.update(outcome="requeued", transaction_ids=[m.transaction_id for m in matches])
    if matches:
        context["_jobs"] = [Job(caller.party.key, interface.id, config, [replayed(m.item) for m in matches], True)]
    return Response(status=200)


def statusmessage(hub: Any, request: Request, body: bytes, params: dict, context: dict) -> Response:
    caller = authenticate(hub, request, body, context)
    parsed = parse_standard_response(body, array_only=True, prefix="status", table=hub.codes)
    if not parsed.ok:
        errors = [f for f in parsed.findings if f.severity == "error"]
        raise Reply(json_response(400, standard_response([response_entry(
            "MSG1001", sender_id=hub.config.dip_id, recipient_id=caller.dip_id,
            help="; ".join(str(f) for f in errors)[:500], table=hub.codes)])), parsed.findings, ["MSG1001"])
    status = StatusMessage(caller.dip_id, parsed.entries, parsed.codes, datetime.now(UTC), body)
    context.update(outcome="status-recorded", codes=[c for c in parsed.codes if c], _status=status)
    entries = [response_entry("MSG0000", transaction_id=e.get("transactionID"),
                              sender_unique_reference=e.get("senderUniqueReference"),
                              correlation_id=e.get("correlationID"), sender_id=hub.config.dip_id,
                              recipient_id=caller.dip_id, table=hub.codes) for e in parsed.entries]
    return json_response(201, standard_response(entries))


def validate(hub: Any, request: Request, body: bytes, params: dict, context: dict) -> Response:
    found = hub.directory.by_api_key(request.headers.get(API_KEY_HEADER))
    if found is None:
        raise Reply(text_response(401, f"Unauthorised: {API_KEY_HEADER} is missing or not registered"))
    context["_caller"] = found[0]
    try:
        event = hub.catalogue.get(params["iface"]).event(params["event"])
    except DipcertError as exc:
        return json_response(400, f"Bad Request: {exc}")
    context["interface"] = event.interface_id
    data, findings = parse_body(body)  # parsed once: validate_body takes the parsed array
    if not findings:
        findings = validate_body(data, interface_id=event.interface_id, pack=hub.pack)
    if isinstance(data, list):
        for index, item in enumerate(data):
            found_event = identify(item) if isinstance(item, dict) else None
            if found_event is not None and found_event != (event.interface_id, event.name):
                findings.append(Finding("interface.event-mismatch", f"/{index}/payload/CommonBlock/S0/eventCode",
                                        event.code, f"[{found_event[1]}]", f"message is not a {event.key} message"))
    errors = [f for f in findings if f.severity == "error"]
    context.update(outcome="valid" if not errors else "invalid", findings=[f.to_dict() for f in findings])
    if errors:
        return json_response(400, "\n".join(str(f) for f in errors))
    return json_response(201, "Message OK")


V1 = "/dipcert/v1"
DIP_ENDPOINTS = ("submit", "pubconfig", "replay", "requeue", "statusmessage", "validate")
ROUTES: list[tuple[re.Pattern[str], str, tuple[str, ...], Handler]] = [
    (re.compile(r"^/dip-channel/(?P<iface>[^/]+)$", re.I), "submit", ("POST",), submit),
    (re.compile(r"^/dip-channel/(?P<iface>[^/]+)/pubconfig/(?P<rid>[^/]+)$", re.I), "pubconfig", ("POST", "DELETE"),
     pubconfig),
    (re.compile(r"^/dip-channel/(?P<iface>[^/]+)/replay/(?P<rid>[^/]+)$", re.I), "replay", ("POST",), replay),
    (re.compile(r"^/dip-channel/(?P<iface>[^/]+)/requeue/(?P<rid>[^/]+)$", re.I), "requeue", ("POST",), requeue),
    (re.compile(r"^/statusmessage$", re.I), "statusmessage", ("POST",), statusmessage),
    (re.compile(r"^/validate/(?P<iface>[^/]+)/(?P<event>[^/]+)$", re.I), "validate", ("POST",), validate),
    (re.compile(rf"^{V1}/dip$"), "dip", ("GET",), extension.dip),
    (re.compile(rf"^{V1}/sessions$"), "session", ("POST",), extension.open_session),
    (re.compile(rf"^{V1}/sessions/(?P<sid>[^/]+)/close$"), "session-close", ("POST",), extension.close_session),
    (re.compile(rf"^{V1}/sessions/(?P<sid>[^/]+)/records$"), "records", ("GET",), extension.records),
    (re.compile(rf"^{V1}/sessions/(?P<sid>[^/]+)/bodies/(?P<sha>[0-9a-f]{{64}})$"), "bodies", ("GET",),
     extension.bodies),
    (re.compile(rf"^{V1}/sessions/(?P<sid>[^/]+)/probe$"), "probe", ("POST",), extension.probe),
    (re.compile(rf"^{V1}/sessions/(?P<sid>[^/]+)/transcript$"), "transcript", ("GET",), extension.transcript),
    (re.compile(rf"^{V1}/sessions/(?P<sid>[^/]+)/transcript/envelope$"), "transcript-envelope", ("GET",),
     extension.envelope),
    (re.compile(rf"^{V1}/admin/parties$"), "admin-party", ("POST",), extension.admin_party),
]


# --- dispatch and recording -----------------------------------------------------------------------

class Api:
    def __init__(self, hub: Any) -> None:
        self.hub = hub

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        hub = self.hub
        request = Request(environ)
        request.max_content_length = hub.config.max_body_bytes
        started = datetime.now(UTC)
        clock = time.monotonic()
        context: dict[str, Any] = {}
        body = b""
        with ExitStack() as held:  # what a handler holds until its record is written (`_hold`)
            context["_hold"] = held
            try:
                endpoint, params, handler = self._route(request)
                context["endpoint"] = endpoint
                if params.get("iface"):  # known before authentication, so a refused request still names it
                    context["interface"] = params["iface"].upper()
                body = request.get_data(cache=True)
                response = handler(hub, request, body, params, context)
            except Reply as reply:
                response = reply.response
                context.update(outcome="refused" if response.status_code in (401, 403) else "rejected",
                               codes=reply.codes, findings=[f.to_dict() for f in reply.findings])
                if context.get("endpoint") in DIP_ENDPOINTS:  # the views hold the DIP API's refusals only
                    context["_rejection"] = Rejection(context["endpoint"], context.get("interface"),
                                                      response.status_code, reply.codes, reply.findings, started,
                                                      body, received_headers(request),
                                                      reply.sender or context.get("sender"))
            except HTTPException as exc:
                response = Response(exc.description or exc.name, status=exc.code, content_type="text/plain")
            except DipcertError as exc:
                response = Response(str(exc), status=400, content_type="text/plain")
            except Exception as exc:  # noqa: BLE001 - the hub must answer, and the evidence must say why
                response = Response("MSG1000 - Message Processing Failed", status=500, content_type="text/plain")
                context["error"] = f"{type(exc).__name__}: {exc}"
            if context.get("_record", True):
                self._write(request, body, response, started, clock, context)
        return response(environ, start_response)

    def _route(self, request: Request) -> tuple[str, dict[str, str], Handler]:
        path = request.path.rstrip("/") or "/"
        for pattern, endpoint, methods, handler in ROUTES:
            match = pattern.match(path)
            if match:
                if request.method.upper() not in methods:
                    raise _NotAllowed(methods)
                return endpoint, match.groupdict(), handler
        raise _NotFound()

    def _write(self, request: Request, body: bytes, response: Response, started: datetime, clock: float,
               context: dict) -> None:
        """Transcript, evidence, then waiters and workers (write, then notify)."""
        hub = self.hub
        caller = context.get("_caller")
        chains = list(dict.fromkeys(hub.directory.sessions_of(caller) + context.get("_chains", []))) or [HUB_CHAIN]
        jobs: list[Job] = context.get("_jobs", [])
        for job in jobs:
            job.chains = chains
        rows = context.get("_rows", [])
        references = context.get("_claims", [])

        def together(conn: Any) -> None:  # what the record makes happen commits with it, or not at all
            claim_references(conn, references)
            hub.router.persist(conn, rows, jobs)

        data = {k: v for k, v in context.items() if not k.startswith("_")}
        body = context.get("_record_request", body)  # a body holding secrets is kept redacted
        response_body = context.get("_record_response", response.get_data())
        bodies = {body_sha256(part): part for part in (body, response_body) if part}
        try:
            peer = peer_certificate_sha256(request.environ)
        except (TypeError, ValueError):
            peer = None
        record = {
            "kind": "inbound", "endpoint": data.get("endpoint"), "method": request.method,
            "url": hub.request_url(request), "status": response.status_code,
            "request_headers": received_headers(request), "request_sha256": body_sha256(body) if body else None,
            "response_headers": dict(response.headers),
            "response_sha256": body_sha256(response_body) if response_body else None,
            "caller": caller.dip_id if caller is not None else data.get("sender"),
            "caller_scope": (caller.scope or "global") if caller is not None else None,
            "key_slot": data.get("key_slot"), "client_cert_sha256": peer, "outcome": data.get("outcome"),
            "codes": data.get("codes", []), "findings": data.get("findings", []),
            "transaction_ids": data.get("transaction_ids", []), "interface": data.get("interface"),
            "received": started.isoformat(timespec="microseconds"),
            "elapsed_ms": round((time.monotonic() - clock) * 1000.0, 3), "error": data.get("error"),
        }
        if "signature_findings" in data:
            record["signature_findings"] = data["signature_findings"]
        if "_record_request" in context or "_record_response" in context:
            record["redacted"] = True  # the bodies kept are the received/sent ones with secrets replaced
        written = hub.transcript.append(chains, record, bodies, also=together if rows or jobs or references else None)
        tseq = written.get(chains[0])
        seq = hub.evidence_http(request, body, response, response_body, started, clock, peer, data)
        submissions = context.get("_submissions", [])
        for s in submissions:
            s.seq, s.transcript_seq = seq, tseq
        rejection = context.get("_rejection")
        status = context.get("_status")
        for item in (rejection, status):
            if item is not None:
                item.seq, item.transcript_seq = seq, tseq
        hub.observed.publish(submissions, rejection, status)
        for job in jobs:
            hub.router.dispatch(job)
