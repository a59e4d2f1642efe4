"""`dipcert reuse` (guidance 5.4 / 6.4): a DCP certifies party A on the reference MDR, then party B on
the same system rests on A's evidence; every refusal is a finding and what is refused runs live."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config.fingerprint import differences, system_fingerprint
from harness.config.profile import load_profile
from harness.core.errors import UsageError
from harness.evidence.reuse import ARTEFACT, ARTEFACT_SIGNATURE, decide, load_earlier, parse_attestation
from harness.evidence.verify import verify_bundle
from harness.messages.samples import DEFAULT_PARTIES, Party
from harness.run.demo import DemoPKI, free_port, make_pki, profile_text, run_party

TIMEOUT = 2.0
ATTESTED = "Dee Cee, dipcert DCP Ltd"
B = Party("MDR", "1650000999", "MDRZ")
# Without IF-061/IF-065 no exchange opens, so the faulty run fails only the IF-064 produce requirement.
FAULTY_IFS = ("IF-062", "IF-063", "IF-064")


def only(text: str, interfaces: tuple[str, ...] | None) -> str:
    """The demo profile with only `interfaces` enabled (None: all)."""
    if interfaces is None:
        return text
    return re.sub(r'^(IF-\d{3}) = "Y"$', lambda m: f'{m.group(1)} = "{"Y" if m.group(1) in interfaces else "N"}"',
                  text, flags=re.M)


def run_a(pki: DemoPKI, out: Path, *, faults=(), interfaces=None, environment="UIT"):
    """Party A on the reference MDR (demo.run_party, with the profile edited)."""
    import harness.run.demo as demo

    original = demo.profile_text

    def edited(*args, **kw):
        return only(original(*args, **kw), interfaces).replace('environment = "UIT"', f'environment = "{environment}"')

    demo.profile_text = edited
    try:
        return run_party("MDR", pki, out, faults=faults, timeout=TIMEOUT)
    finally:
        demo.profile_text = original


@dataclasses.dataclass
class PartyB:
    profile: Path
    port: int
    keys: tuple[str, str]
    identity: object
    ca: Path  # the CA that issued B's signing certificate (what a reviewer trusts for B's bundle)
    earlier_ca: Path  # the demo CA, which issued party A's (the earlier bundles' signer)


def write_b(pki: DemoPKI, folder: Path, *, interfaces=None, version="1.0.0", role="MDR") -> PartyB:
    """Party B: its own DIP ID, MPID, API keys and signing certificate; the same [system] as A."""
    from harness.transport.apikeys import generate_api_key
    from harness.transport.certs import cached_key, make_ca

    folder.mkdir(parents=True, exist_ok=True)
    ca = make_ca("party B CA", key=cached_key("reuse-b-ca"))
    ca_path = ca.write(folder, "b-ca")
    issued = ca.issue("party-b.dipcert", key=cached_key("reuse-b"))
    cert, key = issued.write(folder, "b-signing")
    keys = (generate_api_key(), generate_api_key())
    for slot, value in zip(("primary", "secondary"), keys):
        (folder / f"b-api-key-{slot}").write_text(value + "\n", encoding="utf-8")
    port = free_port()
    text = only(profile_text(role, pki, hub_port=free_port(), port=port, timeout=TIMEOUT), interfaces)
    me = DEFAULT_PARTIES[role]
    text = (text.replace(me.dip_id, B.dip_id if role == "MDR" else "1450000999")
            .replace(f'mpid = "{me.mpid}"', 'mpid = "MDRZ"' if role == "MDR" else 'mpid = "SDSZ"')
            .replace(f"{role.lower()}-api-key", "b-api-key")
            .replace(f'"{pki.files[role][0].name}"', f'"{cert.name}"')
            .replace(f'"{pki.files[role][1].name}"', f'"{key.name}"')
            .replace(f'name = "dipcert-reference-{role.lower()}"', 'name = "dipcert-reference-mdr"')
            .replace('version = "1.0.0"', f'version = "{version}"'))
    for name in ("ca-cert.pem",):
        if (pki.folder / name).exists():
            shutil.copy(pki.folder / name, folder / name)
    path = folder / "party-b.toml"
    path.write_text(text, encoding="utf-8")
    return PartyB(path, port, keys, issued.identity(), ca_path, a_ca(pki))


def a_ca(pki: DemoPKI) -> Path:
    """The demo CA's certificate: it issued party A's signing certificate (the earlier bundles')."""
    return pki.folder / "ca.crt"


def anchors_for(pki: DemoPKI, b: PartyB) -> dict:
    """verify's anchors for B's bundle and A's: both CAs trusted, both signing certificates pinned."""
    from cryptography import x509

    from harness.evidence.bundle import certificate_fingerprint

    return {"trust": [pki.ca, x509.load_pem_x509_certificate(b.ca.read_bytes())],
            "signers": [pki.signer("MDR"), certificate_fingerprint(b.identity.certificate)]}


def anchor_args(pki: DemoPKI, b: PartyB) -> list[str]:
    """The same anchors as `dipcert verify` options."""
    from harness.evidence.bundle import certificate_fingerprint

    return ["--trust", str(a_ca(pki)), "--trust", str(b.ca), "--signer", pki.signer("MDR"),
            "--signer", certificate_fingerprint(b.identity.certificate)]


def reuse_b(b: PartyB, sources, out: Path, *, unchanged: str | None = ATTESTED, trust=None) -> int:
    """`dipcert reuse` for B, with the reference MDR playing B's system on B's own port and keys."""
    from harness.commands import reuse
    from harness.dip.identity import dip_folder, load_or_create
    from harness.reference.participant import ReferenceParticipant

    profile = load_profile(b.profile)
    dip, _ = load_or_create(dip_folder())  # the one `dipcert reuse` uses without --dip-key
    participant = ReferenceParticipant(
        "MDR", party=B, partner=DEFAULT_PARTIES["SDS"], hub_url=f"http://127.0.0.1:{profile.harness.hub_port}",
        api_keys=b.keys, identity=b.identity, dip_certificate=dip.certificate, port=b.port,
        register_webhooks=False, client_timeout=TIMEOUT, slow_seconds=TIMEOUT * 3)
    args = argparse.Namespace(profile=b.profile, sources=[Path(s) for s in sources], out=out, unchanged=unchanged,
                              attested_by="Bee Party, test lead", spec=None, trust=trust or [b.earlier_ca],
                              signer=[], integrity_only=False, timeout=TIMEOUT, dip_key=None)
    with participant:
        return reuse.run(args)


def bundle_of(out: Path) -> Path:
    return next(p for p in out.iterdir() if p.is_dir() and not p.name.startswith("."))


def summary(folder: Path) -> dict:
    return {r["id"]: r for r in json.loads((folder / "summary.json").read_text())["requirements"]}


def decision(plan, rid: str):
    return plan.decisions[rid]


def rules_of(findings) -> set[str]:
    return {f.rule for f in findings}


# -- the earlier runs (each certified once per module) ------------------------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("reuse")
    pki = make_pki(work / "pki")
    return work, pki


@pytest.fixture(scope="module")
def a(world):
    work, pki = world
    result = run_a(pki, work / "a")
    assert result.ready, result.summary.get("blockers")
    return result


@pytest.fixture(scope="module")
def a_loaded(world, a):
    from harness.evidence.origin import Anchors

    _work, pki = world
    return load_earlier(a.zip_path, anchors=Anchors(trust=(pki.ca,), signers=(pki.signer("MDR"),)))


@pytest.fixture(scope="module")
def a_faulty(world):
    """A whose system had a fault: IF-064 responses with 47 periods fail MDR-5.2b/IF-064/produce."""
    work, pki = world
    result = run_a(pki, work / "a-faulty", faults=["47-periods"], interfaces=FAULTY_IFS)
    assert result.verdicts["MDR-5.2b/IF-064/produce"] == "fail"
    return result


@pytest.fixture(scope="module")
def a_fewer(world):
    work, pki = world
    return run_a(pki, work / "a-fewer", interfaces=("IF-006", "IF-008"))


# -- the happy path -------------------------------------------------------------------------------
def test_same_system_reuses_a_and_runs_the_partys_own_checks_live(world, a, tmp_path: Path, capsys) -> None:
    work, pki = world
    b = write_b(pki, tmp_path / "b")
    assert reuse_b(b, [a.zip_path], tmp_path / "out") == 0
    folder = bundle_of(tmp_path / "out")
    printed = capsys.readouterr().out
    assert "Certification basis" in printed and "reused" in printed and f"{folder.name}.dipcert.zip" in printed
    verdicts = summary(folder)
    a_party = json.loads((a.folder / "evidence.jsonl").read_text().splitlines()[0])["run"]["party"]
    for rid in ("MDR-5.2a/IF-061/consume", "MDR-5.2b/IF-064/produce", "MDR-5.3/exchange/start-and-consume",
                "MDR-5.2a/IF-006/consume/MeterInstall"):
        assert verdicts[rid]["verdict"] == "reused"
        assert verdicts[rid]["reused_from"]["run_id"] == a.run_id
        assert verdicts[rid]["reused_from"]["party"]["dip_id"] == a_party["dip_id"] == DEFAULT_PARTIES["MDR"].dip_id
        assert verdicts[rid]["reused_from"]["manifest_sha256"].startswith("sha256:")
    live = [rid for rid, v in verdicts.items() if "/preflight/" in rid or rid.endswith("/smoke")]
    assert {verdicts[rid]["verdict"] for rid in live} <= {"pass", "not-enabled"}
    assert {rid for rid in live if rid.endswith("/smoke")} >= \
        {f"MDR-5.4/{i}/smoke" for i in ("IF-061", "IF-063", "IF-065")}
    assert verdicts["MDR-5.4/reuse"]["verdict"] == "pass"
    run = json.loads((folder / "evidence.jsonl").read_text().splitlines()[0])["run"]
    assert run["party"]["dip_id"] == B.dip_id and run["system_fingerprint"]["digest"] == \
        json.loads((a.folder / "evidence.jsonl").read_text().splitlines()[0])["run"]["system_fingerprint"]["digest"]

    # the decision is its own signed artefact, naming the earlier bundle by its manifest digest
    artefact = json.loads((folder / ARTEFACT).read_text())
    from harness.evidence.bundle import manifest_sha256
    from harness.evidence.reuse import verify_detached

    assert artefact["bundles"][0]["manifest_sha256"] == manifest_sha256(a.folder)
    assert artefact["unchanged_since"]["organisation"] == "dipcert DCP Ltd"
    reused = {r["id"]: r for r in artefact["requirements"]}
    assert reused["MDR-5.2b/IF-062/produce"]["decision"] == "reused" and reused["MDR-5.2b/IF-062/produce"]["why"]
    assert "MDR-4.1/preflight/api-keys" in artefact["live"]
    assert verify_detached((folder / ARTEFACT).read_bytes(), json.loads((folder / ARTEFACT_SIGNATURE).read_text()))

    # verify follows the chain: passes with A, flags it without A
    with_a = verify_bundle(folder.parent / f"{folder.name}.dipcert.zip", earlier=[a.zip_path], **anchors_for(pki, b))
    assert with_a.findings == [] and with_a.ready
    without = verify_bundle(folder, earlier=[])
    assert rules_of(without.findings) == {"reuse.chain-missing"} and without.exit_code == 1
    assert "MDR-5.2b/IF-064/produce" in without.findings[0].extra["requirements"]
    out = subprocess.run([sys.executable, "-m", "harness.cli", "verify", str(folder)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 1 and "reuse.chain-missing" in out.stdout
    out = subprocess.run([sys.executable, "-m", "harness.cli", "verify", str(folder), "--with", str(a.folder),
                          *anchor_args(pki, b)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout

    # the chain check fails on a tampered earlier bundle, a bundle that is not the one, and an edited decision
    bad_a = tmp_path / "a-tampered"
    shutil.copytree(a.folder, bad_a)
    flip_byte(bad_a / "evidence.jsonl")
    assert "reuse.chain-unsound" in rules_of(verify_bundle(folder, earlier=[bad_a]).findings)
    other = tmp_path / "other"
    shutil.copytree(folder, other)
    artefact["requirements"] = [r for r in artefact["requirements"] if r["id"] != "MDR-5.2b/IF-062/produce"]
    (other / ARTEFACT).write_text(json.dumps(artefact))
    found = verify_bundle(other, earlier=[a.folder]).findings
    assert {"bundle.hash", "reuse.chain-signature", "reuse.chain-artefact"} <= rules_of(found)


def test_reuse_runs_under_pytest_with_the_verdicts_of_dipcert_reuse(world, a, tmp_path: Path) -> None:
    """The pytest route (scenarios/test_reuse.py, `--dipcert-reuse-from`) decides with the same code as
    `dipcert reuse`: the same requirements reused, the same ones live, the same verdicts."""
    from harness.dip.identity import load_or_create
    from harness.reference.participant import ReferenceParticipant

    work, pki = world
    b = write_b(pki, tmp_path / "b")
    assert reuse_b(b, [a.zip_path], tmp_path / "cli") == 0
    expected = {rid: entry["verdict"] for rid, entry in summary(bundle_of(tmp_path / "cli")).items()}
    assert "reused" in expected.values() and expected["MDR-5.4/reuse"] == "pass"
    profile = load_profile(b.profile)
    dip, _ = load_or_create(tmp_path / "cli" / ".dip")  # the DIP B's webhooks already trust
    participant = ReferenceParticipant(
        "MDR", party=B, partner=DEFAULT_PARTIES["SDS"], hub_url=f"http://127.0.0.1:{profile.harness.hub_port}",
        api_keys=b.keys, identity=b.identity, dip_certificate=dip.certificate, port=b.port,
        register_webhooks=False, client_timeout=TIMEOUT, slow_seconds=TIMEOUT * 3)
    root = Path(__file__).resolve().parents[1]
    with participant:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "scenarios", "-o", "testpaths=scenarios", "-p", "no:cacheprovider",
             "-rs", f"--dipcert-profile={b.profile}", f"--dipcert-out={tmp_path / 'pytest'}",
             f"--dipcert-dip-key={tmp_path / 'cli' / '.dip'}", f"--dipcert-timeout={TIMEOUT}",
             f"--dipcert-reuse-from={a.zip_path}", f"--dipcert-unchanged-since-attested-by={ATTESTED}",
             f"--dipcert-trust={b.earlier_ca}", f"--junitxml={tmp_path / 'pytest.xml'}"],
            cwd=root, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert {rid: e["verdict"] for rid, e in summary(bundle_of(tmp_path / "pytest")).items()} == expected
    names = (tmp_path / "pytest.xml").read_text("utf-8")
    assert 'name="test_reuse[MDR-5.4/reuse]"' in names and 'name="test_smoke[MDR-5.4/IF-061/smoke]"' in names


def test_reuse_options_under_pytest_are_checked_with_one_line(tmp_path: Path) -> None:
    profile = Path(__file__).resolve().parents[1] / "fixtures" / "profiles" / "mdr-example.toml"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "scenarios", "-o", "testpaths=scenarios", "-p", "no:cacheprovider",
         f"--dipcert-profile={profile}", f"--dipcert-out={tmp_path}", f"--dipcert-reuse-from={tmp_path / 'nope.zip'}",
         f"--dipcert-unchanged-since-attested-by={ATTESTED}", "--dipcert-integrity-only"],
        cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=120)
    assert done.returncode == 4 and "--dipcert-reuse-from" in done.stdout and "nope.zip: no such bundle" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def flip_byte(path: Path, offset: int = 200) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


# -- refusals, each a finding, and what is refused runs live ---------------------------------------------
def test_a_requirement_a_failed_runs_live(world, a_faulty, tmp_path: Path) -> None:
    work, pki = world
    b = write_b(pki, tmp_path / "b", interfaces=FAULTY_IFS)
    reuse_b(b, [a_faulty.zip_path], tmp_path / "out")
    folder = bundle_of(tmp_path / "out")
    verdicts = summary(folder)
    assert verdicts["MDR-5.2b/IF-064/produce"]["verdict"] == "pass"  # run live on B's (fault-free) system
    assert verdicts["MDR-5.2b/IF-062/produce"]["verdict"] == "reused"
    findings = verdicts["MDR-5.4/reuse"]["findings"]
    failed = [f for f in findings if f["rule"] == "reuse.failed-earlier"]
    assert "MDR-5.2b/IF-064/produce" in {f["path"] for f in failed}
    assert all(f["severity"] == "warning" for f in failed)
    assert verdicts["MDR-5.4/reuse"]["verdict"] == "pass"
    assert verify_bundle(folder, earlier=[a_faulty.zip_path]).findings == []


def test_interfaces_a_did_not_cover_run_live(world, a_fewer, tmp_path: Path) -> None:
    work, pki = world
    b = write_b(pki, tmp_path / "b", interfaces=("IF-006", "IF-008", "IF-024"))
    assert reuse_b(b, [a_fewer.folder], tmp_path / "out") == 0
    verdicts = summary(bundle_of(tmp_path / "out"))
    assert verdicts["MDR-5.2a/IF-008/consume"]["verdict"] == "reused"
    assert verdicts["MDR-5.2a/IF-006/consume/MeterInstall"]["verdict"] == "reused"
    assert verdicts["MDR-5.2a/IF-024/consume/SN-Vacant"]["verdict"] == "pass"  # live
    not_covered = {f["path"] for f in verdicts["MDR-5.4/reuse"]["findings"] if f["rule"] == "reuse.not-covered"}
    assert "MDR-5.2a/IF-024/consume/SN-Vacant" in not_covered and "MDR-5.2a/IF-008/consume" not in not_covered


def test_tampered_a_refuses_everything_and_b_runs_live(world, a, tmp_path: Path) -> None:
    work, pki = world
    bad = tmp_path / "a-copy"
    shutil.copytree(a.folder, bad)
    flip_byte(bad / "evidence.jsonl")
    b = write_b(pki, tmp_path / "b", interfaces=("IF-008",))
    assert reuse_b(b, [bad], tmp_path / "out") == 1  # nothing rests on A: the reuse requirement fails
    verdicts = summary(bundle_of(tmp_path / "out"))
    assert verdicts["MDR-5.2a/IF-008/consume"]["verdict"] == "pass"
    reuse = verdicts["MDR-5.4/reuse"]
    assert reuse["verdict"] == "fail" and {"reuse.tampered", "reuse.none"} <= {f["rule"] for f in reuse["findings"]}


def test_another_system_version_is_refused_and_runs_live(world, a, tmp_path: Path) -> None:
    work, pki = world
    b = write_b(pki, tmp_path / "b", interfaces=("IF-008",), version="1.0.1")
    assert reuse_b(b, [a.zip_path], tmp_path / "out") == 1
    verdicts = summary(bundle_of(tmp_path / "out"))
    assert verdicts["MDR-5.2a/IF-008/consume"]["verdict"] == "pass"
    changed = [f for f in verdicts["MDR-5.4/reuse"]["findings"] if f["rule"] == "reuse.system-changed"]
    assert [(f["path"], f["expected"], f["actual"]) for f in changed] == [("system.version", "1.0.0", "1.0.1")]


def test_an_earlier_run_outside_uit_is_refused(world, tmp_path: Path) -> None:
    work, pki = world
    sit = run_a(pki, tmp_path / "a-sit", interfaces=("IF-008",), environment="SIT")
    b = write_b(pki, tmp_path / "b", interfaces=("IF-008",))
    assert reuse_b(b, [sit.zip_path], tmp_path / "out") == 1
    verdicts = summary(bundle_of(tmp_path / "out"))
    assert verdicts["MDR-5.2a/IF-008/consume"]["verdict"] == "pass"
    env = [f for f in verdicts["MDR-5.4/reuse"]["findings"] if f["rule"] == "reuse.environment"]
    assert env and env[0]["actual"] == "SIT"


# -- the decision alone (no live run) ----------------------------------------------------------------
def test_another_role_is_refused(world, a_loaded, tmp_path: Path) -> None:
    work, pki = world
    sds = load_profile(write_b(pki, tmp_path / "b", role="SDS").profile)
    plan = decide(sds, [a_loaded], attestation=parse_attestation(ATTESTED))
    assert "reuse.role" in rules_of(plan.findings) and not plan.accepted
    assert "reuse.system-changed" not in rules_of(plan.findings)  # the role is reported once, as the role
    assert all(not plan.covers(rid) for rid in plan.decisions)


def test_no_unchanged_since_attestation_no_reuse(world, a_loaded, tmp_path: Path) -> None:
    work, pki = world
    profile = load_profile(write_b(pki, tmp_path / "b").profile)
    plan = decide(profile, [a_loaded], attestation=None)
    assert rules_of(plan.check_findings()) == {"reuse.attestation", "reuse.none"} and not plan.sound
    assert not plan.covers("MDR-5.2a/IF-061/consume")
    good = decide(profile, [a_loaded], attestation=parse_attestation(ATTESTED))
    assert good.covers("MDR-5.2a/IF-061/consume") and good.sound and good.findings == []
    assert not good.covers("MDR-4.1/preflight/api-keys") and not good.covers("MDR-5.4/IF-061/smoke")
    for bad in ("Dee Cee", ", Org", "Name,"):
        with pytest.raises(UsageError, match="Name, Organisation"):
            parse_attestation(bad)


def test_another_supplier_or_an_incompatible_schema_pack_is_refused(world, a_loaded, tmp_path: Path) -> None:
    work, pki = world
    b = write_b(pki, tmp_path / "b")
    b.profile.write_text(b.profile.read_text().replace('supplier = "dipcert"', 'supplier = "Other DCP Ltd"'))
    plan = decide(load_profile(b.profile), [a_loaded], attestation=parse_attestation(ATTESTED))
    assert {"reuse.dcp", "reuse.system-changed"} <= rules_of(plan.findings) and not plan.accepted
    same = load_profile(write_b(pki, tmp_path / "b2").profile)
    pack = {"name": "elexon-dip-api", "version": "2.1.0", "fingerprint": "sha256:" + "0" * 64}
    plan = decide(same, [a_loaded], attestation=parse_attestation(ATTESTED), schema_pack=pack)
    assert rules_of(plan.findings) == {"reuse.schema-pack"} and not plan.accepted
    recorded = a_loaded.run["schema_pack"]
    rebuilt = {**recorded, "fingerprint": "sha256:" + "1" * 64}
    assert decide(same, [a_loaded], attestation=parse_attestation(ATTESTED), schema_pack=rebuilt).accepted


def test_several_bundles_together_cover_the_enabled_interfaces(world, a_fewer, a_faulty, tmp_path: Path) -> None:
    work, pki = world
    profile = load_profile(write_b(pki, tmp_path / "b", interfaces=("IF-006", "IF-008") + FAULTY_IFS).profile)
    fewer, faulty = load_earlier(a_fewer.zip_path), load_earlier(a_faulty.folder)
    plan = decide(profile, [fewer, faulty], attestation=parse_attestation(ATTESTED))
    assert plan.decisions["MDR-5.2a/IF-008/consume"].bundle is fewer
    assert plan.decisions["MDR-5.2a/IF-063/consume"].bundle is faulty
    assert not plan.covers("MDR-5.2b/IF-064/produce")
    assert {f.rule for f in plan.decisions["MDR-5.2b/IF-064/produce"].reasons} == {"reuse.not-covered",
                                                                                   "reuse.failed-earlier"}
    assert plan.sound


# -- the same-system rule --------------------------------------------------------------------------
def test_the_same_system_rule_ignores_the_interface_set_but_not_identity(world, tmp_path: Path) -> None:
    work, pki = world
    full = load_profile(write_b(pki, tmp_path / "b").profile)
    few = load_profile(write_b(pki, tmp_path / "c", interfaces=("IF-008",)).profile)
    assert system_fingerprint(full)["digest"] == system_fingerprint(few)["digest"]
    assert differences(system_fingerprint(full), system_fingerprint(few)) == []
    newer = load_profile(write_b(pki, tmp_path / "d", version="2.0").profile)
    assert [d.field for d in differences(system_fingerprint(full), system_fingerprint(newer))] == ["version"]
    one = system_fingerprint(full, {"IF-061": "sha256:aa", "IF-063": "sha256:aa"})
    assert differences(one, system_fingerprint(few, {"IF-008": "sha256:aa"})) == []  # same certificate
    moved = differences(one, system_fingerprint(few, {"IF-008": "sha256:bb"}))
    assert [d.field for d in moved] == ["endpoint_certificates"]
    assert differences(one, system_fingerprint(few)) == []  # plain http: nothing to compare


# -- usage errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", ["missing", "not-a-bundle", "not-a-zip"])
def test_bad_from_paths_are_one_line_exit_2(world, tmp_path: Path, make: str) -> None:
    work, pki = world
    b = write_b(pki, tmp_path / "b")
    source = tmp_path / make
    if make == "not-a-bundle":
        source.mkdir()
        (source / "notes.txt").write_text("hello")
    elif make == "not-a-zip":
        source.write_text("hello")
    out = subprocess.run([sys.executable, "-m", "harness.cli", "reuse", "--profile", str(b.profile), "--from",
                          str(source), "--out", str(tmp_path / "out"), "--unchanged-since-attested-by", ATTESTED,
                          "--trust", str(b.earlier_ca)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and str(source.name) in lines[0] and "Traceback" not in out.stderr
    assert not (tmp_path / "out").exists() or not any(p.suffix == ".zip" for p in (tmp_path / "out").iterdir())
