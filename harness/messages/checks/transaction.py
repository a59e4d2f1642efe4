"""D0: the transaction block the DIP adds on delivery, checked against the message it carries."""

from __future__ import annotations

from typing import Any

from harness.core.catalogue import load_catalogue
from harness.core.findings import Finding, short
from harness.messages.access import dig
from harness.messages.checks.base import CLOCK_TOLERANCE, common, ptr, sent_at, timestamp


def check_d0_publication(item: Any, index: int) -> list[Finding]:
    """`d0.publication` (RCP1042): D0.publicationID is the publication of S0's interface (IF-061 -> PUB-061)."""
    block = common(item)
    publication, declared = dig(block, "D0", "publicationID"), dig(block, "S0", "interfaceID")
    interface = load_catalogue().interfaces.get(declared) if isinstance(declared, str) else None
    if interface is None or not isinstance(publication, str) or publication == interface.publication_id:
        return []
    return [Finding("d0.publication", ptr(index, "CommonBlock", "D0", "publicationID"), interface.publication_id,
                    short(publication), f"D0.publicationID {publication} is not the publication of {interface.id} "
                    f"({interface.publication_id}) (RCP1042)")]


def check_d0_timestamp_order(item: Any, index: int) -> list[Finding]:
    """`d0.timestamp-order` (RCP1044): the DIP records a transaction after the sender stamped it
    (allowing the sender's clock to run ahead by the clock tolerance)."""
    stamp = dig(common(item), "D0", "transactionTimestamp")
    recorded, sent = timestamp(stamp), sent_at(item)
    if recorded is None or sent is None or recorded >= sent - CLOCK_TOLERANCE:
        return []
    return [Finding("d0.timestamp-order", ptr(index, "CommonBlock", "D0", "transactionTimestamp"),
                    f"not before senderTimestamp {sent.isoformat()}", short(stamp),
                    f"D0.transactionTimestamp {stamp} is before the senderTimestamp (RCP1044)")]
