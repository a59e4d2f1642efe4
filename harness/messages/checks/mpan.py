"""M0: the MPAN core's check digit, its distributor id, and the GSP group it belongs to."""

from __future__ import annotations

from typing import Any

from harness.core.findings import Finding, short
from harness.messages.access import dig
from harness.messages.checks.base import common, ptr
from harness.messages.ids import (
    GSP_DISTRIBUTOR,
    distributor_kind,
    gsp_for_mpan,
    is_valid_mpan,
    mpan_check_digit,
)

_MPAN = ("CommonBlock", "M0", "MPANCore")


def _well_formed(mpan: Any) -> bool:
    return isinstance(mpan, str) and len(mpan) == 13 and mpan.isascii() and mpan.isdigit()


def check_mpan_check_digit(item: Any, index: int) -> list[Finding]:
    mpan = dig(common(item), "M0", "MPANCore")
    if not _well_formed(mpan) or is_valid_mpan(mpan):
        return []
    digit = mpan_check_digit(mpan[:12])
    return [Finding("mpan.check-digit", ptr(index, *_MPAN), f"check digit {digit}",
                    f"{mpan[12]} in {mpan!r}", f"MPAN core {mpan} fails its check digit (expected {digit})")]


def check_mpan_distributor(item: Any, index: int) -> list[Finding]:
    """The first two digits are a distributor id: 10-23 a DNO area, 24-49 an IDNO (A-MPAN-DISTRIBUTOR)."""
    mpan = dig(common(item), "M0", "MPANCore")
    if not _well_formed(mpan) or distributor_kind(mpan) is not None:
        return []
    return [Finding("mpan.distributor", ptr(index, *_MPAN), "distributor id 10-23 (DNO) or 24-49 (IDNO)",
                    f"{mpan[:2]} in {mpan!r}",
                    f"MPAN core {mpan} starts with {mpan[:2]}, which is no distributor's id")]


def check_mpan_gsp(item: Any, index: int) -> list[Finding]:
    m0 = dig(common(item), "M0")
    mpan, gsp = dig(m0, "MPANCore"), dig(m0, "GSPGroupID")
    expected = gsp_for_mpan(mpan) if _well_formed(mpan) else None
    # An IDNO prefix cannot be placed; a GSP group outside DI-037 is the schema's (enum) finding.
    if expected is None or gsp not in GSP_DISTRIBUTOR or gsp == expected:
        return []
    return [Finding("mpan.gsp-mismatch", ptr(index, "CommonBlock", "M0", "GSPGroupID"), expected, short(gsp),
                    f"MPAN {mpan} belongs to GSP group {expected} (distributor {mpan[:2]}), not {gsp}")]
