"""Forged and stranger-signed bundles are never "sound and ready" (issue 12).

Each forgery is built with dipcert's own functions, as a forger holding the code would: the evidence
edited, every record re-chained (`encode_record`, `line_hash`), the reports rendered again from it
(`render_reports`), the manifest re-hashed and re-signed (`finalise_bundle`). What stands in the way
is only what the reviewer brings (`--trust` CA, `--signer` pin) and the plan derived again from the
profile recorded at run start.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.config.profile import load_profile, public_digest
from harness.evidence.bundle import certificate_fingerprint, finalise_bundle
from harness.evidence.earlier import check_chain
from harness.evidence.origin import Anchors
from harness.evidence.recorder import GENESIS, encode_record, line_hash
from harness.evidence.reuse import decide, load_earlier, parse_attestation
from harness.plan.certification import plan_from_recorded_profile
from harness.report import render_reports
from harness.run.demo import DemoPKI, run_party
from harness.transport.certs import cached_key, make_ca
from harness.transport.signing import SigningIdentity

SMALL = ("IF-008", "IF-024")  # two incoming interfaces: a real run in a few seconds
FAULT = "webhook-500:IF-024"  # fails the IF-024 consume requirements (and the webhooks preflight)
IF024 = "MDR-5.2a/IF-024/consume/SN-Vacant"

Records = list[dict[str, Any]]


# -- the real bundles, made once --------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(demo_pki: DemoPKI, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bundles")
    clean = run_party("MDR", demo_pki, out, timeout=2.0, interfaces=SMALL)
    failing = run_party("MDR", demo_pki, out, timeout=2.0, interfaces=SMALL, faults=[FAULT])
    assert clean.ready and not failing.ready and failing.verdicts[IF024] == "fail"
    return {"clean": clean, "failing": failing}


# -- the forger's tools: dipcert's own functions ---------------------------------------------------
def stranger() -> SigningIdentity:
    """A fresh self-signed key and certificate, as anyone can make."""
    ca = make_ca("forger", key=cached_key("forger"))
    return SigningIdentity.from_key_and_cert(ca.key, ca.cert)


def read_records(folder: Path) -> Records:
    return [json.loads(line) for line in (folder / "evidence.jsonl").read_bytes().splitlines()]


def forge(result: Any, where: Path, edit: Callable[[Records], None], identity: Any, *,
          drop_transcript: bool = False) -> Path:
    """`result`'s bundle with `edit` applied to its records, re-chained, re-rendered and re-signed: a zip.
    `drop_transcript`: the DIP's transcript (which would contradict the edit) taken out too."""
    folder = Path(shutil.copytree(result.folder, where / result.folder.name))
    if drop_transcript:
        shutil.rmtree(folder / "dip")
    records = read_records(folder)
    edit(records)
    prev, lines = GENESIS, []
    for record in records:
        record["prev"] = prev
        line = encode_record(record)
        prev = line_hash(line)
        lines.append(line)
    (folder / "evidence.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    summary = json.loads(render_reports(folder)["summary"].read_text("utf-8"))
    run = records[0]["run"]
    return finalise_bundle(folder, run_id=run["run_id"], harness_version=run["harness_version"],
                           schema_pack=run["schema_pack"], profile_digest=run.get("profile_digest"),
                           started=run["started"], finished=summary["finished"], attestation=run["attestation"],
                           identity=identity, ready=summary["ready"],
                           extra={"system_fingerprint": run.get("system_fingerprint")})


def flip_failures(records: Records, *, keep: str | None = None) -> None:
    """Every failed check made a pass (except those of requirements starting with `keep`)."""
    for r in records:
        if r["kind"] == "check" and not r["passed"] and not (keep and r["requirement"].startswith(keep)):
            r["passed"], r["findings"] = True, []


def claim_signer(identity: Any) -> Callable[[Records], None]:
    """The run-start record and the hub registration rewritten to name `identity` as the party's certificate."""
    def edit(records: Records) -> None:
        fingerprint = certificate_fingerprint(identity.certificate)
        run = records[0]["run"]
        run["signer_certificate_sha256"] = fingerprint
        run["signer_certificate_subject"] = identity.certificate.subject.rfc4514_string()
        for r in records:
            if r.get("event") == "hub.party" and r["data"].get("dip_id") == run["party"]["dip_id"]:
                r["data"]["certificate"] = fingerprint
    return edit


def plan_record(records: Records) -> dict[str, Any]:
    return next(r for r in records if r.get("event") == "plan")


def verify(capsys: pytest.CaptureFixture[str], *args: Any) -> tuple[int, dict[str, Any]]:
    code = main(["verify", *map(str, args), "--json"])
    return code, json.loads(capsys.readouterr().out)


def full(demo_pki: DemoPKI, result: Any) -> list[str]:
    """The complete anchors for an MDR bundle of the demo: its CA, the MDR's certificate pinned."""
    return ["--trust", str(demo_pki.keep_anchor(result)), "--signer", demo_pki.signer("MDR")]


def errors_of(report: dict[str, Any]) -> set[str]:
    return {f["rule"] for f in report["findings"] if f["severity"] == "error"}


# -- 1. no trust anchor, no "ready" --------------------------------------------------------------------
def test_the_genuine_bundle_is_ready_only_with_both_anchors(demo_pki: DemoPKI, runs: dict[str, Any], capsys) -> None:
    zip_path = runs["clean"].zip_path
    code, report = verify(capsys, zip_path)
    assert code == 1 and not report["ready"] and report["ready_by_evidence"]
    assert report["signer"]["status"] == "unverified" and "NOT verified" in report["state"]
    assert report["signer"]["fingerprint"] == demo_pki.signer("MDR")
    assert report["signer"]["subject"] == "CN=reference-mdr.demo.dipcert"

    code, report = verify(capsys, zip_path, "--trust", demo_pki.keep_anchor(runs["clean"]))
    assert code == 1 and report["signer"]["status"] == "unpinned" and not report["ready"]

    code, report = verify(capsys, zip_path, *full(demo_pki, runs["clean"]))
    assert code == 0 and report["ready"] and report["signer"]["status"] == "verified"
    assert report["state"] == "sound and ready, origin verified" and report["findings"] == []

    assert main(["verify", str(zip_path)]) == 1  # the text says what is missing and how to complete it
    text = capsys.readouterr().out
    assert "NOT verified" in text and "sound and ready" not in text and "--trust CA.pem --signer" in text
    assert f"signer: CN=reference-mdr.demo.dipcert {demo_pki.signer('MDR')}" in text


def test_integrity_only_is_asked_for_and_says_what_it_did_not_check(runs: dict[str, Any], capsys) -> None:
    assert main(["verify", str(runs["clean"].zip_path), "--integrity-only"]) == 0
    text = capsys.readouterr().out
    assert "origin NOT checked" in text and "integrity only" in text
    code, report = verify(capsys, runs["clean"].zip_path, "--integrity-only")
    assert code == 0 and report["checked"] == "integrity-only" and not report["ready"]
    assert main(["verify", str(runs["clean"].zip_path), "--integrity-only", "--trust", "x.pem"]) == 2


def test_a_fresh_key_re_signing_flipped_failures_is_never_ready(demo_pki: DemoPKI, runs: dict[str, Any],
                                                                  tmp_path: Path, capsys) -> None:
    key = stranger()
    forged = forge(runs["failing"], tmp_path, lambda rs: (flip_failures(rs), claim_signer(key)(rs)), key,
                   drop_transcript=True)
    code, report = verify(capsys, forged)
    # integrity alone cannot tell: every hash, the chain and the signature hold, and the evidence says ready ...
    assert report["ready_by_evidence"] and errors_of(report) == set()
    # ... so without an anchor the answer is "not verified", never "ready"
    assert code == 1 and not report["ready"] and report["signer"]["status"] == "unverified"
    code, report = verify(capsys, forged, *full(demo_pki, runs["failing"]))
    assert code == 1 and {"signature.untrusted", "signature.signer-pin"} <= errors_of(report)
    assert report["signer"]["status"] == "failed" and report["signer"]["subject"].endswith("CN=forger")


def test_the_party_re_signing_its_own_edited_evidence_fails_verify_with_the_dip_cert(
        demo_pki: DemoPKI, runs: dict[str, Any], tmp_path: Path, capsys) -> None:
    """The party's own key re-signs anything it edits (docs/evidence.md); the DIP's countersigned
    transcript (issue 15) is what it cannot re-sign. Every flipped verdict is judged again from it."""
    dip_cert = demo_pki.folder / "dip" / "dip-signing.pem"
    forged = forge(runs["failing"], tmp_path / "a", flip_failures, demo_pki.identities["MDR"])
    code, report = verify(capsys, forged, *full(demo_pki, runs["failing"]), "--dip-cert", dip_cert)
    assert code == 1 and not report["sound"] and "transcript.verdict" in errors_of(report)
    assert {f["extra"]["requirement"] for f in report["findings"] if f["rule"] == "transcript.verdict"} >= {IF024}
    # ... and taking the transcript out leaves nothing the DIP signed:
    gutted = forge(runs["failing"], tmp_path / "b", flip_failures, demo_pki.identities["MDR"], drop_transcript=True)
    code, report = verify(capsys, gutted, *full(demo_pki, runs["failing"]))
    assert code == 0 and report["ready"] and report["grade"]["level"] != "certification"  # the old limit, without it
    code, report = verify(capsys, gutted, *full(demo_pki, runs["failing"]), "--dip-cert", dip_cert)
    assert code == 1 and errors_of(report) == {"transcript.missing"}


def test_another_partys_certificate_from_the_same_trusted_ca_is_refused(demo_pki: DemoPKI, runs: dict[str, Any],
                                                                         tmp_path: Path, capsys) -> None:
    sds = demo_pki.identities["SDS"]  # issued by the same demo CA as the MDR's
    resigned = forge(runs["clean"], tmp_path / "a", lambda rs: None, sds)
    code, report = verify(capsys, resigned, "--trust", demo_pki.keep_anchor(runs["clean"]))
    assert code == 1 and "signature.unexpected-certificate" in errors_of(report)  # not the registered one
    # a forger who also rewrites the run-start record and the hub registration: only the pin tells
    rewritten = forge(runs["clean"], tmp_path / "b", claim_signer(sds), sds)
    code, report = verify(capsys, rewritten, "--trust", demo_pki.keep_anchor(runs["clean"]))
    assert code == 1 and report["signer"]["status"] == "unpinned" and errors_of(report) == set()
    code, report = verify(capsys, rewritten, *full(demo_pki, runs["clean"]))
    assert code == 1 and errors_of(report) == {"signature.signer-pin"}
    assert report["signer"]["subject"] == "CN=reference-sds.demo.dipcert"


# -- 3. coverage recompute cannot be switched off ------------------------------------------------------
def test_a_trimmed_plan_with_its_profile_key_deleted_is_caught(demo_pki: DemoPKI, runs: dict[str, Any],
                                                               tmp_path: Path, capsys) -> None:
    def trim(records: Records) -> None:
        plan = plan_record(records)
        del plan["data"]["profile"]  # the derivation no longer depends on the plan's own copy
        plan["data"]["requirements"] = [r for r in plan["data"]["requirements"] if r["id"] != IF024]

    forged = forge(runs["clean"], tmp_path, trim, demo_pki.identities["MDR"])
    code, report = verify(capsys, forged, *full(demo_pki, runs["clean"]))
    mismatch = [f for f in report["findings"] if f["rule"] == "plan.mismatch"]
    assert code == 1 and [f["extra"]["requirement"] for f in mismatch] == [IF024]


@pytest.mark.parametrize("remove, rule", [
    (lambda run, plan: (run.pop("profile"), plan.pop("profile")), "plan.profile-missing"),
    (lambda run, plan: (run.pop("profile_digest"), plan.pop("profile_digest")), "plan.profile-digest"),
    (lambda run, plan: run["profile"]["interfaces"].update({"IF-024": False}), "plan.profile-digest"),
], ids=["profile-removed", "digest-removed", "profile-edited"])
def test_missing_or_edited_run_start_profile_is_a_finding(demo_pki: DemoPKI, runs: dict[str, Any], tmp_path: Path,
                                                         capsys, remove: Callable[..., Any], rule: str) -> None:
    forged = forge(runs["clean"], tmp_path, lambda rs: remove(rs[0]["run"], plan_record(rs)["data"]),
                   demo_pki.identities["MDR"])
    code, report = verify(capsys, forged, *full(demo_pki, runs["clean"]))
    assert code == 1 and rule in errors_of(report)


def test_a_failed_interface_disabled_after_the_fact_is_caught(demo_pki: DemoPKI, runs: dict[str, Any], tmp_path: Path,
                                                             capsys) -> None:
    """IF-024 failed; the party disables it in the recorded profiles, recomputes every digest and the
    plan with dipcert's own function, passes the preflight it also failed, and re-signs with its own key."""
    def disable(records: Records) -> None:
        run, plan = records[0]["run"], plan_record(records)["data"]
        run["profile"]["interfaces"]["IF-024"] = False
        run["profile_digest"] = public_digest(run["profile"])
        plan["profile"], plan["profile_digest"] = run["profile"], run["profile_digest"]
        plan["requirements"] = plan_from_recorded_profile(plan)
        flip_failures(records, keep="MDR-5.2a/IF-024/")

    forged = forge(runs["failing"], tmp_path, disable, demo_pki.identities["MDR"])
    summary = json.loads((tmp_path / runs["failing"].folder.name / "summary.json").read_text())
    assert summary["ready"]  # the forger's own report says ready
    code, report = verify(capsys, forged, *full(demo_pki, runs["failing"]))
    assert code == 1 and errors_of(report) == {"plan.checks-not-enabled"}  # this check alone catches it
    named = {f["extra"]["requirement"] for f in report["findings"] if f["rule"] == "plan.checks-not-enabled"}
    assert IF024 in named and all("/IF-024/" in rid for rid in named)


# -- 6. reuse: another party, the same anchors ----------------------------------------------------------
def test_reuse_refuses_an_earlier_bundle_of_the_same_party(demo_pki: DemoPKI, runs: dict[str, Any]) -> None:
    anchors = Anchors(trust=(demo_pki.ca,), signers=(demo_pki.signer("MDR"),))
    earlier = load_earlier(runs["clean"].zip_path, anchors=anchors)
    assert earlier.sound and earlier.origin.verified
    same = load_profile(demo_pki.folder / "demo-mdr.toml")  # the very party that produced it
    plan = decide(same, [earlier], attestation=parse_attestation("Dee Cee, dipcert DCP Ltd"))
    assert "reuse.same-party" in {f.rule for f in plan.findings} and not plan.accepted


def test_reuse_sees_how_far_an_earlier_bundles_origin_was_checked(demo_pki: DemoPKI, runs: dict[str, Any]) -> None:
    stranger_signed = load_earlier(runs["clean"].zip_path, anchors=Anchors(trust=(make_ca("other").cert,)))
    assert not stranger_signed.sound and stranger_signed.problems[0].rule == "signature.untrusted"
    unpinned = load_earlier(runs["clean"].zip_path, anchors=Anchors(trust=(demo_pki.ca,)))
    assert unpinned.sound and unpinned.origin.status == "unpinned"


def test_verify_with_refuses_a_chain_to_the_same_party(demo_pki: DemoPKI, runs: dict[str, Any]) -> None:
    earlier = runs["failing"]  # passed IF-008 live; the same party as "clean"
    grant = {"seq": 99, "kind": "event", "event": "reuse",
             "data": {"requirement": "MDR-5.2a/IF-008/consume", "run_id": earlier.run_id,
                      "manifest_sha256": load_earlier(earlier.zip_path).manifest_sha256}}
    party = read_records(runs["clean"].folder)[0]["run"]["party"]
    found = check_chain(runs["clean"].folder, runs["clean"].zip_path, [grant], None, party, [earlier.zip_path],
                        anchors=Anchors(trust=(demo_pki.ca,), signers=(demo_pki.signer("MDR"),)))
    assert "reuse.chain-same-party" in {f.rule for f in found}


def test_reuse_needs_an_anchor_or_an_explicit_integrity_only(demo_pki: DemoPKI, runs: dict[str, Any], tmp_path: Path,
                                                             capsys) -> None:
    args = ["reuse", "--profile", str(demo_pki.folder / "demo-mdr.toml"), "--from", str(runs["clean"].zip_path),
            "--out", str(tmp_path / "out"), "--unchanged-since-attested-by", "Dee Cee, DCP Ltd"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--trust" in err[0] and "--integrity-only" in err[0]
    assert not (tmp_path / "out").exists()


# -- 2. the signer shown where a reviewer looks -----------------------------------------------------------
def test_the_report_header_and_summary_name_the_signer(demo_pki: DemoPKI, runs: dict[str, Any]) -> None:
    summary = json.loads((runs["clean"].folder / "summary.json").read_text())
    assert summary["signer"] == {"fingerprint": demo_pki.signer("MDR"), "subject": "CN=reference-mdr.demo.dipcert"}
    html = (runs["clean"].folder / "report.html").read_text("utf-8")
    header = html[html.index('<header class="banner'):html.index("</header>")]
    assert 'id="signer"' in header and demo_pki.signer("MDR") in header and "CN=reference-mdr.demo.dipcert" in header


def test_a_summary_naming_another_signer_is_a_finding(demo_pki: DemoPKI, runs: dict[str, Any], tmp_path: Path,
                                                      capsys) -> None:
    folder = Path(shutil.copytree(runs["clean"].folder, tmp_path / runs["clean"].folder.name))
    summary = json.loads((folder / "summary.json").read_text())
    summary["signer"]["fingerprint"] = demo_pki.signer("SDS")
    (folder / "summary.json").write_text(json.dumps(summary))
    run = read_records(folder)[0]["run"]
    finalise_bundle(folder, run_id=run["run_id"], harness_version=run["harness_version"],
                    schema_pack=run["schema_pack"], profile_digest=run["profile_digest"], started=run["started"],
                    finished=summary["finished"], attestation=run["attestation"], identity=demo_pki.identities["MDR"],
                    ready=True, extra={"system_fingerprint": run["system_fingerprint"]})
    code, report = verify(capsys, folder, *full(demo_pki, runs["clean"]))
    assert code == 1 and errors_of(report) == {"summary.signer"}
