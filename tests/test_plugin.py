"""The pytest plugin behaves (issue 17): ini keys beside the --dipcert-* options, inert without a profile
(an unrelated suite with another plugin's `--spec` runs as if dipcert were not installed), stable
requirement ids so `--lf` reruns only the failed ones, and the project's own wiring (top-level
conftest.py) that makes `pytest scenarios --dipcert-profile FILE` work from a checkout.

Scratch projects run in process (pytester) where nothing starts a server: the scenario modules written
here ask only for `requirement`, which the plugin parametrises from the plan at collection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ROOT / "fixtures" / "profiles"

# A scenario module that fails one preflight requirement on purpose: no run is opened (no dipcert_run)
PREFLIGHT = """
import pytest

@pytest.mark.dipcert("preflight")
def test_preflight(requirement):
    assert not requirement.id.endswith("/webhooks"), requirement.id
"""


def test_ini_keys_name_the_profile_relative_to_the_ini_file(pytester: pytest.Pytester) -> None:
    (pytester.path / "certify").mkdir()
    (pytester.path / "certify" / "mdr.toml").write_text((PROFILES / "mdr-example.toml").read_text())
    pytester.makeini("[pytest]\ndipcert_profile = certify/mdr.toml\ndipcert_timeout = 3\n")
    pytester.makepyfile(test_scenario=PREFLIGHT)
    result = pytester.runpytest_inprocess("--collect-only", "-q")
    result.stdout.fnmatch_lines(["*test_preflight?MDR-4.1/preflight/certificates?", "*6 tests collected*"])
    # the command line wins over the ini file
    result = pytester.runpytest_inprocess("--collect-only", "-q", "--dipcert-profile", "nowhere.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "nowhere.toml" in "".join(result.errlines)
    pytester.makeini("[pytest]\ndipcert_profile = certify/mdr.toml\ndipcert_timeout = soon\n")
    result = pytester.runpytest_inprocess("--collect-only", "-q")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "ini dipcert_timeout: expected seconds, got 'soon'" in "".join(result.errlines)


def test_every_option_has_its_ini_key(pytester: pytest.Pytester) -> None:
    from harness.plugin import SETTINGS

    result = pytester.runpytest_inprocess("--help")
    for name in SETTINGS:
        result.stdout.fnmatch_lines([f"*--dipcert-{name.replace('_', '-')}*", f"*dipcert_{name} (string)*"])


def test_last_failed_reruns_only_the_failed_requirement(pytester: pytest.Pytester) -> None:
    """Requirement ids are stable node ids: `--lf` selects exactly what failed (the plugin disables nothing)."""
    pytester.makepyfile(test_scenario=PREFLIGHT)
    profile = str(PROFILES / "mdr-example.toml")
    first = pytester.runpytest_inprocess("--dipcert-profile", profile)
    first.assert_outcomes(passed=5, failed=1)
    again = pytester.runpytest_inprocess("--dipcert-profile", profile, "--lf", "-rf")
    again.assert_outcomes(failed=1, deselected=5)
    again.stdout.fnmatch_lines(["FAILED *test_preflight?MDR-4.1/preflight/webhooks?*"])


def test_no_effect_on_an_unrelated_suite_with_a_spec_plugin(pytester: pytest.Pytester) -> None:
    """Another plugin's bare `--spec` (pytest-spec's name) works, the project's own `profile`/`samples`
    fixtures answer its tests, and the outcome is the same as with dipcert's plugin switched off."""
    pytester.makeconftest("""
import pytest

def pytest_addoption(parser):
    parser.addoption("--spec", action="store_true", help="another plugin's option (pytest-spec style)")

@pytest.fixture
def profile(request):
    return "theirs" + ("+spec" if request.config.getoption("spec") else "")
""")
    pytester.makepyfile(test_theirs="""
import pytest

def test_their_profile(profile):
    assert profile == "theirs+spec"

@pytest.mark.parametrize("requirement", [1, 2])
def test_their_requirement(requirement):
    assert requirement in (1, 2)

def test_samples_is_not_lent(request):
    with pytest.raises(pytest.FixtureLookupError):
        request.getfixturevalue("samples")
""")
    with_dipcert = pytester.runpytest_inprocess("--spec", "-rA")
    with_dipcert.assert_outcomes(passed=4)
    assert [line for line in with_dipcert.outlines if "dipcert" in line and not line.startswith("plugins:")] == []
    without = pytester.runpytest_inprocess("--spec", "-rA", "-p", "no:dipcert")
    without.assert_outcomes(passed=4)
    assert [line for line in with_dipcert.outlines if "PASSED" in line] == \
        [line for line in without.outlines if "PASSED" in line]


def _collect_scenarios(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "scenarios", "--collect-only", "-q",
                           "-p", "no:cacheprovider",
                           "--dipcert-profile", str(PROFILES / "demo-reference.toml")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_the_checkout_wires_the_plugin_once_with_or_without_autoload() -> None:
    """The top-level conftest.py registers the plugin when the entry point did not (autoload off), and
    does not register it a second time when it did."""
    for env in ({**os.environ}, {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}):
        done = _collect_scenarios(env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "scenarios/test_consume.py: 28" in done.stdout and "scenarios/test_exchange.py: 4" in done.stdout


@pytest.mark.slow
def test_the_reference_profile_certifies_as_shipped(tmp_path: Path) -> None:
    """README's pytest route, verbatim but for a scratch --dipcert-out: exit 0, READY, and honestly a
    rehearsal; the DIP that signed is the one kept in DIPCERT_HOME (shared by every route)."""
    from harness.dip.identity import dip_folder, load_or_create

    done = subprocess.run([sys.executable, "-m", "pytest", "scenarios", "-p", "no:cacheprovider",
                           "--dipcert-profile", "fixtures/profiles/demo-reference.toml",
                           "--dipcert-out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "dipcert: READY" in done.stdout
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["ready"] and summary["grade"]["level"] == "rehearsal"
    assert any("was dipcert's own reference participant" in r for r in summary["grade"]["reasons"])
    dip, _ = load_or_create(dip_folder())
    records = [json.loads(line) for line in (folder / "evidence.jsonl").read_text().splitlines()]
    start = next(r for r in records if r.get("kind") == "run-start")
    assert start["run"]["profile"]["party"]["endpoint"] == "reference"
    assert start["run"]["dip"]["fingerprint"] == dip.fingerprint()


@pytest.mark.parametrize("path", sorted(PROFILES.glob("*.toml")), ids=lambda p: p.name)
def test_every_fixture_profile_runs_as_shipped_or_says_what_it_needs(path: Path) -> None:
    from harness.config.profile import load_profile

    profile = load_profile(path)  # every fixture profile loads
    header = [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    assert profile.party.is_reference or any(line.startswith("# Needs") for line in header), path.name
