"""`dipcert promote --from CERTIFIED_BUNDLE --profile production.toml`: the step after certification
(guidance 5.5 / 6.5), without sending a business message.

The certification bundle must verify (with `--trust`, and `--signer` to pin the party) and be
certification grade (`--dip-cert`: the DIP whose transcript it carries); the production profile is
compared with the configuration the bundle recorded and checked (same system, same or fewer
interfaces, production DIP ID, API keys and webhooks set, certificates valid, issued by a `--trust`
CA and not expiring within `--margin-days`, DCP Id as registered, webhooks answering a signed empty
probe over TLS). Promoted: a signed promotion record is written (exit 0). Refused: the findings say
why, nothing is written (exit 1). Exit 2 for a usage or configuration error.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = ("Promote a configuration certified in UIT to production (guidance 5.5 / 6.5): compares the production "
        "profile with the certified bundle, checks it, writes a signed promotion record. Exit 0 promoted, "
        "1 refused, 2 usage error.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="bundle", required=True, type=Path, metavar="CERTIFIED_BUNDLE",
                        help="the certification bundle (folder or .dipcert.zip)")
    parser.add_argument("--profile", required=True, type=Path, metavar="FILE", help="the production profile (TOML)")
    parser.add_argument("--trust", type=Path, action="append", default=[], metavar="CA.pem",
                        help="a CA the DIP Manager trusts (repeatable): it must have issued the production "
                             "certificates and the bundle's signing certificate")
    parser.add_argument("--signer", action="append", default=[], metavar="sha256:HEX|CERT.pem",
                        help="the signing certificate the party registered for the certification (pins the "
                             "bundle's signer; without it any certificate a --trust CA issued is accepted, and the "
                             "record says so)")
    parser.add_argument("--dip-cert", type=Path, action="append", default=[], metavar="DIP.pem",
                        help="the signing certificate of the DIP whose transcript the bundle carries (repeatable): "
                             "only then can the bundle be certification grade")
    parser.add_argument("--with", dest="earlier", type=Path, action="append", default=[], metavar="BUNDLE",
                        help="an earlier bundle the certification's reused requirements rest on (repeatable), "
                             "verified with the same anchors, as dipcert verify --with does")
    parser.add_argument("--margin-days", type=int, default=30, metavar="N",
                        help="refuse certificates that expire within N days (default 30)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="folder for the promotion record (default: the bundle's folder)")


def run(args: argparse.Namespace) -> int:
    # Imports here, not at the top: `dipcert --help` imports every command module (cli.py).
    from rich.markup import escape

    from harness.commands.console import make_console
    from harness.commands.verify import load_dip_certificate
    from harness.config.profile import load_profile
    from harness.core.errors import UsageError
    from harness.evidence.origin import load_anchors
    from harness.promotion.promote import promote

    if not args.bundle.exists():
        raise UsageError(f"--from {args.bundle}: no such bundle (expected a run folder or a .dipcert.zip)")
    for earlier in args.earlier:
        if not earlier.exists():
            raise UsageError(f"--with {earlier}: no such bundle (expected a run folder or a .dipcert.zip)")
    if not args.trust:
        raise UsageError("promote needs --trust CA.pem: the CA the DIP Manager trusts for production certificates")
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise UsageError(f"{args.out}: --out must be a folder, and this is a file")
    if not 0 <= args.margin_days <= 3650:
        raise UsageError(f"--margin-days should be between 0 and 3650, got {args.margin_days}")
    anchors = load_anchors(args.trust, args.signer)
    dip_certs = [load_dip_certificate(path) for path in args.dip_cert]
    profile = load_profile(args.profile)
    result = promote(args.bundle, profile, trust=anchors.trust, signers=anchors.signers, dip_certs=dip_certs,
                     margin_days=args.margin_days, out=args.out,
                     earlier=args.earlier)
    console = make_console()
    bundle = result.bundle
    console.print(f"certification bundle {escape(str(args.bundle))}: run {escape(str(bundle.run_id))}, "
                  f"{escape(bundle.state)}, grade {escape(str(result.grade.get('level')))}", soft_wrap=True)
    for d in result.differences:
        mark = "[green]allowed[/]" if d.allowed else "[red]NOT allowed[/]"
        console.print(f"  {escape(d.key)}: {escape(repr(d.certified))} -> {escape(repr(d.production))}: {mark} "
                      f"({escape(d.why)})", soft_wrap=True)
    for finding in result.findings:
        colour = "red" if finding.severity == "error" else "yellow"
        console.print(f"[{colour}]{finding.severity}[/] {escape(str(finding))}", soft_wrap=True)
    if result.promoted:
        console.print(f"[green]PROMOTED[/]: record {escape(str(result.record))}", soft_wrap=True)
        return 0
    console.print("[red]REFUSED[/]: no promotion record written", soft_wrap=True)
    return 1

