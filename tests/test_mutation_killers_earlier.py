"""The reuse chain `verify --with` follows (harness/evidence/earlier.py), on small synthetic bundles.

Every `reuse` record of a bundle must rest on an earlier bundle that is given, verifies, comes from
another party, names the same run and passed the requirement, and the signed reuse.json must grant
it. test_reuse.py shows the same end to end on real DCP runs (slow); here each rule is driven alone,
with the earlier bundles stood in by `EarlierBundle` values and one real bundle for `load_earlier`,
so that every finding is asserted field by field.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from test_verify import NOW, make_bundle, make_identity

from harness.core.errors import InputError
from harness.core.findings import Finding, short
from harness.evidence import checker, earlier
from harness.evidence.bundle import certificate_fingerprint, manifest_sha256, sign_bytes
from harness.evidence.earlier import EarlierBundle, check_chain, same_party, verify_detached
from harness.evidence.origin import Anchors, Origin

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
C = "sha256:" + "c" * 64
ME = {"role": "MDR", "dip_id": "1500000001", "mpid": "MDRA"}
DCP = {"role": "MDR", "dip_id": "1600000001", "mpid": "DCPA"}
REQ = "MDR-5.2a/IF-061/consume"


def earlier_bundle(digest: str | None = A, *, run_id: str | None = "dcp-run", party: dict | None = None,
                   verdict: str | None = "pass", problems: list[Finding] | None = None,
                   source: str = "dcp.dipcert.zip") -> EarlierBundle:
    verdicts = {REQ: {"verdict": verdict}} if verdict is not None else {}
    return EarlierBundle(source=Path(source), run_id=run_id, manifest_sha256=digest,
                         run={"party": dict(party or DCP), "system_fingerprint": {"sha256": "x"},
                              "environment": "UIT", "system": {"name": "s"}, "schema_pack": {"name": "p"}},
                         verdicts=verdicts, planned={}, problems=list(problems or []), signer="sha256:signer")


def grant(seq: int, requirement: str = REQ, run_id: str = "dcp-run", digest: str = A) -> dict[str, Any]:
    return {"seq": seq, "kind": "event", "event": "reuse",
            "data": {"requirement": requirement, "run_id": run_id, "manifest_sha256": digest}}


@pytest.fixture(scope="module")
def party():
    return make_identity("mdr.example", index=1)


@pytest.fixture
def given(monkeypatch):
    """The earlier bundles `check_chain` loads, by path; every load is recorded with its options."""
    bundles: dict[str, EarlierBundle] = {}
    loads: list[tuple[str, dict]] = []

    def load(path, **options):
        loads.append((str(path), options))
        return bundles[str(path)]

    monkeypatch.setattr(earlier, "load_earlier", load)
    return bundles, loads


def write_artefact(folder: Path, identity: Any, granted: list[tuple[str, str | None, str]] | None = None,
                   *, sign: bool = True) -> None:
    """reuse.json granting (requirement, manifest, decision) and, with `sign`, reuse.sig by `identity`."""
    folder.mkdir(parents=True, exist_ok=True)
    items = [{"id": rid, "decision": decision, "reused_from": {"run_id": "dcp-run", "manifest_sha256": digest}}
             for rid, digest, decision in (granted if granted is not None else [(REQ, A, "reused")])]
    data = json.dumps({"format": "dipcert-reuse/1", "requirements": items}).encode()
    (folder / "reuse.json").write_bytes(data)
    if sign:
        (folder / "reuse.sig").write_text(json.dumps(sign_bytes(data, identity)))


def chain(folder: Path, records: list[dict], paths: list[str], *, signer: str | None = None,
          party: dict | None = None) -> list[Finding]:
    return check_chain(folder, folder, records, None, party or ME, paths, pack="PACK", anchors=Anchors(),
                       now=NOW, signer=signer)


def test_a_chain_that_holds_has_no_findings_and_loads_each_bundle_with_the_same_anchors(tmp_path, party, given):
    bundles, loads = given
    bundles["a"] = earlier_bundle()
    write_artefact(tmp_path, party)
    signer = certificate_fingerprint(party.certificate)
    assert chain(tmp_path, [grant(4)], ["a"], signer=signer) == []
    [(path, options)] = loads
    assert path == "a" and options == {"pack": "PACK", "anchors": Anchors(), "now": NOW}


def test_bundles_given_but_not_rested_on_are_warnings(tmp_path, given):
    bundles, _ = given
    bundles.update(a=earlier_bundle(A), b=earlier_bundle(B, source="b.zip", run_id=None),
                   c=earlier_bundle(None, source="c.zip"), a2=earlier_bundle(A, source="again.zip"))
    found = chain(tmp_path, [], ["b", "a", "c", "a2"])
    assert found == [
        Finding("reuse.chain-unused", "dcp.dipcert.zip", "a bundle the reuse records rest on", "not used",
                "dcp-run was given with --with but no requirement of this bundle rests on it", "warning"),
        Finding("reuse.chain-unused", "b.zip", "a bundle the reuse records rest on", "not used",
                "b.zip was given with --with but no requirement of this bundle rests on it", "warning")]
    assert not (tmp_path / "reuse.json").exists()  # no grant: the artefact is not asked for


def test_grants_need_a_signed_artefact_that_lists_them(tmp_path, party, given):
    bundles, _ = given
    bundles["a"] = earlier_bundle()
    found = chain(tmp_path / "none", [grant(4)], ["a"])
    assert found == [Finding("reuse.chain-artefact", "reuse.json", "present", "absent",
                             "requirements are recorded as reused but the bundle has no reuse.json")]
    write_artefact(tmp_path / "unsigned", party, sign=False)
    assert chain(tmp_path / "unsigned", [grant(4)], ["a"]) == [Finding(
        "reuse.chain-signature", "reuse.sig", "a signature over reuse.json", "missing or invalid",
        "reuse.json is not signed, or its signature does not verify")]
    write_artefact(tmp_path / "other", party)
    signed_by = certificate_fingerprint(party.certificate)
    assert chain(tmp_path / "other", [grant(4)], ["a"], signer="sha256:" + "0" * 64) == [Finding(
        "reuse.chain-signature", "reuse.sig", "sha256:" + "0" * 64, signed_by,
        "reuse.json is signed by another certificate than the bundle")]
    assert chain(tmp_path / "other", [grant(4)], ["a"], signer=None) == []  # nothing to compare with
    (tmp_path / "other" / "reuse.json").write_text((tmp_path / "other" / "reuse.json").read_text() + " ")
    assert [f.rule for f in chain(tmp_path / "other", [grant(4)], ["a"], signer=signed_by)] == \
        ["reuse.chain-signature"]  # edited after signing


@pytest.mark.parametrize("granted", [
    [], [(REQ, B, "reused")], [(REQ, A, "live")], [("MDR-5.2a/IF-063/consume", A, "reused")],
])
def test_a_reuse_the_artefact_does_not_grant_is_named(tmp_path, party, given, granted):
    bundles, _ = given
    bundles["a"] = earlier_bundle()
    write_artefact(tmp_path, party, granted)
    assert chain(tmp_path, [grant(7)], ["a"], signer=certificate_fingerprint(party.certificate)) == [Finding(
        "reuse.chain-artefact", "evidence.jsonl#seq=7", f"{REQ} reused in reuse.json", "not listed",
        f"{REQ} is recorded as reused but the signed reuse.json does not grant it", extra={"requirement": REQ})]


def test_a_misshapen_artefact_is_refused(tmp_path, party, given):
    given[0]["a"] = earlier_bundle()
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "reuse.json").write_text(json.dumps({"format": "other", "requirements": []}))
    with pytest.raises(InputError, match="reuse.json"):
        chain(tmp_path, [grant(4)], ["a"])
    write_artefact(tmp_path, party)
    (tmp_path / "reuse.sig").write_text(json.dumps({"certificate_pem": "x"}))
    with pytest.raises(InputError, match="reuse.sig"):
        chain(tmp_path, [grant(4)], ["a"])


def test_earlier_bundles_not_given_are_named_once_per_bundle(tmp_path, party, given):
    write_artefact(tmp_path, party, [(REQ, A, "reused"), ("R2", A, "reused"), ("R3", B, "reused")])
    records = [grant(3, REQ), grant(4, "R2", run_id="dcp-run-2"), grant(5, "R3", digest=B), {"kind": "check"},
               {"kind": "event", "event": "plan", "data": {}}]
    found = chain(tmp_path, records, [], signer=certificate_fingerprint(party.certificate))
    assert found == [
        Finding("reuse.chain-missing", "", short(f"the earlier bundle {A} (give it with --with)"), "not given",
                f"2 requirement(s) rest on run dcp-run, dcp-run-2 (manifest {A[:19]}...), which was not given, so "
                "the chain cannot be checked", extra={"manifest_sha256": A, "requirements": [REQ, "R2"]}),
        Finding("reuse.chain-missing", "", short(f"the earlier bundle {B} (give it with --with)"), "not given",
                f"1 requirement(s) rest on run dcp-run (manifest {B[:19]}...), which was not given, so the chain "
                "cannot be checked", extra={"manifest_sha256": B, "requirements": ["R3"]})]


def test_an_earlier_bundle_that_does_not_verify_is_named_with_its_first_problem(tmp_path, party, given):
    bundles, _ = given
    problems = [Finding("bundle.hash", "summary.json", "x", "y", "summary.json changed"),
                Finding("evidence.chain", "e", "x", "y", "second")]
    # unsound AND of the same party, another run, failed: the unsoundness alone is reported
    bundles["a"] = earlier_bundle(problems=problems, party=ME, run_id="other", verdict="fail")
    write_artefact(tmp_path, party)
    assert chain(tmp_path, [grant(4)], ["a"]) == [Finding(
        "reuse.chain-unsound", "evidence.jsonl#seq=4", "an earlier bundle that verifies", "2 error(s)",
        f"{REQ} rests on other, which does not verify (bundle.hash: summary.json changed)",
        extra={"requirement": REQ})]


@pytest.mark.parametrize("theirs, shared", [
    ({"dip_id": ME["dip_id"], "mpid": "OTHR"}, f"DIP ID {ME['dip_id']}"),
    ({"dip_id": "1999999999", "mpid": ME["mpid"]}, f"MPID {ME['mpid']}"),
    ({"dip_id": ME["dip_id"], "mpid": ME["mpid"]}, f"DIP ID {ME['dip_id']}"),
])
def test_reuse_must_rest_on_another_party(tmp_path, party, given, theirs, shared):
    given[0]["a"] = earlier_bundle(party=theirs)
    write_artefact(tmp_path, party)
    assert chain(tmp_path, [grant(4)], ["a"]) == [Finding(
        "reuse.chain-same-party", "evidence.jsonl#seq=4", "an earlier bundle of another party", shared,
        f"{REQ} rests on dcp-run, a run of the same party ({shared}); reuse must rest on evidence produced with "
        "another party (guidance 5.4 / 6.4)", extra={"requirement": REQ})]


def test_same_party_compares_dip_id_then_mpid_and_never_empty_values():
    assert same_party({"dip_id": "1", "mpid": "M"}, {"dip_id": "1", "mpid": "M"}) == "DIP ID 1"
    assert same_party({"dip_id": "1", "mpid": "M"}, {"dip_id": "2", "mpid": "M"}) == "MPID M"
    assert same_party({"dip_id": "1", "mpid": "M"}, {"dip_id": "2", "mpid": "N"}) is None
    assert same_party({"dip_id": "", "mpid": None}, {"dip_id": "", "mpid": None}) is None
    assert same_party({}, {}) is None


def test_the_run_and_the_verdict_must_be_the_ones_reused(tmp_path, party, given):
    bundles, _ = given
    bundles["a"] = earlier_bundle(run_id="dcp-run-9", verdict="fail")
    write_artefact(tmp_path, party)
    assert chain(tmp_path, [grant(4)], ["a"]) == [
        Finding("reuse.chain-run-id", "evidence.jsonl#seq=4", "dcp-run-9", "dcp-run",
                f"{REQ}: the reuse record names run dcp-run, the bundle is dcp-run-9", extra={"requirement": REQ}),
        Finding("reuse.chain-verdict", "evidence.jsonl#seq=4", "pass", "fail", f"{REQ} rests on dcp-run-9, where it "
                "was fail", extra={"requirement": REQ})]
    bundles["a"] = earlier_bundle(verdict=None)  # the requirement is not in the earlier bundle at all
    assert chain(tmp_path, [grant(4)], ["a"]) == [
        Finding("reuse.chain-verdict", "evidence.jsonl#seq=4", "pass", "None", f"{REQ} rests on dcp-run, where it "
                "was None", extra={"requirement": REQ})]


def test_verify_detached_returns_the_signer_only_for_a_signature_that_verifies(party):
    data = b'{"format":"dipcert-reuse/1"}'
    doc = sign_bytes(data, party)
    assert verify_detached(data, doc) == certificate_fingerprint(party.certificate)
    assert verify_detached(data + b" ", doc) is None
    assert verify_detached(data, dict(doc, algorithm="other")) is None
    assert verify_detached(data, dict(doc, signature_b64="not base64!")) is None
    assert verify_detached(data, dict(doc, certificate_pem="not a certificate")) is None
    assert verify_detached(data, {"signature_b64": doc["signature_b64"]}) is None
    assert verify_detached(data, dict(doc, certificate_pem="caf\u00e9")) is None


def test_an_earlier_bundle_knows_its_party_and_says_what_it_is():
    b = earlier_bundle(problems=[Finding("x.y", "p", "e", "a", f"m{i}") for i in range(25)], run_id=None)
    assert not b.sound and earlier_bundle().sound
    assert b.party == DCP and b.party is not b.run["party"] and b.fingerprint == {"sha256": "x"}
    assert b.label == "dcp.dipcert.zip" and earlier_bundle().label == "dcp-run"
    summary = b.summary()
    assert summary == {"source": "dcp.dipcert.zip", "run_id": None, "manifest_sha256": A, "party": DCP,
                       "environment": "UIT", "system": {"name": "s"}, "system_fingerprint": {"sha256": "x"},
                       "schema_pack": {"name": "p"}, "signer": "sha256:signer", "origin": Origin().to_dict(),
                       "sound": False, "problems": [f.to_dict() for f in b.problems[:20]]}
    empty = EarlierBundle(Path("x"), None, None, {}, {}, {}, [])
    assert empty.party == {} and empty.fingerprint == {}


@pytest.fixture
def real(tmp_path, monkeypatch, party):
    """A whole synthetic bundle (test_verify's), its plan taken as recorded (it has no real profile)."""
    monkeypatch.setattr(checker, "plan_from_recorded_profile", lambda data: data["requirements"])
    return make_bundle(tmp_path, identity=party)


def test_load_earlier_verifies_a_folder_or_zip_as_verify_does(real, party, monkeypatch, tmp_path):
    folder, archive = real
    scratch: list[Path] = []
    mkdtemp = tempfile.mkdtemp

    def spy(*args, **kw):
        scratch.append(Path(mkdtemp(*args, **kw)))
        return str(scratch[-1])

    monkeypatch.setattr(earlier.tempfile, "mkdtemp", spy)
    for path in (folder, archive):
        b = earlier.load_earlier(path, now=NOW)
        assert b.sound and b.problems == [], [str(f) for f in b.problems]
        assert (b.source, b.run_id, b.manifest_sha256) == (path, "run-1", manifest_sha256(folder))
        assert b.signer == certificate_fingerprint(party.certificate) and b.origin.status == "unverified"
        assert b.verdicts[REQ]["verdict"] == "pass" and set(b.planned) == {
            REQ, "MDR-5.2b/IF-062/produce", "MDR-5.2b/IF-065/produce"}
        assert b.run["run_id"] == "run-1" and b.run is not None
    assert len(scratch) == 1 and not scratch[0].exists()  # only the zip is unpacked, and the copy removed
    anchored = earlier.load_earlier(folder, anchors=Anchors(integrity_only=True), now=NOW)
    assert anchored.origin.status == "not-checked"
    (folder / "summary.json").write_text((folder / "summary.json").read_text() + " ")
    assert [f.rule for f in earlier.load_earlier(folder, now=NOW).problems] == ["bundle.hash"]
    (folder / "manifest.json").unlink()
    b = earlier.load_earlier(folder, now=NOW)
    assert b.manifest_sha256 is None and b.run_id == "run-1"  # from the run-start record
    assert "bundle.manifest" in [f.rule for f in b.problems]


def test_load_earlier_uses_the_pack_given_or_the_bundled_one(real, monkeypatch):
    folder, _ = real
    seen: list[Any] = []
    original = earlier.check_bundle

    def spy(*args, **kw):
        seen.append((kw["pack"], kw["revalidate"] is not None, kw["now"], kw["limits"]))
        return original(*args, **kw)

    monkeypatch.setattr(earlier, "check_bundle", spy)
    marker = earlier.load_pack(None)
    earlier.load_earlier(folder, pack=marker, now=NOW)
    earlier.load_earlier(folder, now=NOW)
    assert seen[0][0] is marker and seen[1][0] is not None and seen[1][0].fingerprint == marker.fingerprint
    assert all(s[1] and s[2] == NOW and s[3] is earlier.DEFAULT_LIMITS for s in seen)
