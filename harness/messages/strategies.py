"""Hypothesis strategies for VALID DIP messages of every event.

The same block builders as the realistic samples (`harness.messages.samples.EVENT_BLOCKS`) draw
their values from hypothesis here, so property tests explore the whole valid space (every enum
value, optional blocks present or absent, nullable fields null, lists of varied length, any date
near the GMT/BST changes) while staying consistent with the business rules of
`harness.messages.checks`: valid MPAN check digit and GSP group, 48 consecutive UTC periods per
settlement day, a senderUniqueReference that matches S0, S1 and the senderTimestamp's London date.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, TypeVar

from hypothesis import strategies as st

from harness.core.catalogue import load_catalogue
from harness.core.errors import UsageError
from harness.messages import ids
from harness.messages.checks.content import MESSAGE_CODE
from harness.messages.samples import (
    ENVIRONMENTS,
    FORMS,
    GSP_GROUPS,
    Context,
    Form,
    Party,
    build_item,
    decimal_9_3,
    default_recipient_role,
)

T = TypeVar("T")
UTC = timezone.utc
MAX_DAYS = 3  # IF-064 settlement days per generated message: keeps generation fast

_ALNUM = string.ascii_letters + string.digits
_UPPER = string.ascii_uppercase
_HEX = "0123456789ABCDEF"
# Printable text without control characters or surrogates: what a participant's free text may hold.
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1, max_size=40)


def uncoded(text: str) -> bool:
    """Free text that no rule reads as a coded message (`AAA100 ...` is read as failure code AAA100)."""
    return MESSAGE_CODE.match(text) is None


_UNCODED = _TEXT.filter(uncoded)

_TEXT_KINDS: dict[str, st.SearchStrategy[str]] = {
    "meter_id": st.text(_ALNUM, min_size=1, max_size=10),
    "guid": st.lists(st.text(_HEX, min_size=2, max_size=2), min_size=1, max_size=8).map("-".join),
    "make": _TEXT,
    "mpid": st.integers(0, 26**4 - 1).map(lambda n: "".join(_UPPER[n // 26**k % 26] for k in range(4))),
    "smso": st.text(_UPPER, min_size=1, max_size=4),
    "css_id": st.uuids().map(str) | st.text(_ALNUM + "-", min_size=1, max_size=36),
    "unique": st.text(_ALNUM, min_size=1, max_size=30),
    "dip_id": st.integers(0, 10**10 - 1).map(lambda n: f"{n:010d}"),
    "url": st.from_regex(r"https://[a-z]{1,20}\.example/[a-z0-9]{1,40}", fullmatch=True),
    "note": _TEXT,
    # R0 messages agree with the response code (checks rule r0.inconsistent): success codes, or
    # free text with no code, for A; a failure code, or free text, for R. Free text that starts like a
    # code ("AAA100 ...") is read as one by that rule, so it is left out of both.
    "message": st.sampled_from(("SP000 - Proposed Appointment ACCEPTED", "MSG0000 - Success")) | _UNCODED,
    "rejection": st.sampled_from(("SP007 - Out of Operational Area", "RCP1061 - MPAN Invalid or Unknown"))
    | _UNCODED,
}


# Hypothesis validates every strategy object it meets, which is slow: build each one once.
@lru_cache(maxsize=None)
def _sampled(options: tuple) -> st.SearchStrategy:
    return st.sampled_from(options)


@lru_cache(maxsize=None)
def _integers(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.integers(lo, hi)


_BOOLEANS = st.booleans()
_FRACTION = st.integers(0, 1_000_000)  # where in a time span a moment falls, in millionths
_NUMBERS: dict[tuple[float, float], st.SearchStrategy[float]] = {}


class HypothesisSource:
    """A `samples.Source` that draws every value from hypothesis."""

    def __init__(self, draw: Any) -> None:
        self.draw = draw

    def choice(self, options: Sequence[T], prefer: Sequence[T] | None = None) -> T:
        return self.draw(_sampled(tuple(options)))

    def integer(self, lo: int, hi: int, prefer: Sequence[int] | None = None) -> int:
        return self.draw(_integers(lo, hi))

    def chance(self, p: float) -> bool:
        return self.draw(_BOOLEANS)

    def decimal(self, lo: float, hi: float, typical: float | None = None) -> str:
        return decimal_9_3(self.draw(_integers(round(lo * 1000), round(hi * 1000))) / 1000)

    def number(self, lo: float, hi: float) -> float:
        if (lo, hi) not in _NUMBERS:
            _NUMBERS[(lo, hi)] = st.integers(int(lo), int(hi)) | st.floats(lo, hi, allow_nan=False,
                                                                           allow_infinity=False)
        return self.draw(_NUMBERS[(lo, hi)])

    def text(self, kind: str) -> str:
        if kind not in _TEXT_KINDS:
            raise ValueError(f"unknown text kind {kind!r}")
        return self.draw(_TEXT_KINDS[kind])

    def moment(self, lo: datetime, hi: datetime, *, midnight: bool = True) -> datetime:
        span = max(0, int((hi - lo).total_seconds()))
        seconds = span * self.draw(_FRACTION) // 1_000_000
        return (lo + timedelta(seconds=seconds)).astimezone(UTC).replace(microsecond=0)


# Around both clock changes of several years, and ordinary days; never in the future (a future
# senderTimestamp is the checks rule timestamp.future).
_NOW = st.datetimes(datetime(2021, 1, 1), datetime(2025, 12, 31), timezones=st.just(UTC)).map(
    lambda d: d.replace(microsecond=0))
# One integer per identifier rather than a choice per character: generation stays fast.
_DIP_ID = st.integers(0, 16**10 - 1).map(lambda n: f"{n:010x}")  # the SUR pattern accepts hex DIP IDs
_MPID = st.integers(0, 26**4 - 1).map(lambda n: "".join(_UPPER[n // 26**k % 26] for k in range(4)))
_CORRELATION = st.none() | st.text(_ALNUM, min_size=1, max_size=24)
_NULL_OR_TEXT = st.none() | _TEXT
_SECONDARY = st.lists(_DIP_ID, max_size=2)
_ALWAYS = st.lists(_DIP_ID, max_size=1)
_URL = st.none() | st.from_regex(r"https://[a-z]{1,20}\.example/[a-z0-9]{1,40}", fullmatch=True)
_DELAY = st.integers(0, 600)
_DAYS = st.integers(1, MAX_DAYS)
_DIRECTIONS = st.sampled_from(("I", "E"))
_ENVIRONMENTS = st.sampled_from(ENVIRONMENTS)
_GSP = st.sampled_from(GSP_GROUPS)
_TEN_DIGITS = st.integers(0, 10**10 - 1).map(lambda n: f"{n:010d}")


@lru_cache(maxsize=None)
def parties(role: str) -> st.SearchStrategy[Party]:
    """Parties of `role` with drawn identifiers (a DCP acting on its behalf, or none)."""
    return st.builds(Party, st.just(role), _DIP_ID, _MPID, st.none() | _DIP_ID)


@st.composite
def mpans(draw: Any, gsp: str | None = None) -> tuple[str, str]:
    """(MPAN core with a valid check digit, its GSP group)."""
    gsp = gsp or draw(_GSP)
    body = ids.GSP_DISTRIBUTOR[gsp] + draw(_TEN_DIGITS)
    return body + str(ids.mpan_check_digit(body)), gsp


@st.composite
def _message(draw: Any, interface_id: str, event_name: str, form: Form) -> dict:
    catalogue = load_catalogue()
    event = catalogue.event(interface_id, event_name)
    src = HypothesisSource(draw)
    now = draw(_NOW)
    sender = draw(parties(event.sender))
    recipient = draw(parties(default_recipient_role(event, sender.role)))
    mpan, gsp = draw(mpans())
    known = {role: draw(parties(role)) for role in ("MDR", "SUP")}  # named in B019/B083 and B012
    token = draw(_CORRELATION)
    correlation = None if token is None else f"CI-{now.astimezone(ids.LONDON):%Y%m%d}-{token}"
    ctx = Context(src=src, now=now, event=event, sender=sender, recipient=recipient, parties=known, mpan=mpan,
                  gsp=gsp, environment=draw(_ENVIRONMENTS), days=draw(_DAYS),
                  direction=draw(_DIRECTIONS), correlation_id=correlation)
    item = build_item(ctx, form=form)
    common = item["payload"]["CommonBlock"]
    s1 = common["S1"]
    s1["subText"] = draw(_NULL_OR_TEXT)
    # A0 is optional: addressing may be left to the DIP, except for IF-061, whose MDR only the
    # sender can name (checks rule a0.no-primary).
    if form == "ingress" and event.interface_id != "IF-061" and draw(_BOOLEANS):
        del common["A0"]
    if form == "egress":
        common["A0"]["secondaryRecipients"] = draw(_SECONDARY)
        common["A0"]["always"] = draw(_ALWAYS)
        d0 = common["D0"]
        d0["replayIndicator"] = draw(_BOOLEANS)
        d0["serviceTicketURL"] = draw(_URL)
        d0["transactionTimestamp"] = ids.dip_timestamp(now + timedelta(seconds=draw(_DELAY)))
    return item


def message_strategy(interface_id: str, event: str | None = None, *, form: Form = "ingress") -> st.SearchStrategy[dict]:
    """Valid wire items `{"payload": {...}}` of one event (the name may be omitted for one-event interfaces)."""
    if form not in FORMS:
        raise UsageError(f"unknown message form {form!r} (expected one of: {', '.join(FORMS)})")
    ev = load_catalogue().event(interface_id, event)
    return _message(ev.interface_id, ev.name, form)


def body_strategy(interface_id: str, event: str | None = None, *, form: Form = "ingress",
                  max_size: int = 3) -> st.SearchStrategy[list[dict]]:
    """The POSTed array: 1..max_size valid items of one event."""
    # A reference, and a DIP transaction id, at most once per body (checks rules body.duplicate-*).
    return st.lists(message_strategy(interface_id, event, form=form), min_size=1, max_size=max_size,
                    unique_by=(_sur_of, _transaction_of))


def _sur_of(item: dict) -> Any:
    return item["payload"]["CommonBlock"]["S1"]["senderUniqueReference"]


def _transaction_of(item: dict) -> Any:
    d0 = item["payload"]["CommonBlock"].get("D0")
    return d0["transactionID"] if d0 else _sur_of(item)
