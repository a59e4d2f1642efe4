"""Benchmark: schema validation of valid messages, dipcert against the fastest Python validators.

Run `python bench/validate.py` from the repository, with the `bench` extra (`pip install -e '.[bench]'`).
Not part of the test run. Every figure comes from this one process on the same messages (one sample
of each of the 24 events, several seeds; and a 200-day IF-064), so the ratios compare like with like:

- reference: jsonschema with the dialect (`schema_findings`), what every message paid before the
  compiled verdict;
- dipcert: `validate_message(..., extra_checks=False)`: S0 identification, the compiled verdict,
  the reference path only for what fails (nothing here: every message is valid);
- jsonschema-rs and fastjsonschema: the same schema compiled, `is_valid` / validate and nothing else.
  fastjsonschema runs Python `re` patterns (not ECMA-262), so it is a speed baseline, not a judge.

The goal (issue 16): dipcert within 2x of the fastest of the two baselines.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import fastjsonschema
import jsonschema_rs
from provenance import measured
from rich.console import Console
from rich.table import Table

from harness.core.catalogue import load_catalogue
from harness.messages.dialect import DATE_FORMAT, DATE_TIME_FORMAT, is_date, is_date_time
from harness.messages.samples import SampleFactory
from harness.messages.schemapack import bundled_pack
from harness.messages.validate import schema_findings, validate_message

FORMATS = {DATE_TIME_FORMAT: is_date_time, DATE_FORMAT: is_date}


def seconds(work: Callable[[], None], repeat: int = 3) -> float:
    """Best of `repeat` timings of `work` after one warm-up call."""
    work()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def engines(messages: list[tuple[str, str, dict]]) -> dict[str, Callable[[], None]]:
    """One callable per engine, each validating every message once and insisting it is valid."""
    pack = bundled_pack()
    store = {doc["$id"]: doc for doc in pack.documents.values()}
    registry = jsonschema_rs.Registry(list(store.items()), draft=jsonschema_rs.Draft202012)
    keys = {(iid, event) for iid, event, _ in messages}
    rs = {key: jsonschema_rs.Draft202012Validator(pack.event_schema(*key), registry=registry, formats=FORMATS,
                                                  validate_formats=True) for key in keys}
    fast = {key: fastjsonschema.compile(pack.event_schema(*key), handlers={"https": store.__getitem__},
                                        formats=FORMATS) for key in keys}

    def reference() -> None:
        for iid, event, item in messages:
            assert not schema_findings(pack.message_validator(iid, event), item)

    def dipcert() -> None:
        for _, _, item in messages:
            assert not validate_message(item, extra_checks=False)

    def with_rs() -> None:
        for iid, event, item in messages:
            assert rs[iid, event].is_valid(item)

    def with_fastjsonschema() -> None:
        for iid, event, item in messages:
            fast[iid, event](item)

    return {"reference (jsonschema)": reference, "dipcert": dipcert, "jsonschema-rs": with_rs,
            "fastjsonschema": with_fastjsonschema}


def corpus(seeds: int) -> list[tuple[str, str, dict]]:
    """One sample of every catalogued event per seed."""
    found = []
    for seed in range(seeds):
        factory = SampleFactory(seed)
        for event in load_catalogue().events():
            found.append((event.interface_id, event.name, factory.message(event.interface_id, event.name)))
    return found


def measure(label: str, messages: list[tuple[str, str, Any]], table: Table, repeat: int) -> None:
    timings = {name: seconds(work, repeat) for name, work in engines(messages).items()}
    floor = min(timings["jsonschema-rs"], timings["fastjsonschema"])
    for name, spent in timings.items():
        table.add_row(label, name, f"{len(messages) / spent:,.0f}", f"{spent * 1000 / len(messages):.3f}",
                      f"{spent / floor:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="samples of each event (default 20)")
    parser.add_argument("--repeat", type=int, default=3, help="timings per figure, best kept (default 3)")
    args = parser.parse_args()
    table = Table(title="dipcert: validating valid messages (one process, same messages)")
    for column in ("messages", "engine", "messages/s", "ms/message", "time ÷ fastest baseline"):
        table.add_column(column, justify="left" if column in ("messages", "engine") else "right")
    every = corpus(args.seeds)
    measure(f"24 events x {args.seeds}", every, table, args.repeat)
    big = SampleFactory(1).message("IF-064", "MDRConsumption", days=200)
    measure("IF-064, 200 days", [("IF-064", "MDRConsumption", big)], table, args.repeat)
    Console().print(table)
    print(measured())


if __name__ == "__main__":
    main()
