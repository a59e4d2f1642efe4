"""Guidance 5.2a / 6.2a: the webhook consumes every enabled incoming flow, per interface and event.

Single and batched signed deliveries (201 with a correct StandardResponse, a redelivery after a 5xx
accepted), a replay acknowledged and not processed twice, and hostile deliveries refused (a signature
that does not verify, an attacker's certificate, a body altered after signing, a stale signature
date). Per interface, the messages a recipient must reject answered with the right RCP code (the
`reject` requirement: advisory unless the profile's policy says blocking). The checks themselves
are in `harness.run.consume`; this module makes each requirement a test."""

from __future__ import annotations

import pytest


@pytest.mark.dipcert("consume")
def test_consume(requirement, dipcert_certify):
    dipcert_certify(requirement)


@pytest.mark.dipcert("reject")
def test_reject(requirement, dipcert_certify):
    dipcert_certify(requirement)
