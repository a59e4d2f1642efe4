"""Bundle: manifest, detached signature, reproducible zip; safe opening of hostile bundles."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from test_verify import (
    ATTESTATION,
    NOW,
    PACK,
    Identity,
    body_of,
    flip_body_byte,
    make_bundle,
    make_identity,
    rules,
    verify_bundle,
)

from harness.core.errors import ConfigError, InputError
from harness.evidence.bundle import certificate_fingerprint, finalise_bundle, manifest_sha256
from harness.evidence.safezip import Limits, open_bundle
from harness.report.bodies import read_body


@pytest.fixture(scope="module")
def party() -> Identity:
    return make_identity()


def test_manifest_lists_every_file_and_the_run(tmp_path: Path, party: Identity) -> None:
    folder, archive = make_bundle(tmp_path, identity=party)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format"] == "dipcert-bundle/1" and manifest["run_id"] == "run-1"
    assert manifest["attestation"] == ATTESTATION and manifest["schema_pack"] == PACK
    assert manifest["ready"] is True and len(manifest["redaction"]["salt"]) == 32
    expected = {"evidence.jsonl", "summary.json", "report.html", "messages/bodies-0001.bin"}  # 4 bodies, 1 segment
    assert set(manifest["files"]) == expected
    for rel, digest in manifest["files"].items():
        assert hashlib.sha256((folder / rel).read_bytes()).hexdigest() == digest
    sig = json.loads((folder / "manifest.sig").read_text())
    assert sig["algorithm"] == "RSA-PKCS1v15-SHA256" and "BEGIN CERTIFICATE" in sig["certificate_pem"]
    assert archive == tmp_path / "run-1.dipcert.zip"
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
        assert names == sorted(names) and "run-1/manifest.json" in names and "run-1/manifest.sig" in names
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert manifest_sha256(folder) == "sha256:" + hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()


def test_the_zip_is_byte_reproducible(tmp_path: Path, party: Identity) -> None:
    folder, archive = make_bundle(tmp_path, identity=party)
    first = archive.read_bytes()
    os.utime(folder / "summary.json", (0, 0))  # file times must not matter
    manifest = json.loads((folder / "manifest.json").read_text())
    again = finalise_bundle(folder, run_id="run-1", harness_version="0.1.0", schema_pack=PACK,
                            profile_digest=manifest["profile_digest"], started=manifest["started"],
                            finished=manifest["finished"], attestation=ATTESTATION, identity=party, ready=True)
    assert again.read_bytes() == first


def test_an_ec_identity_signs_and_verifies(tmp_path: Path, party: Identity) -> None:
    from test_verify import _cert, make_ca

    ca_cert, ca_key = make_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert("ec.example", key, "Test CA", ca_key)
    identity = Identity(key, cert, cert.public_bytes(serialization.Encoding.PEM))
    folder, archive = make_bundle(tmp_path, identity=identity)
    assert json.loads((folder / "manifest.sig").read_text())["algorithm"] == "ECDSA-SHA256"
    result = verify_bundle(archive, trust=[ca_cert], signers=[certificate_fingerprint(cert)], now=NOW)
    assert result.findings == [] and result.exit_code == 0


@pytest.mark.parametrize("change, message", [
    ({"name": ""}, "attestation: missing field 'name'"),
    ({"expires": "soon"}, "not a date"),
])
def test_an_incomplete_attestation_is_a_config_error(tmp_path: Path, change: dict, message: str) -> None:
    (tmp_path / "run").mkdir()
    with pytest.raises(ConfigError, match=message):
        finalise_bundle(tmp_path / "run", run_id="run", harness_version="0", schema_pack=PACK, profile_digest=None,
                        started=NOW, finished=NOW, attestation={**ATTESTATION, **change}, ready=False)


def test_a_run_id_that_is_not_a_file_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    with pytest.raises(ConfigError, match="run id"):
        finalise_bundle(tmp_path / "run", run_id="../evil", harness_version="0", schema_pack=PACK,
                        profile_digest=None, started=NOW, finished=NOW, attestation=ATTESTATION, ready=False)


# -- hostile input -------------------------------------------------------------------------------
def _zip(path: Path, members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in members:
            z.writestr(info, data)
    return path


def _symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = 0o120777 << 16
    return info


@pytest.mark.parametrize("members, limits, message", [
    ([("run/manifest.json", b"{}"), ("../../evil.txt", b"x")], Limits(), "'../../evil.txt' climbs out"),
    ([("/etc/cron.d/evil", b"x")], Limits(), "'/etc/cron.d/evil' has an absolute path"),
    ([("run/manifest.json", b"{}"), (_symlink("run/evidence.jsonl"), b"/etc/passwd")], Limits(),
     "'run/evidence.jsonl' is a symbolic link"),
    ([("run/evidence.jsonl", b"\0" * (4 * 1024 * 1024))], Limits(), "'run/evidence.jsonl' expands"),
    ([("run/big.bin", os.urandom(2000))], Limits(max_member_bytes=1000), "'run/big.bin' is 2000 bytes"),
    ([(f"run/{i}.bin", b"x") for i in range(6)], Limits(max_members=5), "6 members"),
    ([("run/a.bin", b"x" * 600), ("run/b.bin", b"x" * 600)], Limits(max_total_bytes=1000), "total over 1000"),
    ([("run\\..\\evil", b"x")], Limits(), "backslash"),
])
def test_hostile_zips_are_refused_with_one_line(tmp_path: Path, members: list, limits: Limits,
                                                message: str) -> None:
    archive = _zip(tmp_path / "hostile.dipcert.zip", members)
    target = tmp_path / "out"
    with pytest.raises(InputError) as caught:
        open_bundle(archive, into=target, limits=limits)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "evil.txt").exists()
    assert not any(p.is_symlink() for p in target.rglob("*")) if target.exists() else True


def test_duplicate_members_are_refused(tmp_path: Path) -> None:
    with pytest.warns(UserWarning):
        archive = _zip(tmp_path / "dup.zip", [("run/summary.json", b"{}"), ("run/summary.json", b"[]")])
    with pytest.raises(InputError, match="appears twice"):
        open_bundle(archive, into=tmp_path / "out")


def test_a_member_lying_about_its_size_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
        z.writestr("run/evidence.jsonl", b"A" * 5000)
    data = bytearray(buffer.getvalue())
    # shrink the declared uncompressed size in the central directory to 10 bytes
    central = data.rfind(b"PK\x01\x02")
    data[central + 24:central + 28] = (10).to_bytes(4, "little")
    (tmp_path / "liar.zip").write_bytes(bytes(data))
    with pytest.raises(InputError, match="run/evidence.jsonl"):
        open_bundle(tmp_path / "liar.zip", into=tmp_path / "out")


def test_a_symlink_inside_a_bundle_folder_is_refused(tmp_path: Path, party: Identity) -> None:
    folder, _ = make_bundle(tmp_path, identity=party)
    secret = tmp_path / "outside.txt"
    secret.write_text("not yours")
    (folder / "messages" / "bodies-0001.bin").unlink()
    (folder / "messages" / "bodies-0001.bin").symlink_to(secret)
    with pytest.raises(InputError, match="'messages/bodies-0001.bin' is a symbolic link"):
        verify_bundle(folder, now=NOW)


def test_a_hostile_zip_fails_verify_with_input_error(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "x.dipcert.zip", [("../x", b"x")])
    with pytest.raises(InputError, match="zip-slip"):
        verify_bundle(archive)


def _rezip(archive: Path, out: Path, change: dict[str, bytes]) -> Path:
    """`archive` written again with the members named in `change` (without the run folder) replaced."""
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            rel = info.filename.split("/", 1)[1]
            dst.writestr(info, change.get(rel, src.read(info)))
    return out


@pytest.mark.parametrize("layout", ["segments", "files"])
def test_verify_reads_a_zips_bodies_in_place_without_extracting_them(tmp_path: Path, party: Identity,
                                                                     layout: str) -> None:
    from harness.evidence.members import open_zip

    folder, archive = make_bundle(tmp_path, identity=party, layout=layout)
    opened, members = open_zip(archive, tmp_path / "scratch")
    try:
        assert opened == tmp_path / "scratch" / "run-1" and (opened / "manifest.json").is_file()
        assert not (opened / "messages").exists()  # the bodies stay in the zip
        assert sorted(members.names("messages")) == sorted(p.relative_to(folder).as_posix()
                                                           for p in (folder / "messages").iterdir())
        for seq, side in ((3, "request"), (3, "response"), (5, "request"), (3, "request")):  # forward, then back
            body = body_of(folder, seq, side)
            assert members.read_range(body["file"], body.get("offset", 0), body["size"]) == \
                read_body(folder, body) != b""
        name = body_of(folder, 3, "request")["file"]
        assert members.sha256(name) == hashlib.sha256((folder / name).read_bytes()).hexdigest()
        assert members.size(name) == (folder / name).stat().st_size
    finally:
        members.close()
    assert rules(verify_bundle(archive, now=NOW)) == set()


def test_a_segment_read_to_its_end_in_place_is_hashed_on_the_way(tmp_path: Path, party: Identity,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """verify inflates a zipped segment once: the bytes its bodies pass give the manifest's hash too."""
    from harness.evidence import members as M

    folder, archive = make_bundle(tmp_path, identity=party)
    opened, members = M.open_zip(archive, tmp_path / "scratch")
    try:
        for seq, side in ((3, "request"), (5, "response")):  # the first body, then the last: to the end
            body = body_of(folder, seq, side)
            members.read_range(body["file"], body["offset"], body["size"])
        monkeypatch.setattr(M, "read_member", lambda *a, **k: pytest.fail("inflated a second time"))
        segment = body_of(folder, 3, "request")["file"]
        assert members.sha256(segment) == hashlib.sha256((folder / segment).read_bytes()).hexdigest()
    finally:
        members.close()


@pytest.mark.parametrize("layout", ["segments", "files"])
def test_a_body_changed_inside_the_zip_is_found_when_read_in_place(tmp_path: Path, party: Identity,
                                                                  layout: str) -> None:
    folder, archive = make_bundle(tmp_path, identity=party, layout=layout)
    name = flip_body_byte(folder, 5, "request")
    changed = _rezip(archive, tmp_path / "changed.dipcert.zip", {name: (folder / name).read_bytes()})
    found = verify_bundle(changed, now=NOW)
    assert {(f.rule, f.path) for f in found.findings if f.severity == "error"} == {
        ("bundle.hash", name),
        ("evidence.body-hash",
         name + (f"#offset={body_of(folder, 5, 'request')['offset']}" if layout == "segments" else ""))}


def test_a_body_lying_about_its_size_inside_the_zip_is_refused_when_read_in_place(tmp_path: Path,
                                                                                 party: Identity) -> None:
    _folder, archive = make_bundle(tmp_path, identity=party)
    name = b"run-1/messages/bodies-0001.bin"
    data = bytearray(archive.read_bytes())
    central = data.find(b"PK\x01\x02")
    while data[central + 46:central + 46 + len(name)] != name:  # the member's central directory entry
        central = data.find(b"PK\x01\x02", central + 4)
        assert central > 0
    data[central + 24:central + 28] = (10).to_bytes(4, "little")  # declares 10 bytes, holds more
    (tmp_path / "liar.dipcert.zip").write_bytes(bytes(data))
    with pytest.raises(InputError) as caught:
        verify_bundle(tmp_path / "liar.dipcert.zip", now=NOW)
    message = str(caught.value)  # zipfile stops at the declared size, and the CRC then cannot hold
    assert "'run-1/messages/bodies-0001.bin'" in message and "\n" not in message
    assert "corrupt" in message or "expands beyond" in message


def test_an_extracted_zip_is_cleaned_up(tmp_path: Path, party: Identity, monkeypatch: pytest.MonkeyPatch) -> None:
    _, archive = make_bundle(tmp_path, identity=party)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    assert rules(verify_bundle(archive, now=NOW)) == set()
    assert list(scratch.iterdir()) == []
