"""The dipcert extension API (`/dipcert/v1/...`): what a certification run needs beyond the DIP API.

Authenticated like the DIP API (harness.dip.auth) except `GET /dip` (public) and the admin API
(bearer token). A caller sees a session only when it is the party under test or one of the session's
counterparties (403 otherwise; 404 when no such session). See docs/hub.md for the contract.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography import x509
from werkzeug.wrappers import Request, Response

from harness.core.errors import ConfigError, DipcertError
from harness.dip import probes
from harness.dip.auth import Caller, authenticate, authenticate_admin
from harness.dip.config import PartyRegistration
from harness.dip.http import Reply, json_response
from harness.dip.parties import GLOBAL, Session
from harness.dip.routing import Job
from harness.dip.transcript import export_lines, sign_export, utc_now, with_bodies
from harness.transport.apikeys import generate_api_key
from harness.transport.delivery import WebhookConfig

MAX_WAIT = 10.0  # seconds a records long-poll may hold
MAX_RECORDS = 500  # records per answer
MAX_COUNTERPARTIES = 20
REDACTED = "[redacted]"


def _bad(message: str) -> Reply:
    return Reply(json_response(400, {"error": message}))


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise _bad("the body is not JSON") from None


def _visible(hub: Any, request: Request, body: bytes, params: dict, context: dict) -> tuple[Caller, Session]:
    """The caller and the session it may see, or Reply(404/403)."""
    caller = authenticate(hub, request, body, context)
    session = hub.directory.session(params["sid"])
    if session is None:
        raise Reply(json_response(404, {"error": f"no session {params['sid'][:40]!r}"}))
    if not hub.directory.may_read(caller.party, session):
        raise Reply(json_response(403, {"error": f"DIP ID {caller.dip_id} is not a party of session {session.sid}"}))
    return caller, session


def _certificate(value: Any, where: str) -> x509.Certificate | None:
    if value is None:
        return None
    try:
        return x509.load_pem_x509_certificate(value.encode("ascii"))
    except (ValueError, AttributeError, UnicodeEncodeError):
        raise _bad(f"{where}: not a PEM certificate") from None


def _webhooks(value: Any, where: str) -> dict[str, WebhookConfig]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(f"{where}: should be an object {{interface: url or WebhookConfig}}")
    out = {}
    for interface, hook in value.items():
        config = ({"callbackURL": hook, "maxMessageCount": 100, "maxPayloadSize": 1024}
                  if isinstance(hook, str) else hook)
        try:
            out[interface] = WebhookConfig.from_json(config)
        except ValueError as exc:
            raise _bad(f"{where}.{interface}: {exc}") from None
    return out


def _tls_ca(value: Any, where: str) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str) or "-----BEGIN CERTIFICATE-----" not in value:
        raise _bad(f"{where}: should be PEM CA certificate(s)")
    return value.encode("ascii")


# --- public ---------------------------------------------------------------------------------------

def dip(hub: Any, request: Request, body: bytes, params: dict, context: dict) -> Response:
    context["_record"] = False
    return json_response(200, hub.public_identity())


# --- sessions -------------------------------------------------------------------------------------

def open_session(hub: Any, request: Request, body: bytes, params: dict, context: dict) -> Response:
    caller = authenticate(hub, request, body, context)
    if caller.party.scope != GLOBAL:
        raise Reply(json_response(403, {"error": "a session counterparty cannot open a session"}))
    data = _json_body(body)
    if not isinstance(data, dict):
        raise _bad("body should be an object {run_id, counterparties, partner}")
    extra = sorted(set(data) - {"run_id", "counterparties", "partner"})
    if extra:
        raise _bad(f"unexpected keys: {', '.join(extra)}")
    run_id, partner, wanted = data.get("run_id"), data.get("partner"), data.get("counterparties") or []
    if run_id is not None and (not isinstance(run_id, str) or len(run_id) > 200):
        raise _bad("run_id should be a string (at most 200 characters) or null")
    if partner is not None and not (isinstance(partner, dict) and isinstance(partner.get("dip_id"), str)):
        raise _bad("partner should be {\"dip_id\": ...} or null")
    if not isinstance(wanted, list) or len(wanted) > MAX_COUNTERPARTIES or not all(isinstance(c, dict) for c in wanted):
        raise _bad(f"counterparties should be a list of at most {MAX_COUNTERPARTIES} objects")
    specs = []
    for i, c in enumerate(wanted):
        where = f"counterparties[{i}]"
        unknown = sorted(set(c) - {"role", "mpid", "dip_id", "certificate_pem", "webhooks", "tls_ca_pem", "dcp_id"})
        if unknown:
            raise _bad(f"{where}: unexpected keys: {', '.join(unknown)}")
        if not isinstance(c.get("role"), str) or not isinstance(c.get("mpid"), str):
            raise _bad(f"{where}: role and mpid should be strings")
        specs.append((c, _certificate(c.get("certificate_pem"), f"{where}.certificate_pem"),
                      _webhooks(c.get("webhooks"), f"{where}.webhooks"),
                      _tls_ca(c.get("tls_ca_pem"), f"{where}.tls_ca_pem")))
    now = utc_now()
    for older in hub.directory.open_sessions_owned_by(caller.dip_id):  # one open session per party under test
        hub.close_session(older, reason="superseded by a new session of the same party")
    session = hub.directory.open_session(caller.party, run_id, partner["dip_id"] if partner else None,
                                         caller.client_cert, now)
    hooks_of_party = {i: w.to_json() for i, w in sorted(hub.directory.webhooks_of(caller.party.key).items())}
    hub.transcript.append([session.sid], {"kind": "event", "event": "session.open", "data": {
        "run_id": run_id, "party": caller.party.public(), "partner": session.partner, "dip": hub.public_identity(),
        "client_cert_sha256": caller.client_cert}})
    for interface_id, config in hooks_of_party.items():
        hub.transcript.append([session.sid], {"kind": "event", "event": "webhook", "data": {
            "dip_id": caller.dip_id, "scope": "global", "interface": interface_id, "config": config}})
    answered = []
    for c, certificate, hooks, tls_ca in specs:
        dip_id = hub.directory.free_dip_id(session, c.get("dip_id"))
        keys = (generate_api_key(), generate_api_key())
        try:
            party = hub.directory.register(PartyRegistration(dip_id, c["role"], c["mpid"], keys, certificate,
                                                             c.get("dcp_id"), hooks, None, tls_ca),
                                           scope=session.sid, client_cert=caller.client_cert)
        except (ConfigError, DipcertError) as exc:
            hub.close_session(session, reason=f"refused: {exc}")
            raise _bad(str(exc)) from None
        hub.directory.add_counterparty(session, dip_id)
        hub.transcript.append([session.sid], {"kind": "event", "event": "party", "data": {
            **party.public(), "webhooks": {i: w.to_json() for i, w in sorted(hooks.items())}}})
        answered.append({"role": party.role, "dip_id": dip_id, "mpid": party.mpid, "api_keys": list(keys)})
    answer = {"session": session.sid, "counterparties": answered, "dip": hub.public_identity(),
              "party": {"dip_id": caller.dip_id, "role": caller.party.role, "mpid": caller.party.mpid,
                        "webhooks": hooks_of_party}}
    redacted = {**answer, "counterparties": [{**c, "api_keys": [REDACTED, REDACTED]} for c in answered]}
    context.update(outcome="session-opened", session=session.sid,
                   _record_response=json_response(201, redacted).get_data())
    return json_response(201, answer)


def close_session(hub: Any, request: Request, body: bytes, params: dict, context: dict) -> Response:
    caller, session = _visible(hub, request, body, params, context)
    if session.open:
        hub.close_session(session, reason=f"closed by {caller.dip_id}")
    seq, head = hub.transcript.head(session.sid)
    context.update(outcome="session-closed", session=session.sid)
    return json_response(200, {"session": session.sid, "closed": session.closed, "count": seq, "head": head})


def records(hub: Any, request: Request, body: bytes, params: dict, context: dict) -> Response:
    context["_record"] = False
    _, session = _visible(hub, request, body, params, context)
    try:
        after = int(request.args.get("after", "0"))
        wait = min(MAX_WAIT, max(0.0, float(request.args.get("wait", "0"))))
        limit = min(MAX_RECORDS, max(1, int(request.args.get("limit", str(MAX_RECORDS)))))
    except ValueError:
        raise _bad("after and limit should be integers, wait a number of seconds") from None
    found = hub.transcript.records(session.sid, after, limit)
    if not found and wait > 0 and session.open and hub.transcript.wait(session.sid, after, wait):
        found = hub.transcript.records(session.sid, after, limit)
    if request.args.get("bodies") in ("1", "true"):
        found = [with_bodies(hub.transcript, r) for r in found]
    seq, head = hub.transcript.head(session.sid)
    return json_response(200, {"records": found, "head": {"seq": seq, "hash": head},
                               "open": hub.directory.session(session.sid).open})


def bodies(hub: Any, request: Request, body: bytes, params: dict, context: dict) -> Response:
    context["_record"] = False
    _, session = _visible(hub, request, body, params, context)
    data = hub.transcript.body(params["sha"], session.sid)
    if data is None:
        raise Reply(json_response(404, {"error": "no such body in this session"}))
    return Response(data, status=200, content_type="application/octet-stream")


def probe(hub: Any, request: Request, body: bytes, params: dict, context: dict) -> Response:
    caller, session = _visible(hub, request, body, params, context)
    context["_chains"] = [session.sid]
    if not session.open:
        raise Reply(json_response(409, {"error": f"session {session.sid} is closed"}))
    try:
        asked = probes.parse(_json_body(body))
        interface = hub.catalogue.get(asked.interface)
    except ValueError as exc:
        raise _bad(str(exc)) from None
    except DipcertError as exc:
        raise _bad(str(exc)) from None
    recipient = asked.recipient
    context.update(interface=interface.id, probe=asked.kind)
    if recipient == session.owner:
        key = (GLOBAL, recipient)
    elif recipient in session.counterparties:
        key = (session.sid, recipient)
    else:
        raise Reply(json_response(403, {"error": f"{recipient[:20]} is not a party of session {session.sid}"}))
    config = hub.directory.webhook(key, interface.id)
    if config is None:
        raise Reply(json_response(409, {"error": f"{recipient} has no webhook registered for {interface.id}"}))
    result = probes.run(hub, Job(key, interface.id, config, asked.messages, False, [session.sid]), asked)
    context.update(outcome=f"probe-{result['outcome']}", transaction_ids=result.get("transaction_ids", []))
    return json_response(200, result)


def _closed(hub: Any, request: Request, body: bytes, params: dict, context: dict) -> Session:
    context["_record"] = False
    _, session = _visible(hub, request, body, params, context)
    if session.open:
        raise Reply(json_response(409, {"error": f"session {session.sid} is open: close it first"}))
    return session


def transcript(hub: Any, request: Request, body: bytes, params: dict, context: dict) -> Response:
    session = _closed(hub, request, body, params, context)
    lines = export_lines(hub.transcript, session.sid)
    return Response(lines, status=200, content_type="application/x-ndjson")


def envelope(hub: Any, request: Request, body: bytes, params: dict, context: dict) -> Response:
    session = _closed(hub, request, body, params, context)
    owner = hub.directory.party((GLOBAL, session.owner))
    party = {"dip_id": session.owner, "role": owner.role if owner else None, "mpid": owner.mpid if owner else None}
    identity = hub.public_identity()
    signed = sign_export(export_lines(hub.transcript, session.sid), hub.identity, session=session.sid,
                         run_id=session.run_id, party=party,
                         dip={k: identity[k] for k in ("fingerprint", "base_url", "environment")},
                         opened=session.opened, closed=session.closed)
    return json_response(200, signed)


# --- admin ----------------------------------------------------------------------------------------

def admin_party(hub: Any, request: Request, body: bytes, params: dict, context: dict) -> Response:
    context["_record_request"] = b""  # until read: the body holds API keys, and is kept only redacted
    authenticate_admin(hub, request)
    data = _json_body(body)
    if not isinstance(data, dict):
        raise _bad("body should be a party object")
    if isinstance(data.get("api_keys"), list):
        context["_record_request"] = json.dumps({**data, "api_keys": [REDACTED] * len(data["api_keys"])}).encode()
    allowed = {"dip_id", "role", "mpid", "dcp_id", "api_keys", "certificate_pem", "client_certificate_pem",
               "tls_ca_pem", "webhooks"}
    extra = sorted(set(data) - allowed)
    if extra:
        raise _bad(f"unexpected keys: {', '.join(extra)}")
    keys = data.get("api_keys")
    if not isinstance(keys, list) or len(keys) != 2:
        raise _bad("api_keys should be [primary, secondary]")
    try:
        party = hub.register_party(PartyRegistration(
            data.get("dip_id"), data.get("role"), data.get("mpid"), tuple(keys),  # type: ignore[arg-type]
            _certificate(data.get("certificate_pem"), "certificate_pem"), data.get("dcp_id"),
            _webhooks(data.get("webhooks"), "webhooks") or None,
            _certificate(data.get("client_certificate_pem"), "client_certificate_pem"),
            _tls_ca(data.get("tls_ca_pem"), "tls_ca_pem")))
    except DipcertError as exc:
        raise _bad(str(exc)) from None
    return json_response(201, {"dip_id": party.dip_id, "role": party.role, "scope": "global"})
