"""Shared pieces of the harness.dip tests: PKI, a capturing webhook, a hub with parties, API clients."""

from __future__ import annotations

import hashlib
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from harness.dip.config import DeliverySettings, HubConfig, PartyRegistration
from harness.dip.server import Hub
from harness.messages.samples import DEFAULT_PARTIES, Party, SampleFactory
from harness.transport.certs import cached_key, make_ca
from harness.transport.client import DipClient
from harness.transport.delivery import Timeouts
from harness.transport.responses import response_entry
from harness.transport.tls import peer_certificate_sha256

UTC = timezone.utc
WAIT = 5.0
MDR, SDS, SUP = DEFAULT_PARTIES["MDR"], DEFAULT_PARTIES["SDS"], DEFAULT_PARTIES["SUP"]
OTHER_MDR = Party("MDR", "1650000999", "OMDR")


@contextmanager
def serving(server: Any) -> Iterator[str]:
    """A werkzeug (socketserver) server on a daemon thread, as `http://127.0.0.1:PORT`; stopped after."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT)


def keys_for(dip_id: str) -> tuple[str, str]:
    return (f"primary-key-{dip_id}-0123456789abcdef", f"secondary-key-{dip_id}-0123456789abcdef")


def make_pki() -> dict[str, Any]:
    ca = make_ca("dip test CA", key=cached_key("test-ca"))
    out: dict[str, Any] = {"ca": ca, "dip": ca.issue("dip.test", key=cached_key("test-dip")).identity()}
    for name in ("MDR", "SDS", "SUP", "OMDR", "rogue"):
        out[name] = ca.issue(f"{name.lower()}.test", key=cached_key(f"test-{name}")).identity()
    return out


@dataclass
class Call:
    headers: dict[str, str]
    body: bytes
    url: str
    peer_cert: str | None = None


@dataclass
class Webhook:
    """A webhook that keeps every call; `answers` (a list of statuses) decides the replies in turn, then 201."""

    answers: list[int] = field(default_factory=list)
    ssl_context: ssl.SSLContext | None = None
    hold: threading.Event | None = None  # when set: a call waits for it before answering
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.arrived = threading.Condition()
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True, ssl_context=self.ssl_context)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://localhost:{self.server.server_port}/dip/in" if self.ssl_context else \
            f"http://127.0.0.1:{self.server.server_port}/dip/in"

    @Request.application
    def _app(self, request: Request) -> Response:
        body = request.get_data()
        try:
            peer = peer_certificate_sha256(request.environ)
        except (TypeError, ValueError):
            peer = None
        with self.arrived:
            self.calls.append(Call(dict(request.headers), body, request.url, peer))
            status = self.answers.pop(0) if self.answers else 201
            self.arrived.notify_all()
        if self.hold is not None:
            self.hold.wait(WAIT)
        if request.method != "POST":
            return Response("", status=405)
        if status != 201:
            return Response("no", status=status)
        messages = json.loads(body)
        entries = [response_entry("RCP0000", transaction_id=m["payload"]["CommonBlock"]["D0"]["transactionID"],
                                  sender_id=MDR.dip_id) for m in messages]
        return Response(json.dumps({"messageArray": entries, "timestamp": entries[0]["sentTimestamp"]}),
                        status=201, content_type="application/json")

    def wait_calls(self, count: int, timeout: float = WAIT) -> list[Call]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.calls) >= count, timeout)
            return list(self.calls)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def settings(**kw: Any) -> DeliverySettings:
    return DeliverySettings(timeouts=Timeouts(connect=1, read=2, write=1, pool=1, total=5), retries=1,
                            sleep=lambda s: None, **kw)


def registration(pki: dict, party: Party, name: str | None = None, **kw: Any) -> PartyRegistration:
    return PartyRegistration(party.dip_id, party.role, party.mpid, keys_for(party.dip_id),
                             pki[name or party.role].certificate, **kw)


def make_hub(pki: dict, *parties: PartyRegistration, **config: Any) -> Hub:
    config.setdefault("delivery", settings())
    hub = Hub(HubConfig(identity=pki["dip"], **config))
    for party in parties:
        hub.register_party(party)
    return hub


def api(hub: Hub, identity: Any, key: str, **kw: Any) -> DipClient:
    return DipClient(hub.base_url, api_key=key, identity=identity, timeout=WAIT + 5, **kw)


def open_session(client: DipClient, counterparties: list[dict], run_id: str = "run-1", partner: Any = None) -> dict:
    response = client.call("POST", "/dipcert/v1/sessions", json.dumps(
        {"run_id": run_id, "counterparties": counterparties, "partner": partner}).encode())
    assert response.status_code == 201, response.text
    return response.json()


def records(client: DipClient, sid: str, after: int = 0, wait: float = 0, bodies: bool = False) -> dict:
    query = f"after={after}&wait={wait:g}" + ("&bodies=1" if bodies else "")
    response = client.call("GET", f"/dipcert/v1/sessions/{sid}/records", query=query)
    assert response.status_code == 200, response.text
    return response.json()


def wait_records(client: DipClient, sid: str, predicate: Callable[[dict], bool], timeout: float = WAIT) -> list[dict]:
    """Every record so far, once one matches `predicate` (long-polls; bounded)."""
    seen: list[dict] = []
    deadline = datetime.now(UTC).timestamp() + timeout
    while True:
        answer = records(client, sid, seen[-1]["seq"] if seen else 0, wait=1)
        seen += answer["records"]
        if any(predicate(r) for r in seen):
            return seen
        assert datetime.now(UTC).timestamp() < deadline, f"no matching record in {timeout} s: {seen}"


def sample(interface: str = "IF-061", event: str | None = None, count: int = 1, seed: int = 1,
           parties: dict | None = None) -> list[dict]:
    return SampleFactory(seed, now=datetime.now(UTC), parties=parties or DEFAULT_PARTIES).body(
        interface, event, count=count)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
