"""`dipcert verify` exit codes and findings on sound, failing, tampered and unreadable bundles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from test_verify import make_bundle, make_ca, make_identity


@pytest.fixture(scope="module")
def party():
    return make_identity(ca=make_ca("CLI CA", index=7))


def test_sound_ready_bundle_exits_0(tmp_path: Path, party, capsys: pytest.CaptureFixture[str]) -> None:
    _, archive = make_bundle(tmp_path, identity=party)
    assert main(["verify", str(archive)]) == 0
    assert "sound and ready" in capsys.readouterr().out


def test_failed_requirement_exits_1(tmp_path: Path, party) -> None:
    folder, _ = make_bundle(tmp_path, identity=party, fail=True)
    assert main(["verify", str(folder)]) == 1


def test_tampered_summary_is_reported_as_json(tmp_path: Path, party, capsys) -> None:
    folder, _ = make_bundle(tmp_path, identity=party)
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


def test_missing_trust_file_exits_2(tmp_path: Path, party, capsys) -> None:
    folder, _ = make_bundle(tmp_path, identity=party)
    assert main(["verify", str(folder), "--trust", str(tmp_path / "ca.pem")]) == 2
    assert "ca.pem: trust certificate file not found" in capsys.readouterr().err


def test_signature_from_an_untrusted_ca_exits_1(tmp_path: Path, party, capsys) -> None:
    folder, _ = make_bundle(tmp_path, identity=party)
    other_ca_cert, _ = make_ca("Other CA", index=8)
    from cryptography.hazmat.primitives.serialization import Encoding
    ca_file = tmp_path / "other-ca.pem"
    ca_file.write_bytes(other_ca_cert.public_bytes(Encoding.PEM))
    assert main(["verify", str(folder), "--trust", str(ca_file), "--json"]) == 1
    assert "signature.untrusted" in {f["rule"] for f in json.loads(capsys.readouterr().out)["findings"]}
