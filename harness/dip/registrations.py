"""Parties a standing hub onboards at start: from participant profiles, or a registration file.

A registration file (TOML) lists parties; each is either a profile or written out in full:

    [[party]]
    profile = "mdr-profile.toml"            # the party of a participant profile (keys, certificates, webhooks)

    [[party]]
    dip_id = "1450000102"
    role = "SDS"
    mpid = "SDS1"
    dcp_id = "1200000001"                   # optional
    api_key_primary = { env = "SDS_KEY_1" } # secrets by reference only: { env = "NAME" } or { file = "path" }
    api_key_secondary = { file = "sds-key-2" }
    signing_certificate = "sds-signing.pem" # PEM; verifies the party's X-DIP-* signatures
    client_certificate = "sds-client.pem"   # optional: the mTLS certificate bound to its keys
    tls_ca = "sds-webhook-ca.pem"           # optional: CA of its webhooks' server certificates
    [party.webhooks]                         # optional: interface -> callback URL (also via pubconfig)
    IF-062 = "https://sds.example/dip/if-062"

Paths are relative to the file. Every problem is one ConfigError line naming the file and field.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from cryptography import x509

from harness.config.profile import load_profile
from harness.core.errors import ConfigError
from harness.core.files import read_config_bytes
from harness.dip.config import PartyRegistration
from harness.dip.provision import DEFAULT_MAX_MESSAGE_COUNT, DEFAULT_MAX_PAYLOAD_KB, party_registration
from harness.transport.apikeys import read_api_key
from harness.transport.delivery import WebhookConfig

FIELDS = {"profile", "dip_id", "role", "mpid", "dcp_id", "api_key_primary", "api_key_secondary",
          "signing_certificate", "client_certificate", "tls_ca", "webhooks"}


def from_profiles(paths: list[Path]) -> list[PartyRegistration]:
    return [party_registration(load_profile(path)) for path in paths]


def from_file(path: Path) -> list[PartyRegistration]:
    try:
        data = tomllib.loads(read_config_bytes(path, "registration").decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: registration file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    extra = sorted(set(data) - {"party"})
    parties = data.get("party")
    if extra or not isinstance(parties, list) or not parties:
        raise ConfigError(f"{path}: expected one or more [[party]] tables"
                          + (f" (unexpected keys: {', '.join(extra)})" if extra else ""))
    return [_party(path, i, entry) for i, entry in enumerate(parties)]


def _party(path: Path, index: int, entry: Any) -> PartyRegistration:
    where = f"{path}: party[{index}]"
    unknown = sorted(set(entry) - FIELDS)
    if unknown:
        raise ConfigError(f"{where}: unexpected keys: {', '.join(unknown)} "
                          f"(expected some of {', '.join(sorted(FIELDS))})")
    base = path.parent
    if "profile" in entry:
        if set(entry) != {"profile"}:
            raise ConfigError(f"{where}: a party given by profile takes no other keys")
        return party_registration(load_profile(base / str(entry["profile"])))
    for name in ("dip_id", "role", "mpid", "api_key_primary", "api_key_secondary", "signing_certificate"):
        if name not in entry:
            raise ConfigError(f"{where}: {name} is missing")
    keys = tuple(_secret(entry[name], base, f"{where}.{name}") for name in ("api_key_primary", "api_key_secondary"))
    hooks = entry.get("webhooks", {})
    if not isinstance(hooks, dict) or not all(isinstance(v, str) for v in hooks.values()):
        raise ConfigError(f"{where}.webhooks: expected a table of interface = \"https://...\"")
    webhooks = {}
    for interface, url in hooks.items():
        try:
            webhooks[interface] = WebhookConfig.from_json({"callbackURL": url,
                                                           "maxMessageCount": DEFAULT_MAX_MESSAGE_COUNT,
                                                           "maxPayloadSize": DEFAULT_MAX_PAYLOAD_KB})
        except ValueError as exc:
            raise ConfigError(f"{where}.webhooks.{interface}: {exc}") from None
    tls_ca = entry.get("tls_ca")
    return PartyRegistration(
        str(entry["dip_id"]), str(entry["role"]), str(entry["mpid"]), keys,  # type: ignore[arg-type]
        _certificate(base, entry["signing_certificate"], f"{where}.signing_certificate"),
        entry.get("dcp_id"), webhooks or None,
        _certificate(base, entry["client_certificate"], f"{where}.client_certificate")
        if entry.get("client_certificate") else None,
        read_config_bytes(base / str(tls_ca), "CA certificate", where=f"{where}.tls_ca") if tls_ca else None)


def _secret(ref: Any, base: Path, where: str) -> str:
    if not isinstance(ref, dict) or set(ref) not in ({"env"}, {"file"}):
        raise ConfigError(f'{where}: expected {{env = "NAME"}} or {{file = "path"}} (never the key itself)')
    if "env" in ref:
        return read_api_key(env=str(ref["env"]), what=where)
    return read_api_key(file=base / str(ref["file"]), what=where)


def _certificate(base: Path, value: Any, where: str) -> x509.Certificate:
    data = read_config_bytes(base / str(value), "PEM certificate", where=where)
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise ConfigError(f"{where}: {value} is not a PEM certificate "
                          "(expected '-----BEGIN CERTIFICATE-----')") from None
