"""The two vocabularies every layer shares: a requirement's verdict and the process's exit code.

Named once here so that a typo ("passed", exit 3) is an AttributeError, not a silent new value.
`Verdict` is a `StrEnum` and `ExitCode` an `IntEnum`: they compare equal to, and serialise as, the
plain strings and integers that summary.json, evidence.jsonl and shells already carry.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Verdict(StrEnum):
    """A requirement's verdict, as `harness.evidence.verdicts.recompute` derives it from evidence."""

    PASS = "pass"  # at least one check, all passed
    FAIL = "fail"  # at least one check failed
    NOT_ENABLED = "not-enabled"  # the profile does not enable the requirement
    NOT_RUN = "not-run"  # enabled, but no check ran (and nothing reused)
    REUSED = "reused"  # granted by an earlier bundle (guidance 5.4 / 6.4)


class ExitCode(IntEnum):
    """What `dipcert` (and the pytest route, mapped onto it) tells the shell."""

    OK = 0  # every blocking requirement passed
    FAILED = 1  # a requirement failed (or the bundle does not verify)
    USAGE = 2  # bad arguments, profile, certificate or input file: one line on stderr
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
    TERMINATED = 143  # SIGTERM (128 + SIGTERM)
