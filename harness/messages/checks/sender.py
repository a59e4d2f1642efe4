"""S1: who sent the message, when, and the sender unique reference that names both.

`S-IF-061-<DIP ID>-<ROLE>-<YYYYMMDD>-<unique>` (DT-995) repeats S0's interface and S1's DIP ID
and role; its date is the day the sender made the reference.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from harness.core.findings import Finding, short
from harness.messages.access import dig
from harness.messages.checks.base import CLOCK_TOLERANCE, common, event_of, ptr, timestamp
from harness.messages.ids import LONDON, SenderReference, dip_timestamp, parse_sender_unique_reference

_SUR_PATH = ("CommonBlock", "S1", "senderUniqueReference")


def _sur(item: Any) -> tuple[SenderReference, dict] | None:
    s1 = dig(common(item), "S1")
    parsed = parse_sender_unique_reference(dig(s1, "senderUniqueReference"))
    return (parsed, s1) if parsed else None


def check_sur_interface(item: Any, index: int) -> list[Finding]:
    found, declared = _sur(item), dig(common(item), "S0", "interfaceID")
    if not found or not isinstance(declared, str) or not declared.upper().startswith("IF-"):
        return []
    number = declared[3:]
    if found[0].interface_number.isdigit() and number.isdigit() and int(found[0].interface_number) == int(number):
        return []
    return [Finding("sur.interface", ptr(index, *_SUR_PATH), f"S-IF-{number}-...",
                    short(found[1]["senderUniqueReference"]),
                    f"senderUniqueReference names interface {found[0].interface_number}, S0 says {declared}")]


def check_sur_role(item: Any, index: int) -> list[Finding]:
    found = _sur(item)
    role = dig(found[1], "senderRoleID") if found else None
    if not found or not isinstance(role, str) or found[0].role == role:
        return []
    return [Finding("sur.role", ptr(index, *_SUR_PATH), f"role {role}", f"role {found[0].role}",
                    f"senderUniqueReference names role {found[0].role}, S1.senderRoleID is {role}")]


def check_sur_dip_id(item: Any, index: int) -> list[Finding]:
    found = _sur(item)
    dip_id = dig(found[1], "senderDIPID") if found else None
    if not found or not isinstance(dip_id, str) or found[0].dip_id == dip_id:
        return []
    return [Finding("sur.dip-id", ptr(index, *_SUR_PATH), f"DIP ID {dip_id}", f"DIP ID {found[0].dip_id}",
                    f"senderUniqueReference names DIP ID {found[0].dip_id}, S1.senderDIPID is {dip_id}")]


@lru_cache(maxsize=1024)
def _allowed_days(london: date, local: date) -> frozenset[str]:
    """The YYYYMMDD a reference may carry for a send time on these days (London's and the stamp's own):
    each day and the day before. Remembered: a run's messages are sent on a few days."""
    return frozenset(f"{d:%Y%m%d}" for day in (london, local) for d in (day, day - timedelta(days=1)))


def check_sur_date(item: Any, index: int) -> list[Finding]:
    """The SUR's date is the day the sender made the reference: the senderTimestamp's date
    (in Europe/London, or exactly as written), or the day before it.

    The specification says only "Date". A sender stamping in UTC near midnight in summer writes
    yesterday's London date; a message built just before midnight and sent just after carries
    the previous day's reference. Neither is a fault; a reference two days old, or dated after
    the message was sent, is.
    """
    found = _sur(item)
    stamp = timestamp(dig(found[1], "senderTimestamp")) if found else None
    if not found or stamp is None:
        return []
    if found[0].day in _allowed_days(stamp.astimezone(LONDON).date(), stamp.date()):
        return []
    london = stamp.astimezone(LONDON).strftime("%Y%m%d")
    return [Finding("sur.date", ptr(index, *_SUR_PATH), f"date {london} (or the day before)",
                    f"date {found[0].day}",
                    f"senderUniqueReference is dated {found[0].day}, senderTimestamp "
                    f"{found[1]['senderTimestamp']} is {london} in Europe/London")]


def check_sender_role(item: Any, index: int) -> list[Finding]:
    """`sender.role`: S1.senderRoleID is the role that sends this event (the catalogue's sender)."""
    event = event_of(item)
    role = dig(common(item), "S1", "senderRoleID")
    if event is None or not isinstance(role, str) or role == event.sender:
        return []
    return [Finding("sender.role", ptr(index, "CommonBlock", "S1", "senderRoleID"), event.sender, short(role),
                    f"a {role} does not send {event.key}: its sender is the {event.sender}")]


def check_timestamp_future(item: Any, index: int, *, now: datetime | None = None) -> list[Finding]:
    """`timestamp.future` (RCP1008): senderTimestamp not after `now` plus the clock tolerance."""
    stamp = dig(common(item), "S1", "senderTimestamp")
    sent = timestamp(stamp)
    now = now or datetime.now(timezone.utc)
    if sent is None or sent <= now + CLOCK_TOLERANCE:
        return []
    return [Finding("timestamp.future", ptr(index, "CommonBlock", "S1", "senderTimestamp"),
                    f"not after {dip_timestamp(now + CLOCK_TOLERANCE)}", short(stamp),
                    f"senderTimestamp {stamp} is in the future (RCP1008)")]
