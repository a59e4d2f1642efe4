"""The hostile deliveries of the consume checks (issue 14): each bends exactly one thing, so a webhook
that verifies correctly refuses it for exactly that reason, and one that skips that check takes it."""

from __future__ import annotations

import json

import pytest

from harness.run import adversary
from harness.transport.certs import cached_key, make_ca
from harness.transport.delivery import split_batches
from harness.transport.signing import verify_request

URL = "https://webhook.example/dip/if-061"


@pytest.fixture(scope="module")
def dip():
    ca = make_ca("adversary test CA", key=cached_key("test-ca"))
    return ca.issue("dip.test", key=cached_key("test-dip")).identity()


def _sample(n: int) -> dict:
    return {"payload": {"CommonBlock": {"S0": {"interfaceID": "IF-061"}}, "CustomBlock": {"n": n}}}


def _rules(dip, step: str, *, trust_dip: bool = True) -> list[str]:
    counter = iter(range(100))
    items, identity, sign = adversary.hostile(step, dip, lambda: _sample(next(counter)), None)
    body = split_batches(items, None)[0][1]
    from harness.transport.signing import sign_request

    headers = (sign or sign_request)("POST", URL, body, identity)
    found = verify_request("POST", URL, body, headers, expected_certificate=dip.certificate if trust_dip else None)
    return sorted({f.rule for f in found if f.severity == "error"})


@pytest.mark.parametrize(("step", "rules"), [
    ("bad-signature", ["signature.invalid"]),
    ("foreign-certificate", ["signature.unexpected-certificate"]),
    ("altered-body", ["signature.hash"]),
    ("stale-signature", ["signature.skew"]),
])
def test_each_attack_fails_exactly_one_check_of_a_correct_verifier(dip, step, rules):
    assert _rules(dip, step) == rules


def test_the_foreign_certificate_verifies_when_the_header_is_trusted(dip):
    """What the `trust-any-certificate` webhook does: verify with whatever certificate arrives."""
    assert _rules(dip, "foreign-certificate", trust_dip=False) == []
    attacker = adversary.attacker(dip)
    assert attacker.certificate.subject == dip.certificate.subject
    assert attacker.certificate.issuer == dip.certificate.issuer
    assert attacker.certificate != dip.certificate


def test_the_altered_body_is_another_valid_message(dip):
    counter = iter(range(100))
    items, identity, sign = adversary.hostile("altered-body", dip, lambda: _sample(next(counter)), None)
    assert identity is dip and json.loads(split_batches(items, None)[0][1]) == [_sample(1)]


def test_every_attack_says_what_the_webhook_must_do():
    assert {a.step for a in adversary.ATTACKS} == {"bad-signature", "foreign-certificate", "altered-body",
                                                  "stale-signature"}
    for a in adversary.ATTACKS:
        assert a.rule.endswith("-accepted") and a.check.startswith("consume.") and a.must and a.what
    assert "5 minutes" in adversary.attack("stale-signature").must
