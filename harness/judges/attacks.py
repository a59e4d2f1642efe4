"""Hostile deliveries: what an attacker (or a broken DIP path) sends a webhook, and what it must refuse.

A webhook is certified to consume the DIP's deliveries only if it also refuses what the DIP would
never send. Each attack here is a signed delivery that differs from a good one in exactly one way:

- `bad-signature`: the DIP's certificate in X-DIP-Signature-Certificate, but signed with another key
  (the signature does not verify);
- `foreign-certificate`: signed by an attacker's own key, with the attacker's own certificate in
  the header (the signature verifies, against a certificate that is not the DIP's). The certificate
  copies the DIP certificate's subject and issuer names, so comparing names is not enough;
- `altered-body`: headers the DIP made over one body, sent with another (the signature verifies over
  X-DIP-Content-Hash, which is not the hash of the body received);
- `stale-signature`: a correct DIP signature whose X-DIP-Signature-Date is a day old.

This module only describes them (for the consume checks and their findings): the deliveries are
made by the DIP itself on request (`harness.dip.probes`, a probe of the same kind: only the DIP holds
its key). What the participant must do is written in README ("What your webhook must refuse"), the
catalogue (assumptions A-SIGNATURE, A-SIGNATURE-TRUST, A-SIGNATURE-FRESHNESS) and each finding.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from harness.transport.signing import DEFAULT_SKEW

STALE_BY = timedelta(days=1)  # how old the stale-signature probe's X-DIP-Signature-Date is (harness.dip.probes)

FRESHNESS_MINUTES = int(DEFAULT_SKEW.total_seconds() // 60)  # the window a webhook is expected to keep


@dataclass(frozen=True)
class Attack:
    """One hostile delivery: its step name, the check and finding rules, and what the webhook must do."""

    step: str
    check: str  # check rule (recorded whether it passed or not)
    rule: str  # finding rule when the webhook took the delivery
    header: str  # the header the attack bends (the finding's path)
    what: str  # what was sent, for the finding's message
    must: str  # what the webhook should have done, for the finding's message


ATTACKS: tuple[Attack, ...] = (
    Attack("bad-signature", "consume.bad-signature", "consume.bad-signature-accepted", "X-DIP-Signature",
           "a delivery whose X-DIP-Signature does not verify with the DIP's certificate",
           "verify X-DIP-Signature over METHOD;url;date;hash with the DIP's certificate and refuse it when it "
           "does not verify"),
    Attack("foreign-certificate", "consume.foreign-certificate", "consume.foreign-certificate-accepted",
           "X-DIP-Signature-Certificate",
           "a delivery signed with another party's key, carrying that party's own certificate (same subject and "
           "issuer names as the DIP's) in X-DIP-Signature-Certificate",
           "verify only with the DIP's signing certificate as onboarding gave it (or one issued by the DIP's CA), "
           "never with whatever certificate the request carries (assumption A-SIGNATURE-TRUST)"),
    Attack("altered-body", "consume.altered-body", "consume.altered-body-accepted", "X-DIP-Content-Hash",
           "a DIP-signed delivery whose body was changed after signing (X-DIP-Content-Hash is the hash of other "
           "bytes)",
           "compare X-DIP-Content-Hash with base64(SHA-256) of the body as received and refuse a mismatch"),
    Attack("stale-signature", "consume.stale-signature", "consume.stale-signature-accepted", "X-DIP-Signature-Date",
           f"a correctly signed delivery whose X-DIP-Signature-Date is {STALE_BY.days * 24} hours old",
           f"refuse an X-DIP-Signature-Date more than {FRESHNESS_MINUTES} minutes from its own clock (assumption "
           f"A-SIGNATURE-FRESHNESS)"),
)


def attack(step: str) -> Attack:
    return next(a for a in ATTACKS if a.step == step)
