"""The interface catalogue: which interfaces exist, who sends each event, and what rests on assumptions.

The facts live in `schemas/catalogue.toml`; this module only loads and answers questions about
them, so that a participant who knows better (IF-065 directions, say) edits data, not code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from harness.core.errors import ConfigError, UsageError
from harness.core.files import read_toml
from harness.core.paths import schemas_dir

Direction = Literal["incoming", "outgoing"]
Category = Literal["optional", "extended"]
CERTIFIED_ROLES = ("MDR", "SDS")


@dataclass(frozen=True)
class Assumption:
    id: str
    text: str
    source: str
    rules: tuple[str, ...] = ()  # finding rules whose verdicts rest on it (provisional)


@dataclass(frozen=True)
class Event:
    interface_id: str
    name: str  # "MDRStart", without brackets
    sender: str
    receivers: tuple[str, ...]
    official_schema: str
    assumption: str | None = None

    @property
    def code(self) -> str:
        """The wire form carried in S0.eventCode, brackets included."""
        return f"[{self.name}]"

    @property
    def key(self) -> str:
        """`IF-065/MDRTOU`: how requirement ids and file names refer to an event."""
        return f"{self.interface_id}/{self.name}"

    def direction_for(self, role: str) -> Direction | None:
        """As seen by a party of `role`: does it send this event, receive it, or neither?"""
        if role == self.sender:
            return "outgoing"
        if role in self.receivers:
            return "incoming"
        return None


@dataclass(frozen=True)
class Interface:
    id: str
    name: str
    category: Category
    publication_id: str
    r0_required: bool
    events: tuple[Event, ...]
    # S0.eventCode -> event: every validated message asks, so it is a look-up, not a scan.
    by_code: dict[str, Event] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_code", {event.code: event for event in self.events})

    def event(self, name: str) -> Event:
        wanted = name.strip().strip("[]").lower()
        for event in self.events:
            if event.name.lower() == wanted:
                return event
        known = ", ".join(e.name for e in self.events)
        raise UsageError(f"{self.id} has no event {name!r} (expected one of: {known})")

    def events_for(self, role: str, direction: Direction) -> tuple[Event, ...]:
        return tuple(e for e in self.events if e.direction_for(role) == direction)

    def directions_for(self, role: str) -> set[Direction]:
        return {d for e in self.events if (d := e.direction_for(role)) is not None}


@dataclass(frozen=True)
class Catalogue:
    schema_version: str
    interfaces: dict[str, Interface]
    assumptions: dict[str, Assumption]
    source: Path

    def get(self, interface_id: str) -> Interface:
        key = interface_id.strip().upper()
        if key.startswith("IF") and not key.startswith("IF-"):
            key = "IF-" + key[2:]
        if key not in self.interfaces:
            raise UsageError(
                f"unknown interface {interface_id!r} (expected one of: {', '.join(self.interfaces)})"
            )
        return self.interfaces[key]

    def event(self, interface_id: str, event: str | None = None) -> Event:
        """An event by interface and name; the name may be omitted for single-event interfaces."""
        interface = self.get(interface_id)
        if event is None:
            if len(interface.events) != 1:
                names = ", ".join(e.name for e in interface.events)
                raise UsageError(f"{interface.id} has several events; name one of: {names}")
            return interface.events[0]
        return interface.event(event)

    def events(self) -> list[Event]:
        return [e for i in self.interfaces.values() for e in i.events]

    def assumption_for_rule(self, rule: str) -> str | None:
        """The id of the assumption a finding rule rests on (its `rules` list), if any."""
        return next((a.id for a in self.assumptions.values() if rule in a.rules), None)

    def find_event_by_code(self, interface_id: str, code: str) -> Event | None:
        interface = self.interfaces.get(interface_id)
        if interface is None:
            return None
        return interface.by_code.get(code)


def _require(table: dict, key: str, where: str, kind: type) -> Any:  # Any: an instance of `kind`, checked
    if key not in table:
        raise ConfigError(f"{where}: missing key {key!r}")
    value = table[key]
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: key {key!r} should be {kind.__name__}, got {type(value).__name__}")
    return value


def _parse(data: dict, source: Path) -> Catalogue:
    assumptions = {}
    for i, item in enumerate(data.get("assumption", [])):
        where = f"{source}: assumption[{i}]"
        rules = item.get("rules", [])
        if not isinstance(rules, list) or not all(isinstance(r, str) and r for r in rules):
            raise ConfigError(f"{where}: key 'rules' should be a list of finding rule ids")
        a = Assumption(str(_require(item, "id", where, str)), str(_require(item, "text", where, str)),
                       str(item.get("source", "")), tuple(rules))
        assumptions[a.id] = a
    interfaces: dict[str, Interface] = {}
    for i, item in enumerate(data.get("interface", [])):
        where = f"{source}: interface[{i}]"
        iid = str(_require(item, "id", where, str))
        category = _require(item, "category", where, str)
        if category not in ("optional", "extended"):
            raise ConfigError(f"{where}: category should be 'optional' or 'extended', got {category!r}")
        sender = str(_require(item, "sender", where, str))
        receivers = tuple(_require(item, "receivers", where, list))
        events = []
        for j, ev in enumerate(_require(item, "events", where, list)):
            ewhere = f"{where}.events[{j}]"
            assumption = ev.get("assumption")
            if assumption is not None and assumption not in assumptions:
                raise ConfigError(f"{ewhere}: assumption {assumption!r} is not defined")
            events.append(Event(
                interface_id=iid,
                name=str(_require(ev, "name", ewhere, str)),
                sender=str(ev.get("sender", sender)),
                receivers=tuple(ev.get("receivers", receivers)),
                official_schema=str(_require(ev, "official_schema", ewhere, str)),
                assumption=assumption,
            ))
        interfaces[iid] = Interface(
            id=iid,
            name=str(_require(item, "name", where, str)),
            category=category,
            publication_id=str(_require(item, "publication_id", where, str)),
            r0_required=bool(_require(item, "r0_required", where, bool)),
            events=tuple(events),
        )
    if not interfaces:
        raise ConfigError(f"{source}: no [[interface]] entries")
    return Catalogue(str(data.get("schema_version", "011")), interfaces, assumptions, source)


def load_catalogue(path: Path | str | None = None) -> Catalogue:
    """The catalogue at `path`, or the bundled one. Errors name the file and the key."""
    if path is None:
        return _default_catalogue()
    return _load(Path(path))


@lru_cache(maxsize=1)
def _default_catalogue() -> Catalogue:
    return _load(schemas_dir() / "catalogue.toml")


def _load(path: Path) -> Catalogue:
    data = read_toml(path, "catalogue file")
    return _parse(data, path)
