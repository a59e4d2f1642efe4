"""The judges' registry: every judge under the name check records cite, and how a verdict is read.

Kept apart from the package's `__init__` so that the judge modules, which register themselves here
on import, never import the package they are part of (that was a cycle).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from harness.core.findings import Finding
from harness.judges.records import RecordSet

Judge = Callable[[RecordSet, Mapping[str, Any]], list[Finding]]
JUDGES: dict[str, Judge] = {}


def judge(name: str) -> Callable[[Judge], Judge]:
    """Register a judge under the name check records cite.

    Call it, `judge("consume.accepted")(judge_accepted)` at the bottom of the judge module, rather than
    use it as a decorator: mutmut never mutates a decorated function (bench/mutation.py).
    """
    def register(fn: Judge) -> Judge:
        if name in JUDGES:
            raise ValueError(f"judge {name!r} registered twice")
        JUDGES[name] = fn
        return fn
    return register


class UnknownJudge(KeyError):
    """A check names a judge this dipcert does not have."""


def apply(name: str, records: RecordSet, args: Mapping[str, Any]) -> list[Finding]:
    """The findings of judge `name` on `records` with `args`."""
    fn = JUDGES.get(name)
    if fn is None:
        raise UnknownJudge(name)
    return fn(records, args)


def verdict(findings: list[Finding] | list[Mapping[str, Any]]) -> tuple[bool, frozenset[str]]:
    """(passed, the rules of the error findings): what verify compares between run and re-judgement."""
    rules = set()
    for f in findings:
        severity = f.severity if isinstance(f, Finding) else f.get("severity", "error")
        rule = f.rule if isinstance(f, Finding) else f.get("rule")
        if severity == "error":
            rules.add(str(rule))
    return not rules, frozenset(rules)
