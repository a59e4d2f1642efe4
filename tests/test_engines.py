"""One engine, two routes (issue 17): `dipcert run` and `pytest scenarios --dipcert-profile` certify the
same profile through the same core (CertificationRun, run_requirement) and give the same verdicts, a
JUnit file CI servers accept (the Jenkins junit-10 schema) and Allure results whose steps are the
checks, with the judged messages and the findings attached.

The party is the reference MDR with one fault switch on (its IF-061 webhook answers 500), limited to
three interfaces so that both runs together stay well under 30 s: the verdict sets then hold
passes AND failures, so agreeing on them means something.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import xmlschema

from harness.cli import main
from harness.run.demo import demo_party

ROOT = Path(__file__).resolve().parents[1]
JUNIT_SCHEMA = xmlschema.XMLSchema(Path(__file__).resolve().parent / "data" / "junit-10.xsd")
INTERFACES = ("IF-061", "IF-062", "IF-064")  # IF-061 with its answers: a coherent MDR (4.1 partner passes)
FAULT = "webhook-500:IF-061"
CONSUME = "MDR-5.2a/IF-061/consume"
PRODUCE = "MDR-5.2b/IF-062/produce"
TIMEOUT = "3"


def _bundle(out: Path) -> Path:
    [summary] = out.glob("*/summary.json")
    return summary.parent


@pytest.fixture(scope="module")
def via_run(demo_pki: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    out = tmp_path_factory.mktemp("run")
    with demo_party("MDR", demo_pki, out, faults=[FAULT], interfaces=INTERFACES,
                    timeout=float(TIMEOUT)) as (profile, _):
        code = main(["run", "--profile", str(profile.path), "--out", str(out / "bundles"),
                     "--dip-key", str(demo_pki.folder / "dip"), "--timeout", TIMEOUT])
    return code, _bundle(out / "bundles")


@pytest.fixture(scope="module")
def via_pytest(demo_pki: Any,
               tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path, Path]:
    out = tmp_path_factory.mktemp("pytest")
    with demo_party("MDR", demo_pki, out, faults=[FAULT], interfaces=INTERFACES,
                    timeout=float(TIMEOUT)) as (profile, _):
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "scenarios", "-o", "testpaths=scenarios", "-p", "no:cacheprovider",
             "-p", "no:randomly", f"--dipcert-profile={profile.path}", f"--dipcert-out={out / 'bundles'}",
             f"--dipcert-dip-key={demo_pki.folder / 'dip'}", f"--dipcert-timeout={TIMEOUT}",
             f"--junitxml={out / 'pytest.xml'}", f"--alluredir={out / 'allure'}"],
            cwd=ROOT, capture_output=True, text=True, timeout=120)
    return done, _bundle(out / "bundles"), out


def _verdicts(bundle: Path) -> dict[str, str]:
    summary = json.loads((bundle / "summary.json").read_text("utf-8"))
    return {r["id"]: r["verdict"] for r in summary["requirements"]}


def _pytest_verdicts(junit: Path) -> dict[str, str]:
    """requirement id -> verdict as pytest's own junitxml tells it (an advisory failure is an xfail,
    which junitxml writes as `skipped` of type pytest.xfail)."""
    found = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "")
        if "[" not in name:
            continue
        rid = name[name.index("[") + 1:-1]
        if "/" not in rid:  # a kind the plan has none of (e.g. `reuse-none`): skipped, not a requirement
            continue
        skipped = case.find("skipped")
        if case.find("failure") is not None or case.find("error") is not None:
            found[rid] = "fail"
        elif skipped is not None:
            found[rid] = "fail" if skipped.get("type") == "pytest.xfail" else \
                "not-enabled" if "not-enabled" in (skipped.get("message") or "") else "skipped"
        else:
            found[rid] = "pass"
    return found


def test_both_routes_give_the_same_verdicts(via_run: tuple[int, Path], via_pytest: Any) -> None:
    code, run_bundle = via_run
    done, pytest_bundle, out = via_pytest
    expected = _verdicts(run_bundle)
    assert expected[CONSUME] == "fail" and expected[PRODUCE] == "pass"  # the fault, and only where it bites
    assert code == 1 and done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    assert _verdicts(pytest_bundle) == expected
    # pytest's own view of the session agrees requirement by requirement (the plan's order of tests)
    assert _pytest_verdicts(out / "pytest.xml") == expected
    assert "dipcert: NOT READY" in done.stdout


def test_both_junit_files_are_valid_against_the_jenkins_schema(via_run: tuple[int, Path], via_pytest: Any) -> None:
    _code, run_bundle = via_run
    _done, pytest_bundle, out = via_pytest
    for junit in (run_bundle / "junit.xml", pytest_bundle / "junit.xml", out / "pytest.xml"):
        assert [str(e.reason) for e in JUNIT_SCHEMA.iter_errors(str(junit))] == [], junit


def _allure(folder: Path) -> dict[str, dict]:
    """requirement id -> result, from an allure-results folder of either writer."""
    found = {}
    for path in folder.glob("*-result.json"):
        result = json.loads(path.read_text("utf-8"))
        params = {p["name"]: p["value"] for p in result.get("parameters", [])}
        rid = params.get("requirement", "").strip("'") or result.get("fullName")
        found[rid] = result
    return found


def _steps(result: dict, *, bare: bool = False) -> list[tuple[str, str, list[str]]]:
    """(check, status, attachment names) per step. `bare`: without the evidence record numbers and with
    the attachments sorted, to compare two different runs (which number their records differently,
    and may record a trigger's answer and the message it caused in either order)."""
    def name(text: str) -> str:
        return text.split(" ", 1)[1] if bare and text.startswith("#") else text

    return [(name(s["name"]), s["status"],
             (sorted if bare else list)(name(a["name"]) for a in s.get("attachments", [])))
            for s in result.get("steps", [])]


@pytest.mark.parametrize("requirement", [CONSUME, PRODUCE])
def test_allure_results_of_both_routes_hold_the_checks_as_steps_with_attachments(
        via_run: tuple[int, Path], via_pytest: Any, requirement: str) -> None:
    _code, run_bundle = via_run
    _done, pytest_bundle, out = via_pytest
    folders = {"dipcert run bundle": run_bundle / "allure-results", "pytest bundle": pytest_bundle / "allure-results",
               "allure-pytest": out / "allure"}
    seen = {}
    for route, folder in folders.items():
        result = _allure(folder)[requirement]
        steps = result["steps"]
        assert steps, f"{route}: {requirement} has no steps"
        attachments = [a for s in steps for a in s.get("attachments", [])]
        assert attachments, f"{route}: {requirement} has no attachments"
        for a in attachments:  # (a 500's empty body is an empty file: still there)
            assert (folder / a["source"]).is_file()
        seen[route] = result
    # allure-pytest's steps are its bundle's steps (one run: the same records), and the same checks
    # with the same statuses and attachments as the `dipcert run` route's
    assert _steps(seen["allure-pytest"]) == _steps(seen["pytest bundle"])
    assert _steps(seen["pytest bundle"], bare=True) == _steps(seen["dipcert run bundle"], bare=True)
    statuses = {status for _name, status, _a in _steps(seen["allure-pytest"])}
    if requirement == CONSUME:  # the failing check's step failed and carries its findings
        assert "failed" in statuses
        assert any("findings" in names for _n, status, names in _steps(seen["allure-pytest"]) if status == "failed")
        assert json.loads(next(
            (out / "allure" / a["source"]).read_text("utf-8") for s in _allure(out / "allure")[CONSUME]["steps"]
            for a in s.get("attachments", []) if a["name"] == "findings"))[0]["rule"] == "consume.status"
    else:
        assert statuses == {"passed"}
