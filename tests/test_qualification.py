"""MHHS-DEL1384 qualification prerequisites (issue 19): the [qualification] table, its attached documents,
and the uep-confirmation blocker, in a real run and in verify.

The runs are small (two incoming interfaces of the reference MDR) and made once per module.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.config.profile import Qualification, load_profile, parse_profile
from harness.core.errors import ConfigError
from harness.evidence.bundle import finalise_bundle
from harness.evidence.qualification import RULE, judge
from harness.evidence.recorder import GENESIS, encode_record, line_hash
from harness.evidence.verify import verify_bundle
from harness.plan.requirements import build_plan
from harness.report import render_reports
from harness.run.demo import DemoPKI, demo_party, profile_text
from harness.run.session import run_certification

SMALL = ("IF-008", "IF-024")
UEP = "MDR-5.1/qualification/uep-confirmation"
CONFIRMATION = b"%PDF-1.4 SECAS confirms: full DCC User Entry Process for the MDR User Role completed\n"
CERTIFICATE = b"%PDF-1.4 DCC UEPT test completion certificate, MDR User Role\n"


# -- the profile and the plan ---------------------------------------------------------------------
GOOD = """\
[party]
role = "MDR"
company = "Example Energy Ltd"
mpid = "EXMP"
dip_id = "1234567890"

[system]
name = "AcmeMDR"
version = "4.2.1"

[interfaces]
IF-006 = "Y"
"""


def profile_data(role: str, qualification: dict[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"party": {"role": role, "company": "X", "mpid": "EXMP", "dip_id": "1234567890"},
                            "system": {"name": "s", "version": "1"}, "interfaces": {"IF-006": "Y"}}
    if qualification is not None:
        data["qualification"] = qualification
    return data


def write(tmp_path: Path, text: str, name: str = "profile.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    return message


def test_the_table_loads_and_is_part_of_the_public_profile(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, GOOD + '\n[qualification]\ndcc_user_role = "MDR"\noperating_model = 3\n'
                                              'uep_confirmation = "docs/secas.pdf"\n'))
    assert profile.qualification == Qualification("MDR", 3, None, "docs/secas.pdf", None)
    assert profile.mdr_dip_id == profile.party.dip_id  # an MDR's MDR DIP ID is its own
    assert profile.document_path("uep_confirmation") == tmp_path / "docs" / "secas.pdf"
    assert profile.to_public_dict()["qualification"] == {"dcc_user_role": "MDR", "operating_model": 3,
                                                         "uep_confirmation": "docs/secas.pdf"}
    # without the table the public profile (and so the digest of every older profile) is unchanged
    assert "qualification" not in load_profile(write(tmp_path, GOOD, "plain.toml")).to_public_dict()


@pytest.mark.parametrize("table, expected", [
    ('dcc_user_role = "DCC"\noperating_model = 1', 'qualification.dcc_user_role: expected supplier or MDR'),
    ('dcc_user_role = "MDR"\noperating_model = 5', "qualification.operating_model: expected an integer 1..4"),
    ('operating_model = 1', "qualification.dcc_user_role: missing key"),
    ('dcc_user_role = "MDR"\noperating_model = 3\nmdr_dip_id = "9999999999"',
     "qualification.mdr_dip_id: an MDR's MDR DIP ID is its own party.dip_id (1234567890)"),
    ('dcc_user_role = "MDR"\noperating_model = 3\nuep_confirmation = "a.pdf"\nuept_certificate = "a.pdf"',
     "qualification.uep_confirmation: the same file as qualification.uept_certificate"),
    ('dcc_user_role = "MDR"\noperating_model = 3\nuep_confirmaton = "a.pdf"',
     "qualification.uep_confirmaton: unknown key (did you mean 'uep_confirmation'?"),
])
def test_mistakes_are_one_line_naming_the_key(tmp_path: Path, table: str, expected: str) -> None:
    assert expected in error_of(tmp_path, GOOD + f"\n[qualification]\n{table}\n")


def test_an_sds_mdr_dip_id_is_not_its_own_sds_dip_id(tmp_path: Path) -> None:
    data = profile_data("SDS", {"dcc_user_role": "MDR", "operating_model": 3, "mdr_dip_id": "1234567890"})
    with pytest.raises(ConfigError, match="qualification.mdr_dip_id: 1234567890 is the SDS's own DIP ID"):
        parse_profile(data, tmp_path / "p.toml")
    data["qualification"]["mdr_dip_id"] = "1650000101"
    assert parse_profile(data, tmp_path / "p.toml").mdr_dip_id == "1650000101"


@pytest.mark.parametrize("role, collection, enabled", [("MDR", "MDR", True), ("SDS", "MDR", True),
                                                       ("MDR", "supplier", False), ("SDS", "supplier", False)])
def test_the_uep_requirement_is_planned_with_the_table_and_enabled_for_the_mdr_user_role(
        tmp_path: Path, role: str, collection: str, enabled: bool) -> None:
    data = profile_data(role)
    assert not [r for r in build_plan(parse_profile(data, tmp_path / "p.toml")) if r.kind == "qualification"]
    data["qualification"] = {"dcc_user_role": collection, "operating_model": 3}
    found = [r for r in build_plan(parse_profile(data, tmp_path / "p.toml")) if r.kind == "qualification"]
    section = "5.1" if role == "MDR" else "6.1"
    assert [(r.id, r.enabled) for r in found] == [(f"{role}-{section}/qualification/uep-confirmation", enabled)]


def test_judge_the_confirmation_missing_replaced_by_the_uept_certificate_or_attached() -> None:
    mdr = {"dcc_user_role": "MDR", "operating_model": 3}
    doc = {"sha256": "sha256:" + "a" * 64}
    assert [f.rule for f in judge(mdr, {})] == [f"{RULE}.missing"]
    missing = judge({**mdr, "uept_certificate": "u.pdf"}, {"uept-certificate": doc})[0]
    assert "UEPT certificate does not show the other elements" in missing.message
    with_doc = {**mdr, "uep_confirmation": "c.pdf", "uept_certificate": "u.pdf"}
    assert [f.rule for f in judge(with_doc, {"uep-confirmation": doc, "uept-certificate": doc})] == \
        [f"{RULE}.is-uept-certificate"]
    assert [f.rule for f in judge(with_doc, {})] == [f"{RULE}.not-attached"]
    assert judge(with_doc, {"uep-confirmation": doc, "uept-certificate": {"sha256": "sha256:" + "b" * 64}}) == []
    assert judge({"dcc_user_role": "supplier", "operating_model": 1}, {}) == []


# -- real runs ------------------------------------------------------------------------------------
def certify(demo_pki: DemoPKI, out: Path, qualification: Qualification, **documents: bytes) -> Any:
    """The reference MDR (two incoming interfaces) certified with `qualification`; `documents` written first."""
    for name, data in documents.items():
        (demo_pki.folder / name).write_bytes(data)
    with demo_party("MDR", demo_pki, out, timeout=2.0, interfaces=SMALL) as (profile, options):
        return run_certification(replace(profile, qualification=qualification), options)


@pytest.fixture(scope="module")
def runs(demo_pki: DemoPKI, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bundles")
    return {
        "missing": certify(demo_pki, out, Qualification("MDR", 3, uept_certificate="uept.pdf"),
                           **{"uept.pdf": CERTIFICATE}),
        "attached": certify(demo_pki, out, Qualification("MDR", 3, uep_confirmation="secas.pdf",
                                                    uept_certificate="uept.pdf"),
                            **{"secas.pdf": CONFIRMATION, "uept.pdf": CERTIFICATE}),
        "supplier": certify(demo_pki, out, Qualification("supplier", 1)),
    }


def test_a_missing_uep_confirmation_blocks_an_mdr_user_role(runs: dict[str, Any]) -> None:
    result = runs["missing"]
    assert not result.ready and result.verdicts[UEP] == "fail"
    assert [b["requirement"] for b in result.summary["blockers"]] == [UEP]
    entry = next(r for r in result.summary["requirements"] if r["id"] == UEP)
    assert [f["rule"] for f in entry["findings"]] == [f"{RULE}.missing"]
    assert "set qualification.uep_confirmation to SECAS's confirmation" in entry["findings"][0]["message"]
    # the UEPT certificate is attached all the same, and shown as attested
    assert [a["attests"] for a in result.summary["qualification"]["attested"]] == ["uept-certificate"]


def test_an_attached_confirmation_passes_and_is_shown_as_attested_not_proved(runs: dict[str, Any]) -> None:
    result = runs["attached"]
    assert result.ready and result.verdicts[UEP] == "pass"
    q = result.summary["qualification"]
    assert (q["dcc_user_role"], q["operating_model"], q["mdr_dip_id"]) == ("MDR", 3, result.summary["party"]["dip_id"])
    files = {a["attests"]: a["file"] for a in q["attested"]}
    assert files == {"uep-confirmation": "attachments/uep-confirmation.pdf",
                     "uept-certificate": "attachments/uept-certificate.pdf"}
    assert (result.folder / files["uep-confirmation"]).read_bytes() == CONFIRMATION
    manifest = json.loads((result.folder / "manifest.json").read_text())
    assert files["uep-confirmation"] in manifest["files"]  # hashed and signed like every file
    events = [json.loads(line) for line in (result.folder / "evidence.jsonl").read_text().splitlines()]
    assert [e["data"]["attests"] for e in events if e.get("event") == "attachment"] == \
        ["uep-confirmation", "uept-certificate"]
    html = (result.folder / "report.html").read_text()
    assert 'id="qualification"' in html and "attested, not proved by dipcert" in html
    assert html.count("ATTESTED</span>") == 2 and 'data-attests="uep-confirmation"' in html


def test_the_supplier_roles_need_no_confirmation(runs: dict[str, Any]) -> None:
    result = runs["supplier"]
    assert result.ready and result.verdicts[UEP] == "not-enabled"
    assert result.summary["qualification"]["attested"] == []


def test_verify_accepts_the_attachments_and_refuses_a_replaced_document(runs: dict[str, Any], demo_pki: DemoPKI,
                                                                         tmp_path: Path) -> None:
    good = verify_bundle(runs["attached"].zip_path, anchors=demo_pki.anchors("MDR"))
    assert good.ready, [str(f) for f in good.findings]
    # a participant swaps the document afterwards and re-signs everything: the evidence names another hash
    folder = Path(shutil.copytree(runs["attached"].folder, tmp_path / "swapped"))
    (folder / "attachments" / "uep-confirmation.pdf").write_bytes(b"%PDF-1.4 something else\n")
    forged = forge(_Result(folder), tmp_path / "out", lambda records: None, demo_pki.identities["MDR"])
    rules = {f.rule for f in verify_bundle(forged, anchors=demo_pki.anchors("MDR")).findings if f.severity == "error"}
    assert rules == {"attachment.hash"}
    # or removes it, and re-signs: the event still names it
    folder = Path(shutil.copytree(runs["attached"].folder, tmp_path / "removed"))
    (folder / "attachments" / "uept-certificate.pdf").unlink()
    forged = forge(_Result(folder), tmp_path / "out2", lambda records: None, demo_pki.identities["MDR"])
    rules = {f.rule for f in verify_bundle(forged, anchors=demo_pki.anchors("MDR")).findings if f.severity == "error"}
    assert rules == {"attachment.missing"}


def test_verify_judges_the_requirement_again_from_the_attachments(runs: dict[str, Any], demo_pki: DemoPKI,
                                                                    tmp_path: Path) -> None:
    def passed(records: list[dict[str, Any]]) -> None:
        for r in records:
            if r["kind"] == "check" and r["requirement"] == UEP:
                r["passed"], r["findings"] = True, []
    forged = forge(runs["missing"], tmp_path, passed, demo_pki.identities["MDR"])
    result = verify_bundle(forged, anchors=demo_pki.anchors("MDR"))
    assert {f.rule for f in result.findings if f.severity == "error"} == {"qualification.disagrees"}
    assert not result.ready


def test_verify_flags_a_summary_that_restates_the_prerequisites(runs: dict[str, Any], demo_pki: DemoPKI,
                                                                 tmp_path: Path) -> None:
    def claim_supplier_roles(summary: dict[str, Any]) -> None:
        summary["qualification"]["dcc_user_role"] = "supplier"
    forged = forge(runs["attached"], tmp_path, lambda records: None, demo_pki.identities["MDR"], claim_supplier_roles)
    result = verify_bundle(forged, anchors=demo_pki.anchors("MDR"))
    assert {f.rule for f in result.findings if f.severity == "error"} == {"summary.qualification"}


def test_an_unreadable_document_stops_the_run_before_it_starts(demo_pki: DemoPKI, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"qualification\.uep_confirmation: document .*absent\.pdf not found"):
        certify(demo_pki, tmp_path, Qualification("MDR", 3, uep_confirmation="absent.pdf"))
    assert not list(tmp_path.iterdir())  # no evidence folder was made
    key = demo_pki.api_keys["MDR"][0]
    with pytest.raises(ConfigError, match="holds one of the profile's secrets or a private key"):
        certify(demo_pki, tmp_path, Qualification("MDR", 3, uep_confirmation="leaky.pdf"),
                **{"leaky.pdf": f"key: {key}\n".encode()})


@pytest.mark.parametrize("document, expected", [
    (None, "qualification.uep_confirmation: document {path} not found"),
    (b"", "qualification.uep_confirmation: document {path} is empty"),
])
def test_dipcert_run_exits_2_with_one_line_for_a_bad_document(demo_pki: DemoPKI, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str],
                                                              document: bytes | None, expected: str) -> None:
    doc = demo_pki.folder / "secas-cli.pdf"
    doc.unlink(missing_ok=True)
    if document is not None:
        doc.write_bytes(document)
    profile = demo_pki.folder / "cli.toml"
    profile.write_text(profile_text("MDR", demo_pki, hub_port=1, port=1, timeout=1.0, interfaces=SMALL)
                       + '\n[qualification]\ndcc_user_role = "MDR"\noperating_model = 3\n'
                         'uep_confirmation = "secas-cli.pdf"\n', encoding="utf-8")
    assert main(["run", "--profile", str(profile), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert expected.format(path=doc) in err
    assert not [p for p in (tmp_path / "out").glob("*") if p.name != ".dip"]  # no evidence folder was started


def test_dipcert_verify_exits_0_for_a_bundle_with_attachments(runs: dict[str, Any], demo_pki: DemoPKI,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["verify", str(runs["attached"].zip_path), "--trust", str(demo_pki.keep_anchor(runs["attached"])),
                 "--signer", demo_pki.signer("MDR")])
    assert code == 0, capsys.readouterr().out


@pytest.mark.parametrize("flags, table", [
    (["--dcc-user-role", "MDR", "--operating-model", "4"],
     {"dcc_user_role": "MDR", "operating_model": 4, "uep_confirmation": "evidence/secas-uep-confirmation.pdf"}),
    (["--dcc-user-role", "supplier"], {"dcc_user_role": "supplier", "operating_model": 1}),
    ([], None),
])
def test_init_writes_the_table_when_asked(tmp_path: Path, flags: list[str], table: Any) -> None:
    out = tmp_path / "p.toml"
    assert main(["init", "--non-interactive", "--out", str(out), *flags]) == 0
    qualification = load_profile(out).qualification
    assert (qualification.to_dict() if qualification else None) == table
    assert "[qualification]" in out.read_text()  # commented out without the flags: the participant sees it


class _Result:
    """What `forge` needs of a run result: its folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder


def forge(result: Any, where: Path, edit: Any, identity: Any, summary_edit: Any = None) -> Path:
    """`result`'s bundle with `edit` applied to its records, re-chained, re-rendered and re-signed (as
    test_verify_trust.py's forger does, with dipcert's own functions): a zip."""
    folder = Path(shutil.copytree(result.folder, where / f"forged-{result.folder.name}"))
    records = [json.loads(line) for line in (folder / "evidence.jsonl").read_bytes().splitlines()]
    edit(records)
    prev, lines = GENESIS, []
    for record in records:
        record["prev"] = prev
        line = encode_record(record)
        prev = line_hash(line)
        lines.append(line)
    (folder / "evidence.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    summary_path = render_reports(folder)["summary"]
    summary = json.loads(summary_path.read_text("utf-8"))
    if summary_edit is not None:  # summary.json claims something the evidence does not say
        summary_edit(summary)
        summary_path.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    run = records[0]["run"]
    return finalise_bundle(folder, run_id=run["run_id"], harness_version=run["harness_version"],
                           schema_pack=run["schema_pack"], profile_digest=run.get("profile_digest"),
                           started=run["started"], finished=summary["finished"], attestation=run["attestation"],
                           identity=identity, ready=summary["ready"],
                           extra={"system_fingerprint": run.get("system_fingerprint")})
