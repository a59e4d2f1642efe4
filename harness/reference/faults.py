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

from harness.core.catalogue import load_catalogue
from harness.core.errors import ConfigError, UsageError
from harness.core.files import read_toml

FAULTS_FILE = Path(__file__).with_name("faults.toml")
ROLES = ("MDR", "SDS", "both")


@dataclass(frozen=True)
class FaultCase:
    """A `[[fault.case]]`: how the fault matrix runs a switch on one role (its arguments), and what
    fails there when that differs from the switch's own `requirement` / `also` (None: no difference)."""

    role: str
    args: tuple[str, ...] = ()
    requirements: tuple[str, ...] | None = None
    also: tuple[str, ...] | None = None

    def spec(self, name: str) -> str:
        return ":".join([name, *self.args])


@dataclass(frozen=True)
class FaultDef:
    """One `[[fault]]` entry: a switch as documented, before its arguments are filled in."""

    name: str
    params: tuple[str, ...]
    role: str
    description: str
    breaks: str
    requirements: tuple[str, ...]  # globs: every enabled requirement they match fails, naming `breaks`
    also: tuple[str, ...] = ()  # globs of requirements that fail too, as a documented consequence
    cases: tuple[FaultCase, ...] = ()
    disables: tuple[str, ...] = ()  # interfaces the demo profile sets to "N" with this switch (a profile choice)

    def applies_to(self, role: str) -> bool:
        return self.role in ("both", role)

    @property
    def requirement(self) -> str:
        """The requirement globs as one line (for messages)."""
        return ", ".join(self.requirements)

    def case_for(self, role: str) -> FaultCase:
        """The fault matrix's case for `role`: the `[[fault.case]]` for it, else the switch without arguments."""
        return next((c for c in self.cases if c.role == role), FaultCase(role))

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

    def fill(self, text: str) -> str:
        """`{role}`, `{interface}`, `{block}` ... in `text` replaced by this switch's values."""
        values = dict(zip(self.definition.params, self.args))
        values.setdefault("role", self.role or "*")
        try:
            return text.format(**values)
        except (KeyError, IndexError):
            return text

    @property
    def requirements(self) -> tuple[str, ...]:
        return tuple(self.fill(g) for g in self.definition.requirements)

    @property
    def requirement(self) -> str:
        return ", ".join(self.requirements)

    @property
    def description(self) -> str:
        return self.fill(self.definition.description)

    def matches_requirement(self, requirement_id: str) -> bool:
        return any(fnmatch.fnmatchcase(requirement_id, g) for g in self.requirements)

    @property
    def also(self) -> tuple[str, ...]:
        return tuple(self.fill(g) for g in self.definition.also)

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


def _globs(value: object, key: str, where: str) -> tuple[str, ...]:
    """A glob or a list of globs -> tuple; a ConfigError naming the key otherwise."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(g, str) and g for g in items):
        raise ConfigError(f"{where}: key {key!r} should be a requirement glob or a list of them")
    return tuple(items)


def _case(item: object, params: list[str], role: str, where: str) -> FaultCase:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: should be a table")
    unknown = sorted(set(item) - {"role", "args", "requirement", "also"})
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (expected role, args, requirement, also)")
    case_role = _require_str(item, "role", where)
    if case_role not in ("MDR", "SDS") or role not in ("both", case_role):
        raise ConfigError(f"{where}: role should be a role the switch applies to, got {case_role!r}")
    args = item.get("args", [])
    if not isinstance(args, list) or len(args) != len(params) or not all(isinstance(a, str) and a for a in args):
        raise ConfigError(f"{where}: key 'args' should give the {len(params)} argument(s) {', '.join(params)}")
    requirements = _globs(item["requirement"], "requirement", where) if "requirement" in item else None
    also = _globs(item["also"], "also", where) if "also" in item else None
    return FaultCase(case_role, tuple(args), requirements, also)


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
        requirements = _globs(item.get("requirement"), "requirement", where)
        if not requirements:
            raise ConfigError(f"{where}: key 'requirement' should be a requirement glob or a list of them")
        also = _globs(item.get("also", []), "also", where)
        disables = item.get("disables", [])
        if not isinstance(disables, list) or not all(isinstance(i, str) and i.startswith("IF-") for i in disables):
            raise ConfigError(f"{where}: key 'disables' should be a list of interface ids like \"IF-062\"")
        cases = item.get("case", [])
        if not isinstance(cases, list):
            raise ConfigError(f"{where}: [[fault.case]] should be an array of tables")
        defs.append(FaultDef(_require_str(item, "name", where), tuple(params), role,
                             _require_str(item, "description", where), _require_str(item, "breaks", where),
                             requirements, also,
                             tuple(_case(c, params, role, f"{where}.case[{j}]") for j, c in enumerate(cases)),
                             tuple(disables)))
        case_roles = [c.role for c in defs[-1].cases]
        if len(set(case_roles)) != len(case_roles):
            raise ConfigError(f"{where}: two [[fault.case]] tables for one role")
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
        index = definition.params.index("interface")
        args[index] = load_catalogue().get(args[index]).id  # UsageError for an unknown interface
    if "block" in definition.params and not args[definition.params.index("block")]:
        raise UsageError(f"fault {name!r}: the block argument is empty "
                         f"(e.g. {definition.usage} -> drop-field:IF-062:R0)")
    return Fault(definition, tuple(args), role)


def parse_faults(specs: Iterable[str], role: str, definitions: Iterable[FaultDef] | None = None) -> FaultSet:
    defs = list(definitions) if definitions is not None else load_faults()
    return FaultSet([parse_fault(s, role, defs) for s in specs])
