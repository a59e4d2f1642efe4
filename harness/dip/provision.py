"""Build a simulated DIP for a participant profile: the party's keys, certificate and webhooks.

Shared by `dipcert hub` (the hub on its own, for a participant to point its system at) and the
certification runner, so that both register a party exactly the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography import x509

from harness.config.profile import PARTNER_API_KEY, Profile
from harness.core.catalogue import load_catalogue
from harness.core.errors import ConfigError
from harness.core.files import read_config_bytes
from harness.dip.config import DeliverySettings, HubConfig, PartyRegistration
from harness.dip.server import Hub
from harness.transport.apikeys import generate_api_key
from harness.transport.delivery import Timeouts, WebhookConfig
from harness.transport.tls import client_context

DEFAULT_MAX_MESSAGE_COUNT = 100
DEFAULT_MAX_PAYLOAD_KB = 1024


def _pem_certificate(path: Path, where: str) -> x509.Certificate:
    """A PEM certificate file named by the profile setting `where`; one ConfigError line otherwise."""
    data = read_config_bytes(path, "PEM certificate", where=where)
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise ConfigError(f"{where}: {path} is not a PEM certificate "
                          "(expected '-----BEGIN CERTIFICATE-----')") from None


def load_certificate(profile: Profile, name: str = "signing_certificate") -> x509.Certificate | None:
    path = profile.credential_path(name)
    return None if path is None else _pem_certificate(path, f"{profile.path}: credentials.{name}")


def party_webhooks(profile: Profile) -> dict[str, WebhookConfig]:
    """The webhook per enabled interface the party receives, as the DIP's message channels hold them."""
    catalogue = load_catalogue()
    hooks: dict[str, WebhookConfig] = {}
    for interface_id in profile.enabled_interfaces:
        if "incoming" not in catalogue.get(interface_id).directions_for(profile.role):
            continue
        url = profile.webhook_for(interface_id)
        if url:
            hooks[interface_id] = WebhookConfig(url, DEFAULT_MAX_MESSAGE_COUNT, DEFAULT_MAX_PAYLOAD_KB)
    return hooks


def party_registration(profile: Profile) -> PartyRegistration:
    """The party as the DIP knows it after onboarding: DIP ID, role, both API keys, signing certificate,
    its mTLS client certificate (bound to its keys when the hub demands mTLS) and its webhooks' CA."""
    keys = (profile.resolve_secret("api_key_primary"), profile.resolve_secret("api_key_secondary"))
    ca = profile.credential_path("tls_ca")
    tls_ca = read_config_bytes(ca, "CA certificate", where=f"{profile.path}: credentials.tls_ca") if ca else None
    return PartyRegistration(dip_id=profile.party.dip_id, role=profile.role, mpid=profile.party.mpid,
                             api_keys=keys, certificate=load_certificate(profile),
                             dcp_id=profile.party.dcp_id, webhooks=party_webhooks(profile),
                             client_certificate=load_certificate(profile, "client_certificate"), tls_ca=tls_ca)


def load_partner_certificate(profile: Profile) -> x509.Certificate | None:
    """The real partner's DIP signing certificate (partner.signing_certificate), or None when not given."""
    path = profile.partner_certificate_path()
    return None if path is None else _pem_certificate(path, f"{profile.path}: partner.signing_certificate")


def partner_webhooks(profile: Profile) -> dict[str, WebhookConfig]:
    """A real partner's webhook per extended interface it receives (its own entry, `default`, else `endpoint`)."""
    partner = profile.partner
    if partner is None or partner.is_reference:
        return {}
    hooks: dict[str, WebhookConfig] = {}
    for interface in load_catalogue().interfaces.values():
        if "incoming" in interface.directions_for(partner.role) and interface.category == "extended":
            url = partner.webhook_for(interface.id)
            if url:
                hooks[interface.id] = WebhookConfig(url, DEFAULT_MAX_MESSAGE_COUNT, DEFAULT_MAX_PAYLOAD_KB)
    return hooks


def partner_registration(profile: Profile) -> PartyRegistration | None:
    """The nominated partner as the DIP knows it, so the hub can route to it and accept from it.

    The built-in reference partner is registered again by the runner with the keys and certificate
    it starts with. A real partner gets its own API key as the primary (partner.api_key; the secondary
    is generated, as the DIP issues two), its signing certificate and its webhooks; without an
    api_key both keys are throw-away ones and the partner cannot submit.
    """
    partner = profile.partner
    if partner is None:
        return None
    if partner.is_reference:
        keys, certificate = (generate_api_key(), generate_api_key()), None
    else:
        primary = profile.resolve_secret(PARTNER_API_KEY) if partner.api_key is not None else generate_api_key()
        keys, certificate = (primary, generate_api_key()), load_partner_certificate(profile)
    return PartyRegistration(dip_id=partner.dip_id, role=partner.role, mpid=partner.mpid, api_keys=keys,
                             certificate=certificate, webhooks=partner_webhooks(profile) or None)


def delivery_tls(profile: Profile) -> Any:
    """How the DIP trusts the party's https webhooks: `credentials.tls_ca` when given, else the system store."""
    ca = profile.credential_path("tls_ca")
    if ca is None:
        return None

    read_config_bytes(ca, "CA certificate", where=f"{profile.path}: credentials.tls_ca")
    return client_context(ca=ca)


def profile_registrations(profile: Profile) -> list[PartyRegistration]:
    """The party and (when nominated) its partner as the DIP knows them; reads their keys and certificates."""
    partner = partner_registration(profile)
    return [party_registration(profile)] + ([partner] if partner is not None else [])


def build_hub(profile: Profile, *, host: str | None = None, port: int | None = None,
              recorder: Any = None, pack: Any = None, identity: Any = None, timeout: float | None = None,
              parties: list[PartyRegistration] | None = None,
              delivery_client: tuple[Path, Path] | None = None) -> Hub:
    """A hub (not started) with the profile's party and partner registered.

    `timeout` bounds each routed delivery (default: the profile's harness.timeout), so that a slow
    webhook costs the run one bound per message, not the DIP's long production timeouts. `parties`:
    `profile_registrations(profile)` made earlier (a run reads them before it creates its evidence folder).
    `delivery_client`: (certificate, key) the DIP presents to webhooks (DipIdentity.delivery_client()).
    """
    t = float(timeout if timeout is not None else profile.harness.timeout)
    timeouts = Timeouts(connect=min(5.0, t), read=t, write=t, pool=min(5.0, t), total=t)
    if delivery_client is not None:  # the DIP presents its client certificate; each party's tls_ca is trusted
        delivery = DeliverySettings(timeouts=timeouts, retries=1, client_cert=delivery_client[0],
                                    client_key=delivery_client[1])
    else:
        delivery = DeliverySettings(timeouts=timeouts, retries=1, client_tls=delivery_tls(profile))
    config = HubConfig(host=host or profile.harness.hub_host,
                       port=profile.harness.hub_port if port is None else port,
                       environment=profile.environment, identity=identity, delivery=delivery)
    hub = Hub(config, recorder=recorder, pack=pack)
    for party in parties if parties is not None else profile_registrations(profile):
        hub.register_party(party)
    return hub
