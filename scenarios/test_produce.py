"""Guidance 5.2b / 6.2b: the system produces valid messages of every enabled outgoing flow.

The participant is triggered (its profile's http / command / manual trigger) and what it sends to the
simulated DIP is judged: everything the DIP checks, plus sender, DCP and nominated recipient against
the profile. The checks are in `harness.run.produce`."""

from __future__ import annotations

import pytest


@pytest.mark.dipcert("produce")
def test_produce(requirement, dipcert_certify):
    dipcert_certify(requirement)
