"""`dipcert verify`'s core: re-check a bundle without trusting anything its producer wrote about it.

Order of trust: the signature ties manifest.json to a certificate (and, given `trust`, to a CA);
the manifest's hashes tie every file to the manifest; the hash chain ties every record to the one
before; and the verdicts are recomputed from those records alone, then compared with summary.json
and with the verdicts shown in report.html. Every disagreement is a Finding that names the file,
record or requirement, so a reviewer can see *what* is wrong, not just that something is.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from harness.errors import DipcertError, InputError
from harness.evidence import verdicts as V
from harness.evidence.bundle import (FORMAT, MANIFEST, REPORT, SIGNATURE, SUMMARY, bundle_files,
                                     certificate_fingerprint, file_sha256, signature_verifies, summary_errors)
from harness.evidence.recorder import EVIDENCE_FILE, GENESIS, MESSAGES_DIR, line_hash
from harness.evidence.safezip import Limits, DEFAULT_LIMITS, open_bundle
from harness.findings import Finding, errors, short

Revalidate = Callable[[Mapping[str, Any], bytes], list[Finding]]
PlanFromProfile = Callable[[Mapping[str, Any]], Sequence[Mapping[str, Any]]]
_BODY_FILE = re.compile(rf"^{MESSAGES_DIR}/[1-9][0-9]*-(request|response)\.bin$")
_MAX_JSON = 256 * 1024 * 1024


@dataclass
class VerifyResult:
    path: Path
    findings: list[Finding] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)  # recomputed from the evidence
    complete: bool = False
    recomputed_ready: bool = False
    revalidation: dict[int, list[Finding]] = field(default_factory=dict)

    @property
    def run_id(self) -> str | None:
        return (self.manifest or {}).get("run_id")

    @property
    def sound(self) -> bool:
        """No error finding: every hash, the chain, the signature and every verdict hold."""
        return not errors(self.findings)

    @property
    def ready(self) -> bool:
        return self.sound and self.recomputed_ready and bool((self.manifest or {}).get("ready"))

    @property
    def exit_code(self) -> int:
        """0 sound and ready, 1 otherwise (2, unreadable, is raised as InputError)."""
        return 0 if self.ready else 1


def verify_bundle(path: Path | str, *, trust: Sequence[Any] = (), pack: Any = None,
                  revalidate: Revalidate | None = None, plan_from_profile: PlanFromProfile | None = None,
                  expected_certificate: Any = None, now: datetime | None = None,
                  limits: Limits = DEFAULT_LIMITS, earlier: Sequence[Path | str] | None = None) -> VerifyResult:
    """Verifies a bundle folder or .dipcert.zip. Raises InputError when it cannot be read at all.

    `earlier`: the bundles this one's reused requirements rest on (guidance 5.4 / 6.4). When given
    (even empty), the reuse chain is followed: every reuse record must rest on one of them, which
    must verify and have passed that requirement (`harness.evidence.reuse.check_chain`); None
    skips the chain check.
    """
    source = Path(path)
    scratch = None
    if source.is_file():
        scratch = Path(tempfile.mkdtemp(prefix="dipcert-verify-"))
    try:
        folder = open_bundle(source, into=scratch, limits=limits)
        if not (folder / MANIFEST).is_file() and not (folder / EVIDENCE_FILE).is_file():
            raise InputError(f"{source}: not a dipcert bundle (neither {MANIFEST} nor {EVIDENCE_FILE} found)")
        result = VerifyResult(path=source)
        _Verifier(folder, result, trust=trust, pack=pack, revalidate=revalidate,
                  plan_from_profile=plan_from_profile, expected_certificate=expected_certificate,
                  now=now or datetime.now(timezone.utc)).run()
        if earlier is not None:
            from harness.evidence.reuse import check_chain

            result.findings.extend(check_chain(folder, result.records, result.manifest, earlier, pack=pack,
                                               trust=trust, now=now))
        return result
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _f(rule: str, path: str, expected: Any, actual: Any, message: str, severity: str = "error",
       **extra: Any) -> Finding:
    return Finding(rule, path, short(expected), short(actual), message, severity, extra)


class _Verifier:
    def __init__(self, folder: Path, result: VerifyResult, **options: Any) -> None:
        self.folder = folder
        self.result = result
        self.o = options
        self.add = result.findings.append

    def run(self) -> None:
        manifest = self.manifest()
        if manifest is not None:
            self.files(manifest)
            self.signature(manifest)
            self.attestation(manifest)
            self.pack(manifest)
        self.chain()
        self.bodies()
        self.revalidate()
        self.recompute_and_compare(manifest)

    # -- manifest, files, signature ----------------------------------------------------------
    def manifest(self) -> dict[str, Any] | None:
        data = self.read_json(MANIFEST, "bundle.manifest",
                              missing=f"no {MANIFEST}: the run was not finalised, so file hashes and the "
                                      f"signature cannot be checked")
        if data is None:
            return None
        if data.get("format") != FORMAT or not isinstance(data.get("files"), dict):
            self.add(_f("bundle.manifest", MANIFEST, f"format {FORMAT} with a files table", data.get("format"),
                        f"{MANIFEST} is not a {FORMAT} manifest"))
            return None
        self.result.manifest = data
        return data

    def read_json(self, name: str, rule: str, *, missing: str) -> dict[str, Any] | None:
        path = self.folder / name
        if not path.is_file():
            self.add(_f(rule, name, "present", "absent", missing))
            return None
        if path.stat().st_size > _MAX_JSON:
            self.add(_f(rule, name, f"at most {_MAX_JSON} bytes", path.stat().st_size, f"{name} is too large"))
            return None
        try:
            data = json.loads(path.read_bytes())
        except ValueError as exc:
            self.add(_f(rule, name, "JSON", str(exc), f"{name} is not valid JSON: {exc}"))
            return None
        if not isinstance(data, dict):
            self.add(_f(rule, name, "a JSON object", type(data).__name__, f"{name} is not a JSON object"))
            return None
        return data

    def files(self, manifest: Mapping[str, Any]) -> None:
        listed: dict[str, Any] = manifest["files"]
        present = set(bundle_files(self.folder))
        for rel in sorted(listed):
            if rel not in present:
                self.add(_f("bundle.missing-file", rel, "present", "absent",
                            f"{rel} is listed in the manifest but missing from the bundle"))
            elif file_sha256(self.folder / rel) != listed[rel]:
                self.add(_f("bundle.hash", rel, listed[rel], file_sha256(self.folder / rel),
                            f"{rel} changed after the manifest was written (SHA-256 differs)"))
        for rel in sorted(present - set(listed)):
            self.add(_f("bundle.extra-file", rel, "not present", "present",
                        f"{rel} is in the bundle but not in the manifest (added afterwards)"))

    def signature(self, manifest: Mapping[str, Any]) -> None:
        from cryptography import x509

        doc = self.read_json(SIGNATURE, "signature.missing",
                             missing=f"no {SIGNATURE}: the bundle is not signed, so nothing ties it to a party")
        if doc is None:
            return
        try:
            cert = x509.load_pem_x509_certificate(str(doc["certificate_pem"]).encode("ascii"))
            signature = base64.b64decode(str(doc["signature_b64"]), validate=True)
        except (KeyError, ValueError, TypeError) as exc:
            self.add(_f("signature.certificate", SIGNATURE, "a PEM certificate and base64 signature", str(exc),
                        f"{SIGNATURE} cannot be read: {exc}"))
            return
        data = (self.folder / MANIFEST).read_bytes()
        if not signature_verifies(data, cert, signature, doc.get("algorithm")):
            self.add(_f("signature.invalid", SIGNATURE, "a signature over manifest.json by the certificate's key",
                        "does not verify", f"the signature in {SIGNATURE} does not match {MANIFEST} and the "
                        f"certificate given (re-signed with another key, or the manifest was edited)"))
            return
        fingerprint = certificate_fingerprint(cert)
        signer = manifest.get("signer")
        if signer and signer != fingerprint:
            self.add(_f("signature.unexpected-certificate", SIGNATURE, signer, fingerprint,
                        "the signing certificate is not the one the manifest names"))
        recorded = self.run_start_signer()
        if recorded and recorded != fingerprint:
            self.add(_f("signature.unexpected-certificate", SIGNATURE, recorded, fingerprint,
                        "the bundle is signed with a certificate other than the party's certificate "
                        "recorded when the run started"))
        expected = self.o.get("expected_certificate")
        if expected is not None and certificate_fingerprint(expected) != fingerprint:
            self.add(_f("signature.unexpected-certificate", SIGNATURE, certificate_fingerprint(expected),
                        fingerprint, "the bundle is not signed with the party's registered certificate"))
        trust = list(self.o.get("trust") or ())
        if trust and not _issued_by_any(cert, trust):
            self.add(_f("signature.untrusted", SIGNATURE, "a certificate issued by a trusted CA",
                        cert.issuer.rfc4514_string(), "the signing certificate does not chain to any trusted "
                        "certificate given"))
        finished = _parse_time(manifest.get("finished")) or _parse_time(manifest.get("started"))
        if finished is not None:
            if finished > cert.not_valid_after_utc:
                self.add(_f("signature.expired", SIGNATURE, f"valid at {finished.isoformat()}",
                            f"expired {cert.not_valid_after_utc.isoformat()}",
                            "the signing certificate had expired when the run finished"))
            elif finished < cert.not_valid_before_utc:
                self.add(_f("signature.not-yet-valid", SIGNATURE, f"valid at {finished.isoformat()}",
                            f"valid from {cert.not_valid_before_utc.isoformat()}",
                            "the signing certificate was not yet valid when the run finished"))

    def run_start_signer(self) -> str | None:
        path = self.folder / EVIDENCE_FILE
        if not path.is_file():
            return None
        with open(path, "rb") as handle:
            first = handle.readline(1 << 20)
        try:
            run = json.loads(first).get("run") or {}
        except (ValueError, AttributeError):
            return None
        value = run.get("signer_certificate_sha256")
        return value if isinstance(value, str) else None

    def attestation(self, manifest: Mapping[str, Any]) -> None:
        att = manifest.get("attestation")
        if not isinstance(att, dict) or not all(att.get(k) for k in ("name", "role", "organisation", "expires")):
            self.add(_f("attestation.missing", MANIFEST, "name, role, organisation, expires", short(att),
                        "the manifest's attestation is incomplete: who ran this is not stated"))
            return
        try:
            expires = date.fromisoformat(str(att["expires"])[:10])
        except ValueError:
            self.add(_f("attestation.expires", MANIFEST, "YYYY-MM-DD", att["expires"], "attestation expiry is not a date"))
            return
        today = self.o["now"].astimezone(timezone.utc).date()
        if expires < today:
            self.add(_f("attestation.expired", MANIFEST, f"not before {today}", expires.isoformat(),
                        f"the attestation expired on {expires.isoformat()}"))

    def pack(self, manifest: Mapping[str, Any]) -> None:
        pack = self.o.get("pack")
        if pack is None:
            return
        recorded = (manifest.get("schema_pack") or {}).get("fingerprint")
        if getattr(pack, "fingerprint", None) != recorded:
            self.add(_f("bundle.schema-pack", MANIFEST, recorded, getattr(pack, "fingerprint", None),
                        "messages are re-validated with a schema pack other than the one the run used",
                        severity="warning"))

    # -- evidence log ------------------------------------------------------------------------
    def chain(self) -> None:
        path = self.folder / EVIDENCE_FILE
        if not path.is_file():
            self.add(_f("evidence.missing", EVIDENCE_FILE, "present", "absent", f"no {EVIDENCE_FILE} in the bundle"))
            return
        raw = path.read_bytes()
        lines = raw.split(b"\n")
        truncated = lines.pop() if lines else b""  # after a final "\n" this is b""
        prev, expected_seq, records = GENESIS, 1, []
        ended_at: int | None = None  # line number of the first run-end
        after_end = False
        for number, line in enumerate(lines, start=1):
            after_end = after_end or ended_at is not None
            try:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                self.add(_f("evidence.record", f"{EVIDENCE_FILE}:{number}", "one JSON object per line",
                            short(line, 40), f"line {number} of {EVIDENCE_FILE} is not a record ({exc})"))
                prev = line_hash(line)
                expected_seq += 1
                continue
            seq = record.get("seq")
            where = f"{EVIDENCE_FILE}#seq={seq}"
            if record.get("prev") != prev:
                self.add(_f("evidence.chain", where, prev, record.get("prev"),
                            f"record seq {seq} (line {number}) does not follow the record before it: a record "
                            f"was removed, inserted, reordered or edited just before it", seq=seq))
            if seq != expected_seq:
                if isinstance(seq, int) and seq > expected_seq:
                    gap = (f"seq {expected_seq}" if seq == expected_seq + 1
                           else f"seq {expected_seq}..{seq - 1}")
                    message = f"{gap} missing before record seq {seq} (line {number}): records were removed"
                else:
                    message = f"record seq {seq} at line {number} is out of order (expected seq {expected_seq})"
                self.add(_f("evidence.sequence", where, expected_seq, seq, message, seq=seq))
            if (record.get("kind") == "run-start") != (number == 1):
                self.add(_f("evidence.sequence", where, "run-start first and only first", record.get("kind"),
                            f"record seq {seq}: the run-start record must be the first record"))
            expected_seq = seq + 1 if isinstance(seq, int) else expected_seq + 1
            prev = line_hash(line)
            records.append(record)
            if record.get("kind") == "run-end" and ended_at is None:
                ended_at = number
        self.result.records = records
        end = [r for r in records if r.get("kind") == "run-end"]
        if truncated:
            self.add(_f("evidence.incomplete", EVIDENCE_FILE, "whole lines", "a truncated last line",
                        "the evidence log ends mid-record: the run was interrupted while writing"))
        if not end:
            self.add(_f("evidence.incomplete", EVIDENCE_FILE, "a run-end record", "none",
                        "the run did not finish (crash or interruption): its evidence is partial"))
        elif after_end or len(end) > 1:
            self.add(_f("evidence.chain", f"{EVIDENCE_FILE}#seq={end[0].get('seq')}", "run-end last",
                        "lines after run-end", "lines were appended after the run ended"))
        elif end[-1].get("status") != "complete":
            self.add(_f("evidence.incomplete", f"{EVIDENCE_FILE}#seq={end[-1].get('seq')}", "complete",
                        end[-1].get("status"), f"the run ended with status {end[-1].get('status')!r}"))
        self.result.complete = bool(end) and not truncated and not after_end and len(end) == 1 and \
            end[-1].get("status") == "complete"

    def bodies(self) -> None:
        referenced: set[str] = set()
        for record in self.result.records:
            if record.get("kind") != "http":
                continue
            seq = record.get("seq")
            for side in ("request", "response"):
                body = (record.get(side) or {}).get("body")
                if body is None:
                    continue
                name = body.get("file") if isinstance(body, dict) else None
                where = f"{EVIDENCE_FILE}#seq={seq}/{side}"
                if not isinstance(name, str) or not _BODY_FILE.match(name) or \
                        not name.startswith(f"{MESSAGES_DIR}/{seq}-{side}"):
                    self.add(_f("evidence.body-file", where, f"{MESSAGES_DIR}/{seq}-{side}.bin", name,
                                f"record seq {seq} names an unexpected {side} body file", seq=seq))
                    continue
                referenced.add(name)
                path = self.folder / name
                if not path.is_file():
                    self.add(_f("evidence.body-missing", name, "present", "absent",
                                f"the {side} body of record seq {seq} is missing", seq=seq))
                elif file_sha256(path) != body.get("sha256"):
                    self.add(_f("evidence.body-hash", name, body.get("sha256"), file_sha256(path),
                                f"the {side} body of record seq {seq} is not the one recorded", seq=seq))
        for name in bundle_files(self.folder):
            if name.startswith(f"{MESSAGES_DIR}/") and name not in referenced:
                self.add(_f("evidence.unreferenced-body", name, "referenced by a record", "orphan",
                            f"{name} is not referenced by any record", severity="warning"))

    def revalidate(self) -> None:
        hook: Revalidate | None = self.o.get("revalidate")
        if hook is None:
            return
        by_seq = {r.get("seq"): r for r in self.result.records}
        for record in self.result.records:
            body = ((record.get("request") or {}).get("body")) if record.get("kind") == "http" else None
            if not isinstance(body, dict) or not isinstance(body.get("file"), str) or \
                    not _BODY_FILE.match(body["file"]) or not (self.folder / body["file"]).is_file():
                continue
            found = list(hook(record, (self.folder / body["file"]).read_bytes()) or [])
            if found:
                self.result.revalidation[record["seq"]] = found
        # Only a requirement the evidence passes can be contradicted: a failing one already says the
        # messages it cites are wrong (e.g. its correlation check passed on a 47-period IF-064).
        failing = {r.get("requirement") for r in self.result.records
                   if r.get("kind") == "check" and r.get("passed") is not True}
        for record in self.result.records:
            if record.get("kind") != "check" or record.get("passed") is not True:
                continue
            if (record.get("data") or {}).get("expected_valid") is False or record.get("requirement") in failing:
                continue
            for seq in record.get("messages") or ():
                bad = errors(self.result.revalidation.get(seq, []))
                if bad and seq in by_seq:
                    self.add(_f("revalidate.disagrees", f"{EVIDENCE_FILE}#seq={seq}", "valid",
                                f"{bad[0]}", f"check for {record.get('requirement')} (record seq "
                                f"{record.get('seq')}) passed, but message seq {seq} fails re-validation: "
                                f"{bad[0]}", seq=seq, requirement=record.get("requirement")))

    # -- verdicts ----------------------------------------------------------------------------
    def recompute_and_compare(self, manifest: Mapping[str, Any] | None) -> None:
        records = self.result.records
        plan = V.plan_record(records)
        planned = V.planned_requirements(records)
        if plan is None and records:
            self.add(_f("evidence.plan", EVIDENCE_FILE, "a plan event", "none",
                        "the evidence has no plan: what should have run cannot be derived"))
        hook = self.o.get("plan_from_profile")
        derived_plan = None
        if hook is not None and plan is not None:
            try:
                derived_plan = hook(plan.get("data") or {})
            except DipcertError as exc:
                self.add(_f("plan.profile", f"{EVIDENCE_FILE}#seq={plan.get('seq')}", "a readable participant profile",
                            str(exc), "the profile recorded with the plan cannot be read again, so the plan "
                            "it implies cannot be derived and compared"))
        if derived_plan is not None and plan is not None:
            # issue 14: whether a requirement is advisory is part of the plan too (it decides readiness).
            derived = {str(r.get("id")): (bool(r.get("enabled", True)), bool(r.get("advisory", False)))
                       for r in derived_plan}
            recorded = {str(r.get("id")): (bool(r.get("enabled", True)), bool(r.get("advisory", False)))
                        for r in planned}
            for rid in sorted(set(derived) | set(recorded)):
                if derived.get(rid) != recorded.get(rid):
                    self.add(_f("plan.mismatch", f"{EVIDENCE_FILE}#seq={plan.get('seq')}",
                                _plan_state(derived.get(rid)), _plan_state(recorded.get(rid)),
                                f"{rid}: the recorded plan differs from the plan derived from the recorded profile"))
        verdicts = V.recompute(records, planned)
        self.result.verdicts = verdicts
        ready, blockers = V.readiness(verdicts, complete=self.result.complete)
        self.result.recomputed_ready = ready
        if manifest is not None and bool(manifest.get("ready")) != ready:
            self.add(_f("manifest.ready", MANIFEST, ready, manifest.get("ready"),
                        f"the manifest says ready={manifest.get('ready')}, the evidence says ready={ready}"))
        summary = self.read_json(SUMMARY, "summary.missing", missing=f"no {SUMMARY} in the bundle")
        if summary is None:
            return
        self.result.summary = summary
        for problem in summary_errors(summary)[:20]:
            self.add(_f("summary.schema", SUMMARY, "valid per evidence-summary.schema.json", problem,
                        f"{SUMMARY} {problem}"))
        self.compare_summary(summary, verdicts, ready, blockers, manifest)
        self.compare_report(summary)

    def compare_summary(self, summary: Mapping[str, Any], verdicts: Mapping[str, Mapping[str, Any]], ready: bool,
                        blockers: list[dict[str, Any]], manifest: Mapping[str, Any] | None) -> None:
        if manifest is not None and summary.get("run_id") != manifest.get("run_id"):
            self.add(_f("summary.run-id", SUMMARY, manifest.get("run_id"), summary.get("run_id"),
                        "summary.json belongs to another run"))
        if summary.get("ready") is not ready:
            self.add(_f("summary.ready", f"{SUMMARY}/ready", ready, summary.get("ready"),
                        f"summary.json says ready={summary.get('ready')}, the evidence says ready={ready}"))
        status = "complete" if self.result.complete else "incomplete"
        if summary.get("status") != status:
            self.add(_f("summary.status", f"{SUMMARY}/status", status, summary.get("status"),
                        f"summary.json says the run is {summary.get('status')}, the evidence says {status}"))
        listed: dict[str, tuple[int, Mapping[str, Any]]] = {}
        for index, item in enumerate(summary.get("requirements") or []):
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                listed.setdefault(item["id"], (index, item))
        known_seqs = {r.get("seq") for r in self.result.records}
        for rid, computed in sorted(verdicts.items()):
            if rid not in listed:
                if computed["planned"] or computed["verdict"] != "not-run":
                    self.add(_f("summary.missing-requirement", f"{SUMMARY}/requirements", rid, "absent",
                                f"{rid} ({computed['verdict']} by the evidence) is missing from summary.json",
                                requirement=rid))
                continue
            index, item = listed[rid]
            where = f"{SUMMARY}/requirements/{index}"
            if item.get("verdict") != computed["verdict"]:
                self.add(_f("summary.verdict", f"{where}/verdict", computed["verdict"], item.get("verdict"),
                            f"{rid}: summary.json says {item.get('verdict')}, the evidence says "
                            f"{computed['verdict']}", requirement=rid))
            if not computed["planned"]:
                self.add(_f("summary.unplanned-requirement", where, "in the recorded plan", "not planned",
                            f"{rid} has checks but was not in the recorded plan", requirement=rid))
            shown = {(f.get("rule"), f.get("path")) for f in item.get("findings") or [] if isinstance(f, dict)}
            for finding in computed["findings"]:
                if finding.get("severity", "error") == "error" and (finding.get("rule"), finding.get("path")) not in shown:
                    self.add(_f("summary.findings", f"{where}/findings", f"{finding.get('rule')} at {finding.get('path')}",
                                "absent", f"{rid}: a finding in the evidence ({finding.get('rule')}) is missing "
                                f"from summary.json", requirement=rid))
            for seq in item.get("evidence") or []:
                if seq not in known_seqs:
                    self.add(_f("summary.evidence", f"{where}/evidence", "a recorded seq", seq,
                                f"{rid} cites evidence seq {seq}, which is not in the log", requirement=rid))
            if computed["verdict"] == "reused":
                mine, theirs = computed["reused_from"] or {}, item.get("reused_from") or {}
                for key in ("run_id", "manifest_sha256"):
                    if mine.get(key) != theirs.get(key):
                        self.add(_f("summary.reused-from", f"{where}/reused_from/{key}", mine.get(key),
                                    theirs.get(key), f"{rid}: reused_from.{key} differs from the reuse record",
                                    requirement=rid))
        for rid, (index, _item) in sorted(listed.items()):
            if rid not in verdicts:
                self.add(_f("summary.unplanned-requirement", f"{SUMMARY}/requirements/{index}", "planned or checked",
                            "neither", f"{rid} is in summary.json but neither planned nor checked in the evidence",
                            requirement=rid))
        named = {b.get("requirement") for b in summary.get("blockers") or [] if isinstance(b, dict)}
        for blocker in blockers:
            rid = blocker["requirement"]
            if rid is not None and rid not in named:
                self.add(_f("summary.blockers", f"{SUMMARY}/blockers", rid, "absent",
                            f"{rid} {blocker['verdict']} by the evidence but summary.json does not list it as a "
                            f"blocker", requirement=rid))

    def compare_report(self, summary: Mapping[str, Any]) -> None:
        path = self.folder / REPORT
        if not path.is_file():
            return
        parser = _Markers()
        parser.feed(path.read_text("utf-8", "replace"))
        parser.close()
        for item in summary.get("requirements") or []:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            rid = item["id"]
            shown = parser.markers.get(rid)
            if shown is None:
                self.add(_f("report.verdict", REPORT, item.get("verdict"), "absent",
                            f"{rid} is not shown in report.html (no data-requirement marker)", requirement=rid))
            elif shown != {item.get("verdict")}:
                self.add(_f("report.verdict", REPORT, item.get("verdict"), ",".join(sorted(map(str, shown))),
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


def _issued_by_any(cert: Any, trust: Sequence[Any]) -> bool:
    for anchor in trust:
        if anchor == cert:
            return True
        if anchor.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(anchor)
            return True
        except Exception:  # ValueError, TypeError, InvalidSignature: all mean "not this anchor"
            continue
    return False


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
