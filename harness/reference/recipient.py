"""How a reference participant judges a DIP delivery, as its recipient: one RCP code per message.

A recipient answers the DIP with a StandardResponse whose entries say, per message, whether it
took it (RCP0000) or why not (RCP1xxx). The reference participants must get this right, because
the harness's consume scenarios are tested against them, and their fault switches must get it
wrong in exactly one way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from harness.core.findings import Finding
from harness.messages.access import dig
from harness.messages.checks import code_for_rule
from harness.messages.ids import is_valid_mpan, parse_dip_timestamp
from harness.messages.validate import validate_body

FUTURE_TOLERANCE = timedelta(minutes=5)  # ASSUMPTION: same window as the signature clock skew
SUCCESS = "RCP0000"

# Finding rule (prefix) -> RCP code, in order of precedence: the first that applies is reported.
RULE_CODES: tuple[tuple[str, str], ...] = (
    ("json.", "RCP1001"),
    ("envelope.", "RCP1001"),
    ("s0.interface", "RCP1002"),
    ("interface.mismatch", "RCP1002"),
    ("s0.event", "RCP1003"),
    ("schema.", "RCP1001"),
    ("mpan.check-digit", "RCP1061"),
    ("timestamp.future", "RCP1008"),
)
FALLBACK_CODE = "RCP1022"  # any other error (periods.*, sur.*, mpan.gsp-mismatch): an invalid value


@dataclass
class ItemVerdict:
    """One delivered message as this recipient sees it."""

    index: int
    item: Any
    code: str
    interface_id: str | None = None
    event: str | None = None
    transaction_id: str | None = None
    replay: bool = False
    mpan: str | None = None
    sender_unique_reference: str | None = None
    correlation_id: str | None = None
    sender_dip_id: str | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.code == SUCCESS


@dataclass
class Assessment:
    items: list[ItemVerdict]
    envelope_code: str | None = None  # set when the body is not a readable array at all
    findings: list[Finding] = field(default_factory=list)




def describe(index: int, item: Any) -> ItemVerdict:
    """The identifying fields of a delivered item, read defensively (the item may be invalid)."""
    common = dig(item, "payload", "CommonBlock")
    code = dig(common, "S0", "eventCode")
    correlation = dig(common, "S1", "senderCorrelationID") or dig(common, "D0", "initialCorrelationID")
    return ItemVerdict(
        index=index, item=item, code=SUCCESS,
        interface_id=dig(common, "S0", "interfaceID"),
        event=code.strip("[]") if isinstance(code, str) else None,
        transaction_id=dig(common, "D0", "transactionID"),
        replay=dig(common, "D0", "replayIndicator") is True,
        mpan=dig(common, "M0", "MPANCore"),
        sender_unique_reference=dig(common, "S1", "senderUniqueReference"),
        correlation_id=correlation if isinstance(correlation, str) else None,
        sender_dip_id=dig(common, "S1", "senderDIPID"),
    )


def _index_of(finding: Finding) -> int | None:
    parts = finding.path.split("/")
    if len(parts) > 1 and parts[1].isdigit():
        return int(parts[1])
    return None


def _future_timestamp(item: Any, index: int, now: datetime) -> Finding | None:
    stamp = dig(item, "payload", "CommonBlock", "S1", "senderTimestamp")
    try:
        sent = parse_dip_timestamp(stamp)
    except ValueError:
        return None  # malformed timestamps are the schema's to report
    if sent > now + FUTURE_TOLERANCE:
        return Finding("timestamp.future", f"/{index}/payload/CommonBlock/S1/senderTimestamp",
                       f"not after {now.isoformat()} (+5 min)", stamp, "senderTimestamp is in the future")
    return None


def code_for(findings: list[Finding]) -> str:
    rules = [f.rule for f in findings if f.severity == "error"]
    if not rules:
        return SUCCESS
    for prefix, code in RULE_CODES:
        if any(rule.startswith(prefix) for rule in rules):
            return code
    named = [code for code in map(code_for_rule, rules) if code]  # the code the specification names
    return named[0] if named else FALLBACK_CODE


def assess_delivery(body: bytes, interface_id: str, *, accept_bad_mpan: bool = False,
                    now: datetime | None = None) -> Assessment:
    """Validate an egress body as delivered to our webhook for `interface_id`; one code per item."""
    now = now or datetime.now(timezone.utc)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        data = None
    findings = validate_body(body, interface_id=interface_id, form="egress", now=now)
    if not isinstance(data, list) or not data:
        return Assessment([], "RCP1001", findings)
    per_item: dict[int, list[Finding]] = {i: [] for i in range(len(data))}
    for finding in findings:
        index = _index_of(finding)
        targets = [index] if index in per_item else list(per_item)
        for i in targets:
            per_item[i].append(finding)
    items = []
    for i, item in enumerate(data):
        verdict = describe(i, item)
        item_findings = per_item[i]
        mpan = verdict.mpan
        if isinstance(mpan, str) and len(mpan) == 13 and mpan.isdigit() and not is_valid_mpan(mpan) \
                and not any(f.rule == "mpan.check-digit" for f in item_findings):
            item_findings.append(Finding("mpan.check-digit", f"/{i}/payload/CommonBlock/M0/MPANCore",
                                         "a valid check digit", mpan, "MPAN core check digit is wrong"))
        future = _future_timestamp(item, i, now)
        if future and not any(f.rule == future.rule for f in item_findings):  # validation may have found it
            item_findings.append(future)
        if accept_bad_mpan:  # fault switch: the recipient does not check the MPAN
            item_findings = [f for f in item_findings if f.rule != "mpan.check-digit"]
        verdict.findings = item_findings
        verdict.code = code_for(item_findings)
        items.append(verdict)
    return Assessment(items, None, findings)
