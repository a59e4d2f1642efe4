"""`dipcert validate FILE...`: check message files as the DIP would, before anything is sent.

Every file is judged, even when another cannot be read: an unreadable file (missing, a folder,
too large, empty, not UTF-8, not JSON) is one line on stderr naming it, and the rest are judged
as usual. Exit 0 when every file is valid, 1 when any has an error finding, 2 when any file could
not be read at all (the batch's verdict is incomplete: that is an input error, whatever the other
files' verdicts; their findings are still printed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from harness.core.errors import InputError

HELP = ("Validate DIP message files (each a JSON array of {\"payload\": ...} items) against the schema "
        "pack and dipcert's extra checks (docs/rules.md). Exit 0 valid, 1 invalid, 2 a file unreadable "
        "(the other files are still judged).")
DEFAULT_MAX_BYTES = 10 * 1024 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", type=Path, help="message file(s) to check")
    parser.add_argument("--spec", metavar="DIR", type=Path,
                        help="Elexon's DIP API specification folder (default: dipcert's bundled schemas)")
    parser.add_argument("--form", choices=("ingress", "egress"), default="ingress",
                        help="ingress: as sent to the DIP; egress: as the DIP delivers (default ingress)")
    parser.add_argument("--interface", metavar="IF-0xx",
                        help="the interface the file was sent to; S0.interfaceID must match")
    parser.add_argument("--json", action="store_true", help="print findings as JSON")
    parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, metavar="N",
                        help=f"refuse files larger than N bytes (default {DEFAULT_MAX_BYTES})")


def read_message_file(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """The parsed JSON of a message file; InputError (one line naming the file) if unreadable."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected a JSON message file")
    if size > max_bytes:
        raise InputError(f"{path}: file is {size} bytes, larger than the {max_bytes}-byte limit (--max-bytes)")
    try:
        data = path.read_bytes()[: max_bytes + 1]
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise InputError(f"{path}: larger than the {max_bytes}-byte limit (--max-bytes)")
    if not data.strip():
        raise InputError(f"{path}: file is empty, expected a JSON array of messages")
    from harness.messages.validate import parse_body

    parsed, problems = parse_body(data)
    if problems:
        raise InputError(f"{path}: {problems[0].message}")
    return parsed


def run(args: argparse.Namespace) -> int:
    from rich.text import Text

    from harness.commands.console import make_console
    from harness.core.catalogue import load_catalogue
    from harness.core.findings import errors
    from harness.messages.schemapack import load_pack
    from harness.messages.validate import validate_body

    if args.max_bytes <= 0:
        raise InputError(f"--max-bytes must be a positive number of bytes, got {args.max_bytes}")
    interface = load_catalogue().get(args.interface).id if args.interface else None
    pack = load_pack(args.spec)
    results = []
    unreadable: list[tuple[Path, str]] = []
    for path in args.files:
        try:
            body = read_message_file(path, args.max_bytes)
        except InputError as exc:  # one file's problem: said in one line, the batch goes on
            unreadable.append((path, str(exc)))
            print(f"dipcert validate: error: {exc}", file=sys.stderr)
            continue
        results.append((path, validate_body(body, interface_id=interface, form=args.form, pack=pack)))
    invalid = [path for path, findings in results if errors(findings)]
    code = 2 if unreadable else 1 if invalid else 0

    if args.json:
        print(json.dumps({
            "pack": {"name": pack.name, "version": pack.version, "fingerprint": pack.fingerprint},
            "form": args.form,
            "files": [{"file": str(path), "valid": not errors(findings),
                       "findings": [f.to_dict() for f in findings]} for path, findings in results],
            "unreadable": [{"file": str(path), "error": message} for path, message in unreadable],
            "summary": {"files": len(results), "valid": len(results) - len(invalid), "invalid": len(invalid),
                        "unreadable": len(unreadable)},
        }, indent=2))
        return code

    console = make_console(soft_wrap=True)
    for path, findings in results:
        for f in findings:
            style = "red" if f.severity == "error" else "yellow"
            console.print(Text.assemble((str(path), "bold"), " ", (f.rule, style), " ", (f.path or "/", "cyan"),
                                        " ", f.message))
    n_errors = sum(len(errors(f)) for _, f in results)
    n_warnings = sum(len(f) for _, f in results) - n_errors
    verdict = ("red", "INCOMPLETE") if unreadable else ("red", "INVALID") if invalid else ("green", "VALID")
    console.print(Text.assemble(
        (verdict[1], f"bold {verdict[0]}"),
        f": {len(results)} file(s), {len(results) - len(invalid)} valid, {len(invalid)} invalid"
        + (f", {len(unreadable)} unreadable" if unreadable else "")
        + f"; {n_errors} error(s), {n_warnings} warning(s); {args.form} against {pack.name} {pack.version}"))
    return code
