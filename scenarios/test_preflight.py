"""Guidance 4.1, onboarding readiness: certificates, API keys, identifiers, DCP, partner, and a
reachable webhook for every enabled incoming interface. One test per check of the plan."""

from __future__ import annotations

import pytest


@pytest.mark.dipcert("preflight")
def test_preflight(requirement, dipcert_certify):
    dipcert_certify(requirement)
