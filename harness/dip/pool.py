"""Delivery clients: one keep-alive httpx client per webhook origin and trust, TLS contexts built once.

A delivery then costs a request on an open connection, not a TCP and TLS handshake (and not the
~40 ms of building an SSL context). The hub presents its client certificate (DeliverySettings
client_cert/client_key) to every https webhook that asks for one, and verifies the webhook's server
certificate against the recipient's registered `tls_ca`, else the system (certifi) store.
"""

from __future__ import annotations

import hashlib
import ssl
import threading
from urllib.parse import urlsplit

import httpx

from harness.dip.config import DeliverySettings
from harness.transport.tls import client_context, system_context

KEEPALIVE = httpx.Limits(max_connections=32, max_keepalive_connections=8, keepalive_expiry=30.0)


class ClientPool:
    def __init__(self, settings: DeliverySettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._clients: dict[tuple[str, str], httpx.Client] = {}

    @property
    def presents_certificate(self) -> bool | None:
        """Whether an https webhook that asks for a client certificate gets one (None: a context given
        whole, which may or may not hold one)."""
        if self.settings.client_tls is not None:
            return None
        return self.settings.client_cert is not None

    def context(self, tls_ca: bytes | None) -> ssl.SSLContext:
        """The client TLS context for webhooks trusted through `tls_ca` (None: the system store)."""
        if self.settings.client_tls is not None:
            return self.settings.client_tls
        key = hashlib.sha256(tls_ca).hexdigest() if tls_ca else "system"
        with self._lock:
            if key not in self._contexts:
                s = self.settings
                if tls_ca:
                    context = client_context(ca=tls_ca, cert=s.client_cert, key=s.client_key)
                elif s.client_cert is not None:
                    context = httpx.create_ssl_context()
                    context.load_cert_chain(str(s.client_cert), str(s.client_key) if s.client_key else None)
                else:
                    context = system_context()
                self._contexts[key] = context
            return self._contexts[key]

    def client(self, url: str, tls_ca: bytes | None) -> httpx.Client:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        trust = hashlib.sha256(tls_ca).hexdigest() if tls_ca else "system"
        verify = self.context(tls_ca) if parts.scheme.lower() == "https" else False
        with self._lock:
            client = self._clients.get((origin, trust))
            if client is None:
                client = self._clients[(origin, trust)] = httpx.Client(
                    verify=verify, follow_redirects=False, trust_env=False, limits=KEEPALIVE,
                    timeout=self.settings.timeouts.httpx())
            return client

    def close(self) -> None:
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            client.close()
