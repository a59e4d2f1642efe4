"""The hostile deliveries of the consume checks (issue 14), made by the DIP on request (issue 15:
harness.dip.probes): each bends exactly one thing, so a webhook that verifies correctly refuses it for
exactly that reason, and one that skips that check takes it."""

from __future__ import annotations

import pytest

from harness.dip import probes
from harness.judges import attacks
from harness.transport.certs import cached_key, make_ca
from harness.transport.signing import sign_request, verify_request

URL = "https://webhook.example/dip/if-061"
BODY = b'[{"payload":{"CommonBlock":{"S0":{"interfaceID":"IF-061"}},"CustomBlock":{"n":1}}}]'


@pytest.fixture(scope="module")
def dip():
    ca = make_ca("adversary test CA", key=cached_key("test-ca"))
    return ca.issue("dip.test", key=cached_key("test-dip")).identity()


def _headers(dip, step: str) -> dict[str, str]:
    """The X-DIP-* headers the DIP's probe of kind `step` sends with BODY."""
    identity, sign = dip, sign_request
    if step == "bad-signature":
        identity = probes.impostor(dip)
    elif step == "foreign-certificate":
        identity = probes.attacker(dip)
    elif step == "altered-body":
        sign = probes.altered_signer()
    elif step == "stale-signature":
        sign = probes.stale_signer()
    return sign("POST", URL, BODY, identity)


def _rules(dip, step: str, *, trust_dip: bool = True) -> list[str]:
    found = verify_request("POST", URL, BODY, _headers(dip, step),
                           expected_certificate=dip.certificate if trust_dip else None)
    return sorted({f.rule for f in found if f.severity == "error"})


@pytest.mark.parametrize(("step", "rules"), [
    ("bad-signature", ["signature.invalid"]),
    ("foreign-certificate", ["signature.unexpected-certificate"]),
    ("altered-body", ["signature.hash"]),
    ("stale-signature", ["signature.skew"]),
])
def test_each_attack_fails_exactly_one_check_of_a_correct_verifier(dip, step, rules):
    assert step in probes.KINDS
    assert _rules(dip, step) == rules


def test_the_foreign_certificate_verifies_when_the_header_is_trusted(dip):
    """What the `trust-any-certificate` webhook does: verify with whatever certificate arrives."""
    assert _rules(dip, "foreign-certificate", trust_dip=False) == []
    attacker = probes.attacker(dip)
    assert attacker.certificate.subject == dip.certificate.subject
    assert attacker.certificate.issuer == dip.certificate.issuer
    assert attacker.certificate != dip.certificate


def test_every_attack_says_what_the_webhook_must_do():
    assert {a.step for a in attacks.ATTACKS} == {"bad-signature", "foreign-certificate", "altered-body",
                                                  "stale-signature"}
    for a in attacks.ATTACKS:
        assert a.rule.endswith("-accepted") and a.check.startswith("consume.") and a.must and a.what
    assert "5 minutes" in attacks.attack("stale-signature").must
    assert attacks.STALE_BY == probes.STALE_BY  # what the finding says is what the DIP does
