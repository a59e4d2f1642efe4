"""`dipcert demo`: the whole certification, end to end, with nothing to set up.

The reference MDR is certified against the reference SDS, then the reference SDS against the
reference MDR, through a simulated DIP on free loopback ports, writing two bundles. `--fault`
turns a fault switch on in the party under test, to watch the harness catch it (exit 1).
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = ("Certify the built-in reference MDR and SDS end to end (no profile, no network, no setup) and write "
        "both bundles. --fault NAME switches a fault on in the MDR (sds:NAME in the SDS); exit 1 shows it caught.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("reports"), metavar="DIR",
                        help="folder for the bundles (default: reports/)")
    parser.add_argument("--fault", action="append", default=[], metavar="NAME",
                        help="fault switch for the MDR (repeatable), or sds:NAME for the SDS; see --list-faults")
    parser.add_argument("--list-faults", action="store_true", help="list the fault switches and exit")
    parser.add_argument("--role", choices=["mdr", "sds", "both"], default="both", type=str.lower,
                        help="which reference participant to certify (default: both)")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                        help="bound for every wait (default: 5)")


def run(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from harness.commands.console import make_console
    from harness.core.errors import UsageError
    from harness.plan.certification import certification_plan
    from harness.reference.faults import parse_faults
    from harness.report import terminal_summary
    from harness.run.progress import progress_for

    if args.list_faults:
        from harness.commands.serve_reference import print_faults

        print_faults()
        return 0
    if not 0 < args.timeout <= 600:
        raise UsageError(f"--timeout should be between 0 and 600 seconds, got {args.timeout:g}")
    faults = {"MDR": [f for f in args.fault if not f.lower().startswith("sds:")],
              "SDS": [f.split(":", 1)[1] for f in args.fault if f.lower().startswith("sds:")]}
    roles = ("MDR", "SDS") if args.role == "both" else (args.role.upper(),)
    for role in ("MDR", "SDS"):
        parse_faults(faults[role], role)  # a wrong switch is a usage error before anything starts
        if faults[role] and role not in roles:
            raise UsageError(f"--fault for the {role} given, but --role {args.role} does not certify the {role}")
    from harness.core.files import output_folder
    from harness.dip.identity import dip_folder, load_or_create
    from harness.run.demo import demo_party, scratch_pki
    from harness.run.session import run_certification

    output_folder(args.out)
    dip, _cert = load_or_create(dip_folder())  # the DIP every route shares (harness.dip.identity)

    console = make_console()
    results = []
    with scratch_pki() as pki:
        for role in roles:
            label = f"reference {role}" + (f" with {', '.join(faults[role])}" if faults[role] else "")
            console.rule(f"Certifying the {label}")
            with demo_party(role, pki, args.out, faults=faults[role], timeout=args.timeout,
                            dip=dip) as (profile, options):
                with progress_for(console, certification_plan(profile), label) as view:
                    options.announce = view.announce
                    result = run_certification(profile, options, on_requirement=view.on_requirement,
                                               on_start=view.on_start)
            terminal_summary(result.summary, console, bundle=result.zip_path)
            if result.interrupted is not None:  # stop the whole demo, not only this party's run
                raise result.interrupted
            results.append(result)
        console.rule("Demo finished")
        for role, result in zip(roles, results):
            state = "[green]ready[/]" if result.ready else "[bold red]not ready[/]"
            console.print(f"{escape(result.run_id)}: {state}\n  report: {escape(str(result.folder / 'report.html'))}\n"
                          f"  bundle: {escape(str(result.zip_path))}", soft_wrap=True)
            # The complete check: the demo CA's certificate (kept beside the bundle) and the signer pinned.
            console.print(f"  verify: {escape(pki.verify_command(result, role))}", soft_wrap=True)
    return 0 if all(r.ready for r in results) else 1
