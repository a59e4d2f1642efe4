"""What every rule module shares: the Rule record, JSON pointers, and defensive readers.

Rules run on every identified message, schema-valid or not, so each reads defensively: a field
that is missing or of the wrong type is the schema's finding, and the rule quietly skips.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from harness.core.catalogue import Event, load_catalogue
from harness.core.findings import Finding
from harness.messages.access import dig
from harness.messages.ids import parse_dip_timestamp

# How far a sender's clock may run ahead before its timestamps count as "in the future" (the
# same window as the signature clock skew and the reference recipient's RCP1008 check).
CLOCK_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class Rule:
    """One rule: its stable id, the check, the specification's codes for it, and its severity.

    `codes` are the MSG (DIP) / RCP (recipient) codes of ResponseCodes (DI-999) that name this
    fault, when the specification names one. `timed` rules judge against a clock (`now`).
    """

    id: str
    check: Callable[..., list[Finding]]
    summary: str
    codes: tuple[str, ...] = ()
    severity: str = "error"
    timed: bool = False

    def __call__(self, item: Any, index: int = 0, now: datetime | None = None) -> list[Finding]:
        return self.check(item, index, now=now) if self.timed else self.check(item, index)

    @property
    def rcp(self) -> str | None:
        """The recipient's code (RCP...) for this fault, if the specification names one."""
        return next((c for c in self.codes if c.startswith("RCP")), None)


def ptr(index: int, *parts: object) -> str:
    """JSON pointer from the body's array root into item `index`'s payload."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in (index, "payload", *parts))


def common(item: Any) -> dict:
    found = dig(item, "payload", "CommonBlock")
    return found if isinstance(found, dict) else {}


def custom(item: Any) -> dict:
    found = dig(item, "payload", "CustomBlock")
    return found if isinstance(found, dict) else {}


def timestamp(value: Any) -> datetime | None:
    """A DT-003 value as an aware datetime, or None (malformed values are the schema's finding)."""
    try:
        return parse_dip_timestamp(value)
    except (ValueError, TypeError):
        return None


def sent_at(item: Any) -> datetime | None:
    return timestamp(dig(common(item), "S1", "senderTimestamp"))


def event_of(item: Any) -> Event | None:
    """The catalogue event S0 names, or None."""
    s0 = dig(common(item), "S0")
    iid, code = dig(s0, "interfaceID"), dig(s0, "eventCode")
    if not isinstance(iid, str) or not isinstance(code, str):
        return None
    return load_catalogue().find_event_by_code(iid, code)


def items_of(value: Any) -> list[tuple[int, dict]]:
    """(position, object) for each object of a list (anything else: nothing)."""
    return [(i, v) for i, v in enumerate(value) if isinstance(v, dict)] if isinstance(value, list) else []
