"""The end-of-run summary in the terminal: what did not pass, the counts, and whether the bundle is ready.

The live view has already shown every requirement as it finished, so the summary lists only what
needs attention (failed or not run) with its first finding, then one line of counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

COLOURS = {"pass": "green", "fail": "red", "not-run": "yellow", "reused": "blue", "not-enabled": "dim"}
ORDER = ("pass", "reused", "fail", "not-run", "not-enabled")
ATTENTION = ("fail", "not-run")


def terminal_summary(summary: Mapping[str, Any], console: Any, *, bundle: Path | str | None = None) -> None:
    """A table of the requirements that failed or did not run, the counts, and the ready / not-ready line."""
    entries = list(summary["requirements"])
    attention = [e for e in entries if e["verdict"] in ATTENTION]
    if attention:
        table = Table(title=f"dipcert run {summary['run_id']}: what did not pass", show_lines=False, expand=False)
        table.add_column("Requirement", overflow="fold")
        table.add_column("Verdict", no_wrap=True)
        table.add_column("First finding", overflow="fold")
        for entry in attention:
            verdict = entry["verdict"]
            text = f"[{COLOURS.get(verdict, 'white')}]{verdict}[/]"
            if entry.get("provisional"):
                text += " [yellow](provisional)[/]"
            if entry.get("advisory"):
                text += " [yellow](advisory)[/]"
            first = next((f for f in entry["findings"] if f.get("severity", "error") == "error"), None)
            finding = escape(f"{first.get('rule')}: {first.get('message')}") if first else ""
            table.add_row(escape(entry["id"]), text, finding)
        console.print(table)
    counts = Counter(e["verdict"] for e in entries)
    provisional = sum(1 for e in entries if e.get("provisional") and e["verdict"] != "not-enabled")
    parts = [f"[{COLOURS[v]}]{v} {counts[v]}[/]" for v in ORDER if counts.get(v)]
    line = f"{summary['run_id']}: " + " · ".join(parts)
    if provisional:
        line += f" ({provisional} provisional: resting on an assumption, see the report)"
    console.print(line)
    grade = summary.get("grade")
    if isinstance(grade, Mapping) and grade.get("level") != "certification":
        why = ["reference partner"] if grade.get("level") == "rehearsal" else []
        why.append("simulated DIP")
        console.print(f"[yellow]evidence grade: {escape(str(grade.get('level')).upper())}[/]: not certification "
                      f"evidence ({', '.join(why)}; see the report)")
    if summary.get("selection"):
        console.print(f"partial run (--only {escape(' '.join(summary['selection']['only']))}): the bundle is not ready")
    where = f" ({escape(str(bundle))})" if bundle is not None else ""
    advisories = summary.get("advisories") or []
    if summary["ready"]:
        console.print(f"[bold green]READY[/]: every enabled requirement passed or was reused"
                      f"{' (except advisory ones)' if advisories else ''}{where}")
    else:
        blockers = summary["blockers"]
        console.print(f"[bold red]NOT READY[/]: {len(blockers)} blocker(s); not a certification package{where}")
        for blocker in blockers:
            console.print(f"  [red]-[/] {escape(str(blocker['message']))}")
    if advisories:
        console.print(f"[yellow]{len(advisories)} advisory requirement(s) did not pass[/] (not blocking readiness):")
        for advisory in advisories:
            console.print(f"  [yellow]-[/] {escape(str(advisory['message']))}")
