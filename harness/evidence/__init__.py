"""Evidence: the recorder that writes a run as it happens, the signed bundle, and verify.

`recorder` appends hash-chained records to `evidence.jsonl`; `bundle` seals and signs the folder;
`checker` (and `verify`) re-derive every verdict from the bundle alone, so the DIP Manager needs
nothing but the bundle, the DIP's certificate and the trust anchor.
"""

# -- public face (what other layers use; tests/test_architecture.py keeps it complete) --
from harness.evidence.bundle import (
    MANIFEST,
    certificate_fingerprint,
    finalise_bundle,
    manifest_sha256,
    summary_errors,
    write_summary,
)
from harness.evidence.checker import VerifyResult
from harness.evidence.dsse import EnvelopeError, sign_envelope, verify_envelope
from harness.evidence.grade import evidence_grade
from harness.evidence.origin import UNPINNED, VERIFIED, Anchors, issued_by_any, load_anchors
from harness.evidence.qualification import load_documents, record_qualification, statement
from harness.evidence.recorder import EVIDENCE_FILE, Recorder, read_records
from harness.evidence.reuse import ReusePlan, parse_attestation, plan_reuse
from harness.evidence.revalidate import make_revalidator
from harness.evidence.safejson import read_bundle_records
from harness.evidence.safezip import open_bundle
from harness.evidence.verify import verify_bundle

__all__ = [
    "Anchors", "EVIDENCE_FILE", "EnvelopeError", "MANIFEST", "Recorder", "ReusePlan", "UNPINNED", "VERIFIED",
    "VerifyResult", "certificate_fingerprint", "evidence_grade", "finalise_bundle", "issued_by_any", "load_anchors",
    "load_documents", "make_revalidator", "manifest_sha256", "open_bundle", "parse_attestation", "plan_reuse",
    "read_bundle_records", "read_records", "record_qualification", "sign_envelope", "statement", "summary_errors",
    "verify_bundle", "verify_envelope", "write_summary",
]
