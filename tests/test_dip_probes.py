"""Probe deliveries: each kind produces exactly the defect it names, checked by a verifier written here.

The verifier below does not use harness.transport.signing: it rebuilds the string to sign from the
domain README's algorithm and checks it with `cryptography` directly, so a bug shared by the hub's
signer and the harness's verifier cannot make a probe look right.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from dipkit import MDR, Webhook, api, keys_for, make_hub, open_session, records, registration, settings

from harness.dip.identity import load_identity
from harness.messages.samples import DEFAULT_PARTIES, SampleFactory
from harness.reference.participant import ReferenceParticipant
from harness.transport.delivery import WebhookConfig
from harness.transport.tls import server_context

logging.getLogger("werkzeug").setLevel(logging.ERROR)
UTC = timezone.utc


def egress(count: int = 1, seed: int = 4) -> list[dict]:
    factory = SampleFactory(seed, now=datetime.now(UTC), parties=DEFAULT_PARTIES)
    return [factory.egress(item, transaction_id=f"T-IF-061-1450000102-SDS-{seed}{i}") for i, item in
            enumerate(factory.body("IF-061", count=count))]


class Seen:
    """One delivery as the webhook received it, judged independently."""

    def __init__(self, headers: dict[str, str], body: bytes, url: str) -> None:
        h = {k.lower(): v for k, v in headers.items()}
        self.body, self.url = body, url
        self.date = h["x-dip-signature-date"]
        self.hash = h["x-dip-content-hash"]
        self.signature = base64.b64decode(h["x-dip-signature"])
        self.cert = x509.load_pem_x509_certificate(base64.b64decode(h["x-dip-signature-certificate"]))

    @property
    def hash_matches(self) -> bool:
        return self.hash == base64.b64encode(hashlib.sha256(self.body).digest()).decode()

    def verifies_with(self, cert: x509.Certificate) -> bool:
        text = f"POST;{self.url.lower()};{self.date};{self.hash}".encode()
        try:
            cert.public_key().verify(self.signature, text, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return False
        return True

    @property
    def age(self) -> timedelta:
        return datetime.now(UTC) - datetime.fromisoformat(self.date.replace("Z", "+00:00"))


@pytest.fixture
def setup(hub_pki):
    hook = Webhook()
    party = registration(hub_pki, MDR, webhooks={"IF-061": WebhookConfig(hook.url, 10, 1024)})
    with make_hub(hub_pki, party) as hub, api(hub, hub_pki["MDR"], keys_for(MDR.dip_id)[0]) as mdr:
        sid = open_session(mdr, [])["session"]
        yield hub, mdr, sid, hook
    hook.close()


def probe(mdr, sid: str, kind: str, messages: list[dict] | None = None, **extra) -> dict:
    body = {"interface": "IF-061", "recipient": MDR.dip_id, "kind": kind,
            "messages": egress() if messages is None else messages, **extra}
    response = mdr.call("POST", f"/dipcert/v1/sessions/{sid}/probe", json.dumps(body).encode())
    assert response.status_code == 200, response.text
    return response.json()


def seen(hook: Webhook, n: int = 1) -> list[Seen]:
    return [Seen(c.headers, c.body, hook.url) for c in hook.wait_calls(n)]


def test_plain_is_a_correct_delivery_of_exactly_the_given_messages(setup, hub_pki):
    hub, mdr, sid, hook = setup
    messages = egress(3)
    answer = probe(mdr, sid, "plain", messages)
    (got,) = seen(hook)
    dip = hub_pki["dip"].certificate
    assert got.cert == dip and got.hash_matches and got.verifies_with(dip) and abs(got.age) < timedelta(minutes=1)
    assert json.loads(got.body) == messages
    assert answer["outcome"] == "accepted" and answer["attempts"] == 1
    (record,) = [r for r in records(mdr, sid)["records"] if r["kind"] == "delivery"]
    assert record["probe"] == "plain" and record["final"] and record["seq"] == answer["seq"]
    assert record["transaction_ids"] == [m["payload"]["CommonBlock"]["D0"]["transactionID"] for m in messages]
    assert record["request_sha256"] == hashlib.sha256(got.body).hexdigest()


def test_bad_signature_carries_the_dip_certificate_and_does_not_verify(setup, hub_pki):
    hub, mdr, sid, hook = setup
    probe(mdr, sid, "bad-signature")
    (got,) = seen(hook)
    dip_certificate = hub_pki["dip"].certificate
    assert got.cert == dip_certificate and got.hash_matches and not got.verifies_with(dip_certificate)


def test_foreign_certificate_verifies_only_with_the_attackers_own_certificate(setup, hub_pki):
    hub, mdr, sid, hook = setup
    probe(mdr, sid, "foreign-certificate")
    (got,) = seen(hook)
    dip = hub_pki["dip"].certificate
    assert got.cert != dip and got.cert.subject == dip.subject and got.cert.issuer == dip.issuer
    assert got.verifies_with(got.cert) and not got.verifies_with(dip) and got.hash_matches


def test_altered_body_is_signed_by_the_dip_over_other_bytes(setup, hub_pki):
    hub, mdr, sid, hook = setup
    messages = egress()
    probe(mdr, sid, "altered-body", messages)
    (got,) = seen(hook)
    assert json.loads(got.body) == messages  # the body is what was asked for, intact...
    assert not got.hash_matches  # ...but X-DIP-Content-Hash is of other bytes
    assert got.verifies_with(hub_pki["dip"].certificate)  # and the DIP really signed that other hash


@pytest.mark.parametrize("kind", ["stale-signature", "stale-date"])
def test_stale_signature_is_a_correct_signature_a_day_old(setup, hub_pki, kind):
    hub, mdr, sid, hook = setup
    probe(mdr, sid, kind)
    (got,) = seen(hook)
    assert got.verifies_with(hub_pki["dip"].certificate) and got.hash_matches
    assert timedelta(hours=23) < got.age < timedelta(hours=25)


def test_redelivery_after_a_5xx_sends_the_same_batch_again(setup, hub_pki):
    hub, mdr, sid, hook = setup
    hook.answers[:] = [503]
    answer = probe(mdr, sid, "redelivery")
    first, second = seen(hook, 2)
    assert first.body == second.body and answer["statuses"] == [503, 201] and answer["outcome"] == "accepted"
    attempts = [r for r in records(mdr, sid)["records"] if r["kind"] == "delivery"]
    assert [(r["status"], r["outcome"], r["final"]) for r in attempts] == [(503, "retryable", False),
                                                                           (201, "accepted", True)]
    assert len({r["delivery_id"] for r in attempts}) == 1 and answer["records"] == [r["seq"] for r in attempts]
    hook.answers[:] = [503]
    plain = probe(mdr, sid, "plain")  # a plain probe never redelivers
    assert plain["statuses"] == [503] and len(hook.calls) == 3


def test_probe_errors(setup, hub_pki):
    hub, mdr, sid, hook = setup
    path = f"/dipcert/v1/sessions/{sid}/probe"
    for bad in ({"interface": "IF-061", "recipient": MDR.dip_id, "kind": "nope", "messages": egress()},
                {"interface": "IF-061", "recipient": MDR.dip_id, "kind": "plain", "messages": []},
                {"interface": "IF-999", "recipient": MDR.dip_id, "kind": "plain", "messages": egress()}):
        assert mdr.call("POST", path, json.dumps(bad).encode()).status_code == 400
    other = {"interface": "IF-061", "recipient": "1450000102", "kind": "plain", "messages": egress()}
    assert mdr.call("POST", path, json.dumps(other).encode()).status_code == 403  # not a party of the session
    no_hook = {"interface": "IF-063", "recipient": MDR.dip_id, "kind": "plain", "messages": egress()}
    assert mdr.call("POST", path, json.dumps(no_hook).encode()).status_code == 409
    assert hook.calls == []


# --- TLS on the delivery leg ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def mtls_webhook(hub_pki, tmp_path_factory):
    """An https webhook that demands a client certificate from the DIP's CA."""
    folder = tmp_path_factory.mktemp("webhook")
    dip = load_identity(folder / "dip")
    cert, key = hub_pki["ca"].issue("webhook", sans=("localhost", "127.0.0.1")).write(folder, "webhook")
    hook = Webhook(ssl_context=server_context(cert, key, client_ca=dip.path("ca")))
    yield dip, hook, hub_pki["ca"].cert_pem
    hook.close()


@pytest.mark.parametrize("with_cert", [True, False])
def test_a_webhook_demanding_a_client_certificate(hub_pki, mtls_webhook, with_cert):
    dip, hook, webhook_ca = mtls_webhook
    hook.calls.clear()
    cert, key = dip.delivery_client() if with_cert else (None, None)
    party = registration(hub_pki, MDR, webhooks={"IF-061": WebhookConfig(hook.url)}, tls_ca=webhook_ca)
    with make_hub(hub_pki, party, delivery=settings(client_cert=cert, client_key=key)) as hub, \
            api(hub, hub_pki["MDR"], keys_for(MDR.dip_id)[0]) as mdr:
        sid = open_session(mdr, [])["session"]
        handshake = probe(mdr, sid, "tls-probe", [])
        delivered = probe(mdr, sid, "plain")
    assert handshake["client_cert_presented"] is with_cert
    if with_cert:
        assert handshake["outcome"] == "ok" and handshake["server_cert_sha256"].startswith("sha256:")
        assert delivered["outcome"] == "accepted"
        expected = "sha256:" + hashlib.sha256(x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(
            serialization.Encoding.DER)).hexdigest()
        assert {c.peer_cert for c in hook.wait_calls(2)} == {expected}
    else:
        assert handshake["outcome"] == "failed" and handshake["client_cert_required"] is True, handshake["error"]
        assert "presented none" in handshake["error"]
        assert delivered["outcome"] in ("failed", "timeout") and hook.calls == []


def test_tls_probe_on_an_http_webhook_says_so(setup):
    hub, mdr, sid, hook = setup
    assert probe(mdr, sid, "tls-probe", [])["outcome"] == "not-tls"


def test_a_reference_webhook_demanding_a_client_certificate_consumes_the_dips_deliveries(hub_pki, tmp_path):
    """The reference participant's option: HTTPS webhooks that demand the DIP's client certificate."""
    dip = load_identity(tmp_path / "dip")
    cert, key = hub_pki["ca"].issue("reference-mdr", sans=("127.0.0.1",)).write(tmp_path, "webhook")
    client_cert, client_key = dip.delivery_client()
    with make_hub(hub_pki, delivery=settings(client_cert=client_cert, client_key=client_key)) \
            as hub, ReferenceParticipant("MDR", party=MDR, partner=DEFAULT_PARTIES["SDS"], hub_url=hub.base_url,
                                         api_keys=keys_for(MDR.dip_id), identity=hub_pki["MDR"],
                                         dip_certificate=hub_pki["dip"].certificate, register_webhooks=False,
                                         webhook_tls=(cert, key), webhook_client_ca=dip.path("ca")) as mdr_webhook:
        url = mdr_webhook.webhook_url("IF-061")
        assert url.startswith("https://127.0.0.1:")
        hub.register_party(registration(hub_pki, MDR, webhooks={"IF-061": WebhookConfig(url)},
                                        tls_ca=hub_pki["ca"].cert_pem))
        with api(hub, hub_pki["MDR"], keys_for(MDR.dip_id)[0]) as mdr:
            sid = open_session(mdr, [])["session"]
            good = probe(mdr, sid, "plain", egress(seed=21))
            forged = probe(mdr, sid, "bad-signature", egress(seed=22))
            handshake = probe(mdr, sid, "tls-probe", [])
    assert good["outcome"] == "accepted" and good["codes"] == ["RCP0000"], good
    assert forged["status"] == 401
    assert handshake["outcome"] == "ok" and handshake["client_cert_presented"] is True
