"""The participant profile: who is certified, for which interfaces, and where everything lives.

A profile is TOML (stdlib tomllib). It is validated against `schemas/profile.schema.json` (the
field-by-field documentation) and then against the interface catalogue, because only the catalogue
knows which way each interface flows for the party's role. Every mistake becomes ONE ConfigError
line naming the file, the dotted key and what was expected, so a participant can fix it unaided.

Secrets (API keys, key passwords) are only ever *referenced* (`{env = "NAME"}` or
`{file = "path"}`) and read on demand by `Profile.resolve_secret`; nothing that leaves this module
(`to_public_dict`, `digest`) can contain a secret value.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from jsonschema import Draft202012Validator

from harness.config.exchanges import unanswered_requests
from harness.core.catalogue import Catalogue, load_catalogue
from harness.core.errors import ConfigError
from harness.core.files import read_config_bytes
from harness.core.findings import short
from harness.core.paths import schemas_dir

ROLES = ("MDR", "SDS")
COUNTERPART = {"MDR": "SDS", "SDS": "MDR"}
ENVIRONMENTS = ("DEV", "SIT", "SITB", "UIT", "PRD")
SECRET_KEYS = ("api_key_primary", "api_key_secondary", "signing_key_password")
PATH_KEYS = ("signing_certificate", "signing_key", "tls_ca", "client_certificate", "client_key")
TRIGGER_KINDS = ("http", "command", "manual")
TRIGGER_DEFAULT_TIMEOUT = {"http": 10.0, "command": 60.0, "manual": 300.0}
REFERENCE = "reference"
PARTNER_API_KEY = "partner.api_key"  # the secret name `resolve_secret` takes for the real partner's key
REFERENCE_SUPPLIED = ("webhooks", "credentials", "triggers")  # what `[party] endpoint = "reference"` makes at run time
INLINE_SECRET = 'secrets must be referenced as {env = "NAME"} or {file = "path"}, not written inline'

_INTERFACE_KEY = re.compile(r"^if-?(\d{3})$", re.IGNORECASE)
_KEYED_TABLES = ("interfaces", "webhooks", "triggers")

TriggerKind = Literal["http", "command", "manual"]


# --- the profile as data ----------------------------------------------------------------------

@dataclass(frozen=True)
class Party:
    role: str
    company: str
    mpid: str
    dip_id: str
    dcp_id: str | None = None
    endpoint: str | None = None  # "reference": dipcert's reference participant plays the party (a rehearsal)

    @property
    def is_reference(self) -> bool:
        """True when dipcert starts its own reference participant as this party (`[party] endpoint = "reference"`)."""
        return self.endpoint == REFERENCE


@dataclass(frozen=True)
class SystemUnderTest:
    name: str
    version: str
    build_id: str | None = None
    supplier: str | None = None
    supplier_is_dcp: bool = False


@dataclass(frozen=True)
class Partner:
    """The nominated partner: dipcert's reference participant, or a real endpoint of another organisation.

    A real partner may say how the harness asks it to send (`trigger`) and how the simulated DIP
    knows it (`api_key`, `signing_certificate`, `webhooks`), exactly as onboarding would register it.
    """

    role: str
    mpid: str
    dip_id: str
    endpoint: str  # "reference" or the partner's (default) webhook URL
    company: str | None = None
    trigger: Trigger | None = None
    signing_certificate: str | None = None  # path as written; Profile.partner_certificate_path resolves it
    api_key: SecretRef | None = None
    webhooks: dict[str, str] = field(default_factory=dict)  # "default" or interface id -> URL

    @property
    def is_reference(self) -> bool:
        """True when dipcert's built-in reference participant plays the partner."""
        return self.endpoint == REFERENCE

    def webhook_for(self, interface_id: str) -> str | None:
        """Where the DIP delivers `interface_id` to a real partner: its own entry, `default`, else `endpoint`."""
        if self.is_reference:
            return None
        key = normalise_interface_id(interface_id)
        return self.webhooks.get(key) or self.webhooks.get("default") or self.endpoint

    def to_public_dict(self) -> dict[str, Any]:
        """Secret references only; keys that are not set are left out (older profiles keep their digest)."""
        out: dict[str, Any] = {"role": self.role, "mpid": self.mpid, "dip_id": self.dip_id, "endpoint": self.endpoint}
        if self.company is not None:
            out["company"] = self.company
        if self.trigger is not None:
            out["trigger"] = self.trigger.to_dict()
        if self.signing_certificate is not None:
            out["signing_certificate"] = self.signing_certificate
        if self.api_key is not None:
            out["api_key"] = self.api_key.to_dict()
        if self.webhooks:
            out["webhooks"] = dict(sorted(self.webhooks.items()))
        return out


@dataclass(frozen=True)
class SecretRef:
    """Where a secret lives; never the secret itself."""

    env: str | None = None
    file: str | None = None  # as written, relative to the profile file

    def to_dict(self) -> dict[str, str]:
        return {"env": self.env} if self.env is not None else {"file": str(self.file)}

    def __str__(self) -> str:
        return f"environment variable {self.env}" if self.env is not None else f"file {self.file}"


@dataclass(frozen=True)
class Credentials:
    api_key_primary: SecretRef | None = None
    api_key_secondary: SecretRef | None = None
    signing_certificate: str | None = None  # paths as written; Profile.credential_path resolves them
    signing_key: str | None = None
    signing_key_password: SecretRef | None = None
    tls_ca: str | None = None
    client_certificate: str | None = None
    client_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in (*SECRET_KEYS, *PATH_KEYS):
            value = getattr(self, name)
            if value is not None:
                out[name] = value.to_dict() if isinstance(value, SecretRef) else value
        return out


@dataclass(frozen=True)
class Trigger:
    """How to ask the participant to send an outgoing flow (ARCHITECTURE.md, "Triggering outgoing flows")."""

    kind: TriggerKind
    url: str | None = None
    command: str | None = None
    instructions: str | None = None
    timeout: float = 10.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "timeout": self.timeout}
        for name in ("url", "command", "instructions"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


@dataclass(frozen=True)
class HarnessSettings:
    hub_host: str = "127.0.0.1"
    hub_port: int = 0
    timeout: float = 10.0
    skew_seconds: int = 300
    seed: int = 0
    parallel: int = 24  # requirements at once; deliveries in flight to the webhooks: 3x this (issue 14)


MUST_REJECT_POLICIES = ("advisory", "blocking")


@dataclass(frozen=True)
class Policy:
    """How the harness weighs checks beyond the guidance's words (issue 14).

    `must_reject`: whether the per-interface must-reject requirements (`<role>-5.2a|6.2a/<IF>/reject`:
    a wrong MPAN check digit answered RCP1061, a future senderTimestamp answered RCP1008) block
    readiness (`blocking`) or are shown without blocking it (`advisory`, the default).
    """

    must_reject: str = "advisory"

    @property
    def is_default(self) -> bool:
        return self == Policy()

    def to_dict(self) -> dict[str, Any]:
        return {"must_reject": self.must_reject}


@dataclass(frozen=True)
class ExchangeSettings:
    """The `[exchange]` table: how the exchange obtains the MDR's scheduled consumption
    (see harness.config.exchanges)."""

    consumption: str = "triggered"  # or "spontaneous"
    spontaneous_within: float | None = None  # seconds; None: harness.timeout

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"consumption": self.consumption}
        if self.spontaneous_within is not None:
            out["spontaneous_within"] = self.spontaneous_within
        return out


DCC_USER_ROLES = ("supplier", "MDR")
OPERATING_MODELS = {
    1: "Supplier performs the MDR function using its existing data collection process",
    2: "Supplier performs the MDR function using a new data collection process",
    3: "Supplier contracts with the SDS to perform the MDR function",
    4: "Supplier contracts with the SDS to perform the MDR function using a third-party organisation",
}
DOCUMENT_KEYS = ("uep_confirmation", "uept_certificate")


@dataclass(frozen=True)
class Qualification:
    """The `[qualification]` table: MHHS-DEL1384's prerequisites, attested by the party (issue 19).

    The harness cannot prove what these documents say; it records the statement, attaches the
    documents by hash, and blocks an MDR DCC User Role without SECAS's UEP confirmation (A203).
    """

    dcc_user_role: str  # "supplier" (IS/ES) or "MDR"
    operating_model: int  # 1..4, guidance appendix 1
    mdr_dip_id: str | None = None
    uep_confirmation: str | None = None  # paths as written; Profile.document_path resolves them
    uept_certificate: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(vars(self))


@dataclass(frozen=True)
class Profile:
    path: Path
    environment: str
    party: Party
    system: SystemUnderTest
    partner: Partner | None
    interfaces: dict[str, bool]  # every catalogue interface, in catalogue order
    declared_directions: dict[str, str] = field(default_factory=dict)  # as stated in the profile
    webhooks: dict[str, str] = field(default_factory=dict)
    credentials: Credentials = field(default_factory=Credentials)
    triggers: dict[str, Trigger] = field(default_factory=dict)
    harness: HarnessSettings = field(default_factory=HarnessSettings)
    exchange: ExchangeSettings = field(default_factory=ExchangeSettings)
    # What loading noticed but does not refuse (an enabled request without its answer): shown by
    # `dipcert run` and `dipcert preflight`; preflight's partner check fails it.
    warnings: tuple[str, ...] = field(default=(), compare=False)
    policy: Policy = field(default_factory=Policy)
    qualification: Qualification | None = None  # issue 19: MHHS-DEL1384 prerequisites

    @property
    def role(self) -> str:
        return self.party.role

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def enabled_interfaces(self) -> tuple[str, ...]:
        return tuple(i for i, on in self.interfaces.items() if on)

    def is_enabled(self, interface_id: str) -> bool:
        return self.interfaces.get(normalise_interface_id(interface_id), False)

    def webhook_for(self, interface_id: str) -> str | None:
        """The URL the DIP delivers `interface_id` to: its own entry, else `default`, else None."""
        key = normalise_interface_id(interface_id)
        return self.webhooks.get(key) or self.webhooks.get("default")

    def trigger_for(self, interface_id: str) -> Trigger | None:
        key = normalise_interface_id(interface_id)
        return self.triggers.get(key) or self.triggers.get("default")

    def credential_path(self, name: str) -> Path | None:
        """A credential file path resolved against the profile's folder (None when not set)."""
        if name not in PATH_KEYS:
            raise ConfigError(f"{self.path}: credentials.{name}: not a path field "
                              f"(expected one of: {', '.join(PATH_KEYS)})")
        written = getattr(self.credentials, name)
        return None if written is None else (self.base_dir / written).expanduser()

    def document_path(self, name: str) -> Path | None:
        """A `[qualification]` document resolved against the profile's folder (None when not set)."""
        if name not in DOCUMENT_KEYS:
            raise ConfigError(f"{self.path}: qualification.{name}: not a document field (expected one of: "
                              f"{', '.join(DOCUMENT_KEYS)})")
        written = getattr(self.qualification, name) if self.qualification is not None else None
        return None if written is None else (self.base_dir / written).expanduser()

    @property
    def mdr_dip_id(self) -> str | None:
        """The MDR DIP ID the qualification states (A201); an MDR party's own DIP ID by default."""
        q = self.qualification
        if q is None:
            return None
        return q.mdr_dip_id or (self.party.dip_id if self.role == "MDR" else None)

    def partner_certificate_path(self) -> Path | None:
        """The real partner's DIP signing certificate, resolved against the profile's folder (None when not set)."""
        if self.partner is None or self.partner.signing_certificate is None:
            return None
        return (self.base_dir / self.partner.signing_certificate).expanduser()

    def secret_ref(self, name: str) -> SecretRef | None:
        """A secret's reference: a `credentials` key, or `partner.api_key` (None when not set)."""
        if name == PARTNER_API_KEY:
            return None if self.partner is None else self.partner.api_key
        name = name.removeprefix("credentials.")
        if name not in SECRET_KEYS:
            raise ConfigError(f"{self.path}: credentials.{name}: not a secret field (expected one of: "
                              f"{', '.join(SECRET_KEYS)}, {PARTNER_API_KEY})")
        return getattr(self.credentials, name)

    def resolve_secret(self, name: str) -> str:
        """The secret's value, read now from its env variable or file. Errors name the variable/file."""
        ref = self.secret_ref(name)
        key = PARTNER_API_KEY if name == PARTNER_API_KEY else f"credentials.{name.removeprefix('credentials.')}"
        if ref is None:
            raise ConfigError(f'{self.path}: {key}: not set (expected {{env = "NAME"}} or {{file = "path"}})')
        if ref.env is not None:
            value = os.environ.get(ref.env)
            if value is None:
                raise ConfigError(f"{self.path}: {key}: environment variable {ref.env} is not set")
            if not value.strip():
                raise ConfigError(f"{self.path}: {key}: environment variable {ref.env} is empty")
            return value.strip()
        secret_path = (self.base_dir / str(ref.file)).expanduser()
        try:
            value = secret_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{self.path}: {key}: secret file {secret_path} not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise ConfigError(f"{self.path}: {key}: cannot read secret file {secret_path} ({reason})") from None
        if not value.strip():
            raise ConfigError(f"{self.path}: {key}: secret file {secret_path} is empty")
        return value.strip()

    def to_public_dict(self) -> dict[str, Any]:
        """The profile with defaults filled in and secret *references* only: safe for evidence."""
        data: dict[str, Any] = {
            "environment": self.environment,
            "party": _drop_none(vars(self.party)),
            "system": _drop_none(vars(self.system)),
            "interfaces": {i: ({"enabled": on, "direction": self.declared_directions[i]}
                               if i in self.declared_directions else on)
                           for i, on in self.interfaces.items()},
            "webhooks": dict(sorted(self.webhooks.items())),
            "credentials": self.credentials.to_dict(),
            "triggers": {k: t.to_dict() for k, t in sorted(self.triggers.items())},
            # `parallel` is left out at its default, so profiles written before it keep their digest
            "harness": {k: v for k, v in vars(self.harness).items()
                        if k != "parallel" or v != HarnessSettings.parallel},
        }
        if self.partner is not None:
            data["partner"] = self.partner.to_public_dict()
        if self.exchange != ExchangeSettings():  # left out at its default: older profiles keep their digest
            data["exchange"] = self.exchange.to_dict()
        if not self.policy.is_default:  # left out at its default, so older profiles keep their digest
            data["policy"] = self.policy.to_dict()
        if self.qualification is not None:  # only when given, so older profiles keep their digest
            data["qualification"] = self.qualification.to_dict()
        return data

    def digest(self) -> str:
        """`sha256:<hex>` of the canonical public dict: changes with the configuration, never with secret values."""
        return public_digest(self.to_public_dict())


def public_digest(public: Mapping[str, Any]) -> str:
    """`Profile.digest` of a public dict: `verify` recomputes it from the profile a bundle recorded."""
    canonical = json.dumps(public, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def normalise_interface_id(value: str) -> str:
    """`if061`, `IF061`, `IF-061` -> `IF-061`; anything else is returned unchanged."""
    m = _INTERFACE_KEY.match(value.strip())
    return f"IF-{m.group(1)}" if m else value


# --- loading ----------------------------------------------------------------------------------

def load_profile(path: Path | str, *, catalogue: Catalogue | None = None) -> Profile:
    """Read, validate and interpret a profile file. Every problem is one ConfigError line."""
    path = Path(path)
    try:
        text = read_config_bytes(path, "profile").decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: profile is not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    party = data.get("party")
    if isinstance(party, dict) and party.get("endpoint") == REFERENCE:
        # A written profile leaves these to the harness; the profile as it ran (recorded in the evidence,
        # read again by verify through parse_profile) holds the ones the harness made.
        supplied = [t for t in REFERENCE_SUPPLIED if t in data]
        if supplied:
            raise ConfigError(f'{path}: {supplied[0]}: not with party.endpoint = "reference": dipcert makes the '
                              f'reference participant\'s webhooks, credentials and triggers itself at run time; '
                              f'remove [{supplied[0]}]')
    return parse_profile(data, path, catalogue=catalogue)


def parse_profile(data: dict[str, Any], path: Path | str, *, catalogue: Catalogue | None = None) -> Profile:
    """Interpret already-parsed TOML as a profile; `path` names the file in errors and anchors paths."""
    path = Path(path)
    catalogue = catalogue or load_catalogue()
    data = _normalise_keys(data, path)
    _validate_schema(data, path)
    return _build(data, path, catalogue)


def _normalise_keys(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """Accept `IF024`/`if-024` as `IF-024` (the guidance note itself writes `IF024`)."""
    data = dict(data)
    for table in _KEYED_TABLES:
        section = data.get(table)
        if not isinstance(section, dict):
            continue
        out: dict[str, Any] = {}
        for key, value in section.items():
            norm = normalise_interface_id(key)
            if norm in out:
                raise ConfigError(f"{path}: {table}.{key}: {norm} is given twice (once as {key!r})")
            out[norm] = value
        data[table] = out
    partner = data.get("partner")
    if isinstance(partner, dict) and isinstance(partner.get("webhooks"), dict):
        hooks: dict[str, Any] = {}
        for key, value in partner["webhooks"].items():
            norm = normalise_interface_id(key)
            if norm in hooks:
                raise ConfigError(f"{path}: partner.webhooks.{key}: {norm} is given twice (once as {key!r})")
            hooks[norm] = value
        data["partner"] = {**partner, "webhooks": hooks}
    return data


@lru_cache(maxsize=1)
def profile_schema() -> dict[str, Any]:
    return json.loads((schemas_dir() / "profile.schema.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _validator() -> Any:
    schema = profile_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _validate_schema(data: dict[str, Any], path: Path) -> None:
    errors = list(_validator().iter_errors(data))
    if not errors:
        return
    # The shallowest error first: a missing table explains more than a bad value inside another.
    error = min(errors, key=lambda e: (len(e.absolute_path), _KEYWORD_ORDER.get(e.validator, 9)))
    raise ConfigError(f"{path}: {_explain(error)}")


_KEYWORD_ORDER = {"additionalProperties": 0, "required": 1, "type": 2}


def _dotted(parts: list[Any]) -> str:
    return ".".join(str(p) for p in parts) if parts else "(top level)"


def _deref(node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return profile_schema()["$defs"][ref.removeprefix("#/$defs/")]
    return node


def _schema_at(parts: list[Any]) -> dict[str, Any] | None:
    """The (un-dereferenced) schema node for a key path, so a sibling description survives a $ref."""
    node: dict[str, Any] | None = profile_schema()
    for part in parts:
        if node is None:
            return None
        base = _deref(node)
        props = base.get("properties")
        if props is None:  # a choice such as interfaceChoice: look through its branches
            props = next((_deref(b).get("properties") for b in base.get("anyOf", [])
                          if "properties" in _deref(b)), None)
        node = (props or {}).get(part)
    return node


def _description(parts: list[Any]) -> str:
    """The first sentence of the key's schema description: what a valid value looks like."""
    node = _schema_at(parts)
    if node is None:
        return "a valid value"
    text = str(node.get("description") or _deref(node).get("description") or "a valid value")
    return re.split(r"\.(?:\s|$)", text, maxsplit=1)[0]


def _explain(error: Any) -> str:
    parts = list(error.absolute_path)
    key = _dotted(parts)
    value = error.instance
    kind = error.validator
    if (parts and parts[0] == "credentials" and len(parts) == 2 and parts[1] in SECRET_KEYS) \
            or parts == ["partner", "api_key"]:
        if not isinstance(value, dict):
            return f"{key}: {INLINE_SECRET}"
        if kind in ("minProperties", "maxProperties"):
            return f'{key}: give exactly one of env or file, e.g. {{env = "NAME"}}'
    if kind == "required":
        missing = next((name for name in error.validator_value if name not in value), "?")
        where = parts + [missing]
        if _deref(_schema_at(where) or {}).get("type") == "object":
            return f"missing table [{_dotted(where)}] ({_description(where)})"
        return f"{_dotted(where)}: missing key (expected {_description(where)})"
    if kind == "additionalProperties":
        allowed = list((_deref(error.schema).get("properties") or {}))
        unknown = [k for k in value if k not in allowed]
        bad = unknown[0] if unknown else "?"
        dotted = _dotted(parts + [bad])
        if parts and parts[0] in _KEYED_TABLES and _INTERFACE_KEY.match(str(bad)):
            ifaces = [k for k in allowed if k.startswith("IF-")]
            return f"{dotted}: unknown interface {bad} (expected one of: {', '.join(ifaces)})"
        close = difflib.get_close_matches(str(bad), allowed, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"{dotted}: unknown key ({hint}expected one of: {', '.join(allowed)})"
    if kind in ("anyOf", "oneOf") and isinstance(value, dict):
        # the table form of a choice: explain the problem inside the table
        inner = [e for e in error.context
                 if e.validator in ("required", "additionalProperties") or len(e.absolute_path) > len(parts)]
        if inner:
            return _explain(min(inner, key=lambda e: (len(e.absolute_path), _KEYWORD_ORDER.get(e.validator, 9))))
    if kind in ("anyOf", "oneOf"):
        described = _deref(_schema_at(parts) or {}).get('description', 'a valid value')
        return f"{key}: expected {described}, got {_show(value)}"
    if kind == "type" and error.validator_value == "object":
        return f"{key}: expected a table ({_description(parts)}), got {_show(value)}"
    if kind == "enum" and len(error.validator_value) <= 6:
        options = " or ".join(", ".join(map(str, error.validator_value)).rsplit(", ", 1))
        return f"{key}: expected {options}, got {_show(value)}"
    return f"{key}: expected {_description(parts)}, got {_show(value)}"


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return "true" if value else "false"
    return short(repr(value) if isinstance(value, str) else value)


def _yes(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.upper() == "Y")


def _build(data: dict[str, Any], path: Path, catalogue: Catalogue) -> Profile:
    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(f"{path}: {key}: {message}")

    p = data["party"]
    party = Party(role=p["role"], company=p["company"], mpid=p["mpid"], dip_id=p["dip_id"], dcp_id=p.get("dcp_id"),
                  endpoint=p.get("endpoint"))
    role = party.role
    s = data["system"]
    system = SystemUnderTest(name=s["name"], version=s["version"], build_id=s.get("build_id"),
                             supplier=s.get("supplier"), supplier_is_dcp=bool(s.get("supplier_is_dcp", False)))

    partner = None
    if "partner" in data:
        q = data["partner"]
        partner_role = q.get("role", COUNTERPART[role])
        if partner_role != COUNTERPART[role]:
            raise fail("partner.role", f"an {role}'s partner is an {COUNTERPART[role]}, got {partner_role!r}")
        partner = _partner(q, partner_role, catalogue, fail)

    interfaces = {iid: False for iid in catalogue.interfaces}
    declared: dict[str, str] = {}
    for iid, choice in data["interfaces"].items():
        if iid not in catalogue.interfaces:
            raise fail(f"interfaces.{iid}", f"unknown interface (expected one of: {', '.join(catalogue.interfaces)})")
        enabled = _yes(choice["enabled"]) if isinstance(choice, dict) else _yes(choice)
        actual = catalogue.interfaces[iid].directions_for(role)
        if enabled and not actual:
            raise fail(f"interfaces.{iid}",
                       f"an {role} neither sends nor receives {iid}; it cannot be enabled for an {role}")
        if isinstance(choice, dict) and "direction" in choice:
            stated = choice["direction"]
            expected = "both" if len(actual) == 2 else next(iter(actual), "neither")
            if stated != expected:
                raise fail(f"interfaces.{iid}.direction",
                           f"{iid} is {expected} for an {role} ({_who_sends(catalogue, iid)}), not {stated}")
            declared[iid] = stated
        interfaces[iid] = enabled

    webhooks = dict(data.get("webhooks", {}))
    for iid in webhooks:
        if iid == "default":
            continue
        directions = catalogue.get(iid).directions_for(role)
        if "incoming" not in directions:
            flow = "outgoing" if directions else "not used"
            raise fail(f"webhooks.{iid}",
                       f"{iid} is {flow} for an {role} ({_who_sends(catalogue, iid)}); it takes no webhook")

    c = data.get("credentials", {})
    secrets: dict[str, Any] = {k: SecretRef(env=c[k].get("env"), file=c[k].get("file")) for k in SECRET_KEYS if k in c}
    credentials = Credentials(**secrets, **{k: c[k] for k in PATH_KEYS if k in c})
    for first, second in (("signing_certificate", "signing_key"), ("client_certificate", "client_key")):
        if (first in c) != (second in c):
            have, lack = (first, second) if first in c else (second, first)
            raise fail(f"credentials.{lack}", f"missing key (expected it together with credentials.{have})")

    triggers: dict[str, Trigger] = {}
    for key, t in data.get("triggers", {}).items():
        if key != "default":
            directions = catalogue.get(key).directions_for(role)
            if "outgoing" not in directions:
                flow = "incoming" if directions else "not used"
                raise fail(f"triggers.{key}",
                           f"{key} is {flow} for an {role} ({_who_sends(catalogue, key)}); it takes no trigger")
        triggers[key] = _trigger(t, f"triggers.{key}", fail)

    h = data.get("harness", {})
    harness = HarnessSettings(hub_host=h.get("hub_host", "127.0.0.1"), hub_port=int(h.get("hub_port", 0)),
                              timeout=float(h.get("timeout", 10.0)), skew_seconds=int(h.get("skew_seconds", 300)),
                              seed=int(h.get("seed", 0)), parallel=int(h.get("parallel", HarnessSettings.parallel)))
    policy = Policy(must_reject=data.get("policy", {}).get("must_reject", "advisory"))
    x = data.get("exchange", {})
    exchange = ExchangeSettings(consumption=x.get("consumption", "triggered"),
                                spontaneous_within=(float(x["spontaneous_within"])
                                                    if "spontaneous_within" in x else None))
    if exchange.spontaneous_within is not None and exchange.consumption != "spontaneous":
        raise fail("exchange.spontaneous_within", 'only used with consumption = "spontaneous"')
    qualification = _qualification(data["qualification"], party, fail) if "qualification" in data else None
    profile = Profile(path=path, environment=data.get("environment", "UIT"), party=party, system=system,
                      partner=partner, interfaces=interfaces, declared_directions=declared, webhooks=webhooks,
                      credentials=credentials, triggers=triggers, harness=harness, exchange=exchange,
                      policy=policy, qualification=qualification)
    return replace(profile, warnings=tuple(f"{path}: {w}" for w in unanswered_request_warnings(profile, catalogue)))


def unanswered_request_warnings(profile: Profile, catalogue: Catalogue) -> list[str]:
    """An enabled request whose answer is not enabled (IF-061 without IF-062, ...), from the exchange
    definitions: such a profile cannot take part in the exchanges that need the answer."""
    out = []
    for request, answer, exchanges in unanswered_requests(profile.enabled_interfaces):
        verb = "receives" if "incoming" in catalogue.get(request).directions_for(profile.role) else "sends"
        other = "send" if "outgoing" in catalogue.get(answer).directions_for(profile.role) else "receive"
        out.append(f"interfaces: {request} is enabled but {answer} is not: an {profile.role} that {verb} {request} "
                   f"must {other} {answer}, which answers it in the exchange(s) {', '.join(exchanges)}; those "
                   f"exchanges are not planned, and preflight (partner) fails until interfaces.{answer} = \"Y\"")
    return out


def _partner(q: dict[str, Any], role: str, catalogue: Catalogue, fail: Any) -> Partner:
    """The [partner] table; trigger, certificate, API key and webhooks only make sense for a real partner."""
    real_only = [k for k in ("trigger", "signing_certificate", "api_key", "webhooks") if k in q]
    if q["endpoint"] == REFERENCE and real_only:
        raise fail(f"partner.{real_only[0]}", 'only for a real partner; the built-in reference (endpoint = '
                                              '"reference") is started and registered by dipcert itself')
    for iid in q.get("webhooks", {}):
        if iid == "default":
            continue
        if "incoming" not in catalogue.get(iid).directions_for(role):
            raise fail(f"partner.webhooks.{iid}",
                       f"{iid} is outgoing for an {role} ({_who_sends(catalogue, iid)}); "
                       "the partner takes no webhook for it")
    api_key = q.get("api_key")
    return Partner(role=role, mpid=q["mpid"], dip_id=q["dip_id"], endpoint=q["endpoint"], company=q.get("company"),
                   trigger=_trigger(q["trigger"], "partner.trigger", fail) if "trigger" in q else None,
                   signing_certificate=q.get("signing_certificate"),
                   api_key=SecretRef(env=api_key.get("env"), file=api_key.get("file")) if api_key else None,
                   webhooks=dict(q.get("webhooks", {})))


def _qualification(q: dict[str, Any], party: Party, fail: Any) -> Qualification:
    """The [qualification] table; the MDR DIP ID must be the party's own for an MDR, never an SDS's DIP ID."""
    mdr_dip_id = q.get("mdr_dip_id")
    if mdr_dip_id is not None and party.role == "MDR" and mdr_dip_id != party.dip_id:
        raise fail("qualification.mdr_dip_id", f"an MDR's MDR DIP ID is its own party.dip_id ({party.dip_id}), "
                                               f"got {mdr_dip_id!r} (omit it, or write party.dip_id)")
    if mdr_dip_id is not None and party.role == "SDS" and mdr_dip_id == party.dip_id:
        raise fail("qualification.mdr_dip_id", f"{mdr_dip_id} is the SDS's own DIP ID (party.dip_id); the MDR "
                                               f"DIP ID is a separate DIP ID allocated for the MDR role (DEL1384 A201)")
    confirmation, certificate = q.get("uep_confirmation"), q.get("uept_certificate")
    if confirmation is not None and confirmation == certificate:
        raise fail("qualification.uep_confirmation", "the same file as qualification.uept_certificate: the UEPT "
                                                     "test completion certificate alone does not show the full "
                                                     "User Entry Process (DEL1384 A203); give SECAS's confirmation")
    return Qualification(dcc_user_role=q["dcc_user_role"], operating_model=int(q["operating_model"]),
                         mdr_dip_id=mdr_dip_id, uep_confirmation=confirmation, uept_certificate=certificate)


def _trigger(t: dict[str, Any], key: str, fail: Any) -> Trigger:
    kind = t["kind"]
    needs = {"http": "url", "command": "command"}.get(kind)
    if needs and needs not in t:
        raise fail(f"{key}.{needs}", f"missing key (kind = {kind!r} needs {needs})")
    for other in ("url", "command"):
        if other in t and other != needs:
            owner = "http" if other == "url" else "command"
            raise fail(f"{key}.{other}", f"only used with kind = {owner!r}, not with kind = {kind!r}")
    if "instructions" in t:
        _check_placeholders(str(t["instructions"]), f"{key}.instructions", fail)
    if "command" in t:
        _check_placeholders(str(t["command"]), f"{key}.command", fail, allowed=COMMAND_PLACEHOLDERS)
    return Trigger(kind=kind, url=t.get("url"), command=t.get("command"), instructions=t.get("instructions"),
                   timeout=float(t.get("timeout", TRIGGER_DEFAULT_TIMEOUT[kind])))


COMMAND_PLACEHOLDERS = ("interface", "event", "mpan", "correlation_id")
INSTRUCTION_PLACEHOLDERS = ("what", *COMMAND_PLACEHOLDERS)


def _check_placeholders(text: str, key: str, fail: Any, allowed: tuple[str, ...] = INSTRUCTION_PLACEHOLDERS) -> None:
    """A trigger's `{...}` placeholders are filled in at run time: a wrong one is a profile error now."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise fail(key, f"unbalanced braces ({exc}); write {{{{ and }}}} for literal braces") from None
    unknown = sorted({n for n in names if n not in allowed})
    if unknown:
        raise fail(key, f"unknown placeholder {{{unknown[0]}}} (expected one of: "
                        f"{', '.join('{' + a + '}' for a in allowed)})")


def _who_sends(catalogue: Catalogue, interface_id: str) -> str:
    senders = sorted({e.sender for e in catalogue.get(interface_id).events})
    return " and ".join(senders) + (" send it" if len(senders) > 1 else " sends it")
