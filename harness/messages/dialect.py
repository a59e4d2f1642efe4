"""What the specification's schema words mean, in ONE place used by both schema packs.

dipcert's own pack (JSON Schema 2020-12) and Elexon's specification (OpenAPI 3.0, validated as
draft 4) must give the same verdict on every message, so the few places where a Python validator
would read the words differently from the specification are settled here and applied to both:

- `pattern` is an ECMA-262 regular expression (JSON Schema and OpenAPI 3.0 both say so), not a
  Python `re` one. Python's `$` matches before a trailing newline ("1.000\\n") and its `\\d`
  matches any Unicode digit (Arabic-Indic "١٢٣"); ECMA-262's do neither. Patterns are run by the
  `regress` package: Rust's ECMA-262 engine, kept by jsonschema's own maintainer (jsonschema
  uses it for its `regex` format). A real ECMA engine instead of a hand-written translation of
  patterns to Python `re`: no translation rules to get subtly wrong, and the verdict of any
  pattern the specification adds later is still ECMA-262's.
- `integer` is OpenAPI 3.0's (JSON Schema Wright draft 00): "a JSON number without a fraction
  or exponent part". `30.0` is a number, not an integer, in both packs (draft 2020-12 would call
  it an integer; the specification's own dialect does not).
- DT-003 date-times and DT-021 dates carry only a length in the specification, with the words
  "ISO 8601 Date/time", "mandating the full length ... i.e. inclusion of the +hh:mm offset".
  Both packs mark them with the formats below, asserted by `FORMAT_CHECKER`: a DT-003 value is
  `YYYY-MM-DDThh:mm:ss±hh:mm` naming a real instant; a DT-021 value is a real `YYYY-MM-DD` date.

A compiled fast path (another validator engine) must reproduce exactly these three rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from functools import lru_cache
from typing import Any

import regress
from jsonschema import FormatChecker, validators
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator

from harness.messages.ids import parse_dip_timestamp

DATE_TIME_FORMAT = "dip-date-time"  # DT-003 / DT-003N
DATE_FORMAT = "dip-date"  # DT-021 / DT-021N
DATE_TIME_EXAMPLE = "2022-03-21T19:05:00+00:00"

_DATE_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits only, never \d


# --- patterns -----------------------------------------------------------------------------------

@lru_cache(maxsize=512)
def _compiled(pattern: str) -> regress.Regex:
    return regress.Regex(pattern, "u")


def ecma_search(pattern: str, value: str) -> bool:
    """True when the ECMA-262 regular expression `pattern` matches somewhere in `value`
    (JSON Schema's `pattern` is unanchored: the specification's patterns anchor themselves)."""
    return _compiled(pattern).find(value) is not None


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not ecma_search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# --- integers -----------------------------------------------------------------------------------

def is_integer(checker: Any, instance: Any) -> bool:
    """OpenAPI 3.0's integer: a JSON number written without fraction or exponent (never a bool)."""
    return isinstance(instance, int) and not isinstance(instance, bool)


# --- date-times and dates ----------------------------------------------------------------------

def is_date_time(value: Any) -> bool:
    if not isinstance(value, str):
        return True  # formats judge strings only; the type is the schema's business
    try:
        parse_dip_timestamp(value)  # the one definition of a valid DT-003 value
    except ValueError:
        return False
    return True


def is_date(value: Any) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE_SHAPE.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


FORMAT_CHECKER = FormatChecker(formats=())
FORMAT_CHECKER.checks(DATE_TIME_FORMAT)(is_date_time)
FORMAT_CHECKER.checks(DATE_FORMAT)(is_date)

FORMAT_DESCRIPTIONS = {
    DATE_TIME_FORMAT: f"a real date-time with offset, YYYY-MM-DDThh:mm:ss±hh:mm (e.g. {DATE_TIME_EXAMPLE})",
    DATE_FORMAT: "a real date, YYYY-MM-DD",
}


# --- validator classes --------------------------------------------------------------------------

@lru_cache(maxsize=None)
def dip_validator_class(base: type[Validator]) -> type[Validator]:
    """`base` (a jsonschema validator class) with the specification's pattern and integer rules.

    Create instances with `format_checker=FORMAT_CHECKER` so the DT-003/DT-021 formats assert.
    """
    type_checker = base.TYPE_CHECKER.redefine("integer", is_integer)
    return validators.extend(base, validators={"pattern": _pattern}, type_checker=type_checker)
