"""Blockers (and advisories) grouped by root cause: the finding rule that failed.

Why: one fault spreads wide. A participant sending 47 half-hour periods fails the IF-064 produce
requirement and every exchange that carries consumption; accepting a bad MPAN fails every consume
requirement. Listed one per requirement, that reads as twenty problems; grouped by the rule that
failed, it reads as the one it is, with its first finding spelt out and every requirement it blocks
linked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

NOT_RUN = "not-run"
INCOMPLETE = "run.incomplete"


@dataclass
class Cause:
    """One root cause: a rule, the requirements it blocks, its first finding and how many it made."""

    rule: str
    verdict: str | None  # "fail", "not-run", or None for the incomplete run
    requirements: list[str] = field(default_factory=list)
    findings: int = 0
    first: Mapping[str, Any] | None = None  # the first finding with this rule
    first_requirement: str | None = None
    assumptions: list[str] = field(default_factory=list)  # what every finding of the group rests on
    provisional: bool = False
    message: str | None = None  # for causes without a finding (did not run, incomplete)


def root_causes(items: Sequence[Mapping[str, Any]], entries: Mapping[str, Mapping[str, Any]],
                failed_rules: Callable[[str], list[str]]) -> list[Cause]:
    """Groups summary.json's `blockers` (or `advisories`) by root cause, most requirements first.

    A failed requirement joins one group per distinct error rule among its findings (a requirement
    failing two rules is listed under both); one whose failed checks recorded no finding joins the
    group of those checks' rules (`failed_rules`); what did not run is one group.
    """
    causes: dict[str, Cause] = {}
    assumed: dict[str, list[set[str]]] = {}

    def cause(rule: str, verdict: str | None) -> Cause:
        return causes.setdefault(rule, Cause(rule, verdict))

    for item in items:
        rid, verdict = item.get("requirement"), item.get("verdict")
        if not isinstance(rid, str):
            c = cause(INCOMPLETE, None)
            c.message = str(item.get("message") or "the run did not complete")
            continue
        entry = entries.get(rid) or {}
        if verdict != "fail":
            cause(NOT_RUN, verdict).requirements.append(rid)
            continue
        errors = [f for f in entry.get("findings") or () if isinstance(f, Mapping)
                  and f.get("severity", "error") == "error"]
        rules = list(dict.fromkeys(str(f.get("rule")) for f in errors)) or failed_rules(rid) or ["check.failed"]
        for rule in rules:
            c = cause(rule, "fail")
            if rid not in c.requirements:
                c.requirements.append(rid)
            mine = [f for f in errors if str(f.get("rule")) == rule]
            c.findings += len(mine)
            if mine and c.first is None:
                c.first, c.first_requirement = mine[0], rid
            for f in mine:
                extra = got if isinstance(got := f.get("extra"), Mapping) else {}
                rests = extra.get("assumption")
                assumed.setdefault(rule, []).append({str(rests)} if rests else set())
            if not mine:  # no finding to rest on: the requirement's own assumptions decide
                assumed.setdefault(rule, []).append({str(a) for a in entry.get("assumptions") or ()})
    for rule, sets in assumed.items():
        if sets and all(sets):
            causes[rule].provisional = True
            causes[rule].assumptions = sorted(set().union(*sets))
    first_seen = list(causes)
    return sorted(causes.values(), key=lambda c: (c.rule != INCOMPLETE, c.rule == NOT_RUN, -len(c.requirements),
                                                  first_seen.index(c.rule)))
