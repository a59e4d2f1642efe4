"""`dipcert verify BUNDLE --promotion RECORD`: a promotion record checked with its certification bundle.

The record is believed only as far as it can be re-derived: its signature must verify under a
certificate issued by a CA the reviewer trusts (`--trust`) and be the production signing
certificate it names; it must name this bundle (the SHA-256 of its manifest.json and its run id);
the bundle must verify and be certification grade now, with the reviewer's anchors; and the list
of configuration differences is computed again from the profile the bundle recorded and the
production profile the record states, so a difference left out or called allowed when it is not is
a finding. The live production checks (webhook probes, API keys) cannot be repeated from a record:
verify checks they are recorded as passed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography import x509

from harness.core.errors import InputError
from harness.core.findings import Finding, short
from harness.evidence import safejson
from harness.evidence.bundle import certificate_fingerprint
from harness.evidence.checker import VerifyResult
from harness.evidence.dsse import EnvelopeError, verify_envelope
from harness.evidence.origin import issued_by_any
from harness.promotion.differences import config_differences
from harness.promotion.promote import bundle_findings
from harness.promotion.record import FORMAT, PAYLOAD_TYPE

SCHEMA = "promotion-record.schema.json"


def _f(rule: str, path: str, expected: Any, actual: Any, message: str, severity: str = "error") -> Finding:
    return Finding(rule, path, short(expected), short(actual), message, severity)


def read_record(path: Path) -> dict[str, Any]:
    """The envelope; one InputError line (exit 2) when it is not a promotion record at all."""
    if not path.is_file():
        raise InputError(f"--promotion {path}: no such file (expected a promotion-<run id>.dsse.json)")
    envelope = safejson.read(path, f"--promotion {path}", schema=SCHEMA)
    return dict(envelope)


def _signer_hint(envelope: Mapping[str, Any]) -> x509.Certificate | None:
    for entry in envelope.get("signatures") or ():
        if isinstance(entry, Mapping) and isinstance(entry.get("cert"), str):
            try:
                return x509.load_pem_x509_certificate(entry["cert"].encode("ascii"))
            except ValueError:
                continue
    return None


def check_promotion(path: Path, bundle: VerifyResult, *, trust: tuple[Any, ...]) -> list[Finding]:
    """Findings of the record at `path` against `bundle` (verified with the reviewer's anchors)."""
    envelope = read_record(path)
    where = f"promotion:{path.name}"
    cert = _signer_hint(envelope)
    if cert is None:
        return [_f("promotion.signature.certificate", where, "the signer's certificate (PEM) in the envelope",
                   "absent", "the record carries no readable signing certificate")]
    anchor = issued_by_any(cert, trust)
    findings: list[Finding] = []
    if anchor is None:
        findings.append(_f("promotion.signature.untrusted", where, "a certificate issued by a --trust CA",
                           cert.issuer.rfc4514_string(), f"the record is signed by {cert.subject.rfc4514_string()}, "
                           f"which no CA given with --trust issued"))
    try:
        payload = json.loads(verify_envelope(envelope, [cert], payload_type=PAYLOAD_TYPE).payload)
    except EnvelopeError as exc:
        return findings + [_f("promotion.signature.invalid", where, "a signature that verifies", "invalid",
                              f"the record's signature does not verify: {exc}")]
    except ValueError:  # not UTF-8 or not JSON
        return findings + [_f("promotion.payload", where, "a JSON statement", "unreadable",
                              "the record's payload is not JSON")]
    if not isinstance(payload, Mapping) or payload.get("format") != FORMAT:
        return findings + [_f("promotion.payload", where, FORMAT, (payload or {}).get("format")
                              if isinstance(payload, Mapping) else type(payload).__name__,
                              f"the record's payload is not a {FORMAT} statement")]
    certification = got if isinstance(got := payload.get("certification"), Mapping) else {}
    production = got if isinstance(got := payload.get("production"), Mapping) else {}
    signer = certificate_fingerprint(cert)
    if production.get("signer_certificate_sha256") != signer:
        findings.append(_f("promotion.signer", where, production.get("signer_certificate_sha256"), signer,
                           "the record is not signed by the production signing certificate it names"))
    for key, actual in (("manifest_sha256", bundle.manifest_sha256), ("run_id", bundle.run_id)):
        if certification.get(key) != actual:
            findings.append(_f(f"promotion.bundle-{key.split('_')[0]}", f"{where}#certification/{key}",
                               certification.get(key), actual, f"the record names another certification bundle "
                               f"({key} {certification.get(key)!r}, this bundle's is {actual!r})"))
    findings += [_f(f.rule.replace("promote.", "promotion."), f.path, f.expected, f.actual, f.message)
                 for f in bundle_findings(bundle)]
    certified = got if isinstance(got := bundle.run.get("profile"), Mapping) else {}
    profile = got if isinstance(got := production.get("profile"), Mapping) else {}
    again = [d.to_dict() for d in config_differences(certified, profile)]
    if again != payload.get("differences"):
        findings.append(_f("promotion.differences", f"{where}#differences", f"{len(again)} difference(s)",
                           f"{len(payload.get('differences') or [])} recorded", "the differences the record lists "
                           "are not those between the certified profile and the production profile it states"))
    for d in again:
        if not d["allowed"]:
            findings.append(_f("promotion.disallowed", f"profile:{d['key']}", d["certified"], d["production"],
                               f"{d['key']} differs from the certified configuration and may not: {d['why']}"))
    for check in payload.get("checks") or ():
        if isinstance(check, Mapping) and check.get("passed") is not True:
            findings.append(_f("promotion.check-failed", f"{where}#checks/{check.get('check')}", "passed",
                               "failed", f"the record's production check {check.get('check')!r} did not pass"))
    return findings


__all__ = ["check_promotion", "read_record"]
