"""`dipcert verify BUNDLE`: the DIP Manager's independent re-check of an evidence bundle.

It trusts nothing the producer wrote about the run: hashes, the evidence chain and the signature are
recomputed, every captured DIP message is re-validated against a schema pack the reviewer chooses
(`--spec` for Elexon's own), and every verdict is recomputed from the evidence and compared with
summary.json and report.html.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HELP = "Re-check an evidence bundle (folder or .dipcert.zip) without trusting its report."

# Which form of DIP message each recorded HTTP channel carries (recorder channel names).
CHANNEL_FORMS = {"hub-inbound": "ingress", "webhook-delivery": "egress", "hub-outbound": "egress"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", type=Path, help="bundle folder or <run-id>.dipcert.zip")
    parser.add_argument("--spec", type=Path, default=None,
                        help="re-validate messages against Elexon's specification in this folder")
    parser.add_argument("--trust", type=Path, action="append", default=[],
                        help="CA certificate (PEM) the party's signing certificate must chain to")
    parser.add_argument("--with", dest="earlier", type=Path, action="append", default=[], metavar="BUNDLE",
                        help="an earlier bundle that reused requirements rest on (repeatable); without it a "
                             "bundle with reused requirements is flagged (reuse.chain-missing)")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")


def _load_trust(paths: list[Path]) -> list[Any]:
    from cryptography import x509

    from harness.errors import ConfigError

    certs = []
    for path in paths:
        try:
            certs.extend(x509.load_pem_x509_certificates(path.read_bytes()))
        except FileNotFoundError:
            raise ConfigError(f"{path}: trust certificate file not found") from None
        except ValueError:
            raise ConfigError(f"{path}: not a PEM certificate file") from None
    return certs


def make_revalidator(pack: Any):
    """Re-validates the request body of every recorded DIP message exchange with `pack`."""
    from harness.messages.validate import validate_body

    def revalidate(record: Mapping[str, Any], body: bytes) -> list:
        form = CHANNEL_FORMS.get(str(record.get("channel", "")))
        if form is None or not body:
            return []
        return validate_body(body, form=form, pack=pack)  # type: ignore[arg-type]

    return revalidate


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.evidence.verify import verify_bundle
    from harness.messages.schemapack import load_pack
    from harness.run.planning import plan_from_recorded_profile

    pack = load_pack(args.spec)
    # The plan is derived again from the recorded profile: a quietly skipped requirement shows.
    result = verify_bundle(args.bundle, trust=_load_trust(args.trust), pack=pack,
                           revalidate=make_revalidator(pack), plan_from_profile=plan_from_recorded_profile,
                           earlier=list(args.earlier))
    if args.json:
        print(json.dumps({"bundle": str(args.bundle), "run_id": result.run_id, "sound": result.sound,
                          "ready": result.ready, "findings": [f.to_dict() for f in result.findings]},
                         indent=2))
        return result.exit_code
    console = Console(highlight=False)
    for finding in result.findings:
        colour = "red" if finding.severity == "error" else "yellow"
        console.print(f"[{colour}]{finding.severity}[/] {finding.rule} at {finding.path or '/'}: "
                      f"{finding.message}", soft_wrap=True)
    state = ("[green]sound and ready[/]" if result.ready else
             "[yellow]sound but NOT ready[/]" if result.sound else "[red]NOT sound[/]")
    console.print(f"{args.bundle}: run {result.run_id or '?'}: {state} "
                  f"({len(result.findings)} finding(s), schema pack {pack.name} {pack.version})")
    return result.exit_code
