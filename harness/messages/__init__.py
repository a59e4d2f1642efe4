"""Messages: the schema pack, sample messages, validation and the business rules over message content.

Everything here is about one message (or a pair: correlation, MPAN, consumption window) and knows
nothing of transport, the DIP or a run.
"""

# -- public face (what other layers use; tests/test_architecture.py keeps it complete) --
from harness.messages.access import dig
from harness.messages.business import correlation_rule
from harness.messages.checks import code_for_rule
from harness.messages.ids import (
    LONDON,
    break_check_digit,
    correlation_id,
    dip_timestamp,
    is_valid_mpan,
    make_mpan,
    parse_dip_timestamp,
)
from harness.messages.samples import DEFAULT_PARTIES, Party, SampleFactory, add_d0
from harness.messages.schemapack import load_pack
from harness.messages.validate import identify, parse_body, validate_body

__all__ = [
    "DEFAULT_PARTIES", "LONDON", "Party", "SampleFactory", "add_d0", "break_check_digit", "code_for_rule",
    "correlation_id", "correlation_rule", "dig", "dip_timestamp", "identify", "is_valid_mpan", "load_pack",
    "make_mpan", "parse_body", "parse_dip_timestamp", "validate_body",
]
