"""Who the hub knows: registered parties, sessions and their counterparties, and webhooks.

A party lives in a scope: the global one (`""`, parties the operator onboarded) or a session's (its
id): the counterparties a certification run plays, registered when it opens its session, so that two
runs may use the same counterparty DIP ID at once without crosstalk. A message to DIP ID D is routed
to the sender's session counterparty D when there is one, else to the global party D.

API keys are kept as SHA-256 digests only (the state file holds no secret); a presented key is found
by its digest, which leaks nothing useful (keys are random and the digest is one-way).
Everything is persisted in the hub's database as it changes, and loaded again at start.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import string
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness.core.catalogue import Catalogue
from harness.core.errors import ConfigError
from harness.dip.config import PartyRegistration
from harness.dip.store import Database
from harness.messages import ids
from harness.transport.delivery import WebhookConfig
from harness.transport.signing import certificate_fingerprint

GLOBAL = ""
PartyKey = tuple[str, str]  # (scope, dip_id)


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _pem(cert: x509.Certificate | None) -> str | None:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii") if cert is not None else None


def _cert(pem: str | None) -> x509.Certificate | None:
    return x509.load_pem_x509_certificate(pem.encode("ascii")) if pem else None


@dataclass
class Party:
    scope: str
    dip_id: str
    role: str
    mpid: str
    dcp_id: str | None
    key_digests: tuple[str, str]
    certificate: x509.Certificate | None
    client_cert: str | None = None  # "sha256:<hex>" of the mTLS client certificate bound to this party
    tls_ca: bytes | None = None

    @property
    def key(self) -> PartyKey:
        return (self.scope, self.dip_id)

    def public(self) -> dict[str, Any]:
        """What may appear in a transcript or log (no key digest: not needed by anyone reading)."""
        return {"dip_id": self.dip_id, "role": self.role, "mpid": self.mpid, "dcp_id": self.dcp_id,
                "scope": self.scope or "global",
                "certificate": certificate_fingerprint(self.certificate) if self.certificate else None,
                "client_certificate": self.client_cert}

    def to_json(self) -> str:
        return json.dumps({"role": self.role, "mpid": self.mpid, "dcp_id": self.dcp_id, "keys": list(self.key_digests),
                           "certificate": _pem(self.certificate), "client_cert": self.client_cert,
                           "tls_ca": self.tls_ca.decode("ascii") if self.tls_ca else None})

    @classmethod
    def from_json(cls, scope: str, dip_id: str, text: str) -> "Party":
        d = json.loads(text)
        return cls(scope, dip_id, d["role"], d["mpid"], d["dcp_id"], tuple(d["keys"]),
                   _cert(d["certificate"]), d["client_cert"], d["tls_ca"].encode("ascii") if d["tls_ca"] else None)


@dataclass
class Session:
    sid: str
    owner: str  # the DIP ID of the (global) party under test
    run_id: str | None
    partner: str | None
    opened: str
    client_cert: str | None  # the opener's mTLS certificate: its counterparties are bound to it
    counterparties: list[str] = field(default_factory=list)
    closed: str | None = None
    close_reason: str | None = None

    @property
    def open(self) -> bool:
        return self.closed is None

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in self.__dict__.items() if k != "sid"})

    @classmethod
    def from_json(cls, sid: str, text: str) -> "Session":
        return cls(sid, **json.loads(text))


def check_registration(party: PartyRegistration) -> None:
    where = f"party {party.dip_id!r}"
    if not ids.is_dip_id(party.dip_id):
        raise ConfigError(f"{where}: dip_id should be exactly 10 characters")
    if not isinstance(party.role, str) or not re.fullmatch(r"[A-Z]{3,5}", party.role):
        raise ConfigError(f"{where}: role should be a DIP role code like MDR or SDS, got {party.role!r}")
    if party.dcp_id is not None and not ids.is_dip_id(party.dcp_id):
        raise ConfigError(f"{where}: dcp_id should be a 10-character DIP ID or None")
    for name in ("certificate", "client_certificate"):
        value = getattr(party, name)
        if value is not None and not isinstance(value, x509.Certificate):
            raise ConfigError(f"{where}: {name} should be an x509.Certificate or None")
    keys = party.api_keys
    if not isinstance(keys, (tuple, list)) or len(keys) != 2 or not all(isinstance(k, str) and k for k in keys):
        raise ConfigError(f"DIP ID {party.dip_id}: api_keys should be (primary, secondary), two non-empty strings")


class Directory:
    """Parties, sessions and webhooks, in memory and in the database (thread-safe)."""

    def __init__(self, db: Database, catalogue: Catalogue) -> None:
        self.db = db
        self.catalogue = catalogue
        self._lock = threading.RLock()
        self._parties: dict[PartyKey, Party] = {}
        self._keys: dict[str, tuple[PartyKey, str]] = {}  # key digest -> (party, slot)
        self._webhooks: dict[tuple[str, str, str], WebhookConfig] = {}
        self._sessions: dict[str, Session] = {}
        for scope, dip_id, data in db.query("SELECT scope, dip_id, data FROM parties"):
            self._add(Party.from_json(scope, dip_id, data))
        for scope, dip_id, interface, config in db.query("SELECT scope, dip_id, interface, config FROM webhooks"):
            self._webhooks[(scope, dip_id, interface)] = WebhookConfig.from_json(json.loads(config))
        for sid, data in db.query("SELECT sid, data FROM sessions"):
            self._sessions[sid] = Session.from_json(sid, data)

    # -- parties ---------------------------------------------------------------------------------

    def _add(self, party: Party) -> None:
        self._keys = {d: v for d, v in self._keys.items() if v[0] != party.key}
        self._parties[party.key] = party
        self._keys[party.key_digests[0]] = (party.key, "primary")
        self._keys[party.key_digests[1]] = (party.key, "secondary")

    def register(self, reg: PartyRegistration, scope: str = GLOBAL, *, client_cert: str | None = None) -> Party:
        """Add or replace a party (its webhooks too, when the registration names any)."""
        check_registration(reg)
        digests = (key_digest(reg.api_keys[0]), key_digest(reg.api_keys[1]))
        bound = client_cert or (certificate_fingerprint(reg.client_certificate) if reg.client_certificate else None)
        party = Party(scope, reg.dip_id, reg.role, reg.mpid, reg.dcp_id, digests, reg.certificate, bound, reg.tls_ca)
        with self._lock:
            earlier = self._parties.get(party.key)
            if bound is None and earlier is not None and earlier.client_cert is not None:
                party.client_cert = earlier.client_cert  # registered again (a restart): the binding stays
            for digest in digests:
                owner = self._keys.get(digest)
                if owner is not None and owner[0] != party.key:
                    raise ConfigError(f"DIP ID {reg.dip_id}: an API key is already registered to another DIP ID")
            with self.db.transaction() as conn:
                conn.execute("INSERT OR REPLACE INTO parties VALUES (?, ?, ?)", (scope, reg.dip_id, party.to_json()))
            self._add(party)
        for interface_id, config in (reg.webhooks or {}).items():
            self.set_webhook(party.key, interface_id, config)
        return party

    def party(self, key: PartyKey) -> Party | None:
        with self._lock:
            return self._parties.get(key)

    def parties(self, scope: str | None = None) -> list[Party]:
        with self._lock:
            return [p for p in self._parties.values() if scope is None or p.scope == scope]

    def by_api_key(self, presented: str | None) -> tuple[Party, str] | None:
        if not presented:
            return None
        with self._lock:
            found = self._keys.get(key_digest(presented))
            return (self._parties[found[0]], found[1]) if found else None

    def resolve(self, sender: Party | None, dip_id: str) -> Party | None:
        """Who DIP ID `dip_id` is for `sender`: a counterparty of the sender's session (the one it is a
        counterparty of, or the open one it is under test in), else the registered (global) party."""
        with self._lock:
            if sender is not None:
                scopes = [sender.scope] if sender.scope else self.sessions_of(sender)
                for scope in scopes:
                    if (scope, dip_id) in self._parties:
                        return self._parties[(scope, dip_id)]
            return self._parties.get((GLOBAL, dip_id))

    def bind_client(self, party: Party, fingerprint: str) -> str | None:
        """Bind an mTLS client certificate to a party on first use; the refusal reason, or None when fine."""
        with self._lock:
            if party.client_cert is not None:
                return None if party.client_cert == fingerprint else (
                    f"the client certificate is not the one registered for DIP ID {party.dip_id}")
            other = next((p for p in self._parties.values() if p.client_cert == fingerprint and p.scope == GLOBAL
                          and p.key != party.key), None)
            if other is not None:
                return f"the client certificate belongs to DIP ID {other.dip_id}"
            party.client_cert = fingerprint
            with self.db.transaction() as conn:
                conn.execute("INSERT OR REPLACE INTO parties VALUES (?, ?, ?)",
                             (party.scope, party.dip_id, party.to_json()))
            return None

    # -- webhooks --------------------------------------------------------------------------------

    def set_webhook(self, key: PartyKey, interface_id: str, config: WebhookConfig | None) -> str:
        """Set (or with None remove) where `interface_id` messages for the party are delivered."""
        interface = self.catalogue.get(interface_id).id
        with self._lock, self.db.transaction() as conn:
            if config is None:
                self._webhooks.pop((*key, interface), None)
                conn.execute("DELETE FROM webhooks WHERE scope=? AND dip_id=? AND interface=?", (*key, interface))
            else:
                self._webhooks[(*key, interface)] = config
                conn.execute("INSERT OR REPLACE INTO webhooks VALUES (?, ?, ?, ?)",
                             (*key, interface, json.dumps(config.to_json())))
        return interface

    def webhooks_of(self, key: PartyKey) -> dict[str, WebhookConfig]:
        with self._lock:
            return {i: c for (scope, dip_id, i), c in self._webhooks.items() if (scope, dip_id) == key}

    def webhook(self, key: PartyKey, interface_id: str) -> WebhookConfig | None:
        with self._lock:
            return self._webhooks.get((*key, self.catalogue.get(interface_id).id))

    # -- sessions --------------------------------------------------------------------------------

    def session(self, sid: str) -> Session | None:
        with self._lock:
            return self._sessions.get(sid)

    def sessions(self) -> list[Session]:
        with self._lock:
            return list(self._sessions.values())

    def sessions_of(self, party: Party | None) -> list[str]:
        """The open sessions `party`'s traffic belongs to: its own session, or those it is under test in."""
        if party is None:
            return []
        with self._lock:
            if party.scope:
                session = self._sessions.get(party.scope)
                return [party.scope] if session is not None and session.open else []
            return [s.sid for s in self._sessions.values() if s.open and s.owner == party.dip_id]

    def under_test(self) -> list[Party]:
        """The registered parties with an open session (each under test in it)."""
        with self._lock:
            owners = {s.owner for s in self._sessions.values() if s.open}
            return [p for (scope, dip_id), p in self._parties.items() if scope == GLOBAL and dip_id in owners]

    def may_read(self, party: Party, session: Session) -> bool:
        """The party under test and the session's counterparties; nobody else."""
        return (party.scope == GLOBAL and party.dip_id == session.owner) or party.scope == session.sid

    def open_session(self, owner: Party, run_id: str | None, partner: str | None, client_cert: str | None,
                     time: str) -> Session:
        with self._lock:
            session = Session("s-" + secrets.token_hex(8), owner.dip_id, run_id, partner, time, client_cert)
            self._save(session)
            return session

    def free_dip_id(self, session: Session, wanted: str | None) -> str:
        """`wanted` when no one in the session's scope has it, else a new one no party has."""
        with self._lock:
            taken = {session.owner, *session.counterparties} | ({session.partner} if session.partner else set())
            if wanted is not None and ids.is_dip_id(wanted) and wanted not in taken:
                return wanted
            taken |= {p.dip_id for p in self._parties.values()}
            while True:
                candidate = "9" + "".join(secrets.choice(string.digits) for _ in range(9))
                if candidate not in taken:
                    return candidate

    def add_counterparty(self, session: Session, dip_id: str) -> None:
        with self._lock:
            session.counterparties.append(dip_id)
            self._save(session)

    def close_session(self, session: Session, time: str, reason: str = "closed") -> None:
        with self._lock:
            session.closed, session.close_reason = time, reason
            self._save(session)

    def _save(self, session: Session) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO sessions VALUES (?, ?)", (session.sid, session.to_json()))
        self._sessions[session.sid] = session

    def open_sessions_owned_by(self, dip_id: str) -> Iterable[Session]:
        with self._lock:
            return [s for s in self._sessions.values() if s.open and s.owner == dip_id]
