"""The DIP's checks of a submission (`POST /dip-channel/{IF}`), in the DIP's order, and its answers.

Check order (the first failing step answers; the DIP's own order is [U]):

1. `X-API-Key` is a registered primary or secondary key -> else 401, nothing routed (harness.dip.auth).
2. With mTLS, the client certificate is the one bound to the key's DIP ID -> else 403 (auth).
3. Signature headers verify against the key owner's registered certificate -> else 401 (auth).
   The real DIP's status for a bad signature is unknown ([I] 401/403); we answer 401.
4. The URL's interface is one the catalogue knows -> else 400 MSG1002.
5. Body: JSON array, S0 and schema (`validate_body`, ingress form) -> 400 MSG1001, or MSG1002 when
   S0.interfaceID is unknown or differs from the URL. Business checks (MPAN check digit, periods,
   SUR parts) are not DIP L1 validation: they are kept on the Submission as `findings` and reject
   only with `HubConfig.reject_on_checks`.
6. Per message, first failure wins: MSG1009 S1.senderDIPID is not the API key's DIP ID; MSG1010
   S1.senderRoleID is not the registered role, or that role does not send this event (catalogue);
   MSG1011 DIPConnectionProviderID set and not the registered DCP; MSG1007 senderTimestamp not
   DT-003 or more than `skew` in the future; MSG1030 no primary recipients; MSG1031 a primary
   recipient is not registered (in the sender's scope: its session's counterparties, then every
   registered party); MSG1032 a primary recipient's role does not receive this event; MSG1006
   senderUniqueReference already accepted from this sender (hub lifetime, kept across restarts) or
   repeated in the batch. The duplicate check is last because only an accepted batch consumes its
   references, and they are claimed in the transaction that writes the batch's transcript record
   (`reference_rows`, written by harness.dip.api): a hub stopped before that record has claimed
   nothing, so the sender's retry is accepted. Until then the references are in flight
   (harness.dip.references): another batch with one of them waits, then checks again.

A rejected batch (400) lists one StandardResponse entry per failing message (transactionID null,
`help` says what was wrong); an unreadable body gets one entry. Nothing of it is stored or routed.
"""

from __future__ import annotations

import json
import re
import secrets
from contextlib import ExitStack
from datetime import datetime
from typing import Any

from werkzeug.wrappers import Response

from harness.core.catalogue import Event
from harness.core.errors import DipcertError
from harness.core.findings import Finding, short
from harness.dip.http import Reply, json_response
from harness.dip.model import Submission
from harness.dip.parties import Party
from harness.messages import ids
from harness.messages.samples import add_d0
from harness.messages.validate import parse_body, validate_body
from harness.transport.responses import response_entry, standard_response

_SCHEMA_RULES = ("json.", "envelope.", "schema.", "s0.event")
_INTERFACE_RULES = ("s0.interface", "interface.mismatch")


def check_submission(hub: Any, caller: Party, slot: str, iface: str, body: bytes, headers: dict[str, str],
                     now: datetime, *, hold: ExitStack) -> list[Submission]:
    """The accepted messages of a batch, or Reply(400) naming each failing message. Its references stay
    in flight until `hold` closes (the caller closes it once the batch's record is written)."""
    try:
        interface = hub.catalogue.get(iface)
    except DipcertError:
        finding = Finding("interface.unknown", "", f"one of {', '.join(hub.catalogue.interfaces)}",
                          short(iface), f"the DIP has no message channel {iface!r}")
        raise Reply(rejected(hub, [(None, "MSG1002", finding)], caller), [finding], ["MSG1002"]) from None
    data, findings = parse_body(body)  # parsed once: validate_body takes the parsed array
    if not findings:
        findings = validate_body(data, interface_id=interface.id, form="ingress", pack=hub.pack)
    failures: dict[int | None, tuple[str, Finding]] = {}
    business: dict[int, list[Finding]] = {}
    for finding in findings:
        index = _index_of(finding.path)
        code = _code_for(finding.rule, hub.config.reject_on_checks, finding.path)
        if code is None:
            business.setdefault(index if index is not None else 0, []).append(finding)
        elif index not in failures or (code == "MSG1002" and failures[index][0] != "MSG1002"):
            failures[index] = (code, finding)
    if None in failures:  # the body as a whole is unreadable
        code, finding = failures[None]
        raise Reply(rejected(hub, [(None, code, finding)], caller), findings, [code])
    items: list[dict] = data
    events: list[Event | None] = []
    for index, item in enumerate(items):
        event = None
        if index not in failures:
            event = hub.catalogue.find_event_by_code(interface.id, item["payload"]["CommonBlock"]["S0"]["eventCode"])
            problem = check_message(hub, item, index, event, caller, now)
            if problem is not None:
                failures[index] = problem
        events.append(event)
    # MSG1006: last, and only an accepted batch claims its references (`reference_rows`)
    wanted = {index: item["payload"]["CommonBlock"]["S1"]["senderUniqueReference"]
              for index, item in enumerate(items) if index not in failures}
    reserved = hub.references.reserve((*caller.key, sur) for sur in wanted.values())
    if reserved is not None:
        hold.callback(hub.references.release, reserved)
    batch: set[str] = set()
    for index, sur in wanted.items():
        if reserved is None:
            why = "senderUniqueReference is still being accepted in another submission"
        elif sur in batch:
            why = "senderUniqueReference was already used in this batch"
        elif hub.db.query("SELECT 1 FROM surs WHERE scope=? AND dip_id=? AND sur=?", (*caller.key, sur)):
            why = "senderUniqueReference was already used"
        else:
            why = None
        if why is not None:
            failures[index] = ("MSG1006", Finding(
                "hub.duplicate-sur", f"/{index}/payload/CommonBlock/S1/senderUniqueReference",
                "a reference not used before", short(sur), why))
        batch.add(sur)
    if failures:
        rows = [(i, code, f) for i, (code, f) in sorted(failures.items(), key=lambda kv: kv[0] or 0)]
        all_findings = [f for _, _, f in rows] + [f for f in findings if f not in [r[2] for r in rows]]
        raise Reply(rejected(hub, rows, caller, items), all_findings, [code for _, code, _ in rows])
    submissions = []
    for index, item in enumerate(items):
        event = events[index]
        assert event is not None
        s1 = item["payload"]["CommonBlock"]["S1"]
        tx = ids.transaction_id(interface.id, s1["senderDIPID"], s1["senderRoleID"], now, secrets.token_hex(8))
        recipients = tuple(r for r in item["payload"]["CommonBlock"]["A0"]["primaryRecipients"] if r)
        submissions.append(Submission(interface.id, event.name, item, caller.dip_id, tx, now, body, headers, index,
                                      slot, recipients, business.get(index, [])))
    return submissions


def reference_rows(caller: Party, submissions: list[Submission]) -> list[tuple[str, str, str]]:
    """The `surs` rows an accepted batch claims, written with its transcript record."""
    return [(*caller.key, s.item["payload"]["CommonBlock"]["S1"]["senderUniqueReference"]) for s in submissions]


def claim_references(conn: Any, rows: list[tuple[str, str, str]]) -> None:
    conn.executemany("INSERT INTO surs VALUES (?, ?, ?)", rows)


def check_message(hub: Any, item: dict, index: int, event: Event | None, caller: Party,
                  now: datetime) -> tuple[str, Finding] | None:
    common = item["payload"]["CommonBlock"]
    s1 = common["S1"]
    at = f"/{index}/payload/CommonBlock"
    skew = hub.config.skew
    if s1.get("senderDIPID") != caller.dip_id:
        return "MSG1009", Finding("hub.sender-dip-id", f"{at}/S1/senderDIPID", caller.dip_id,
                                  short(s1.get("senderDIPID")), "senderDIPID is not the DIP ID of the API key")
    if s1.get("senderRoleID") != caller.role or (event is not None and event.sender != caller.role):
        expected = caller.role if s1.get("senderRoleID") != caller.role or event is None \
            else f"{event.sender} (sender of {event.key})"
        return "MSG1010", Finding("hub.sender-role", f"{at}/S1/senderRoleID", expected, short(s1.get("senderRoleID")),
                                  f"a {caller.role} party cannot send this event as {s1.get('senderRoleID')}")
    dcp = s1.get("DIPConnectionProviderID")
    if dcp is not None and dcp != caller.dcp_id:
        return "MSG1011", Finding("hub.dcp", f"{at}/S1/DIPConnectionProviderID", str(caller.dcp_id),
                                  short(dcp), "DIPConnectionProviderID is not the DCP registered for the sender")
    stamp = s1.get("senderTimestamp")
    try:
        sent = ids.parse_dip_timestamp(stamp)
    except ValueError:
        return "MSG1007", Finding("hub.sender-timestamp", f"{at}/S1/senderTimestamp",
                                  "a 25-character DT-003 timestamp", short(stamp), "senderTimestamp is not DT-003")
    if sent - now > skew:
        return "MSG1007", Finding("hub.sender-timestamp", f"{at}/S1/senderTimestamp",
                                  f"not after {ids.dip_timestamp(now + skew)}", stamp,
                                  "senderTimestamp is in the future")
    primaries = [r for r in ((common.get("A0") or {}).get("primaryRecipients") or []) if r]
    if not primaries:
        return "MSG1030", Finding("hub.no-recipient", f"{at}/A0/primaryRecipients", "at least one DIP ID",
                                  "none", "no primary recipient: the DIP cannot route the message")
    for i, recipient in enumerate(primaries):
        party = hub.directory.resolve(caller, recipient)
        if party is None:
            return "MSG1031", Finding("hub.recipient-unknown", f"{at}/A0/primaryRecipients/{i}",
                                      "a registered DIP ID", short(recipient),
                                      "primary recipient is not a DIP participant")
        if event is not None and party.role not in event.receivers:
            return "MSG1032", Finding("hub.recipient-role", f"{at}/A0/primaryRecipients/{i}",
                                      f"a party of role {'/'.join(event.receivers)}", f"{recipient} ({party.role})",
                                      f"a {party.role} does not receive {event.key}")
    return None


def entry(hub: Any, code: str, item: Any, *, transaction_id: str | None = None, help: str | None = None) -> dict:
    """One StandardResponse entry answering `item` (its references echoed when they are well-formed)."""
    s1 = _s1(item)
    stamp = s1.get("senderTimestamp")
    try:
        ids.parse_dip_timestamp(stamp)
    except ValueError:
        stamp = None
    return response_entry(code, transaction_id=transaction_id,
                          sender_unique_reference=_str_or_none(s1.get("senderUniqueReference"), 200),
                          correlation_id=_str_or_none(s1.get("senderCorrelationID"), 60),
                          sent_timestamp=stamp, sender_id=hub.config.dip_id,
                          recipient_id=_str_or_none(s1.get("senderDIPID"), 10),
                          dcp_id=_str_or_none(s1.get("DIPConnectionProviderID"), 10), help=help, table=hub.codes)


def rejected(hub: Any, rows: list[tuple[int | None, str, Finding]], caller: Party,
             items: list | None = None) -> Response:
    entries = []
    for index, code, finding in rows:
        item = items[index] if items is not None and index is not None and index < len(items) else None
        e = entry(hub, code, item, help=f"{finding.path or '/'}: {finding.message}")
        if item is None:
            e["recipientID"] = caller.dip_id
        entries.append(e)
    return json_response(400, standard_response(entries))


def build_egress(item: dict, *, transaction_id: str, moment: datetime, publication_id: str | None = None,
                 replay: bool = False) -> dict:
    """An accepted item as the DIP delivers it: D0 added, A0 completed (A-D0-EGRESS).

    Only what changes is new: the item, its payload and its CommonBlock (add_d0 makes A0 and D0
    afresh); every other block is shared with `item`. Neither is changed after routing (the hub
    serialises the egress item at once: its inbox row and its delivery's wire bytes), and a deep
    copy was the largest single cost of routing a message."""
    payload = dict(item["payload"])
    payload["CommonBlock"] = dict(payload["CommonBlock"])
    out = {**item, "payload": payload}
    common = payload["CommonBlock"]
    add_d0(common, None, moment, transaction_id=transaction_id, replay=replay)  # type: ignore[arg-type]
    if publication_id is not None:
        common["D0"]["publicationID"] = publication_id
    return out


def replayed(item: dict) -> dict:
    out = _copy(item)
    out["payload"]["CommonBlock"]["D0"]["replayIndicator"] = True
    return out


def message_request(body: bytes) -> tuple[datetime | None, datetime | None, str | None, str | None, str | None,
                                          set[str] | None]:
    """The MessageRequest of replay/requeue; ValueError (one line) when it is not one."""
    try:
        data = json.loads(body)
    except ValueError:
        raise ValueError("body is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("body should be a MessageRequest object")
    required = ("datetimeFrom", "datetimeTo", "eventCode", "MPAN", "version")
    missing = [k for k in required if k not in data]
    if missing:
        raise ValueError(f"missing {', '.join(missing)} (required, null when not used)")
    extra = sorted(set(data) - set(required) - {"transactionIDs"})
    if extra:
        raise ValueError(f"unexpected keys: {', '.join(extra)}")
    stamps: list[datetime | None] = []
    for key in ("datetimeFrom", "datetimeTo"):
        value = data[key]
        if value is None:
            stamps.append(None)
            continue
        try:
            stamps.append(ids.parse_dip_timestamp(value))
        except ValueError:
            raise ValueError(f"{key} should be a 25-character DT-003 timestamp or null, got {short(value)}") from None
    for key in ("eventCode", "MPAN", "version"):
        if data[key] is not None and not isinstance(data[key], str):
            raise ValueError(f"{key} should be a string or null")
    wanted = data.get("transactionIDs")
    if wanted is not None:
        if not isinstance(wanted, list) or not 1 <= len(wanted) <= 100 or not all(isinstance(t, str) for t in wanted):
            raise ValueError("transactionIDs should be 1 to 100 transaction IDs")
        wanted = set(wanted)
    return stamps[0], stamps[1], data["eventCode"], data["MPAN"], data["version"], wanted


def _copy(item: dict) -> dict:
    """A deep copy of a JSON value (what a message is): a JSON round trip, three times faster than
    copy.deepcopy on a message."""
    return json.loads(json.dumps(item, ensure_ascii=False))


def _index_of(path: str) -> int | None:
    match = re.match(r"^/(\d+)(?:/|$)", path or "")
    return int(match.group(1)) if match else None


def _code_for(rule: str, reject_on_checks: bool, path: str = "") -> str | None:
    if rule.startswith(_INTERFACE_RULES):
        return "MSG1002"
    if rule == "schema.format" and path.endswith("/S1/senderTimestamp"):
        return "MSG1007"  # not a real date-time: the DIP's Sender Timestamp Invalid, not its schema failure
    if rule.startswith(_SCHEMA_RULES) or reject_on_checks:
        return "MSG1001"
    return None


def _s1(item: Any) -> dict:
    try:
        s1 = item["payload"]["CommonBlock"]["S1"]
    except (TypeError, KeyError):
        return {}
    return s1 if isinstance(s1, dict) else {}


def _str_or_none(value: Any, limit: int) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit else None
