"""IF-064 B941List: settlement days and their half-hourly periods.

A settlement day is a UTC day: always 48 half hours, clock change or not. The schema allows a
partial day (1 to 48 periods), so `periods.count` is a warning when a message is validated; a
harness judgement that needs whole days (the produce/exchange judgement's named assumption)
calls `check_periods_count` with its default severity, error.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from harness.core.findings import Finding, short
from harness.messages.access import dig
from harness.messages.checks.base import CLOCK_TOLERANCE, custom, ptr, sent_at, timestamp

PERIODS_PER_DAY = 48
HALF_HOUR = timedelta(minutes=30)
_DAYS = ("CustomBlock", "B941List")


def _days(item: Any) -> Iterator[tuple[int, dict]]:
    days = dig(item, "payload", "CustomBlock", "B941List")
    for i, day in enumerate(days if isinstance(days, list) else []):
        if isinstance(day, dict):
            yield i, day


def _periods(day: dict) -> list:
    periods = day.get("MDRConsumptionPeriods")
    return periods if isinstance(periods, list) else []


def _day_date(day: dict) -> Any:
    return dig(day, "settlementDay", "settlementDayDate")


def check_periods_count(item: Any, index: int, *, severity: str = "error") -> list[Finding]:
    """`periods.count`: a settlement day should carry all 48 periods.

    An error by default (for a judgement that needs whole days); message validation registers it
    as a warning, because the specification allows 1..48 periods."""
    findings = []
    for i, day in _days(item):
        periods = day.get("MDRConsumptionPeriods")
        if isinstance(periods, list) and len(periods) != PERIODS_PER_DAY:
            label = _day_date(day)
            findings.append(Finding(
                "periods.count", ptr(index, *_DAYS, i, "MDRConsumptionPeriods"),
                f"{PERIODS_PER_DAY} periods", f"{len(periods)} periods",
                f"settlement day {short(label)} has {len(periods)} periods, expected {PERIODS_PER_DAY}"
                + (" (a partial day: allowed by the specification)" if severity != "error" else ""),
                severity=severity))
    return findings


def check_periods_sequence(item: Any, index: int) -> list[Finding]:
    """Each `sp` is the UTC end of the next half hour of the settlement day, from 00:30 on."""
    findings = []
    for i, day in _days(item):
        day_start = timestamp(_day_date(day))
        if day_start is None:
            continue
        # The day as the sender wrote it (first 10 characters), as a UTC day.
        start = datetime(day_start.year, day_start.month, day_start.day, tzinfo=timezone.utc)
        for j, period in enumerate(_periods(day)):
            sp = timestamp(dig(period, "sp"))
            if sp is None:
                continue  # the schema reports a malformed timestamp
            expected = start + HALF_HOUR * (j + 1)
            if sp != expected:
                findings.append(Finding(
                    "periods.sequence", ptr(index, *_DAYS, i, "MDRConsumptionPeriods", j, "sp"),
                    expected.isoformat(), short(period["sp"]),
                    f"period {j + 1} of {start:%Y-%m-%d} should end at {expected.isoformat()}, got {period['sp']}"))
                break  # one out-of-step period shifts the rest: report where the sequence breaks
    return findings


def check_periods_utc(item: Any, index: int) -> list[Finding]:
    findings = []
    for i, day in _days(item):
        date = _day_date(day)
        if isinstance(date, str) and not date.endswith("+00:00") and timestamp(date):
            findings.append(Finding(
                "periods.utc", ptr(index, *_DAYS, i, "settlementDay", "settlementDayDate"),
                "offset +00:00", short(date), f"settlementDayDate {date} is not given in UTC (+00:00)"))
        # the cheap test first: only a period end not in UTC needs parsing (to know it is a timestamp at all)
        local = [j for j, p in enumerate(_periods(day))
                 if isinstance(dig(p, "sp"), str) and not p["sp"].endswith("+00:00") and timestamp(p["sp"])]
        if local:
            j = local[0]
            more = f" (and {len(local) - 1} more in this day)" if len(local) > 1 else ""
            findings.append(Finding(
                "periods.utc", ptr(index, *_DAYS, i, "MDRConsumptionPeriods", j, "sp"),
                "offset +00:00", short(_periods(day)[j]["sp"]),
                f"period end {_periods(day)[j]['sp']} is not given in UTC (+00:00){more}"))
    return findings


def check_periods_day_start(item: Any, index: int) -> list[Finding]:
    """`periods.day-start`: a settlementDayDate names a day, so its time is midnight (00:00:00)."""
    findings = []
    for i, day in _days(item):
        date = _day_date(day)
        if timestamp(date) is not None and date[11:19] != "00:00:00":
            findings.append(Finding(
                "periods.day-start", ptr(index, *_DAYS, i, "settlementDay", "settlementDayDate"),
                f"{date[:10]}T00:00:00+00:00", short(date),
                f"settlementDayDate {date} is not the start of a day (expected time 00:00:00)"))
    return findings


def check_periods_duplicate_day(item: Any, index: int) -> list[Finding]:
    """`periods.duplicate-day`: each settlement day appears once in a message."""
    findings = []
    first: dict[str, int] = {}
    for i, day in _days(item):
        when = timestamp(_day_date(day))
        if when is None:
            continue
        key = _day_date(day)[:10]
        if key in first:
            findings.append(Finding(
                "periods.duplicate-day", ptr(index, *_DAYS, i, "settlementDay", "settlementDayDate"),
                f"settlement day {key} once", f"again (first at B941List[{first[key]}])",
                f"settlement day {key} appears twice (B941List[{first[key]}] and B941List[{i}])"))
        else:
            first[key] = i
    return findings


def check_periods_future(item: Any, index: int) -> list[Finding]:
    """`periods.future`: no consumption after the message was sent: no settlement day starting,
    and no period ending, after the senderTimestamp (with the clock tolerance)."""
    sent = sent_at(item)
    if sent is None:
        return []
    limit = sent + CLOCK_TOLERANCE
    findings = []
    for i, day in _days(item):
        start = timestamp(_day_date(day))
        if start is not None and start > limit:
            findings.append(Finding(
                "periods.future", ptr(index, *_DAYS, i, "settlementDay", "settlementDayDate"),
                f"a day before the send time {sent.isoformat()}", short(_day_date(day)),
                f"settlement day {_day_date(day)} starts after the message was sent ({sent.isoformat()})"))
            continue
        for j, period in enumerate(_periods(day)):
            end = timestamp(dig(period, "sp"))
            if end is not None and end > limit:
                findings.append(Finding(
                    "periods.future", ptr(index, *_DAYS, i, "MDRConsumptionPeriods", j, "sp"),
                    f"a period ended by the send time {sent.isoformat()}", short(period["sp"]),
                    f"period {j + 1} ends at {period['sp']}, after the message was sent ({sent.isoformat()})"))
                break
    return findings


def check_periods_no_days(item: Any, index: int) -> list[Finding]:
    """`periods.no-days`: an IF-064 B941List with no settlement day carries no consumption."""
    days = custom(item).get("B941List")
    if isinstance(days, list) and not days:
        return [Finding("periods.no-days", ptr(index, *_DAYS), "at least one settlement day", "0 days",
                        "B941List is empty: the message carries no consumption")]
    return []
