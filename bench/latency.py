"""Benchmark (issue 14): a run against a slow webhook takes at most 3x the same run against an instant one.

Run `python bench/latency.py [--role MDR|SDS] [--delay 3] [--timeout 10]` from the repository. Not part
of the test run. In one process it certifies the same reference participant twice, each time with a
fresh simulated DIP and partner: once with webhooks that answer at once, once with webhooks that
answer every delivery only after `--delay` seconds (a correct but slow system; `timeout` must exceed
the delay), both with the `[harness] parallel` a real profile gets by default (the demo runs one
requirement at a time). Both runs must be ready. It prints both wall times and their ratio, which issue 14 wants
at most 3: requirements that only deliver to webhooks (consume, reject) run concurrently, beside the
lane that triggers the participant (produce, then exchanges), instead of one after another.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from pathlib import Path

from provenance import measured
from rich.console import Console
from rich.table import Table

from harness.config.profile import HarnessSettings
from harness.run.demo import make_pki, run_party

TARGET = 3.0


def timed(role: str, delay: float, timeout: float, parallel: int) -> tuple[float, bool, int]:
    """(seconds, ready, number of requirements run) of one certification of the reference `role`."""
    work = Path(tempfile.mkdtemp(prefix="dipcert-latency-"))
    try:
        pki = make_pki(work / "pki")
        started = time.perf_counter()
        result = run_party(role, pki, work / "out", timeout=timeout, webhook_delay=delay, parallel=parallel)
        elapsed = time.perf_counter() - started
        ran = sum(1 for r in result.summary["requirements"] if r["verdict"] in ("pass", "fail"))
        return elapsed, result.ready, ran
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", default="MDR", choices=["MDR", "SDS"])
    parser.add_argument("--delay", type=float, default=3.0, help="seconds every webhook answer takes")
    parser.add_argument("--timeout", type=float, default=10.0, help="the run's bound for every wait")
    parser.add_argument("--parallel", type=int, default=HarnessSettings.parallel,
                        help="[harness] parallel of the profile (default: a real profile's default)")
    args = parser.parse_args()
    if args.timeout <= args.delay:
        parser.error("--timeout must be longer than --delay (a slow webhook is not a failing one)")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    timed(args.role, 0.0, args.timeout, args.parallel)  # warm-up: imports, keys, schema caches
    instant, ready_a, ran_a = timed(args.role, 0.0, args.timeout, args.parallel)
    slow, ready_b, ran_b = timed(args.role, args.delay, args.timeout, args.parallel)
    table = Table(title=f"dipcert run of the reference {args.role} (parallel = {args.parallel}): "
                        f"instant vs {args.delay:g} s webhooks")
    for column in ("webhook", "requirements run", "ready", "seconds"):
        table.add_column(column, justify="right")
    table.add_row("instant", str(ran_a), str(ready_a), f"{instant:.1f}")
    table.add_row(f"{args.delay:g} s per answer", str(ran_b), str(ready_b), f"{slow:.1f}")
    console = Console()
    console.print(table)
    ratio = slow / instant
    console.print(f"ratio slow / instant: {ratio:.2f} (target at most {TARGET:g})")
    console.print(measured())
    if not (ready_a and ready_b):
        raise SystemExit("a run was not ready: the comparison is void")


if __name__ == "__main__":
    main()
