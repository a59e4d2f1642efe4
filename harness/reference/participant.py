"""A reference MDR or SDS: a real HTTP participant on 127.0.0.1 that talks to a DIP (the hub).

It is the harness's happy path (certifying it must pass) and, with fault switches, its negative
controls (certifying it must fail with the named finding). Endpoints:

- `POST /webhook/<if-0xx>`: DIP deliveries; signature checked against the DIP's certificate,
  body judged per message (RCP codes), answered 201/207/400/401 with a StandardResponse.
- `POST /trigger`: produce an outgoing flow on request (the profile's `http` trigger).
- `GET /state`: what it has seen and done, as JSON.

Business reactions run in worker threads after the webhook has answered, one MPAN always on the
same thread in arrival order, so an IF-063 is never handled before the IF-061 it follows.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import queue
import ssl
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from harness.core.catalogue import CERTIFIED_ROLES, load_catalogue
from harness.core.errors import ConfigError, DipcertError, UsageError
from harness.reference.behaviour import Behaviour
from harness.reference.faults import FaultSet, parse_faults
from harness.reference.recipient import ItemVerdict, assess_delivery, describe
from harness.reference.state import ParticipantState, Received, WebhookReply
from harness.transport.client import DipClient, SubmitResult
from harness.transport.requestlog import request_handler
from harness.transport.responses import response_entry, standard_response
from harness.transport.signing import SIGNATURE, SigningIdentity, verify_request
from harness.transport.tls import server_context

log = logging.getLogger(__name__)

SLOW_SECONDS = 30.0  # fault `webhook-slow`: longer than any sensible delivery timeout
# Faults that skip one signature check: (fault, the verify_request finding it ignores).
SIGNATURE_FAULTS = (("ignore-content-hash", "signature.hash"), ("accept-stale-signature", "signature.skew"))
DUPLICATE_CODE = "RCP1006"  # fault `refuse-redelivery`: what the redelivered batch is refused with
STOP_TIMEOUT = 5.0
WRONG_API_KEY = "dipcert-wrong-api-key-0000000000"  # fault `wrong-api-key`


def _flip_signature(headers: dict[str, str]) -> dict[str, str]:
    """Fault `bad-signature`: one byte of the RSA signature changed, everything else intact."""
    raw = bytearray(base64.b64decode(headers[SIGNATURE]))
    raw[len(raw) // 2] ^= 0x01
    return {**headers, SIGNATURE: base64.b64encode(bytes(raw)).decode("ascii")}


def webhook_path(interface_id: str) -> str:
    return f"/webhook/{interface_id.lower()}"


class ReferenceParticipant:
    """One reference participant; `start()` serves it in background threads, `stop()` ends them."""

    def __init__(self, role: str, *, party: Any, partner: Any, hub_url: str, api_keys: tuple[str, str],
                 identity: SigningIdentity, dip_certificate: x509.Certificate | None,
                 faults: Iterable[str] = (), host: str = "127.0.0.1", port: int = 0,
                 served_mpans: set[str] | None = None, seed: int = 0, environment: str = "UIT",
                 register_webhooks: bool = True, client_timeout: float = 10.0,
                 slow_seconds: float = SLOW_SECONDS, verify: Any = True,
                 ssl_context: ssl.SSLContext | None = None, client_cert: tuple[str, str] | None = None,
                 webhook_tls: tuple[str | Path, str | Path] | None = None,
                 webhook_client_ca: str | Path | bytes | None = None,
                 spontaneous_consumption: bool = False, webhook_delay: float = 0.0, reconnect: float = 0.0) -> None:
        if role not in CERTIFIED_ROLES:
            raise UsageError(f"reference role should be one of {', '.join(CERTIFIED_ROLES)}, got {role!r}")
        if party.role != role:
            raise ConfigError(f"reference {role}: its party has role {party.role!r}")
        if host != "127.0.0.1" and host != "localhost":
            raise UsageError(f"reference {role}: serves on 127.0.0.1 only, not {host!r}")
        self.role = role
        self.party = party
        self.partner = partner
        self.hub_url = hub_url.rstrip("/")
        self.faults: FaultSet = parse_faults(list(faults), role)
        self.identity = identity
        self.dip_certificate = dip_certificate
        self.host, self.port = host, port
        self.register = register_webhooks
        self.slow_seconds = slow_seconds
        # Not a fault: a correct webhook that takes this long to answer (bench/latency.py).
        self.webhook_delay = max(0.0, float(webhook_delay))
        # Webhooks over HTTPS: `ssl_context` as given, or built from `webhook_tls` (certificate, key); with
        # `webhook_client_ca` they demand a client certificate issued by that CA (the DIP's, on the real DIP).
        if ssl_context is None and webhook_tls is not None:
            ssl_context = server_context(webhook_tls[0], webhook_tls[1], client_ca=webhook_client_ca)
        elif webhook_client_ca is not None and webhook_tls is None:
            raise ConfigError(f"reference {role}: webhook_client_ca needs webhook_tls (a server certificate and key)")
        self.ssl_context = ssl_context
        self.state = ParticipantState()
        # Submissions alternate between the primary and the secondary API key (the DIP accepts either;
        # the hub records which slot each submission used), so every run exercises both.
        keys = (WRONG_API_KEY, WRONG_API_KEY) if "wrong-api-key" in self.faults else tuple(api_keys)
        self.clients = [DipClient(self.hub_url, api_key=key, identity=identity, timeout=client_timeout,
                                  verify=verify, cert=client_cert, reconnect=reconnect,
                                  header_hook=_flip_signature if "bad-signature" in self.faults else None)
                        for key in dict.fromkeys(keys)]
        self.client = self.clients[0]
        self._turn = itertools.count()
        self._failed_once: set[str] = set()  # fault `refuse-redelivery`: transactions answered 500 once
        self._lock = threading.Lock()
        # Webhook registration is onboarding, not messaging: the sender faults do not touch it.
        self._admin = DipClient(self.hub_url, api_key=api_keys[0], identity=identity, timeout=client_timeout,
                                verify=verify, cert=client_cert, reconnect=reconnect)
        self.behaviour = Behaviour(role, party=party, partner=partner, faults=self.faults, state=self.state,
                                   submit=self._submit, served_mpans=served_mpans, seed=seed,
                                   environment=environment, spontaneous_consumption=spontaneous_consumption)
        self.catalogue = load_catalogue()
        events = self.catalogue.events()
        self._incoming = sorted({e.interface_id for e in events if e.direction_for(role) == "incoming"})
        self._outgoing = sorted({e.interface_id for e in events if e.direction_for(role) == "outgoing"})
        self._receives = {(e.interface_id, e.name) for e in events if e.direction_for(role) == "incoming"}
        self._routes = Map([
            Rule("/webhook/<interface>", endpoint="webhook", methods=["POST"]),
            Rule("/trigger", endpoint="trigger", methods=["POST"]),
            Rule("/state", endpoint="state", methods=["GET"]),
        ])
        self._release = threading.Event()  # set on stop(): lets a `webhook-slow` answer finish
        # Business reactions: one worker per MPAN while it has work, in arrival order (an IF-063 never
        # before its IF-061); different MPANs in parallel, so one busy MPAN holds back no other.
        self._work: dict[str, tuple[queue.Queue[ItemVerdict | None], threading.Thread]] = {}
        self._accepting_work = False
        self._server: BaseWSGIServer | None = None
        self._threads: list[threading.Thread] = []

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the reference participant is not started")
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self._server.server_port}"

    def webhook_url(self, interface_id: str) -> str:
        return self.base_url + webhook_path(interface_id)

    @property
    def trigger_url(self) -> str:
        return self.base_url + "/trigger"

    @property
    def incoming_interfaces(self) -> list[str]:
        return list(self._incoming)

    def start(self) -> "ReferenceParticipant":
        try:
            server = make_server(self.host, self.port, self._wsgi, threaded=True, ssl_context=self.ssl_context,
                                 request_handler=request_handler())
        except OSError as exc:
            raise ConfigError(f"reference {self.role}: cannot listen on {self.host}:{self.port} "
                              f"({exc.strerror})") from None
        self._release.clear()
        self._server = server
        serve = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                 name=f"ref-{self.role}-http", daemon=True)
        self._threads = [serve]
        with self._lock:
            self._accepting_work = True
        for thread in self._threads:
            thread.start()
        if self.register:
            try:
                self.register_webhooks()
            except BaseException:
                self.stop()
                raise
        return self

    def register_webhooks(self) -> list[SubmitResult]:
        """Tell the DIP where to deliver each incoming interface (POST .../pubconfig/{own DIP ID})."""
        results = []
        for interface_id in self._incoming:
            result = self._admin.register_webhook(interface_id, self.party.dip_id, self.webhook_url(interface_id))
            if result.status not in (200, 201, 204):
                raise ConfigError(f"reference {self.role}: the DIP at {self.hub_url} refused the webhook for "
                                  f"{interface_id} (HTTP {result.status} {', '.join(result.messages)})")
            results.append(result)
        return results

    def _submit(self, interface_id: str, messages: list[dict]) -> SubmitResult:
        """Submit through the primary and the secondary API key in turn."""
        client = self.clients[next(self._turn) % len(self.clients)]
        return client.submit(interface_id, messages)

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        with self._lock:
            self._accepting_work = False
            workers = list(self._work.values())
            self._work.clear()
        for q, _ in workers:
            q.put(None)
        for thread in self._threads + [t for _, t in workers]:
            thread.join(STOP_TIMEOUT)
        self._threads = []
        for client in self.clients:
            client.close()
        self._admin.close()

    def __enter__(self) -> "ReferenceParticipant":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_for(self, predicate, timeout: float):
        return self.state.wait_for(predicate, timeout)

    # --- HTTP -------------------------------------------------------------------------------

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        adapter = self._routes.bind_to_environ(environ)
        try:
            endpoint, values = adapter.match()
            response = getattr(self, f"_on_{endpoint}")(request, **values)
        except HTTPException as exc:
            response = exc.get_response(environ)
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the server; it is recorded
            log.exception("reference %s: error handling %s", self.role, request.path)
            self.state.add_error(f"{request.path}: {type(exc).__name__}: {exc}")
            response = Response(status=500)
        return response(environ, start_response)

    @staticmethod
    def _json(data: Any, status: int) -> Response:
        return Response(json.dumps(data), status=status, mimetype="application/json")

    def _entry(self, code: str, verdict: ItemVerdict | None = None) -> dict:
        v = verdict or ItemVerdict(0, None, code)
        transaction_id = v.transaction_id
        if "reply-wrong-transaction" in self.faults and isinstance(transaction_id, str):
            transaction_id = transaction_id[::-1]  # names a message the DIP never delivered
        return response_entry(code, transaction_id=transaction_id, sender_unique_reference=v.sender_unique_reference,
                              correlation_id=v.correlation_id, sender_id=self.party.dip_id,
                              recipient_id=v.sender_dip_id if isinstance(v.sender_dip_id, str) else None,
                              dcp_id=self.party.dcp_id)

    def _reply(self, interface_id: str, status: int, entries: list[dict], codes: list[str],
               signature: list[str] | None = None) -> Response:
        self.state.add_reply(WebhookReply(interface_id, status, codes, signature or []))
        return self._json(standard_response(entries), status)

    def _on_webhook(self, request: Request, interface: str) -> Response:
        try:
            interface_id = self.catalogue.get(interface).id
        except DipcertError:
            raise NotFound() from None
        body = request.get_data(cache=False)
        if self.faults.with_arg("webhook-500", "interface", interface_id):
            self.state.add_reply(WebhookReply(interface_id, 500, []))
            return Response(status=500)
        if "webhook-slow" in self.faults:
            self._release.wait(self.slow_seconds)  # bounded; stop() releases it at once
        elif self.webhook_delay:
            self._release.wait(self.webhook_delay)
        # Our own view of the URL: the base we registered plus the path (signing.py's rule).
        url = self.base_url + request.full_path.rstrip("?")
        trusted = None if "trust-any-certificate" in self.faults else self.dip_certificate
        problems = verify_request("POST", url, body, request.headers, expected_certificate=trusted)
        ignored = {rule for fault, rule in SIGNATURE_FAULTS if fault in self.faults}
        signature = [f"{f.rule}: {f.message}" for f in problems if f.severity == "error" and f.rule not in ignored]
        if signature and "ignore-signature" not in self.faults:
            return self._reject_all(interface_id, body, "RCP9999", 401, signature)
        if interface_id not in self._incoming:
            return self._reject_all(interface_id, body, "RCP1002", 400, signature)
        assessment = assess_delivery(body, interface_id, accept_bad_mpan="accept-bad-mpan" in self.faults)
        if assessment.envelope_code:
            return self._reply(interface_id, 400, [self._entry(assessment.envelope_code)],
                               [assessment.envelope_code], signature)
        if "refuse-redelivery" in self.faults and self._fail_once(assessment.items):
            self.state.add_reply(WebhookReply(interface_id, 500, [], signature))
            return Response(status=500)
        to_process: list[ItemVerdict] = []
        for verdict in assessment.items:
            duplicate = False
            if verdict.accepted and (interface_id, verdict.event) not in self._receives:
                verdict.code = "RCP1003"  # a real event of the interface, but not one this role receives
            if verdict.accepted:
                seen = self.state.seen_before(verdict.transaction_id)  # records it: ask once
                if "reject-replay" in self.faults and (verdict.replay or seen):
                    verdict.code = "RCP1047"
                elif "process-replay" in self.faults:
                    duplicate = False  # fault: a replay is processed (answered) a second time
                else:
                    duplicate = seen
            self.state.add_received(Received(interface_id, verdict.event, verdict.transaction_id, verdict.mpan,
                                             verdict.correlation_id, verdict.replay, duplicate, verdict.code,
                                             verdict.item))
            if verdict.accepted and not duplicate:
                to_process.append(verdict)
            elif verdict.accepted:
                self.state.mark_handled(verdict.transaction_id)  # acknowledged, not processed twice
        codes = [v.code for v in assessment.items]
        accepted = sum(1 for v in assessment.items if v.accepted)
        status = 201 if accepted == len(codes) else 400 if accepted == 0 else 207
        response = self._reply(interface_id, status, [self._entry(v.code, v) for v in assessment.items], codes,
                               signature)
        for verdict in to_process:
            self._queue_work(verdict)
        return response

    def _fail_once(self, items: list[ItemVerdict]) -> bool:
        """Fault `refuse-redelivery`: True (answer 500) the first time these transactions arrive, after
        noting them; the DIP's redelivery then finds them "already received" and is refused (RCP1006)."""
        txs = [v.transaction_id for v in items if v.accepted and v.transaction_id]
        with self._lock:
            again = {t for t in txs if t in self._failed_once}
            if txs and not again:
                self._failed_once.update(txs)
                return True
        for verdict in items:
            if verdict.transaction_id in again:
                verdict.code = DUPLICATE_CODE
        return False

    def _reject_all(self, interface_id: str, body: bytes, code: str, status: int, signature: list[str]) -> Response:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            data = None
        verdicts = [describe(i, item) for i, item in enumerate(data)] if isinstance(data, list) and data else [None]
        return self._reply(interface_id, status, [self._entry(code, v) for v in verdicts],
                           [code] * len(verdicts), signature)

    def _on_trigger(self, request: Request) -> Response:
        try:
            spec = json.loads(request.get_data(cache=False) or b"{}")
        except ValueError:
            return self._json({"error": "trigger body should be a JSON object"}, 400)
        if not isinstance(spec, dict) or not isinstance(spec.get("interface"), str):
            return self._json({"error": 'expected {"interface": "IF-0xx", "event"?, "mpan"?, "correlation_id"?, '
                                        '"fields"?}'}, 400)
        fields = spec.get("fields")
        if fields is not None and not isinstance(fields, dict):
            return self._json({"error": "fields should be a JSON object"}, 400)
        if "no-consumption-trigger" in self.faults and self._interface_of(spec["interface"]) == "IF-064":
            self.state.add_declined(reason="fault no-consumption-trigger: consumption is sent by the daily run only")
            return self._json({"status": "queued for the daily consumption run"}, 202)
        try:
            item, result = self.behaviour.trigger(spec["interface"], spec.get("event"), mpan=spec.get("mpan"),
                                                  correlation_id=spec.get("correlation_id"), fields=fields)
        except DipcertError as exc:
            return self._json({"error": str(exc)}, 400)
        except httpx.HTTPError as exc:
            return self._json({"error": f"the DIP at {self.hub_url} did not answer ({type(exc).__name__})"}, 502)
        common = item["payload"]["CommonBlock"]
        # Sent, and refused by the DIP: a failed trigger that says why (the DIP's status and MSG codes).
        refused = result.status not in (200, 201)
        return self._json({"status": result.status, "refused": refused,
                           "senderUniqueReference": common.get("S1", {}).get("senderUniqueReference"),
                           "transactionIDs": result.transaction_ids, "messages": result.messages,
                           "MPANCore": common.get("M0", {}).get("MPANCore")}, 502 if refused else 200)

    def _interface_of(self, value: str) -> str | None:
        try:
            return self.catalogue.get(value).id
        except DipcertError:
            return None

    def _on_state(self, request: Request) -> Response:
        data = self.state.snapshot()
        data.update(role=self.role, dipID=self.party.dip_id, faults=self.faults.specs)
        return Response(json.dumps(data, default=str), mimetype="application/json")

    # --- worker -----------------------------------------------------------------------------

    def _queue_work(self, verdict: ItemVerdict) -> None:
        key = verdict.mpan if isinstance(verdict.mpan, str) else verdict.transaction_id or ""
        with self._lock:  # put under the lock: a worker ends only when its queue is empty under it
            if not self._accepting_work:
                return
            worker = self._work.get(key)
            if worker is None:
                work: queue.Queue[ItemVerdict | None] = queue.Queue()
                thread = threading.Thread(target=self._worker, args=(key, work), daemon=True,
                                          name=f"ref-{self.role}-worker-{key}")
                worker = self._work[key] = (work, thread)
                thread.start()
            worker[0].put(verdict)

    def _worker(self, key: str, work: queue.Queue) -> None:
        while True:
            verdict = work.get()
            if verdict is None:
                return
            self._handle(verdict)
            with self._lock:
                if work.empty() and self._work.get(key, (None,))[0] is work:
                    del self._work[key]
                    return

    def _handle(self, verdict: ItemVerdict) -> None:
        try:
            self.behaviour.handle(verdict)
        except Exception as exc:  # noqa: BLE001 - recorded; the participant keeps serving
            log.warning("reference %s: handling %s failed: %s", self.role, verdict.transaction_id, exc)
            self.state.add_error(f"handling {verdict.interface_id} {verdict.transaction_id}: "
                                 f"{type(exc).__name__}: {exc}")
        finally:
            self.state.mark_handled(verdict.transaction_id)
