"""Differential cases: one valid message bent field by field, constraint by constraint, so that
two validators (dipcert's pack and Elexon's specification, or a fast path and the reference
path) can be shown to give the same verdict on every case.

Unlike `harness.messages.mutations`, a case carries no expected verdict: the specification is
the judge, and a case is interesting precisely because a validator might read it differently
(a trailing newline, Arabic-Indic digits, `30.0` for an integer, an impossible date, a key
beside `payload`, an empty list). Every scalar of the message gets the same battery of values;
every object and list gets its structural cases. Deterministic: same message, same cases.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from harness.messages.validate import pointer

_ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")

# Wrong-shaped values every scalar is tried with (a type, or a length, the field may not take).
_ANY_SCALAR: tuple[tuple[str, Any], ...] = (
    ("null", None), ("true", True), ("zero", 0), ("integer 30", 30), ("float 30.0", 30.0), ("float 1.5", 1.5),
    ("empty string", ""), ("one space", " "), ("empty object", {}), ("empty array", []),
)
# 25-character values: the length of a DT-003 date-time, each a different way of not being one.
_DATE_TIMES: tuple[tuple[str, str], ...] = (
    ("25 x", "x" * 25),
    ("30 February", "2024-02-30T10:00:00+00:00"),
    ("month 13", "2024-13-01T10:00:00+00:00"),
    ("hour 25", "2024-01-01T25:00:00+00:00"),
    ("hour 24", "2024-03-21T24:00:00+00:00"),
    ("offset +25:00", "2024-01-01T10:00:00+25:00"),
    ("space for T", "2024-01-01 10:00:00+00:00"),
    ("fraction and Z", "2024-01-01T10:00:00.1234Z"),
    ("no colon in offset", "2024-01-01T10:00:00+0000x"),
    ("29 February 2023", "2023-02-29T00:00:00+00:00"),
    ("29 February 2024", "2024-02-29T00:00:00+00:00"),
    ("minus offset", "2024-01-01T10:00:00-05:00"),
)


@dataclass(frozen=True)
class Case:
    description: str
    path: str  # JSON pointer into the item where the change is
    item: dict


def _walk(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """Every node in document order; of a list, its first item only (the rest share its schema)."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, key))
    elif isinstance(node, list) and node:
        yield from _walk(node[0], (*path, 0))


def _with(item: dict, path: tuple, value: Any = None, *, delete: bool = False) -> dict:
    changed = copy.deepcopy(item)
    node = changed
    for part in path[:-1]:
        node = node[part]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = copy.deepcopy(value)
    return changed


def _string_values(value: str) -> list[tuple[str, str]]:
    values = [
        ("trailing newline", value + "\n"),
        ("leading newline", "\n" + value),
        ("one character longer", value + "A"),
        ("one character shorter", value[:-1]),
        ("lower case", value.lower()),
        ("upper case", value.upper()),
        ("same length of x", "x" * len(value)),
        ("surrounding space", f" {value} "),
    ]
    if any(c.isdigit() for c in value):
        values += [("Arabic-Indic digits", value.translate(_ARABIC_INDIC)),
                   ("full-width digits", value.translate(_FULLWIDTH)),
                   ("digits as letters O", value.replace("0", "O"))]
    if len(value) == 25:
        values += list(_DATE_TIMES)
    if "." in value:
        values += [("comma for point", value.replace(".", ",")), ("two decimals", value[:-1]),
                   ("minus sign", "-" + value.lstrip("-")), ("plus sign", "+" + value.lstrip("-"))]
    return [(d, v) for d, v in values if v != value]


def _number_values(value: int | float) -> list[tuple[str, Any]]:
    return [("as a string", str(value)), ("negative", -abs(value) - 1), ("large", 10 ** 12),
            ("written with a fraction", float(value)), ("plus a half", value + 0.5), ("exponent form", 1e1)]


def cases(item: dict, within: tuple[str, ...] = ()) -> list[Case]:
    """Every differential case of one wire item, in document order; with `within`, only the
    cases at or under those JSON pointers (e.g. "/payload/CustomBlock") and the item's own."""
    found: list[Case] = [
        Case("extra key beside payload", pointer("signature"), _with(item, ("signature",), "x")),
        Case("payload null", pointer("payload"), _with(item, ("payload",), None)),
    ]
    for path, value in _walk(item["payload"], ("payload",)):
        where = pointer(*path)
        if within and not any(where == w or where.startswith(w + "/") for w in within):
            continue
        if len(path) > 1:
            found.append(Case("key removed", where, _with(item, path, delete=True)))
        if isinstance(value, dict):
            found.append(Case("extra key", pointer(*path, "Zextra"), _with(item, (*path, "Zextra"), "x")))
            found.append(Case("empty object", where, _with(item, path, {})))
            found.append(Case("array for object", where, _with(item, path, [value])))
            continue
        if isinstance(value, list):
            found.append(Case("empty array", where, _with(item, path, [])))
            found.append(Case("null in array", where, _with(item, path, [*value, None])))
            found.append(Case("object for array", where, _with(item, path, {"0": value[0]} if value else {})))
            if value:
                found.append(Case("first item repeated", where, _with(item, path, [value[0], *value])))
            continue
        values: list[tuple[str, Any]] = [(d, v) for d, v in _ANY_SCALAR if v != value or type(v) is not type(value)]
        if isinstance(value, str):
            values += _string_values(value)
        elif isinstance(value, bool):
            values += [("as a string", str(value).lower()), ("as 1", 1)]
        elif isinstance(value, (int, float)):
            values += _number_values(value)
        found += [Case(description, where, _with(item, path, bad)) for description, bad in values]
    return found
