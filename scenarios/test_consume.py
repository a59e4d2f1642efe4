"""Guidance 5.2a / 6.2a: the webhook consumes every enabled incoming flow, per interface and event.

Single and batched signed deliveries (201 with a correct StandardResponse), a replay accepted again,
a badly signed delivery refused, and messages a recipient must reject answered with the right RCP code.
The checks themselves are in `harness.run.consume`; this module makes each requirement a test."""

from __future__ import annotations

import pytest


@pytest.mark.dipcert("consume")
def test_consume(requirement, certify):
    certify(requirement)
