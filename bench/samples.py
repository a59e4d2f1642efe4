"""Benchmark: samples generated and validated per second, cached validator vs one built each time.

Run `python bench/samples.py` from the repository. Not part of the test run. All measurements
happen in one process, so the ratio column compares like with like on the same machine.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from jsonschema import Draft202012Validator
from provenance import measured
from rich.console import Console
from rich.table import Table

from harness.messages.samples import SampleFactory
from harness.messages.schemapack import BundledPack, bundled_pack
from harness.messages.validate import schema_findings

CASES = (  # (label, interface, event, settlement days, messages per measurement)
    ("IF-064 (200 days)", "IF-064", "MDRConsumption", 200, 2),
    ("IF-061", "IF-061", "MDRStart", 1, 300),
)


def rate(work: Callable[[int], None], count: int) -> float:
    """Messages per second for `count` calls of `work` (best of three, after one warm-up call)."""
    work(0)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for i in range(count):
            work(i)
        best = min(best, time.perf_counter() - start)
    return count / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the message counts")
    args = parser.parse_args()
    pack = bundled_pack()
    table = Table(title=f"dipcert samples: generate + validate ({pack.name} {pack.version})")
    for column in ("message", "generate only /s", "cached validator /s", "fresh validator /s",
                   "fresh pack /s", "cached ÷ fresh validator", "cached ÷ fresh pack"):
        table.add_column(column, justify="right" if column != "message" else "left")
    for label, interface_id, event, days, count in CASES:
        count = max(1, int(count * args.scale))
        factory = SampleFactory(1)
        schema = pack.event_schema(interface_id, event)

        def generate(_: int) -> None:
            factory.message(interface_id, event, days=days)

        def with_cached(_: int) -> None:
            item = factory.message(interface_id, event, days=days)
            assert not schema_findings(pack.message_validator(interface_id, event), item)

        def with_fresh_validator(_: int) -> None:
            item = factory.message(interface_id, event, days=days)
            assert not schema_findings(Draft202012Validator(schema, registry=pack.registry), item)

        def with_fresh_pack(_: int) -> None:
            item = factory.message(interface_id, event, days=days)
            assert not schema_findings(BundledPack().message_validator(interface_id, event), item)

        gen, hot = rate(generate, count), rate(with_cached, count)
        cold, colder = rate(with_fresh_validator, count), rate(with_fresh_pack, count)
        table.add_row(label, f"{gen:,.1f}", f"{hot:,.1f}", f"{cold:,.1f}", f"{colder:,.1f}",
                      f"{hot / cold:.2f}×", f"{hot / colder:.2f}×")
    Console(width=140).print(table)
    print("cached: pack.message_validator(...), compiled once and reused. fresh validator: a new "
          "Draft202012Validator over the same schema and registry per message. fresh pack: the pack's "
          "files read, parsed and crawled again, then a validator, per message. Rates include generation.")
    print(measured())


if __name__ == "__main__":
    main()
