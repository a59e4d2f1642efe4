"""How a hub is set up: listening, TLS, delivery behaviour, and the parties it knows.

Settings only: nothing here starts a server or touches the network.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography import x509

from harness.core.catalogue import Catalogue
from harness.transport.delivery import MAX_RESPONSE_BYTES, Timeouts, WebhookConfig

DIP_SENDER_ID = "0000000000"  # the DIP's own id in StandardResponse.senderID (spec examples: zeros)


@dataclass(frozen=True)
class HubTLS:
    """Server certificate and key (PEM files); with `client_ca` clients must present a cert (mTLS)."""

    cert: Path | str
    key: Path | str
    client_ca: Path | str | bytes | None = None
    ca: Path | str | None = None  # the CA that issued `cert`, published at /dipcert/v1/dip for clients to trust


@dataclass(frozen=True)
class DeliverySettings:
    """How the hub delivers to webhooks. Retry count and backoff are not published by the DIP ([U]).

    `client_cert`/`client_key`: the certificate the hub presents to webhooks (mTLS on the delivery
    leg); `client_tls`: a complete client context instead (then used for every webhook as given).
    """

    timeouts: Timeouts = Timeouts()
    retries: int = 3
    backoff: tuple[float, float] = (0.05, 2.0)
    client_tls: ssl.SSLContext | None = None
    client_cert: Path | str | None = None
    client_key: Path | str | None = None
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
    state: Path | str | None = None  # folder of the SQLite file; None: kept in memory (lost at stop)
    admin_token: str | None = None  # bearer token for /dipcert/v1/admin (None: admin API off)
    keep_views: bool = True  # keep in-process lists (received(), deliveries()...) for callers in this process
    public_url: str | None = None  # the base URL participants use, when not the listening address


@dataclass(frozen=True)
class PartyRegistration:
    """A participant as the DIP knows it after onboarding.

    `client_certificate`: the mTLS client certificate it presents to the DIP API (bound to its API
    keys when the hub demands mTLS); `tls_ca`: PEM CA certificate(s) its webhooks' server
    certificates chain to (None: the system store).
    """

    dip_id: str
    role: str
    mpid: str
    api_keys: tuple[str, str]
    certificate: x509.Certificate | None
    dcp_id: str | None = None
    webhooks: dict[str, WebhookConfig] | None = None
    client_certificate: x509.Certificate | None = None
    tls_ca: bytes | None = None

    def __repr__(self) -> str:  # never show the keys
        return f"PartyRegistration(dip_id={self.dip_id!r}, role={self.role!r}, mpid={self.mpid!r})"
