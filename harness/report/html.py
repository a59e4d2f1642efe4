"""report.html: one self-contained page the DIP Manager decides from in a minute and a participant fixes from.

It opens with the decision (READY / NOT READY, the evidence grade and where the evidence comes
from: party, system, attestation, signer, hashes, where the DIP ran), then the blockers grouped by
root cause and the guidance's interface table. Each requirement follows: failing ones open, with
their findings, a sequence diagram of their own traffic coloured by judgement, the offending
messages pretty-printed with the failing path marked and a `dipcert replay` line; passing ones
collapsed to one line. A checkbox (CSS only, no script) and the print stylesheet give a
failures-only view. Bodies of messages no failure needs are not repeated: the bundle holds them.

Each requirement carries exactly one ``data-requirement``/``data-verdict`` marker: `verify`
compares those with summary.json. Rendering is deterministic (no clock, sorted data), so the same
evidence always gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from harness.core.catalogue import load_catalogue
from harness.report.bodies import Bodies, anchor_id, file_of, show_body, show_headers
from harness.report.causes import root_causes
from harness.report.provenance import dip_shown, evidence_sha256, finished_manifest
from harness.report.replay import replay_command, replayable
from harness.report.scope import Scope, build_scopes
from harness.report.sequence import arrow_markers, arrows, message_label, sequence_svg
from harness.report.summary import plan_index, run_info

__all__ = ["Bodies", "aggregate", "anchor", "render_html", "report_context"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
DIP_CHANNELS = ("hub-inbound", "hub-outbound", "webhook-delivery", "trigger")
VERDICT_TEXT = {"pass": "PASS", "fail": "FAIL", "not-run": "NOT RUN", "not-enabled": "NOT ENABLED",
                "reused": "REUSED"}
ATTENTION = ("fail", "not-run")  # verdicts whose sections open, with their messages in full
JUDGEMENT_TEXT = {"fail": "at fault", "pass": "judged correct", "none": "context"}


# -- aggregation ----------------------------------------------------------------------------------
def aggregate(verdicts: Sequence[str]) -> str | None:
    """One verdict for a table cell: fail beats not-run beats pass; all reused is reused.

    None when nothing is planned there; "not-enabled" when nothing there is enabled.
    """
    if not verdicts:
        return None
    live = [v for v in verdicts if v != "not-enabled"]
    if not live:
        return "not-enabled"
    for worst in ("fail", "not-run"):
        if worst in live:
            return worst
    return "reused" if all(v == "reused" for v in live) else "pass"


def _worst(rids: Sequence[str], entries: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The requirement a table cell links to: its first failing, else first not-run, else first one."""
    for verdict in ("fail", "not-run"):
        for rid in rids:
            if entries[rid]["verdict"] == verdict:
                return rid
    return rids[0] if rids else None


# -- the view model -------------------------------------------------------------------------------
def report_context(summary: Mapping[str, Any], records: Sequence[Mapping[str, Any]], folder: Path) -> dict[str, Any]:
    catalogue = load_catalogue()
    plan = plan_index(records)
    run = run_info(records)
    bodies = Bodies(folder)
    entries = {e["id"]: e for e in summary["requirements"]}
    order = [rid for rid in plan if rid in entries] + sorted(rid for rid in entries if rid not in plan)
    party = summary["party"]
    partner = summary.get("partner")

    def kind_of(rid: str) -> str:
        kind = (plan.get(rid) or {}).get("kind")
        return str(kind) if kind else ("exchange" if "/exchange/" in rid else "other")

    scopes = build_scopes(records, order, {rid: entries[rid]["evidence"] for rid in order}, bodies)
    checks_by_req: dict[str, list[Mapping[str, Any]]] = {}
    for r in records:
        if r.get("kind") == "check" and isinstance(r.get("requirement"), str):
            checks_by_req.setdefault(r["requirement"], []).append(r)

    # Which interfaces each exchange requirement touches: the plan says, else its recorded messages do.
    exchange_ifs: dict[str, list[str]] = {}
    for rid in order:
        if kind_of(rid) != "exchange":
            continue
        declared = (plan.get(rid) or {}).get("interfaces")
        if isinstance(declared, list) and declared:
            exchange_ifs[rid] = sorted({str(i) for i in declared})
        else:
            found = set()
            for r in scopes[rid].records:
                label = message_label(r, bodies.get(r, "request"))
                if label.startswith("IF-"):
                    found.add(label.split("/", 1)[0])
            exchange_ifs[rid] = sorted(found)

    interfaces = []
    for interface in catalogue.interfaces.values():
        mine = [rid for rid in order if (plan.get(rid) or {}).get("interface") == interface.id]
        enabled = [bool(plan[rid].get("enabled", True)) for rid in mine]
        cells = {kind: [r for r in mine if kind_of(r) == kind] for kind in ("consume", "produce")}
        cells["exchange"] = [rid for rid, ifs in exchange_ifs.items() if interface.id in ifs]
        interfaces.append({
            "id": interface.id, "name": interface.name,
            "enabled": None if not mine else ("Y" if any(enabled) else "N"),
            **{kind: aggregate([entries[r]["verdict"] for r in rids]) for kind, rids in cells.items()},
            "links": {kind: _worst(rids, entries) for kind, rids in cells.items()},
        })
    unmapped = [entries[rid] for rid, ifs in exchange_ifs.items() if not ifs]

    # Every message gets one home on the page (id m-SEQ): the first failing section that judged it at
    # fault, else the first failing section that holds it, else the first section that does. Only a
    # message at fault is shown in full (headers, pretty bodies, replay line); the rest is a line each.
    home: dict[int, str] = {}
    for rid in order:
        if entries[rid]["verdict"] in ATTENTION:
            for seq, judged in scopes[rid].judgement.items():
                if judged == "fail":
                    home.setdefault(seq, rid)
    for rid in sorted(order, key=lambda r: entries[r]["verdict"] not in ATTENTION):
        for seq in scopes[rid].seqs:
            home.setdefault(seq, rid)

    # A message shown in full carries the marks of every requirement's findings on it, so that each
    # findings table can link to its marked line wherever the message lives.
    marks: dict[int, dict[str, set[str]]] = {}
    for scope in scopes.values():
        for seq, sides in scope.found.items():
            for side, pointers in sides.items():
                marks.setdefault(seq, {}).setdefault(side, set()).update(pointers)
    in_full = {seq for seq, rid in home.items()
               if entries[rid]["verdict"] in ATTENTION and scopes[rid].judgement.get(seq) == "fail"}

    party_lane = f"{party.get('role')} {party.get('dip_id')} (under test)"
    partner_lane = f"{partner.get('role')} {partner.get('dip_id')} ({partner.get('kind')})" if partner else None
    run_id = str(summary["run_id"])
    sections = []
    expanded: set[str] = set()  # rules whose message at fault is already shown open: later ones start closed
    for index, rid in enumerate(order):
        entry = entries[rid]
        scope = scopes[rid]
        open_ = entry["verdict"] in ATTENTION
        rules = {str(f.get("rule")) for f in entry.get("findings") or () if isinstance(f, Mapping)
                 and f.get("severity", "error") == "error"}
        expand = open_ and (not rules or bool(rules - expanded))
        if open_:
            expanded |= rules
        dip = [r for r in scope.records if r.get("channel") in DIP_CHANNELS]
        drawn = arrows(dip, {int(r["seq"]): bodies.get(r, "request") for r in dip},
                       party_dip_id=party.get("dip_id"), partner_dip_id=(partner or {}).get("dip_id"),
                       partner_role=(partner or {}).get("role"), judgement=scope.judgement)
        if not open_:  # a collapsed section lists no messages: its diagram holds the ones that live here
            drawn = [replace(a, anchor=home.get(a.seq) == rid) for a in drawn]
        svg = sequence_svg(drawn, party=party_lane, partner=partner_lane, ident=str(index))
        on_diagram = {a.seq for a in drawn}
        messages = [_message(r, scope, bodies, marks.get(int(r["seq"]), {}), here=home.get(int(r["seq"])) == rid,
                             full=open_, run_id=run_id, party_dip_id=party.get("dip_id"),
                             home=home.get(int(r["seq"])), entries=entries)
                    for r in scope.records if open_ or int(r["seq"]) not in on_diagram]
        findings = [_finding(f, scope, in_full) for f in entry.get("findings") or () if isinstance(f, Mapping)]
        offending = [m for m in messages if m["judgement"] == "fail" and m["replay"]]
        sections.append({
            "entry": entry, "kind": kind_of(rid), "title": entry.get("title") or rid, "open": open_,
            "expand": expand,
            "verdict_text": VERDICT_TEXT.get(entry["verdict"], entry["verdict"]),
            "checks": [{"seq": c.get("seq"), "rule": c.get("rule"), "passed": c.get("passed") is True,
                        "findings": len(c.get("findings") or [])} for c in checks_by_req.get(rid, [])],
            "findings": findings, "messages": messages, "svg": svg,
            "count": len(scope.records), "judged": len(scope.judgement),
            "replay": replay_command(run_id, rid, offending[0]["channel"]) if offending else None,
        })

    def failed_rules(rid: str) -> list[str]:
        return list(dict.fromkeys(str(c.get("rule")) for c in checks_by_req.get(rid, [])
                                  if c.get("passed") is not True))

    def first_where(cause: Any) -> dict[str, Any] | None:
        if cause.first is None or cause.first_requirement is None:
            return None
        marks = scopes[cause.first_requirement].marks_for(cause.first)
        return {"seq": marks[0].seq} if marks else None

    blockers = root_causes(summary.get("blockers") or [], entries, failed_rules)
    advisories = root_causes(summary.get("advisories") or [], entries, failed_rules)
    rests: dict[str, list[str]] = {}
    for entry in summary["requirements"]:
        for aid in entry["assumptions"]:
            rests.setdefault(aid, []).append(entry["id"])
    reused = [e for e in summary["requirements"] if e["verdict"] == "reused"]
    live = [e for e in summary["requirements"] if e["verdict"] in ("pass", "fail")]
    counts: dict[str, int] = {}
    for e in summary["requirements"]:
        counts[e["verdict"]] = counts.get(e["verdict"], 0) + 1
    advisory_ids = {e["id"] for e in summary["requirements"] if e.get("advisory")}
    return {
        "s": summary, "run": run, "interfaces": interfaces, "unmapped_exchanges": unmapped,
        "sections": sections, "assumption_users": rests, "reused": reused, "live": live,
        "counts": [(v, counts[v]) for v in VERDICT_TEXT if v in counts], "verdict_text": VERDICT_TEXT,
        "company": (run.get("party") or {}).get("company") or party.get("company"),
        "partner_company": (partner or {}).get("company") or ((run.get("partner") or {}).get("company")
                                                              if isinstance(run.get("partner"), Mapping) else None),
        "grade": summary.get("grade"), "selection": summary.get("selection"),
        "attestation": summary.get("attestation") if isinstance(summary.get("attestation"), Mapping) else None,
        "dip": dip_shown(summary, run, records),
        "evidence_sha256": evidence_sha256(folder), "records": len(records),
        "manifest_sha256": finished_manifest(folder),
        "blocker_causes": [(c, first_where(c)) for c in blockers],
        "advisory_causes": [(c, first_where(c)) for c in advisories],
        "advisory_ids": advisory_ids,
        "attention": sum(1 for e in summary["requirements"] if e["verdict"] in ATTENTION),
        "judgement_text": JUDGEMENT_TEXT, "arrow_markers": arrow_markers(),
        "assumption_ids": {a["id"] for a in summary.get("assumptions") or ()},
    }


def _message(record: Mapping[str, Any], scope: Scope, bodies: Bodies, found: Mapping[str, set[str]], *, here: bool,
             full: bool, run_id: str, party_dip_id: str | None, home: str | None,
             entries: Mapping[str, Any]) -> dict[str, Any]:
    """One message of a section: always a line; in full (headers, bodies, replay) where it lives and matters."""
    seq = int(record["seq"])
    response = record.get("response") if isinstance(record.get("response"), Mapping) else None
    judgement = scope.judgement.get(seq, "none")
    item: dict[str, Any] = {
        "seq": seq, "channel": record.get("channel"), "method": record.get("method"), "url": record.get("url"),
        "label": message_label(record, bodies.get(record, "request")),
        "status": response.get("status") if response else None, "error": record.get("error"),
        "judgement": judgement, "here": here, "full": here and full and judgement == "fail",
        "home": home if not here else None, "home_open": bool(home and entries[home]["verdict"] in ATTENTION),
        "request_file": file_of(record, "request"), "response_file": file_of(record, "response"),
        "replay": (replay_command(run_id, f"#{seq}", str(record.get("channel")))
                   if replayable(record, party_dip_id) is None else None),
    }
    if not item["full"]:
        return item
    prefix = f"m{seq}"
    item["request_headers"] = show_headers((record.get("request") or {}).get("headers"), found.get("headers", ()))
    item["response_headers"] = show_headers((response or {}).get("headers"), ())
    item["request_body"] = show_body(bodies.get(record, "request"), found.get("request", ()),
                                     anchor=f"{prefix}-request")
    item["response_body"] = (show_body(bodies.get(record, "response"), found.get("response", ()),
                                       anchor=f"{prefix}-response") if response else None)
    return item


def _finding(finding: Mapping[str, Any], scope: Scope, in_full: set[int]) -> dict[str, Any]:
    """A findings-table row: the finding, and links to where it lands (the marked line of the message)."""
    extra = got if isinstance(got := finding.get("extra"), Mapping) else {}
    where = []
    for mark in scope.marks_for(finding):
        target = f"m-{mark.seq}"
        if mark.side in ("request", "response") and mark.pointer and mark.seq in in_full:
            target = anchor_id(f"m{mark.seq}-{mark.side}", mark.pointer)
        where.append({"seq": mark.seq, "side": mark.side, "href": target})
    return {"f": finding, "where": where, "assumption": extra.get("assumption"),
            "severity": finding.get("severity", "error")}


def render_html(summary: Mapping[str, Any], records: Sequence[Mapping[str, Any]], folder: Path | str) -> str:
    """report.html's text for a summary built from `records`, reading bodies from `folder`."""
    return _environment().get_template("report.html.j2").render(**report_context(summary, records, Path(folder)))


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    """One environment per process: it keeps the compiled template (compiling it takes a tenth of a
    second; a demo renders two reports), and recompiles it if the file changes."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    env.filters["anchor"] = anchor
    return env


def anchor(rid: str) -> str:
    """An HTML id for a requirement or assumption id (ids contain '/' and '.')."""
    return "r-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in str(rid))
