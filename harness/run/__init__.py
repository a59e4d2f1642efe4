"""The certification run: one core shared by `dipcert run`, `dipcert demo` and the pytest scenarios.

`session.CertificationRun` opens a run (evidence folder, simulated DIP, partner), `context.RunContext`
is what each requirement's check code talks to, `dispatch` runs one requirement (from its kind to
the code that checks it) and
`progress` draws the live view while `CertificationRun.execute` walks the plan.
"""

# -- public face (what other layers use; tests/test_architecture.py keeps it complete) --
from harness.run.demo import demo_party, reference_party, scratch_pki
from harness.run.dispatch import run_requirement
from harness.run.preflight import (
    Probe,
    check_api_keys,
    check_certificates,
    check_dcp,
    check_identifiers,
    check_webhooks,
    default_probe,
    run_preflight,
)
from harness.run.progress import progress_for
from harness.run.session import CertificationRun, RunOptions, party_identity, run_certification

__all__ = [
    "CertificationRun", "Probe", "RunOptions", "check_api_keys", "check_certificates", "check_dcp",
    "check_identifiers", "check_webhooks", "default_probe", "demo_party", "party_identity", "progress_for",
    "reference_party", "run_certification", "run_preflight", "run_requirement", "scratch_pki",
]
