"""`dipcert verify`'s entry point: one bundle checked (`checker`) and, given, the reuse chain it rests on (`earlier`).

What the result means (docs/evidence.md, "What verify proves"): *sound* is integrity, the plan and
the verdicts holding; *ready* additionally needs the origin verified, which only the reviewer's
anchors can give (a CA with `trust`, the party's registered certificate with `signers`). Without
them a bundle is never "ready": anyone can make and sign one. `integrity_only` is the explicit
request to check integrity alone; its exit code then follows the evidence, and the output says
what was not checked.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.evidence.checker import PlanFromProfile, Revalidate, VerifyResult, check_bundle
from harness.evidence.earlier import check_chain
from harness.evidence.members import FolderMembers, open_zip
from harness.evidence.origin import Anchors
from harness.evidence.revalidate import make_revalidator
from harness.evidence.safezip import DEFAULT_LIMITS, Limits, open_bundle
from harness.messages.schemapack import load_pack

__all__ = ["VerifyResult", "verify_bundle", "make_revalidator"]


def verify_bundle(path: Path | str, *, trust: Sequence[Any] = (), signers: Sequence[str] = (),
                  integrity_only: bool = False, anchors: Anchors | None = None, pack: Any = None,
                  revalidate: Revalidate | None = None, plan_from_profile: PlanFromProfile | None = None,
                  expected_certificate: Any = None, now: datetime | None = None,
                  limits: Limits = DEFAULT_LIMITS, earlier: Sequence[Path | str] | None = None,
                  dip_certs: Sequence[Any] = ()) -> VerifyResult:
    """Verifies a bundle folder or .dipcert.zip. Raises InputError (exit 2, one line) when it cannot be
    read at all or is malformed.

    `trust` (CA certificates), `signers` ("sha256:..." pins) and `integrity_only` make the reviewer's
    `anchors` (or pass `anchors` itself). `earlier`: the bundles this one's reused requirements rest
    on (guidance 5.4 / 6.4); when given (even empty) the chain is followed with the same anchors,
    None skips it. `pack` and `revalidate` default to re-validation with the bundled schema pack;
    `plan_from_profile` replaces (never removes) the plan derivation from the recorded profile.
    `dip_certs`: the DIP signing certificates trusted to countersign (`--dip-cert`): the bundle's DIP
    transcript must verify under one, and only then can its grade be `certification`.
    """
    anchors = anchors or Anchors(trust=tuple(trust), signers=tuple(signers), integrity_only=integrity_only)
    source = Path(path)
    scratch = Path(tempfile.mkdtemp(prefix="dipcert-verify-")) if source.is_file() else None
    members: FolderMembers | None = None
    try:
        if scratch is not None:  # a zip: its bodies read in place, never extracted (members.open_zip)
            folder, members = open_zip(source, scratch, limits=limits)
        else:
            folder = open_bundle(source, limits=limits)
        result = check_bundle(folder, source, anchors=anchors, pack=pack, revalidate=revalidate,
                              plan_from_profile=plan_from_profile, expected_certificate=expected_certificate,
                              now=now, limits=limits, dip_certs=dip_certs, members=members)
        if earlier is not None:
            chain_pack = pack or load_pack(None)
            result.findings.extend(check_chain(folder, source, result.records, result.manifest,
                                               result.run.get("party") or {}, earlier, pack=chain_pack,
                                               anchors=anchors, now=now, signer=result.origin.fingerprint))
            if result.grade.get("level") == "certification" and not result.sound:
                result.grade.update(level="self-test", reasons=[*result.grade.get("reasons", []),
                                                                "but a bundle it rests on does not verify"])
        return result
    finally:
        if members is not None:
            members.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
