"""The Hub: the simulated DIP as a running server (werkzeug: harness.dip.wsgiserver), and its in-process views.

`Hub(config).start()` listens (HTTP, or HTTPS with mTLS per HubConfig.tls), resumes deliveries a
previous life of the same state folder left pending, and serves the DIP API and the dipcert extension
API (harness.dip.api). The query methods (`received()`, `deliveries()`, `wait_for(...)`...) serve
callers in the same process; a remote caller reads the same facts from the session's record stream.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from cryptography import x509
from werkzeug.serving import BaseWSGIServer
from werkzeug.wrappers import Request, Response

from harness.core.catalogue import load_catalogue
from harness.core.errors import ConfigError
from harness.dip.api import Api
from harness.dip.config import HubConfig, PartyRegistration
from harness.dip.model import Delivery, Rejection, StatusMessage, StoredMessage, Submission
from harness.dip.observed import Observed
from harness.dip.parties import GLOBAL, Directory, Party, Session
from harness.dip.references import InFlight
from harness.dip.routing import Router
from harness.dip.store import Database
from harness.dip.transcript import HUB_CHAIN, SqliteTranscript, TranscriptStore, utc_now
from harness.dip.wsgiserver import ReusingWSGIServer
from harness.transport.certs import cached_key, make_ca
from harness.transport.delivery import WebhookConfig
from harness.transport.requestlog import request_handler
from harness.transport.responses import load_code_table
from harness.transport.signing import certificate_fingerprint
from harness.transport.tls import server_context

T = TypeVar("T")


@contextmanager
def _listening(host: str, port: int) -> Iterator[socket.socket]:
    """A bound, listening socket (handed to werkzeug, which on its own would print and exit on a bind
    error): a port in use, a host that does not resolve or a port out of range is one ConfigError line."""
    where = f"hub: cannot listen on {host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise ConfigError(f"{where} ({exc.strerror})") from None
    except (OverflowError, ValueError, UnicodeError) as exc:
        raise ConfigError(f"{where} ({exc})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"{where} ({exc.strerror})") from None
    try:
        yield sock
    finally:
        sock.close()  # werkzeug keeps its own duplicate of the descriptor


class Hub:
    """The simulated DIP. Use as a context manager, or `start()`/`stop()`."""

    def __init__(self, config: HubConfig | None = None, *, recorder: Any = None, pack: Any = None,
                 transcript: TranscriptStore | None = None) -> None:
        self.config = config or HubConfig()
        self.recorder = recorder  # a run's evidence recorder (the embedded self-test), or None
        self.pack = pack
        self.catalogue = self.config.catalogue or load_catalogue()
        self.codes = load_code_table()
        self.identity = self.config.identity
        self.db = Database(self.config.state)
        self.transcript: TranscriptStore = transcript or SqliteTranscript(self.db)
        self.directory = Directory(self.db, self.catalogue)
        self.observed = Observed(self.config.keep_views)
        self.router = Router(self)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._evidence_lock = threading.Lock()
        self.references = InFlight()  # senderUniqueReferences between their check and their record

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
            ca = make_ca("dipcert hub signing CA", key=cached_key("hub-signing-ca"))
            self.identity = ca.issue("dip.hub.dipcert", key=cached_key("hub-signing")).identity()
        tls = self.config.tls
        ssl_context = server_context(tls.cert, tls.key, client_ca=tls.client_ca) if tls is not None else None
        with _listening(self.config.host, self.config.port) as sock:
            self._server = ReusingWSGIServer(self.config.host, self.config.port, Api(self),
                                             handler=request_handler(), ssl_context=ssl_context, fd=sock.fileno())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="dipcert-hub", daemon=True)
        self._thread.start()
        data = {"base_url": self.base_url, "environment": self.config.environment, "tls": self.tls,
                "mtls": self.mtls, "signer": certificate_fingerprint(self.identity.certificate)}
        self.transcript.append([HUB_CHAIN], {"kind": "event", "event": "hub.start", "data": data})
        self.evidence_event("hub.start", base_url=data["base_url"], environment=data["environment"],
                            mtls=data["mtls"], signer=data["signer"])
        self.router.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self.transcript.release_waiters()  # a participant's long poll answers now, not at its bound
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self.router.stop()
        self._server = None
        self.transcript.append([HUB_CHAIN], {"kind": "event", "event": "hub.stop", "data": {}})
        self.evidence_event("hub.stop")

    @property
    def tls(self) -> bool:
        return self.config.tls is not None

    @property
    def mtls(self) -> bool:
        return self.config.tls is not None and self.config.tls.client_ca is not None

    @property
    def base_url(self) -> str:
        if self.config.public_url:
            return self.config.public_url.rstrip("/")
        if self._server is None:
            raise RuntimeError("the hub is not started")
        scheme = "https" if self.config.tls is not None else "http"
        host = self.config.host if ":" not in self.config.host else f"[{self.config.host}]"
        return f"{scheme}://{host}:{self._server.port}"

    def request_url(self, request: Request) -> str:
        """The hub's own view of the request URL (what a correct signer signed)."""
        query = request.query_string.decode("latin-1")
        return self.base_url + request.path + (f"?{query}" if query else "")

    def public_identity(self) -> dict[str, Any]:
        """What anyone may know of this DIP (`GET /dipcert/v1/dip`, the session answer, the export)."""
        cert: x509.Certificate = self.identity.certificate
        d = self.config.delivery
        tls = self.config.tls
        ca_pem = Path(tls.ca).read_text(encoding="ascii") if tls is not None and tls.ca is not None else None
        return {"dip_id": self.config.dip_id, "environment": self.config.environment, "base_url": self.base_url,
                "tls": self.tls, "mtls": self.mtls, "fingerprint": certificate_fingerprint(cert),
                "subject": cert.subject.rfc4514_string(),
                "signing_certificate_pem": self.identity.cert_pem.decode("ascii"),
                "tls_ca_pem": ca_pem, "delivery_client_certificate": self.router.pool.presents_certificate,
                "delivery": {"retries": d.retries, "timeout": d.timeouts.total, "backoff": list(d.backoff)}}

    # -- registration ----------------------------------------------------------------------------

    def register_party(self, party: PartyRegistration) -> Party:
        """Onboard a party (global scope); replaces an earlier registration of the same DIP ID."""
        registered = self.directory.register(party)
        self.transcript.append([HUB_CHAIN], {"kind": "event", "event": "party", "data": registered.public()})
        self.evidence_event("hub.party", dip_id=party.dip_id, role=party.role, mpid=party.mpid, dcp_id=party.dcp_id,
                            certificate=certificate_fingerprint(party.certificate) if party.certificate else None)
        for interface_id, config in (party.webhooks or {}).items():
            self._webhook_events(registered, self.catalogue.get(interface_id).id, config)
        return registered

    def set_webhook(self, party: Party, interface_id: str, config: WebhookConfig | None) -> None:
        interface = self.directory.set_webhook(party.key, interface_id, config)
        self._webhook_events(party, interface, config)

    def _webhook_events(self, party: Party, interface: str, config: WebhookConfig | None) -> None:
        data = {"dip_id": party.dip_id, "scope": party.scope or "global", "interface": interface,
                "config": config.to_json() if config else None}
        self.transcript.append(self.directory.sessions_of(party) or [HUB_CHAIN],
                               {"kind": "event", "event": "webhook", "data": data})
        self.evidence_event("hub.webhook", dip_id=party.dip_id, interface=interface,
                            config=config.to_json() if config else None)

    def register_webhook(self, dip_id: str, interface_id: str, config: WebhookConfig | None) -> None:
        """Set (or with None remove) where `interface_id` messages for the registered `dip_id` go."""
        party = self.directory.party((GLOBAL, dip_id))
        if party is None:
            raise ConfigError(f"hub: DIP ID {dip_id} is not registered")
        self.set_webhook(party, interface_id, config)

    def webhook(self, dip_id: str, interface_id: str) -> WebhookConfig | None:
        return self.directory.webhook((GLOBAL, dip_id), interface_id)

    def close_session(self, session: Session, reason: str = "closed") -> None:
        """End a session: nothing more is written to its chain after its `session.close` record."""
        self.directory.close_session(session, utc_now(), reason)
        self.transcript.append([session.sid], {"kind": "event", "event": "session.close", "data": {"reason": reason}})

    # -- what happened (in-process views) --------------------------------------------------------

    def received(self, interface_id: str | None = None) -> list[Submission]:
        wanted = self.catalogue.get(interface_id).id if interface_id else None
        return [s for s in self.observed.snapshot(self.observed.submissions)
                if wanted is None or s.interface_id == wanted]

    def rejections(self) -> list[Rejection]:
        return self.observed.snapshot(self.observed.rejections)

    def inbox(self, dip_id: str) -> list[StoredMessage]:
        return self.router.inbox((GLOBAL, dip_id))

    def deliveries(self) -> list[Delivery]:
        return self.observed.snapshot(self.observed.deliveries)

    def status_messages(self) -> list[StatusMessage]:
        return self.observed.snapshot(self.observed.status)

    def wait_for(self, predicate: Callable[[Submission], bool] | None = None, timeout: float = 10.0) -> Submission:
        """The first accepted message matching `predicate` (already here or arriving within `timeout`)."""
        return self.observed.wait(self.observed.submissions, predicate, timeout, "submission")

    def wait_for_delivery(self, predicate: Callable[[Delivery], bool] | None = None,
                          timeout: float = 10.0) -> Delivery:
        return self.observed.wait(self.observed.deliveries, predicate, timeout, "delivery")

    def wait_for_rejection(self, predicate: Callable[[Rejection], bool] | None = None,
                           timeout: float = 10.0) -> Rejection:
        return self.observed.wait(self.observed.rejections, predicate, timeout, "rejection")

    def wait_for_status(self, predicate: Callable[[StatusMessage], bool] | None = None,
                        timeout: float = 10.0) -> StatusMessage:
        return self.observed.wait(self.observed.status, predicate, timeout, "status message")

    def wait_until(self, condition: Callable[[], T | None], timeout: float) -> T | None:
        """`condition()` (called with the views' lock held, on every change) until truthy or `timeout`.

        For waits on more than one kind of thing at once, e.g. "accepted *or* rejected".
        """
        return self.observed.wait_until(condition, timeout)

    # -- the run's evidence (embedded self-test) -------------------------------------------------

    def evidence_http(self, request: Request, body: bytes, response: Response, response_body: bytes, started: Any,
                      clock: float, peer: str | None, context: dict) -> int | None:
        if self.recorder is None:
            return None
        data = dict(context)
        with self._evidence_lock:
            return self.recorder.http(channel="hub-inbound", method=request.method, url=self.request_url(request),
                                      request_headers={k: v for k, v in request.headers.items()
                                                       if k.lower() not in ("x-api-key", "authorization")},
                                      request_body=body, status=response.status_code,
                                      response_headers=dict(response.headers), response_body=response_body,
                                      started=started, elapsed_ms=(time.monotonic() - clock) * 1000.0,
                                      peer_certificate_sha256=peer, error=data.pop("error", None), context=data)

    def evidence_event(self, kind: str, **data: Any) -> None:
        if self.recorder is not None:
            with self._evidence_lock:
                self.recorder.event(kind, **data)
