"""Benchmark: how long `dipcert demo` takes, against the one-minute budget of issue #4, and where the time goes.

Run `python bench/demo.py [--repeat N] [--timeout S]` from the repository. Not part of the test run.
Everything is measured in one process: the ratio column is the demo's wall time over the 60 s budget
(below 1.0 is within budget), and the phase table splits one run's time by kind of requirement,
read from the evidence log's own timestamps.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.run.demo import run_demo

BUDGET = 60.0


def phases(folder: Path) -> dict[str, float]:
    """Seconds per requirement kind (preflight, consume, produce, exchange) and for opening/closing."""
    records = [json.loads(line) for line in (folder / "evidence.jsonl").read_text("utf-8").splitlines()]
    stamp = [datetime.fromisoformat(r["time"].replace("Z", "+00:00")) for r in records]
    out: dict[str, float] = defaultdict(float)
    starts = [(i, r["data"]["requirement"]) for i, r in enumerate(records)
              if r["kind"] == "event" and r.get("event") == "requirement-start"]
    if starts:
        out["open (hub, partner, plan)"] = (stamp[starts[0][0]] - stamp[0]).total_seconds()
    for (i, rid), nxt in zip(starts, [s[0] for s in starts[1:]] + [len(records) - 1]):
        kind = "exchange" if "/exchange/" in rid else rid.split("/")[-1] if rid.count("/") == 2 else rid.split("/")[2]
        kind = kind if kind in ("consume", "produce", "exchange") else "preflight" if "preflight" in rid else kind
        out[kind] += (stamp[nxt] - stamp[i]).total_seconds()
    return dict(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="demo runs to time (best is reported)")
    parser.add_argument("--timeout", type=float, default=5.0, help="the demo's bound for every wait")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    console = Console()
    times, last = [], None
    for _ in range(args.repeat):
        out = Path(tempfile.mkdtemp(prefix="dipcert-bench-"))
        start = time.perf_counter()
        results = run_demo(out, timeout=args.timeout)
        times.append(time.perf_counter() - start)
        assert all(r.ready for r in results), "the demo should pass"
        if last is not None:
            shutil.rmtree(last, ignore_errors=True)
        last = out
    best = min(times)
    table = Table(title="dipcert demo (both reference participants, two bundles)")
    for column in ("runs", "best s", "worst s", "budget s", "best / budget"):
        table.add_column(column, justify="right")
    table.add_row(str(len(times)), f"{best:.1f}", f"{max(times):.1f}", f"{BUDGET:.0f}", f"{best / BUDGET:.2f}")
    console.print(table)
    assert last is not None
    split = Table(title="where one run's time goes (MDR bundle, from its evidence timestamps)")
    split.add_column("phase")
    split.add_column("seconds", justify="right")
    mdr = next(p for p in sorted(last.iterdir()) if p.is_dir() and "-MDR-" in p.name)
    for name, seconds in sorted(phases(mdr).items(), key=lambda kv: -kv[1]):
        split.add_row(name, f"{seconds:.2f}")
    console.print(split)
    shutil.rmtree(last, ignore_errors=True)


if __name__ == "__main__":
    main()
