"""Validate a DIP body (the JSON array on the wire) and turn every problem into a Finding.

The order mirrors what a reader needs: can the bytes be read as JSON at all, is it the array
the DIP expects, which interface and event does each item claim (S0), does that item match its
schema, and finally the rules a schema cannot express (`harness.messages.checks`). Paths are JSON
pointers from the array root, so `/0/payload/CommonBlock/M0/MPANCore` names the exact field.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from jsonschema.exceptions import ValidationError, best_match
from referencing.exceptions import Unresolvable

from harness.core.catalogue import load_catalogue
from harness.core.errors import ConfigError
from harness.core.findings import Finding, short
from harness.messages.checks import check_body, check_message
from harness.messages.dialect import FORMAT_DESCRIPTIONS
from harness.messages.schemapack import load_pack

if TYPE_CHECKING:
    from harness.messages.schemapack import SchemaPack

Form = Literal["ingress", "egress"]
S0_PATH = "payload/CommonBlock/S0"
_S0_AT = "/{index}/" + S0_PATH  # pointer(index, *S0_PATH.split("/")): every part is a plain name


# --- JSON pointers and short renderings ---------------------------------------------------------

def pointer(*parts: object) -> str:
    """A JSON pointer from parts (RFC 6901: `~` -> `~0`, `/` -> `~1`)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def seen(value: Any) -> str:
    """A value as the sender wrote it: JSON words for null/true/false, repr for strings."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, str):
        return short(repr(value))
    if isinstance(value, (dict, list)):
        return short(json.dumps(value, ensure_ascii=False, default=str))
    return short(value)


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null",
            int: "integer", float: "number"}.get(type(value), type(value).__name__)


# --- Identification -----------------------------------------------------------------------------

def _s0(item: Any) -> dict | None:
    payload = item.get("payload") if isinstance(item, dict) else None
    common = payload.get("CommonBlock") if isinstance(payload, dict) else None
    s0 = common.get("S0") if isinstance(common, dict) else None
    return s0 if isinstance(s0, dict) else None


def identify(item: dict) -> tuple[str, str] | None:
    """(interface id, event name) from S0, or None when S0 does not name a catalogued event."""
    s0 = _s0(item)
    if s0 is None or not isinstance(s0.get("interfaceID"), str) or not isinstance(s0.get("eventCode"), str):
        return None
    event = load_catalogue().find_event_by_code(s0["interfaceID"], s0["eventCode"])
    return (event.interface_id, event.name) if event else None


# --- Schema errors -> findings ------------------------------------------------------------------

def _expected(error: ValidationError) -> str:
    keyword = error.validator
    value: Any = error.validator_value  # set on every error a validator yields (Unset: hand-made errors only)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if keyword == "enum":
        return f"one of {short(value, 160)}"
    if keyword == "const":
        return f"exactly {value!r}"
    if keyword == "type":
        types = value if isinstance(value, list) else [value]
        return "type " + " or ".join(types)
    if keyword == "pattern":
        # The specification's description of the type (e.g. "MPAN Core", "Number (9,3) format")
        # says in words what the raw pattern says in symbols.
        described = schema.get("description")
        return f"pattern {value}" + (f" ({short(described.strip(), 80)})"
                                     if isinstance(described, str) and described.strip()
                                     else "")
    if keyword == "format":
        return FORMAT_DESCRIPTIONS.get(value, f"format {value}")
    if keyword in ("maxLength", "minLength"):
        return f"length {'<=' if keyword == 'maxLength' else '>='} {value}"
    if keyword in ("maxItems", "minItems"):
        return f"{'at most' if keyword == 'maxItems' else 'at least'} {value} items"
    if keyword in ("maxProperties", "minProperties"):
        return f"{'at most' if keyword == 'maxProperties' else 'at least'} {value} keys"
    if keyword in ("maximum", "minimum"):
        exclusive = schema.get("exclusiveMaximum" if keyword == "maximum" else "exclusiveMinimum") is True
        op = ("<" if exclusive else "<=") if keyword == "maximum" else (">" if exclusive else ">=")
        return f"{op} {value}"
    if keyword in ("exclusiveMaximum", "exclusiveMinimum"):
        return f"{'<' if keyword == 'exclusiveMaximum' else '>'} {value}"
    if keyword in ("anyOf", "oneOf"):
        return f"{'exactly one' if keyword == 'oneOf' else 'one'} of {len(value)} allowed forms"
    if keyword == "uniqueItems":
        return "unique items"
    if keyword == "multipleOf":
        return f"a multiple of {value}"
    return short(f"{keyword} {value!r}")


def _leaf(error: ValidationError) -> ValidationError:
    """For anyOf/oneOf, the most telling branch error, ignoring the `{"type": "null"}` branch
    that nullable wrapping adds (its "is not null" says nothing useful)."""
    while error.validator in ("anyOf", "oneOf") and error.context:
        branches = [e for e in error.context if e.schema != {"type": "null"}]
        if not branches:
            break
        error = best_match(branches)
    return error


def _name(path: Any) -> str:
    """The field a path ends at, for messages: `energyDirection`, `MDRConsumptionPeriods[48]`."""
    parts = list(path)
    while parts and isinstance(parts[-1], int):
        parts.pop()
    name = str(parts[-1]) if parts else "the message"
    return name + "".join(f"[{p}]" for p in list(path)[len(parts):])


def _finding(index: int, error: ValidationError) -> list[Finding]:
    error = _leaf(error)
    keyword = str(error.validator)
    base = [index, *error.absolute_path]
    where = pointer(*base)
    instance = error.instance
    if keyword == "required" and isinstance(instance, dict):
        required: Any = error.validator_value  # the `required` list: set on every error a validator yields
        missing = [k for k in required if k not in instance]
        key = next((k for k in missing if error.message.startswith(repr(k))), missing[0] if missing else "?")
        return [Finding("schema.required", pointer(*base, key), f"required key {key!r}", "missing",
                        f"required key {key!r} is missing from {_name(error.absolute_path)}")]
    if keyword == "additionalProperties" and isinstance(instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        allowed = set(schema.get("properties", {}))
        extras = [k for k in instance if k not in allowed] or ["?"]
        return [Finding("schema.additionalProperties", pointer(*base, key),
                        f"no key {key!r} (allowed: {short(', '.join(sorted(allowed)) or 'none', 120)})",
                        seen(instance.get(key)), f"key {key!r} is not allowed in {_name(error.absolute_path)}")
                for key in extras]
    expected = _expected(error)
    actual = seen(instance)
    if keyword == "type" and instance is not None:
        actual = f"{_type_name(instance)} {actual}"
    elif keyword in ("maxLength", "minLength") and isinstance(instance, str):
        actual = f"length {len(instance)}: {actual}"
    elif keyword in ("maxItems", "minItems") and isinstance(instance, list):
        actual = f"{len(instance)} items"
    message = f"{_name(error.absolute_path)}: expected {expected}, got {actual}"
    return [Finding(f"schema.{keyword}", where, expected, actual, short(message, 240))]


def _order(error: ValidationError) -> tuple:
    # Document order: array indexes numerically (2 before 10), then keys, then keyword.
    return (tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in error.absolute_path),
            str(error.validator))


def schema_findings(validator: Any, item: Any, index: int = 0) -> list[Finding]:
    """Every schema error of one wire item, in document order (by path)."""
    try:
        errors = sorted(validator.iter_errors(item), key=_order)
    except Unresolvable as exc:
        raise ConfigError(f"schema pack cannot resolve {getattr(exc, 'ref', exc)}") from None
    findings: list[Finding] = []
    for error in errors:
        findings.extend(_finding(index, error))
    return findings


# --- Messages and bodies ------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _default_pack() -> SchemaPack:
    return load_pack()


def _s0_findings(item: Any, index: int,
                 interface_id: str | None) -> tuple[list[Finding], tuple[str, str] | None]:
    """S0's claims checked against the catalogue (and the endpoint); the event if it is known."""
    catalogue = load_catalogue()
    s0 = _s0(item) or {}
    at = _S0_AT.format(index=index)
    declared = s0.get("interfaceID")
    if not isinstance(declared, str) or declared not in catalogue.interfaces:
        problem = "is missing" if declared is None else f"{seen(declared)} is not an interface dipcert certifies"
        return [Finding("s0.interface", f"{at}/interfaceID", f"one of {', '.join(catalogue.interfaces)}",
                        "missing" if declared is None else seen(declared), f"S0.interfaceID {problem}")], None
    findings: list[Finding] = []
    if interface_id is not None and declared != interface_id:
        findings.append(Finding("interface.mismatch", f"{at}/interfaceID", interface_id, seen(declared),
                                f"message for {declared} was sent to the {interface_id} endpoint"))
    code = s0.get("eventCode")
    event = catalogue.find_event_by_code(declared, code) if isinstance(code, str) else None
    if event is None:
        codes = [e.code for e in catalogue.get(declared).events]
        problem = "is missing" if code is None else f"{seen(code)} is not an event of {declared}"
        findings.append(Finding("s0.event", f"{at}/eventCode", f"one of {codes}",
                                "missing" if code is None else seen(code), f"S0.eventCode {problem}"))
        return findings, None
    return findings, (event.interface_id, event.name)


def _extra_keys(item: dict, index: int) -> list[Finding]:
    """Keys beside `payload`: the specification's DIPMessage does not forbid them, so they are
    reported (a DIP that ignores them loses whatever they carry) without failing the message."""
    return [Finding("envelope.extra-key", pointer(index, key), "only 'payload' in a wire item", seen(value),
                    f"item {index} carries key {key!r} beside 'payload': not forbidden by the specification, "
                    "but nothing reads it", severity="warning")
            for key, value in item.items() if key != "payload"]


def validate_message(item: dict, index: int = 0, *, interface_id: str | None = None, form: Form = "ingress",
                     pack: SchemaPack | None = None, extra_checks: bool = True,
                     now: datetime | None = None) -> list[Finding]:
    """Findings for ONE wire item `{"payload": ...}` at position `index` of its body.

    `now` is the moment a future senderTimestamp is judged against (default: the clock)."""
    if not isinstance(item, dict) or not isinstance(item.get("payload"), dict):
        what = "an object without 'payload'" if isinstance(item, dict) else _type_name(item)
        return [Finding("envelope.item", pointer(index), 'an object {"payload": {...}}', what,
                        f"item {index} is {what}, expected an object with a 'payload' object")]
    if interface_id is not None:
        interface_id = load_catalogue().get(interface_id).id
    findings, identified = _s0_findings(item, index, interface_id)
    findings.extend(_extra_keys(item, index))
    if identified is None:
        return findings
    pack = pack or _default_pack()
    if pack.message_check(*identified, form).verdict(item) is not True:  # the detail for what fails
        findings.extend(schema_findings(pack.message_validator(*identified, form), item, index))
    if extra_checks:
        findings.extend(check_message(item, index, now=now))
    return findings


def parse_body(body: bytes | str) -> tuple[Any, list[Finding]]:
    """Decode (strict UTF-8) and parse a body; on failure a `json.encoding`/`json.parse` finding."""
    if isinstance(body, (bytes, bytearray)):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, [Finding("json.encoding", "", "UTF-8 text",
                                  f"byte 0x{exc.object[exc.start]:02x} at offset {exc.start}",
                                  f"not UTF-8: invalid byte 0x{exc.object[exc.start]:02x} at offset {exc.start}")]
    try:
        return json.loads(body, parse_constant=_reject_constant), []
    except _NotJson as constant:
        error = json.JSONDecodeError(f"{constant.name} is not JSON", body, _constant_position(body, constant.name))
    except json.JSONDecodeError as caught:
        error = caught
    return None, [Finding("json.parse", "", "a JSON array", f"line {error.lineno} column {error.colno}",
                          f"not valid JSON at line {error.lineno} column {error.colno}: {error.msg}")]


class _NotJson(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN/Infinity; JSON (and the DIP) does not. The parser does not say
    # where the constant was, so `_constant_position` finds it.
    raise _NotJson(name)


# A JSON string literal, or one of the constants Python's parser accepts and JSON does not.
_STRING_OR_CONSTANT = re.compile(r'"(?:[^"\\]|\\.)*"|(?P<constant>-?Infinity|NaN)')


def _constant_position(text: str, name: str) -> int:
    """Offset of the first NaN/Infinity outside a string literal (0 if, oddly, none is found)."""
    for match in _STRING_OR_CONSTANT.finditer(text):
        if match.group("constant") and match.group("constant").lstrip("-") == name.lstrip("-"):
            return match.start("constant")
    return 0


def validate_body(body: bytes | str | list, *, interface_id: str | None = None, form: Form = "ingress",
                  pack: SchemaPack | None = None, extra_checks: bool = True,
                  now: datetime | None = None) -> list[Finding]:
    """Findings for a whole body: the JSON array POSTed to (or delivered by) the DIP."""
    if isinstance(body, (bytes, bytearray, str)):
        data, findings = parse_body(body)
        if findings:
            return findings
    else:
        data = body
    if not isinstance(data, list):
        return [Finding("envelope.not-array", "", "a JSON array of messages", _type_name(data),
                        f"body is a JSON {_type_name(data)}, expected an array of {{\"payload\": ...}} items")]
    if not data:
        return [Finding("envelope.empty", "", "at least 1 item", "0 items", "body is an empty array")]
    findings = []
    for index, item in enumerate(data):
        findings.extend(validate_message(item, index, interface_id=interface_id, form=form, pack=pack,
                                         extra_checks=extra_checks, now=now))
    if extra_checks:
        findings.extend(check_body(data))
    return findings
