"""Identifiers of the DIP: DIP IDs, MPIDs, MPAN cores, references and 25-character timestamps.

Formats are from the DIP specification's data types (DT-xxx); the MPAN check digit and the
GSP group to distributor mapping are industry rules the specification does not state (domain
brief section 4). Generators take a `random.Random` so that a seed reproduces every sample.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")

MPAN_WEIGHTS = (3, 5, 7, 13, 17, 19, 23, 29, 31, 37, 41, 43)

# DI-037 GSP group -> distributor id (first two digits of an MPAN core, DNO areas 10..23).
GSP_DISTRIBUTOR: dict[str, str] = {
    "_A": "10", "_B": "11", "_C": "12", "_D": "13", "_E": "14", "_F": "15", "_G": "16",
    "_P": "17", "_N": "18", "_J": "19", "_H": "20", "_K": "21", "_L": "22", "_M": "23",
}
DISTRIBUTOR_GSP: dict[str, str] = {v: k for k, v in GSP_DISTRIBUTOR.items()}
# Independent distribution network operators' ids are allocated upwards from 24; the list grows,
# so a range rather than today's list (catalogue assumption A-MPAN-DISTRIBUTOR). No distributor
# id is below 10 or above 49.
IDNO_DISTRIBUTORS = range(24, 50)

# ASCII digits only and `\Z`, never `$`: the DIP's patterns are ECMA-262, where `\d` is [0-9] and
# `$` does not match before a trailing newline (harness.messages.dialect).
SUR_PATTERN = re.compile(
    r"^S-(?:(?P<kind>IF|REP)-)?(?P<number>[0-9]{3,4})-(?P<dipid>[0-9a-fA-F]{10})-(?P<role>[A-Z]{3,5})"
    r"-(?P<date>[0-9]{8})-(?P<unique>[a-zA-Z0-9]+)\Z"
)
TIMESTAMP_PATTERN = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2}:[0-9]{2}\Z")


# --- MPAN cores -------------------------------------------------------------------------------

def mpan_check_digit(first12: str) -> int:
    """The 13th digit of an MPAN core: sum of digit x prime weight, mod 11, mod 10."""
    if len(first12) != 12 or not (first12.isascii() and first12.isdigit()):
        raise ValueError(f"expected 12 digits, got {first12!r}")
    return sum(int(d) * w for d, w in zip(first12, MPAN_WEIGHTS)) % 11 % 10


def is_valid_mpan(mpan: str) -> bool:
    return (isinstance(mpan, str) and len(mpan) == 13 and mpan.isascii() and mpan.isdigit()
            and mpan_check_digit(mpan[:12]) == int(mpan[12]))


def gsp_for_mpan(mpan: str) -> str | None:
    """The GSP group a DNO-area MPAN belongs to; None for IDNO prefixes we cannot place."""
    return DISTRIBUTOR_GSP.get(mpan[:2]) if isinstance(mpan, str) else None


def distributor_kind(mpan: str) -> str | None:
    """"DNO" or "IDNO" for the MPAN core's first two digits; None when they are no distributor id."""
    prefix = mpan[:2] if isinstance(mpan, str) else ""
    if prefix in DISTRIBUTOR_GSP:
        return "DNO"
    if prefix.isascii() and prefix.isdigit() and int(prefix) in IDNO_DISTRIBUTORS:
        return "IDNO"
    return None


def make_mpan(rng: random.Random, gsp_group: str | None = None) -> str:
    gsp = gsp_group or rng.choice(sorted(GSP_DISTRIBUTOR))
    body = GSP_DISTRIBUTOR[gsp] + "".join(str(rng.randrange(10)) for _ in range(10))
    return body + str(mpan_check_digit(body))


def break_check_digit(mpan: str) -> str:
    """The same MPAN with a wrong check digit (for negative samples)."""
    return mpan[:12] + str((int(mpan[12]) + 1) % 10)


# --- Parties ----------------------------------------------------------------------------------

def make_dip_id(rng: random.Random, prefix: str = "") -> str:
    """A 10-character DIP ID. Observed IDs are numeric; the meaning of the prefix is unknown."""
    return (prefix + "".join(str(rng.randrange(10)) for _ in range(10)))[:10]


def make_mpid(rng: random.Random) -> str:
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4))


def is_dip_id(value: object) -> bool:
    return isinstance(value, str) and len(value) == 10


def is_mpid(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[A-Z]{4}", value) is not None


# --- Timestamps -------------------------------------------------------------------------------

def dip_timestamp(moment: datetime | None = None) -> str:
    """DT-003: 25 characters, seconds precision, Europe/London wall clock with explicit offset."""
    moment = moment or datetime.now(timezone.utc)
    if moment.tzinfo is None:
        raise ValueError("dip_timestamp needs an aware datetime")
    return moment.astimezone(LONDON).replace(microsecond=0).isoformat()


def utc_timestamp(moment: datetime) -> str:
    """DT-003 in UTC (`+00:00`), as settlement periods and settlement days are given."""
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat()


def parse_dip_timestamp(value: object) -> datetime:
    """Parse DT-003; raises ValueError unless it is exactly the 25-character form of a real instant
    (a calendar date, a time of day, an offset under 24 hours). The one definition of a valid
    DT-003 value: the schema packs' `dip-date-time` format uses it too."""
    if not isinstance(value, str):
        raise ValueError(f"expected a 25-character timestamp like 2024-03-21T19:05:00+00:00, got {value!r}")
    return _parse_timestamp(value)


@lru_cache(maxsize=8192)
def _parse_timestamp(value: str) -> datetime:
    """`parse_dip_timestamp` of a string, remembered: an IF-064 carries 48 period ends per day and a
    run's messages share their days, so verify parsed the same values hundreds of thousands of times
    (a datetime is immutable: sharing one is safe). Invalid values raise every time (never cached)."""
    if len(value) != 25 or not TIMESTAMP_PATTERN.match(value):
        raise ValueError(f"expected a 25-character timestamp like 2024-03-21T19:05:00+00:00, got {value!r}")
    return datetime.fromisoformat(value)


# --- References -------------------------------------------------------------------------------

@dataclass(frozen=True)
class SenderReference:
    interface_number: str  # "061"
    dip_id: str
    role: str
    day: str  # YYYYMMDD as written
    unique: str
    kind: str | None  # "IF", "REP" or None


def unique_token(rng: random.Random, length: int = 12) -> str:
    return "".join(rng.choice("0123456789abcdefghijklmnopqrstuvwxyz") for _ in range(length))


def sender_unique_reference(interface_id: str, dip_id: str, role: str, day: date | datetime,
                            unique: str) -> str:
    """`S-IF-061-<DIP ID>-<ROLE>-<YYYYMMDD>-<unique>` (DT-995)."""
    number = interface_id.upper().removeprefix("IF-")
    stamp = day.astimezone(LONDON).date() if isinstance(day, datetime) else day
    return f"S-IF-{number}-{dip_id}-{role}-{stamp:%Y%m%d}-{unique}"


def parse_sender_unique_reference(value: str) -> SenderReference | None:
    m = SUR_PATTERN.match(value) if isinstance(value, str) else None
    if not m:
        return None
    return SenderReference(m["number"], m["dipid"], m["role"], m["date"], m["unique"], m["kind"])


def transaction_id(interface_id: str, dip_id: str, role: str, moment: datetime, unique: str) -> str:
    """DT-014 as the DIP writes it: `T-IF-006-<DIP ID>-<ROLE>-<YYYYMMDD>-<unique>` (max 65)."""
    number = interface_id.upper().removeprefix("IF-")
    return f"T-IF-{number}-{dip_id}-{role}-{moment.astimezone(LONDON):%Y%m%d}-{unique}"[:65]


def correlation_id(moment: datetime, rng: random.Random) -> str:
    """DT-011: `CI-<YYYYMMDD>-<unique>`, at most 60 characters."""
    return f"CI-{moment.astimezone(LONDON):%Y%m%d}-{unique_token(rng, 24)}"


# --- Settlement periods -----------------------------------------------------------------------

def settlement_period_ends(day: date) -> list[datetime]:
    """UTC ends of the 48 half hours of a UTC settlement day (00:30 ... next day 00:00)."""
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    return [start + timedelta(minutes=30 * (i + 1)) for i in range(48)]
