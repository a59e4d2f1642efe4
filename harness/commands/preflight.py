"""`dipcert preflight --profile FILE`: onboarding readiness (guidance 4.1) before certifying.

Prints one row per check (pass / warn / fail / not needed) with the findings' messages. Exit 0 when
nothing fails (warnings allowed), 1 when a check fails, 2 when the profile itself cannot be used.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = ("Check onboarding readiness (guidance 4.1): certificates, API keys, identifiers, DCP, partner, and "
        "a webhook for every enabled incoming interface (probed with a signed empty array). "
        "Exit 0 ready (warnings allowed), 1 a check failed, 2 profile error.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", required=True, type=Path, metavar="FILE", help="participant profile (TOML)")
    parser.add_argument("--no-probe", action="store_true",
                        help="do not contact the webhooks (only check that they are configured)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    from harness.config.profile import load_profile
    from harness.core.findings import errors
    from harness.plan.requirements import PREFLIGHT_CHECKS, preflight_applicable, preflight_requirement
    from harness.run.demo import reference_party
    from harness.run.preflight import run_preflight

    profile = load_profile(args.profile)
    # `[party] endpoint = "reference"`: the checks look at the reference participant as a run starts it
    with reference_party(profile, dip_certificate=None) as (profile, _participant):
        results = run_preflight(profile, probe=False if args.no_probe else None)
    applicable = preflight_applicable(profile)
    rows = []
    for check, findings in results.items():
        if errors(findings):
            status = "fail"
        elif findings:
            status = "warn"
        elif not applicable[check]:
            status = "not needed"
        else:
            status = "pass"
        rows.append((preflight_requirement(profile.role, check).id, check, status, findings))
    failed = any(status == "fail" for _, _, status, _ in rows)

    if args.json:
        print(json.dumps({
            "profile": str(profile.path), "profile_digest": profile.digest(), "ready": not failed,
            "checks": [{"requirement": rid, "check": check, "status": status, "description": PREFLIGHT_CHECKS[check],
                        "findings": [f.to_dict() for f in findings]} for rid, check, status, findings in rows],
        }, indent=2))
        return 1 if failed else 0

    from rich.table import Table
    from rich.text import Text

    from harness.commands.console import make_console

    styles = {"pass": "green", "warn": "yellow", "fail": "bold red", "not needed": "dim"}
    table = Table(title=Text(f"Preflight: {profile.party.role} {profile.party.mpid} {profile.party.dip_id} "
                             f"({profile.path.name})"), show_lines=True)
    table.add_column("Requirement (guidance 4.1)", no_wrap=True)
    table.add_column("Result", no_wrap=True)
    table.add_column("Findings", overflow="fold", ratio=1)
    for rid, check, status, findings in rows:
        text = "\n".join(f"{f.severity}: {f.message}" for f in findings) or PREFLIGHT_CHECKS[check]
        table.add_row(rid, Text(status, style=styles[status]), Text(text))
    console = make_console()
    console.print(table)
    if args.no_probe:
        console.print("webhooks were not probed (--no-probe)")
    console.print("[bold red]not ready: fix the failing checks[/]" if failed
                  else "[green]ready for certification[/]")
    return 1 if failed else 0
