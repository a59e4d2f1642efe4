"""OfficialPack: Elexon's unresolved OpenAPI files, resolved offline, judged as OpenAPI 3.0 means them.

The conversion tests need nothing; the rest read the specification at ../shared/elexon-dip-api and
skip with a reason when it is absent. Copies made here live in tmp_path only (never the repository).
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest
from jsonschema import Draft4Validator

from harness.core.catalogue import load_catalogue
from harness.core.errors import ConfigError, UsageError
from harness.core.paths import default_spec_dir
from harness.messages.official import EVENTS_FILE, OfficialPack, _parse_file, convert_schema

# --- nullable and keyword conversion (no specification needed) -----------------------------------


def test_nullable_adds_null_to_type() -> None:
    schema = convert_schema({"type": "string", "nullable": True, "minLength": 1, "example": "x"})
    assert schema == {"type": ["string", "null"], "minLength": 1}
    validator = Draft4Validator(schema)
    assert validator.is_valid(None) and validator.is_valid("a") and not validator.is_valid("")


def test_nullable_enum_gains_none_once() -> None:
    assert convert_schema({"type": "string", "nullable": True, "enum": ["T", "F"]})["enum"] == ["T", "F", None]
    assert convert_schema({"type": "string", "nullable": True, "enum": ["_A", None]})["enum"] == ["_A", None]


def test_nullable_ref_is_wrapped_because_draft4_ignores_ref_siblings() -> None:
    schema = convert_schema({"$ref": "#/definitions/x", "nullable": True, "description": "d"})
    assert schema == {"description": "d", "anyOf": [{"$ref": "#/definitions/x"}, {"type": "null"}]}
    composed = convert_schema({"allOf": [{"type": "string"}], "nullable": True})
    assert composed == {"anyOf": [{"allOf": [{"type": "string"}]}, {"type": "null"}]}
    validator = Draft4Validator({"definitions": {"x": {"type": "integer"}}, **schema})
    assert validator.is_valid(None) and validator.is_valid(3) and not validator.is_valid("3")


def test_not_nullable_stays_strict_and_nesting_is_converted() -> None:
    schema = convert_schema({
        "type": "object", "nullable": False,
        "properties": {"example": {"type": "integer", "nullable": True},  # a property NAMED example stays
                       "list": {"type": "array", "items": {"type": "string", "nullable": True, "xml": {}}}},
        "oneOf": [{"type": "object", "discriminator": {"propertyName": "k"}}],
    })
    assert schema == {"type": "object",
                      "properties": {"example": {"type": ["integer", "null"]},
                                     "list": {"type": "array", "items": {"type": ["string", "null"]}}},
                      "oneOf": [{"type": "object"}]}
    assert not Draft4Validator(schema).is_valid(None)


def test_conversion_leaves_its_input_alone() -> None:
    original = {"type": "string", "nullable": True, "enum": ["a"]}
    convert_schema(original)
    assert original == {"type": "string", "nullable": True, "enum": ["a"]}


# --- the real specification -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def spec_dir() -> Path:
    spec = default_spec_dir()
    if spec is None:
        pytest.skip("Elexon's specification is not at ../shared/elexon-dip-api (harness.core.paths.default_spec_dir)")
    return spec


@pytest.fixture(scope="module")
def pack(spec_dir) -> OfficialPack:
    return OfficialPack(spec_dir)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test loudly."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[1:] or kwargs}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    import httpx

    monkeypatch.setattr(httpx.Client, "send", refuse)


def test_every_reference_of_the_nine_interfaces_resolves_offline(spec_dir, no_network) -> None:
    pack = OfficialPack(spec_dir)
    assert pack.check_all_refs() == []
    for event in load_catalogue().events():
        validator = pack.message_validator(event.interface_id, event.name)
        list(validator.iter_errors({"payload": {"CommonBlock": {"S0": {}, "S1": {}, "M0": {}},
                                                "CustomBlock": {}}}))


def test_identity(pack, spec_dir) -> None:
    assert pack.name == "elexon-dip-api"
    assert pack.version == "2.1.0"
    assert pack.fingerprint.startswith("sha256:") and len(pack.fingerprint) == 7 + 64
    assert OfficialPack(spec_dir).fingerprint == pack.fingerprint


def test_each_specification_file_is_parsed_once(spec_dir) -> None:
    """Loading is quick because the YAML is parsed once per file and kept (the time itself is a
    benchmark's business, not a test's)."""
    _parse_file.cache_clear()
    OfficialPack(spec_dir)
    files = sum(1 for p in Path(spec_dir).rglob("*.yaml") if p.is_file())
    first = _parse_file.cache_info()
    assert files and first.misses == files and first.hits == 0
    OfficialPack(spec_dir)
    assert _parse_file.cache_info().misses == files and _parse_file.cache_info().hits == files


def test_validators_are_cached_and_forms_share_the_schema(pack) -> None:
    ingress = pack.message_validator("IF-061", "MDRStart", "ingress")
    assert pack.message_validator("IF-061", "MDRStart", "egress") is ingress
    assert pack.schema_ref("IF-065", "ReadingRemote") == f"{EVENTS_FILE}#/components/schemas/IF-065-ReadingRemote"
    with pytest.raises(UsageError):
        pack.message_validator("IF-061", "NoSuchEvent")
    with pytest.raises(UsageError):
        pack.message_validator("IF-061", "MDRStart", "sideways")  # type: ignore[arg-type]


def test_wire_item_needs_a_payload_and_may_carry_other_keys(pack) -> None:
    # DIPMessage requires `payload` and forbids nothing else: an extra key is validation's warning.
    validator = pack.message_validator("IF-061", "MDRStart")
    errors = {e.validator for e in validator.iter_errors({"payload": {}, "extra": 1})}
    assert "additionalProperties" not in errors
    assert {e.validator for e in validator.iter_errors({})} == {"required"}


def test_openapi_nullable_is_honoured_in_the_spec(pack) -> None:
    # S1.subText is DT-020N (nullable, minLength 1); S1.senderDIPID is DT-006 (not nullable).
    validator = pack.message_validator("IF-061", "MDRStart")

    def s1_errors(**s1):
        item = {"payload": {"CommonBlock": {"S1": s1}, "CustomBlock": {}}}
        return {tuple(e.absolute_path)[-1] for e in validator.iter_errors(item)
                if tuple(e.absolute_path)[:3] == ("payload", "CommonBlock", "S1") and len(e.absolute_path) == 4}

    assert "subText" not in s1_errors(subText=None)
    assert "subText" in s1_errors(subText="")
    assert "senderDIPID" in s1_errors(senderDIPID=None)


# --- broken folders -------------------------------------------------------------------------------

def _copy(spec_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "spec"
    shutil.copytree(spec_dir, target, ignore=shutil.ignore_patterns(".git", "*.md", "SOURCE"))
    return target


def test_missing_folder(tmp_path) -> None:
    with pytest.raises(ConfigError, match="specification folder not found"):
        OfficialPack(tmp_path / "nowhere")


def test_folder_without_the_events_file(tmp_path) -> None:
    (tmp_path / "other.yaml").write_text("a: 1\n")
    with pytest.raises(ConfigError, match=EVENTS_FILE):
        OfficialPack(tmp_path)


def test_yaml_parse_error_names_the_file(spec_dir, tmp_path) -> None:
    folder = _copy(spec_dir, tmp_path)
    (folder / "DataTypes-unresolved.yaml").write_text("components:\n  schemas: [unclosed\n")
    with pytest.raises(ConfigError, match=r"DataTypes-unresolved\.yaml: not valid YAML at line \d+") as info:
        OfficialPack(folder)
    assert "\n" not in str(info.value)


def test_missing_referenced_file_is_a_config_error_not_a_download(spec_dir, tmp_path, no_network) -> None:
    folder = _copy(spec_dir, tmp_path)
    (folder / "DataTypes-unresolved.yaml").unlink()
    pack = OfficialPack(folder)
    problems = pack.check_all_refs()
    assert problems and all("DataTypes-unresolved.yaml" in p for p in problems)
    assert all("file not in the specification folder" in p for p in problems)
    with pytest.raises(ConfigError, match="DataTypes-unresolved.yaml") as info:
        pack.message_validator("IF-061", "MDRStart")
    assert "\n" not in str(info.value)


def test_fingerprint_follows_the_bytes(spec_dir, tmp_path, pack) -> None:
    folder = _copy(spec_dir, tmp_path)
    assert OfficialPack(folder).fingerprint == pack.fingerprint
    with (folder / "DataTypes-unresolved.yaml").open("a") as handle:
        handle.write("\n# local note\n")
    assert OfficialPack(folder).fingerprint != pack.fingerprint
