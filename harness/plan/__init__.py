"""The certification plan: one requirement per thing the DIP Manager's guidance asks a party to prove."""

# -- public face (what other layers use; tests/test_architecture.py keeps it complete) --
from harness.plan.certification import certification_plan, plan_from_recorded_profile
from harness.plan.requirements import (
    EXTENDED,
    PREFLIGHT_CHECKS,
    Requirement,
    plan_to_dicts,
    preflight_applicable,
    preflight_requirement,
)

__all__ = [
    "EXTENDED", "PREFLIGHT_CHECKS", "Requirement", "certification_plan", "plan_from_recorded_profile",
    "plan_to_dicts", "preflight_applicable", "preflight_requirement",
]
