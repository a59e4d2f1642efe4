"""Documents attached to a bundle by hash: what the party attests, kept byte for byte (issue 19).

A qualification prerequisite (MHHS-DEL1384: SECAS's confirmation of the DCC User Entry Process, a
UEPT certificate) is not something the harness can prove; it can only keep the document the party
produced, unchanged, and say so. Each one is copied into the bundle under `attachments/` (so the
manifest hashes and signs it like every file) and recorded as an `attachment` event in
evidence.jsonl naming what it attests, its SHA-256 and size, and the path the profile gave. `verify`
checks every such file against its event (`check_attachments`). A document that cannot be read, or
holds one of the run's secrets or a private key, is a configuration error before the run starts
(`read_document`): it is refused, not redacted, since an altered document would attest nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.errors import ConfigError
from harness.core.findings import Finding, short
from harness.evidence.bundle import bundle_files, file_sha256
from harness.evidence.redact import Redactor

ATTACHMENTS_DIR = "attachments"
EVENT = "attachment"
MAX_BYTES = 25 * 1024 * 1024  # a scanned letter or certificate; far below the bundle's member limit
_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")
_NAME = re.compile(rf"^{ATTACHMENTS_DIR}/[a-z0-9-]+(\.[A-Za-z0-9]{{1,8}})?$")


@dataclass(frozen=True)
class Attachment:
    """One attached document as its `attachment` event records it."""

    attests: str  # e.g. "uep-confirmation"
    file: str  # "attachments/<attests><suffix>", relative to the bundle
    sha256: str  # "sha256:<hex>"
    size: int
    source: str  # the path as the profile wrote it
    title: str  # what the document attests, in words
    seq: int = 0  # the event's seq

    def to_dict(self) -> dict[str, Any]:
        return {"attests": self.attests, "file": self.file, "sha256": self.sha256, "size": self.size,
                "source": self.source, "title": self.title}


def _f(rule: str, path: str, expected: str, actual: Any, message: str, severity: str = "error",
       **extra: Any) -> Finding:
    return Finding(rule, path, expected, short(actual), message, severity, extra)


def read_document(path: Path, key: str, secrets: Sequence[str] = ()) -> bytes:
    """The document's bytes; a one-line ConfigError naming `key` and the file when it cannot be attached.

    Called before the evidence folder exists, as certificates are: a broken reference is exit 2.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{key}: document {path} not found") from None
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read document {path} ({exc.strerror or 'unreadable'})") from None
    if not data:
        raise ConfigError(f"{key}: document {path} is empty")
    if len(data) > MAX_BYTES:
        raise ConfigError(f"{key}: document {path} is {len(data)} bytes, more than the "
                          f"{MAX_BYTES // (1024 * 1024)} MiB an attachment may have")
    if Redactor(secrets).bytes(data)[1]:
        raise ConfigError(f"{key}: document {path} holds one of the profile's secrets or a private key; it is not "
                          f"attached (a redacted copy would attest nothing): remove the secret from the document")
    return data


def attach(recorder: Any, folder: Path, *, attests: str, data: bytes, source: str, title: str) -> Attachment:
    """Writes `data` as `folder/attachments/<attests><suffix of source>` and records its `attachment` event."""
    suffix = Path(source).suffix
    name = f"{ATTACHMENTS_DIR}/{attests}{suffix if _SUFFIX.match(suffix) else ''}"
    (folder / ATTACHMENTS_DIR).mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    attachment = Attachment(attests, name, "sha256:" + hashlib.sha256(data).hexdigest(), len(data), source, title)
    seq = recorder.event(EVENT, **attachment.to_dict())
    return Attachment(**{**attachment.to_dict(), "seq": seq})


def recorded(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """attests -> the first `attachment` event's data (with its `seq`), from the evidence records."""
    found: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.get("kind") == "event" and record.get("event") == EVENT:
            data = got if isinstance(got := record.get("data"), Mapping) else {}
            attests = data.get("attests")
            if isinstance(attests, str) and attests not in found:
                found[attests] = {**data, "seq": record.get("seq")}
    return found


def check_attachments(folder: Path, records: Sequence[Mapping[str, Any]]) -> list[Finding]:
    """verify: every attachment event's file is in the bundle with the recorded hash and size; every file
    under attachments/ is named by an event (the manifest already shows it was not added afterwards)."""
    findings: list[Finding] = []
    named: set[str] = set()
    for record in records:
        if record.get("kind") != "event" or record.get("event") != EVENT:
            continue
        data = got if isinstance(got := record.get("data"), Mapping) else {}
        seq, name = record.get("seq"), data.get("file")
        where = f"evidence.jsonl#seq={seq}"
        if not isinstance(name, str) or not _NAME.match(name):
            findings.append(_f(f"{EVENT}.file", where, f"{ATTACHMENTS_DIR}/<name>", name,
                               f"attachment event seq {seq} names an unexpected file", seq=seq))
            continue
        named.add(name)
        path = folder / name
        if not path.is_file():
            findings.append(_f(f"{EVENT}.missing", name, "present", "absent",
                               f"{name} ({data.get('attests')}, attachment event seq {seq}) is missing from the "
                               f"bundle", seq=seq))
            continue
        actual = "sha256:" + file_sha256(path)
        if actual != data.get("sha256") or path.stat().st_size != data.get("size"):
            findings.append(_f(f"{EVENT}.hash", name, str(data.get("sha256")), actual,
                               f"{name} is not the document attachment event seq {seq} recorded "
                               f"({data.get('attests')}): replaced or edited", seq=seq))
    for name in bundle_files(folder, ATTACHMENTS_DIR):
        if name.startswith(f"{ATTACHMENTS_DIR}/") and name not in named:
            findings.append(_f(f"{EVENT}.unreferenced", name, "named by an attachment event", "orphan",
                               f"{name} is not named by any attachment event: it attests nothing",
                               severity="warning"))
    return findings
