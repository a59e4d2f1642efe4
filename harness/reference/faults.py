"""Fault switches of the reference participants, loaded from `faults.toml`.

The switches are data so that the README, the scenarios and the tests all read the same list:
each names the finding rule the harness must report when the switch is on. This module only
parses and checks them; `behaviour.py` and `participant.py` act on them.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from harness.files import read_toml
from harness.errors import ConfigError, UsageError

FAULTS_FILE = Path(__file__).with_name("faults.toml")
ROLES = ("MDR", "SDS", "both")


@dataclass(frozen=True)
class FaultDef:
    """One `[[fault]]` entry: a switch as documented, before its arguments are filled in."""

    name: str
    params: tuple[str, ...]
    role: str
    description: str
    breaks: str
    requirement: str
    also: tuple[str, ...] = ()  # globs of requirements that fail too, as a documented consequence
    disables: tuple[str, ...] = ()  # interfaces the demo profile sets to "N" with this switch (a profile choice)

    def applies_to(self, role: str) -> bool:
        return self.role in ("both", role)

    @property
    def usage(self) -> str:
        """`drop-field:INTERFACE:BLOCK`: how the switch is written on a command line."""
        return ":".join([self.name, *(p.upper() for p in self.params)])


@dataclass(frozen=True)
class Fault:
    """A switch that is on, with its arguments (`webhook-500:IF-024` -> args ("IF-024",))."""

    definition: FaultDef
    args: tuple[str, ...] = ()
    role: str = ""

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def spec(self) -> str:
        return ":".join([self.name, *self.args])

    @property
    def breaks(self) -> str:
        return self.definition.breaks

    def _fill(self, text: str) -> str:
        values = dict(zip(self.definition.params, self.args))
        values.setdefault("role", self.role or "*")
        try:
            return text.format(**values)
        except (KeyError, IndexError):
            return text

    @property
    def requirement(self) -> str:
        return self._fill(self.definition.requirement)

    @property
    def description(self) -> str:
        return self._fill(self.definition.description)

    def matches_requirement(self, requirement_id: str) -> bool:
        return fnmatch.fnmatchcase(requirement_id, self.requirement)

    @property
    def also(self) -> tuple[str, ...]:
        return tuple(self._fill(g) for g in self.definition.also)

    def may_fail(self, requirement_id: str) -> bool:
        """The requirement it breaks, or one of the documented knock-on failures (`also`)."""
        return self.matches_requirement(requirement_id) or any(
            fnmatch.fnmatchcase(requirement_id, g) for g in self.also)

    def arg(self, param: str) -> str:
        return dict(zip(self.definition.params, self.args))[param]


@dataclass
class FaultSet:
    """The switches a participant runs with; `"name" in faults` asks whether one is on."""

    faults: list[Fault] = field(default_factory=list)

    def __contains__(self, name: object) -> bool:
        return any(f.name == name for f in self.faults)

    def __iter__(self):
        return iter(self.faults)

    def __len__(self) -> int:
        return len(self.faults)

    def get(self, name: str) -> list[Fault]:
        return [f for f in self.faults if f.name == name]

    def with_arg(self, name: str, param: str, value: str) -> bool:
        """Is switch `name` on with argument `param` equal to `value` (interface ids compared upper-case)?"""
        return any(f.arg(param).upper() == value.upper() for f in self.get(name))

    @property
    def specs(self) -> list[str]:
        return [f.spec for f in self.faults]

    @property
    def disabled_interfaces(self) -> set[str]:
        """Interfaces the switches that are on take out of the participant's profile (`disables`)."""
        return {i for f in self.faults for i in f.definition.disables}


def _require_str(item: dict, key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: key {key!r} should be a non-empty string")
    return value


def _parse(data: dict, source: Path) -> list[FaultDef]:
    defs: list[FaultDef] = []
    for i, item in enumerate(data.get("fault", [])):
        where = f"{source}: fault[{i}]"
        params = item.get("params", [])
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            raise ConfigError(f"{where}: key 'params' should be a list of strings")
        role = _require_str(item, "role", where)
        if role not in ROLES:
            raise ConfigError(f"{where}: role should be one of {', '.join(ROLES)}, got {role!r}")
        also = item.get("also", [])
        if not isinstance(also, list) or not all(isinstance(g, str) and g for g in also):
            raise ConfigError(f"{where}: key 'also' should be a list of requirement globs")
        disables = item.get("disables", [])
        if not isinstance(disables, list) or not all(isinstance(i, str) and i.startswith("IF-") for i in disables):
            raise ConfigError(f"{where}: key 'disables' should be a list of interface ids like \"IF-062\"")
        defs.append(FaultDef(_require_str(item, "name", where), tuple(params), role,
                             _require_str(item, "description", where), _require_str(item, "breaks", where),
                             _require_str(item, "requirement", where), tuple(also), tuple(disables)))
    names = [d.name for d in defs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{source}: fault names defined twice: {', '.join(duplicates)}")
    if not defs:
        raise ConfigError(f"{source}: no [[fault]] entries")
    return defs


def load_faults(path: Path | str | None = None) -> list[FaultDef]:
    """Every documented switch, from `path` or the bundled `faults.toml`."""
    if path is None:
        return list(_bundled())
    return _load(Path(path))


@lru_cache(maxsize=1)
def _bundled() -> tuple[FaultDef, ...]:
    return tuple(_load(FAULTS_FILE))


def _load(path: Path) -> list[FaultDef]:
    data = read_toml(path, "fault list")
    return _parse(data, path)


def parse_fault(spec: str, role: str, definitions: Iterable[FaultDef] | None = None) -> Fault:
    """`drop-field:IF-062:R0` -> a Fault for `role`; a user mistake is one UsageError line."""
    defs = {d.name: d for d in (definitions if definitions is not None else load_faults())}
    name, *args = [part.strip() for part in spec.strip().split(":")]
    if name not in defs:
        known = ", ".join(d.usage for d in defs.values())
        raise UsageError(f"unknown fault {spec!r} (expected one of: {known})")
    definition = defs[name]
    if len(args) != len(definition.params):
        raise UsageError(f"fault {name!r} takes {len(definition.params)} argument(s): write it as {definition.usage}")
    if not definition.applies_to(role):
        raise UsageError(f"fault {name!r} applies to the reference {definition.role}, not {role}")
    if "interface" in definition.params:
        from harness.catalogue import load_catalogue

        index = definition.params.index("interface")
        args[index] = load_catalogue().get(args[index]).id  # UsageError for an unknown interface
    if "block" in definition.params and not args[definition.params.index("block")]:
        raise UsageError(f"fault {name!r}: the block argument is empty (e.g. {definition.usage} -> drop-field:IF-062:R0)")
    return Fault(definition, tuple(args), role)


def parse_faults(specs: Iterable[str], role: str, definitions: Iterable[FaultDef] | None = None) -> FaultSet:
    defs = list(definitions) if definitions is not None else load_faults()
    return FaultSet([parse_fault(s, role, defs) for s in specs])
