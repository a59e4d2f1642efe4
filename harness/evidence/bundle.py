"""Finishing a run folder into a bundle: summary, manifest, detached signature, reproducible zip.

Why a manifest signed with the party's DIP certificate: the DIP Manager must be able to tie a
bundle to the party that produced it, and see that not one byte changed since. Why a byte-for-byte
reproducible zip: the same folder gives the same zip, so a zip's hash identifies its contents.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import zipfile
from collections.abc import Mapping
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from harness.core.errors import ConfigError
from harness.core.paths import schemas_dir
from harness.evidence.recorder import EVIDENCE_FILE, first_record, utc_iso
from harness.evidence.safezip import check_folder

FORMAT = "dipcert-bundle/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
SUMMARY = "summary.json"
REPORT = "report.html"
UNHASHED = frozenset({MANIFEST, SIGNATURE})
ZIP_SUFFIX = ".dipcert.zip"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
ATTESTATION_FIELDS = ("name", "role", "organisation", "environment", "expires")
RSA_ALGORITHM = "RSA-PKCS1v15-SHA256"
EC_ALGORITHM = "ECDSA-SHA256"


# -- summary.json ---------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def summary_validator() -> jsonschema.protocols.Validator:
    schema = json.loads((schemas_dir() / "evidence-summary.schema.json").read_text("utf-8"))
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def summary_errors(summary: Any) -> list[str]:
    """One line per schema violation, `path: message`, in a stable order."""
    errors = sorted(summary_validator().iter_errors(summary), key=lambda e: list(map(str, e.absolute_path)))
    return [f"/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]


def write_summary(folder: Path | str, summary: Mapping[str, Any], *, validated: bool = False) -> Path:
    """Writes summary.json after validating it; an invalid summary is a dipcert bug, so it raises.
    `validated`: the caller has just had no `summary_errors` for this very summary (validating costs
    tens of milliseconds: not twice)."""
    problems = [] if validated else summary_errors(summary)
    if problems:
        raise ValueError(f"summary.json does not match evidence-summary.schema.json: {problems[0]}"
                         + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    path = Path(folder) / SUMMARY
    path.write_bytes(json_bytes(summary))
    return path


# -- hashing --------------------------------------------------------------------------------------
def file_sha256(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 16):
            digest.update(chunk)
    return digest.hexdigest()


def bundle_files(folder: Path, under: str | None = None) -> list[str]:
    """Every regular file under folder (or its subfolder `under`) as a sorted POSIX relative path,
    manifest and signature excluded. Plain strings, no Path per file: a bundle holds several files
    per message, and verify lists them for 100,000 messages."""
    root = os.fspath(folder)
    found = []
    for current, _dirs, files in os.walk(os.path.join(root, under) if under else root):
        rel = os.path.relpath(current, root)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        for name in files:
            if prefix + name not in UNHASHED:
                found.append(prefix + name)
    return sorted(found)


def hash_files(folder: Path) -> dict[str, str]:
    return {rel: file_sha256(folder / rel) for rel in bundle_files(folder)}


def manifest_sha256(folder_or_manifest: Path | str) -> str:
    """"sha256:<hex>" of manifest.json's exact bytes: how a later `reuse` names this bundle."""
    path = Path(folder_or_manifest)
    if path.is_dir():
        path = path / MANIFEST
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


# -- signing --------------------------------------------------------------------------------------
def sign_bytes(data: bytes, identity: Any) -> dict[str, str]:
    """The detached signature document for `data` (manifest.json's bytes)."""
    key = identity.private_key
    if isinstance(key, rsa.RSAPrivateKey):
        algorithm, signature = RSA_ALGORITHM, key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm, signature = EC_ALGORITHM, key.sign(data, ec.ECDSA(hashes.SHA256()))
    else:
        raise ConfigError(f"signing key type {type(key).__name__} is not supported (expected RSA or EC)")
    cert_pem = getattr(identity, "cert_pem", None) or identity.certificate.public_bytes(serialization.Encoding.PEM)
    if isinstance(cert_pem, str):
        cert_pem = cert_pem.encode("ascii")
    return {"algorithm": algorithm, "certificate_pem": cert_pem.decode("ascii"),
            "signature_b64": base64.b64encode(signature).decode("ascii")}


def signature_verifies(data: bytes, certificate: Any, signature: bytes, algorithm: Any) -> bool:
    """The inverse of `sign_bytes`: does `signature` (made with `algorithm`) sign `data` under `certificate`?"""
    key = certificate.public_key()
    try:
        if algorithm == RSA_ALGORITHM and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif algorithm == EC_ALGORITHM and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def certificate_fingerprint(certificate: Any) -> str:
    return "sha256:" + hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


# -- finalisation ---------------------------------------------------------------------------------
def finalise_bundle(folder: Path | str, *, run_id: str, harness_version: str, schema_pack: Mapping[str, Any],
                    profile_digest: str | None, started: datetime | str, finished: datetime | str | None,
                    attestation: Mapping[str, Any], identity: Any = None, ready: bool,
                    extra: Mapping[str, Any] | None = None) -> Path:
    """Writes manifest.json and manifest.sig into `folder`, then `<folder.parent>/<run_id>.dipcert.zip`.

    Returns the zip's path. Without an identity no signature is written, and `verify` says so.
    ECDSA signatures are randomised, so only RSA identities give byte-identical zips on re-finalising.
    """
    folder = Path(folder)
    if not RUN_ID.match(run_id or ""):
        raise ConfigError(f"run id {run_id!r} is not usable as a file name (expected letters, digits, '.', '_', '-')")
    if not folder.is_dir():
        raise ConfigError(f"{folder}: run folder does not exist")
    check_folder(folder)
    for name in UNHASHED:
        (folder / name).unlink(missing_ok=True)
    manifest: dict[str, Any] = {
        "format": FORMAT, "run_id": run_id, "harness_version": harness_version,
        "schema_pack": dict(schema_pack), "profile_digest": profile_digest,
        "started": _when(started), "finished": _when(finished), "ready": bool(ready),
        "attestation": _attestation(attestation), "redaction": _redaction(folder),
        "signer": certificate_fingerprint(identity.certificate) if identity is not None else None,
        "files": hash_files(folder),
    }
    if extra:
        manifest["extra"] = dict(extra)
    manifest_bytes = json_bytes(manifest)
    (folder / MANIFEST).write_bytes(manifest_bytes)
    if identity is not None:
        (folder / SIGNATURE).write_bytes(json_bytes(sign_bytes(manifest_bytes, identity)))
    return write_zip(folder, folder.parent / f"{run_id}{ZIP_SUFFIX}", prefix=run_id)


def write_zip(folder: Path, target: Path, *, prefix: str) -> Path:
    """Sorted entries, fixed date and permissions, deflate: same folder bytes, same zip bytes."""
    names = sorted(bundle_files(folder) + [n for n in sorted(UNHASHED) if (folder / n).is_file()])
    temporary = target.with_name(target.name + ".part")
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:  # to disk: a 100k-message zip is 250 MB
        for rel in names:
            info = zipfile.ZipInfo(f"{prefix}/{rel}", date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so the permission bits below mean the same everywhere
            info.external_attr = (0o100644 & 0xFFFF) << 16
            archive.writestr(info, (folder / rel).read_bytes(), compresslevel=9)
    os.replace(temporary, target)
    return target


def json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _when(value: datetime | date | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return utc_iso(value)
    return value.isoformat()


def _attestation(attestation: Mapping[str, Any]) -> dict[str, Any]:
    data = dict(attestation or {})
    for key in ATTESTATION_FIELDS:
        if not data.get(key):
            raise ConfigError(f"attestation: missing field {key!r} (expected {', '.join(ATTESTATION_FIELDS)})")
    data["expires"] = _when(data["expires"]) if not isinstance(data["expires"], str) else data["expires"]
    try:
        date.fromisoformat(str(data["expires"])[:10])
    except ValueError:
        raise ConfigError(f"attestation: expires {data['expires']!r} is not a date (expected YYYY-MM-DD)") from None
    return data


def _redaction(folder: Path) -> dict[str, Any] | None:
    path = folder / EVIDENCE_FILE
    if not path.is_file():
        return None
    record = first_record(path)
    if record is not None and record.get("kind") == "run-start":
        return record.get("redaction")
    return None


#: The name docs/contracts.md uses.
write_bundle = finalise_bundle
