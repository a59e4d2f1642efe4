"""Produce judges (guidance 5.2b / 6.2b): what the participant sent to the DIP, as the DIP recorded it.

- `produce.submission`: one accepted message: the DIP's own business findings on it, sender, DCP and
  environment against the profile, the nominated partner as primary recipient, and the produce rules
  of its interface (IF-064: 48 periods, complete past days). Args: `message` (`{"seq", "index"}`),
  `identity` (the profile's role, DIP ID, DCP, environment, partner) and `today` (the UTC date the
  run judged on, ISO).
- `submission.rejected`: a submission the DIP refused: its MSG codes and reasons as findings (args:
  `prefix` for the messages, `fallback` rule when the DIP gave no reason, `trigger` what the trigger
  reported when it failed too).
- `produce.declared-flows`: every message the party sent in the scanned range is on an interface its
  profile enables (args: `party`, `role`, `enabled`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from harness.core.catalogue import load_catalogue
from harness.core.findings import Finding, short
from harness.judges.records import RecordSet
from harness.judges.registry import judge
from harness.messages import business
from harness.messages.access import dig

# Rules produce applies beyond the hub's, per interface (the plan reads them for the assumptions they rest on).
PRODUCE_RULES: dict[str, tuple[str, ...]] = {"IF-064": ("periods.count", "consumption.complete-days")}


def produce_rules(interface_id: str) -> tuple[str, ...]:
    return PRODUCE_RULES.get(interface_id, ())


def identity_of(profile: Any) -> dict[str, Any]:
    """What produce judges a message against, from a profile: recorded as the judge's argument."""
    partner = profile.partner
    return {"role": profile.role, "dip_id": profile.party.dip_id, "dcp_id": profile.party.dcp_id,
            "environment": profile.environment,
            "partner": None if partner is None else {"role": partner.role, "dip_id": partner.dip_id}}


def _index_of(path: str) -> int:
    match = re.match(r"^/(\d+)(?:/|$)", path or "")
    return int(match.group(1)) if match else 0


def message_findings(item: dict, index: int, hub_findings: list[Finding], identity: Mapping[str, Any],
                     today: date) -> list[Finding]:
    """Everything judged on one accepted outgoing message: the hub's business checks, the identity and
    environment against the profile, and the produce rules of its interface (resting on assumptions)."""
    interface_id = dig(item, "payload", "CommonBlock", "S0", "interfaceID")
    rules = produce_rules(interface_id) if isinstance(interface_id, str) else ()
    found = [f for f in hub_findings if f.rule not in rules]
    found += identity_findings(item, identity, index)
    if "periods.count" in rules:
        found += business.check_periods_count(item, index=index)
    if "consumption.complete-days" in rules:
        found += business.check_complete_days(item, today=today, index=index)
    return business.provisional(found)


def identity_findings(item: dict, identity: Mapping[str, Any], index: int = 0) -> list[Finding]:
    """Sender, recipient and environment as the profile declares them (the hub checks only consistency)."""
    role, dip_id, dcp_id = identity.get("role"), identity.get("dip_id"), identity.get("dcp_id")
    common = dig(item, "payload", "CommonBlock") or {}
    base = f"/{index}/payload/CommonBlock"
    out: list[Finding] = []
    s1 = common.get("S1") or {}
    if s1.get("senderRoleID") != role:
        out.append(Finding("produce.sender-role", f"{base}/S1/senderRoleID", str(role), short(s1.get("senderRoleID")),
                           f"senderRoleID should be the party's role {role}"))
    if s1.get("senderDIPID") != dip_id:
        out.append(Finding("produce.sender-dip-id", f"{base}/S1/senderDIPID", str(dip_id),
                           short(s1.get("senderDIPID")),
                           "senderDIPID should be the party's DIP ID from the profile"))
    dcp = s1.get("DIPConnectionProviderID")
    if dcp_id and dcp != dcp_id:
        out.append(Finding("produce.dcp", f"{base}/S1/DIPConnectionProviderID", str(dcp_id), short(dcp),
                           "DIPConnectionProviderID should be the DCP ID from the profile"))
    if identity.get("environment"):
        out += business.check_environment(item, str(identity["environment"]), index=index)
    partner = identity.get("partner")
    if isinstance(partner, Mapping):
        primary = dig(common, "A0", "primaryRecipients")
        if partner.get("role") in _receivers(common) and (not isinstance(primary, list)
                                                           or partner.get("dip_id") not in primary):
            out.append(Finding("produce.recipient", f"{base}/A0/primaryRecipients", short([partner.get("dip_id")]),
                               short(primary),
                               f"A0.primaryRecipients should address the nominated {partner.get('role')} "
                               f"{partner.get('dip_id')}"))
    return out


def _receivers(common: dict) -> tuple[str, ...]:
    interface_id = dig(common, "S0", "interfaceID")
    code = dig(common, "S0", "eventCode")
    try:
        ev = load_catalogue().find_event_by_code(interface_id, code)
    except Exception:  # noqa: BLE001 - an unreadable S0 is already a schema finding
        return ()
    return tuple(getattr(ev, "receivers", ()) or ())


def judge_submission(records: RecordSet, args: Mapping[str, Any]) -> list[Finding]:
    ref = args.get("message") or {}
    record = records.get(ref.get("seq"))
    index = ref.get("index", 0)
    item = record.message(index) if record is not None and record.accepted_submission else None
    if item is None or record is None:  # record None: item is None too
        return [Finding("produce.accepted", "", "the accepted message in the DIP's transcript", "absent",
                        f"the message the check names (transcript seq {ref.get('seq')}, index {index}) is not an "
                        f"accepted submission among the records it cites")]
    hub = [f for f in record.findings if _index_of(f.path) == index]
    today = date.fromisoformat(str(args.get("today")))
    return message_findings(item, index, hub, args.get("identity") or {}, today)


def judge_rejected(records: RecordSet, args: Mapping[str, Any]) -> list[Finding]:
    """A refused submission: the DIP's reasons (error findings), each naming its MSG code."""
    record = records.get(args.get("seq"))
    if record is None or record.kind != "inbound" or record.status is None or record.status < 400:
        return [Finding(str(args.get("fallback") or "hub.rejected"), "", "a refusal in the DIP's transcript",
                        "absent", "the refused submission the check names is not among the records it cites")]
    codes = record.codes
    shown = ", ".join(codes) or f"HTTP {record.status}"
    prefix = str(args.get("prefix") or "the DIP refused the submission")
    findings = [Finding(f.rule, f.path, f.expected, f.actual, f"{prefix} ({shown}): {f.message}", f.severity,
                        {**f.extra, "codes": list(codes)})
                for f in record.findings if f.severity == "error"] or [Finding(
        str(args.get("fallback") or "hub.rejected"), "", "MSG0000", shown, f"{prefix} ({shown})",
        extra={"codes": list(codes)})]
    if args.get("trigger"):
        findings.append(Finding("produce.trigger", f"triggers.{args.get('interface')}", "the trigger to succeed",
                                str(args["trigger"]), f"the trigger reported the refusal: {args['trigger']}",
                                "warning"))
    return findings


def judge_declared_flows(records: RecordSet, args: Mapping[str, Any]) -> list[Finding]:
    """Every accepted message of the party in the scanned range is on an enabled interface."""
    party, role = str(args.get("party")), str(args.get("role"))
    enabled = {str(i) for i in args.get("enabled") or []}
    findings = []
    for record in records.ordered():
        if not record.accepted_submission or record.caller != party:
            continue
        for index, item, tx in record.messages():
            interface_id = record.interface or dig(item, "payload", "CommonBlock", "S0", "interfaceID")
            if interface_id in enabled:
                continue
            findings.append(Finding(
                "produce.undeclared-flow", f"/{index}/payload/CommonBlock/S0/interfaceID",
                f"one of the enabled interfaces ({', '.join(sorted(enabled)) or 'none'})", str(interface_id),
                f"{business.message_label(item)}: the {role} sent {interface_id}, which its profile does not "
                f"enable (interfaces.{interface_id} = \"N\"): enable and certify it, or stop sending it",
                extra={"transactionID": tx}))
    return findings


# Registered by a call, not with `@judge(...)`: mutmut never mutates a decorated function, so the
# verdicts themselves would escape the mutation run (bench/mutation.py).
judge("produce.submission")(judge_submission)
judge("submission.rejected")(judge_rejected)
judge("produce.declared-flows")(judge_declared_flows)
