"""Earlier bundles that reused requirements rest on (guidance 5.4 / 6.4), as `verify` and `reuse` see them.

Why its own module: both `dipcert reuse` (deciding what may rest on an earlier bundle) and
`dipcert verify --with` (following a reuse chain) must load an earlier bundle exactly as verify
checks any bundle, with the same anchors (`origin.Anchors`) and the same signer binding. Keeping
that here lets `checker` (one bundle), `verify` (a bundle and its chain) and `reuse` (the decision)
depend on it without importing each other.
"""

from __future__ import annotations

import base64
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from harness.core.findings import Finding, errors, short
from harness.evidence import safejson
from harness.evidence import verdicts as V
from harness.evidence.bundle import MANIFEST, certificate_fingerprint, manifest_sha256, signature_verifies
from harness.evidence.checker import check_bundle
from harness.evidence.origin import NO_ANCHORS, Anchors, Origin
from harness.evidence.revalidate import make_revalidator
from harness.evidence.safezip import DEFAULT_LIMITS, Limits, open_bundle
from harness.messages.schemapack import load_pack

ARTEFACT = "reuse.json"
ARTEFACT_SIGNATURE = "reuse.sig"


@dataclass
class EarlierBundle:
    """One earlier bundle as `verify` sees it: nothing is taken from its summary.json or report."""

    source: Path
    run_id: str | None
    manifest_sha256: str | None
    run: dict[str, Any]
    verdicts: dict[str, dict[str, Any]]
    planned: dict[str, dict[str, Any]]
    problems: list[Finding]  # verify's error findings
    signer: str | None = None
    origin: Origin = field(default_factory=Origin)

    @property
    def sound(self) -> bool:
        return not self.problems

    @property
    def party(self) -> dict[str, Any]:
        return dict(self.run.get("party") or {})

    @property
    def fingerprint(self) -> dict[str, Any]:
        return dict(self.run.get("system_fingerprint") or {})

    @property
    def label(self) -> str:
        return self.run_id or self.source.name

    def summary(self) -> dict[str, Any]:
        return {"source": self.source.name, "run_id": self.run_id, "manifest_sha256": self.manifest_sha256,
                "party": self.party, "environment": self.run.get("environment"),
                "system": self.run.get("system"), "system_fingerprint": self.fingerprint,
                "schema_pack": self.run.get("schema_pack"), "signer": self.signer,
                "origin": self.origin.to_dict(), "sound": self.sound,
                "problems": [f.to_dict() for f in self.problems[:20]]}


def load_earlier(path: Path | str, *, pack: Any = None, anchors: Anchors = NO_ANCHORS,
                 now: datetime | None = None, limits: Limits = DEFAULT_LIMITS) -> EarlierBundle:
    """Verifies `path` (folder or .dipcert.zip) as `dipcert verify` does and reads what reuse needs.

    Raises InputError (one line) when the path is not a readable bundle; a bundle that does not
    verify is returned with its problems, so that the refusal is a finding the reviewer sees.
    """
    source = Path(path)
    scratch = Path(tempfile.mkdtemp(prefix="dipcert-earlier-")) if source.is_file() else None
    try:
        folder = open_bundle(source, into=scratch, limits=limits)
        pack = pack or load_pack(None)
        result = check_bundle(folder, source, anchors=anchors, pack=pack, revalidate=make_revalidator(pack),
                              now=now, limits=limits)
        digest = manifest_sha256(folder) if (folder / MANIFEST).is_file() else None
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    run = result.run
    planned = {str(r.get("id")): r for r in V.planned_requirements(result.records)}
    return EarlierBundle(source=source, run_id=(result.manifest or {}).get("run_id") or run.get("run_id"),
                         manifest_sha256=digest, run=dict(run), verdicts=result.verdicts, planned=planned,
                         problems=errors(result.findings), signer=result.origin.fingerprint, origin=result.origin)


def same_party(a: Mapping[str, Any], b: Mapping[str, Any]) -> str | None:
    """Which identifier two parties share ("DIP ID 165..." / "MPID MDRA"), or None: they are different parties."""
    for key, label in (("dip_id", "DIP ID"), ("mpid", "MPID")):
        if a.get(key) and a.get(key) == b.get(key):
            return f"{label} {a.get(key)}"
    return None


def _f(rule: str, path: str, expected: Any, actual: Any, message: str, severity: str = "error",
       **extra: Any) -> Finding:
    return Finding(rule, path, short(expected), short(actual), message, severity, extra)


# -- the chain, for `verify --with` ------------------------------------------------------------------
def verify_detached(data: bytes, doc: Mapping[str, Any]) -> str | None:
    """The signing certificate's fingerprint when `doc` (sign_bytes' shape) signs `data`, else None."""
    try:
        cert = x509.load_pem_x509_certificate(str(doc["certificate_pem"]).encode("ascii"))
        signature = base64.b64decode(str(doc["signature_b64"]), validate=True)
    except (KeyError, ValueError, TypeError):
        return None
    return certificate_fingerprint(cert) if signature_verifies(data, cert, signature, doc.get("algorithm")) else None


def check_chain(folder: Path, source: Path | str, records: Sequence[Mapping[str, Any]],
                manifest: Mapping[str, Any] | None, party: Mapping[str, Any], earlier: Sequence[Path | str], *,
                pack: Any = None, anchors: Anchors = NO_ANCHORS, now: datetime | None = None,
                signer: str | None = None) -> list[Finding]:
    """Every `reuse` record must rest on an earlier bundle that is given, verifies with the same anchors,
    comes from another party, and passed that requirement; and the signed decision artefact must say
    so. Missing bundles: `reuse.chain-missing`. Every bundle given is loaded, so a bad path is exit 2."""
    loaded: dict[str, EarlierBundle] = {}
    for path in earlier:
        b = load_earlier(path, pack=pack, anchors=anchors, now=now)
        if b.manifest_sha256:
            loaded.setdefault(b.manifest_sha256, b)
    grants = [(r.get("seq"), r.get("data") or {}) for r in records
              if r.get("kind") == "event" and r.get("event") == "reuse"]
    out: list[Finding] = []
    used = {str(data.get("manifest_sha256")) for _seq, data in grants}
    for digest, b in sorted(loaded.items()):
        if digest not in used:
            out.append(_f("reuse.chain-unused", str(b.source), "a bundle the reuse records rest on", "not used",
                          f"{b.label} was given with --with but no requirement of this bundle rests on it",
                          severity="warning"))
    if not grants:
        return out
    artefact = _read_artefact(folder, source, signer, out)
    granted_in_artefact = {(item["id"], (item.get("reused_from") or {}).get("manifest_sha256"))
                           for item in (artefact or {}).get("requirements") or []
                           if item.get("decision") == "reused"}
    missing: dict[str, list[str]] = {}
    for seq, data in grants:
        rid, digest = str(data.get("requirement")), str(data.get("manifest_sha256"))
        where = f"evidence.jsonl#seq={seq}"
        if artefact is not None and (rid, digest) not in granted_in_artefact:
            out.append(_f("reuse.chain-artefact", where, f"{rid} reused in {ARTEFACT}", "not listed",
                          f"{rid} is recorded as reused but the signed {ARTEFACT} does not grant it",
                          requirement=rid))
        if digest not in loaded:
            missing.setdefault(digest, []).append(rid)
            continue
        b = loaded[digest]
        if not b.sound:
            out.append(_f("reuse.chain-unsound", where, "an earlier bundle that verifies",
                          f"{len(b.problems)} error(s)", f"{rid} rests on {b.label}, which does not verify "
                          f"({b.problems[0].rule}: {b.problems[0].message})", requirement=rid))
            continue
        shared = same_party(b.party, party)
        if shared:
            out.append(_f("reuse.chain-same-party", where, "an earlier bundle of another party", shared,
                          f"{rid} rests on {b.label}, a run of the same party ({shared}); reuse must rest on "
                          f"evidence produced with another party (guidance 5.4 / 6.4)", requirement=rid))
        if b.run_id != data.get("run_id"):
            out.append(_f("reuse.chain-run-id", where, b.run_id, data.get("run_id"),
                          f"{rid}: the reuse record names run {data.get('run_id')}, the bundle is {b.run_id}",
                          requirement=rid))
        verdict = (b.verdicts.get(rid) or {}).get("verdict")
        if verdict != "pass":
            out.append(_f("reuse.chain-verdict", where, "pass", verdict,
                          f"{rid} rests on {b.label}, where it was {verdict}", requirement=rid))
    for digest, rids in sorted(missing.items()):
        run_ids = sorted({str(d.get("run_id")) for _s, d in grants if d.get("manifest_sha256") == digest})
        out.append(_f("reuse.chain-missing", "", f"the earlier bundle {digest} (give it with --with)", "not given",
                      f"{len(rids)} requirement(s) rest on run {', '.join(run_ids)} (manifest {digest[:19]}...), "
                      f"which was not given, so the chain cannot be checked",
                      manifest_sha256=digest, requirements=sorted(rids)))
    return out


def _read_artefact(folder: Path, source: Path | str, signer: str | None, out: list[Finding]) -> dict[str, Any] | None:
    path = folder / ARTEFACT
    if not path.is_file():
        out.append(_f("reuse.chain-artefact", ARTEFACT, "present", "absent",
                      f"requirements are recorded as reused but the bundle has no {ARTEFACT}"))
        return None
    value = safejson.read(path, f"{source}: {ARTEFACT}", schema=safejson.REUSE_SCHEMA)
    sig_path = folder / ARTEFACT_SIGNATURE
    signed_by = None
    if sig_path.is_file():
        doc = safejson.read(sig_path, f"{source}: {ARTEFACT_SIGNATURE}", schema=safejson.SIGNATURE_SCHEMA)
        signed_by = verify_detached(path.read_bytes(), doc)
    if signed_by is None:
        out.append(_f("reuse.chain-signature", ARTEFACT_SIGNATURE, f"a signature over {ARTEFACT}",
                      "missing or invalid", f"{ARTEFACT} is not signed, or its signature does not verify"))
    elif signer is not None and signer != signed_by:
        out.append(_f("reuse.chain-signature", ARTEFACT_SIGNATURE, signer, signed_by,
                      f"{ARTEFACT} is signed by another certificate than the bundle"))
    return value
