"""How the harness reaches a DIP: its URL, the TLS it trusts, the client certificate it presents,
and signed, API-keyed calls to the DIP's extension API (`/dipcert/v1`).

Every call is signed like a DIP API call (X-DIP-* over the exact bytes, X-API-Key) and bounded. A
call that could not even connect (the DIP restarting) is retried for a bounded time: nothing reached
the DIP, so nothing is done twice. A call that failed after it was sent is not retried, unless its
caller says doing it twice is harmless (`retry_unanswered`): opening a session is, because the DIP
closes a party's older session when it opens a new one.
"""

from __future__ import annotations

import json
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from harness.core.errors import ConfigError, DipcertError
from harness.transport.apikeys import API_KEY_HEADER
from harness.transport.signing import SigningIdentity, sign_request
from harness.transport.tls import system_context

RECONNECT_BOUND = 30.0  # seconds a call keeps trying to connect while the DIP restarts
RECONNECT_PAUSE = 0.2


class DipUnavailable(DipcertError):
    """The DIP could not be reached (after the reconnect bound) or answered what the harness cannot use."""


@dataclass(frozen=True)
class DipConnection:
    """Where the DIP is and how TLS goes: `ca` the CA(s) its server certificate chains to (None: the
    system store), `client_cert`/`client_key` what the harness presents (mTLS)."""

    base_url: str
    ca: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    timeout: float = 10.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"--dip: expected an http(s) URL of the DIP, got {self.base_url!r}")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    @property
    def tls(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def mtls(self) -> bool:
        return self.tls and self.client_cert is not None

    def ssl_context(self) -> ssl.SSLContext:
        """What httpx verifies the DIP's server with (and presents as client): a new one for https (a
        caller may load its own client certificate into it), the shared system context for plain http
        (never used, but httpx would otherwise build one per client)."""
        if not self.tls:
            return system_context()
        try:
            context = ssl.create_default_context(cafile=str(self.ca) if self.ca else None)
            if self.client_cert is not None:
                context.load_cert_chain(str(self.client_cert), str(self.client_key) if self.client_key else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"DIP TLS: cannot load {self.ca or ''} {self.client_cert or ''}: {exc}") from None
        return context

    def client(self, timeout: float | None = None) -> httpx.Client:
        return httpx.Client(timeout=httpx.Timeout(timeout or self.timeout), verify=self.ssl_context(),
                            trust_env=False, follow_redirects=False)


class DipCaller:
    """Signed calls as one party (its API key and signing identity) over one connection."""

    def __init__(self, connection: DipConnection, *, api_key: str | None, identity: SigningIdentity | None,
                 reconnect: float = RECONNECT_BOUND) -> None:
        self.connection = connection
        self._api_key = api_key
        self.identity = identity
        self.reconnect = reconnect
        self._http = connection.client()

    def close(self) -> None:
        self._http.close()

    def fresh(self) -> "DipCaller":
        """The same party on a new connection (a new TLS handshake), not retrying: for preflight's check."""
        return DipCaller(self.connection, api_key=self._api_key, identity=self.identity, reconnect=0.0)

    def call(self, method: str, path: str, *, data: Any = None, params: dict[str, Any] | None = None,
             timeout: float | None = None, headers: dict[str, str] | None = None,
             retry_unanswered: bool = False) -> httpx.Response:
        """One request; `data` is sent as JSON (exact bytes signed). Retries what never connected and, with
        `retry_unanswered`, what was sent but never answered (the connection dropped: the DIP restarting);
        never a timeout, where the DIP may still be at work."""
        body = b"" if data is None else json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        url = self.connection.base_url + path + (f"?{urlencode(params)}" if params else "")
        deadline = time.monotonic() + self.reconnect
        while True:
            sent = {"Accept": "application/json", **(headers or {})}
            if data is not None:
                sent["Content-Type"] = "application/json"
            if self.identity is not None:
                sent.update(sign_request(method.upper(), url.lower(), body, self.identity))
            if self._api_key is not None:
                sent[API_KEY_HEADER] = self._api_key
            try:
                return self._http.request(method.upper(), url, content=body or None, headers=sent,
                                          timeout=timeout or self.connection.timeout)
            except httpx.HTTPError as exc:
                dropped = isinstance(exc, (httpx.NetworkError, httpx.RemoteProtocolError))  # not a timeout
                if not (isinstance(exc, httpx.ConnectError) or (retry_unanswered and dropped)):
                    raise DipUnavailable(f"{method.upper()} {path} to the DIP failed "
                                         f"({type(exc).__name__}: {exc})") from None
                if time.monotonic() >= deadline:
                    raise DipUnavailable(f"the DIP at {self.connection.base_url} cannot be reached "
                                         f"({type(exc).__name__}: {exc})") from None
                time.sleep(RECONNECT_PAUSE)

    def json(self, method: str, path: str, *, expect: tuple[int, ...] = (200, 201), **kw: Any) -> Any:
        """A call whose answer must be JSON with one of the `expect` statuses; DipUnavailable otherwise."""
        response = self.call(method, path, **kw)
        if response.status_code not in expect:
            raise DipUnavailable(f"{method.upper()} {path}: the DIP answered HTTP {response.status_code}: "
                                 f"{response.text[:300]}")
        try:
            return response.json()
        except ValueError:
            raise DipUnavailable(f"{method.upper()} {path}: the DIP's answer is not JSON") from None
