"""Who is calling: API key, then the mTLS client certificate bound to it, then the X-DIP-* signature.

1. `X-API-Key` is a registered primary or secondary key -> else 401 (missing or unknown).
2. A path naming a DIP ID (pubconfig, replay, requeue) must name the key's own -> else 403.
3. When the hub demands mTLS, the client certificate must be the one bound to the key's party: the
   one registered for it, a session counterparty's opener's, or (for a party registered without
   one) the first it used, unless that certificate is already another party's -> else 403. So a key
   presented over another party's certificate is refused.
4. The signature headers verify against the party's registered signing certificate -> else 401.

The admin API takes a bearer token given when the hub starts instead (never a participant credential).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request

from harness.core.findings import Finding
from harness.dip.http import Reply, text_response
from harness.dip.parties import Party
from harness.transport.apikeys import API_KEY_HEADER
from harness.transport.signing import verify_request
from harness.transport.tls import peer_certificate_sha256


@dataclass(frozen=True)
class Caller:
    party: Party
    slot: str  # "primary" or "secondary"
    client_cert: str | None  # "sha256:<hex>" of the client certificate presented, if any

    @property
    def dip_id(self) -> str:
        return self.party.dip_id


def client_certificate(request: Request) -> str | None:
    try:
        return peer_certificate_sha256(request.environ)
    except (TypeError, ValueError):
        return None


def authenticate(hub: Any, request: Request, body: bytes, context: dict, *, owner: str | None = None) -> Caller:
    """The calling party, or Reply(401/403) with a finding saying why not."""
    presented = request.headers.get(API_KEY_HEADER)
    found = hub.directory.by_api_key(presented)
    if found is None:
        state = "missing" if not presented else "not registered"
        finding = Finding("hub.api-key", f"header:{API_KEY_HEADER}", "a registered primary or secondary key",
                          state, f"{API_KEY_HEADER} is {state}")
        signer = signed_by(hub, request, body)
        if signer is not None:  # refused all the same; recorded in the session of the party that signed it
            context.update(sender=signer.dip_id, attributed_by="signature")
            context["_caller"] = signer
        raise Reply(text_response(401, f"Unauthorised: {API_KEY_HEADER} is {state}"), [finding],
                    sender=signer.dip_id if signer is not None else None)
    party, slot = found
    peer = client_certificate(request)
    context.update(sender=party.dip_id, key_slot=slot)
    context["_caller"] = party
    if owner is not None and owner != party.dip_id:
        finding = Finding("hub.api-key", f"header:{API_KEY_HEADER}", f"a key of DIP ID {owner}",
                          f"a key of DIP ID {party.dip_id}", "the API key belongs to another DIP ID")
        raise Reply(text_response(403, f"Forbidden: the API key is not one of {owner}'s keys"), [finding],
                    sender=party.dip_id)
    if hub.mtls:
        problem = "no client certificate was presented" if peer is None else hub.directory.bind_client(party, peer)
        if problem is not None:
            finding = Finding("hub.client-certificate", "tls:client-certificate",
                              f"the client certificate bound to DIP ID {party.dip_id}", peer or "none", problem)
            raise Reply(text_response(403, f"Forbidden: {problem}"), [finding], sender=party.dip_id)
    findings = _verify(hub, request, body, party)
    errors = [f for f in findings if f.severity == "error"]
    if errors and hub.config.require_signature:
        raise Reply(text_response(401, "Unauthorised: " + "; ".join(str(f) for f in errors)), findings,
                    sender=party.dip_id)
    if findings:
        context["signature_findings"] = [f.to_dict() for f in findings]
    return Caller(party, slot, peer)


def signed_by(hub: Any, request: Request, body: bytes) -> Party | None:
    """Which party under test signed a request that no API key identifies: its X-DIP-* signature verifies
    under that party's registered signing certificate. Only the holder of the signing key can make one,
    so its session (and the party's evidence) sees the refusal; nothing is authorised by it."""
    if not any(h.lower().startswith("x-dip-signature") for h in request.headers.keys()):
        return None
    for party in hub.directory.under_test():
        if not [f for f in _verify(hub, request, body, party) if f.severity == "error"]:
            return party
    return None


def requested_url(request: Request) -> str:
    """The URL as the caller asked for it: its scheme, its Host header, the path and query."""
    query = request.query_string.decode("latin-1")
    return f"{request.scheme}://{request.host}{request.path}" + (f"?{query}" if query else "")


def _verify(hub: Any, request: Request, body: bytes, party: Party) -> list[Finding]:
    """Signature findings over the hub's public URL; when those fail, over the URL as requested (a caller
    using `localhost` or another of the hub's names signed what it called, which is correct)."""
    def check(url: str) -> list[Finding]:
        return verify_request(request.method, url, body, request.headers, expected_certificate=party.certificate,
                              trust=hub.config.trust, skew=hub.config.skew)

    findings = check(hub.request_url(request))
    if any(f.rule == "signature.invalid" for f in findings):
        alternative = requested_url(request)
        if alternative.lower() != hub.request_url(request).lower():
            other = check(alternative)
            if not [f for f in other if f.severity == "error"]:
                return other
    return findings


def authenticate_admin(hub: Any, request: Request) -> None:
    """The bearer token the hub was started with -> else 401 (404 when the admin API is off)."""
    token = hub.config.admin_token
    if not token:
        raise Reply(text_response(404, "Not found: this hub has no admin API (start it with an admin token)"))
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
        raise Reply(text_response(401, "Unauthorised: the admin API needs Authorization: Bearer <admin token>"))
