"""The simulated DIP as a service: its API, identity, transcript, routing and delivery.

One module per job (see docs/hub.md): `config` (settings and registrations), `identity` (the DIP's
keys and certificates, kept in one folder), `store` (the SQLite file), `transcript` (the
hash-chained record of everything, and its signed export), `parties` (who is registered, sessions and
their scope), `auth` (who is calling), `ingress` (the DIP's checks of a submission), `routing` (store,
route, deliver), `probes` (crafted deliveries), `api` and `extension` (the HTTP endpoints), `wsgiserver`
(werkzeug's server, a connection's thread kept for the next), `server` (the Hub: start, stop, and the
in-process views of `observed`).
"""

# -- public face (what other layers use; tests/test_architecture.py keeps it complete) --
from harness.dip.client import Counterparty, RemoteHub
from harness.dip.config import DeliverySettings, HubConfig, PartyRegistration
from harness.dip.connection import DipCaller, DipConnection, DipUnavailable
from harness.dip.identity import CERT, KEY, default_folder, dip_folder, load_identity, load_or_create
from harness.dip.log import printer
from harness.dip.provision import build_hub, partner_webhooks, profile_registrations
from harness.dip.server import Hub

__all__ = [
    "CERT", "Counterparty", "DeliverySettings", "DipCaller", "DipConnection", "DipUnavailable", "Hub", "HubConfig",
    "KEY", "PartyRegistration", "RemoteHub", "build_hub", "default_folder", "dip_folder", "load_identity",
    "load_or_create", "partner_webhooks", "printer", "profile_registrations",
]
