"""Reading the JSON inside a bundle that may have been crafted to attack the verifier.

`verify`, `report` and `reuse` run on files other people send. Python's json module raises
RecursionError (not ValueError) on deeply nested input, and code that expects `"files"` to be an
object crashes when it is a list. So every JSON file a bundle holds is read here: its size is
checked before it is read (a cheap refusal before heavy work), its nesting depth is bounded, and
its shape is checked against a schema in `schemas/` (the same schemas document the bundle format).
Anything malformed is one InputError line naming the file and the JSON path: exit 2, never a
traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs

from harness.core.errors import InputError
from harness.core.findings import short
from harness.core.paths import schemas_dir

#: dipcert's own files nest about 8 levels deep; nothing legitimate comes near this.
MAX_DEPTH = 48
#: summary.json, reuse.json and the signature documents.
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024

MANIFEST_SCHEMA = "bundle-manifest.schema.json"
SIGNATURE_SCHEMA = "bundle-signature.schema.json"
RECORD_SCHEMA = "evidence-record.schema.json"
REUSE_SCHEMA = "reuse-decision.schema.json"


def parse(data: bytes | str, where: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value in `data`; InputError naming `where` when it is not JSON or nests too deeply."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise InputError(f"{where}: JSON nested more than {max_depth} levels deep; refused") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise InputError(f"{where}: not valid JSON ({short(str(exc), 120)})") from None
    if too_deep(value, max_depth):
        raise InputError(f"{where}: JSON nested more than {max_depth} levels deep; refused")
    return value


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when `value` nests containers more than `limit` deep (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def read(path: Path, where: str, *, max_bytes: int = MAX_DOCUMENT_BYTES, schema: str | None = None) -> Any:
    """A bundle's JSON file, size-checked before it is read, parsed, and (given `schema`) shape-checked."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"{where}: cannot be read ({exc.strerror})") from None
    if size > max_bytes:
        raise InputError(f"{where}: {size} bytes, over the limit of {max_bytes}; refused")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{where}: cannot be read ({exc.strerror})") from None
    value = parse(data, where)
    if schema is not None:
        check_shape(value, schema, where)
    return value


@lru_cache(maxsize=None)
def validator(name: str) -> jsonschema.protocols.Validator:
    schema = json.loads((schemas_dir() / name).read_text("utf-8"))
    return jsonschema.Draft202012Validator(schema)


@lru_cache(maxsize=None)
def compiled(name: str) -> Any:
    """The same schema compiled by jsonschema-rs: the quick verdict on a sound value (verify reads one
    record per message; the reference validator took most of verify's time on them). Its patterns
    are ASCII classes anchored with `$`, which ECMA-262 reads more strictly than Python, and formats
    are not asserted by either: so it never passes what jsonschema refuses."""
    schema = json.loads((schemas_dir() / name).read_text("utf-8"))
    return jsonschema_rs.Draft202012Validator(schema)


def shape_errors(value: Any, schema: str) -> Iterator[str]:
    """`/json/path: what is wrong`, one per problem, first by path."""
    found = sorted(validator(schema).iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path])
    for error in found:
        pointer = "/" + "/".join(str(p) for p in error.absolute_path)
        yield f"{short(pointer, 80)}: {short(error.message, 160)}"


def check_shape(value: Any, schema: str, where: str) -> None:
    """InputError naming `where` and the first misshapen field when `value` does not match `schema`.

    jsonschema-rs gives the verdict; only what it does not pass is walked again by jsonschema, which
    decides and names the field (so the message is the same whichever engine spoke first)."""
    try:
        if compiled(schema).is_valid(value):
            return
    except (ValueError, OverflowError):  # a value jsonschema-rs cannot read (an integer beyond 64 bits, NaN)
        pass
    for problem in shape_errors(value, schema):
        raise InputError(f"{where}: {problem} (see schemas/{schema})")


def read_bundle_records(path: Path, where: str) -> list[dict[str, Any]]:
    """An evidence log's records for rendering: lines that are not JSON objects are skipped (verify names
    them), but a record nested too deeply or misshapen is refused, as verify refuses it."""
    out: list[dict[str, Any]] = []
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{where}: cannot be read ({exc.strerror})") from None
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except RecursionError:
            raise InputError(f"{where} line {number}: JSON nested more than {MAX_DEPTH} levels deep; refused") from None
        except ValueError:
            continue
        if not isinstance(value, dict):
            continue
        if too_deep(value):
            raise InputError(f"{where} line {number}: JSON nested more than {MAX_DEPTH} levels deep; refused")
        check_shape(value, RECORD_SCHEMA, f"{where} line {number}")
        out.append(value)
    return out
