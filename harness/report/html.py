"""report.html: one self-contained page a DIP Manager reads, prints, and `verify` cross-checks.

It opens with what matters (READY / NOT READY, what blocks it, the guidance's interface table) so
nobody mistakes a failed run for a certification package, then shows each requirement with its
findings, the exact messages, a sequence diagram and, for failures, a curl command that replays
what was sent. Each requirement carries exactly one ``data-requirement``/``data-verdict`` marker:
`verify` compares those with summary.json. Rendering is deterministic (no clock, sorted data), so the
same evidence always gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.report.curl import curl_command, variables
from harness.report.sequence import arrows, message_label, sequence_svg
from harness.report.summary import plan_index, run_info

TEMPLATES = Path(__file__).resolve().parent / "templates"
MAX_BODY_CHARS = 200_000
DIP_CHANNELS = ("hub-inbound", "hub-outbound", "webhook-delivery", "trigger")
VERDICT_TEXT = {"pass": "PASS", "fail": "FAIL", "not-run": "NOT RUN", "not-enabled": "NOT ENABLED",
                "reused": "REUSED"}


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


# -- loading message bodies -----------------------------------------------------------------------
class Bodies:
    """Reads recorded message bodies from a run folder, once each."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: dict[tuple[int, str], bytes | None] = {}

    def get(self, record: Mapping[str, Any], side: str) -> bytes | None:
        key = (int(record.get("seq") or 0), side)
        if key not in self._cache:
            body = ((record.get(side) or {}).get("body")) if isinstance(record.get(side), Mapping) else None
            name = body.get("file") if isinstance(body, Mapping) else None
            data = None
            if isinstance(name, str) and not name.startswith("/") and ".." not in name.split("/"):
                path = self.folder / name
                data = path.read_bytes() if path.is_file() else None
            self._cache[key] = data
        return self._cache[key]


def _text(data: bytes | None) -> tuple[str | None, bool]:
    if data is None:
        return None, False
    text = data.decode("utf-8", "replace")
    return (text[:MAX_BODY_CHARS], True) if len(text) > MAX_BODY_CHARS else (text, False)


# -- the view model -------------------------------------------------------------------------------
def report_context(summary: Mapping[str, Any], records: Sequence[Mapping[str, Any]], folder: Path) -> dict[str, Any]:
    from harness.catalogue import load_catalogue

    catalogue = load_catalogue()
    plan = plan_index(records)
    run = run_info(records)
    by_seq = {r.get("seq"): r for r in records if isinstance(r.get("seq"), int)}
    http = [r for r in records if r.get("kind") == "http"]
    bodies = Bodies(folder)
    entries = {e["id"]: e for e in summary["requirements"]}
    order = [rid for rid in plan if rid in entries] + sorted(rid for rid in entries if rid not in plan)

    def kind_of(rid: str) -> str:
        kind = (plan.get(rid) or {}).get("kind")
        return str(kind) if kind else ("exchange" if "/exchange/" in rid else "other")

    # Requirements of the sequential lane run one after another: what was recorded between such a
    # requirement's start and end events (the DIP's relayed deliveries too) belongs to it, besides what
    # its checks cite, unless it carries another requirement's id. Requirements of the parallel lane
    # (issue 14: consume, reject, smoke run concurrently) get only what carries their id or is cited.
    window: dict[str, tuple[int, int]] = {}
    parallel: set[str] = set()
    for r in records:
        if r.get("kind") == "event" and r.get("event") in ("requirement-start", "requirement-end"):
            rid_ = str((r.get("data") or {}).get("requirement"))
            if (r.get("data") or {}).get("lane") == "parallel":
                parallel.add(rid_)
            lo, hi = window.get(rid_, (r["seq"], r["seq"]))
            window[rid_] = (min(lo, r["seq"]), max(hi, r["seq"]))

    linked: dict[str, list[Mapping[str, Any]]] = {}
    for rid in order:
        seqs = set(entries[rid]["evidence"])
        seqs.update(r["seq"] for r in http if (r.get("context") or {}).get("requirement") == rid)
        if rid in window and rid not in parallel:
            lo, hi = window[rid]
            seqs.update(r["seq"] for r in http if lo < r["seq"] < hi
                        and (r.get("context") or {}).get("requirement") in (None, rid))
        linked[rid] = [by_seq[s] for s in sorted(seqs) if s in by_seq and by_seq[s].get("kind") == "http"]

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
            for r in linked[rid]:
                label = message_label(r, bodies.get(r, "request"))
                if label.startswith("IF-"):
                    found.add(label.split("/", 1)[0])
            exchange_ifs[rid] = sorted(found)

    interfaces = []
    for interface in catalogue.interfaces.values():
        mine = [rid for rid in order if (plan.get(rid) or {}).get("interface") == interface.id]
        enabled = [bool(plan[rid].get("enabled", True)) for rid in mine]
        exchanges = [entries[rid]["verdict"] for rid, ifs in exchange_ifs.items() if interface.id in ifs]
        interfaces.append({
            "id": interface.id, "name": interface.name,
            "enabled": None if not mine else ("Y" if any(enabled) else "N"),
            "consume": aggregate([entries[r]["verdict"] for r in mine if kind_of(r) == "consume"]),
            "produce": aggregate([entries[r]["verdict"] for r in mine if kind_of(r) == "produce"]),
            "exchange": aggregate(exchanges),
        })
    unmapped = [entries[rid] for rid, ifs in exchange_ifs.items() if not ifs]

    party = summary["party"]
    partner = summary.get("partner")
    party_lane = f"{party.get('role')} {party.get('dip_id')} (under test)"
    partner_lane = f"{partner.get('role')} {partner.get('dip_id')} ({partner.get('kind')})" if partner else None
    checks_by_req: dict[str, list[Mapping[str, Any]]] = {}
    for r in records:
        if r.get("kind") == "check" and isinstance(r.get("requirement"), str):
            checks_by_req.setdefault(r["requirement"], []).append(r)

    sections = []
    for index, rid in enumerate(order):
        entry = entries[rid]
        messages = []
        for r in linked[rid]:
            request_text, request_cut = _text(bodies.get(r, "request"))
            response = r.get("response") if isinstance(r.get("response"), Mapping) else None
            response_text, response_cut = _text(bodies.get(r, "response")) if response else (None, False)
            messages.append({
                "seq": r.get("seq"), "channel": r.get("channel"), "method": r.get("method"), "url": r.get("url"),
                "label": message_label(r, bodies.get(r, "request")),
                "status": response.get("status") if response else None, "error": r.get("error"),
                "request_headers": (r.get("request") or {}).get("headers") or [],
                "response_headers": (response or {}).get("headers") or [],
                "request_body": request_text, "request_cut": request_cut,
                "request_file": (((r.get("request") or {}).get("body")) or {}).get("file"),
                "response_body": response_text, "response_cut": response_cut,
                "response_file": (((response or {}).get("body")) or {}).get("file"),
            })
        dip = [r for r in linked[rid] if r.get("channel") in DIP_CHANNELS]
        svg = sequence_svg(
            arrows(dip, {int(r["seq"]): bodies.get(r, "request") for r in dip},
                   party_dip_id=party.get("dip_id"), partner_dip_id=(partner or {}).get("dip_id"),
                   partner_role=(partner or {}).get("role")),
            party=party_lane, partner=partner_lane, ident=str(index))
        curls = []
        if entry["verdict"] == "fail":
            cited: list[int] = []
            for check in checks_by_req.get(rid, []):
                if check.get("passed") is not True:
                    cited.extend(s for s in check.get("messages") or () if s not in cited)
            for seq in cited:
                r = by_seq.get(seq)
                if r is not None and r.get("kind") == "http":
                    command = curl_command(r, bodies.get(r, "request"))
                    curls.append({"seq": seq, "command": command, "variables": variables(command)})
        sections.append({
            "entry": entry, "kind": kind_of(rid), "title": entry.get("title") or rid,
            "verdict_text": VERDICT_TEXT.get(entry["verdict"], entry["verdict"]),
            "checks": [{"seq": c.get("seq"), "rule": c.get("rule"), "passed": c.get("passed") is True,
                        "findings": len(c.get("findings") or [])} for c in checks_by_req.get(rid, [])],
            "messages": messages, "svg": svg, "curls": curls,
        })

    rests: dict[str, list[str]] = {}
    for entry in summary["requirements"]:
        for aid in entry["assumptions"]:
            rests.setdefault(aid, []).append(entry["id"])
    reused = [e for e in summary["requirements"] if e["verdict"] == "reused"]
    live = [e for e in summary["requirements"] if e["verdict"] in ("pass", "fail")]
    counts: dict[str, int] = {}
    for e in summary["requirements"]:
        counts[e["verdict"]] = counts.get(e["verdict"], 0) + 1
    return {
        "s": summary, "run": run, "interfaces": interfaces, "unmapped_exchanges": unmapped,
        "sections": sections, "assumption_users": rests, "reused": reused, "live": live,
        "counts": [(v, counts[v]) for v in VERDICT_TEXT if v in counts], "verdict_text": VERDICT_TEXT,
        "company": (run.get("party") or {}).get("company") or party.get("company"),
        "partner_company": (partner or {}).get("company") or ((run.get("partner") or {}).get("company")
                                                              if isinstance(run.get("partner"), Mapping) else None),
        "grade": summary.get("grade"), "selection": summary.get("selection"),
    }


def render_html(summary: Mapping[str, Any], records: Sequence[Mapping[str, Any]], folder: Path | str) -> str:
    """report.html's text for a summary built from `records`, reading bodies from `folder`."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    env.filters["anchor"] = anchor
    return env.get_template("report.html.j2").render(**report_context(summary, records, Path(folder)))


def anchor(rid: str) -> str:
    """An HTML id for a requirement or assumption id (ids contain '/' and '.')."""
    return "r-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in str(rid))
