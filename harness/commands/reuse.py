"""`dipcert reuse --profile FILE --from BUNDLE...`: certify a party on evidence its DCP or software
supplier already produced for the same system with another party (guidance 5.4 / 6.4).

Each earlier bundle is verified as `dipcert verify` does, with the same anchors (`--trust`,
`--signer`, or the explicit `--integrity-only`), and must come from another party; then,
requirement by requirement, the decision says which rests on which earlier bundle and why, and
what runs live (always: the party's own preflight and a consume smoke test per enabled incoming
interface; plus every refused requirement). The decision is signed into the new bundle as reuse.json.
The DCP's "unchanged since" attestation is `--unchanged-since-attested-by 'Name, Organisation'`;
without it nothing is reused.
Exit 0 ready, 1 not ready, 2 usage error.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from harness.commands.verify import add_anchor_arguments  # the same anchors as verify

if TYPE_CHECKING:
    from rich.console import Console

    from harness.evidence.reuse import ReusePlan

HELP = ("Certify a party on a DCP's or supplier's earlier certification of the same system: verifies the "
        "earlier bundles, decides per requirement what rests on them, runs the rest live. "
        "Exit 0 ready, 1 not ready, 2 usage error.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", required=True, type=Path, metavar="FILE", help="the new party's profile (TOML)")
    parser.add_argument("--from", dest="sources", required=True, nargs="+", type=Path, metavar="BUNDLE",
                        help="earlier bundle(s) (folder or .dipcert.zip) of the same system; several may "
                             "together cover the enabled interfaces")
    parser.add_argument("--out", type=Path, default=Path("reports"), metavar="DIR",
                        help="folder for the run's bundle (default: reports/)")
    parser.add_argument("--unchanged-since-attested-by", dest="unchanged", metavar="'NAME, ORGANISATION'",
                        help="the DCP's or supplier's attestation that the system is unchanged since the "
                             "earlier run(s); required for any reuse")
    parser.add_argument("--attested-by", metavar="'NAME, ROLE'", help="who attests this run (default: your user name)")
    parser.add_argument("--spec", type=Path, default=None, metavar="DIR",
                        help="validate against Elexon's DIP specification in this folder instead of the bundled pack")
    add_anchor_arguments(parser, what="each earlier bundle")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="bound for every wait (default: the profile's harness.timeout)")
    parser.add_argument("--dip-key", type=Path, default=None, metavar="DIR",
                        help="folder holding the simulated DIP's signing key and certificate (default: "
                             "$DIPCERT_HOME/dip, else ~/.dipcert/dip, shared by every route)")


def decision_table(plan: ReusePlan, console: Console) -> None:
    """Requirement, decision, basis or reason: what the reviewer must see before the live part."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Certification basis", show_lines=False)
    table.add_column("requirement")
    table.add_column("decision")
    table.add_column("rests on / why live")
    for d in sorted(plan.decisions.values(), key=lambda d: d.requirement):
        if d.accepted and d.bundle is not None:  # an accepted decision always names its bundle
            table.add_row(escape(d.requirement), "[blue]reused[/]", escape(f"{d.bundle.label}: {d.why}"))
        else:
            table.add_row(escape(d.requirement), "[yellow]live[/]", escape(d.why))
    for rid in plan.live:
        if rid not in plan.decisions:
            table.add_row(escape(rid), "[green]live[/]", "the party's own (always run live)")
    console.print(table)
    for b in plan.bundles:
        state = "[green]verifies[/]" if b.sound else "[red]does NOT verify[/]"
        console.print(f"earlier bundle {escape(str(b.source))}: run {escape(str(b.run_id))} {state}, "
                      f"manifest {b.manifest_sha256}; signer {escape(str(b.origin.subject))} {b.origin.fingerprint}: "
                      f"{escape(b.origin.explanation)}", soft_wrap=True)
    for f in plan.findings:
        colour = "red" if f.severity == "error" else "yellow"
        console.print(f"[{colour}]{f.severity}[/] {f.rule}: {escape(f.message)}", soft_wrap=True)


def run(args: argparse.Namespace) -> int:
    from harness.commands.console import make_console
    from harness.config.profile import load_profile
    from harness.core.errors import UsageError
    from harness.core.files import output_folder
    from harness.dip.identity import dip_folder, load_or_create
    from harness.evidence.origin import load_anchors
    from harness.evidence.reuse import parse_attestation, plan_reuse
    from harness.messages.schemapack import load_pack
    from harness.report import terminal_summary
    from harness.run.session import RunOptions, run_certification

    if args.timeout is not None and not 0 < args.timeout <= 3600:
        raise UsageError(f"--timeout should be between 0 and 3600 seconds, got {args.timeout:g}")
    for source in args.sources:
        if not source.exists():
            raise UsageError(f"--from {source}: no such bundle (expected a run folder or a .dipcert.zip)")
    attestation = parse_attestation(args.unchanged)
    anchors = load_anchors(args.trust, args.signer, integrity_only=args.integrity_only, required=True,
                           command="dipcert reuse")
    profile = load_profile(args.profile)
    if profile.party.is_reference:
        raise UsageError(f'{args.profile}: party.endpoint = "reference": reuse certifies a party\'s own system on '
                         f'earlier evidence; the reference participant has none to reuse (use dipcert run)')
    pack = load_pack(args.spec)
    plan = plan_reuse(profile, args.sources, attestation=attestation, pack=pack, anchors=anchors,
                      probe_timeout=args.timeout or profile.harness.timeout)
    console = make_console()
    decision_table(plan, console)
    output_folder(args.out)  # after every input is checked: a refused command leaves nothing behind
    dip, _cert_path = load_or_create(dip_folder(args.dip_key))
    options = RunOptions(out=args.out, pack=pack, dip_identity=dip, attested_by=args.attested_by,
                         timeout=args.timeout, reuse=plan)
    result = run_certification(profile, options)
    terminal_summary(result.summary, console, bundle=result.zip_path)
    console.print(f"bundle: {result.zip_path}", soft_wrap=True)  # whole, so it can be copied
    console.print(f"report: {result.folder / 'report.html'}", soft_wrap=True)
    return result.exit_code
