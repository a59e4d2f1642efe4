"""Schema packs: the JSON Schemas a DIP message is validated against.

Two packs answer the same protocol: dipcert's own (`schemas/dip/`, written from the facts of the
DIP API specification v2.1.0, shipped with the harness) and Elexon's official specification read
from a folder the user downloaded (`harness.messages.official`). Everything that validates asks a
pack for a compiled validator of ONE wire item `{"payload": {...}}`, so which pack is in use is a
single choice made at the edge (`load_pack`).
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from harness.core.errors import ConfigError, UsageError
from harness.core.paths import schemas_dir
from harness.messages.compiled import CompiledCheck
from harness.messages.dialect import FORMAT_CHECKER, dip_validator_class
from harness.messages.packhash import fingerprint_files

Form = Literal["ingress", "egress"]
FORMS: tuple[Form, ...] = ("ingress", "egress")

BASE_URI = "https://schemas.dipcert.local/dip/"
PACK_NAME = "dipcert"
PACK_VERSION = "dipcert-2"  # bump when the meaning of the pack changes; the fingerprint tracks bytes
# dipcert-2: ECMA-262 patterns, OpenAPI 3.0 integers, real DT-003 date-times, extra keys beside
# `payload` allowed (the specification's DIPMessage does not forbid them).


@runtime_checkable
class SchemaPack(Protocol):
    name: str
    version: str
    fingerprint: str

    def message_validator(self, interface_id: str, event_name: str, form: Form = "ingress") -> Validator:
        """A validator for ONE wire item `{"payload": {"CommonBlock": ..., "CustomBlock": ...}}`."""
        ...

    def message_check(self, interface_id: str, event_name: str, form: Form = "ingress") -> CompiledCheck:
        """The compiled validity verdict of the same schema (`harness.messages.compiled`)."""
        ...


def normalise_interface_id(interface_id: str) -> str:
    """`if061`, `IF061`, ` IF-061 ` all mean `IF-061`."""
    key = str(interface_id).strip().upper()
    if key.startswith("IF") and not key.startswith("IF-"):
        key = "IF-" + key[2:]
    return key


def _check_form(form: str) -> Form:
    if form not in FORMS:
        raise UsageError(f"unknown message form {form!r} (expected one of: {', '.join(FORMS)})")
    return form


class BundledPack:
    """dipcert's own pack: every `*.json` file under `schemas/dip/`, addressed by its `$id`.

    Nothing is fetched: `$ref`s between files resolve through a `referencing.Registry` built from
    the local files, and an unknown reference fails instead of reaching the network.
    """

    name = PACK_NAME
    version = PACK_VERSION

    def __init__(self, folder: Path | str | None = None) -> None:
        self.folder = Path(folder) if folder is not None else schemas_dir() / "dip"
        if not self.folder.is_dir():
            raise ConfigError(f"{self.folder}: schema pack folder not found")
        raw: dict[str, bytes] = {}
        documents: dict[str, dict[str, Any]] = {}
        for path in sorted(self.folder.rglob("*.json")):
            rel = path.relative_to(self.folder).as_posix()
            raw[rel] = path.read_bytes()
            try:
                doc = json.loads(raw[rel])
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{path}: not valid JSON ({exc})") from None
            if not isinstance(doc, dict) or not isinstance(doc.get("$id"), str):
                raise ConfigError(f"{path}: a schema file must be a JSON object with a string '$id'")
            documents[rel] = doc
        if not documents:
            raise ConfigError(f"{self.folder}: no schema files (*.json) found")
        self.fingerprint = fingerprint_files(raw)
        self.documents = documents
        resources = [(doc["$id"], Resource.from_contents(doc, default_specification=DRAFT202012))
                     for doc in documents.values()]
        self._registry: Registry = Registry().with_resources(resources).crawl()
        self._events: dict[str, tuple[str, ...]] = {}
        self._uris: dict[str, str] = {}
        for rel, doc in documents.items():
            if rel.startswith("interfaces/"):
                iid = normalise_interface_id(Path(rel).name.split(".")[0])
                self._events[iid] = tuple(doc.get("$defs", {}))
                self._uris[iid] = doc["$id"]
        if not self._events:
            raise ConfigError(f"{self.folder}: no interface schemas under interfaces/")
        envelope = next((d for r, d in documents.items() if r == "envelope.schema.json"), None)
        if envelope is None:
            raise ConfigError(f"{self.folder}: envelope.schema.json is missing")
        self._envelope_uri = envelope["$id"]
        self._validators: dict[tuple[str, str, Form], Validator] = {}
        self._checks: dict[tuple[str, str, Form], CompiledCheck] = {}
        self._lock = threading.Lock()

    # -- questions about the pack ------------------------------------------------------------------
    @property
    def registry(self) -> Registry:
        """Every file of the pack by `$id`: what the validators resolve `$ref`s against."""
        return self._registry

    def interfaces(self) -> dict[str, tuple[str, ...]]:
        """Interface id -> event names (without brackets) this pack has schemas for."""
        return dict(self._events)

    def resolve(self, interface_id: str, event_name: str) -> tuple[str, str]:
        """Canonical (interface id, event name); a UsageError names the choices otherwise."""
        iid = normalise_interface_id(interface_id)
        if iid not in self._events:
            raise UsageError(f"unknown interface {interface_id!r} in schema pack {self.name} "
                             f"(expected one of: {', '.join(sorted(self._events))})")
        wanted = str(event_name).strip().strip("[]").lower()
        for event in self._events[iid]:
            if event.lower() == wanted:
                return iid, event
        raise UsageError(f"{iid} has no event {event_name!r} in schema pack {self.name} "
                         f"(expected one of: {', '.join(self._events[iid])})")

    def event_schema(self, interface_id: str, event_name: str, form: Form = "ingress") -> dict[str, Any]:
        """The JSON schema of one wire item for this event: a JSON-able dict whose `$ref`s are
        absolute `$id`s of this pack's files (resolve them with `registry`)."""
        iid, event = self.resolve(interface_id, event_name)
        form = _check_form(form)
        payload: dict[str, Any] = {"$ref": f"{self._uris[iid]}#/$defs/{event}"}
        if form == "egress":
            payload = {"allOf": [payload, {"$ref": f"{self._envelope_uri}#/$defs/egressRequirements"}]}
        # No additionalProperties: the specification's DIPMessage leaves the item open, and
        # validation reports an extra key as a warning (envelope.extra-key) instead.
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["payload"],
            "properties": {"payload": payload},
        }

    def message_validator(self, interface_id: str, event_name: str, form: Form = "ingress") -> Validator:
        iid, event = self.resolve(interface_id, event_name)
        key = (iid, event, _check_form(form))
        with self._lock:
            validator = self._validators.get(key)
            if validator is None:
                cls = dip_validator_class(Draft202012Validator)  # the specification's dialect
                validator = cls(self.event_schema(iid, event, form), registry=self._registry,
                                format_checker=FORMAT_CHECKER)
                self._validators[key] = validator
        return validator

    def message_check(self, interface_id: str, event_name: str, form: Form = "ingress") -> CompiledCheck:
        asked = (interface_id, event_name, form)
        check = self._checks.get(asked)  # as asked: every message asks, names rarely need resolving
        if check is None:
            iid, event = self.resolve(interface_id, event_name)
            key = (iid, event, _check_form(form))
            with self._lock:
                check = self._checks.get(key)
                if check is None:
                    resources = [(doc["$id"], doc) for doc in self.documents.values()]
                    check = CompiledCheck(self.event_schema(iid, event, form), resources, "2020-12")
                self._checks[key] = self._checks[asked] = check
        return check

    def schema(self, relative_name: str) -> dict[str, Any]:
        """One file of the pack (`envelope.schema.json`, `interfaces/IF-061.schema.json`)."""
        try:
            return self.documents[relative_name]
        except KeyError:
            raise UsageError(f"schema pack {self.name} has no file {relative_name!r} "
                             f"(expected one of: {', '.join(sorted(self.documents))})") from None


@lru_cache(maxsize=1)
def bundled_pack() -> BundledPack:
    """The shipped pack, loaded once per process."""
    return BundledPack()


def load_pack(spec_dir: Path | str | None = None) -> SchemaPack:
    """The bundled pack for None; otherwise Elexon's specification read from `spec_dir`."""
    if spec_dir is None:
        return bundled_pack()
    # Local: only users of --spec pay for the YAML loader (the CLI's start-up stays light).
    from harness.messages.official import OfficialPack

    return OfficialPack(spec_dir)
