"""A requirement's message exchange as an inline SVG sequence diagram.

Why SVG drawn here rather than a diagram library: report.html must be one self-contained file that
prints, with no scripts or external assets. Lanes are the party under test, the DIP (the harness's
simulated hub, which also plays the DIP when it delivers or triggers) and the partner; one arrow per
recorded HTTP exchange, labelled with its interface/event and the status that came back, and
coloured by the requirement's judgement of it (scope.py), not by that status: a correct rejection
is green, an offending 201 red, what no check judged grey. Each label links to the message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from harness.messages.validate import identify

LANE_X = (125, 390, 655)
WIDTH, TOP, ROW = 780, 52, 34
BOX = 240
ARROW_COLOURS = {"fail": "#b3261e", "pass": "#176f2c", "none": "#80868b"}  # as the page's CSS colours the lines


@dataclass(frozen=True)
class Arrow:
    seq: int
    source: int  # lane index: 0 party, 1 DIP, 2 partner
    target: int
    label: str
    status: str
    judgement: str  # "fail", "pass" or "none" (recorded for the requirement, judged by none of its checks)
    trigger: bool = False
    linked: bool = True  # the page holds the message (#m-SEQ)
    anchor: bool = False  # this diagram is where the page keeps the message: its label carries id m-SEQ


def message_label(record: Mapping[str, Any], body: bytes | None) -> str:
    """"IF-061/MDRStart" from the record's context, else from the body's S0; else the URL's last part."""
    ctx = record.get("context") or {}
    interface, event = ctx.get("interface"), ctx.get("event")
    if (not interface or not event) and body:
        found = _identify(body)
        if found is not None and (not interface or found[0] == interface):
            interface, event = found
    if interface:
        return f"{interface}/{event}" if event else str(interface)
    return str(record.get("url") or "").rstrip("/").rsplit("/", 1)[-1] or str(record.get("channel"))


def arrows(records: Sequence[Mapping[str, Any]], bodies: Mapping[int, bytes | None], *,
           party_dip_id: str | None, partner_dip_id: str | None, partner_role: str | None,
           judgement: Mapping[int, str] | None = None) -> list[Arrow]:
    out = []
    for record in records:
        seq = int(record.get("seq") or 0)
        body = bodies.get(seq)
        channel = str(record.get("channel") or "")
        sender = _sender(body)
        lane = 2 if (sender is not None and sender == partner_dip_id and sender != party_dip_id) else 0
        ctx = record.get("context") or {}
        if channel == "hub-inbound":
            source, target = lane, 1
        elif channel == "hub-outbound":
            source, target = 1, (0 if lane == 2 else 2)
        elif channel == "trigger":
            role = ctx.get("role")
            source, target = 1, (2 if role is not None and role == partner_role else 0)
        else:  # webhook-delivery and anything else the harness sent as the DIP to the participant
            source, target = 1, 0
        response = record.get("response") or {}
        status = response.get("status")
        text = str(status) if status is not None else ("no response" if not record.get("error") else "error")
        label = message_label(record, body)
        if channel == "trigger":
            label = f"trigger: send {ctx.get('interface') or label}" + (f" [{ctx['event']}]" if ctx.get("event")
                                                                         else "")
        elif isinstance(ctx.get("step"), str) and ctx["step"] not in ("single", channel):
            label += f" ({ctx['step']})"  # which case of the requirement: bad-mpan, replay, invalid-signature...
        out.append(Arrow(seq, source, target, label, text, (judgement or {}).get(seq, "none"), channel == "trigger"))
    return out


def sequence_svg(items: Sequence[Arrow], *, party: str, partner: str | None, ident: str = "0") -> str:
    """The SVG markup (already escaped). Empty string when there is nothing to draw.

    The arrow heads are the page's shared markers (`arrow_markers()`, once per page); `ident` is kept
    for callers that name diagrams.
    """
    if not items:
        return ""
    height = TOP + ROW * len(items) + 16
    names = (party, "DIP (dipcert hub)", partner or "partner (none)")
    parts = [f'<svg class="seq" role="img" aria-label="message sequence" viewBox="0 0 {WIDTH} {height}" '
             f'width="{WIDTH}" height="{height}">']
    for x, name in zip(LANE_X, names):
        parts.append(f'<rect x="{x - BOX // 2}" y="6" width="{BOX}" height="26" rx="4" class="lane"/>'
                     f'<text x="{x}" y="23" text-anchor="middle" class="lane-name">{escape(name)}</text>'
                     f'<line x1="{x}" y1="32" x2="{x}" y2="{height - 6}" class="life"/>')
    for i, arrow in enumerate(items):
        y = TOP + ROW * i + 12
        x1, x2 = LANE_X[arrow.source], LANE_X[arrow.target]
        mid = (x1 + x2) / 2
        cls = f"j-{escape(arrow.judgement)}"
        dash = ' stroke-dasharray="5,3"' if arrow.trigger else ""
        text = (f'<text x="{mid}" y="{y - 5}" text-anchor="middle" class="msg-label {cls}">'
                f'#{arrow.seq} {escape(arrow.label)} &#8594; {escape(arrow.status)}</text>')
        if arrow.anchor:
            text = f'<a id="m-{arrow.seq}" href="#m-{arrow.seq}">{text}</a>'
        elif arrow.linked:
            text = f'<a href="#m-{arrow.seq}">{text}</a>'
        parts.append(f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" class="{cls}"{dash} '
                     f'marker-end="url(#ah-{escape(arrow.judgement)})"/>{text}')
    parts.append("</svg>")
    return "".join(parts)


def arrow_markers() -> str:
    """One hidden SVG holding the arrow heads every diagram on the page refers to (#ah-fail, ...)."""
    return ('<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>' + "".join(
        f'<marker id="ah-{name}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
        for name, colour in ARROW_COLOURS.items()) + "</defs></svg>")


def _items(body: bytes) -> list[Any]:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):  # a participant's body: anything, however deeply nested
        return []
    return value if isinstance(value, list) else [value]


def _common(body: bytes | None) -> Mapping[str, Any]:
    if not body:
        return {}
    for item in _items(body)[:1]:
        payload = item.get("payload") if isinstance(item, Mapping) else None
        block = payload.get("CommonBlock") if isinstance(payload, Mapping) else None
        if isinstance(block, Mapping):
            return block
    return {}


def _sender(body: bytes | None) -> str | None:
    s1 = _common(body).get("S1")
    value = s1.get("senderDIPID") if isinstance(s1, Mapping) else None
    return value if isinstance(value, str) else None


def _identify(body: bytes) -> tuple[str, str] | None:
    for item in _items(body)[:1]:
        if isinstance(item, dict):
            try:
                return identify(item)
            except (AttributeError, TypeError, ValueError):
                return None
    return None
