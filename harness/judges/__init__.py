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

# The judges register themselves (in `registry`) on import.
from harness.judges import consume as _consume  # noqa: F401
from harness.judges import exchange as _exchange  # noqa: F401
from harness.judges import produce as _produce  # noqa: F401

# -- public face (what other layers use; tests/test_architecture.py keeps it complete) --
from harness.judges.consume import acknowledged, errors_in
from harness.judges.delivery import delivery_result
from harness.judges.exchange import CONSUMPTION_RULES, REPLIES, unwanted
from harness.judges.produce import identity_of, produce_rules
from harness.judges.records import RecordSet, TranscriptRecord
from harness.judges.registry import JUDGES, Judge, UnknownJudge, apply, judge, verdict

__all__ = [
    "CONSUMPTION_RULES", "JUDGES", "Judge", "REPLIES", "RecordSet", "TranscriptRecord", "UnknownJudge",
    "acknowledged", "apply", "delivery_result", "errors_in", "identity_of", "judge", "produce_rules", "unwanted",
    "verdict",
]
