"""The live view of a run in the terminal: a progress bar over the enabled requirements and one line
per requirement as it finishes, so a test lead watching a UIT session sees failures as they happen."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from harness.plan.requirements import Requirement

COLOURS = {"pass": "green", "fail": "bold red", "not-run": "yellow"}


class RunProgress:
    """Callbacks for `CertificationRun.execute` drawing on a rich console."""

    def __init__(self, console: Any, total: int, label: str) -> None:
        self.console = console
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.fields[current]}"), console=console,
                                 transient=True)
        self.task = self.progress.add_task(label, total=total, current="")

    def on_start(self, req: Requirement) -> None:
        self.progress.update(self.task, current=req.id)

    def on_requirement(self, req: Requirement, verdict: str) -> None:
        self.progress.console.print(f"  [{COLOURS.get(verdict, 'white')}]{verdict:8}[/] {escape(req.id)}")
        self.progress.advance(self.task)

    def countdown(self, seconds: float) -> None:
        self.progress.update(self.task, current=f"waiting for the operator: {seconds:.0f} s left")

    def inform(self, line: str) -> None:
        self.progress.console.print(escape(line))

    def announce(self, line: str) -> None:
        self.progress.console.print(f"[bold yellow]{escape(line)}[/]")


@contextmanager
def progress_for(console: Any, plan: list[Requirement], label: str) -> Iterator[RunProgress]:
    total = sum(1 for r in plan if r.enabled and r.kind != "reuse")
    view = RunProgress(console, total, label)
    with view.progress:
        yield view
