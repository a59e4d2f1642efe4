"""`dipcert verify` exit codes and findings on sound, failing, tampered and unreadable bundles.

The bundles are real: the reference MDR certified through the simulated DIP (the demo's path), so
the command's plan check (the plan derived again from the recorded profile) runs on the real thing.
"""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest
from test_verify import make_bundle, make_ca

from harness.cli import main
from harness.run.demo import make_pki, run_party


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """A ready bundle and a failing one (fault 47-periods), made once for the module."""
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    out = tmp_path_factory.mktemp("bundles")
    return {"ready": run_party("MDR", pki, out, timeout=2.0),
            "failed": run_party("MDR", pki, out, faults=["47-periods"], timeout=1.0), "pki": pki}


def _copy(result, tmp_path: Path) -> Path:
    return Path(shutil.copytree(result.folder, tmp_path / result.folder.name))


def test_sound_ready_bundle_exits_0_with_its_anchors(bundles, capsys: pytest.CaptureFixture[str]) -> None:
    command = bundles["pki"].verify_command(bundles["ready"], "MDR")
    assert main(shlex.split(command)[1:]) == 0
    assert "sound and ready, origin verified" in capsys.readouterr().out


def test_failed_requirement_exits_1(bundles, capsys) -> None:
    assert main(["verify", str(bundles["failed"].zip_path), "--json", "--integrity-only"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["sound"] and not report["ready_by_evidence"] and not report["ready"]


def test_tampered_summary_is_reported_as_json(bundles, tmp_path: Path, capsys) -> None:
    folder = _copy(bundles["ready"], tmp_path)
    summary = folder / "summary.json"
    summary.write_bytes(summary.read_bytes().replace(b'"pass"', b'"fail"', 1))
    assert main(["verify", str(folder), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert not report["sound"]
    assert "bundle.hash" in {f["rule"] for f in report["findings"]}


def test_unreadable_bundle_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nope.dipcert.zip"
    assert main(["verify", str(missing)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope.dipcert.zip" in err[0]


def test_missing_trust_file_exits_2(bundles, tmp_path: Path, capsys) -> None:
    assert main(["verify", str(bundles["ready"].zip_path), "--trust", str(tmp_path / "ca.pem")]) == 2
    assert "ca.pem: trust certificate file not found" in capsys.readouterr().err


def test_signature_from_an_untrusted_ca_exits_1(bundles, tmp_path: Path, capsys) -> None:
    other_ca_cert, _ = make_ca("Other CA", index=8)
    from cryptography.hazmat.primitives.serialization import Encoding
    ca_file = tmp_path / "other-ca.pem"
    ca_file.write_bytes(other_ca_cert.public_bytes(Encoding.PEM))
    assert main(["verify", str(bundles["ready"].zip_path), "--trust", str(ca_file), "--json"]) == 1
    assert "signature.untrusted" in {f["rule"] for f in json.loads(capsys.readouterr().out)["findings"]}


def test_a_recorded_profile_that_cannot_be_read_again_is_named(tmp_path: Path, capsys) -> None:
    """A bundle whose recorded profile is not a profile: its plan cannot be re-derived (exit 1)."""
    from test_verify import make_identity

    folder, _ = make_bundle(tmp_path, identity=make_identity(ca=make_ca("CLI CA", index=7)))
    assert main(["verify", str(folder), "--json"]) == 1
    assert "plan.profile" in {f["rule"] for f in json.loads(capsys.readouterr().out)["findings"]}


def test_a_quietly_dropped_requirement_is_caught_by_the_plan_check(bundles, tmp_path: Path, capsys) -> None:
    """Removing a requirement from the recorded plan (and re-signing) shows as plan.mismatch."""
    from harness.evidence.recorder import encode_record, line_hash

    folder = _copy(bundles["ready"], tmp_path)
    lines = (folder / "evidence.jsonl").read_bytes().splitlines()
    records = [json.loads(line) for line in lines]
    plan = next(r for r in records if r.get("event") == "plan")
    plan["data"]["requirements"] = [r for r in plan["data"]["requirements"]
                                    if r["id"] != "MDR-5.2a/IF-024/consume/SN-Vacant"]
    prev = records[0]["prev"]
    out = []
    for record in records:  # a forger re-chains the whole log
        record["prev"] = prev
        line = encode_record(record)
        prev = line_hash(line)
        out.append(line)
    (folder / "evidence.jsonl").write_bytes(b"\n".join(out) + b"\n")
    assert main(["verify", str(folder), "--json"]) == 1
    assert "plan.mismatch" in {f["rule"] for f in json.loads(capsys.readouterr().out)["findings"]}
