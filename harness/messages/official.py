"""Elexon's own DIP API specification (unresolved OpenAPI 3.0 YAML) used as a schema pack.

A user who holds Elexon's files points `--spec DIR` at them and every message is judged by the
specification itself rather than by dipcert's re-statement of it. The files are never copied:
they are read from the user's folder, each registered under the absolute URL its `$ref`s use
(`https://raw.githubusercontent.com/elexon-data/dip-api-documentation/main/<relative path>`),
so the cross-file references resolve offline. A reference to a file that is not in the folder
raises ConfigError naming it; nothing ever touches the network.

Validator semantics: OpenAPI 3.0's Schema Object is an "extended subset" of JSON Schema
Wright draft 00 (the draft-04/05 family): `$ref` replaces its siblings, `exclusiveMinimum` is a
boolean, `format` is an annotation. jsonschema's Draft4Validator has exactly those semantics, so
it is used here, with the specification's dialect of `harness.messages.dialect` (ECMA-262
patterns, integers without fraction, the same rules as dipcert's own pack). OpenAPI formats such
as `byte` stay annotations; the DT-003 date-time and DT-021 date types, which the specification
defines in words ("ISO 8601 Date/time", "inclusion of the +hh:mm offset"), are given dipcert's
`dip-date-time` / `dip-date` formats by name (`DIALECT_FORMATS`) so that both packs assert them.
OpenAPI's `nullable: true` has no JSON Schema counterpart and is rewritten before validation:
`"null"` joins `type` (and `None` joins `enum`), or, for a schema without `type` (a `$ref`,
an `allOf`), the schema is wrapped as `anyOf: [schema, {"type": "null"}]`. Annotation-only
OpenAPI keywords (`example`, `xml`, `discriminator`, ...) are dropped.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, NoReturn
from urllib.parse import urldefrag, urljoin

import yaml
from jsonschema import Draft4Validator
from jsonschema.protocols import Validator
from referencing import Registry
from referencing.exceptions import PointerToNowhere, Unresolvable
from referencing.jsonschema import DRAFT4

from harness.core.catalogue import load_catalogue
from harness.core.errors import ConfigError, UsageError
from harness.messages.compiled import CompiledCheck
from harness.messages.dialect import DATE_FORMAT, DATE_TIME_FORMAT, FORMAT_CHECKER, dip_validator_class
from harness.messages.packhash import fingerprint_files

Form = Literal["ingress", "egress"]

BASE_URL = "https://raw.githubusercontent.com/elexon-data/dip-api-documentation/main/"
EVENTS_FILE = "Interfaces-EventCodes-unresolved.yaml"
SUBMIT_FILE = "SubmitEvents-unresolved.yaml"

# OpenAPI keywords with no JSON Schema meaning; some (discriminator) would mislead a reader.
_OPENAPI_ONLY = frozenset({"example", "examples", "xml", "discriminator", "externalDocs",
                           "readOnly", "writeOnly", "deprecated", "nullable"})
# Keywords whose value is a map of name -> schema, a schema, or a list of schemas.
_SCHEMA_MAPS = ("properties", "patternProperties", "definitions")
_SCHEMA_ONE = ("items", "additionalProperties", "not", "additionalItems")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Data types whose meaning the specification gives in words only: the format that asserts it.
DIALECT_FORMATS = {
    "DT-003-DateTime": DATE_TIME_FORMAT, "DT-003N-DateTime": DATE_TIME_FORMAT,
    "DT-021-Date": DATE_FORMAT, "DT-021N-Date": DATE_FORMAT,
}


# --- OpenAPI 3.0 -> JSON Schema -----------------------------------------------------------------

def convert_schema(schema: Any) -> Any:
    """A JSON Schema (draft 4) equivalent of an OpenAPI 3.0 Schema Object; the input is unchanged."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _OPENAPI_ONLY:
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: convert_schema(sub) for name, sub in value.items()}
        elif key in _SCHEMA_ONE:
            out[key] = ([convert_schema(sub) for sub in value] if isinstance(value, list)
                        else convert_schema(value))
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [convert_schema(sub) for sub in value]
        else:
            out[key] = copy.deepcopy(value)
    if schema.get("nullable") is True:
        out = _make_nullable(out)
    return out


def _make_nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema or "type" not in schema:
        # Draft 4 ignores $ref's siblings, so a `type` beside it would be lost: wrap instead.
        # Annotations (description, title) stay outside the anyOf where a reader sees them.
        notes: dict[str, Any] = {k: schema[k] for k in ("description", "title") if k in schema}
        body = {k: v for k, v in schema.items() if k not in notes}
        return {**notes, "anyOf": [body, {"type": "null"}]}
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if "null" not in types:
        schema["type"] = [*types, "null"]
    if isinstance(schema.get("enum"), list) and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]
    return schema


def convert_document(document: Any) -> Any:
    """An OpenAPI document with every `components.schemas` entry converted; the rest untouched."""
    if not isinstance(document, dict):
        return document
    components = document.get("components")
    if not isinstance(components, dict) or not isinstance(components.get("schemas"), dict):
        return document
    schemas = {name: convert_schema(s) for name, s in components["schemas"].items()}
    for name, fmt in DIALECT_FORMATS.items():
        if isinstance(schemas.get(name), dict) and "format" not in schemas[name]:
            schemas[name] = {**schemas[name], "format": fmt}
    return {**document, "components": {**components, "schemas": schemas}}


# --- Loading ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Parsed:
    data: bytes
    document: Any  # converted


@lru_cache(maxsize=64)
def _parse_file(path: str, mtime_ns: int, size: int) -> _Parsed:
    """Parse and convert one YAML file; cached on (path, mtime, size) because parsing is the cost."""
    data = Path(path).read_bytes()
    try:
        document = yaml.load(data, Loader=_Loader)  # noqa: S506 - a SafeLoader (C or Python)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where} ({problem})") from None
    return _Parsed(data, convert_document(document))


def _load_folder(folder: Path) -> dict[str, _Parsed]:
    files: dict[str, _Parsed] = {}
    for path in sorted(folder.rglob("*.yaml")):
        if not path.is_file():
            continue
        stat = path.stat()
        files[path.relative_to(folder).as_posix()] = _parse_file(str(path), stat.st_mtime_ns, stat.st_size)
    return files


class OfficialPack:
    """SchemaPack over a folder of Elexon's unresolved OpenAPI files (see module docstring)."""

    name = "elexon-dip-api"

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder).expanduser()
        if not self.folder.is_dir():
            raise ConfigError(f"{self.folder}: specification folder not found "
                              f"(expected a folder holding {EVENTS_FILE})")
        if not (self.folder / EVENTS_FILE).is_file():
            raise ConfigError(f"{self.folder}: not Elexon's DIP API specification "
                              f"({EVENTS_FILE} is missing)")
        self._files = _load_folder(self.folder)
        self._documents = {BASE_URL + name: parsed.document for name, parsed in self._files.items()}
        # retrieve= is referencing's documented argument; mypy's attrs plugin misses the field's alias
        self.registry: Registry = Registry(retrieve=self._retrieve).with_resources(  # type: ignore[call-arg]
            (url, DRAFT4.create_resource(document)) for url, document in self._documents.items()
        )
        self.version = self._version()
        self.fingerprint = self._fingerprint()
        self._validators: dict[str, Validator] = {}  # by component name
        self._checks: dict[str, CompiledCheck] = {}
        self._lock = threading.Lock()  # the hub validates from several threads

    # -- identity -------------------------------------------------------------------------------

    def _version(self) -> str:
        for name in (SUBMIT_FILE, EVENTS_FILE):
            parsed = self._files.get(name)
            info = parsed.document.get("info") if parsed and isinstance(parsed.document, dict) else None
            if isinstance(info, dict) and info.get("version") is not None:
                return str(info["version"])
        return "unknown"

    def _fingerprint(self) -> str:
        return fingerprint_files({name: parsed.data for name, parsed in self._files.items()})

    def _retrieve(self, uri: str) -> NoReturn:  # called only for URLs not registered
        relative = uri[len(BASE_URL):] if uri.startswith(BASE_URL) else uri
        raise ConfigError(f"{self.folder / relative}: referenced by the specification ({uri}) "
                          "but not in the folder")

    # -- schemas --------------------------------------------------------------------------------

    def schema_ref(self, interface_id: str, event_name: str, form: Form = "ingress") -> str:
        """Where an event's payload schema lives, e.g. `Interfaces-EventCodes-unresolved.yaml#/...`."""
        return f"{EVENTS_FILE}#/components/schemas/{self._component(interface_id, event_name)}"

    def _component(self, interface_id: str, event_name: str) -> str:
        return load_catalogue().event(interface_id, event_name).official_schema

    def message_validator(self, interface_id: str, event_name: str, form: Form = "ingress") -> Validator:
        """A validator for ONE wire item `{"payload": ...}` of this event (ingress = egress here)."""
        if form not in ("ingress", "egress"):
            raise UsageError(f"unknown form {form!r} (expected 'ingress' or 'egress')")
        component = self._component(interface_id, event_name)
        with self._lock:
            return self._compile(component)

    def message_check(self, interface_id: str, event_name: str, form: Form = "ingress") -> CompiledCheck:
        """The compiled validity verdict of the same schema (`harness.messages.compiled`)."""
        validator = self.message_validator(interface_id, event_name, form)  # refs checked there
        component = self._component(interface_id, event_name)
        with self._lock:
            if component not in self._checks:
                self._checks[component] = CompiledCheck(validator.schema, self._documents.items(), "4")
            return self._checks[component]

    def _compile(self, component: str) -> Validator:
        if component not in self._validators:
            url = f"{BASE_URL}{EVENTS_FILE}#/components/schemas/{component}"
            unresolved = self._unresolved_from([url])
            if unresolved:
                raise ConfigError(f"{self.folder}: {component} cannot be used: {unresolved[0]}")
            # DIPMessage: `payload` required, other keys not forbidden (no additionalProperties).
            schema = {"type": "object", "required": ["payload"], "properties": {"payload": {"$ref": url}}}
            self._validators[component] = dip_validator_class(Draft4Validator)(
                schema, registry=self.registry, format_checker=FORMAT_CHECKER)
        return self._validators[component]

    def check_all_refs(self) -> list[str]:
        """Every `$ref` reachable from the catalogue's events that does not resolve (ideally none)."""
        roots = [f"{BASE_URL}{EVENTS_FILE}#/components/schemas/{e.official_schema}"
                 for e in load_catalogue().events()]
        return self._unresolved_from(roots)

    def _unresolved_from(self, roots: list[str]) -> list[str]:
        problems: list[str] = []
        seen: set[str] = set()
        stack: list[tuple[str, str]] = [(BASE_URL + EVENTS_FILE, root) for root in roots]
        while stack:
            base, ref = stack.pop()
            target = urljoin(base, ref)
            if target in seen:
                continue
            seen.add(target)
            try:
                resolved = self.registry.resolver(base_uri=base).lookup(ref)
            except Unresolvable as exc:
                problems.append(f"{target.removeprefix(BASE_URL)} (referenced from "
                                f"{base.removeprefix(BASE_URL)}): {_reason(exc)}")
                continue
            new_base = urldefrag(target).url
            stack.extend((new_base, nested) for nested in _refs_in(resolved.contents))
        return sorted(set(problems))


def _reason(exc: BaseException) -> str:
    """Why a reference did not resolve, in words: a missing file or a missing component."""
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, ConfigError):
            return "file not in the specification folder"
        current = current.__cause__ or current.__context__
    return "no such component in that file" if isinstance(exc, PointerToNowhere) else str(exc)


def _refs_in(node: Any) -> list[str]:
    found: list[str] = []
    todo = [node]
    while todo:
        current = todo.pop()
        if isinstance(current, dict):
            ref = current.get("$ref")
            if isinstance(ref, str):
                found.append(ref)
            todo.extend(v for k, v in current.items() if k not in ("enum", "const", "default"))
        elif isinstance(current, list):
            todo.extend(current)
    return found
