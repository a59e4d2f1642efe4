"""`dipcert schemas`: which schema pack is in use, and which schema judges each event.

The pack's name, version and fingerprint are what an evidence bundle records, so a reviewer can
tell which rules a run was held to. `--check` compiles every validator up front and, for Elexon's
specification, lists any `$ref` that does not resolve: better at set-up than mid-certification.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

HELP = ("Show the schema pack in use (name, version, fingerprint) and the schema of each event; "
        "--check compiles them all.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--spec", metavar="DIR", type=Path,
                        help="Elexon's DIP API specification folder (default: dipcert's bundled schemas)")
    parser.add_argument("--check", action="store_true",
                        help="compile every validator and report unresolved references (exit 1 if any)")


def schema_location(pack: Any, interface_id: str, event_name: str) -> str:
    """Where the pack keeps an event's payload schema, as far as the pack can say."""
    if hasattr(pack, "schema_ref"):
        return str(pack.schema_ref(interface_id, event_name))
    if hasattr(pack, "event_schema"):
        payload = pack.event_schema(interface_id, event_name).get("properties", {}).get("payload", {})
        ref = payload.get("$ref") or next((p.get("$ref") for p in payload.get("allOf", []) if "$ref" in p), None)
        if ref:
            return str(ref).split("/dip/", 1)[-1]
    return "(compiled by the pack)"


def run(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.table import Table

    from harness.commands.console import make_console
    from harness.core.catalogue import load_catalogue
    from harness.core.errors import DipcertError
    from harness.messages.schemapack import load_pack

    pack = load_pack(args.spec)
    console = make_console()
    console.print(f"[bold]{escape(pack.name)}[/bold] version {escape(pack.version)}")
    console.print(f"fingerprint {pack.fingerprint}", soft_wrap=True)
    if (folder := getattr(pack, "folder", None)) is not None:
        console.print(f"folder {escape(str(folder))}", soft_wrap=True)
    table = Table("interface", "event")
    table.add_column("schema", overflow="fold")  # a location must be read whole, never cut short
    problems: list[str] = []
    files: set[str] = set()
    for event in load_catalogue().events():
        location = schema_location(pack, event.interface_id, event.name)
        prefix, sep, component = location.partition("#/components/schemas/")
        if sep:  # Elexon's layout: one file holds every event's schema; name the file once below
            files.add(prefix + sep)
            location = component
        table.add_row(event.interface_id, escape(event.code), escape(location))
        if args.check:
            for form in ("ingress", "egress"):
                try:
                    pack.message_validator(event.interface_id, event.name, form)
                except DipcertError as exc:
                    problems.append(f"{event.key} ({form}): {exc}")
    console.print(table)
    for prefix in sorted(files):
        console.print(f"schema names are components in {escape(prefix)}<name>", soft_wrap=True)
    if not args.check:
        return 0
    if hasattr(pack, "check_all_refs"):
        problems.extend(f"unresolved $ref {ref}" for ref in pack.check_all_refs())
    for problem in problems:
        console.print(f"[red]problem[/red] {escape(problem)}", soft_wrap=True)
    if problems:
        console.print(f"[bold red]CHECK FAILED[/bold red]: {len(problems)} problem(s)")
        return 1
    console.print("[bold green]CHECK PASSED[/bold green]: every validator compiles and every reference resolves")
    return 0
