"""The participant's side of the DIP API: submit messages, register webhooks, send status messages.

The reference participants use it to talk to the hub, and so can a user's own scripts. The body
is serialised once and those exact bytes are both signed and sent, because the DIP checks the
signature against the bytes it receives (X-DIP-Content-Hash); re-serialising would break it.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness.transport.apikeys import API_KEY_HEADER
from harness.transport.responses import parse_code
from harness.transport.signing import SigningIdentity, sign_request
from harness.transport.tls import system_context

RECONNECT_PAUSE = 0.2  # seconds between tries while the DIP is unreachable (DipClient.reconnect)

HeaderHook = Callable[[dict[str, str]], dict[str, str]]


@dataclass
class SubmitResult:
    """What the DIP answered to one POST, with the exact bytes that were sent."""

    status: int
    body: Any | None  # parsed JSON, or None when the answer had no (JSON) body
    transaction_ids: list[str | None]
    messages: list[str]  # response codes, one per StandardResponse entry: "MSG0000", "MSG1006"...
    request: bytes
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # sent headers, secrets removed

    @property
    def ok(self) -> bool:
        return self.status in (200, 201, 204)


def _parse_response(response: httpx.Response) -> tuple[Any | None, list[str | None], list[str]]:
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = None
    entries = body.get("messageArray") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        return body, [], []
    ids = [e.get("transactionID") if isinstance(e, dict) else None for e in entries]
    codes = [c for e in entries if isinstance(e, dict) and (c := parse_code(e.get("message")))]
    return body, ids, codes


def _tls(verify: bool | ssl.SSLContext | str, cert: tuple[str | Path, str | Path] | None) -> bool | ssl.SSLContext:
    """httpx 0.28 deprecates `cert=`: load a client certificate into an SSL context instead.
    `verify=True` without a certificate is the shared system context (not one built per client); a
    certificate is never loaded into the shared one."""
    if verify is system_context():
        verify = True
    if verify is True and cert is None:
        return system_context()
    if isinstance(verify, str):
        verify = ssl.create_default_context(cafile=verify)
    if cert is None:
        return verify
    context = verify if isinstance(verify, ssl.SSLContext) else ssl.create_default_context()
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(str(cert[0]), str(cert[1]))
    return context


def _message_request(*, transaction_ids: list[str] | None = None, mpan: str | None = None,
                     event_code: str | None = None, version: str | None = None,
                     datetime_from: str | None = None, datetime_to: str | None = None) -> bytes:
    """A MessageRequest body: the five required keys (null when unused), transactionIDs when given."""
    data: dict[str, Any] = {"datetimeFrom": datetime_from, "datetimeTo": datetime_to, "eventCode": event_code,
                            "MPAN": mpan, "version": version}
    if transaction_ids:
        data["transactionIDs"] = list(transaction_ids)
    return json.dumps(data, separators=(",", ":")).encode("utf-8")


class DipClient:
    """Signed, API-keyed calls to a DIP (the real one or the hub). Always with a timeout."""

    def __init__(self, base_url: str, *, api_key: str, identity: SigningIdentity, timeout: float = 10.0,
                 verify: bool | ssl.SSLContext | str = True,
                 cert: tuple[str | Path, str | Path] | None = None,
                 header_hook: HeaderHook | None = None, reconnect: float = 0.0) -> None:
        self.base_url = base_url.rstrip("/")
        # Seconds a call keeps trying while the DIP cannot be reached or dropped the connection (a
        # restart): a participant that rides out a short outage. 0: one try. A request the DIP recorded
        # before it went away and that is sent again is refused as a duplicate (its unique reference).
        self.reconnect = reconnect
        self._api_key = api_key
        self.identity = identity
        self.timeout = timeout
        # header_hook lets a caller alter the signed headers before sending (fault injection).
        self._header_hook = header_hook
        self._http = httpx.Client(timeout=httpx.Timeout(timeout), verify=_tls(verify, cert))

    def __enter__(self) -> "DipClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- calls ------------------------------------------------------------------------------

    def submit(self, interface_id: str, messages: list[dict]) -> SubmitResult:
        """POST a batch of wire items to /dip-channel/{IF}."""
        body = json.dumps(messages, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return self.submit_bytes(interface_id, body)

    def submit_bytes(self, interface_id: str, body: bytes) -> SubmitResult:
        """POST exact bytes (also malformed ones, for tests) to /dip-channel/{IF}."""
        return self._post(f"/dip-channel/{interface_id.upper()}", body)

    def register_webhook(self, interface_id: str, recipient_dip_id: str, callback_url: str,
                         max_message_count: int = 100, max_payload_size: int = 1024) -> SubmitResult:
        """POST /dip-channel/{IF}/pubconfig/{recipient}: where the DIP should deliver that interface."""
        config = {"callbackURL": callback_url, "maxMessageCount": max_message_count,
                  "maxPayloadSize": max_payload_size}
        body = json.dumps(config, separators=(",", ":")).encode("utf-8")
        return self._post(f"/dip-channel/{interface_id.upper()}/pubconfig/{recipient_dip_id}", body)

    def replay(self, interface_id: str, recipient_dip_id: str, **request: Any) -> SubmitResult:
        """POST .../replay/{recipient}: the DIP answers with the matching delivered messages."""
        return self._post(f"/dip-channel/{interface_id.upper()}/replay/{recipient_dip_id}",
                          _message_request(**request))

    def requeue(self, interface_id: str, recipient_dip_id: str, **request: Any) -> SubmitResult:
        """POST .../requeue/{recipient}: the DIP pushes the matching messages to the webhook again."""
        return self._post(f"/dip-channel/{interface_id.upper()}/requeue/{recipient_dip_id}",
                          _message_request(**request))

    def send_status(self, responses: list[dict]) -> SubmitResult:
        """POST /statusmessage: asynchronous RCP status of messages this participant received."""
        body = json.dumps(responses, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return self._post("/statusmessage", body)

    def call(self, method: str, path: str, body: bytes = b"", *, query: str = "",
             timeout: float | None = None) -> httpx.Response:
        """Any signed, API-keyed request (the dipcert extension API: GET records, POST sessions...).

        `query` is sent exactly as given (already encoded) and is part of the signed URL."""
        url = self.base_url + path + (f"?{query}" if query else "")
        headers = dict(sign_request(method, url.lower(), body, self.identity))
        if self._header_hook is not None:
            headers = dict(self._header_hook(headers))
        if body:
            headers["Content-Type"] = "application/json"
        headers[API_KEY_HEADER] = self._api_key
        return self._send(method, url, content=body, headers=headers,
                          timeout=httpx.Timeout(timeout) if timeout is not None else httpx.USE_CLIENT_DEFAULT)

    def _send(self, method: str, url: str, **kw: Any) -> httpx.Response:
        deadline = time.monotonic() + self.reconnect
        while True:
            try:
                return self._http.request(method, url, **kw)
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
                if time.monotonic() + RECONNECT_PAUSE >= deadline:
                    raise
                time.sleep(RECONNECT_PAUSE)

    def _post(self, path: str, body: bytes) -> SubmitResult:
        url = self.base_url + path
        headers = dict(sign_request("POST", url.lower(), body, self.identity))
        if self._header_hook is not None:
            headers = dict(self._header_hook(headers))
        headers["Content-Type"] = "application/json"
        sent = dict(headers)
        headers[API_KEY_HEADER] = self._api_key  # never kept in the result: secrets stay out of evidence
        response = self._send("POST", url, content=body, headers=headers)
        parsed, ids, codes = _parse_response(response)
        return SubmitResult(response.status_code, parsed, ids, codes, body, url, sent)
