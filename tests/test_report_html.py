"""report.html as the DIP Manager decides from it and a participant fixes from it (issue 18), on evidence
recorded the way a run records it: the header's provenance, blockers grouped by root cause, each
requirement's own traffic coloured by judgement (a correct rejection is green, an offending 201 red),
links that land, bodies pretty-printed with the failing path marked, advisories and provisional
verdicts set apart, and a failures-only view without a script.
"""

from __future__ import annotations

import hashlib
import json
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from test_report import API_KEY, FIXTURES, ME, PARTNER, RUN_ID, Run, record_full_run, run_dict

from harness.config.profile import load_profile
from harness.core.findings import Finding
from harness.evidence.recorder import Recorder, read_records
from harness.plan.requirements import build_plan, plan_to_dicts
from harness.report import build_summary, render_reports
from harness.report.bodies import read_body, resolve, show_body, show_headers
from harness.report.causes import root_causes
from harness.report.html import render_html

INSTALL = "MDR-5.2a/IF-006/consume/MeterInstall"
REMOVAL = "MDR-5.2a/IF-006/consume/MeterRemoval"
EXCHANGE = "MDR-5.2a/IF-006/consume/MeterExchange"
IF064 = "MDR-5.2b/IF-064/produce"
PERIODS = "/0/payload/CustomBlock/B941List/0/MDRConsumptionPeriods"


def record_judged_run(folder: Path, *, dip: dict[str, Any] | None = None) -> Path:
    """One fault spread wide (a bad MPAN accepted by two consume requirements), a correct rejection
    beside it, and a provisional finding (47 periods, resting on A-PERIODS-48) in a submission."""
    profile = load_profile(FIXTURES / "mdr-example.toml")
    plan = plan_to_dicts(build_plan(profile))
    run = run_dict(profile)
    if dip is not None:
        run["dip"] = dip
    rec = Recorder(folder, secrets=[API_KEY], run=run)
    rec.event("plan", requirements=plan, profile_digest=profile.digest())
    rec.event("hub.start", base_url="http://127.0.0.1:7443", environment="UIT", mtls=False,
              signer="sha256:" + "cd" * 32)
    r = Run(rec)
    for rid, event in ((INSTALL, "MeterInstall"), (REMOVAL, "MeterRemoval")):
        item = r.factory.message("IF-006", event, sender=PARTNER, recipients=[ME.dip_id])
        good = r.http("webhook-delivery", rid, r.factory.egress(item))
        refused = r.http("webhook-delivery", rid, r.factory.egress(item), status=401,
                         response=b'{"responseCode":"RCP9999"}')  # bad signature, rightly refused
        accepted = r.http("webhook-delivery", rid, r.factory.egress(item), status=201)  # bad MPAN, wrongly accepted
        r.requirement(rid, [
            ("webhook.accepts-valid", True, [], [good]),
            ("consume.bad-signature", True, [], [refused]),
            ("consume.recipient-rejection", False, [Finding(
                "consume.recipient-rejection", "/0/payload/CommonBlock", "RCP1061", "HTTP 201, RCP0000",
                f"IF-006 [{event}]: an MPAN core with a wrong check digit was accepted")], [accepted]),
        ])
    consumption = r.factory.message("IF-064", "MDRConsumption", sender=ME, recipients=[PARTNER.dip_id])
    trigger = r.http("trigger", IF064, consumption, url="http://127.0.0.1:9100/trigger", status=200, response=b"{}")
    sent = r.http("hub-inbound", IF064, consumption, url="https://127.0.0.1:7443/dip-channel/IF-064",
                  response=b'{"messageArray":[{"message":"MSG0000 - Success"}],"timestamp":"x"}')
    r.requirement(IF064, [("produce.accepted", False, [Finding(
        "periods.count", PERIODS, "48 periods", "47 periods", "settlement day has 47 periods, expected 48",
        extra={"assumption": "A-PERIODS-48"})], [trigger, sent])])
    rec.close()
    return folder


class Page(HTMLParser):
    """Ids, internal links, the sections' classes and open state, and the elements carrying a marker."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.links: list[str] = []
        self.sections: dict[str, dict[str, Any]] = {}
        self._section: str | None = None
        self.order: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.append(str(values["id"]))
            self.order.append(str(values["id"]))
        if tag == "a" and str(values.get("href") or "").startswith("#"):
            self.links.append(str(values["href"])[1:])
        if "data-requirement" in values:
            self._section = str(values["data-requirement"])
            self.sections[self._section] = {"class": values.get("class"), "open": None}
        elif tag == "details" and self._section and self.sections[self._section]["open"] is None:
            self.sections[self._section]["open"] = "open" in values


def page(html: str) -> Page:
    parser = Page()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = record_judged_run(tmp_path_factory.mktemp("judged") / RUN_ID)
    return folder, render_reports(folder)["html"].read_text("utf-8")


def text(fragment: str) -> str:
    """What a reader sees of an HTML fragment: tags dropped, entities decoded."""
    return unescape(re.sub(r"<[^>]+>", "", fragment))


def section(html: str, rid: str) -> str:
    start = html.index(f'data-requirement="{rid}"')
    return html[start:html.index("</section>", start)]


# -- the header -------------------------------------------------------------------------------------------
def test_header_states_grade_attestation_signer_evidence_hash_and_a_simulated_dip(judged: tuple[Path, str]) -> None:
    folder, html = judged
    header = html[html.index('<header class="banner'):html.index("</header>")]
    assert 'data-grade="self-test">Evidence grade: <b>SELF-TEST</b>: not certification evidence' in header
    attestation = text(re.search(r'id="attestation">(.*?)</div>', header, re.S).group(1))
    assert "Ada Tester, Test lead (Example Energy); expires 2099-12-31" in attestation
    dip = text(re.search(r'id="dip" data-dip="embedded">(.*?)</div>', header, re.S).group(1))
    assert "simulated by dipcert on the participant's machine, not Elexon's DIP" in dip
    assert "http://127.0.0.1:7443" in dip and "sha256:" + "cd" * 8 in dip
    environment = text(re.search(r'id="environment">(.*?)</div>', header, re.S).group(1))
    assert "UIT tag on a simulated DIP: not Elexon's UIT" in environment  # never "UIT" unqualified
    manifest = text(re.search(r'id="manifest">(.*?)</div>', header, re.S).group(1))
    digest = hashlib.sha256((folder / "evidence.jsonl").read_bytes()).hexdigest()
    assert f"sha256:{digest}" in manifest and "dipcert verify prints its sha256" in manifest
    assert 'id="signer"' in header


def test_a_remote_dip_named_by_the_evidence_is_shown_as_such(tmp_path: Path) -> None:
    remote = {"kind": "remote", "url": "https://dip-uit.example", "subject": "CN=DIP UIT",
              "fingerprint": "sha256:" + "ab" * 32}
    folder = record_judged_run(tmp_path / RUN_ID, dip=remote)
    html = render_reports(folder)["html"].read_text("utf-8")
    dip = text(re.search(r'id="dip" data-dip="remote">(.*?)</div>', html, re.S).group(1))
    assert "remote DIP at https://dip-uit.example" in dip and "CN=DIP UIT" in dip and "simulated" not in dip
    environment = text(re.search(r'id="environment">(.*?)</div>', html, re.S).group(1))
    assert "simulated" not in environment and "UIT" in environment
    # issue 15 puts the DIP in summary.json too: it is what the page shows when present
    summary = build_summary(read_records(folder / "evidence.jsonl"))
    summary["dip"] = {"kind": "embedded"}
    again = render_html(summary, read_records(folder / "evidence.jsonl"), folder)
    assert "simulated by dipcert on the participant's machine" in text(again)


# -- blockers by root cause -------------------------------------------------------------------------------
def test_blockers_are_grouped_by_the_rule_that_failed_with_the_first_finding_inline(judged: tuple[Path, str]) -> None:
    _folder, html = judged
    blockers = html[html.index('id="blockers"'):html.index('id="interfaces"')]
    causes = re.findall(r'<li class="cause ([^"]*)" data-rule="([^"]+)">(.*?)</li>', blockers, re.S)
    rules = [rule for _css, rule, _text in causes]
    assert rules[0] == "consume.recipient-rejection" and rules.count("consume.recipient-rejection") == 1
    assert set(rules) == {"consume.recipient-rejection", "periods.count", "not-run"}
    mpan = next(text for _c, rule, text in causes if rule == "consume.recipient-rejection")
    assert "2 findings in 2 requirements" in mpan
    assert "an MPAN core with a wrong check digit was accepted" in mpan and "/0/payload/CommonBlock" in mpan
    assert f'href="#r-{INSTALL.replace("/", "_").replace(".", "_")}"' in mpan and REMOVAL in mpan
    assert re.search(r'in</span> <a href="#m-\d+">#\d+</a>', mpan)  # the first finding links to its message
    css, _rule, periods = next(c for c in causes if c[1] == "periods.count")
    assert "provisional" in css and "rests on A-PERIODS-48" in text(periods)  # set apart, rests on an assumption
    not_run = next(text for _c, rule, text in causes if rule == "not-run")
    assert EXCHANGE in not_run and "Did not run" in not_run


def test_root_causes_list_a_requirement_under_each_rule_it_failed_and_the_incomplete_run_first() -> None:
    entries = {
        "A": {"findings": [{"rule": "x", "path": "/a", "message": "m1"}, {"rule": "y", "path": "/b", "message": "m2"}],
              "assumptions": []},
        "B": {"findings": [{"rule": "x", "path": "/c", "message": "m3"},
                           {"rule": "z", "path": "", "message": "w", "severity": "warning"}], "assumptions": []},
        "C": {"findings": [], "assumptions": ["A-1"]},
    }
    items = [{"requirement": None, "verdict": None, "message": "the run did not complete"},
             {"requirement": "A", "verdict": "fail"}, {"requirement": "B", "verdict": "fail"},
             {"requirement": "C", "verdict": "fail"}, {"requirement": "D", "verdict": "not-run"}]
    causes = root_causes(items, entries, lambda rid: ["check.rule"] if rid == "C" else [])
    assert [c.rule for c in causes] == ["run.incomplete", "x", "y", "check.rule", "not-run"]
    x = causes[1]
    assert x.requirements == ["A", "B"] and x.findings == 2 and x.first["message"] == "m1" and not x.provisional
    assert causes[3].requirements == ["C"] and causes[3].provisional and causes[3].assumptions == ["A-1"]
    assert "z" not in [c.rule for c in causes]  # a warning is no root cause


# -- requirement sections ------------------------------------------------------------------------------------
def _lines(svg: str) -> list[tuple[str, str]]:
    """(judgement class, label) of each arrow in a diagram."""
    return re.findall(r'<line x1="[\d.]+" y1="\d+" x2="[\d.]+" y2="\d+" class="j-(\w+)"[^>]*/>'
                      r'(?:<a [^>]*>)?<text [^>]*>(.*?)</text>', svg)


def test_arrows_are_coloured_by_judgement_not_by_status(judged: tuple[Path, str]) -> None:
    _folder, html = judged
    arrows = _lines(section(html, INSTALL))
    assert len(arrows) == 3, arrows
    assert [(j, label.rsplit("&#8594; ", 1)[1]) for j, label in arrows] == [("pass", "201"), ("pass", "401"),
                                                                              ("fail", "201")]
    # only the requirement's own traffic: nothing of MeterRemoval's or IF-064's
    labels = " ".join(label for _j, label in arrows)
    assert "IF-064" not in labels and "MeterRemoval" not in labels
    produce = _lines(section(html, IF064))
    assert [j for j, _label in produce] == ["pass", "fail"]  # the trigger was fine; the submission at fault


def test_links_land_and_the_failing_path_is_marked_in_the_pretty_body(judged: tuple[Path, str]) -> None:
    folder, html = judged
    parsed = page(html)
    assert len(parsed.ids) == len(set(parsed.ids)), "element ids must be unique"
    missing = sorted(set(parsed.links) - set(parsed.ids))
    assert not missing, missing
    install = section(html, INSTALL)
    link = re.search(r'<td><code>/0/payload/CommonBlock</code> <a href="#(m\d+-request-p[0-9a-f]+)">#(\d+)</a>',
                     install)
    assert link, "the finding links to the marked line of its message"
    marked = re.search(rf'<mark id="{link.group(1)}">(.*?)</mark>', install).group(1)
    assert marked.strip() == '"CommonBlock": {'
    seq = int(link.group(2))
    assert f'<details class="msg j-fail" id="m-{seq}" open>' in install
    # the same root cause again: its message at fault starts closed (a link to it still opens it)
    assert re.search(r'<details class="msg j-fail" id="m-\d+">', section(html, REMOVAL))
    assert "dipcert replay" in install and f"&#39;#{seq}&#39; --profile PROFILE.toml" in install
    # the body line for line as json.dumps(indent=2) lays it out, only &, < and > escaped
    record = next(r for r in read_records(folder / "evidence.jsonl") if r.get("seq") == seq)
    body = json.loads(read_body(folder, record["request"]["body"]))
    text = re.sub(r"</?mark[^>]*>", "", install)
    for line in json.dumps(body, indent=2, ensure_ascii=False).splitlines()[:20]:
        assert line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in text, line
    # the long consumption array: its start, its end and the elision between, the mark kept
    produce = section(html, IF064)
    assert "lines not shown" in produce and '"MDRConsumptionPeriods": [' in produce


def test_passing_requirements_are_collapsed_and_their_bodies_stay_in_the_bundle(judged: tuple[Path, str],
                                                                                tmp_path: Path) -> None:
    folder, html = judged
    sections = page(html).sections
    assert sections[INSTALL]["open"] is True and sections[IF064]["open"] is True
    # in a failing section, the message judged correct is a line; only the one at fault is in full
    good = next(r for r in read_records(folder / "evidence.jsonl") if r.get("kind") == "http")
    install = section(html, INSTALL)
    assert f'<li id="m-{good["seq"]}">#{good["seq"]} · webhook-delivery' in install
    assert f'id="m-{good["seq"]}" open' not in install and install.count("<details class=\"msg") == 1
    # a passing section keeps its messages on its diagram (the label is the message's anchor), no body
    full = record_full_run(tmp_path / RUN_ID)
    page_text = render_reports(full)["html"].read_text("utf-8")
    passing = section(page_text, "MDR-5.2a/IF-061/consume")
    seq = re.search(r'<a id="m-(\d+)" href="#m-\1">', passing).group(1)
    assert page(page_text).sections["MDR-5.2a/IF-061/consume"]["open"] is False
    assert "<pre" not in passing and f"#{seq} IF-061/MDRStart" in passing


def test_failures_only_view_needs_no_script_and_prints(judged: tuple[Path, str]) -> None:
    _folder, html = judged
    assert "<script" not in html
    assert html.index('<input type="checkbox" id="failures-only"') < html.index("<main>")  # a sibling before main
    assert "#failures-only:checked ~ main .req:not(.fail):not(.not-run) { display: none; }" in html
    assert '<label class="toggle" for="failures-only">' in html
    assert "@media print" in html and "details.msg:not(.j-fail) { display: none; }" in html


def test_advisory_and_provisional_requirements_are_set_apart_from_blockers(judged: tuple[Path, str]) -> None:
    folder, html = judged
    assert 'class="prov"' in section(html, IF064) and "A-PERIODS-48" in section(html, IF064)
    # issue 14a: an advisory requirement (entries' `advisory`, summary's `advisories`) does not block
    records = read_records(folder / "evidence.jsonl")
    summary = build_summary(records)
    for entry in summary["requirements"]:
        if entry["id"] == REMOVAL:
            entry["advisory"] = True
    moved = [b for b in summary["blockers"] if b["requirement"] == REMOVAL]
    summary["blockers"] = [b for b in summary["blockers"] if b["requirement"] != REMOVAL]
    summary["advisories"] = moved
    again = render_html(summary, records, folder)
    blockers = again[again.index('id="blockers"'):again.index('id="advisories"')]
    advisories = again[again.index('id="advisories"'):again.index('id="interfaces"')]
    assert REMOVAL not in blockers and "1 finding in 1 requirement" in blockers
    assert REMOVAL in advisories and 'class="cause advisory"' in advisories
    assert 'class="req fail advisory"' in again and '<span class="adv"' in section(again, REMOVAL)
    assert "1 advisory (not blocking)" in again


def test_hostile_bodies_and_headers_are_escaped(tmp_path: Path) -> None:
    shown = show_body(b'[{"a": "</pre><script>alert(1)</script>", "b": {"c~/d": 1}}]', ["/0/b/c~0~1d"],
                      anchor="m1-request")
    assert "<script>" not in shown.html and "&lt;/pre&gt;&lt;script&gt;" in shown.html
    assert shown.marked == ("/0/b/c~0~1d",) and '<mark id="m1-request-p' in shown.html
    assert show_body(b"not json <b>", []).html == "not json &lt;b&gt;"
    assert show_body(b"[" * 100_000, []).is_json is False  # too deep to walk: shown as text
    huge = show_body(b'{"a": "' + b"x" * 300_000 + b'"}', [])
    # the line, indent and key included
    assert huge.shortened and len(huge.html) < 3_000 and "300,009 characters" in huge.html
    headers = show_headers([["X-DIP-Signature-Certificate", "bm90IGEgY2VydA=="], ["X-Note", "x" * 500],
                            ["X-DIP-Signature", "short"]], ["header:x-dip-signature"])
    assert "not a readable certificate" in headers[0][1] and "500 characters" in headers[1][1]
    assert headers[2] == ("X-DIP-Signature", "short", True)


def test_a_pointer_below_a_missing_property_marks_the_object_that_exists() -> None:
    value = [{"payload": {"CommonBlock": {"S1": {"senderDIPID": "1"}}}}]
    assert resolve(value, "/0/payload/CommonBlock/S1/senderRoleID") == ("/0/payload/CommonBlock/S1", False)
    assert resolve(value, "/0/payload/CommonBlock/S1") == ("/0/payload/CommonBlock/S1", True)
    assert resolve(value, "header:X-API-Key") == ("", False)


def test_the_full_run_keeps_one_marker_per_requirement(tmp_path: Path) -> None:
    folder = record_full_run(tmp_path / RUN_ID)
    html = render_reports(folder)["html"].read_text("utf-8")
    markers = re.findall(r'data-requirement="([^"]+)" data-verdict="([^"]+)"', html)
    assert len(markers) == len({m[0] for m in markers})
