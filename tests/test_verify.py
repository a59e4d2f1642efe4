"""verify: a sound bundle verifies; each kind of tampering fails with a finding that says what."""

from __future__ import annotations

import base64
import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from harness.config.profile import public_digest
from harness.core.errors import InputError
from harness.core.findings import Finding
from harness.evidence import verdicts as V
from harness.evidence.bundle import certificate_fingerprint, finalise_bundle, write_summary
from harness.evidence.recorder import Recorder
from harness.evidence.verify import verify_bundle as _verify_bundle

API_KEY = "k3y-PRIMARY-0123456789abcdef0123456789"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
PACK = {"name": "dipcert", "version": "dipcert-1", "fingerprint": "sha256:" + "ab" * 32}
# A stand-in for the recorded profile: these synthetic runs are not derived from a real profile, so
# `verify_bundle` below stubs the plan derivation (it is tested on real bundles in test_cli_verify.py
# and test_verify_trust.py). The digests still have to agree, as in every real bundle.
PROFILE = {"role": "MDR"}
DIGEST = public_digest(PROFILE)


def verify_bundle(path: Any, **options: Any) -> Any:
    options.setdefault("plan_from_profile", lambda data: data["requirements"])
    return _verify_bundle(path, **options)


# -- identities (built with cryptography directly, independent of harness.transport) ----------------
@dataclass
class Identity:
    private_key: Any
    certificate: x509.Certificate
    cert_pem: bytes


_KEYS: list[rsa.RSAPrivateKey] = []


def _key(index: int) -> rsa.RSAPrivateKey:
    while len(_KEYS) <= index:  # RSA generation is slow: share keys across tests
        _KEYS.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _KEYS[index]


def _cert(subject_cn: str, key: Any, issuer_cn: str, issuer_key: Any, ca: bool = False) -> x509.Certificate:
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - timedelta(days=30)).not_valid_after(NOW + timedelta(days=365))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    return builder.sign(issuer_key, hashes.SHA256())


def make_ca(name: str = "Test CA", index: int = 0) -> tuple[x509.Certificate, Any]:
    key = _key(index)
    return _cert(name, key, name, key, ca=True), key


def make_identity(cn: str = "mdr.example", ca: tuple[x509.Certificate, Any] | None = None,
                  index: int = 1) -> Identity:
    ca_cert, ca_key = ca or make_ca()
    key = _key(index)
    cert = _cert(cn, key, ca_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value, ca_key)
    return Identity(key, cert, cert.public_bytes(serialization.Encoding.PEM))


ATTESTATION = {"name": "Ada Tester", "role": "Test lead", "organisation": "Example Energy",
               "environment": "UIT", "expires": "2099-12-31"}
PLAN = [
    {"id": "MDR-5.2a/IF-061/consume", "interface": "IF-061", "event": "SDSStart", "direction": "incoming",
     "enabled": True},
    {"id": "MDR-5.2b/IF-062/produce", "interface": "IF-062", "event": "MDRConsumption", "direction": "outgoing",
     "enabled": True},
    {"id": "MDR-5.2b/IF-065/produce", "interface": "IF-065", "event": "ReadingRemote", "direction": "outgoing",
     "enabled": False},
]


def record_run(folder: Path, identity: Identity | None, *, fail: bool = False, close: bool = True,
               plan: list[dict[str, Any]] = PLAN, expected_valid: bool = True, layout: str = "segments") -> Recorder:
    """A small but whole run: plan, two exchanges, checks; returns the (closed) recorder. `layout`
    "files": the bodies one file each, as bundles were written before segments."""
    signer = certificate_fingerprint(identity.certificate) if identity else None
    rec = Recorder(folder, secrets=[API_KEY], run={"run_id": "run-1", "signer_certificate_sha256": signer,
                                                    "profile": PROFILE, "profile_digest": DIGEST}, layout=layout)
    rec.event("plan", requirements=plan, profile_digest=DIGEST, profile=PROFILE)
    body = json.dumps([{"payload": {"CommonBlock": {"S0": {"interfaceID": "IF-061"}}}}]).encode()
    s1 = rec.http(channel="webhook", method="POST", url="https://127.0.0.1:9/webhook/IF-061",
                  request_headers={"Content-Type": "application/json", "X-API-Key": API_KEY},
                  request_body=body, status=200, response_headers={"Content-Type": "application/json"},
                  response_body=b'{"responseCode":"RCP0000"}', started=NOW, elapsed_ms=12.5,
                  peer_certificate_sha256="ab" * 32)
    rec.check(PLAN[0]["id"], "webhook.accepts-valid", True, messages=[s1], expected_valid=expected_valid)
    s2 = rec.http(channel="api", method="POST", url="https://127.0.0.1:9/api/IF-062",
                  request_headers={"X-API-Key": API_KEY}, request_body=b"[]", status=400,
                  response_body=b'{"error":"envelope.empty"}', started=NOW, elapsed_ms=3.0)
    findings = [Finding("envelope.empty", "/", "at least one item", "[]", "empty array", extra={"seq": s2})] \
        if fail else []
    rec.check(PLAN[1]["id"], "api.produces-valid", not fail, findings=findings, messages=[s2])
    if close:
        rec.close()
    return rec


def write_report(folder: Path, entries: list[dict[str, Any]]) -> None:
    rows = "".join(f'<tr data-requirement="{e["id"]}" data-verdict="{e["verdict"]}"><td>{e["id"]}</td>'
                   f'<td>{e["verdict"]}</td></tr>' for e in entries)
    (folder / "report.html").write_text(f"<html><body><table>{rows}</table></body></html>", "utf-8")


def make_summary(folder: Path, run_id: str = "run-1") -> dict[str, Any]:
    from harness.evidence.recorder import read_records

    records = read_records(folder / "evidence.jsonl")
    verdicts = V.recompute(records, V.planned_requirements(records))
    complete = any(r.get("kind") == "run-end" and r.get("status") == "complete" for r in records)
    ready, blockers = V.readiness(verdicts, complete=complete)
    return {
        "run_id": run_id, "harness_version": "0.1.0", "schema_pack": PACK,
        "party": {"role": "MDR", "dip_id": "DIP-MDR-0001", "mpid": "MDRA", "dcp_id": None, "company": "Example"},
        "partner": {"role": "SDS", "dip_id": "DIP-SDS-0001", "mpid": "SDSA", "kind": "reference"},
        "system": {"name": "meterflow", "version": "1.2", "build_id": None, "fingerprint": None},
        "environment": "UIT", "started": "2026-05-01T12:00:00Z", "finished": "2026-05-01T12:05:00Z",
        "ready": ready, "status": "complete" if complete else "incomplete",
        "requirements": V.summary_entries(verdicts), "assumptions": [], "blockers": blockers,
    }


def make_bundle(root: Path, *, identity: Identity | None = None, fail: bool = False,
                run_id: str = "run-1", layout: str = "segments") -> tuple[Path, Path]:
    """(run folder, zip) for a whole, sound bundle."""
    identity = identity or make_identity()
    folder = root / run_id
    record_run(folder, identity, fail=fail, layout=layout)
    summary = make_summary(folder, run_id)
    write_summary(folder, summary)
    write_report(folder, summary["requirements"])
    archive = finalise_bundle(folder, run_id=run_id, harness_version="0.1.0", schema_pack=PACK,
                              profile_digest=DIGEST, started="2026-05-01T12:00:00Z",
                              finished="2026-05-01T12:05:00Z", attestation=ATTESTATION, identity=identity,
                              ready=summary["ready"])
    return folder, archive


def rules(result: Any) -> set[str]:
    return {f.rule for f in result.findings}


def body_of(folder: Path, seq: int, side: str) -> dict[str, Any]:
    """Record `seq`'s `side` body as recorded: file, (offset,) size, sha256."""
    from harness.evidence.recorder import read_records

    return next(r for r in read_records(folder / "evidence.jsonl") if r["seq"] == seq)[side]["body"]


def flip_body_byte(folder: Path, seq: int, side: str) -> str:
    """Changes one byte of a recorded body where it lies (its segment or its file): the file changed."""
    body = body_of(folder, seq, side)
    path = folder / body["file"]
    data = bytearray(path.read_bytes())
    data[body.get("offset", 0) + body["size"] // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return body["file"]


def refinalise(folder: Path, identity: Identity, ready: bool | None = None) -> None:
    """What a party holding its own key could do after editing files: re-hash and re-sign."""
    manifest = json.loads((folder / "manifest.json").read_text())
    finalise_bundle(folder, run_id=manifest["run_id"], harness_version=manifest["harness_version"],
                    schema_pack=manifest["schema_pack"], profile_digest=manifest["profile_digest"],
                    started=manifest["started"], finished=manifest["finished"],
                    attestation=manifest["attestation"], identity=identity,
                    ready=manifest["ready"] if ready is None else ready)


# -- sound bundles ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ca() -> tuple[x509.Certificate, Any]:
    return make_ca()


@pytest.fixture(scope="module")
def party(ca: tuple[x509.Certificate, Any]) -> Identity:
    return make_identity(ca=ca)


@pytest.fixture
def bundle(tmp_path: Path, party: Identity) -> tuple[Path, Path]:
    return make_bundle(tmp_path, identity=party)


def test_a_sound_ready_bundle_verifies_as_folder_and_as_zip(bundle: tuple[Path, Path], ca: Any,
                                                             party: Identity) -> None:
    folder, archive = bundle
    for path in (folder, archive):
        result = verify_bundle(path, trust=[ca[0]], signers=[certificate_fingerprint(party.certificate)], now=NOW)
        assert result.findings == [], [str(f) for f in result.findings]
        assert result.sound and result.ready and result.exit_code == 0
        assert result.verdicts["MDR-5.2a/IF-061/consume"]["verdict"] == "pass"
        assert result.verdicts["MDR-5.2b/IF-065/produce"]["verdict"] == "not-enabled"


def test_a_sound_bundle_with_a_failure_is_not_ready_exit_1(tmp_path: Path, party: Identity) -> None:
    folder, _ = make_bundle(tmp_path, identity=party, fail=True)
    result = verify_bundle(folder, now=NOW)
    assert result.sound and not result.ready and result.exit_code == 1
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["blockers"][0]["requirement"] == "MDR-5.2b/IF-062/produce"


def test_unreadable_input_raises_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such bundle"):
        verify_bundle(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not a dipcert bundle"):
        verify_bundle(tmp_path / "empty")
    (tmp_path / "junk.dipcert.zip").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a zip"):
        verify_bundle(tmp_path / "junk.dipcert.zip")


# -- "Done means": each tamper case fails with its own finding ---------------------------------------
@pytest.mark.parametrize("name", ["evidence.jsonl", "messages/bodies-0001.bin", "summary.json", "report.html"])
def test_changing_one_byte_of_any_file_is_named(bundle: tuple[Path, Path], name: str) -> None:
    folder, _ = bundle
    path = folder / name
    data = bytearray(path.read_bytes())
    # summary.json must stay a summary (verify refuses one that is not, exit 2): flip a digit of a free text
    at = data.index(b'"harness_version": "') + 20 if name == "summary.json" else len(data) // 2
    data[at] ^= 0x01
    path.write_bytes(bytes(data))
    result = verify_bundle(folder, now=NOW)
    assert any(f.rule == "bundle.hash" and f.path == name for f in result.findings)
    assert result.exit_code == 1


def test_changing_one_byte_of_the_manifest_breaks_the_signature(bundle: tuple[Path, Path]) -> None:
    folder, _ = bundle
    text = (folder / "manifest.json").read_text().replace('"ready": true', '"ready": false ')
    (folder / "manifest.json").write_text(text)
    assert "signature.invalid" in rules(verify_bundle(folder, now=NOW))


def test_an_added_or_deleted_file_is_named(bundle: tuple[Path, Path]) -> None:
    folder, _ = bundle
    (folder / "messages" / "99-request.bin").write_bytes(b"later")
    (folder / "report.html").unlink()
    result = verify_bundle(folder, now=NOW)
    assert any(f.rule == "bundle.extra-file" and f.path == "messages/99-request.bin" for f in result.findings)
    assert any(f.rule == "bundle.missing-file" and f.path == "report.html" for f in result.findings)


def _lines(folder: Path) -> list[bytes]:
    return (folder / "evidence.jsonl").read_bytes().splitlines(keepends=True)


def test_removing_a_record_is_named_even_after_re_signing(bundle: tuple[Path, Path], party: Identity) -> None:
    folder, _ = bundle
    lines = _lines(folder)
    del lines[3]  # seq 4: the first check record
    (folder / "evidence.jsonl").write_bytes(b"".join(lines))
    refinalise(folder, party)  # hashes and signature made good again: the chain still tells
    result = verify_bundle(folder, now=NOW)
    assert any(f.rule == "evidence.sequence" and "seq 4 missing" in f.message for f in result.findings)
    assert any(f.rule == "evidence.chain" and f.extra.get("seq") == 5 for f in result.findings)


def test_reordering_two_records_is_named(bundle: tuple[Path, Path], party: Identity) -> None:
    folder, _ = bundle
    lines = _lines(folder)
    lines[3], lines[4] = lines[4], lines[3]
    (folder / "evidence.jsonl").write_bytes(b"".join(lines))
    refinalise(folder, party)
    result = verify_bundle(folder, now=NOW)
    assert any(f.rule == "evidence.sequence" and "out of order" in f.message for f in result.findings)
    assert "evidence.chain" in rules(result)


def test_editing_a_record_breaks_the_chain_at_the_next_one(bundle: tuple[Path, Path], party: Identity) -> None:
    folder, _ = bundle
    lines = _lines(folder)
    lines[3] = lines[3].replace(b'"passed":true', b'"passed":false')
    (folder / "evidence.jsonl").write_bytes(b"".join(lines))
    refinalise(folder, party)
    result = verify_bundle(folder, now=NOW)
    assert any(f.rule == "evidence.chain" and f.extra.get("seq") == 5 for f in result.findings)


def test_editing_a_verdict_in_summary_is_named_even_when_re_signed(bundle: tuple[Path, Path],
                                                                   party: Identity) -> None:
    folder, _ = bundle
    summary = json.loads((folder / "summary.json").read_text())
    summary["requirements"][0]["verdict"] = "fail"  # MDR-5.2a/IF-061/consume, pass by the evidence
    (folder / "summary.json").write_text(json.dumps(summary))
    result = verify_bundle(folder, now=NOW)
    assert any(f.rule == "bundle.hash" and f.path == "summary.json" for f in result.findings)
    refinalise(folder, party)  # the party itself cannot make the evidence say something else
    result = verify_bundle(folder, now=NOW)
    found = [f for f in result.findings if f.rule == "summary.verdict"]
    assert len(found) == 1 and found[0].extra["requirement"] == "MDR-5.2a/IF-061/consume"
    assert found[0].expected == "pass" and found[0].actual == "fail"


def test_claiming_a_failed_requirement_passed_is_named(tmp_path: Path, party: Identity) -> None:
    folder, _ = make_bundle(tmp_path, identity=party, fail=True)
    summary = json.loads((folder / "summary.json").read_text())
    for item in summary["requirements"]:
        if item["verdict"] == "fail":
            item["verdict"], item["findings"] = "pass", []
    summary["ready"], summary["blockers"] = True, []
    (folder / "summary.json").write_text(json.dumps(summary))
    write_report(folder, summary["requirements"])
    refinalise(folder, party, ready=True)
    found = rules(verify_bundle(folder, now=NOW))
    assert {"summary.verdict", "summary.ready", "summary.blockers", "summary.findings", "manifest.ready"} <= found


def test_editing_a_verdict_in_the_report_is_named(bundle: tuple[Path, Path], party: Identity) -> None:
    folder, _ = bundle
    html = (folder / "report.html").read_text()
    html = html.replace('data-requirement="MDR-5.2a/IF-061/consume" data-verdict="pass"',
                        'data-requirement="MDR-5.2a/IF-061/consume" data-verdict="fail"')
    (folder / "report.html").write_text(html)
    refinalise(folder, party)
    found = [f for f in verify_bundle(folder, now=NOW).findings if f.rule == "report.verdict"]
    assert len(found) == 1 and found[0].extra["requirement"] == "MDR-5.2a/IF-061/consume"


def test_a_forged_signature_with_another_key_is_invalid(bundle: tuple[Path, Path]) -> None:
    folder, _ = bundle
    sig = json.loads((folder / "manifest.sig").read_text())
    other = _key(2).sign((folder / "manifest.json").read_bytes(), padding.PKCS1v15(), hashes.SHA256())
    sig["signature_b64"] = base64.b64encode(other).decode()
    (folder / "manifest.sig").write_text(json.dumps(sig))
    assert "signature.invalid" in rules(verify_bundle(folder, now=NOW))


def test_re_signing_with_another_identity_is_named(bundle: tuple[Path, Path], ca: Any) -> None:
    folder, _ = bundle
    stranger = make_identity("intruder", ca=make_ca("Other CA", index=3), index=2)
    refinalise(folder, stranger)
    result = verify_bundle(folder, trust=[ca[0]], now=NOW)
    assert {"signature.untrusted", "signature.unexpected-certificate"} <= rules(result)
    assert "signature.invalid" not in rules(result)


def test_an_unsigned_bundle_is_not_sound(tmp_path: Path) -> None:
    folder = tmp_path / "run-1"
    record_run(folder, None)
    summary = make_summary(folder)
    write_summary(folder, summary)
    finalise_bundle(folder, run_id="run-1", harness_version="0.1.0", schema_pack=PACK, profile_digest=DIGEST,
                    started=NOW, finished=NOW, attestation=ATTESTATION, ready=summary["ready"])
    result = verify_bundle(folder, now=NOW)
    assert "signature.missing" in rules(result) and result.exit_code == 1


def test_an_expired_attestation_is_named(bundle: tuple[Path, Path]) -> None:
    folder, _ = bundle
    result = verify_bundle(folder, now=datetime(2100, 1, 2, tzinfo=timezone.utc))
    assert "attestation.expired" in rules(result)


# -- crash, plan, re-validation -------------------------------------------------------------------
def test_a_crashed_run_verifies_as_incomplete(tmp_path: Path) -> None:
    rec = record_run(tmp_path / "run-1", None, close=False)
    del rec  # abandoned: no run-end, no manifest, as after a crash
    result = verify_bundle(tmp_path / "run-1", now=NOW)
    assert {"evidence.incomplete", "bundle.manifest"} <= rules(result)
    assert "evidence.chain" not in rules(result) and result.exit_code == 1
    assert not result.complete


def test_a_truncated_last_line_is_incomplete_not_tampered(tmp_path: Path) -> None:
    record_run(tmp_path / "run-1", None, close=False)
    with open(tmp_path / "run-1" / "evidence.jsonl", "ab") as handle:
        handle.write(b'{"seq":7,"kind":"ev')
    result = verify_bundle(tmp_path / "run-1", now=NOW)
    assert "evidence.incomplete" in rules(result) and "evidence.chain" not in rules(result)


def test_an_interrupted_run_is_incomplete(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        with Recorder(tmp_path / "run-1") as rec:
            rec.event("plan", requirements=PLAN)
            raise KeyboardInterrupt
    result = verify_bundle(tmp_path / "run-1", now=NOW)
    assert any(f.rule == "evidence.incomplete" and f.actual == "interrupted" for f in result.findings)


def test_a_planned_requirement_missing_from_summary_or_silently_not_run(tmp_path: Path, party: Identity) -> None:
    plan = PLAN + [{"id": "MDR-5.3/exchange", "interface": None, "event": None, "direction": "exchange",
                    "enabled": True}]
    folder = tmp_path / "run-1"
    record_run(folder, party, plan=plan)
    summary = make_summary(folder)
    assert not summary["ready"] and summary["blockers"][0]["requirement"] == "MDR-5.3/exchange"
    summary["requirements"] = [r for r in summary["requirements"] if r["id"] != "MDR-5.3/exchange"]
    summary["ready"], summary["blockers"] = True, []
    write_summary(folder, summary)
    refinalise_args = dict(run_id="run-1", harness_version="0.1.0", schema_pack=PACK, profile_digest=DIGEST,
                           started=NOW, finished=NOW, attestation=ATTESTATION, identity=party)
    finalise_bundle(folder, ready=True, **refinalise_args)
    found = {f.rule: f for f in verify_bundle(folder, now=NOW).findings}
    assert found["summary.missing-requirement"].extra["requirement"] == "MDR-5.3/exchange"
    assert found["summary.blockers"].extra["requirement"] == "MDR-5.3/exchange"
    assert "summary.ready" in found and "manifest.ready" in found


def test_plan_from_profile_hook_catches_a_trimmed_plan(bundle: tuple[Path, Path]) -> None:
    folder, _ = bundle

    def derive(plan_data: dict[str, Any]) -> list[dict[str, Any]]:
        assert plan_data["profile"] == {"role": "MDR"}
        return PLAN + [{"id": "MDR-5.3/exchange", "enabled": True}]

    result = verify_bundle(folder, plan_from_profile=derive, now=NOW)
    found = [f for f in result.findings if f.rule == "plan.mismatch"]
    assert len(found) == 1 and "MDR-5.3/exchange" in found[0].message
    assert verify_bundle(folder, plan_from_profile=lambda _d: PLAN, now=NOW).findings == []


def test_revalidation_that_contradicts_a_passed_check_is_named(bundle: tuple[Path, Path]) -> None:
    folder, _ = bundle
    seen: list[int] = []

    def revalidate(record: dict[str, Any], body: bytes) -> list[Finding]:
        seen.append(record["seq"])
        if b"IF-061" in body:
            return [Finding("schema.required", "/0/payload/CommonBlock/S1", "present", "absent", "S1 missing")]
        return []

    result = verify_bundle(folder, revalidate=revalidate, now=NOW)
    assert seen == [3, 5]  # every captured request body, in order
    found = [f for f in result.findings if f.rule == "revalidate.disagrees"]
    assert len(found) == 1 and found[0].extra["seq"] == 3 and not result.sound
    assert verify_bundle(folder, revalidate=lambda r, b: [], now=NOW).findings == []


def test_revalidation_respects_deliberately_invalid_messages(tmp_path: Path) -> None:
    folder = tmp_path / "run-1"
    record_run(folder, None, expected_valid=False)
    bad = [Finding("schema.required", "/0", "x", "y", "broken on purpose")]
    result = verify_bundle(folder, revalidate=lambda r, b: bad, now=NOW)
    # seq 3 was judged with expected_valid=False; seq 5's check did not say so
    assert [f.extra["seq"] for f in result.findings if f.rule == "revalidate.disagrees"] == [5]
    assert set(result.revalidation) == {3, 5}


@pytest.mark.parametrize("layout", ["segments", "files"])
def test_a_tampered_body_is_named_without_a_manifest(tmp_path: Path, layout: str) -> None:
    record_run(tmp_path / "run-1", None, layout=layout)
    flip_body_byte(tmp_path / "run-1", 3, "request")
    result = verify_bundle(tmp_path / "run-1", now=NOW)
    assert [(f.path, f.extra["seq"]) for f in result.findings if f.rule == "evidence.body-hash"] == [
        ("messages/bodies-0001.bin#offset=0" if layout == "segments" else "messages/3-request.bin", 3)]


# -- verdicts as a pure function ----------------------------------------------------------------
def _check(seq: int, req: str, passed: bool, messages: tuple[int, ...] = ()) -> dict[str, Any]:
    return {"seq": seq, "kind": "check", "requirement": req, "passed": passed, "findings": [],
            "messages": list(messages)}


def test_recompute_rules() -> None:
    planned = [{"id": r, "enabled": r != "off"} for r in ("p", "f", "r", "n", "off")]
    records = [
        {"seq": 1, "kind": "run-start"},
        _check(2, "p", True, (9,)), _check(3, "f", True), _check(4, "f", False),
        {"seq": 5, "kind": "event", "event": "reuse",
         "data": {"requirement": "r", "run_id": "old", "manifest_sha256": "sha256:00", "party": "DCP1"}},
        _check(6, "off", False), _check(7, "extra", True),
    ]
    out = V.recompute(records, planned)
    assert {k: v["verdict"] for k, v in out.items()} == {
        "p": "pass", "f": "fail", "r": "reused", "n": "not-run", "off": "not-enabled", "extra": "pass"}
    assert out["p"]["evidence"] == [2, 9] and out["r"]["reused_from"]["run_id"] == "old"
    assert out["extra"]["planned"] is False
    ready, blockers = V.readiness(out)
    assert not ready and [b["requirement"] for b in blockers] == ["f", "n"]
    assert V.readiness({k: out[k] for k in ("p", "r", "off")}) == (True, [])
    assert V.readiness({"p": out["p"]}, complete=False)[0] is False


def test_summary_schema_rejects_a_bad_verdict(tmp_path: Path) -> None:
    record_run(tmp_path / "run-1", None)
    summary = make_summary(tmp_path / "run-1")
    summary["requirements"][0]["verdict"] = "passed"
    with pytest.raises(ValueError, match="verdict"):
        write_summary(tmp_path / "run-1", summary)


def test_an_invalid_summary_in_a_bundle_is_refused(bundle: tuple[Path, Path], party: Identity) -> None:
    folder, _ = bundle
    summary = json.loads((folder / "summary.json").read_text())
    del summary["party"]
    (folder / "summary.json").write_text(json.dumps(summary))
    refinalise(folder, party)
    with pytest.raises(InputError, match="summary.json: /: 'party' is a required property"):
        verify_bundle(folder, now=NOW)


def test_zip_and_folder_agree(bundle: tuple[Path, Path], tmp_path: Path) -> None:
    folder, archive = bundle
    copy = tmp_path / "copy.dipcert.zip"
    shutil.copy(archive, copy)
    assert verify_bundle(copy, now=NOW).verdicts == verify_bundle(folder, now=NOW).verdicts


# -- the remaining checks, each shown failing ------------------------------------------------------
def _finalise(folder: Path, identity: Identity | None, **changes: Any) -> None:
    args: dict[str, Any] = dict(run_id="run-1", harness_version="0.1.0", schema_pack=PACK, profile_digest=DIGEST,
                                started="2026-05-01T12:00:00Z", finished="2026-05-01T12:05:00Z",
                                attestation=ATTESTATION, identity=identity, ready=True)
    args.update(changes)
    finalise_bundle(folder, **args)


@pytest.mark.parametrize("finished, rule", [("2030-01-01T00:00:00Z", "signature.expired"),
                                            ("2020-01-01T00:00:00Z", "signature.not-yet-valid")])
def test_a_certificate_not_valid_when_the_run_finished_is_named(bundle: tuple[Path, Path], party: Identity,
                                                                finished: str, rule: str) -> None:
    folder, _ = bundle
    _finalise(folder, party, finished=finished)
    assert rule in rules(verify_bundle(folder, now=NOW))


def test_summary_of_another_run_or_wrong_status_is_named(bundle: tuple[Path, Path], party: Identity) -> None:
    folder, _ = bundle
    summary = json.loads((folder / "summary.json").read_text())
    summary["run_id"], summary["status"] = "run-2", "incomplete"
    (folder / "summary.json").write_text(json.dumps(summary))
    refinalise(folder, party)
    assert {"summary.run-id", "summary.status"} <= rules(verify_bundle(folder, now=NOW))


def test_a_requirement_in_summary_that_nothing_planned_is_named(bundle: tuple[Path, Path], party: Identity) -> None:
    folder, _ = bundle
    summary = json.loads((folder / "summary.json").read_text())
    summary["requirements"].append({**summary["requirements"][0], "id": "MDR-9.9/made-up"})
    (folder / "summary.json").write_text(json.dumps(summary))
    refinalise(folder, party)
    found = [f for f in verify_bundle(folder, now=NOW).findings if f.rule == "summary.unplanned-requirement"]
    assert [f.extra["requirement"] for f in found] == ["MDR-9.9/made-up"]


def test_reused_requirements_must_name_the_bundle_they_rest_on(tmp_path: Path, party: Identity) -> None:
    folder = tmp_path / "run-1"
    rec = Recorder(folder, run={"profile": PROFILE, "profile_digest": DIGEST,
                                "signer_certificate_sha256": certificate_fingerprint(party.certificate)})
    rec.event("plan", requirements=[{"id": "MDR-5.4/reuse", "enabled": True}], profile_digest=DIGEST)
    rec.event("reuse", requirement="MDR-5.4/reuse", run_id="dcp-run", manifest_sha256="sha256:" + "0" * 64,
              party="DCP-0001")
    rec.close()
    summary = make_summary(folder)
    assert summary["ready"] and summary["requirements"][0]["verdict"] == "reused"
    write_summary(folder, summary)
    _finalise(folder, party)
    assert verify_bundle(folder, now=NOW).findings == []
    summary["requirements"][0]["reused_from"]["manifest_sha256"] = "sha256:" + "1" * 64
    write_summary(folder, summary)
    _finalise(folder, party)
    assert rules(verify_bundle(folder, now=NOW)) == {"summary.reused-from"}


def test_body_file_problems_are_named(tmp_path: Path) -> None:
    """In a bundle written a file per body (before segments): a body file missing, a file no record names."""
    folder = tmp_path / "run-1"
    record_run(folder, None, layout="files")
    (folder / "messages" / "5-response.bin").unlink()
    (folder / "messages" / "77-request.bin").write_bytes(b"stray")
    found = {f.rule: f for f in verify_bundle(folder, now=NOW).findings}
    assert found["evidence.body-missing"].extra["seq"] == 5
    assert found["evidence.unreferenced-body"].severity == "warning"


def test_segment_problems_are_named(tmp_path: Path) -> None:
    """A segment cut short (seq 5's response lies past its end) and bytes no record names after it."""
    folder = tmp_path / "run-1"
    record_run(folder, None)
    response = body_of(folder, 5, "response")
    segment = folder / response["file"]
    segment.write_bytes(segment.read_bytes()[:response["offset"] + 1])  # seq 5's response cut after 1 byte
    found = [f for f in verify_bundle(folder, now=NOW).findings if f.rule.startswith("evidence.")]
    assert [(f.rule, f.path, f.extra.get("seq"), f.severity) for f in found if f.rule != "evidence.incomplete"] == [
        ("evidence.body-missing", f"messages/bodies-0001.bin#offset={response['offset']}", 5, "error"),
        ("evidence.unreferenced-body", "messages/bodies-0001.bin", None, "warning")]
    assert found[-1].message == "1 of the " f"{response['offset'] + 1} bytes of messages/bodies-0001.bin are not " \
        "referenced by any record"
    (folder / "messages" / "bodies-0002.bin").write_bytes(b"stray")
    assert {(f.rule, f.path, f.actual) for f in verify_bundle(folder, now=NOW).findings
            if f.rule == "evidence.unreferenced-body"} >= {("evidence.unreferenced-body", "messages/bodies-0002.bin",
                                                            "orphan")}


def test_a_body_recorded_twice_in_a_segment_is_named(tmp_path: Path) -> None:
    """Two records may not cite the same bytes: seq 5's request pointed back at seq 3's."""
    folder = tmp_path / "run-1"
    record_run(folder, None)
    first, second = body_of(folder, 3, "request"), body_of(folder, 5, "request")
    text = (folder / "evidence.jsonl").read_text().replace(
        f'"offset":{second["offset"]},"redacted":false,"sha256":"{second["sha256"]}","size":{second["size"]}',
        f'"offset":0,"redacted":false,"sha256":"{first["sha256"]}","size":{first["size"]}')
    (folder / "evidence.jsonl").write_text(text)
    found = [f for f in verify_bundle(folder, now=NOW).findings
             if f.rule in ("evidence.body-file", "evidence.body-hash")]
    assert [(f.rule, f.path, f.expected, f.actual, f.extra["seq"]) for f in found] == [
        ("evidence.body-file", "messages/bodies-0001.bin#offset=0",
         f"offset {first['size'] + body_of(folder, 3, 'response')['size']} or later", "0", 5)]


@pytest.mark.parametrize("layout, name", [("segments", "messages/bodies-0001.bin"),
                                          ("files", "messages/3-request.bin")])
def test_a_record_pointing_its_body_outside_messages_is_named(tmp_path: Path, layout: str, name: str) -> None:
    folder = tmp_path / "run-1"
    record_run(folder, None, layout=layout)
    text = (folder / "evidence.jsonl").read_text().replace(f'"{name}"', '"../../etc/passwd"')
    (folder / "evidence.jsonl").write_text(text)
    assert "evidence.body-file" in rules(verify_bundle(folder, now=NOW))


def test_garbage_lines_and_records_after_run_end_are_named(tmp_path: Path) -> None:
    folder = tmp_path / "run-1"
    record_run(folder, None)
    with open(folder / "evidence.jsonl", "ab") as handle:
        handle.write(b"not json\n")
    found = rules(verify_bundle(folder, now=NOW))
    assert {"evidence.record", "evidence.chain"} <= found


def test_a_run_without_a_plan_or_attestation_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "run-1"
    Recorder(folder).close()
    (folder / "manifest.json").write_text(json.dumps({"format": "dipcert-bundle/1", "files": {},
                                                      "attestation": {"name": "x"}}))
    found = rules(verify_bundle(folder, now=NOW))
    assert {"evidence.plan", "attestation.missing", "signature.missing", "bundle.extra-file"} <= found


def test_a_manifest_that_is_not_json_is_refused(bundle: tuple[Path, Path]) -> None:
    folder, _ = bundle
    (folder / "manifest.json").write_text("{")
    with pytest.raises(InputError, match="manifest.json: not valid JSON"):
        verify_bundle(folder, now=NOW)


def test_a_different_schema_pack_is_a_warning(bundle: tuple[Path, Path]) -> None:
    folder, _ = bundle

    class Pack:
        fingerprint = "sha256:" + "ef" * 32

    result = verify_bundle(folder, pack=Pack(), integrity_only=True, now=NOW)
    assert rules(result) == {"bundle.schema-pack"} and result.exit_code == 0
