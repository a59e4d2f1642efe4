"""Issue 15, done when: a webhook that demands a client certificate passes consume; one that gets no
DIP client certificate is shown as such by preflight (a finding naming the webhook).

The party under test is the reference MDR serving HTTPS webhooks that demand a client certificate
issued by the DIP's CA; the run reaches a hub started here through `--dip URL` (the hub's operator
registered the party, its webhooks and the CA of their server certificate). The two cases differ
only in whether the DIP has a client certificate to deliver with.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from harness.config.profile import load_profile
from harness.dip.config import DeliverySettings, HubConfig
from harness.dip.identity import load_identity
from harness.dip.provision import party_registration
from harness.dip.server import Hub
from harness.messages.samples import DEFAULT_PARTIES
from harness.reference.participant import ReferenceParticipant
from harness.run.demo import free_port, profile_text
from harness.run.session import RunOptions, run_certification
from harness.transport.certs import cached_key, make_ca
from harness.transport.delivery import Timeouts

logging.getLogger("werkzeug").setLevel(logging.ERROR)
MDR, SDS = DEFAULT_PARTIES["MDR"], DEFAULT_PARTIES["SDS"]
PREFLIGHT, CONSUME = "MDR-4.1/preflight/webhooks", "MDR-5.2a/IF-008/consume"
NO_CERT = "preflight.webhooks.no-dip-client-certificate"


def _findings(result, requirement: str) -> list[dict]:
    return next(r for r in result.summary["requirements"] if r["id"] == requirement)["findings"]


@pytest.mark.parametrize("dip_presents", [True, False], ids=["dip-client-certificate", "none"])
def test_a_webhook_demanding_a_client_certificate(demo_pki, tmp_path: Path, dip_presents: bool) -> None:
    dip = load_identity(tmp_path / "dip")  # the DIP's delivery client certificate and the CA that issued it
    webhook_ca = make_ca("webhook CA", key=cached_key("webhook-mtls-ca"))
    cert, key = webhook_ca.issue("reference-mdr", sans=("127.0.0.1",)).write(tmp_path, "webhook")
    (demo_pki.folder / "webhook-ca.pem").write_bytes(webhook_ca.cert_pem)
    port = free_port()
    text = profile_text("MDR", demo_pki, hub_port=free_port(), port=port, timeout=5.0, interfaces=["IF-008"])
    text = text.replace(f"http://127.0.0.1:{port}/webhook/", f"https://127.0.0.1:{port}/webhook/")
    text = re.sub(r"(\[credentials\]\n)", r'\1tls_ca = "webhook-ca.pem"\n', text, count=1)
    path = demo_pki.folder / f"mtls-{dip_presents}.toml"
    path.write_text(text, encoding="utf-8")
    profile = load_profile(path)
    client_cert, client_key = dip.delivery_client() if dip_presents else (None, None)
    delivery = DeliverySettings(timeouts=Timeouts(connect=2, read=5, write=2, pool=2, total=8), retries=0,
                                client_cert=client_cert, client_key=client_key)
    wanted = {PREFLIGHT, CONSUME}
    with Hub(HubConfig(identity=demo_pki.dip, delivery=delivery)) as hub, ReferenceParticipant(
            "MDR", party=MDR, partner=SDS, hub_url=hub.base_url, api_keys=demo_pki.api_keys["MDR"],
            identity=demo_pki.identities["MDR"], dip_certificate=demo_pki.dip.certificate, port=port,
            register_webhooks=False, webhook_tls=(cert, key), webhook_client_ca=dip.path("ca")):
        hub.register_party(party_registration(profile))  # the operator onboards the party (tls_ca included)
        result = run_certification(profile, RunOptions(
            out=tmp_path / "out", dip=hub.base_url, dip_cert=demo_pki.dip.certificate, timeout=5.0,
            partner_identity=demo_pki.identities["SDS"], requirement_filter=lambda r: r.id in wanted))
    no_cert = [f for f in _findings(result, PREFLIGHT) if f["rule"] == NO_CERT]
    if dip_presents:
        assert result.verdicts[CONSUME] == "pass", _findings(result, CONSUME)
        # the harness's own probe cannot present the DIP's certificate: a warning, not a failure
        assert result.verdicts[PREFLIGHT] == "pass", _findings(result, PREFLIGHT)
        assert no_cert == [] and {f["rule"] for f in _findings(result, PREFLIGHT)} == {
            "preflight.webhooks.client-certificate-required"}
    else:
        # preflight names the webhook the DIP could not present a certificate to; consume cannot pass
        assert result.verdicts[PREFLIGHT] == "fail" and len(no_cert) == 1, _findings(result, PREFLIGHT)
        assert f"https://127.0.0.1:{port}/webhook/if-008" in no_cert[0]["path"] + no_cert[0]["message"]
        assert "presented none" in no_cert[0]["message"]
        assert result.verdicts[CONSUME] == "fail"
