"""`dipcert run --profile FILE`: certify a participant's own system (guidance 4.1, 5/6 .2 and .3).

The same core as the pytest scenarios (`pytest scenarios --dipcert-profile FILE`): one run, one
evidence bundle. Exit 0 when every enabled requirement passed, 1 when one did not (the bundle is
still written, marked not ready), 2 when the profile or the options cannot be used. With `--only`,
exit 0 when every selected enabled requirement passed: the bundle says it is partial and is never
ready, because the rest did not run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = ("Certify your MDR or SDS from a profile: preflight, consume, produce and the paired exchange "
        "through a DIP (a hosted one with --dip URL, else one embedded for a self-test); writes a signed evidence "
        "bundle with the DIP's signed transcript. Exit 0 ready, 1 not ready, 2 usage error.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", required=True, type=Path, metavar="FILE", help="participant profile (TOML)")
    parser.add_argument("--out", type=Path, default=Path("reports"), metavar="DIR",
                        help="folder for the run's bundle (default: reports/)")
    parser.add_argument("--spec", type=Path, default=None, metavar="DIR",
                        help="validate against Elexon's DIP specification in this folder instead of the bundled pack")
    parser.add_argument("--attested-by", metavar="'NAME, ROLE'", help="who attests this run (default: your user name)")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="bound for every wait (default: the profile's harness.timeout)")
    parser.add_argument("--dip-key", type=Path, default=None, metavar="DIR",
                        help="folder holding the simulated DIP's signing key and certificate (made on first use; "
                             "default: $DIPCERT_HOME/dip, else ~/.dipcert/dip, shared by every route); give your "
                             "webhook its dip-signing.pem to verify deliveries")
    parser.add_argument("--dip", default=None, metavar="URL",
                        help="a hosted DIP's base URL (e.g. https://dip.example:8443): the run opens a session there "
                             "as your party (profile API key, signing certificate, client_certificate for mTLS) "
                             "instead of starting an embedded DIP for a self-test")
    parser.add_argument("--dip-cert", type=Path, default=None, metavar="DIP.pem",
                        help="with --dip: the DIP's signing certificate; the run stops (exit 2) if the DIP signs "
                             "with another")
    parser.add_argument("--dip-ca", type=Path, default=None, metavar="CA.pem",
                        help="with --dip: CA certificate(s) the DIP's TLS server certificate chains to "
                             "(default: the system store)")
    parser.add_argument("--only", action="append", default=[], metavar="GLOB",
                        help="run only requirements whose id matches (repeatable); the rest stay not-run")


def run(args: argparse.Namespace) -> int:
    import fnmatch

    from rich.markup import escape

    from harness.commands.console import make_console
    from harness.config.profile import load_profile
    from harness.core.errors import UsageError
    from harness.core.files import output_folder
    from harness.dip.identity import dip_folder, load_or_create
    from harness.messages.schemapack import load_pack
    from harness.plan.certification import certification_plan
    from harness.report import terminal_summary
    from harness.run.demo import reference_party
    from harness.run.progress import progress_for
    from harness.run.session import RunOptions, run_certification

    if args.timeout is not None and not 0 < args.timeout <= 3600:
        raise UsageError(f"--timeout should be between 0 and 3600 seconds, got {args.timeout:g}")
    profile = load_profile(args.profile)
    pack = load_pack(args.spec)
    console = make_console()
    for warning in profile.warnings:
        console.print(f"[yellow]warning[/]: {escape(warning)}")
    if (args.dip_cert or args.dip_ca) and not args.dip:
        raise UsageError("--dip-cert and --dip-ca go with --dip URL (a hosted DIP)")
    if args.dip and profile.party.is_reference:
        raise UsageError(f'{args.profile}: party.endpoint = "reference" runs dipcert\'s reference participant against '
                         f'the embedded DIP only; drop --dip')
    dip_cert = None
    if args.dip:
        from harness.commands.verify import load_dip_certificate

        dip, dip_cert = None, load_dip_certificate(args.dip_cert) if args.dip_cert else None
    output_folder(args.out)  # after every input is checked: a refused command leaves nothing behind
    if not args.dip:
        dip, cert_path = load_or_create(dip_folder(args.dip_key))
        console.print(f"The embedded (simulated) DIP signs deliveries with {cert_path}")
    only = list(args.only)
    plan = certification_plan(profile)
    selected = [r for r in plan if not only or any(fnmatch.fnmatchcase(r.id, g) for g in only)]
    if only and not any(r.enabled for r in selected):
        raise UsageError(f"--only {' '.join(only)}: no enabled requirement of the plan matches")

    def opened(ctx) -> None:
        view.inform(_hub_line(ctx, remote=bool(args.dip)))
        if only:  # the evidence says the run is partial (summary.json `selection`, the report header)
            ctx.event("selection", only=only, requirements=[r.id for r in selected if r.enabled])

    with progress_for(console, selected, f"{profile.role} {profile.party.dip_id}") as view:
        options = RunOptions(out=args.out, pack=pack, dip_identity=dip, dip=args.dip, dip_cert=dip_cert,
                             dip_ca=args.dip_ca, attested_by=args.attested_by,
                             timeout=args.timeout, announce=view.announce, countdown=view.countdown,
                             on_open=opened,
                             requirement_filter=(lambda r: any(fnmatch.fnmatchcase(r.id, g) for g in only))
                             if only else None)
        # `[party] endpoint = "reference"`: dipcert's reference participant started as the party (docs/profile.md)
        with reference_party(profile, dip_certificate=dip.certificate if dip is not None else None,
                             timeout=args.timeout) as (running, _participant):
            result = run_certification(running, options, on_requirement=view.on_requirement, on_start=view.on_start)
    terminal_summary(result.summary, console, bundle=result.zip_path)
    console.print(f"report: {result.folder / 'report.html'}")
    if only and result.interrupted is None:
        return selection_exit_code(result.summary, selected)
    return result.exit_code


def selection_exit_code(summary: dict, selected: list) -> int:
    """`--only`: 0 when the run completed and every selected enabled requirement passed (or was reused)."""
    verdicts = {r["id"]: r["verdict"] for r in summary["requirements"]}
    wanted = [r.id for r in selected if r.enabled]
    done = summary.get("status") == "complete"
    return 0 if done and wanted and all(verdicts.get(rid) in ("pass", "reused") for rid in wanted) else 1


def _hub_line(ctx, *, remote: bool = False) -> str:
    """Where the participant's system must send: the DIP's URL (and, embedded, how to make it stable)."""
    if remote:
        return f"The run's DIP session is open at {ctx.hub.base_url}: your system's DIP client must point there."
    fixed = "" if ctx.profile.harness.hub_port else " (a free port for this run; set [harness] hub_port to fix it)"
    return f"The simulated DIP is at {ctx.hub.base_url}{fixed}: point your system's DIP client there."
