"""`dipcert interfaces`: the interface catalogue as a table.

It shows, per interface, who sends to whom, which way each flow runs for an MDR and an SDS, whether
R0 is required, and which rows rest on an assumption (listed under the table), so a participant
can see at a glance what certification will ask of its role and what a reviewer may challenge.
"""

from __future__ import annotations

import argparse
from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.core.catalogue import Interface

HELP = "Show the interface catalogue: events, sender and receivers, direction for MDR and SDS, R0, assumptions."

ROLES = ("MDR", "SDS")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--role", type=str.upper, help="only interfaces this role sends or receives (MDR or SDS)")


def direction_label(directions: Collection[str]) -> str:
    if directions == {"incoming", "outgoing"}:
        return "in + out"
    if directions == {"incoming"}:
        return "in"
    if directions == {"outgoing"}:
        return "out"
    return "-"


def flows(interface: Interface) -> str:
    """`SDS → MDR`; events whose route differs from the rest are named."""
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for event in interface.events:
        groups.setdefault((event.sender, event.receivers), []).append(event.name)
    lines = []
    for (sender, receivers), names in groups.items():
        route = f"{sender} → {', '.join(receivers)}"
        lines.append(route if len(groups) == 1 else f"{route} ({', '.join(names)})")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from harness.commands.console import make_console
    from harness.core.catalogue import load_catalogue
    from harness.core.errors import UsageError

    if args.role is not None and args.role not in ROLES:
        raise UsageError(f"--role should be one of {', '.join(ROLES)}, got {args.role!r}")
    catalogue = load_catalogue()
    roles = (args.role,) if args.role else ROLES
    table = Table(title=f"DIP interfaces (schema version {catalogue.schema_version})", show_lines=True)
    for column in ("id", "name", "category", "events", "sender → receivers"):
        table.add_column(column, overflow="fold")
    for role in roles:
        table.add_column(role)
    table.add_column("R0")
    table.add_column("assumptions", overflow="fold")
    used: list[str] = []
    for interface in catalogue.interfaces.values():
        if args.role and not interface.directions_for(args.role):
            continue
        marks = sorted({e.assumption for e in interface.events if e.assumption})
        used.extend(m for m in marks if m not in used)
        table.add_row(interface.id, interface.name, interface.category,
                      ", ".join(e.name for e in interface.events), flows(interface),
                      *(direction_label(interface.directions_for(r)) for r in roles),
                      "required" if interface.r0_required else "-", ", ".join(marks) or "-")
    console = make_console()
    console.width = max(140, console.width)
    console.print(table)
    for key in used:
        console.print(f"[bold]{key}[/bold]: {catalogue.assumptions[key].text}", soft_wrap=True)
    return 0
