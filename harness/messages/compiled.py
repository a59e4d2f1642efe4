"""A compiled verdict for one wire item: jsonschema-rs says "valid" quickly; what fails goes on to
jsonschema for the detailed, readable findings.

Most messages the harness judges are valid (samples, a good participant's submissions, every
message of a bundle being verified), and `$ref` look-ups make the reference validator slow on
them: a 200-day IF-064 took most of a second. A compiled validator decides validity in
microseconds, so the reference path runs only where there is something to report.

The compiled engine must give the same verdict as the reference path with the dialect of
`harness.messages.dialect`:

- patterns: jsonschema-rs runs them as ECMA-262 (no `$` before a trailing newline, ASCII `\\d`),
  the same as the dialect's `regress`;
- the DT-003/DT-021 formats: the same Python functions are given to jsonschema-rs by name;
- integers: draft 2020-12 (which jsonschema-rs follows) calls `30.0` an integer, the
  specification does not. Every schema that says `integer` (and not `number`) is given a keyword
  of dipcert's own, `dipcert-integer`, that refuses a float there, so the compiled verdict on
  `30.0` is the specification's.

A verdict of `None` is never a guess: it sends the item to the reference validator.
`tests/test_compiled.py` holds the two engines to the same verdict on every differential case.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import jsonschema_rs

from harness.messages.dialect import DATE_FORMAT, DATE_TIME_FORMAT, is_date, is_date_time

Draft = Literal["2020-12", "4"]

_FORMATS = {DATE_TIME_FORMAT: is_date_time, DATE_FORMAT: is_date}
_DRAFTS = {"2020-12": (jsonschema_rs.Draft202012, jsonschema_rs.Draft202012Validator),
           "4": (jsonschema_rs.Draft4, jsonschema_rs.Draft4Validator)}


INTEGER_KEYWORD = "dipcert-integer"
_NOT_SCHEMAS = frozenset({"enum", "const", "default", "examples", "example"})  # values, not schemas


class _WholeNumber:
    """`dipcert-integer`: a number written with a fraction or exponent (a Python float after JSON
    parsing) is not an integer (OpenAPI 3.0; `harness.messages.dialect.is_integer`)."""

    def __init__(self, parent_schema: dict, value: Any, schema_path: list) -> None:
        del parent_schema, value, schema_path  # the keyword takes no argument

    def validate(self, instance: Any) -> None:
        if type(instance) is float:
            raise ValueError(f"{instance!r} is not an integer")


def with_integer_keyword(node: Any) -> Any:
    """A copy of a schema document where every `integer` (not also `number`) carries `dipcert-integer`."""
    if isinstance(node, list):
        return [with_integer_keyword(value) for value in node]
    if not isinstance(node, dict):
        return node
    out = {key: value if key in _NOT_SCHEMAS else with_integer_keyword(value) for key, value in node.items()}
    types = node.get("type")
    types = types if isinstance(types, list) else [types]
    if "integer" in types and "number" not in types:
        out[INTEGER_KEYWORD] = True
    return out


class CompiledCheck:
    """The compiled validity verdict of one wire-item schema."""

    def __init__(self, schema: Mapping[str, Any] | bool, resources: Iterable[tuple[str, Any]], draft: Draft) -> None:
        specification, validator_class = _DRAFTS[draft]
        registry = jsonschema_rs.Registry([(uri, with_integer_keyword(document)) for uri, document in resources],
                                          draft=specification)
        self._validator = validator_class(with_integer_keyword(schema), registry=registry, formats=_FORMATS,
                                          validate_formats=True, keywords={INTEGER_KEYWORD: _WholeNumber})

    def verdict(self, item: Any) -> bool | None:
        """True: valid; False: invalid (ask the reference path what is wrong); None: not judged
        here (a value jsonschema-rs cannot read), the reference path decides."""
        try:
            return bool(self._validator.is_valid(item))
        except ValueError:  # a value with no JSON counterpart (a non-string key, an object)
            return None
