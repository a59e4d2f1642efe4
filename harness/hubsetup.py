"""Build a simulated DIP for a participant profile: the party's keys, certificate and webhooks.

Shared by `dipcert hub` (the hub on its own, for a participant to point its system at) and the
certification runner, so that both register a party exactly the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography import x509

from harness.catalogue import load_catalogue
from harness.errors import ConfigError
from harness.profile import Profile
from harness.transport.apikeys import generate_api_key
from harness.transport.delivery import WebhookConfig
from harness.transport.hub import Hub, HubConfig, PartyRegistration

DEFAULT_MAX_MESSAGE_COUNT = 100
DEFAULT_MAX_PAYLOAD_KB = 1024


def load_certificate(profile: Profile, name: str = "signing_certificate") -> x509.Certificate | None:
    path = profile.credential_path(name)
    if path is None:
        return None
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"{profile.path}: credentials.{name}: file {path} not found") from None
    except ValueError:
        raise ConfigError(f"{profile.path}: credentials.{name}: {path} is not a PEM certificate") from None


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
    """The party as the DIP knows it after onboarding: DIP ID, role, both API keys, certificate."""
    keys = (profile.resolve_secret("api_key_primary"), profile.resolve_secret("api_key_secondary"))
    return PartyRegistration(dip_id=profile.party.dip_id, role=profile.role, mpid=profile.party.mpid,
                             api_keys=keys, certificate=load_certificate(profile),
                             dcp_id=profile.party.dcp_id, webhooks=party_webhooks(profile))


def partner_registration(profile: Profile) -> PartyRegistration | None:
    """The nominated partner, so the hub can route to it. Its keys are the harness's own (unused)."""
    partner = profile.partner
    if partner is None:
        return None
    hooks: dict[str, WebhookConfig] = {}
    if not partner.is_reference:
        catalogue = load_catalogue()
        for interface in catalogue.interfaces.values():
            if "incoming" in interface.directions_for(partner.role) and interface.category == "extended":
                hooks[interface.id] = WebhookConfig(partner.endpoint, DEFAULT_MAX_MESSAGE_COUNT,
                                                    DEFAULT_MAX_PAYLOAD_KB)
    return PartyRegistration(dip_id=partner.dip_id, role=partner.role, mpid=partner.mpid,
                             api_keys=(generate_api_key(), generate_api_key()), certificate=None,
                             webhooks=hooks or None)


def build_hub(profile: Profile, *, host: str | None = None, port: int | None = None,
              recorder: Any = None, pack: Any = None, identity: Any = None, timeout: float | None = None) -> Hub:
    """A hub (not started) with the profile's party and partner registered.

    `timeout` bounds each routed delivery (default: the profile's harness.timeout), so that a slow
    webhook costs the run one bound per message, not the DIP's long production timeouts.
    """
    from harness.transport.delivery import Timeouts
    from harness.transport.hub import DeliverySettings

    t = float(timeout if timeout is not None else profile.harness.timeout)
    delivery = DeliverySettings(timeouts=Timeouts(connect=min(5.0, t), read=t, write=t, pool=min(5.0, t), total=t),
                                retries=1)
    config = HubConfig(host=host or profile.harness.hub_host,
                       port=profile.harness.hub_port if port is None else port,
                       environment=profile.environment, identity=identity, delivery=delivery)
    hub = Hub(config, recorder=recorder, pack=pack)
    hub.register_party(party_registration(profile))
    partner = partner_registration(profile)
    if partner is not None:
        hub.register_party(partner)
    return hub
