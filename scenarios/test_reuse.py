"""Guidance 5.4 / 6.4: a party certified on its DCP's or supplier's earlier evidence for the same system.

With `--dipcert-reuse-from BUNDLE --dipcert-unchanged-since-attested-by 'NAME, ORGANISATION'` (and
the earlier bundles' anchors, `--dipcert-trust` / `--dipcert-signer` or `--dipcert-integrity-only`)
the session decides, as `dipcert reuse` does and with the same code, which requirements rest on the
earlier bundles: those pass without running, the rest run live in the other modules, and the party's
own webhooks get a consume smoke test per enabled incoming interface. Without those options the plan
has no reuse or smoke requirement and both tests here are skipped saying so."""

from __future__ import annotations

import pytest


@pytest.mark.dipcert("reuse")
def test_reuse(requirement, dipcert_certify):
    dipcert_certify(requirement)


@pytest.mark.dipcert("smoke")
def test_smoke(requirement, dipcert_certify):
    dipcert_certify(requirement)
