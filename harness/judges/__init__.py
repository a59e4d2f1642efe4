"""Judges: every consume, produce and exchange verdict as a pure function of DIP transcript records.

A judge takes the transcript records a check cites (a `RecordSet`: the records named by seq, and
every record of a scanned range when the check judges an absence) and the check's recorded
arguments (`judge_args`: the expected code, the profile's identity, the day it ran...), and returns
the findings. The run calls a judge on the records it has just read from the DIP; `dipcert verify`
calls the SAME judge on the DIP-signed `dip/transcript.jsonl` and compares (passed, error rules).
So a judge reads nothing else: no clock, no profile file, no network, no harness state.

Every check record names its judge (`judge`), its arguments (`judge_args`), the transcript seqs it
rests on (`transcript`) and, for an absence, the seq range it scanned (`transcript_scan`). A check
the DIP's transcript cannot show (a trigger that failed, a timeout the harness waited out) names no
judge: verify reports it as not transcript-backed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from harness.core.findings import Finding
from harness.judges.records import RecordSet, TranscriptRecord

Judge = Callable[[RecordSet, Mapping[str, Any]], list[Finding]]
JUDGES: dict[str, Judge] = {}


def judge(name: str) -> Callable[[Judge], Judge]:
    """Register a judge under the name check records cite."""
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


# The judges register themselves on import (kept last: they import this module's `judge`).
from harness.judges import consume as _consume  # noqa: E402,F401
from harness.judges import exchange as _exchange  # noqa: E402,F401
from harness.judges import produce as _produce  # noqa: E402,F401

# -- public face (what other layers use; tests/test_architecture.py keeps it complete) --
# (after the package's own definitions above: its modules import them)
from harness.judges.consume import acknowledged, errors_in  # noqa: E402
from harness.judges.delivery import delivery_result  # noqa: E402
from harness.judges.exchange import CONSUMPTION_RULES, REPLIES, unwanted  # noqa: E402
from harness.judges.produce import identity_of, produce_rules  # noqa: E402

__all__ = [
    "CONSUMPTION_RULES", "REPLIES", "RecordSet", "TranscriptRecord", "UnknownJudge", "acknowledged", "apply",
    "delivery_result", "errors_in", "identity_of", "produce_rules", "unwanted", "verdict",
]
