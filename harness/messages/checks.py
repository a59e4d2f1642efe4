"""Rules a JSON Schema cannot express: check digits, cross-field consistency, period sequences.

These run on every identified message, schema-valid or not, so each rule reads defensively: a
field that is missing or of the wrong type is the schema's finding, and the rule quietly skips.
One function per rule; each returns its findings. Facts come from `harness.messages.ids`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from harness.messages.access import dig
from harness.findings import Finding, short
from harness.messages.ids import (
    LONDON, SenderReference, gsp_for_mpan, is_valid_mpan, mpan_check_digit, parse_dip_timestamp,
    parse_sender_unique_reference,
)

PERIODS_PER_DAY = 48  # a settlement day is a UTC day: always 48 half hours, clock change or not
HALF_HOUR = timedelta(minutes=30)




def _ptr(index: int, *parts: object) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in (index, "payload", *parts))


def _common(item: Any) -> dict:
    common = dig(item, "payload", "CommonBlock")
    return common if isinstance(common, dict) else {}


# --- MPAN -----------------------------------------------------------------------------------------

def check_mpan_check_digit(item: Any, index: int) -> list[Finding]:
    mpan = dig(_common(item), "M0", "MPANCore")
    if not (isinstance(mpan, str) and len(mpan) == 13 and mpan.isdigit()) or is_valid_mpan(mpan):
        return []
    digit = mpan_check_digit(mpan[:12])
    return [Finding("mpan.check-digit", _ptr(index, "CommonBlock", "M0", "MPANCore"), f"check digit {digit}",
                    f"{mpan[12]} in {mpan!r}", f"MPAN core {mpan} fails its check digit (expected {digit})")]


def check_mpan_gsp(item: Any, index: int) -> list[Finding]:
    m0 = dig(_common(item), "M0")
    mpan, gsp = dig(m0, "MPANCore"), dig(m0, "GSPGroupID")
    well_formed = isinstance(mpan, str) and len(mpan) == 13 and mpan.isdigit()
    expected = gsp_for_mpan(mpan) if well_formed else None
    if expected is None or not isinstance(gsp, str) or gsp == expected:
        return []  # IDNO prefixes cannot be placed; a missing GSP is the schema's finding
    return [Finding("mpan.gsp-mismatch", _ptr(index, "CommonBlock", "M0", "GSPGroupID"), expected, short(gsp),
                    f"MPAN {mpan} belongs to GSP group {expected} (distributor {mpan[:2]}), not {gsp}")]


# --- Settlement periods (IF-064 B941List) ---------------------------------------------------------

def _days(item: Any) -> Iterator[tuple[int, dict]]:
    days = dig(item, "payload", "CustomBlock", "B941List")
    for i, day in enumerate(days if isinstance(days, list) else []):
        if isinstance(day, dict):
            yield i, day


def _periods(day: dict) -> list:
    periods = day.get("MDRConsumptionPeriods")
    return periods if isinstance(periods, list) else []


def _timestamp(value: Any) -> datetime | None:
    try:
        return parse_dip_timestamp(value)
    except (ValueError, TypeError):
        return None


def check_periods_count(item: Any, index: int) -> list[Finding]:
    findings = []
    for i, day in _days(item):
        periods = day.get("MDRConsumptionPeriods")
        if isinstance(periods, list) and len(periods) != PERIODS_PER_DAY:
            label = dig(day, "settlementDay", "settlementDayDate")
            findings.append(Finding(
                "periods.count", _ptr(index, "CustomBlock", "B941List", i, "MDRConsumptionPeriods"),
                f"{PERIODS_PER_DAY} periods", f"{len(periods)} periods",
                f"settlement day {short(label)} has {len(periods)} periods, expected {PERIODS_PER_DAY}"))
    return findings


def check_periods_sequence(item: Any, index: int) -> list[Finding]:
    """Each `sp` is the UTC end of the next half hour of the settlement day, from 00:30 on."""
    findings = []
    for i, day in _days(item):
        day_start = _timestamp(dig(day, "settlementDay", "settlementDayDate"))
        if day_start is None:
            continue
        # The day as the sender wrote it (first 10 characters), as a UTC day.
        start = datetime(day_start.year, day_start.month, day_start.day, tzinfo=timezone.utc)
        for j, period in enumerate(_periods(day)):
            sp = _timestamp(dig(period, "sp"))
            if sp is None:
                continue  # the schema reports a malformed timestamp
            expected = start + HALF_HOUR * (j + 1)
            if sp != expected:
                findings.append(Finding(
                    "periods.sequence", _ptr(index, "CustomBlock", "B941List", i, "MDRConsumptionPeriods", j, "sp"),
                    expected.isoformat(), short(period["sp"]),
                    f"period {j + 1} of {start:%Y-%m-%d} should end at {expected.isoformat()}, got {period['sp']}"))
                break  # one out-of-step period shifts the rest: report where the sequence breaks
    return findings


def check_periods_utc(item: Any, index: int) -> list[Finding]:
    findings = []
    for i, day in _days(item):
        date = dig(day, "settlementDay", "settlementDayDate")
        if isinstance(date, str) and _timestamp(date) and not date.endswith("+00:00"):
            findings.append(Finding(
                "periods.utc", _ptr(index, "CustomBlock", "B941List", i, "settlementDay", "settlementDayDate"),
                "offset +00:00", short(date), f"settlementDayDate {date} is not given in UTC (+00:00)"))
        local = [j for j, p in enumerate(_periods(day))
                 if isinstance(dig(p, "sp"), str) and _timestamp(p["sp"]) and not p["sp"].endswith("+00:00")]
        if local:
            j = local[0]
            more = f" (and {len(local) - 1} more in this day)" if len(local) > 1 else ""
            findings.append(Finding(
                "periods.utc", _ptr(index, "CustomBlock", "B941List", i, "MDRConsumptionPeriods", j, "sp"),
                "offset +00:00", short(_periods(day)[j]["sp"]),
                f"period end {_periods(day)[j]['sp']} is not given in UTC (+00:00){more}"))
    return findings


# --- Sender unique reference (S1.senderUniqueReference vs the rest of S0/S1) ----------------------

def _sur(item: Any) -> tuple[SenderReference, dict] | None:
    s1 = dig(_common(item), "S1")
    parsed = parse_sender_unique_reference(dig(s1, "senderUniqueReference"))
    return (parsed, s1) if parsed else None


_SUR_PATH = ("CommonBlock", "S1", "senderUniqueReference")


def check_sur_interface(item: Any, index: int) -> list[Finding]:
    found, declared = _sur(item), dig(_common(item), "S0", "interfaceID")
    if not found or not isinstance(declared, str) or not declared.upper().startswith("IF-"):
        return []
    number = declared[3:]
    if found[0].interface_number.isdigit() and number.isdigit() and int(found[0].interface_number) == int(number):
        return []
    return [Finding("sur.interface", _ptr(index, *_SUR_PATH), f"S-IF-{number}-...",
                    short(found[1]["senderUniqueReference"]),
                    f"senderUniqueReference names interface {found[0].interface_number}, S0 says {declared}")]


def check_sur_role(item: Any, index: int) -> list[Finding]:
    found = _sur(item)
    role = dig(found[1], "senderRoleID") if found else None
    if not found or not isinstance(role, str) or found[0].role == role:
        return []
    return [Finding("sur.role", _ptr(index, *_SUR_PATH), f"role {role}", f"role {found[0].role}",
                    f"senderUniqueReference names role {found[0].role}, S1.senderRoleID is {role}")]


def check_sur_dip_id(item: Any, index: int) -> list[Finding]:
    found = _sur(item)
    dip_id = dig(found[1], "senderDIPID") if found else None
    if not found or not isinstance(dip_id, str) or found[0].dip_id == dip_id:
        return []
    return [Finding("sur.dip-id", _ptr(index, *_SUR_PATH), f"DIP ID {dip_id}", f"DIP ID {found[0].dip_id}",
                    f"senderUniqueReference names DIP ID {found[0].dip_id}, S1.senderDIPID is {dip_id}")]


def check_sur_date(item: Any, index: int) -> list[Finding]:
    """The SUR's date is the senderTimestamp's date in Europe/London.

    The date exactly as written in the timestamp is accepted too: a sender stamping in UTC near
    midnight in summer writes yesterday's London date, and that is not a fault of the message.
    """
    found = _sur(item)
    stamp = _timestamp(dig(found[1], "senderTimestamp")) if found else None
    if not found or stamp is None:
        return []
    london = stamp.astimezone(LONDON).strftime("%Y%m%d")
    if found[0].day in (london, stamp.strftime("%Y%m%d")):
        return []
    return [Finding("sur.date", _ptr(index, *_SUR_PATH), f"date {london}", f"date {found[0].day}",
                    f"senderUniqueReference is dated {found[0].day}, senderTimestamp "
                    f"{found[1]['senderTimestamp']} is {london} in Europe/London")]


RULES: dict[str, Callable[[Any, int], list[Finding]]] = {
    "mpan.check-digit": check_mpan_check_digit,
    "mpan.gsp-mismatch": check_mpan_gsp,
    "periods.count": check_periods_count,
    "periods.sequence": check_periods_sequence,
    "periods.utc": check_periods_utc,
    "sur.interface": check_sur_interface,
    "sur.role": check_sur_role,
    "sur.dip-id": check_sur_dip_id,
    "sur.date": check_sur_date,
}


def check_message(item: dict, index: int = 0) -> list[Finding]:
    """Findings of every extra rule for one wire item (never raises on odd input)."""
    findings: list[Finding] = []
    for rule in RULES.values():
        findings.extend(rule(item, index))
    return findings
