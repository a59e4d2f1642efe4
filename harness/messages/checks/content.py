"""CustomBlock and R0 content that only makes sense one way: dates in order, readings that have
happened, a profile class that exists, a response code that agrees with its messages."""

from __future__ import annotations

import re
from typing import Any

from harness.core.findings import Finding, short
from harness.messages.access import dig
from harness.messages.checks.base import CLOCK_TOLERANCE, common, custom, event_of, items_of, ptr, sent_at, timestamp

PROFILE_CLASSES = range(1, 9)  # profile classes 1-8 (BSC): domestic 1-2, non-domestic 3-8
# "<CODE> - <text>" (A-RESPONSE-MESSAGE): MSG0000, RCP1061, SP000, REG0000, DS001 ...
MESSAGE_CODE = re.compile(r"\s*([A-Z]{2,4})([0-9]{3,4})\b")


def check_r0_consistency(item: Any, index: int) -> list[Finding]:
    """`r0.inconsistent` (RCP1052): R0.responseCode agrees with the codes of its messages.

    A success code has only zeros for digits (MSG0000, SP000). Accepted ("A") with a message
    whose code reports a failure, or rejected ("R") with only success codes, contradicts itself.
    """
    r0 = dig(common(item), "R0")
    code, messages = dig(r0, "responseCode"), dig(r0, "responseMessages")
    if not isinstance(code, str) or not isinstance(messages, list):
        return []
    coded = [(i, m, match) for i, m in enumerate(messages)
             if isinstance(m, str) and (match := MESSAGE_CODE.match(m))]
    failures = [(i, m) for i, m, match in coded if set(match.group(2)) != {"0"}]
    at = ptr(index, "CommonBlock", "R0", "responseCode")
    if code == "A" and failures:
        i, message = failures[0]
        return [Finding("r0.inconsistent", at, "R (or W) for a failure message", "A",
                        f"R0 says accepted (A) but responseMessages[{i}] reports a failure: {short(message)} "
                        "(RCP1052)")]
    if code == "R" and coded and not failures:
        return [Finding("r0.inconsistent", at, "A for success messages only", "R",
                        f"R0 says rejected (R) but every coded message reports success: {short(coded[0][1])} "
                        "(RCP1052)")]
    return []


def check_notification_expiry(item: Any, index: int) -> list[Finding]:
    """`notification.expiry` (RCP1023): an IF-024 notification does not expire before it takes effect."""
    b057 = custom(item).get("B057")
    effective_from = dig(b057, "supplierNotificationEffectiveFromDate")
    expiry_date = dig(b057, "supplierNotificationExpiryDate")
    effective, expiry = timestamp(effective_from), timestamp(expiry_date)
    if effective is None or expiry is None or expiry >= effective:
        return []
    return [Finding("notification.expiry", ptr(index, "CustomBlock", "B057", "supplierNotificationExpiryDate"),
                    f"not before {effective_from}",
                    short(expiry_date),
                    "supplierNotificationExpiryDate is before supplierNotificationEffectiveFromDate (RCP1023)")]


_READINGS = (("B076List", "cumulativeRegisterReadingDateTime"), ("B065List", "configurableRegisterReadingDate"))


def check_reading_future(item: Any, index: int) -> list[Finding]:
    """`reading.future`: an IF-065 meter reading was taken by the time the message was sent."""
    sent = sent_at(item)
    if sent is None:
        return []
    findings = []
    for block, key in _READINGS:
        for i, reading in items_of(custom(item).get(block)):
            when = timestamp(reading.get(key))
            if when is not None and when > sent + CLOCK_TOLERANCE:
                findings.append(Finding("reading.future", ptr(index, "CustomBlock", block, i, key),
                                        f"not after the send time {sent.isoformat()}", short(reading[key]),
                                        f"{key} {reading[key]} is after the message was sent ({sent.isoformat()})"))
    return findings


def check_profile_class(item: Any, index: int) -> list[Finding]:
    """`profile-class.range` (RCP1022): an IF-026 profileClass is one of the eight profile classes."""
    value = dig(custom(item), "B032", "profileClass")
    if not (isinstance(value, str) and value.isascii() and value.isdigit()) or int(value) in PROFILE_CLASSES:
        return []
    return [Finding("profile-class.range", ptr(index, "CustomBlock", "B032", "profileClass"), "1 to 8",
                    short(value), f"profile class {value} does not exist (profile classes are 1 to 8) (RCP1022)")]


def check_primary_recipient(item: Any, index: int) -> list[Finding]:
    """`a0.no-primary` (MSG1030): an IF-061 names its MDR in A0.primaryRecipients.

    The DIP can resolve the recipients of a registration notification from the MPAN, but an MDR
    start request goes to the MDR the SDS chose, which only the sender can name (A-A0-PRIMARY).
    """
    event = event_of(item)
    if event is None or event.interface_id != "IF-061":
        return []
    a0 = dig(common(item), "A0")
    primaries = dig(a0, "primaryRecipients")
    if isinstance(primaries, list) and any(isinstance(r, str) and r for r in primaries):
        return []
    if (a0 is not None and not isinstance(a0, dict)) or (primaries is not None and not isinstance(primaries, list)):
        return []  # a malformed A0 is the schema's finding
    where = ptr(index, "CommonBlock", "A0", "primaryRecipients") if a0 is not None else ptr(index, "CommonBlock")
    return [Finding("a0.no-primary", where, "the assigned MDR's DIP ID", "none",
                    "IF-061 names no primary recipient: the DIP cannot route a start request to the MDR (MSG1030)")]


def check_content_empty(item: Any, index: int) -> list[Finding]:
    """`content.empty` (RCP1021): the list that is the message's content is not empty.

    IF-065 [ReadingRemote] with no reading (no B076List or B065List item), IF-024
    [SN-OffPeakDec] with no declaration (empty B097List). IF-064's empty B941List is
    `periods.no-days`.
    """
    event = event_of(item)
    block = custom(item)
    if event is None:
        return []
    if event.key == "IF-065/ReadingRemote":
        lists = [block.get(k) for k in ("B076List", "B065List")]
        if all(isinstance(v, list) or v is None for v in lists) and not any(lists):
            return [Finding("content.empty", ptr(index, "CustomBlock"), "at least one B076List or B065List reading",
                            "no reading", "a [ReadingRemote] message carries no reading (RCP1021)")]
    if event.key == "IF-024/SN-OffPeakDec" and block.get("B097List") == []:
        return [Finding("content.empty", ptr(index, "CustomBlock", "B097List"), "at least one declaration",
                        "0 items", "B097List is empty: the off-peak declaration declares nothing (RCP1021)")]
    return []
