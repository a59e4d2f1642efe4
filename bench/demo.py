"""Benchmark: how long `dipcert demo` takes, against its 8-second budget (issue 16), and where the time goes.

Run `python bench/demo.py [--repeat N] [--timeout S]` from the repository. Not part of the test run.
Everything is measured in one process: the ratio column is the demo's wall time over the 8 s budget
(below 1.0 is within budget), and the phase table splits one run's time by kind of requirement,
read from the evidence log's own timestamps.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from provenance import measured
from rich.console import Console
from rich.table import Table

from harness.run.demo import run_demo

BUDGET = 8.0  # seconds (issue 16; issue 4 set one minute)


def phases(folder: Path) -> dict[str, float]:
    """Seconds per requirement kind (preflight, consume, produce, exchange) and for opening/closing.

    Requirements run concurrently (the demo's `[harness] parallel`): a kind's seconds are the wall time
    during which at least one requirement of that kind ran (overlaps counted once), so kinds that ran
    side by side both count that time and the rows add up to more than the run."""
    records = [json.loads(line) for line in (folder / "evidence.jsonl").read_text("utf-8").splitlines()]
    stamp = [datetime.fromisoformat(r["time"].replace("Z", "+00:00")) for r in records]
    started: dict[str, datetime] = {}
    spans: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for i, r in enumerate(records):
        if r["kind"] != "event" or r.get("event") not in ("requirement-start", "requirement-end"):
            continue
        rid = r["data"]["requirement"]
        if r["event"] == "requirement-start":
            started[rid] = stamp[i]
        elif rid in started:
            spans[kind_of(rid)].append((started[rid], stamp[i]))
    out: dict[str, float] = {kind: covered(intervals) for kind, intervals in spans.items()}
    if started:
        out["open (hub, partner, plan)"] = (min(started.values()) - stamp[0]).total_seconds()
    ends = [end for intervals in spans.values() for _, end in intervals]
    out["close (until the log's last record)"] = (stamp[-1] - max(ends, default=stamp[-1])).total_seconds()
    return out


def covered(intervals: list[tuple[datetime, datetime]]) -> float:
    """Seconds covered by at least one of `intervals`."""
    total, reach = 0.0, None
    for start, end in sorted(intervals):
        if reach is None or start > reach:
            total += (end - start).total_seconds()
            reach = end
        elif end > reach:
            total += (end - reach).total_seconds()
            reach = end
    return total


def kind_of(rid: str) -> str:
    """preflight, consume, produce, exchange or reject from a requirement id (MDR-5.2a/IF-065/consume/MDRTOU,
    MDR-5.3/exchange/stop...); else its last part (MDR-5.2b/declared-flows)."""
    parts = rid.split("/")
    for kind in ("exchange", "preflight", "consume", "produce", "reject"):
        if any(part.startswith(kind) for part in parts):
            return kind
    return parts[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="demo runs to time (best is reported)")
    parser.add_argument("--timeout", type=float, default=5.0, help="the demo's bound for every wait")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    console = Console(width=120)
    times, cpu, last = [], [], None
    for _ in range(args.repeat):
        out = Path(tempfile.mkdtemp(prefix="dipcert-bench-"))
        start, spent = time.perf_counter(), time.process_time()
        results = run_demo(out, timeout=args.timeout)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - spent)
        assert all(r.ready for r in results), "the demo should pass"
        if last is not None:
            shutil.rmtree(last, ignore_errors=True)
        last = out
    best = min(times)
    table = Table(title="dipcert demo (both reference participants, two bundles)")
    for column in ("runs", "best s", "median s", "worst s", "CPU s (best run)", "budget s", "best / budget", "goal"):
        table.add_column(column, justify="right")
    table.add_row(str(len(times)), f"{best:.1f}", f"{statistics.median(times):.1f}", f"{max(times):.1f}",
                  f"{cpu[times.index(best)]:.1f}", f"{BUDGET:.0f}", f"{best / BUDGET:.2f}",
                  "met" if best < BUDGET else "NOT met")
    console.print(table)
    console.print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall time grows with "
                  "the machine's load; CPU s is this process's own work)")
    assert last is not None
    split = Table(title="where one run's time goes (MDR bundle, from its evidence timestamps; kinds that ran "
                        "at once overlap)")
    split.add_column("phase")
    split.add_column("seconds", justify="right")
    mdr = next(p for p in sorted(last.iterdir()) if p.is_dir() and "-MDR-" in p.name)
    for name, seconds in sorted(phases(mdr).items(), key=lambda kv: -kv[1]):
        split.add_row(name, f"{seconds:.2f}")
    console.print(split)
    console.print(measured())
    shutil.rmtree(last, ignore_errors=True)


if __name__ == "__main__":
    main()
