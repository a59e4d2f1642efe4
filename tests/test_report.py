"""Reports: summary.json, report.html, junit.xml, allure-results/ rendered from evidence alone."""

from __future__ import annotations

import argparse
import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from test_verify import Identity, make_identity

from harness.config.profile import load_profile
from harness.core.errors import InputError
from harness.core.findings import Finding
from harness.evidence import verdicts as V
from harness.evidence.bundle import certificate_fingerprint, finalise_bundle, summary_errors
from harness.evidence.recorder import Recorder, read_records
from harness.evidence.revalidate import make_revalidator
from harness.evidence.verify import verify_bundle
from harness.messages.samples import Party, SampleFactory
from harness.messages.schemapack import load_pack
from harness.plan.requirements import (
    build_plan,
    exchange_requirement,
    plan_to_dicts,
    preflight_requirement,
    reuse_requirement,
)
from harness.report import build_summary, render_reports, terminal_summary
from harness.report.allure import check_steps
from harness.report.bodies import Bodies, read_body
from harness.report.curl import curl_command, shell_word
from harness.report.html import aggregate

PACK_OBJ = load_pack()
# The Jenkins xUnit schema CI servers read junit.xml with (MIT, vendored from pytest's sdist: tests/data).
JUNIT_SCHEMA = xmlschema.XMLSchema(Path(__file__).resolve().parent / "data" / "junit-10.xsd")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "profiles"
API_KEY = "sEcReT-api-key-7f1e2d3c4b5a69788796a5b4c3d2e1f0"
NOW = datetime(2026, 11, 23, 17, 1, 2, tzinfo=timezone.utc)
RUN_ID = "20261123T170102Z-MDR-1234567890-ab12"
ME = Party("MDR", "1234567890", "EXMP")
PARTNER = Party("SDS", "1111111111", "PART")
PACK = {"name": PACK_OBJ.name, "version": PACK_OBJ.version, "fingerprint": PACK_OBJ.fingerprint}
ATTESTATION = {"name": "Ada Tester", "role": "Test lead", "organisation": "Example Energy",
               "environment": "UIT", "expires": "2099-12-31"}
START_STOP = "MDR-5.3/exchange/start-stop"
CONSUMPTION = "MDR-5.3/exchange/consumption"
IF061 = "MDR-5.2a/IF-061/consume"
IF062 = "MDR-5.2b/IF-062/produce"
IF065 = "MDR-5.2a/IF-065/consume/MDRTOU"


@pytest.fixture(scope="module")
def party() -> Identity:
    return make_identity("mdr.example")


# These runs record a hand-made plan (a few requirements of the profile's), so verify's plan derivation
# is stubbed with the recorded plan; the derivation is tested on real bundles (test_verify_trust.py).
def RECORDED_PLAN(data: dict[str, Any]) -> list[dict[str, Any]]:
    return data["requirements"]


def run_dict(profile: Any, identity: Identity | None = None) -> dict[str, Any]:
    return {"run_id": RUN_ID, "started": "2026-11-23T17:01:02.000000Z", "environment": "UIT",
            "party": {"role": "MDR", "dip_id": ME.dip_id, "mpid": ME.mpid, "dcp_id": None,
                      "company": "Example Energy Ltd"},
            "partner": {"role": "SDS", "dip_id": PARTNER.dip_id, "mpid": PARTNER.mpid, "kind": "reference",
                        "company": "Partner Data Services Ltd"},
            "system": {"name": "AcmeMDR", "version": "4.2.1", "build_id": "sha256:4f1c0ffee0ddba11",
                       "fingerprint": None},
            "profile": profile.to_public_dict(), "profile_digest": profile.digest(), "schema_pack": PACK,
            "signer_certificate_sha256": certificate_fingerprint(identity.certificate) if identity else None,
            "dip_certificate_sha256": "sha256:" + "cd" * 32,
            "attestation": ATTESTATION, "harness_version": "0.1.0"}


class Run:
    """Writes records the way harness.run does (requirement-start, http, check, requirement-end)."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec
        self.factory = SampleFactory(7, environment="UIT", now=NOW)

    def http(self, channel: str, rid: str, item: dict, *, status: int = 201, url: str | None = None,
             response: bytes = b'{"responseCode":"RCP0000"}') -> int:
        s0 = item["payload"]["CommonBlock"]["S0"]
        interface = s0["interfaceID"]
        headers = {"Content-Type": "application/json", "X-API-Key": API_KEY,
                   "X-DIP-Signature": "c2lnbmF0dXJl", "X-DIP-Signature-Date": "2026-11-23T17:01:05Z",
                   "Content-Length": "999"}
        return self.rec.http(channel=channel, method="POST", url=url or f"https://127.0.0.1:8443/dip/{interface}",
                             request_headers=headers, request_body=json.dumps([item]).encode(), status=status,
                             response_headers={"Content-Type": "application/json"}, response_body=response,
                             started=NOW, elapsed_ms=4.0,
                             context={"interface": interface, "requirement": rid, "step": channel})

    def requirement(self, rid: str, checks: list[tuple[str, bool, list[Finding], list[int]]]) -> None:
        self.rec.event("requirement-start", requirement=rid, title=rid)
        for rule, passed, findings, seqs in checks:
            self.rec.check(rid, rule, passed, findings, messages=seqs)
        self.rec.event("requirement-end", requirement=rid)


def record_full_run(folder: Path, identity: Identity | None = None) -> Path:
    """A realistic MDR run: preflight, consume/produce, two exchanges; failures and gaps, so not ready."""
    profile = load_profile(FIXTURES / "mdr-example.toml")
    plan = plan_to_dicts(build_plan(profile) + [
        exchange_requirement("MDR", "start-stop", True),
        exchange_requirement("MDR", "consumption", True, assumptions=("A-CORRELATION",))])
    plan[-1]["interfaces"] = ["IF-064", "IF-065"]
    rec = Recorder(folder, secrets=[API_KEY], run=run_dict(profile, identity))
    rec.event("plan", requirements=plan, profile_digest=profile.digest())
    r = Run(rec)
    for check in ("certificates", "api-keys", "identifiers", "webhooks", "partner"):
        r.requirement(f"MDR-4.1/preflight/{check}", [(f"preflight.{check}", True, [], [])])
    start = r.factory.message("IF-061", sender=PARTNER, recipients=[ME.dip_id])
    seq = r.http("webhook-delivery", IF061, r.factory.egress(start))
    r.requirement(IF061, [("webhook.accepts-valid", True, [], [seq])])
    answer = r.factory.response_to(start, sender=ME)
    del answer["payload"]["CommonBlock"]["S1"]["senderRoleID"]
    trig = r.http("trigger", IF062, answer, url="http://127.0.0.1:9100/trigger", status=202, response=b"{}")
    bad = r.http("hub-inbound", IF062, answer, status=400, url="https://127.0.0.1:7443/dip-channel/IF-062",
                 response=b'{"responseCode":"RCP4000","responseMessage":"invalid"}')
    r.requirement(IF062, [("hub.valid-message", False, [Finding(
        "schema.required", "/0/payload/CommonBlock/S1", "property senderRoleID", "absent",
        "'senderRoleID' is a required property", extra={"seq": bad})], [trig, bad])])
    tou = r.factory.message("IF-065", "MDRTOU", sender=PARTNER, recipients=[ME.dip_id])
    r.requirement(IF065, [("webhook.accepts-valid", True, [],
                           [r.http("webhook-delivery", IF065, r.factory.egress(tou))])])
    # start-stop: partner -> DIP -> party, party answers -> DIP -> partner (no interfaces in the plan)
    request = r.factory.message("IF-061", sender=PARTNER, recipients=[ME.dip_id])
    s1 = r.http("hub-inbound", START_STOP, request, url="https://127.0.0.1:7443/dip-channel/IF-061")
    s2 = r.http("hub-outbound", START_STOP, r.factory.egress(request))
    reply = r.factory.response_to(request, sender=ME)
    s3 = r.http("hub-inbound", START_STOP, reply, url="https://127.0.0.1:7443/dip-channel/IF-062")
    s4 = r.http("hub-outbound", START_STOP, r.factory.egress(reply), url="https://127.0.0.1:9200/sds/IF-062")
    r.requirement(START_STOP, [("exchange.paired", True, [], [s1, s2, s3, s4])])
    ask = r.factory.message("IF-065", "MDRConsumption", sender=PARTNER, recipients=[ME.dip_id])
    s5 = r.http("hub-outbound", CONSUMPTION, r.factory.egress(ask), status=500, response=b"boom")
    r.requirement(CONSUMPTION, [("exchange.paired", False, [Finding(
        "exchange.response", "/", "IF-064 within 10 s", "HTTP 500", "the MDR did not answer the consumption request")],
        [s5])])
    rec.close()
    return folder


def record_ready_run(folder: Path, identity: Identity | None = None) -> Path:
    """Everything enabled passed or was reused: ready, with a certification basis."""
    profile = load_profile(FIXTURES / "mdr-example.toml")
    plan = plan_to_dicts([preflight_requirement("MDR", "certificates"),
                          next(q for q in build_plan(profile) if q.id == IF061),
                          preflight_requirement("MDR", "dcp", enabled=False), reuse_requirement("MDR", True)])
    rec = Recorder(folder, secrets=[API_KEY], run=run_dict(profile, identity))
    rec.event("plan", requirements=plan, profile_digest=profile.digest())
    r = Run(rec)
    r.requirement("MDR-4.1/preflight/certificates", [("preflight.certificates", True, [], [])])
    start = r.factory.message("IF-061", sender=PARTNER, recipients=[ME.dip_id])
    r.requirement(IF061, [("webhook.accepts-valid", True, [],
                           [r.http("webhook-delivery", IF061, r.factory.egress(start))])])
    rec.event("reuse", requirement="MDR-5.4/reuse", run_id="20260101T000000Z-DCP-0000000001-ffff",
              manifest_sha256="sha256:" + "ef" * 32, party={"role": "MDR", "dip_id": "0987654321"})
    rec.close()
    return folder


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    folder = record_full_run(tmp_path_factory.mktemp("full") / RUN_ID)
    return folder, render_reports(folder)


class Markers(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.markers: list[tuple[str, str | None]] = []
        self.ids: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if "data-requirement" in values:
            self.markers.append((values["data-requirement"] or "", values.get("data-verdict")))
        if values.get("id"):
            self.ids.append(values["id"] or "")
        for key in ("src", "href"):
            if values.get(key) and not str(values[key]).startswith("#"):
                self.external.append(str(values[key]))
        if tag in ("script", "link", "img", "iframe"):
            self.external.append(tag)


def markers(html: str) -> Markers:
    parser = Markers()
    parser.feed(html)
    return parser


# -- summary.json ------------------------------------------------------------------------------------
def test_summary_is_valid_and_its_verdicts_are_recomputed_from_evidence(full: tuple[Path, dict[str, Path]]) -> None:
    folder, paths = full
    summary = json.loads(paths["summary"].read_text())
    assert summary_errors(summary) == []
    records = read_records(folder / "evidence.jsonl")
    recomputed = V.recompute(records, V.planned_requirements(records))
    assert {e["id"]: e["verdict"] for e in summary["requirements"]} == \
        {rid: v["verdict"] for rid, v in recomputed.items()}
    verdict = {e["id"]: e for e in summary["requirements"]}
    assert verdict[IF061]["verdict"] == "pass" and verdict[IF062]["verdict"] == "fail"
    assert verdict[START_STOP]["verdict"] == "pass" and verdict[CONSUMPTION]["verdict"] == "fail"
    assert verdict["MDR-5.2a/IF-006/consume/MeterInstall"]["verdict"] == "not-run"
    assert verdict["MDR-4.1/preflight/dcp"]["verdict"] == "not-enabled"
    assert verdict[IF065]["provisional"] and verdict[IF065]["assumptions"] == ["A-IF065-DIRECTION"]
    assert verdict[CONSUMPTION]["provisional"] and not verdict[IF061]["provisional"]
    assert verdict[IF061]["title"].startswith("Consume IF-061")
    assert summary["status"] == "complete" and summary["ready"] is False
    assert summary["party"]["company"] == "Example Energy Ltd" and summary["partner"]["kind"] == "reference"
    # The nominated partner is named (company, DIP ID); a reference partner makes the run a rehearsal.
    assert summary["partner"]["company"] == "Partner Data Services Ltd"
    assert summary["grade"]["level"] == "rehearsal"
    assert summary["grade"]["nominated_partner"]["dip_id"] == summary["partner"]["dip_id"]
    assert "Partner Data Services Ltd, DIP ID 1111111111" in summary["grade"]["reasons"][0]
    # blockers: every failure first, then what did not run
    kinds = [b["verdict"] for b in summary["blockers"]]
    assert kinds[:2] == ["fail", "fail"] and set(kinds[2:]) == {"not-run"}
    assert {b["requirement"] for b in summary["blockers"][:2]} == {IF062, CONSUMPTION}
    assert [a["id"] for a in summary["assumptions"]] == ["A-CORRELATION", "A-IF065-DIRECTION", "A-RECIPIENT-REJECTS"]
    assert all(a["text"] and a["source"] for a in summary["assumptions"])


def test_an_unclosed_run_is_incomplete_and_never_ready(tmp_path: Path) -> None:
    profile = load_profile(FIXTURES / "mdr-example.toml")
    rec = Recorder(tmp_path / "run", run=run_dict(profile))
    rec.event("plan", requirements=plan_to_dicts([preflight_requirement("MDR", "certificates")]))
    rec.check("MDR-4.1/preflight/certificates", "preflight.certificates", True)
    summary = build_summary(read_records(tmp_path / "run" / "evidence.jsonl"))
    assert summary["status"] == "incomplete" and summary["finished"] is None and not summary["ready"]
    assert summary["blockers"][0] == {"requirement": None, "verdict": None,
                                      "message": "the run did not complete; its evidence is partial"}
    assert summary_errors(summary) == []


def test_a_run_start_without_the_run_dict_is_an_input_error(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "run", run={"run_id": "x"})
    rec.close()
    with pytest.raises(InputError, match="run-start record has no run.schema_pack"):
        render_reports(tmp_path / "run")
    with pytest.raises(InputError, match="no evidence.jsonl"):
        render_reports(tmp_path)


# -- report.html -------------------------------------------------------------------------------------
def test_report_has_one_marker_per_requirement_with_its_verdict(full: tuple[Path, dict[str, Path]]) -> None:
    _folder, paths = full
    html = paths["html"].read_text("utf-8")
    summary = json.loads(paths["summary"].read_text())
    found = markers(html)
    assert sorted(found.markers) == sorted((e["id"], e["verdict"]) for e in summary["requirements"])
    assert len(found.ids) == len(set(found.ids)), "element ids must be unique"
    assert found.external == [], "the report must be self-contained"
    assert "<script" not in html and "@media print" in html


def test_report_opens_with_the_verdict_blockers_and_interface_table(full: tuple[Path, dict[str, Path]]) -> None:
    _folder, paths = full
    html = paths["html"].read_text("utf-8")
    verdict, blockers, table, first_req = (html.index('id="verdict"'), html.index('id="blockers"'),
                                           html.index('id="interface-table"'), html.index("data-requirement="))
    assert verdict < blockers < table < first_req
    assert ">NOT READY<" in html and "not a certification package" in html
    for label in ("Example Energy Ltd", "MDR, DIP ID 1234567890", "AcmeMDR 4.2.1", "UIT", RUN_ID,
                  "Partner Data Services Ltd: SDS, DIP ID 1111111111; the exchange ran with dipcert's reference SDS",
                  'data-grade="rehearsal">Evidence grade: <b>REHEARSAL</b>: not certification evidence'):
        assert label in html
    rows = re.findall(r"<tr><td><b>(IF-\d{3})</b></td><td>([^<]+)</td><td class=\"c\">(.)</td>"
                      r"<td class=\"c\">(.*?)</td><td class=\"c\">(.*?)</td><td class=\"c\">(.*?)</td></tr>", html)
    table_rows = {r[0]: r for r in rows}
    assert list(table_rows) == ["IF-006", "IF-008", "IF-024", "IF-026", "IF-061", "IF-062", "IF-063",
                                "IF-064", "IF-065"]
    assert all(r[2] == "Y" for r in rows)
    assert "PASS" in table_rows["IF-061"][3] and "PASS" in table_rows["IF-061"][5]  # consume; start-stop exchange
    assert "FAIL" in table_rows["IF-062"][4] and "PASS" in table_rows["IF-062"][5]
    assert "FAIL" in table_rows["IF-064"][5] and "FAIL" in table_rows["IF-065"][5]  # consumption, declared ifs
    assert "NOT RUN" in table_rows["IF-006"][3] and "NOT RUN" in table_rows["IF-065"][3]  # others never ran
    assert "—" in table_rows["IF-061"][4]  # an MDR does not produce IF-061


def test_requirement_sections_show_findings_messages_provisional_and_a_sequence(
        full: tuple[Path, dict[str, Path]]) -> None:
    folder, paths = full
    html = paths["html"].read_text("utf-8")

    def section(rid: str) -> str:
        start = html.index(f'data-requirement="{rid}"')
        return html[start:html.index("</section>", start)]

    fail = section(IF062)
    assert "schema.required" in fail and "/0/payload/CommonBlock/S1" in fail and "<b>Reproduce</b>" in fail
    assert "&#39;senderRoleID&#39; is a required property" in fail
    assert "RCP4000" in fail  # the offending message's response body, in full
    assert 'class="prov"' in section(IF065) and "A-IF065-DIRECTION" in section(IF065)
    assert 'class="prov"' not in section(IF061)
    exchange = section(START_STOP)
    assert exchange.count("<line x1") == 4 + 3  # four messages plus three lifelines
    assert "DIP (dipcert hub)" in exchange and "SDS 1111111111 (reference)" in exchange
    assert "IF-062/MDRStartResponse" in exchange
    assert 'id="assumptions"' in html and "A-CORRELATION" in html
    assert "certification-basis" not in html  # nothing reused in this run
    # the offending request is shown pretty-printed, line for line as json.dumps(indent=2) lays it out
    records = read_records(folder / "evidence.jsonl")
    bad = next(r for r in records if r["kind"] == "http" and r["channel"] == "hub-inbound"
               and r["context"]["requirement"] == IF062)
    body = json.loads(read_body(folder, bad["request"]["body"]))
    for line in json.dumps(body, indent=2, ensure_ascii=False).splitlines()[:12]:
        assert line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in fail, line


def test_the_page_holds_no_secret_and_reproduces_with_dipcert_replay(full: tuple[Path, dict[str, Path]]) -> None:
    folder, paths = full
    html = paths["html"].read_text("utf-8")
    commands = re.findall(r'<b>Reproduce</b>: <code>(.*?)</code>', html)
    assert f"dipcert replay {RUN_ID}.dipcert.zip {IF062} --profile PROFILE.toml" in commands
    assert any(c.startswith(f"dipcert replay {RUN_ID}.dipcert.zip &#39;#") for c in commands)  # '#NN', quoted
    # no output file holds the secret, in any form
    for path in folder.rglob("*"):
        if path.is_file():
            assert API_KEY.encode() not in path.read_bytes(), path


def test_curl_command_quotes_exact_bytes_and_turns_markers_into_variables() -> None:
    record = {"method": "post", "url": "https://127.0.0.1:1/dip/IF-061",
              "request": {"headers": [["X-API-Key", "[redacted sha256:0123456789abcdef]"],
                                      ["Authorization", "Bearer [redacted sha256:0123456789abcdef]"],
                                      ["X-Note", "it's [redacted sha256:fedcba9876543210]"], ["Host", "x"]]}}
    command = curl_command(record, b'[{"a":"it\'s"}]')
    assert command.startswith("curl -sS -X POST https://127.0.0.1:1/dip/IF-061 \\\n")
    assert '-H "X-API-Key: ${DIP_API_KEY}"' in command and '-H "Authorization: ${DIP_AUTHORIZATION}"' in command
    assert "redacted" not in command and "Host" not in command
    assert "-H 'X-Note: it'\"'\"'s '\"${DIP_SECRET}\"" in command
    import shlex
    assert shlex.split(shell_word('[{"a":"it\'s"}]')) == ['[{"a":"it\'s"}]']


@pytest.mark.parametrize("verdicts, expected", [
    ([], None), (["not-enabled"], "not-enabled"), (["pass", "fail", "not-run"], "fail"),
    (["pass", "not-run"], "not-run"), (["reused", "reused", "not-enabled"], "reused"), (["pass", "reused"], "pass"),
])
def test_interface_cells_aggregate_worst_first(verdicts: list[str], expected: str | None) -> None:
    assert aggregate(verdicts) == expected


# -- junit and allure -----------------------------------------------------------------------------------
def test_junit_has_one_testcase_per_requirement_with_the_right_outcome(full: tuple[Path, dict[str, Path]]) -> None:
    _folder, paths = full
    summary = json.loads(paths["summary"].read_text())
    root = ET.parse(paths["junit"]).getroot()
    suite = root.find("testsuite")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {e["id"] for e in summary["requirements"]}
    counts = {v: sum(1 for e in summary["requirements"] if e["verdict"] == v) for v in V.VERDICTS}
    assert suite.get("tests") == str(len(cases)) and suite.get("failures") == str(counts["fail"]) == "2"
    assert suite.get("errors") == str(counts["not-run"]) and suite.get("skipped") == str(counts["not-enabled"])
    assert cases[IF062].find("failure").get("message") == "'senderRoleID' is a required property"
    assert cases[IF062].get("classname") == "produce/IF-062"
    assert cases[START_STOP].get("classname") == "exchange" and cases[START_STOP].find("failure") is None
    assert cases["MDR-5.2a/IF-006/consume/MeterInstall"].find("error") is not None
    assert cases["MDR-4.1/preflight/dcp"].find("skipped") is not None
    assert "provisional: " in cases[IF065].find("system-out").text


def test_junit_is_valid_against_the_jenkins_junit_schema(full: tuple[Path, dict[str, Path]]) -> None:
    """Every outcome (failure with findings, error, skipped, a provisional verdict's note) in one file."""
    _folder, paths = full
    errors = [str(e.reason) for e in JUNIT_SCHEMA.iter_errors(str(paths["junit"]))]
    assert errors == []
    # and the schema is not a rubber stamp: what the file used to hold is refused
    root = ET.parse(paths["junit"]).getroot()
    root.set("skipped", "1")
    case = next(root.iter("testcase"))
    ET.SubElement(ET.SubElement(case, "properties"), "property", name="provisional", value="x")
    assert len(list(JUNIT_SCHEMA.iter_errors(ET.tostring(root, encoding="unicode")))) == 2


def test_allure_results_hold_a_result_per_requirement_with_steps_and_attachments(
        full: tuple[Path, dict[str, Path]]) -> None:
    _folder, paths = full
    summary = json.loads(paths["summary"].read_text())
    results = [json.loads(p.read_text()) for p in sorted(paths["allure"].glob("*-result.json"))]
    by_id = {r["fullName"]: r for r in results}
    assert set(by_id) == {e["id"] for e in summary["requirements"]}
    status = {"pass": "passed", "fail": "failed", "not-run": "broken", "not-enabled": "skipped"}
    for entry in summary["requirements"]:
        assert by_id[entry["id"]]["status"] == status[entry["verdict"]]
    exchange = by_id[START_STOP]
    # a passed check's bodies are not copied into Allure: its step says how many and where they are
    assert len(exchange["steps"]) == 1
    [note] = exchange["steps"][0]["attachments"]
    assert note["name"] == "bodies of 4 message(s) left out (the check passed): in the bundle's messages/"
    left_out = json.loads((paths["allure"] / note["source"]).read_text())
    assert left_out["left_out"] == 4 and len(left_out["messages"]) == 4 and "messages/" in left_out["where"]
    failed = by_id[IF062]["steps"][0]
    assert failed["status"] == "failed" and "senderRoleID" in failed["statusDetails"]["message"]
    # a failing check carries the bodies it judged (trigger and DIP submission, request and response)
    bodies = [a for a in failed["attachments"] if a["name"] != "findings"]
    assert [a["name"].rsplit(" ", 1)[1] for a in bodies] == ["request", "response"] * 2
    for attachment in failed["attachments"]:
        assert (paths["allure"] / attachment["source"]).is_file()
    [findings] = [a for a in failed["attachments"] if a["name"] == "findings"]
    assert json.loads((paths["allure"] / findings["source"]).read_text())[0]["rule"] == "schema.required"
    assert not any(a["name"] == "findings" for a in exchange["steps"][0]["attachments"])  # a passed check has none
    assert {"name": "tag", "value": "provisional"} in by_id[IF065]["labels"]


def test_allure_attaches_at_most_the_limit_of_bodies_per_requirement_and_says_what_it_left_out(
        full: tuple[Path, dict[str, Path]]) -> None:
    folder, _paths = full
    records = read_records(folder / "evidence.jsonl")
    failed = next(r for r in records if r.get("kind") == "check" and r.get("requirement") == IF062)
    twice = [*records, {**failed, "seq": 10_000}]  # a second failing check of the same requirement
    steps = check_steps(IF062, twice, Bodies(folder), limit=2)
    first, second = ([a.name for a in s.attachments] for s in steps)
    # the first message's request and response fill the limit; the second message is left out whole
    assert [n.rsplit(" ", 1)[1] for n in first[:2]] == ["request", "response"] and len(first) == 4
    assert first[2] == f"bodies of 1 message(s) left out (over 2 bodies for {IF062}): in the bundle's messages/"
    assert first[3] == "findings"
    assert second[0].startswith("bodies of 2 message(s) left out (over 2 bodies") and second[1] == "findings"
    assert [len(s.attachments) for s in check_steps(IF062, records, Bodies(folder))] == [5]  # default limit 20


def test_rendering_is_deterministic(tmp_path: Path) -> None:
    folder = record_full_run(tmp_path / RUN_ID)
    first = render_reports(folder)
    snapshot = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    render_reports(folder)
    again = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert again == snapshot
    assert len(list(first["allure"].iterdir())) == len([k for k in again if k.parts[0] == "allure-results"])


# -- ready runs, reuse, and verify ------------------------------------------------------------------------
def test_a_ready_run_shows_ready_and_its_certification_basis_and_verifies(tmp_path: Path, party: Identity) -> None:
    folder = record_ready_run(tmp_path / RUN_ID, party)
    paths = render_reports(folder)
    summary = json.loads(paths["summary"].read_text())
    assert summary["ready"] and summary["blockers"] == []
    html = paths["html"].read_text("utf-8")
    assert ">READY<" in html and 'id="blockers"' not in html
    basis = html[html.index('id="certification-basis"'):html.index('id="assumptions"')]
    assert "20260101T000000Z-DCP-0000000001-ffff" in basis and "sha256:" + "ef" * 32 in basis
    assert "dip_id=0987654321" in basis and IF061 in basis  # reused from, and what ran live
    root = ET.parse(paths["junit"]).getroot()
    reuse = next(c for c in root.iter("testcase") if c.get("name") == "MDR-5.4/reuse")
    assert "reused_from.run_id: 20260101T000000Z-DCP-0000000001-ffff" in reuse.find("system-out").text
    JUNIT_SCHEMA.validate(str(paths["junit"]))  # a reused requirement's facts keep the file valid
    archive = finalise_bundle(folder, run_id=RUN_ID, harness_version="0.1.0", schema_pack=PACK,
                              profile_digest=summary["profile_digest"], started=summary["started"],
                              finished=summary["finished"], attestation=ATTESTATION, identity=party,
                              ready=summary["ready"])
    result = verify_bundle(archive, pack=PACK_OBJ, revalidate=make_revalidator(PACK_OBJ), integrity_only=True,
                           plan_from_profile=RECORDED_PLAN)
    assert result.findings == [] and result.exit_code == 0, [str(f) for f in result.findings]


def test_verify_accepts_the_rendered_reports_and_catches_an_edited_verdict(tmp_path: Path, party: Identity) -> None:
    folder = record_full_run(tmp_path / RUN_ID, party)
    summary = json.loads(render_reports(folder)["summary"].read_text())
    finalise_bundle(folder, run_id=RUN_ID, harness_version="0.1.0", schema_pack=PACK,
                    profile_digest=summary["profile_digest"], started=summary["started"],
                    finished=summary["finished"], attestation=ATTESTATION, identity=party, ready=summary["ready"])
    result = verify_bundle(folder, revalidate=make_revalidator(PACK_OBJ), plan_from_profile=RECORDED_PLAN)
    assert result.findings == [] and result.sound and result.exit_code == 1, [str(f) for f in result.findings]
    report = folder / "report.html"
    report.write_text(report.read_text("utf-8").replace(
        f'data-requirement="{IF062}" data-verdict="fail"', f'data-requirement="{IF062}" data-verdict="pass"'), "utf-8")
    edited = verify_bundle(folder, plan_from_profile=RECORDED_PLAN)
    assert any(f.rule == "report.verdict" and f.extra.get("requirement") == IF062 for f in edited.findings)


# -- terminal and the command ----------------------------------------------------------------------------
def test_terminal_summary_prints_verdicts_and_the_ready_line(full: tuple[Path, dict[str, Path]]) -> None:
    from rich.console import Console

    _folder, paths = full
    console = Console(record=True, width=160, color_system=None)
    terminal_summary(json.loads(paths["summary"].read_text()), console, bundle="reports/x.dipcert.zip")
    text = console.export_text()
    assert IF062 in text and "schema.required" in text and "provisional" in text
    assert "NOT READY" in text and "reports/x.dipcert.zip" in text
    assert text.index("failed") < text.index("did not run")


def test_report_command_rerenders_a_zip_next_to_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.commands import report as command
    from harness.evidence.bundle import manifest_sha256

    folder = record_ready_run(tmp_path / "runs" / RUN_ID)
    render_reports(folder)
    summary = json.loads((folder / "summary.json").read_text())
    archive = finalise_bundle(folder, run_id=RUN_ID, harness_version="0.1.0", schema_pack=PACK,
                              profile_digest=summary["profile_digest"], started=summary["started"],
                              finished=summary["finished"], attestation=ATTESTATION, ready=True)
    code = command.run(argparse.Namespace(bundle=archive, out=None))
    out = tmp_path / "runs" / f"{RUN_ID}-report"
    assert code == 0
    # The same page, except that a finished bundle's manifest now exists and is named (the run could not).
    again, original = (out / "report.html").read_text("utf-8"), (folder / "report.html").read_text("utf-8")
    manifest = re.compile(r'<div class="wide" id="manifest">.*?</div>', re.S)
    assert manifest.sub("", again) == manifest.sub("", original)
    assert manifest_sha256(folder) in manifest.search(again).group(0)
    assert "dipcert verify</code> prints its sha256" in manifest.search(original).group(0)
    assert (out / "junit.xml").is_file() and (out / "allure-results").is_dir()
    assert str(out / "report.html") in capsys.readouterr().out.replace("\n", "")
    from harness.cli import main

    main(["verify", str(archive), "--integrity-only"])  # the page cannot carry the manifest's hash: verify prints it
    assert f"manifest: {manifest_sha256(folder)}" in capsys.readouterr().out
    custom = tmp_path / "elsewhere"
    assert command.run(argparse.Namespace(bundle=folder, out=custom)) == 0
    assert (custom / "summary.json").read_bytes() == (folder / "summary.json").read_bytes()


def test_report_command_not_ready_exits_1_and_bad_input_is_one_line(tmp_path: Path) -> None:
    from harness.cli import main
    from harness.commands import report as command

    folder = record_full_run(tmp_path / RUN_ID)
    assert command.run(argparse.Namespace(bundle=folder, out=tmp_path / "out")) == 1
    (tmp_path / "junk.dipcert.zip").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a zip file"):
        command.run(argparse.Namespace(bundle=tmp_path / "junk.dipcert.zip", out=None))
    with pytest.raises(InputError, match="--out must not be the bundle itself"):
        command.run(argparse.Namespace(bundle=folder, out=folder))
    assert main(["report", str(tmp_path / "absent")]) == 2
