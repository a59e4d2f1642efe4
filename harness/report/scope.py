"""Which recorded messages belong to a requirement, and how its checks judged each of them.

Why judge per message: a diagram coloured by HTTP status paints a correct rejection red and the
offending 201 black. The page colours a message by what the requirement's checks made of it: a
finding attributed to it (by the finding's evidence seq, the hub's own findings on it, or its JSON
pointer resolving in its body) makes it the offender; a check that cited it and found nothing wrong
makes it judged-correct; anything else recorded for the requirement is context.

A requirement's own traffic: the messages its checks cite, the messages recorded for it
(`context.requirement`), the DIP's relays of those (the `hub.delivery` events name what each
delivery carried), and, for requirements that ran alone (not in the parallel lane), what was
recorded between its start and end events that carries no other requirement's id: the
participant's reactions to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.report.bodies import Bodies, parse_json, pointer_parts, resolve

SIDES = ("request", "response")


@dataclass
class Mark:
    """Where a finding lands: a message, the side of it, and the pointer (resolved) or header."""

    seq: int
    side: str  # "request", "response" or "headers"
    pointer: str  # the deepest existing prefix of the finding's path, or "header:NAME"


@dataclass
class Scope:
    """One requirement's traffic, its judgement of each message, and where its findings land."""

    records: list[Mapping[str, Any]] = field(default_factory=list)
    judgement: dict[int, str] = field(default_factory=dict)  # seq -> "fail" | "pass"; absent: context
    marks: dict[tuple[Any, ...], list[Mark]] = field(default_factory=dict)  # finding_key -> its marks
    found: dict[int, dict[str, set[str]]] = field(default_factory=dict)  # seq -> side -> pointers

    @property
    def seqs(self) -> list[int]:
        return [int(r["seq"]) for r in self.records]

    def marks_for(self, finding: Mapping[str, Any]) -> list[Mark]:
        return self.marks.get(finding_key(finding), [])


def finding_key(finding: Mapping[str, Any]) -> tuple[Any, ...]:
    """Findings are matched by content: summary.json's copies are the check records' findings."""
    return (finding.get("rule"), finding.get("path"), finding.get("message"))


def _context(record: Mapping[str, Any]) -> Mapping[str, Any]:
    ctx = record.get("context")
    return ctx if isinstance(ctx, Mapping) else {}


def windows(records: Sequence[Mapping[str, Any]]) -> tuple[dict[str, tuple[int, int]], set[str]]:
    """requirement id -> (start seq, end seq), and the requirements that ran in the parallel lane."""
    window: dict[str, tuple[int, int]] = {}
    parallel: set[str] = set()
    for r in records:
        if r.get("kind") == "event" and r.get("event") in ("requirement-start", "requirement-end"):
            data = got if isinstance(got := r.get("data"), Mapping) else {}
            rid = str(data.get("requirement"))
            if data.get("lane") == "parallel":  # issue 14: consume, reject and smoke run concurrently
                parallel.add(rid)
            seq = int(r.get("seq") or 0)
            lo, hi = window.get(rid, (seq, seq))
            window[rid] = (min(lo, seq), max(hi, seq))
    return window, parallel


def relays(records: Sequence[Mapping[str, Any]]) -> dict[int, list[int]]:
    """hub-inbound seq -> the delivery seqs that delivered what it submitted (by transaction id)."""
    delivered: dict[str, list[int]] = {}
    for r in records:
        if r.get("kind") == "event" and r.get("event") == "hub.delivery" and isinstance(r.get("data"), Mapping):
            data = r["data"]
            seqs = [s for s in data.get("seqs") or () if isinstance(s, int)]
            for tid in data.get("transaction_ids") or ():
                if isinstance(tid, str):
                    delivered.setdefault(tid, []).extend(seqs)
        elif r.get("kind") == "http" and r.get("channel") in ("hub-outbound", "webhook-delivery") \
                and "transcript_seq" in _context(r):  # a DIP's delivery record, mirrored (issue 15)
            for tid in _context(r).get("transaction_ids") or ():
                if isinstance(tid, str):
                    delivered.setdefault(tid, []).append(int(r["seq"]))
    out: dict[int, list[int]] = {}
    for r in records:
        if r.get("kind") == "http" and r.get("channel") == "hub-inbound":
            tids = _context(r).get("transaction_ids") or ()
            found = sorted({s for t in tids if isinstance(t, str) for s in delivered.get(t, ())})
            if found:
                out[int(r["seq"])] = found
    return out


def build_scopes(records: Sequence[Mapping[str, Any]], order: Sequence[str],
                 cited: Mapping[str, Sequence[int]], bodies: Bodies) -> dict[str, Scope]:
    """Each requirement's Scope; `cited` is summary.json's `evidence` per requirement."""
    by_seq = {r.get("seq"): r for r in records if isinstance(r.get("seq"), int)}
    http = [r for r in records if r.get("kind") == "http" and isinstance(r.get("seq"), int)]
    window, parallel = windows(records)
    relayed = relays(records)
    checks: dict[str, list[Mapping[str, Any]]] = {}
    for r in records:
        if r.get("kind") == "check" and isinstance(r.get("requirement"), str):
            checks.setdefault(r["requirement"], []).append(r)
    scopes: dict[str, Scope] = {}
    for rid in order:
        seqs = {s for s in cited.get(rid, ()) if isinstance(s, int)}
        seqs.update(int(r["seq"]) for r in http if _context(r).get("requirement") == rid)
        if rid in window and rid not in parallel:
            lo, hi = window[rid]
            seqs.update(int(r["seq"]) for r in http
                        if lo < r["seq"] < hi and _context(r).get("requirement") in (None, rid))
        for seq in list(seqs):
            seqs.update(relayed.get(seq, ()))
        scope = Scope(records=[by_seq[s] for s in sorted(seqs) if by_seq.get(s, {}).get("kind") == "http"])
        _judge(scope, checks.get(rid, []), by_seq, bodies)
        scopes[rid] = scope
    return scopes


def _judge(scope: Scope, checks: Sequence[Mapping[str, Any]], by_seq: Mapping[Any, Mapping[str, Any]],
           bodies: Bodies) -> None:
    """Fills the scope's judgement and finding marks from the requirement's check records."""
    failed: set[int] = set()
    judged: set[int] = set()
    for check in checks:
        cited = [by_seq[s] for s in check.get("messages") or () if by_seq.get(s, {}).get("kind") == "http"]
        judged.update(int(r["seq"]) for r in cited)
        findings = [f for f in check.get("findings") or () if isinstance(f, Mapping)]
        pinned = False
        for finding in findings:
            marks = attribute(finding, cited, bodies)
            known = scope.marks.setdefault(finding_key(finding), [])
            known.extend(m for m in marks if m not in known)
            for mark in marks:
                scope.found.setdefault(mark.seq, {}).setdefault(mark.side, set()).add(mark.pointer)
                if finding.get("severity", "error") == "error" and check.get("passed") is not True:
                    failed.add(mark.seq)
                    pinned = True
        if check.get("passed") is not True and not pinned:
            # a failed check whose findings name no message: what it judged (but the trigger) is at fault
            failed.update(int(r["seq"]) for r in cited if r.get("channel") != "trigger")
    for seq in judged:
        scope.judgement[seq] = "fail" if seq in failed else "pass"
    for seq in failed:
        scope.judgement[seq] = "fail"


def attribute(finding: Mapping[str, Any], cited: Sequence[Mapping[str, Any]], bodies: Bodies) -> list[Mark]:
    """The messages (among those its check cited) a finding is about, and where in each."""
    path = got if isinstance(got := finding.get("path"), str) else ""
    extra = got if isinstance(got := finding.get("extra"), Mapping) else {}
    candidates = [r for r in cited if r.get("channel") != "trigger"] or list(cited)
    named = [r for r in cited if r.get("seq") in (extra.get("seq"), extra.get("message"))]
    if not named:  # the hub judged the message itself and recorded the same finding on it
        named = [r for r in candidates if any(isinstance(f, Mapping) and f.get("rule") == finding.get("rule")
                                              and f.get("path") == path for f in _context(r).get("findings") or ())]
    if path.lower().startswith("header:"):
        chosen = named or (candidates if len(candidates) == 1 else [])
        return [Mark(int(r["seq"]), "headers", path) for r in chosen]
    if pointer_parts(path) is None:
        chosen = named or (candidates if len(candidates) == 1 else [])
        return [Mark(int(r["seq"]), "request", "") for r in chosen]
    located = [(r, *_locate(r, path, bodies)) for r in (named or candidates)]
    full = [item for item in located if item[3]]
    tid = extra.get("transactionID")
    if len(full) > 1 and isinstance(tid, str):
        narrowed = [item for item in full if tid.encode() in (bodies.get(item[0], "request") or b"")]
        full = narrowed or full
    if full:
        return [Mark(int(r["seq"]), side, pointer) for r, side, pointer, _ in full]
    if named or len(candidates) == 1:
        return [Mark(int(r["seq"]), side, pointer) for r, side, pointer, _ in located]
    return []


def _locate(record: Mapping[str, Any], path: str, bodies: Bodies) -> tuple[str, str, bool]:
    """(side, deepest existing pointer, whether the whole pointer exists) of `path` in the record's bodies."""
    best = ("request", "", False)
    for side in SIDES:
        ok, value = parse_json(bodies.get(record, side))
        if not ok:
            continue
        pointer, whole = resolve(value, path)
        if whole:
            return side, pointer, True
        if len(pointer) > len(best[1]):
            best = (side, pointer, False)
    return best
