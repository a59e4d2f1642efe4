"""verify at scale (issue 16): limits that grow with the bundle, and a one-pass check that still sees
every message. How fast and how much memory is `bench/verify.py`'s business, not a timed test here:
these bundles are small, and the fixed member cap is lowered to match them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_verify import (
    API_KEY,
    ATTESTATION,
    DIGEST,
    NOW,
    PACK,
    PLAN,
    PROFILE,
    Identity,
    body_of,
    make_identity,
    make_summary,
    rules,
    verify_bundle,
    write_report,
)

from harness.core.errors import InputError
from harness.evidence.bundle import certificate_fingerprint, finalise_bundle, write_summary
from harness.evidence.recorder import Recorder
from harness.evidence.revalidate import make_revalidator
from harness.evidence.safezip import Limits
from harness.messages.samples import SampleFactory
from harness.messages.schemapack import load_pack

EXCHANGES = 41  # 82 body files in the layout of a file per body: over the lowered cap below
SMALL = Limits(max_members=50)
MIDDLE = 22  # the seq of the middle exchange (seq 1 run-start, 2 plan, then one exchange per seq)


def record_many(folder: Path, identity: Identity, *, invalid_at: int | None = None, layout: str = "files") -> None:
    """A run that submitted EXCHANGES valid IF-061 messages (one of them invalid, if asked), all judged passed.
    Its bodies a file each by default: the layout whose member count grows with the messages, which
    the scaling limits are for (bundles written before segments); `layout="segments"`: as a run writes."""
    rec = Recorder(folder, secrets=[API_KEY], run={"run_id": "run-1", "profile": PROFILE, "profile_digest": DIGEST,
                                                    "signer_certificate_sha256": certificate_fingerprint(
                                                        identity.certificate)}, layout=layout)
    rec.event("plan", requirements=PLAN, profile_digest=DIGEST, profile=PROFILE)
    item = SampleFactory(3).message("IF-061", "MDRStart")
    seqs = []
    for _ in range(EXCHANGES):
        body = json.dumps([item]).encode()
        if rec.seq + 1 == invalid_at:
            body = json.dumps([{"payload": {"CommonBlock": {"S0": {"interfaceID": "IF-061"}}}}]).encode()
        seqs.append(rec.http(channel="hub-inbound", method="POST", url="https://127.0.0.1:9/webhook/IF-061",
                             request_headers={"Content-Type": "application/json"}, request_body=body, status=200,
                             response_body=b'{"responseCode":"RCP0000"}', started=NOW, elapsed_ms=1.0))
    rec.check(PLAN[0]["id"], "webhook.accepts-valid", True, messages=seqs)
    rec.check(PLAN[1]["id"], "api.produces-valid", True)
    rec.close()


def many_bundle(root: Path, identity: Identity, **options) -> tuple[Path, Path]:
    folder = root / "run-1"
    record_many(folder, identity, **options)
    summary = make_summary(folder, "run-1")
    write_summary(folder, summary)
    write_report(folder, summary["requirements"])
    archive = finalise_bundle(folder, run_id="run-1", harness_version="0.1.0", schema_pack=PACK,
                              profile_digest=DIGEST, started="2026-05-01T12:00:00Z", finished="2026-05-01T12:05:00Z",
                              attestation=ATTESTATION, identity=identity, ready=summary["ready"])
    return folder, archive


@pytest.fixture(scope="module")
def identity() -> Identity:
    return make_identity()


def test_a_segmented_bundle_holds_a_few_members_whatever_its_messages(tmp_path: Path, identity: Identity) -> None:
    folder, archive = many_bundle(tmp_path, identity, layout="segments")
    assert [p.name for p in (folder / "messages").iterdir()] == ["bodies-0001.bin"]
    for bundle in (archive, folder):
        result = verify_bundle(bundle, integrity_only=True, limits=Limits(max_members=10), now=NOW)
        assert result.sound and result.ready_by_evidence, [f.message for f in result.findings]


def test_a_zip_with_more_members_than_the_fixed_cap_verifies(tmp_path: Path, identity: Identity) -> None:
    folder, archive = many_bundle(tmp_path, identity)
    assert len(list((folder / "messages").iterdir())) == 2 * EXCHANGES > SMALL.max_members
    for bundle in (archive, folder):
        result = verify_bundle(bundle, integrity_only=True, limits=SMALL, now=NOW)
        assert result.sound and result.ready_by_evidence, [f.message for f in result.findings]


def test_members_beyond_what_the_manifest_can_list_are_still_refused(tmp_path: Path, identity: Identity) -> None:
    """The cap follows the manifest's size: the same members beside a manifest too small to list them are refused."""
    import zipfile

    _folder, archive = many_bundle(tmp_path, identity)
    hostile = tmp_path / "hostile.dipcert.zip"
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(hostile, "w") as out:
        for info in source.infolist():
            out.writestr(info, b'{"files": {}}' if info.filename.endswith("/manifest.json") else source.read(info))
    with pytest.raises(InputError, match=r"hostile.dipcert.zip: 8\d members, more than the limit of 50 "):
        verify_bundle(hostile, integrity_only=True, limits=SMALL, now=NOW)


def test_a_manifest_listing_more_than_the_folder_holds_is_refused(tmp_path: Path, identity: Identity) -> None:
    folder, _archive = many_bundle(tmp_path, identity)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"].update({f"messages/{n}-request.bin": "0" * 64 for n in range(1000, 1100)})
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match=r"manifest.json: lists 185 files, more than the limit of 87; refused"):
        verify_bundle(folder, integrity_only=True, limits=SMALL, now=NOW)


@pytest.mark.parametrize("layout", ["files", "segments"])
def test_a_message_changed_in_the_middle_is_found(tmp_path: Path, identity: Identity, layout: str) -> None:
    folder, _archive = many_bundle(tmp_path, identity, layout=layout)
    body = body_of(folder, MIDDLE, "request")
    name, at = body["file"], body.get("offset", 0)
    data = (folder / name).read_bytes()
    (folder / name).write_bytes(data[:at] + data[at:].replace(b"IF-061", b"IF-06l", 1))
    result = verify_bundle(folder, integrity_only=True, limits=SMALL, now=NOW)
    assert {(f.rule, f.path) for f in result.findings if f.severity == "error"} == {
        ("bundle.hash", name), ("evidence.body-hash", name + (f"#offset={at}" if layout == "segments" else ""))}
    assert not any(r["kind"] == "http" for r in result.records)  # read, checked and let go


@pytest.mark.parametrize("layout", ["files", "segments"])
def test_an_invalid_message_in_the_middle_contradicts_the_passing_check(tmp_path: Path, identity: Identity,
                                                                        layout: str) -> None:
    folder, _archive = many_bundle(tmp_path, identity, invalid_at=MIDDLE, layout=layout)
    pack = load_pack(None)
    result = verify_bundle(folder, integrity_only=True, limits=SMALL, now=NOW, pack=pack,
                           revalidate=make_revalidator(pack))
    contradicted = [f for f in result.findings if f.rule == "revalidate.disagrees"]
    assert [f.path for f in contradicted] == [f"evidence.jsonl#seq={MIDDLE}"]
    assert set(result.revalidation) == {MIDDLE}


def test_bodies_of_records_after_removed_ones_are_still_referenced(tmp_path: Path, identity: Identity) -> None:
    """Records whose seq runs ahead of their line (three removed before them) still name their bodies;
    only the removed records' bodies are orphans."""
    folder, _archive = many_bundle(tmp_path, identity)
    log = folder / "evidence.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    removed = [MIDDLE, MIDDLE + 1, MIDDLE + 2]
    log.write_bytes(b"".join(line for number, line in enumerate(lines, start=1) if number not in removed))
    result = verify_bundle(folder, integrity_only=True, limits=SMALL, now=NOW)
    orphans = sorted(f.path for f in result.findings if f.rule == "evidence.unreferenced-body")
    assert orphans == sorted(f"messages/{seq}-{side}.bin" for seq in removed for side in ("request", "response"))
    assert "evidence.body-missing" not in rules(result)
