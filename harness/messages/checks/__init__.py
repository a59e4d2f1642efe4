"""Rules a JSON Schema cannot express: check digits, cross-field consistency, what the domain implies.

One module per rule family (`mpan`, `periods`, `sender`, `transaction`, `content`, `body`); this
module is the registry. Each `Rule` has a stable id (the Finding's `rule`), a one-line summary,
the specification's response codes for the fault where it names one (ResponseCodes DI-999,
`schemas/response-codes.toml`), and a severity. The participant-facing list is docs/rules.md;
tests/test_checks.py holds it to this registry.

`check_message` runs the per-message rules on every identified message, schema-valid or not;
`check_body` the rules over a whole body. Neither raises on odd input.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from harness.core.findings import Finding
from harness.messages.checks.base import CLOCK_TOLERANCE, Rule
from harness.messages.checks.body import check_body
from harness.messages.checks.content import (
    check_content_empty,
    check_notification_expiry,
    check_primary_recipient,
    check_profile_class,
    check_r0_consistency,
    check_reading_future,
)
from harness.messages.checks.mpan import check_mpan_check_digit, check_mpan_distributor, check_mpan_gsp
from harness.messages.checks.periods import (
    HALF_HOUR,
    PERIODS_PER_DAY,
    check_periods_count,
    check_periods_day_start,
    check_periods_duplicate_day,
    check_periods_future,
    check_periods_no_days,
    check_periods_sequence,
    check_periods_utc,
)
from harness.messages.checks.sender import (
    check_sender_role,
    check_sur_date,
    check_sur_dip_id,
    check_sur_interface,
    check_sur_role,
    check_timestamp_future,
)
from harness.messages.checks.transaction import check_d0_publication, check_d0_timestamp_order

__all__ = [
    "BODY_RULES", "CLOCK_TOLERANCE", "HALF_HOUR", "PERIODS_PER_DAY", "RULES", "Rule", "check_body", "check_message",
    "code_for_rule", "check_content_empty", "check_d0_publication", "check_d0_timestamp_order",
    "check_mpan_check_digit", "check_mpan_distributor", "check_mpan_gsp", "check_notification_expiry",
    "check_periods_count", "check_periods_day_start", "check_periods_duplicate_day", "check_periods_future",
    "check_periods_no_days", "check_periods_sequence", "check_periods_utc", "check_primary_recipient",
    "check_profile_class", "check_r0_consistency", "check_reading_future", "check_sender_role", "check_sur_date",
    "check_sur_dip_id", "check_sur_interface", "check_sur_role", "check_timestamp_future",
]

_RULE_LIST = (
    Rule("mpan.check-digit", check_mpan_check_digit, "MPAN core fails its check digit", ("RCP1061",)),
    Rule("mpan.distributor", check_mpan_distributor,
         "MPAN core does not start with a distributor id (10-23 DNO, 24-49 IDNO)", ("RCP1061",)),
    Rule("mpan.gsp-mismatch", check_mpan_gsp, "GSPGroupID is not the GSP group of the MPAN's DNO area",
         ("RCP1023",)),
    Rule("periods.count", partial(check_periods_count, severity="warning"),
         "a settlement day without all 48 periods (allowed: a warning)", (), "warning"),
    Rule("periods.sequence", check_periods_sequence,
         "sp is not the UTC end of consecutive half hours from 00:30", ("RCP1022",)),
    Rule("periods.utc", check_periods_utc, "settlementDayDate or sp not given in UTC (+00:00)", ("RCP1022",)),
    Rule("periods.day-start", check_periods_day_start, "settlementDayDate is not at midnight", ("RCP1022",)),
    Rule("periods.duplicate-day", check_periods_duplicate_day, "the same settlement day twice in one message",
         ("RCP1023",)),
    Rule("periods.future", check_periods_future,
         "a settlement day or period after the message's senderTimestamp", ("RCP1022",)),
    Rule("periods.no-days", check_periods_no_days, "IF-064 with an empty B941List", ("RCP1021",)),
    Rule("sur.interface", check_sur_interface, "senderUniqueReference names another interface than S0",
         ("RCP1006",)),
    Rule("sur.role", check_sur_role, "senderUniqueReference names another role than S1.senderRoleID",
         ("RCP1006",)),
    Rule("sur.dip-id", check_sur_dip_id, "senderUniqueReference names another DIP ID than S1.senderDIPID",
         ("RCP1006",)),
    Rule("sur.date", check_sur_date,
         "senderUniqueReference dated neither the senderTimestamp's day nor the day before", ("RCP1006",)),
    Rule("sender.role", check_sender_role, "S1.senderRoleID is not the role that sends this event",
         ("MSG1010", "RCP1010")),
    Rule("timestamp.future", check_timestamp_future, "senderTimestamp in the future (beyond 5 minutes)",
         ("MSG1007", "RCP1008"), timed=True),
    Rule("d0.publication", check_d0_publication, "D0.publicationID is not the interface's publication",
         ("RCP1042",)),
    Rule("d0.timestamp-order", check_d0_timestamp_order, "D0.transactionTimestamp before the senderTimestamp",
         ("RCP1044",)),
    Rule("r0.inconsistent", check_r0_consistency, "R0.responseCode contradicts its responseMessages",
         ("RCP1052",)),
    Rule("notification.expiry", check_notification_expiry,
         "IF-024 supplierNotificationExpiryDate before its effective date", ("RCP1023",)),
    Rule("reading.future", check_reading_future, "IF-065 reading dated after the senderTimestamp", ("RCP1022",)),
    Rule("profile-class.range", check_profile_class, "IF-026 profileClass outside 1-8", ("RCP1022",)),
    Rule("a0.no-primary", check_primary_recipient, "IF-061 without a primary recipient", ("MSG1030",)),
    Rule("content.empty", check_content_empty,
         "a message whose content list is empty (ReadingRemote without readings, SN-OffPeakDec without declarations)",
         ("RCP1021",)),
)
RULES: dict[str, Rule] = {rule.id: rule for rule in _RULE_LIST}

# Rules over a whole body (check_body): id -> (summary, codes).
BODY_RULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "body.duplicate-message": ("the same message twice in one body", ("MSG1006", "RCP1006")),
    "body.duplicate-sur": ("two messages of one body share a senderUniqueReference", ("MSG1006", "RCP1006")),
    "body.duplicate-transaction": ("two messages of one body share a D0.transactionID", ("RCP1043",)),
}


def check_message(item: dict, index: int = 0, *, now: datetime | None = None) -> list[Finding]:
    """Findings of every per-message rule for one wire item; `now` judges timestamp.future."""
    findings: list[Finding] = []
    for rule in RULES.values():
        findings.extend(rule(item, index, now))
    return findings


def code_for_rule(rule_id: str, side: str = "RCP") -> str | None:
    """The specification's code (side "RCP" recipient, "MSG" DIP) for a rule id, if it names one."""
    codes = RULES[rule_id].codes if rule_id in RULES else BODY_RULES.get(rule_id, ("", ()))[1]
    return next((c for c in codes if c.startswith(side)), None)

