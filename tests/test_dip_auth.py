"""Who may call the hub: API key, the mTLS client certificate bound to it, the signature, the admin token."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from dipkit import MDR, OTHER_MDR, SDS, WAIT, api, keys_for, make_hub, open_session, records, registration, sample

from harness.dip.identity import load_identity
from harness.transport.certs import make_ca
from harness.transport.tls import client_context

logging.getLogger("werkzeug").setLevel(logging.ERROR)


@pytest.fixture(scope="module")
def dip(tmp_path_factory):
    return load_identity(tmp_path_factory.mktemp("dip"))


@pytest.fixture(scope="module")
def clients(dip, tmp_path_factory):
    """Client certificates from the DIP's client CA, and one from a CA the DIP does not trust."""
    folder = tmp_path_factory.mktemp("clients")
    out = {name: dip.issue_client(name).write(folder, name) for name in ("mdr", "omdr", "spare")}
    out["foreign"] = make_ca("not the DIP's client CA").issue("mdr", sans=()).write(folder, "foreign")
    return out


def tls(dip, clients, who: str | None):
    cert, key = clients[who] if who else (None, None)
    return client_context(ca=dip.path("ca"), cert=cert, key=key)


@pytest.fixture
def hub(hub_pki, dip, clients):
    mdr_cert = x509.load_pem_x509_certificate(clients["mdr"][0].read_bytes())
    parties = [registration(hub_pki, MDR, client_certificate=mdr_cert), registration(hub_pki, OTHER_MDR, "OMDR"),
               registration(hub_pki, SDS)]
    with make_hub(hub_pki, *parties, tls=dip.hub_tls(mtls=True), admin_token="admin-token-0123456789") as running:
        yield running


def test_mtls_binds_the_client_certificate_to_the_api_key(hub, hub_pki, dip, clients):
    assert hub.base_url.startswith("https://") and hub.mtls
    mdr_key, other_key = keys_for(MDR.dip_id)[0], keys_for(OTHER_MDR.dip_id)[0]
    with api(hub, hub_pki["MDR"], mdr_key, verify=tls(dip, clients, "mdr")) as mdr:
        assert mdr.call("POST", "/dipcert/v1/sessions", b"{}").status_code == 201
    # another party's key over MDR's registered certificate: refused
    with api(hub, hub_pki["OMDR"], other_key, verify=tls(dip, clients, "mdr")) as thief:
        refused = thief.call("POST", "/dipcert/v1/sessions", b"{}")
        assert refused.status_code == 403 and "registered for DIP ID" not in refused.text
        assert "belongs to DIP ID " + MDR.dip_id in refused.text
    # a party registered without one is bound to the first it uses, then refuses any other
    with api(hub, hub_pki["OMDR"], other_key, verify=tls(dip, clients, "omdr")) as other:
        assert other.call("POST", "/dipcert/v1/sessions", b"{}").status_code == 201
    with api(hub, hub_pki["OMDR"], other_key, verify=tls(dip, clients, "spare")) as other:
        assert other.call("POST", "/dipcert/v1/sessions", b"{}").status_code == 403
    # MDR's key over another certificate from the same CA: refused
    with api(hub, hub_pki["MDR"], mdr_key, verify=tls(dip, clients, "spare")) as mdr:
        assert mdr.call("POST", "/dipcert/v1/sessions", b"{}").status_code == 403


@pytest.mark.parametrize("who", [None, "foreign"])
def test_no_client_certificate_or_an_untrusted_one_fails_the_handshake(hub, hub_pki, dip, clients, who):
    with api(hub, hub_pki["MDR"], keys_for(MDR.dip_id)[0], verify=tls(dip, clients, who)) as mdr, \
            pytest.raises(httpx.HTTPError):
        mdr.submit("IF-061", sample())


def test_counterparties_are_bound_to_the_openers_certificate(hub, hub_pki, dip, clients):
    pem = hub_pki["SDS"].certificate.public_bytes(serialization.Encoding.PEM).decode()
    with api(hub, hub_pki["MDR"], keys_for(MDR.dip_id)[0], verify=tls(dip, clients, "mdr")) as mdr:
        opened = open_session(mdr, [{"role": "SDS", "mpid": "SDS1", "dip_id": SDS.dip_id, "certificate_pem": pem}])
        key = opened["counterparties"][0]["api_keys"][0]
        with api(hub, hub_pki["SDS"], key, verify=tls(dip, clients, "mdr")) as cp:
            assert cp.submit("IF-061", sample()).status == 201
        with api(hub, hub_pki["SDS"], key, verify=tls(dip, clients, "spare")) as cp:
            assert cp.submit("IF-061", sample(seed=2)).status == 403
        got = records(mdr, opened["session"])["records"]
    refused = [r for r in got if r.get("endpoint") == "submit" and r["status"] == 403]
    assert len(refused) == 1 and refused[0]["caller"] == SDS.dip_id
    assert refused[0]["findings"][0]["rule"] == "hub.client-certificate"
    assert refused[0]["client_cert_sha256"] != next(r for r in got if r.get("status") == 201)["client_cert_sha256"]


def test_a_bad_signature_is_401_and_recorded_in_the_callers_session(hub, hub_pki, dip, clients):
    with api(hub, hub_pki["MDR"], keys_for(MDR.dip_id)[0], verify=tls(dip, clients, "mdr")) as mdr:
        sid = open_session(mdr, [])["session"]
        with api(hub, hub_pki["rogue"], keys_for(MDR.dip_id)[0], verify=tls(dip, clients, "mdr")) as forger:
            assert forger.call("POST", f"/dipcert/v1/sessions/{sid}/close").status_code == 401
        got = records(mdr, sid)["records"]
    assert got[-1]["status"] == 401 and got[-1]["caller"] == MDR.dip_id and got[-1]["outcome"] == "refused"
    assert "signature.unexpected-certificate" in {f["rule"] for f in got[-1]["findings"]}


def test_an_unknown_api_key_signed_by_the_party_under_test_is_401_in_its_session(hub, hub_pki, dip, clients):
    """A submission with a key the DIP never issued is refused; when the party under test signed it, the
    refusal is in its session (its evidence shows the DIP's hub.api-key), and nobody else's signature does that."""
    wrong = "not-a-key-the-dip-issued-0123456789abcdef"
    with api(hub, hub_pki["MDR"], keys_for(MDR.dip_id)[0], verify=tls(dip, clients, "mdr")) as mdr:
        sid = open_session(mdr, [])["session"]
        with api(hub, hub_pki["MDR"], wrong, verify=tls(dip, clients, "mdr")) as party, \
                api(hub, hub_pki["rogue"], wrong, verify=tls(dip, clients, "mdr")) as stranger:
            assert party.submit("IF-062", sample("IF-061", seed=41)).status == 401
            assert stranger.submit("IF-062", sample("IF-061", seed=42)).status == 401
        got = [r for r in records(mdr, sid)["records"] if r["kind"] == "inbound" and r["endpoint"] == "submit"]
    assert len(got) == 1 and got[0]["status"] == 401 and got[0]["caller"] == MDR.dip_id
    assert {f["rule"] for f in got[0]["findings"]} == {"hub.api-key"}
    hub_chain = [r for r in hub.transcript.records("hub") if r["kind"] == "inbound" and r["endpoint"] == "submit"]
    assert len(hub_chain) == 1 and hub_chain[0]["caller"] is None  # the stranger's: no session sees it


def test_admin_registration_needs_the_token(hub, hub_pki, dip, clients):
    pem = hub_pki["SUP"].certificate.public_bytes(serialization.Encoding.PEM).decode()
    party = {"dip_id": "1700000001", "role": "SUP", "mpid": "SUP9", "api_keys": ["sup-key-one-0123456789",
                                                                                "sup-key-two-0123456789"],
             "certificate_pem": pem, "webhooks": {"IF-062": "https://127.0.0.1:9/in"}}
    url = hub.base_url + "/dipcert/v1/admin/parties"
    with httpx.Client(verify=tls(dip, clients, "spare"), timeout=WAIT) as http:
        assert http.post(url, json=party).status_code == 401
        assert http.post(url, json=party, headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = http.post(url, json=party, headers={"Authorization": "Bearer admin-token-0123456789"})
        assert ok.status_code == 201 and ok.json()["dip_id"] == "1700000001"
        bad = http.post(url, json={**party, "role": "x"}, headers={"Authorization": "Bearer admin-token-0123456789"})
        assert bad.status_code == 400 and "role" in bad.json()["error"]
    assert hub.webhook("1700000001", "IF-062").callback_url == "https://127.0.0.1:9/in"
    kept = [r for r in hub.transcript.records("hub") if r.get("endpoint") == "admin-party"]
    assert kept and all(b"sup-key-one" not in (hub.transcript.body(r["request_sha256"]) or b"") for r in kept)
    assert all("Authorization" not in r["request_headers"] for r in kept)


def test_no_admin_api_without_a_token(hub_pki):
    with make_hub(hub_pki) as hub:
        assert httpx.post(hub.base_url + "/dipcert/v1/admin/parties", json={}, timeout=WAIT).status_code == 404
        assert json.loads(httpx.get(hub.base_url + "/dipcert/v1/dip", timeout=WAIT).text)["mtls"] is False
