"""The simulated DIP as a service: its API, identity, transcript, routing and delivery.

One module per job (see docs/hub.md): `config` (settings and registrations), `identity` (the DIP's
keys and certificates, kept in one folder), `store` (the SQLite file), `transcript` (the
hash-chained record of everything, and its signed export), `parties` (who is registered, sessions and
their scope), `auth` (who is calling), `ingress` (the DIP's checks of a submission), `routing` (store,
route, deliver), `probes` (crafted deliveries), `api` and `extension` (the HTTP endpoints), `server`
(the Hub: start, stop, and the in-process views of `observed`).
"""
