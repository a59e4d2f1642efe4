"""The DIP a run talks to: a hosted one (`--dip URL`), or one embedded in this process for a self-test.

Either way the run reaches it the same way afterwards: over HTTP(S), through the DIP API and the
dipcert extension API (`RemoteHub`). The embedded DIP is started on the profile's `hub_host` /
`hub_port` with an admin token only this process knows, and the run onboards its party (and a real
partner it nominates) through the admin API, as the operator of a hosted DIP would have done.

`DipAccess.record()` is what the run-start record and summary.json say about the DIP: where it is,
who it is (the signing certificate's subject and fingerprint), whether the party ran it (embedded)
and how the connection was secured. An embedded DIP is never labelled with its environment alone:
"UIT (simulated DIP on this machine: self-test)".
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from harness.config.profile import Profile
from harness.core.catalogue import Catalogue
from harness.core.errors import ConfigError
from harness.dip.client import Counterparty
from harness.dip.config import DeliverySettings, HubConfig
from harness.dip.connection import DipConnection, DipUnavailable
from harness.dip.server import Hub
from harness.messages.samples import DEFAULT_PARTIES
from harness.transport.delivery import Timeouts
from harness.transport.signing import certificate_fingerprint

if TYPE_CHECKING:
    from harness.dip.server import Hub

EMBEDDED, REMOTE = "embedded", "remote"


@dataclass
class DipAccess:
    connection: DipConnection
    identity: dict[str, Any]  # GET /dipcert/v1/dip: the DIP's public identity
    kind: str  # EMBEDDED or REMOTE
    hub: Hub | None = None  # the embedded Hub (stopped with the run), or None
    admin_token: str | None = None

    @property
    def environment(self) -> str:
        return str(self.identity.get("environment") or "")

    def label(self) -> str:
        if self.kind == EMBEDDED:
            return f"{self.environment} (simulated DIP on this machine: self-test)"
        return f"{self.environment} (DIP at {self.connection.base_url})"

    def record(self) -> dict[str, Any]:
        """The `dip` block of the run-start record and summary.json."""
        return {"url": self.connection.base_url, "kind": self.kind, "label": self.label(),
                "environment": self.environment, "subject": self.identity.get("subject"),
                "fingerprint": self.identity.get("fingerprint"),
                "tls": self.connection.tls, "mtls": bool(self.identity.get("mtls")) and self.connection.mtls,
                "delivery_client_certificate": self.identity.get("delivery_client_certificate")}

    def register(self, registration: Any) -> None:
        """Onboard a party through the admin API (embedded DIP only)."""
        if self.admin_token is None:
            raise ConfigError("only the embedded DIP registers parties for a run; ask the DIP's operator")
        body = {"dip_id": registration.dip_id, "role": registration.role, "mpid": registration.mpid,
                "dcp_id": registration.dcp_id, "api_keys": list(registration.api_keys),
                "certificate_pem": _pem(registration.certificate),
                "client_certificate_pem": _pem(getattr(registration, "client_certificate", None)),
                "tls_ca_pem": (registration.tls_ca.decode("ascii") if getattr(registration, "tls_ca", None) else None),
                "webhooks": {i: w.to_json() for i, w in sorted((registration.webhooks or {}).items())}}
        with self.connection.client() as client:
            response = client.post(self.connection.base_url + "/dipcert/v1/admin/parties", json=body,
                                   headers={"Authorization": f"Bearer {self.admin_token}"})
        if response.status_code != 201:
            raise ConfigError(f"the embedded DIP refused to register {registration.dip_id}: {response.text[:200]}")

    def stop(self) -> None:
        if self.hub is not None:
            self.hub.stop()
            self.hub = None


def _pem(cert: x509.Certificate | None) -> str | None:
    return cert.public_bytes(Encoding.PEM).decode("ascii") if cert is not None else None


def public_identity(connection: DipConnection) -> dict[str, Any]:
    """`GET /dipcert/v1/dip`: who the DIP is (no authentication); DipUnavailable when it is not a dipcert DIP."""
    try:
        with connection.client() as client:
            response = client.get(connection.base_url + "/dipcert/v1/dip")
    except httpx.HTTPError as exc:
        raise DipUnavailable(f"the DIP at {connection.base_url} cannot be reached "
                             f"({type(exc).__name__}: {exc})") from None
    if response.status_code != 200:
        raise DipUnavailable(f"{connection.base_url}/dipcert/v1/dip answered HTTP {response.status_code}: not a "
                             f"dipcert DIP (or an older one)")
    try:
        data = response.json()
    except ValueError:
        raise DipUnavailable(f"{connection.base_url}/dipcert/v1/dip did not answer JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("fingerprint"), str):
        raise DipUnavailable(f"{connection.base_url}/dipcert/v1/dip: no signing certificate fingerprint")
    return data


def remote(url: str, profile: Profile, *, dip_cert: x509.Certificate | None, ca: Path | None,
           timeout: float) -> DipAccess:
    """A hosted DIP. With `dip_cert`, the DIP must announce that very signing certificate."""
    connection = DipConnection(url, ca=ca, client_cert=profile.credential_path("client_certificate"),
                               client_key=profile.credential_path("client_key"), timeout=timeout)
    identity = public_identity(connection)
    if dip_cert is not None and identity.get("fingerprint") != certificate_fingerprint(dip_cert):
        raise ConfigError(f"--dip-cert: the DIP at {url} signs with {identity.get('fingerprint')} "
                          f"({identity.get('subject')}), not with the certificate given "
                          f"({certificate_fingerprint(dip_cert)})")
    return DipAccess(connection, identity, REMOTE)


def embedded(profile: Profile, *, identity: Any, timeout: float, pack: Any = None) -> DipAccess:
    """A DIP started in this process on the profile's hub_host/hub_port (plain http: a self-test)."""
    token = secrets.token_urlsafe(24)
    t = float(timeout)
    delivery = DeliverySettings(timeouts=Timeouts(connect=min(5.0, t), read=t, write=t, pool=min(5.0, t), total=t),
                                retries=1)
    config = HubConfig(host=profile.harness.hub_host, port=profile.harness.hub_port, environment=profile.environment,
                       identity=identity, delivery=delivery, admin_token=token)
    hub = Hub(config, pack=pack).start()
    try:
        connection = DipConnection(hub.base_url, timeout=max(t, 5.0))
        return DipAccess(connection, public_identity(connection), EMBEDDED, hub, token)
    except BaseException:
        hub.stop()
        raise


def counterparties(profile: Profile, catalogue: Catalogue, *, identity_for: Any,
                   partner_webhooks: dict[str, str] | None) -> list[Counterparty]:
    """The parties the harness plays in the session: every market role that sends the party an enabled
    incoming flow or receives one of its enabled outgoing flows (REGS, SUP...), and the reference
    partner (`partner_webhooks`: where its deliveries go) when the profile names it."""
    enabled = set(profile.enabled_interfaces)
    partner = profile.partner
    roles: set[str] = set()
    for event in catalogue.events():
        if event.interface_id not in enabled:
            continue
        direction = event.direction_for(profile.role)
        if direction == "incoming":
            roles.add(event.sender)
        elif direction == "outgoing":
            roles.update(event.receivers)
    out = []
    for role in sorted(roles & set(DEFAULT_PARTIES)):
        if role == profile.role or (partner is not None and role == partner.role):
            continue
        party = DEFAULT_PARTIES[role]
        out.append(Counterparty(role, party.mpid, party.dip_id, identity_for(role)))
    if partner is not None and partner.is_reference:
        out.append(Counterparty(partner.role, partner.mpid, partner.dip_id, identity_for(partner.role),
                                dict(partner_webhooks or {})))
    return out
