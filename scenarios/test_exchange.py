"""Guidance 5.3 / 6.3: the paired exchange with the nominated partner, routed through the simulated DIP.

Each exchange defined as data in `scenarios/exchanges/*.toml` is one requirement
(`MDR-5.3/exchange/<name>`, `SDS-6.3/exchange/<name>`); the steps and business rules run in
`harness.run.exchange`, `harness.judges.exchange` and `harness.messages.business`."""

from __future__ import annotations

import pytest


@pytest.mark.dipcert("exchange")
def test_exchange(requirement, dipcert_certify):
    dipcert_certify(requirement)
