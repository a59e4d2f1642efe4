"""`dipcert verify BUNDLE`: the DIP Manager's independent re-check of an evidence bundle.

The check itself lives in `harness.evidence` (checker, earlier, origin); this module parses the
arguments and prints. Without `--trust` (and `--signer`) the origin is not verified and the exit
code is never 0; `--integrity-only` asks for the integrity check alone and says what it skipped.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = ("Re-check an evidence bundle (folder or .dipcert.zip) without trusting its report. Exit 0 only when it "
        "is sound, ready and signed by the party's pinned certificate from a trusted CA (--trust, --signer); "
        "--integrity-only checks integrity alone.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", type=Path, help="bundle folder or <run-id>.dipcert.zip")
    parser.add_argument("--spec", type=Path, default=None,
                        help="re-validate messages against Elexon's specification in this folder")
    add_anchor_arguments(parser, what="the bundle")
    parser.add_argument("--with", dest="earlier", type=Path, action="append", default=[], metavar="BUNDLE",
                        help="an earlier bundle that reused requirements rest on (repeatable), checked with the "
                             "same --trust and --signer; without it a bundle with reused requirements is flagged "
                             "(reuse.chain-missing)")
    parser.add_argument("--dip-cert", type=Path, action="append", default=[], metavar="DIP.pem",
                        help="the signing certificate (PEM) of a DIP you trust (repeatable): the bundle's DIP "
                             "transcript must be signed by it, every verdict is judged again from it, and only then "
                             "can the bundle be certification grade")
    parser.add_argument("--promotion", type=Path, default=None, metavar="RECORD",
                        help="a promotion record (promotion-<run id>.dsse.json, from dipcert promote) to check with "
                             "this bundle: signed by a production certificate a --trust CA issued, naming this "
                             "bundle by hash, its differences computed again")
    parser.add_argument("--json", action="store_true", help="print the result and findings as JSON")


def add_anchor_arguments(parser: argparse.ArgumentParser, *, what: str) -> None:
    """--trust, --signer, --integrity-only: the reviewer's anchors (shared with `dipcert reuse`)."""
    parser.add_argument("--trust", type=Path, action="append", default=[], metavar="CA.pem",
                        help=f"CA certificate (PEM) that issued the parties' signing certificates; {what}'s signer "
                             f"must be issued by it (repeatable)")
    parser.add_argument("--signer", action="append", default=[], metavar="sha256:HEX|CERT.pem",
                        help="the signing certificate the party registered (its SHA-256 fingerprint, or the PEM "
                             "file); the signer must be one of those given (repeatable)")
    parser.add_argument("--integrity-only", action="store_true",
                        help="check hashes, chain, signature and verdicts only, NOT who signed; says so in the output")


def run(args: argparse.Namespace) -> int:
    # Imports here, not at the top: `dipcert --help` imports every command module (cli.py).
    from rich.markup import escape

    from harness.commands.console import make_console
    from harness.core.errors import UsageError
    from harness.evidence.origin import load_anchors
    from harness.evidence.revalidate import make_revalidator
    from harness.evidence.verify import verify_bundle
    from harness.messages.schemapack import load_pack

    for earlier in args.earlier:
        if not earlier.exists():
            raise UsageError(f"--with {earlier}: no such bundle (expected a run folder or a .dipcert.zip)")
    anchors = load_anchors(args.trust, args.signer, integrity_only=args.integrity_only)
    dip_certs = [load_dip_certificate(path) for path in args.dip_cert]
    pack = load_pack(args.spec)
    result = verify_bundle(args.bundle, anchors=anchors, pack=pack, revalidate=make_revalidator(pack),
                           earlier=list(args.earlier), dip_certs=dip_certs)
    promotion = None
    if args.promotion is not None:  # issue 19: judged on the bundle as verified above, then part of its findings
        from harness.promotion.check import check_promotion

        promotion = check_promotion(args.promotion, result, trust=anchors.trust)
        result.findings.extend(promotion)
    if args.json:
        extra = {"promotion": {"record": str(args.promotion), "findings": [f.to_dict() for f in promotion]}} \
            if promotion is not None else {}
        print(json.dumps({**result.to_dict(), "schema_pack": {"name": pack.name, "version": pack.version}, **extra},
                         indent=2))
        return result.exit_code
    console = make_console()
    for finding in result.findings:
        colour = "red" if finding.severity == "error" else "yellow"
        console.print(f"[{colour}]{finding.severity}[/] {escape(finding.rule)} at {escape(finding.path or '/')}: "
                      f"{escape(finding.message)}", soft_wrap=True)
    origin = result.origin
    if result.manifest_sha256:  # the report cannot carry it (the manifest hashes the report): it is named here
        console.print(f"manifest: {result.manifest_sha256}", soft_wrap=True)
    if origin.fingerprint:
        console.print(f"signer: {escape(str(origin.subject))} {origin.fingerprint} (issued by "
                      f"{escape(str(origin.issuer))})", soft_wrap=True)
    colour = "green" if origin.verified else "red" if origin.status == "failed" else "yellow"
    console.print(f"origin: [{colour}]{escape(origin.explanation)}[/]", soft_wrap=True)
    t = result.transcript
    if t.present:
        signed = f"signed by the DIP {t.signed_by}" if t.signed_by else (
            "signature NOT checked (give --dip-cert)" if not dip_certs else "NOT signed by the DIP certificate given")
        console.print(f"DIP transcript: {t.count} record(s), {signed}; {t.judged} check(s) judged again from it, "
                      f"{t.unjudged} not judged (the harness's own observations)", soft_wrap=True)
    grade = result.grade or {}
    colour = "green" if grade.get("level") == "certification" else "yellow"
    console.print(f"grade: [{colour}]{escape(str(grade.get('level')))}[/]", soft_wrap=True)
    for reason in grade.get("reasons") or []:
        console.print(f"  {escape(str(reason))}", soft_wrap=True)
    colour = "green" if result.ready else "yellow" if result.sound else "red"
    console.print(f"{escape(str(args.bundle))}: run {escape(str(result.run_id or '?'))}: [{colour}]{result.state}[/] "
                  f"({len(result.findings)} finding(s), schema pack {pack.name} {pack.version})", soft_wrap=True)
    if promotion is not None:
        bad = [f for f in promotion if f.severity == "error"]
        console.print(f"promotion record {escape(str(args.promotion))}: " + (
            "[green]checked with this bundle[/]" if not bad else f"[red]{len(bad)} error finding(s)[/]"),
            soft_wrap=True)
    if not anchors.complete and not anchors.integrity_only:
        console.print(f"to complete the check: dipcert verify {escape(str(args.bundle))} --trust CA.pem --signer "
                      f"sha256:<the certificate the party registered with the DIP>", soft_wrap=True)
    return result.exit_code


def load_dip_certificate(path: Path):
    """A `--dip-cert` PEM file; a one-line usage error otherwise."""
    from cryptography import x509

    from harness.core.errors import UsageError

    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except OSError as exc:
        raise UsageError(f"--dip-cert {path}: cannot be read ({exc.strerror})") from None
    except ValueError:
        raise UsageError(f"--dip-cert {path}: not a PEM certificate (expected '-----BEGIN CERTIFICATE-----')") from None
