"""The check of one bundle: `dipcert verify`'s core, trusting nothing its producer wrote about it.

Order of trust: the reviewer's anchors (`origin.Anchors`) tie the signing certificate to a CA and to
the certificate the party registered; the signature ties manifest.json to that certificate; the
manifest's hashes tie every file to the manifest; the hash chain ties every record to the one
before; the plan is derived again from the profile recorded at run start; and the verdicts are
recomputed from the records alone, then compared with summary.json and report.html. Every
disagreement is a Finding that names the file, record or requirement. A file whose shape is not a
dipcert bundle's is refused (InputError, exit 2) before anything is concluded from it.

Earlier bundles that reused requirements rest on are checked by `harness.evidence.earlier`, and
both are put together by `harness.evidence.verify.verify_bundle`.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from cryptography import x509

from harness.config.profile import public_digest
from harness.core.errors import DipcertError, InputError
from harness.core.findings import Finding, errors, short
from harness.core.outcomes import ExitCode
from harness.evidence import qualification as Q
from harness.evidence import safejson
from harness.evidence import verdicts as V
from harness.evidence.attachments import check_attachments
from harness.evidence.bundle import (
    MANIFEST,
    REPORT,
    SIGNATURE,
    SUMMARY,
    certificate_fingerprint,
    manifest_sha256,
    signature_verifies,
    summary_errors,
)
from harness.evidence.grade import evidence_grade, overstates
from harness.evidence.members import FolderMembers
from harness.evidence.origin import (
    FAILED,
    NO_ANCHORS,
    NOT_CHECKED,
    UNPINNED,
    UNVERIFIED,
    VERIFIED,
    Anchors,
    Origin,
    describe,
    issued_by_any,
)
from harness.evidence.recorder import EVIDENCE_FILE, GENESIS, MESSAGES_DIR, line_hash
from harness.evidence.safezip import DEFAULT_LIMITS, Limits
from harness.evidence.transcript import (
    MIRROR_CHANNELS,
    TranscriptResult,
    check_transcript,
)
from harness.plan.certification import plan_from_recorded_profile

Revalidate = Callable[[Mapping[str, Any], bytes], list[Finding]]
PlanFromProfile = Callable[[Mapping[str, Any]], Sequence[Mapping[str, Any]]]
_BODY_FILE = re.compile(rf"^{MESSAGES_DIR}/[1-9][0-9]*-(request|response)\.bin$")  # a bundle before segments
_SEGMENT = re.compile(rf"^{MESSAGES_DIR}/bodies-[0-9]{{4,}}\.bin$")


@dataclass
class VerifyResult:
    path: Path
    findings: list[Finding] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    # every record but the HTTP exchanges: those are checked as the log is read (bodies, hashes, re-validation)
    # and not kept, so that verify's memory does not grow with the messages a run exchanged
    records: list[dict[str, Any]] = field(default_factory=list)
    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)  # recomputed from the evidence
    complete: bool = False
    recomputed_ready: bool = False
    revalidation: dict[int, list[Finding]] = field(default_factory=dict)
    origin: Origin = field(default_factory=Origin)
    anchors: Anchors = NO_ANCHORS
    transcript: TranscriptResult = field(default_factory=TranscriptResult)  # the DIP's countersignature
    grade: dict[str, Any] = field(default_factory=dict)  # recomputed: rehearsal, self-test or certification
    manifest_sha256: str | None = None  # "sha256:<hex>" of manifest.json's bytes: how reuse and the report name it

    @property
    def run(self) -> dict[str, Any]:
        """The run-start record's `run` (party, profile, signer recorded when the run started)."""
        first = self.records[0] if self.records else {}
        run = first.get("run") if first.get("kind") == "run-start" else None
        return run if isinstance(run, dict) else {}

    @property
    def run_id(self) -> str | None:
        return (self.manifest or {}).get("run_id")

    @property
    def sound(self) -> bool:
        """No error finding: every hash, the chain, the signature, the plan and every verdict hold."""
        return not errors(self.findings)

    @property
    def ready_by_evidence(self) -> bool:
        """Sound, and the evidence (recomputed) and the manifest both say ready: all integrity can show."""
        return self.sound and self.recomputed_ready and (self.manifest or {}).get("ready") is True

    @property
    def ready(self) -> bool:
        """Sound and ready *and* signed by a pinned certificate a trusted CA issued: never without anchors."""
        return self.ready_by_evidence and self.origin.verified

    @property
    def exit_code(self) -> int:
        """0 ready (or, asked for with integrity_only, ready by the evidence), 1 otherwise; 2 is raised."""
        if self.anchors.integrity_only:
            return ExitCode.OK if self.ready_by_evidence else ExitCode.FAILED
        return ExitCode.OK if self.ready else ExitCode.FAILED

    @property
    def state(self) -> str:
        """One phrase: what a reviewer may conclude."""
        if not self.sound:
            return "NOT sound"
        if not self.ready_by_evidence:
            return "sound but NOT ready"
        if self.ready:
            return "sound and ready, origin verified"
        if self.anchors.integrity_only:
            return "integrity only: sound and ready by its own evidence, origin NOT checked"
        return "NOT verified: integrity holds, but origin NOT verified"

    def to_dict(self) -> dict[str, Any]:
        return {"bundle": str(self.path), "run_id": self.run_id, "state": self.state, "sound": self.sound,
                "ready_by_evidence": self.ready_by_evidence, "ready": self.ready,
                "checked": "integrity-only" if self.anchors.integrity_only else "integrity and origin",
                "party": {k: self.run.get("party", {}).get(k) for k in ("role", "dip_id", "mpid")}
                if isinstance(self.run.get("party"), dict) else None,
                "signer": self.origin.to_dict(), "grade": self.grade,
                "dip_transcript": self.transcript.to_dict(), "manifest_sha256": self.manifest_sha256,
                "findings": [f.to_dict() for f in self.findings]}


def check_bundle(folder: Path, source: Path, *, anchors: Anchors = NO_ANCHORS, pack: Any = None,
                 revalidate: Revalidate | None = None, plan_from_profile: PlanFromProfile | None = None,
                 expected_certificate: Any = None, now: datetime | None = None,
                 limits: Limits = DEFAULT_LIMITS, dip_certs: Sequence[Any] = (),
                 members: FolderMembers | None = None) -> VerifyResult:
    """Checks the bundle in `folder` (already opened safely; `source` is what the user named).

    `members`: how the bundle's files are hashed and its bodies read (`members.open_zip` reads a zip's
    in place, its other files extracted to `folder`); by default the files in `folder`.

    `dip_certs`: the DIP signing certificate(s) the verifier trusts (`--dip-cert`): the DIP's transcript
    in the bundle must be signed by one of them (else `transcript.*` findings), and only then can the
    bundle be certification grade.

    The plan is always derived again from the recorded profile: `plan_from_profile` replaces the
    derivation (tests), it cannot switch it off.
    """
    if not (folder / MANIFEST).is_file() and not (folder / EVIDENCE_FILE).is_file():
        raise InputError(f"{source}: not a dipcert bundle (neither {MANIFEST} nor {EVIDENCE_FILE} found)")
    result = VerifyResult(path=source, anchors=anchors)
    _Checker(folder, source, result, anchors=anchors, pack=pack, revalidate=revalidate,
             plan_from_profile=plan_from_profile or plan_from_recorded_profile,
             expected_certificate=expected_certificate, now=now or datetime.now(timezone.utc), limits=limits,
             dip_certs=tuple(dip_certs), members=members or FolderMembers(folder)).run()
    return result


def _finding(rule: str, path: str, expected: Any, actual: Any, message: str, severity: str = "error",
             **extra: Any) -> Finding:
    return Finding(rule, path, short(expected), short(actual), message, severity, extra)


class _Checker:
    def __init__(self, folder: Path, source: Path, result: VerifyResult, **options: Any) -> None:
        self.folder = folder
        self.source = source
        self.result = result
        self.options = options
        self.anchors: Anchors = options["anchors"]
        self.add = result.findings.append
        self.members: FolderMembers = options.get("members") or FolderMembers(folder)
        self.seqs = _Seqs()  # every record's seq, as ranges
        self.referenced = bytearray()  # seq -> 1 request, 2 response body named by its record
        self.referenced_far: set[tuple[int, int]] = set()
        self.body_findings: list[Finding] = []
        self.mirrors: list[dict[str, Any]] = []  # exchanges the DIP's transcript also holds (their digests)
        self.segment_end: dict[str, int] = {}  # segment -> where the last body read from it ended
        self.segment_used: dict[str, int] = {}  # segment -> bytes the records' bodies cover

    def where(self, name: str) -> str:
        return f"{self.source}: {name}"

    def run(self) -> None:
        # Cheap refusals first: the manifest's size and shape, the signature's shape, every record's shape.
        manifest = self.manifest()
        doc = self.signature_document() if manifest is not None else None
        summary = self.summary()
        self.chain()
        if manifest is not None:
            self.files(manifest)
            self.signature(manifest, doc)
            self.attestation(manifest)
            self.pack(manifest)
        self.bodies()
        self.revalidate()
        self.recompute_and_compare(manifest, summary)
        self.attachments(summary)
        grade = self.result.grade
        if grade.get("level") == "certification" and not self.result.sound:
            grade.update(level="self-test", reasons=[*grade.get("reasons", []), "but the bundle is not sound (see the "
                         "error findings): nothing it claims is certification evidence"])

    # -- manifest, files, signature ----------------------------------------------------------
    def manifest(self) -> dict[str, Any] | None:
        path = self.folder / MANIFEST
        if not path.is_file():
            self.add(_finding("bundle.manifest", MANIFEST, "present", "absent", f"no {MANIFEST}: the run was not "
                              f"finalised, so file hashes and the signature cannot be checked"))
            return None
        limits: Limits = self.options["limits"]
        present = self.members.count()
        data = safejson.read(path, self.where(MANIFEST), max_bytes=limits.manifest_limit(present))
        files = data.get("files") if isinstance(data, dict) else None
        limit = limits.listed_limit(present)
        if isinstance(files, dict) and len(files) > limit:  # before the schema walks a million entries
            raise InputError(f"{self.where(MANIFEST)}: lists {len(files)} files, "
                             f"more than the limit of {limit}; refused")
        safejson.check_shape(data, safejson.MANIFEST_SCHEMA, self.where(MANIFEST))
        self.result.manifest = data
        self.result.manifest_sha256 = manifest_sha256(path)
        return data

    def signature_document(self) -> dict[str, Any] | None:
        path = self.folder / SIGNATURE
        if not path.is_file():
            self.add(_finding("signature.missing", SIGNATURE, "present", "absent",
                              f"no {SIGNATURE}: the bundle is not signed, so nothing ties it to a party"))
            return None
        return safejson.read(path, self.where(SIGNATURE), schema=safejson.SIGNATURE_SCHEMA)

    def summary(self) -> dict[str, Any] | None:
        """summary.json, refused unless it is what evidence-summary.schema.json describes (its claims are
        compared with the evidence later; a summary of another shape cannot even be read as claims)."""
        path = self.folder / SUMMARY
        if not path.is_file():
            self.add(_finding("summary.missing", SUMMARY, "present", "absent", f"no {SUMMARY} in the bundle"))
            return None
        data = safejson.read(path, self.where(SUMMARY))
        for problem in summary_errors(data)[:1]:
            raise InputError(f"{self.where(SUMMARY)}: {short(problem, 200)} (see schemas/evidence-summary.schema.json)")
        self.result.summary = data
        return data

    def files(self, manifest: Mapping[str, Any]) -> None:
        """Every listed file hashed (a missing one named), then every file the manifest does not list.
        One walk and one hash per file, no list of the bundle's files kept beside the manifest's."""
        listed: dict[str, Any] = manifest["files"]
        for rel in sorted(listed):
            try:
                actual = self.members.sha256(rel)
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                self.add(_finding("bundle.missing-file", rel, "present", "absent",
                                  f"{rel} is listed in the manifest but missing from the bundle"))
                continue
            if actual != listed[rel]:
                self.add(_finding("bundle.hash", rel, listed[rel], actual,
                                  f"{rel} changed after the manifest was written (SHA-256 differs)"))
        unlisted = (rel for rel in self.members.names() if rel not in listed and rel not in (MANIFEST, SIGNATURE))
        for rel in sorted(unlisted):
            self.add(_finding("bundle.extra-file", rel, "not present", "present",
                              f"{rel} is in the bundle but not in the manifest (added afterwards)"))

    def signature(self, manifest: Mapping[str, Any], doc: Mapping[str, Any] | None) -> None:
        if doc is None:
            return
        try:
            cert = x509.load_pem_x509_certificate(doc["certificate_pem"].encode("ascii"))
            signature = base64.b64decode(doc["signature_b64"], validate=True)
            origin = describe(cert)
        except (ValueError, TypeError) as exc:  # UnicodeEncodeError is a ValueError
            self.add(_finding("signature.certificate", SIGNATURE, "a PEM certificate and base64 signature",
                              short(str(exc)), f"{SIGNATURE} cannot be read: {short(str(exc))}"))
            return
        self.result.origin = origin
        if not signature_verifies((self.folder / MANIFEST).read_bytes(), cert, signature, doc.get("algorithm")):
            self.add(_finding("signature.invalid", SIGNATURE, "a signature over manifest.json by the certificate's key",
                              "does not verify", f"the signature in {SIGNATURE} does not match {MANIFEST} and the "
                              f"certificate given (re-signed with another key, or the manifest was edited)"))
            return
        before = len(errors(self.result.findings))
        self.bind_signer(manifest, origin.fingerprint or "")
        anchor = None
        if self.anchors.trust:
            anchor = issued_by_any(cert, self.anchors.trust)
            if anchor is None:
                self.add(_finding("signature.untrusted", SIGNATURE, "a certificate issued by a trusted CA (--trust)",
                                  cert.issuer.rfc4514_string(), "the signing certificate was not issued by any "
                                  "trusted certificate given"))
            else:
                origin.trusted_by = anchor.subject.rfc4514_string()
        if self.anchors.signers:
            origin.pinned = origin.fingerprint in self.anchors.signers
            if not origin.pinned:
                self.add(_finding("signature.signer-pin", SIGNATURE, "one of the certificates pinned with --signer",
                                  origin.fingerprint,
                                  f"the bundle is signed by {origin.subject} ({origin.fingerprint}), "
                                  f"which is not a signing certificate you pinned for the party"))
        failed = len(errors(self.result.findings)) > before
        if self.anchors.integrity_only:
            origin.status = NOT_CHECKED
        elif failed:
            origin.status = FAILED
        elif not self.anchors.trust:
            origin.status = UNVERIFIED
        else:
            origin.status = VERIFIED if origin.pinned else UNPINNED
        self.validity(manifest, cert)

    def bind_signer(self, manifest: Mapping[str, Any], fingerprint: str) -> None:
        """The signer must be the certificate the bundle says the party registered, wherever it says so."""
        named = manifest.get("signer")
        if named != fingerprint:
            self.add(_finding("signature.unexpected-certificate", MANIFEST, named or "a signer", fingerprint,
                              "the signing certificate is not the one the manifest names" if named else
                              "the manifest names no signer, but the bundle is signed"))
        run = self.result.run
        recorded = run.get("signer_certificate_sha256")
        if recorded != fingerprint:
            self.add(_finding("signature.unexpected-certificate", f"{EVIDENCE_FILE}#seq=1", recorded or "recorded",
                              fingerprint, "the bundle is signed with a certificate other than the party's certificate "
                              "recorded when the run started" if recorded else "the run-start record names no "
                              "signing certificate for the party, so the signer cannot be tied to it"))
        party = got if isinstance(got := run.get("party"), dict) else {}
        for record in self.result.records:  # the certificate the party registered with the DIP (hub)
            data = record.get("data") or {}
            if record.get("event") == "hub.party" and data.get("dip_id") == party.get("dip_id") and \
                    isinstance(data.get("certificate"), str) and data["certificate"] != fingerprint:
                self.add(_finding("signature.unexpected-certificate", f"{EVIDENCE_FILE}#seq={record.get('seq')}",
                                  data["certificate"], fingerprint, "the bundle is signed with a certificate other "
                                  "than the one the party registered with the DIP", seq=record.get("seq")))
        expected = self.options.get("expected_certificate")
        if expected is not None and certificate_fingerprint(expected) != fingerprint:
            self.add(_finding("signature.unexpected-certificate", SIGNATURE, certificate_fingerprint(expected),
                              fingerprint, "the bundle is not signed with the party's registered certificate"))

    def validity(self, manifest: Mapping[str, Any], cert: Any) -> None:
        finished = _parse_time(manifest.get("finished")) or _parse_time(manifest.get("started"))
        if finished is None:
            return
        if finished > cert.not_valid_after_utc:
            self.add(_finding("signature.expired", SIGNATURE, f"valid at {finished.isoformat()}",
                              f"expired {cert.not_valid_after_utc.isoformat()}",
                              "the signing certificate had expired when the run finished"))
        elif finished < cert.not_valid_before_utc:
            self.add(_finding("signature.not-yet-valid", SIGNATURE, f"valid at {finished.isoformat()}",
                              f"valid from {cert.not_valid_before_utc.isoformat()}",
                              "the signing certificate was not yet valid when the run finished"))

    def attestation(self, manifest: Mapping[str, Any]) -> None:
        att = manifest.get("attestation")
        if not isinstance(att, dict) or not all(att.get(k) for k in ("name", "role", "organisation", "expires")):
            self.add(_finding("attestation.missing", MANIFEST, "name, role, organisation, expires", short(att),
                              "the manifest's attestation is incomplete: who ran this is not stated"))
            return
        try:
            expires = date.fromisoformat(str(att["expires"])[:10])
        except ValueError:
            self.add(_finding("attestation.expires", MANIFEST, "YYYY-MM-DD", att["expires"],
                              "attestation expiry is not a date"))
            return
        today = self.options["now"].astimezone(timezone.utc).date()
        if expires < today:
            self.add(_finding("attestation.expired", MANIFEST, f"not before {today}", expires.isoformat(),
                              f"the attestation expired on {expires.isoformat()}"))

    def pack(self, manifest: Mapping[str, Any]) -> None:
        pack = self.options.get("pack")
        if pack is None:
            return
        recorded = (manifest.get("schema_pack") or {}).get("fingerprint")
        if getattr(pack, "fingerprint", None) != recorded:
            self.add(_finding("bundle.schema-pack", MANIFEST, recorded, getattr(pack, "fingerprint", None),
                              "messages are re-validated with a schema pack other than the one the run used",
                              severity="warning"))

    # -- evidence log ------------------------------------------------------------------------
    def record(self, line: bytes, number: int) -> dict[str, Any] | Finding:
        """One log line as a record; a Finding for a line that is not a JSON object; InputError if misshapen."""
        where = self.where(f"{EVIDENCE_FILE} line {number}")
        try:
            record = json.loads(line)
        except RecursionError:
            raise InputError(f"{where}: JSON nested more than {safejson.MAX_DEPTH} levels deep; refused") from None
        except ValueError as exc:
            return _finding("evidence.record", f"{EVIDENCE_FILE}:{number}", "one JSON object per line", short(line, 40),
                            f"line {number} of {EVIDENCE_FILE} is not a record ({short(str(exc), 80)})")
        if not isinstance(record, dict):
            return _finding("evidence.record", f"{EVIDENCE_FILE}:{number}", "one JSON object per line", short(line, 40),
                            f"line {number} of {EVIDENCE_FILE} is not a record (not an object)")
        # a line with no more than MAX_DEPTH brackets cannot nest deeper: the walk only for the others
        if line.count(b"{") + line.count(b"[") > safejson.MAX_DEPTH and safejson.too_deep(record):
            raise InputError(f"{where}: JSON nested more than {safejson.MAX_DEPTH} levels deep; refused")
        safejson.check_shape(record, safejson.RECORD_SCHEMA, where)
        return record

    def chain(self) -> None:
        """One pass over the log: each record's shape and link, and, for an HTTP exchange, its bodies
        hashed and its request re-validated as it is read (`exchange`). Only the records the rest of
        the check reads again are kept: an exchange leaves its seq and, if the DIP's transcript
        mirrors it, its statuses and digests; so memory does not grow with the bodies' records."""
        path = self.folder / EVIDENCE_FILE
        if not path.is_file():
            self.add(_finding("evidence.missing", EVIDENCE_FILE, "present", "absent",
                              f"no {EVIDENCE_FILE} in the bundle"))
            return
        prev, expected_seq, records = GENESIS, 1, self.result.records
        ended_at: int | None = None  # line number of the first run-end
        after_end = False
        truncated = b""
        end: list[dict[str, Any]] = []
        with open(path, "rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.endswith(b"\n"):  # the last line, cut short: never a record
                    truncated = line
                    break
                line = line[:-1]
                after_end = after_end or ended_at is not None
                record = self.record(line, number)
                if isinstance(record, Finding):
                    self.add(record)
                    prev = line_hash(line)
                    expected_seq += 1
                    continue
                seq = record["seq"]
                where = f"{EVIDENCE_FILE}#seq={seq}"
                if record.get("prev") != prev:
                    self.add(_finding("evidence.chain", where, prev, record.get("prev"),
                                      f"record seq {seq} (line {number}) does not follow the record before it: "
                                      f"a record was removed, inserted, reordered or edited just before it",
                                      seq=seq))
                if seq != expected_seq:
                    if seq > expected_seq:
                        gap = (f"seq {expected_seq}" if seq == expected_seq + 1
                               else f"seq {expected_seq}..{seq - 1}")
                        message = f"{gap} missing before record seq {seq} (line {number}): records were removed"
                    else:
                        message = f"record seq {seq} at line {number} is out of order (expected seq {expected_seq})"
                    self.add(_finding("evidence.sequence", where, expected_seq, seq, message, seq=seq))
                if (record["kind"] == "run-start") != (number == 1):
                    self.add(_finding("evidence.sequence", where, "run-start first and only first", record["kind"],
                                      f"record seq {seq}: the run-start record must be the first record"))
                expected_seq = seq + 1
                prev = line_hash(line)
                self.seqs.add(seq)
                if record["kind"] == "http":
                    self.exchange(record, number)
                else:
                    records.append(record)
                if record["kind"] == "run-end":
                    end.append(record)
                    if ended_at is None:
                        ended_at = number
        self.seqs.freeze()
        self.members.release()  # the segment read last
        if truncated:
            self.add(_finding("evidence.incomplete", EVIDENCE_FILE, "whole lines", "a truncated last line",
                              "the evidence log ends mid-record: the run was interrupted while writing"))
        if not end:
            self.add(_finding("evidence.incomplete", EVIDENCE_FILE, "a run-end record", "none",
                              "the run did not finish (crash or interruption): its evidence is partial"))
        elif after_end or len(end) > 1:
            self.add(_finding("evidence.chain", f"{EVIDENCE_FILE}#seq={end[0].get('seq')}", "run-end last",
                              "lines after run-end", "lines were appended after the run ended"))
        elif end[-1].get("status") != "complete":
            self.add(_finding("evidence.incomplete", f"{EVIDENCE_FILE}#seq={end[-1].get('seq')}", "complete",
                              end[-1].get("status"), f"the run ended with status {end[-1].get('status')!r}"))
        self.result.complete = bool(end) and not truncated and not after_end and len(end) == 1 and \
            end[-1].get("status") == "complete"

    def exchange(self, record: dict[str, Any], line: int) -> None:
        """An HTTP record as it is read: its body files checked and hashed (findings kept for their place
        after the manifest's), its request body re-validated from the same bytes, its mirror kept."""
        seq = record["seq"]
        for side in ("request", "response"):
            body = (record.get(side) or {}).get("body")
            if body is None:
                continue
            name = body.get("file")
            where = f"{EVIDENCE_FILE}#seq={seq}/{side}"
            data: bytes | None = None
            if "offset" in body:
                data = self.segment_body(seq, side, body, where)
            elif not isinstance(name, str) or not _BODY_FILE.match(name) or \
                    not name.startswith(f"{MESSAGES_DIR}/{seq}-{side}"):
                self.body_findings.append(_finding(
                    "evidence.body-file", where, f"{MESSAGES_DIR}/{seq}-{side}.bin", name,
                    f"record seq {seq} names an unexpected {side} body file", seq=seq))
            else:
                self.refer(seq, side, line)
                if not self.members.is_file(name):
                    self.body_findings.append(_finding("evidence.body-missing", name, "present", "absent",
                                                       f"the {side} body of record seq {seq} is missing", seq=seq))
                else:
                    if side == "request" and self.options.get("revalidate") is not None:
                        data = self.members.read(name)
                        actual = hashlib.sha256(data).hexdigest()
                    else:
                        actual = self.members.sha256(name)
                    if actual != body.get("sha256"):
                        self.body_findings.append(_finding(
                            "evidence.body-hash", name, body.get("sha256"), actual,
                            f"the {side} body of record seq {seq} is not the one recorded", seq=seq))
            if side == "request":
                self.revalidate_one(record, data)
        transcript_seq = (record.get("context") or {}).get("transcript_seq")
        if record.get("channel") in MIRROR_CHANNELS and isinstance(transcript_seq, int):
            self.mirrors.append(_mirror(record))

    def segment_body(self, seq: int, side: str, body: Mapping[str, Any], where: str) -> bytes | None:
        """A body recorded in a segment: `size` bytes at `offset` of messages/bodies-NNNN.bin, after the
        body before it in that segment (the recorder appends them in the log's order), hashed."""
        name, offset, size = body.get("file"), body.get("offset"), body.get("size")
        if not isinstance(name, str) or not _SEGMENT.match(name) or not isinstance(offset, int) or \
                not isinstance(size, int):
            self.body_findings.append(_finding(
                "evidence.body-file", where, f"{MESSAGES_DIR}/bodies-NNNN.bin, offset and size", name,
                f"record seq {seq} names an unexpected {side} body segment", seq=seq))
            return None
        at = f"{name}#offset={offset}"
        if name not in self.segment_end and not self.members.is_file(name):  # (a segment read before is there)
            self.body_findings.append(_finding("evidence.body-missing", at, "present", "absent",
                                               f"the {side} body of record seq {seq} is missing ({name} is not in the "
                                               f"bundle)", seq=seq))
            return None
        total = self.members.size(name)
        if offset + size > total:
            self.body_findings.append(_finding(
                "evidence.body-missing", at, f"{size} bytes at {offset}", f"{total} bytes",
                f"the {side} body of record seq {seq} lies beyond the end of {name} (cut short)", seq=seq))
            return None
        end = self.segment_end.get(name, 0)
        if offset < end:
            self.body_findings.append(_finding(
                "evidence.body-file", at, f"offset {end} or later", offset,
                f"the {side} body of record seq {seq} overlaps a body recorded before it in {name}: "
                f"each body is recorded once", seq=seq))
        else:
            self.segment_used[name] = self.segment_used.get(name, 0) + size
        self.segment_end[name] = max(end, offset + size)
        data = self.members.read_range(name, offset, size)
        actual = hashlib.sha256(data).hexdigest()
        if actual != body.get("sha256"):
            self.body_findings.append(_finding("evidence.body-hash", at, body.get("sha256"), actual,
                                               f"the {side} body of record seq {seq} is not the one recorded", seq=seq))
        return data

    def refer(self, seq: int, side: str, line: int) -> None:
        """Marks messages/<seq>-<side>.bin as named by its record: a bit per seq for a log whose seqs
        follow its lines, a set only for seqs far from their line (a damaged log)."""
        bit = 1 if side == "request" else 2
        if seq <= line + 1:
            if seq >= len(self.referenced):
                self.referenced.extend(bytes(max(seq + 1 - len(self.referenced), len(self.referenced))))
            self.referenced[seq] |= bit
        else:
            self.referenced_far.add((seq, bit))

    def is_referenced(self, seq: int, side: str) -> bool:
        bit = 1 if side == "request" else 2
        if seq < len(self.referenced) and self.referenced[seq] & bit:
            return True
        return (seq, bit) in self.referenced_far

    def bodies(self) -> None:
        """The body findings met while reading the log, then every body file no record names."""
        self.result.findings.extend(self.body_findings)
        self.body_findings = []
        for name in sorted(name for name in self.members.names(MESSAGES_DIR) if not self.named(name)):
            used = self.segment_used.get(name, 0) if _SEGMENT.match(name) else 0
            if used:  # a segment some records cite: every byte of it must be a recorded body
                total = self.members.size(name)
                self.add(_finding("evidence.unreferenced-body", name, f"{total} bytes referenced by records",
                                  f"{used} bytes", f"{total - used} of the {total} bytes of {name} are not referenced "
                                  f"by any record", severity="warning"))
            else:
                self.add(_finding("evidence.unreferenced-body", name, "referenced by a record", "orphan",
                                  f"{name} is not referenced by any record", severity="warning"))

    def named(self, name: str) -> bool:
        """Is messages/<seq>-<side>.bin named by record <seq>, or every byte of a segment by the records?"""
        if _SEGMENT.match(name):
            return self.segment_used.get(name, 0) == self.members.size(name) and name in self.segment_used
        body = _BODY_FILE.match(name)
        return body is not None and self.is_referenced(int(name[len(MESSAGES_DIR) + 1:name.index("-")]), body.group(1))

    def revalidate_one(self, record: Mapping[str, Any], data: bytes | None) -> None:
        """A request body re-validated with the reviewer's schema pack (`data`: its bytes, already read)."""
        hook: Revalidate | None = self.options.get("revalidate")
        if hook is None or data is None:  # (`exchange` read the bytes of every body it could find)
            return
        found = list(hook(record, data) or [])
        if found:
            self.result.revalidation[record["seq"]] = found

    def revalidate(self) -> None:
        """A passing check contradicted by the re-validation of a message it cites (bodies were
        re-validated as the log was read: `revalidate_one`)."""
        if self.options.get("revalidate") is None:
            return
        # Only a requirement the evidence passes can be contradicted: a failing one already says the
        # messages it cites are wrong (e.g. its correlation check passed on a 47-period IF-064).
        failing = {r.get("requirement") for r in self.result.records
                   if r["kind"] == "check" and r.get("passed") is not True}
        for record in self.result.records:
            if record["kind"] != "check" or record.get("passed") is not True:
                continue
            if (record.get("data") or {}).get("expected_valid") is False or record.get("requirement") in failing:
                continue
            for seq in record.get("messages") or ():
                bad = errors(self.result.revalidation.get(seq, []))
                if bad and seq in self.seqs:
                    self.add(_finding("revalidate.disagrees", f"{EVIDENCE_FILE}#seq={seq}", "valid",
                                      f"{bad[0]}", f"check for {record.get('requirement')} (record seq "
                                      f"{record.get('seq')}) passed, but message seq {seq} fails re-validation: "
                                      f"{bad[0]}", seq=seq, requirement=record.get("requirement")))

    def attachments(self, summary: Mapping[str, Any] | None) -> None:
        """Issue 19: every attached document unchanged, the qualification requirement judged again from
        the recorded profile and the attachment events, and summary.json's statement of them."""
        records = self.result.records
        self.result.findings.extend(check_attachments(self.folder, records))
        profile = self.result.run.get("profile")
        again = errors(Q.rejudge(profile, records))
        for item in V.planned_requirements(records):
            rid = str(item.get("id"))
            computed = self.result.verdicts.get(rid, {}).get("verdict")
            if item.get("kind") == "qualification" and computed == "pass" and again:
                self.add(_finding("qualification.disagrees", rid, "fail", "pass", f"{rid} passed in the evidence, but "
                                  f"judged again from the attachments: {again[0].message}", requirement=rid))
        if summary is not None and "qualification" in summary:
            expected = Q.statement(profile if isinstance(profile, Mapping) else None, records)
            if summary.get("qualification") != expected:
                self.add(_finding("summary.qualification", f"{SUMMARY}/qualification", "the statement and attachments "
                                  "in the evidence", "another", "summary.json's qualification is not what the recorded "
                                  "profile and the attachment events say"))

    # -- the plan ----------------------------------------------------------------------------
    def plan(self, manifest: Mapping[str, Any] | None) -> list[dict[str, Any]]:
        """The recorded plan, after checking it is the one the run-start profile implies.

        The profile recorded at run start is the source: its digest must recompute and match the
        manifest's and the plan event's; the plan derived from it must match the recorded plan.
        Anything missing is a finding, so the check cannot be switched off by deleting data.
        """
        records = self.result.records
        if not records:
            return []
        plan = V.plan_record(records)
        planned = V.planned_requirements(records)
        at = f"{EVIDENCE_FILE}#seq={plan.get('seq')}" if plan is not None else EVIDENCE_FILE
        if plan is None:
            self.add(_finding("evidence.plan", EVIDENCE_FILE, "a plan event", "none",
                              "the evidence has no plan: what should have run cannot be derived"))
        run = self.result.run
        profile, digest = run.get("profile"), run.get("profile_digest")
        start = f"{EVIDENCE_FILE}#seq=1"
        if not isinstance(profile, dict):
            self.add(_finding("plan.profile-missing", start, "run.profile", "absent",
                              "the run-start record holds no profile, so the plan cannot be derived and compared"))
        if not isinstance(digest, str):
            self.add(_finding("plan.profile-digest", start, "run.profile_digest", "absent",
                              "the run-start record holds no profile digest"))
        elif isinstance(profile, dict) and public_digest(profile) != digest:
            self.add(_finding("plan.profile-digest", start, digest, public_digest(profile),
                              "the profile recorded at run start is not the one its digest names (edited afterwards)"))
        if manifest is not None and manifest.get("profile_digest") != digest:
            self.add(_finding("plan.profile-digest", MANIFEST, digest, manifest.get("profile_digest"),
                              "the manifest's profile digest is not the run-start record's"))
        data = (plan or {}).get("data") or {}
        if plan is not None and data.get("profile_digest") != digest:
            self.add(_finding("plan.profile-digest", at, digest, data.get("profile_digest"),
                              "the plan event's profile digest is not the run-start record's"))
        if plan is not None and "profile" in data and data.get("profile") != profile:
            self.add(_finding("plan.profile-digest", at, "the run-start profile", "another profile",
                              "the plan event records another profile than the run-start record"))
        if plan is None or not isinstance(profile, dict):
            return planned
        requirements = list(data.get("requirements") or [])
        if any(r.get("event") == "reuse-decision" for r in records) and \
                not any(r.get("kind") == "reuse" for r in requirements):
            requirements.append({"id": "(reuse)", "kind": "reuse"})  # a reuse run's plan includes 5.4
        try:
            derived_plan = list(self.options["plan_from_profile"]({"profile": profile, "requirements": requirements}))
        except (DipcertError, ValueError, TypeError, AttributeError, KeyError) as exc:
            self.add(_finding("plan.profile", start, "a readable participant profile", short(str(exc)),
                              "the profile recorded at run start cannot be read again, so the plan it implies cannot "
                              f"be derived and compared ({short(str(exc), 120)})"))
            return planned
        # issue 14: whether a requirement is advisory is part of the plan too (it decides readiness).
        derived = {str(r.get("id")): (bool(r.get("enabled", True)), bool(r.get("advisory", False)))
                   for r in derived_plan}
        recorded = {str(r.get("id")): (bool(r.get("enabled", True)), bool(r.get("advisory", False)))
                    for r in planned}
        for rid in sorted(set(derived) | set(recorded)):
            if derived.get(rid) != recorded.get(rid):
                self.add(_finding("plan.mismatch", at, _plan_state(derived.get(rid)), _plan_state(recorded.get(rid)),
                                  f"{rid}: the recorded plan differs from the plan derived from the recorded profile",
                                  requirement=rid))
        return planned

    def checks_outside_plan(self, planned: Sequence[Mapping[str, Any]]) -> None:
        """Check records for a requirement the plan did not enable: disabling a failure afterwards shows."""
        enabled = {str(r.get("id")): bool(r.get("enabled", True)) for r in planned}
        counted: dict[str, list[int]] = {}
        for record in self.result.records:
            if record["kind"] == "check" and enabled.get(record["requirement"]) is not True:
                counted.setdefault(record["requirement"], []).append(record["seq"])
        for rid, seqs in sorted(counted.items()):
            state = "not in the plan" if rid not in enabled else "not enabled"
            failed = sum(1 for r in self.result.records if r["kind"] == "check" and r["requirement"] == rid
                         and r.get("passed") is not True)
            self.add(_finding("plan.checks-not-enabled", f"{EVIDENCE_FILE}#seq={seqs[0]}", "no checks",
                              f"{len(seqs)} check(s)",
                              f"{rid} is {state}, yet the evidence holds {len(seqs)} check record(s) for it "
                              f"({failed} failed): a requirement cannot be disabled after it ran", requirement=rid,
                              seq=seqs[0]))

    # -- verdicts ----------------------------------------------------------------------------
    def recompute_and_compare(self, manifest: Mapping[str, Any] | None, summary: Mapping[str, Any] | None) -> None:
        planned = self.plan(manifest)
        self.checks_outside_plan(planned)
        # The DIP's transcript (issue 15): checked, and every judged check judged again from it.
        self.result.transcript = check_transcript(self.folder, [*self.result.records, *self.mirrors],
                                                  self.result.run, self.result.run_id,
                                                  planned, self.options.get("dip_certs") or ())
        self.result.findings.extend(self.result.transcript.findings)
        self.result.grade = evidence_grade(self.result.run, planned, self.result.transcript.to_dict())
        verdicts = V.recompute(self.result.records, planned)
        self.result.verdicts = verdicts
        ready, blockers = V.readiness(verdicts, complete=self.result.complete)
        self.result.recomputed_ready = ready
        if manifest is not None and manifest.get("ready") is not ready:
            self.add(_finding("manifest.ready", MANIFEST, ready, manifest.get("ready"),
                              f"the manifest says ready={manifest.get('ready')}, the evidence says ready={ready}"))
        if summary is None:
            return
        self.compare_summary(summary, verdicts, ready, blockers, manifest)
        self.compare_grade(summary)
        self.compare_report(summary)

    def compare_grade(self, summary: Mapping[str, Any]) -> None:
        """The evidence grade recomputed from the run-start record (issue 14): a summary may not claim more."""
        computed = self.result.grade.get("level") or "self-test"
        claimed = (summary.get("grade") or {}).get("level") if isinstance(summary.get("grade"), Mapping) else None
        if claimed is not None and overstates(claimed, computed):
            self.add(_finding("summary.grade", f"{SUMMARY}/grade/level", computed, claimed,
                              f"summary.json claims evidence grade {claimed!r}; the evidence "
                              f"(and the DIP's transcript) supports only {computed!r}"))

    def compare_summary(self, summary: Mapping[str, Any], verdicts: Mapping[str, Mapping[str, Any]], ready: bool,
                        blockers: list[dict[str, Any]], manifest: Mapping[str, Any] | None) -> None:
        if manifest is not None and summary.get("run_id") != manifest.get("run_id"):
            self.add(_finding("summary.run-id", SUMMARY, manifest.get("run_id"), summary.get("run_id"),
                              "summary.json belongs to another run"))
        if summary.get("ready") is not ready:
            self.add(_finding("summary.ready", f"{SUMMARY}/ready", ready, summary.get("ready"),
                              f"summary.json says ready={summary.get('ready')}, the evidence says ready={ready}"))
        status = "complete" if self.result.complete else "incomplete"
        if summary.get("status") != status:
            self.add(_finding("summary.status", f"{SUMMARY}/status", status, summary.get("status"),
                              f"summary.json says the run is {summary.get('status')}, the evidence says {status}"))
        shown_signer = (summary.get("signer") or {}).get("fingerprint")
        if shown_signer is not None and self.result.origin.fingerprint is not None and \
                shown_signer != self.result.origin.fingerprint:
            self.add(_finding("summary.signer", f"{SUMMARY}/signer", self.result.origin.fingerprint, shown_signer,
                              "summary.json names another signer than the certificate that signed the bundle"))
        listed: dict[str, tuple[int, Mapping[str, Any]]] = {}
        for index, item in enumerate(summary.get("requirements") or []):
            listed.setdefault(item["id"], (index, item))
        known_seqs = self.seqs
        for rid, computed in sorted(verdicts.items()):
            if rid not in listed:
                if computed["planned"] or computed["verdict"] != "not-run":
                    self.add(_finding("summary.missing-requirement", f"{SUMMARY}/requirements", rid, "absent",
                                      f"{rid} ({computed['verdict']} by the evidence) is missing from summary.json",
                                      requirement=rid))
                continue
            index, item = listed[rid]
            where = f"{SUMMARY}/requirements/{index}"
            if item.get("verdict") != computed["verdict"]:
                self.add(_finding("summary.verdict", f"{where}/verdict", computed["verdict"], item.get("verdict"),
                                  f"{rid}: summary.json says {item.get('verdict')}, the evidence says "
                                  f"{computed['verdict']}", requirement=rid))
            if not computed["planned"]:
                self.add(_finding("summary.unplanned-requirement", where, "in the recorded plan", "not planned",
                                  f"{rid} has checks but was not in the recorded plan", requirement=rid))
            shown = {(f.get("rule"), f.get("path")) for f in item.get("findings") or []}
            for finding in computed["findings"]:
                if finding.get("severity", "error") == "error" \
                        and (finding.get("rule"), finding.get("path")) not in shown:
                    self.add(_finding("summary.findings", f"{where}/findings",
                                      f"{finding.get('rule')} at {finding.get('path')}",
                                      "absent", f"{rid}: a finding in the evidence ({finding.get('rule')}) is missing "
                                      f"from summary.json", requirement=rid))
            for seq in item.get("evidence") or []:
                if seq not in known_seqs:
                    self.add(_finding("summary.evidence", f"{where}/evidence", "a recorded seq", seq,
                                      f"{rid} cites evidence seq {seq}, which is not in the log", requirement=rid))
            if computed["verdict"] == "reused":
                mine, theirs = computed["reused_from"] or {}, item.get("reused_from") or {}
                for key in ("run_id", "manifest_sha256"):
                    if mine.get(key) != theirs.get(key):
                        self.add(_finding("summary.reused-from", f"{where}/reused_from/{key}", mine.get(key),
                                          theirs.get(key), f"{rid}: reused_from.{key} differs from the reuse record",
                                          requirement=rid))
        for rid, (index, _item) in sorted(listed.items()):
            if rid not in verdicts:
                self.add(_finding("summary.unplanned-requirement", f"{SUMMARY}/requirements/{index}",
                                  "planned or checked", "neither",
                                  f"{rid} is in summary.json but neither planned nor checked in the evidence",
                                  requirement=rid))
        named = {b.get("requirement") for b in summary.get("blockers") or []}
        for blocker in blockers:
            rid = blocker["requirement"]
            if rid is not None and rid not in named:
                self.add(_finding("summary.blockers", f"{SUMMARY}/blockers", rid, "absent",
                                  f"{rid} {blocker['verdict']} by the evidence but summary.json does not list it as a "
                                  f"blocker", requirement=rid))

    def compare_report(self, summary: Mapping[str, Any]) -> None:
        path = self.folder / REPORT
        if not path.is_file():
            return
        parser = _Markers()
        # fed in pieces (HTMLParser is incremental): the page of a 100,000-message run is tens of MB
        with open(path, encoding="utf-8", errors="replace") as handle:
            while piece := handle.read(1 << 20):
                parser.feed(piece)
        parser.close()
        for item in summary.get("requirements") or []:
            rid = item["id"]
            shown = parser.markers.get(rid)
            if shown is None:
                self.add(_finding("report.verdict", REPORT, item.get("verdict"), "absent",
                                  f"{rid} is not shown in report.html (no data-requirement marker)", requirement=rid))
            elif shown != {item.get("verdict")}:
                self.add(_finding("report.verdict", REPORT, item.get("verdict"), ",".join(sorted(map(str, shown))),
                                  f"{rid}: report.html shows {', '.join(sorted(map(str, shown)))}, summary.json says "
                                  f"{item.get('verdict')}", requirement=rid))


class _Markers(HTMLParser):
    """Collects `data-requirement` / `data-verdict` pairs from report.html."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.markers: dict[str, set[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        rid, verdict = values.get("data-requirement"), values.get("data-verdict")
        if rid is not None and verdict is not None:
            self.markers.setdefault(rid, set()).add(verdict)


class _Seqs:
    """The seqs the log holds, as merged ranges: one range for a sound log, however long."""

    def __init__(self) -> None:
        self._ranges: list[list[int]] = []
        self._starts: list[int] = []

    def add(self, seq: int) -> None:
        if self._ranges and self._ranges[-1][1] + 1 == seq:
            self._ranges[-1][1] = seq
        else:
            self._ranges.append([seq, seq])

    def freeze(self) -> None:
        merged: list[list[int]] = []
        for start, end in sorted(self._ranges):
            if merged and start <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self._ranges, self._starts = merged, [start for start, _ in merged]

    def __contains__(self, seq: object) -> bool:
        if not isinstance(seq, int):
            return False
        index = bisect.bisect_right(self._starts, seq) - 1
        return index >= 0 and self._ranges[index][1] >= seq


def _mirror(record: Mapping[str, Any]) -> dict[str, Any]:
    """What `transcript` compares of an exchange the DIP's transcript also holds: seq, channel, the
    transcript seq, the status and the bodies' digests (not the headers, URL or context)."""
    def side(name: str) -> dict[str, Any] | None:
        value = record.get(name)
        if not isinstance(value, Mapping):
            return None
        body = value.get("body")
        kept = {"body": {k: body.get(k) for k in ("sha256", "redacted")} if isinstance(body, Mapping) else body}
        if "status" in value:
            kept["status"] = value.get("status")
        return kept

    return {"seq": record.get("seq"), "kind": record.get("kind"), "channel": record.get("channel"),
            "context": {"transcript_seq": (record.get("context") or {}).get("transcript_seq")},
            "request": side("request"), "response": side("response")}


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _plan_state(state: tuple[bool, bool] | None) -> str:
    if state is None:
        return "absent"
    enabled, advisory = state
    return ("enabled" if enabled else "not enabled") + (", advisory" if advisory else "")
