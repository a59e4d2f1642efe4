"""Labelled invalid variants of a valid DIP message: each names the finding validation must report.

A mutation breaks exactly one thing, and says which rule (`schema.required`, `mpan.check-digit`,
`sur.date`...) a correct validator reports for it and where (a JSON pointer into the item). The
negative tests of the harness and of the hub feed these to the validator and demand that rule, so
a check that silently stops working is caught. Schema mutations are derived generically by walking
the message (one missing key per block, one extra property per object, ...); the business-rule
ones follow `harness.messages.checks`. Everything is deterministic: same item, same mutations.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from harness.core.catalogue import load_catalogue
from harness.core.errors import UsageError
from harness.messages import ids
from harness.messages.samples import EVENT_BLOCKS

Path = tuple[Any, ...]

# Scalars the specification lets be null (DT-xxxN and nullable data items): never nulled as a fault.
NULLABLE = frozenset({
    "subText", "senderCorrelationID", "DIPConnectionProviderID", "initialCorrelationID", "serviceTicketURL",
    "manufacturersMakeAndType", "ESMEGUID", "numberOfDisplayedRegisterDigits", "modifiedMeterID", "SMSOID",
    "additionalInformation", "IHDInstallStatus", "meterRemovalDate", "supplierNotificationExpiryDate",
    "profileClass", "profileClassEffectiveFromDate", "SSC", "SSCEffectiveFromDate",
})
# Fields with an enumeration; "Q" (repeated to the original length) is in none of them.
ENUM_FIELDS = ("environmentTag", "GSPGroupID", "responseCode", "energyDirection", "energisationStatus",
               "consentGranularity", "IHDInstallStatus", "meterType", "meterLocation", "measurementQuantityID", "q")
# Fields with a pattern, and a value of the right length that breaks it.
PATTERN_FIELDS: dict[str, Callable[[str], str]] = {
    "MPANCore": lambda v: "A" + v[1:],
    "senderUniqueReference": lambda v: "X" + v[1:],
    "assignedMDRMPID": str.lower,
    "serviceProviderAppointmentRequestingSupplierMPID": str.lower,
    "v": lambda v: v[:-1],  # 2 decimals instead of 3
    "cumulativeRegisterReading": lambda v: v[:-1],
    "configurableRegisterReading": lambda v: v[:-1],
    "supplierNominatedAnnualConsumption": lambda v: v.replace(".", ","),
    "profileClass": lambda v: "A" * len(v),
    "SSC": lambda v: "AB" + v[2:],
}
# Objects the official specification leaves open (no additionalProperties: false): an extra key
# there is not an error, so no extra-property mutation is made for them.
OPEN_OBJECTS = frozenset({"S0", "B025", "B013"})
EXTRA_KEY = "unexpectedField"
# S0 decides which schema applies; its faults are the s0.* rules, so generic mutations skip it.
SKIP = frozenset({"S0"})


@dataclass(frozen=True)
class Mutation:
    rule: str  # the finding rule a validator must report
    description: str
    item: dict  # the mutated wire item
    path: str  # JSON pointer into the item where the fault is
    kind: str = ""
    also: tuple[str, ...] = ()  # rules an equally correct validator may report instead

    @property
    def rules(self) -> tuple[str, ...]:
        return (self.rule, *self.also)


@dataclass(frozen=True)
class MutationKind:
    name: str
    rule: str
    description: str
    make: Callable[[dict], Iterator[Mutation]]


# --- navigation --------------------------------------------------------------------------------

def pointer(path: Path) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _get(node: Any, path: Path) -> Any:
    for part in path:
        node = node[part]
    return node


def _objects(node: Any, path: Path = ()) -> Iterator[tuple[Path, dict]]:
    """Every object of the message in document order; of a list, only its first item."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            if key not in SKIP:
                yield from _objects(value, (*path, key))
    elif isinstance(node, list) and node:
        yield from _objects(node[0], (*path, 0))


def _fields(item: dict) -> Iterator[tuple[Path, str, Any]]:
    for path, obj in _objects(item):
        for key, value in obj.items():
            if not isinstance(value, (dict, list)):
                yield path, key, value


def _first_fields(item: dict, names: Any) -> Iterator[tuple[Path, str, Any]]:
    """The first occurrence of each named field."""
    seen: set[str] = set()
    for path, key, value in _fields(item):
        if key in names and key not in seen:
            seen.add(key)
            yield path, key, value


def _common(item: dict) -> dict:
    return item["payload"]["CommonBlock"]


def _variant(item: dict, rule: str, kind: str, description: str, path: Path, change: Callable[[dict], None],
             also: tuple[str, ...] = ()) -> Mutation:
    mutated = copy.deepcopy(item)
    change(mutated)
    return Mutation(rule, description, mutated, pointer(path), kind, also)


def _label(path: Path) -> str:
    return ".".join(str(p) for p in path[2:]) or "/".join(map(str, path))


# --- schema mutations (derived by walking the message) -----------------------------------------

def _missing_required(item: dict) -> Iterator[Mutation]:
    common = _common(item)
    for block in ("S1", "M0", "R0"):
        if block in common:
            path = ("payload", "CommonBlock", block)
            yield _variant(item, "schema.required", "missing-required", f"CommonBlock without {block}", path,
                           _remove(path[:-1], block))
    s0 = common.get("S0", {})
    event = load_catalogue().find_event_by_code(s0.get("interfaceID", ""), s0.get("eventCode", ""))
    required = [b.key for b in EVENT_BLOCKS.get(event.key, ()) if b.required] if event else []
    for key in required:
        if key in item["payload"].get("CustomBlock", {}):
            path = ("payload", "CustomBlock", key)
            yield _variant(item, "schema.required", "missing-required", f"CustomBlock without required {key}",
                           path, _remove(path[:-1], path[-1]))
    for path, obj in _objects(item):
        if len(path) < 3:
            continue
        scalar = next((k for k, v in obj.items() if not isinstance(v, (dict, list))), None)
        if scalar is not None:  # every scalar of a DIP block is required (nullable ones are sent as null)
            yield _variant(item, "schema.required", "missing-required", f"{_label(path)} without {scalar}",
                           (*path, scalar), _remove(path, scalar))


def _extra_property(item: dict) -> Iterator[Mutation]:
    for path, obj in _objects(item):
        if not path or path[-1] in OPEN_OBJECTS:
            continue
        yield _variant(item, "schema.additionalProperties", "extra-property",
                       f"{_label(path) or 'payload'} with an extra key {EXTRA_KEY!r}", (*path, EXTRA_KEY),
                       _set_field(path, EXTRA_KEY, "x"))


def _set_field(path: Path, key: str, value: Any) -> Callable[[dict], None]:
    return lambda m: _get(m, path).__setitem__(key, value)


def _remove(path: Path, key: str) -> Callable[[dict], None]:
    return lambda m: _get(m, path).pop(key)


def _wrong_enum(item: dict) -> Iterator[Mutation]:
    for path, key, value in _first_fields(item, ENUM_FIELDS):
        bad = "Q" * max(1, len(value) if isinstance(value, str) else 1)
        yield _variant(item, "schema.enum", "wrong-enum", f"{key} {bad!r} is not in its enumeration",
                       (*path, key), _set_field(path, key, bad))


def _bad_pattern(item: dict) -> Iterator[Mutation]:
    for path, key, value in _first_fields(item, PATTERN_FIELDS):
        if isinstance(value, str) and value:
            bad = PATTERN_FIELDS[key](value)
            yield _variant(item, "schema.pattern", "bad-pattern", f"{key} {bad!r} breaks its pattern",
                           (*path, key), _set_field(path, key, bad))


def _wrong_length(item: dict) -> Iterator[Mutation]:
    common = _common(item)
    if isinstance(common.get("S1", {}).get("senderTimestamp"), str):
        stamp = common["S1"]["senderTimestamp"]
        path = ("payload", "CommonBlock", "S1")
        yield _variant(item, "schema.minLength", "too-short", "senderTimestamp without its UTC offset (19 characters)",
                       (*path, "senderTimestamp"), _set_field(path, "senderTimestamp", stamp[:19]))
    if isinstance(common.get("M0", {}).get("distributorDIPID"), str):
        path = ("payload", "CommonBlock", "M0")
        value = common["M0"]["distributorDIPID"] + "0"
        yield _variant(item, "schema.maxLength", "too-long", "distributorDIPID of 11 characters",
                       (*path, "distributorDIPID"), _set_field(path, "distributorDIPID", value))
    for path, key, value in _first_fields(item, ("meterID",)):
        yield _variant(item, "schema.maxLength", "too-long", "meterID of 11 characters", (*path, key),
                       _set_field(path, key, (str(value) + "X" * 11)[:11]))


def _null_not_nullable(item: dict) -> Iterator[Mutation]:
    for path, obj in _objects(item):
        if len(path) < 3:
            continue
        key = next((k for k, v in obj.items() if not isinstance(v, (dict, list)) and k not in NULLABLE), None)
        if key is not None:
            yield _variant(item, "schema.type", "null-not-nullable", f"{_label(path)}.{key} is null",
                           (*path, key), _set_field(path, key, None))


def _wrong_event(item: dict) -> Iterator[Mutation]:
    s0 = _common(item).get("S0", {})
    if "eventCode" not in s0:
        return
    bad = "[MDRStop]" if s0.get("interfaceID") != "IF-063" else "[MDRStart]"
    path = ("payload", "CommonBlock", "S0")
    yield _variant(item, "s0.event", "wrong-event", f"eventCode {bad} is not an event of {s0.get('interfaceID')}",
                   (*path, "eventCode"), _set_field(path, "eventCode", bad), also=("schema.enum",))


# --- IF-064 consumption ------------------------------------------------------------------------

def _days(item: dict) -> list | None:
    days = item["payload"].get("CustomBlock", {}).get("B941List")
    return days if isinstance(days, list) and days and days[0].get("MDRConsumptionPeriods") else None


_DAYS = ("payload", "CustomBlock", "B941List")
_PERIODS = (*_DAYS, 0, "MDRConsumptionPeriods")


def _period_count(item: dict) -> Iterator[Mutation]:
    days = _days(item)
    if not days:
        return
    periods = days[0]["MDRConsumptionPeriods"]
    if len(periods) == 48:
        def add(m: dict) -> None:
            p = _get(m, _PERIODS)
            last = ids.parse_dip_timestamp(p[-1]["sp"])
            p.append({**p[-1], "sp": ids.utc_timestamp(last + timedelta(minutes=30))})
        yield _variant(item, "schema.maxItems", "49-periods", "a settlement day with 49 periods", _PERIODS, add)
        yield _variant(item, "periods.count", "47-periods", "a settlement day with 47 periods", _PERIODS,
                       lambda m: _get(m, _PERIODS).pop())


def _shift_day(day: dict, days: int) -> dict:
    def shift(stamp: str) -> str:
        return ids.utc_timestamp(ids.parse_dip_timestamp(stamp) + timedelta(days=days))
    head = day["settlementDay"]
    return {"settlementDay": {**head, "settlementDayDate": shift(head["settlementDayDate"])},
            "MDRConsumptionPeriods": [{**p, "sp": shift(p["sp"])} for p in day["MDRConsumptionPeriods"]]}


def _too_many_days(item: dict) -> Iterator[Mutation]:
    days = _days(item)
    if not days:
        return

    def extend(m: dict) -> None:  # day 1 repeated over 201 consecutive days
        listed = _get(m, _DAYS)
        template = listed[0]
        listed[:] = [_shift_day(template, k) for k in range(201)]
    yield _variant(item, "schema.maxItems", "201-days", "201 settlement days (at most 200)", _DAYS, extend)


def _period_sequence(item: dict) -> Iterator[Mutation]:
    days = _days(item)
    if not days:
        return

    def as_starts(m: dict) -> None:  # sp written as the START of each half hour: a classic slip
        for period in _get(m, _PERIODS):
            period["sp"] = ids.utc_timestamp(ids.parse_dip_timestamp(period["sp"]) - timedelta(minutes=30))
    yield _variant(item, "periods.sequence", "periods-as-starts", "sp given as the start, not the end, of each period",
                   (*_PERIODS, 0, "sp"), as_starts)

    def not_utc(m: dict) -> None:  # the same instants, written with a +01:00 offset
        plus_one = timezone(timedelta(hours=1))
        for period in _get(m, _PERIODS):
            period["sp"] = ids.parse_dip_timestamp(period["sp"]).astimezone(plus_one).isoformat()
    yield _variant(item, "periods.utc", "periods-not-utc", "period ends written with a +01:00 offset",
                   (*_PERIODS, 0, "sp"), not_utc)


# --- MPAN and sender unique reference ----------------------------------------------------------

_M0 = ("payload", "CommonBlock", "M0")
_S1 = ("payload", "CommonBlock", "S1")


def _mpan(item: dict) -> Iterator[Mutation]:
    m0 = _common(item).get("M0", {})
    mpan, gsp = m0.get("MPANCore"), m0.get("GSPGroupID")
    if not (isinstance(mpan, str) and ids.is_valid_mpan(mpan)):
        return
    yield _variant(item, "mpan.check-digit", "mpan-check-digit", "MPAN core with a wrong check digit",
                   (*_M0, "MPANCore"), _set_field(_M0, "MPANCore", ids.break_check_digit(mpan)))
    home = ids.gsp_for_mpan(mpan)
    if home is not None and gsp == home:
        groups = sorted(ids.GSP_DISTRIBUTOR)
        other = groups[(groups.index(home) + 1) % len(groups)]
        yield _variant(item, "mpan.gsp-mismatch", "gsp-mismatch", f"GSPGroupID {other} for an MPAN of {home}",
                       (*_M0, "GSPGroupID"), _set_field(_M0, "GSPGroupID", other))


def _sur(item: dict) -> Iterator[Mutation]:
    s1 = _common(item).get("S1", {})
    parsed = ids.parse_sender_unique_reference(s1.get("senderUniqueReference"))
    if parsed is None:
        return
    kind = f"{parsed.kind}-" if parsed.kind else ""

    def rebuild(number: str = parsed.interface_number, dip_id: str = parsed.dip_id, role: str = parsed.role,
                day: str = parsed.day) -> str:
        return f"S-{kind}{number}-{dip_id}-{role}-{day}-{parsed.unique}"

    path = (*_S1, "senderUniqueReference")
    role = "SUP" if parsed.role != "SUP" else "SDS"
    yield _variant(item, "sur.role", "sur-role", f"senderUniqueReference names role {role}", path,
                   _set_field(_S1, "senderUniqueReference", rebuild(role=role)))
    try:
        day = datetime.strptime(parsed.day, "%Y%m%d") - timedelta(days=2)
    except ValueError:
        day = None
    if day is not None:
        yield _variant(item, "sur.date", "sur-date", f"senderUniqueReference dated {day:%Y%m%d}", path,
                       _set_field(_S1, "senderUniqueReference", rebuild(day=f"{day:%Y%m%d}")))
    number = "099" if parsed.interface_number != "099" else "098"
    yield _variant(item, "sur.interface", "sur-interface", f"senderUniqueReference names interface {number}", path,
                   _set_field(_S1, "senderUniqueReference", rebuild(number=number)))
    other = "9" * 10 if parsed.dip_id != "9" * 10 else "8" * 10
    yield _variant(item, "sur.dip-id", "sur-dip-id", f"senderUniqueReference names DIP ID {other}", path,
                   _set_field(_S1, "senderUniqueReference", rebuild(dip_id=other)))


def _only(generate: Callable[[Any], Iterable[Mutation]], kind: str) -> Callable[[Any], Iterator[Mutation]]:
    """The mutations of one kind from a generator that makes several related kinds."""
    return lambda item: (m for m in generate(item) if m.kind == kind)


MUTATIONS: dict[str, MutationKind] = {k.name: k for k in (
    MutationKind("missing-required", "schema.required", "a required block or key is missing", _missing_required),
    MutationKind("extra-property", "schema.additionalProperties", "an object carries a key it may not",
                 _extra_property),
    MutationKind("wrong-enum", "schema.enum", "a value outside its enumeration", _wrong_enum),
    MutationKind("bad-pattern", "schema.pattern", "a value breaking its pattern", _bad_pattern),
    MutationKind("too-short", "schema.minLength", "a value shorter than allowed", _only(_wrong_length, "too-short")),
    MutationKind("too-long", "schema.maxLength", "a value longer than allowed", _only(_wrong_length, "too-long")),
    MutationKind("null-not-nullable", "schema.type", "null where the field is not nullable", _null_not_nullable),
    MutationKind("wrong-event", "s0.event", "an eventCode of another interface", _wrong_event),
    MutationKind("49-periods", "schema.maxItems", "49 periods in a settlement day",
                 _only(_period_count, "49-periods")),
    # A partial day is allowed by the specification: validation reports periods.count as a warning.
    MutationKind("47-periods", "periods.count", "47 periods in a settlement day", _only(_period_count, "47-periods")),
    MutationKind("201-days", "schema.maxItems", "201 settlement days", _too_many_days),
    MutationKind("periods-as-starts", "periods.sequence", "period ends not on consecutive half hours",
                 _only(_period_sequence, "periods-as-starts")),
    MutationKind("periods-not-utc", "periods.utc", "period ends not in UTC",
                 _only(_period_sequence, "periods-not-utc")),
    MutationKind("mpan-check-digit", "mpan.check-digit", "MPAN core check digit wrong",
                 _only(_mpan, "mpan-check-digit")),
    MutationKind("gsp-mismatch", "mpan.gsp-mismatch", "GSP group not the MPAN's", _only(_mpan, "gsp-mismatch")),
    MutationKind("sur-role", "sur.role", "SUR role differs from senderRoleID", _only(_sur, "sur-role")),
    MutationKind("sur-date", "sur.date", "SUR date differs from senderTimestamp's", _only(_sur, "sur-date")),
    MutationKind("sur-interface", "sur.interface", "SUR interface differs from S0", _only(_sur, "sur-interface")),
    MutationKind("sur-dip-id", "sur.dip-id", "SUR DIP ID differs from senderDIPID", _only(_sur, "sur-dip-id")),
)}


def _check_item(item: Any) -> dict:
    if not (isinstance(item, dict) and isinstance(item.get("payload"), dict)
            and isinstance(item["payload"].get("CommonBlock"), dict)):
        raise UsageError('mutations need a wire item {"payload": {"CommonBlock": ..., "CustomBlock": ...}}')
    return item


def mutations_for(item: dict) -> list[Mutation]:
    """Every mutation applicable to `item`, in a fixed order (kinds, then document order)."""
    _check_item(item)
    return [m for kind in MUTATIONS.values() for m in kind.make(item)]


def mutate(item: dict, rule: str) -> Mutation:
    """The first mutation of `item` for a kind name (`"sur-date"`) or a finding rule (`"sur.date"`)."""
    _check_item(item)
    kinds = [MUTATIONS[rule]] if rule in MUTATIONS else [k for k in MUTATIONS.values() if k.rule == rule]
    if not kinds:
        known = ", ".join(sorted({*MUTATIONS, *(k.rule for k in MUTATIONS.values())}))
        raise UsageError(f"unknown mutation {rule!r} (expected one of: {known})")
    for kind in kinds:
        for mutation in kind.make(item):
            return mutation
    raise UsageError(f"no {rule!r} mutation applies to this message")
