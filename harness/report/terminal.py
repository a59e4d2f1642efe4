"""The end-of-run summary in the terminal: what passed, what did not, and whether the bundle is ready."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

COLOURS = {"pass": "green", "fail": "red", "not-run": "yellow", "reused": "blue", "not-enabled": "dim"}


def terminal_summary(summary: Mapping[str, Any], console: Any, *, bundle: Path | str | None = None) -> None:
    """Prints a table (requirement, verdict, first finding) and the ready / not-ready line."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"dipcert run {summary['run_id']}", show_lines=False, expand=False)
    table.add_column("Requirement", overflow="fold")
    table.add_column("Verdict", no_wrap=True)
    table.add_column("First finding", overflow="fold")
    for entry in summary["requirements"]:
        verdict = entry["verdict"]
        text = f"[{COLOURS.get(verdict, 'white')}]{verdict}[/]"
        if entry.get("provisional"):
            text += " [yellow](provisional)[/]"
        first = next((f for f in entry["findings"] if f.get("severity", "error") == "error"), None)
        finding = escape(f"{first.get('rule')}: {first.get('message')}") if first else ""
        table.add_row(escape(entry["id"]), text, finding)
    console.print(table)
    where = f" ({escape(str(bundle))})" if bundle is not None else ""
    if summary["ready"]:
        console.print(f"[bold green]READY[/]: every enabled requirement passed or was reused{where}")
    else:
        blockers = summary["blockers"]
        console.print(f"[bold red]NOT READY[/]: {len(blockers)} blocker(s); not a certification package{where}")
        for blocker in blockers:
            console.print(f"  [red]-[/] {escape(str(blocker['message']))}")
