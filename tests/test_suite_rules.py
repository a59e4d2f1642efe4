"""The suite's own rules (tests/conftest.py): a skipped specification test fails in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = (Path(__file__).parent / "conftest.py").read_text("utf-8")
TESTS = '''
import pytest

def test_needs_the_spec():
    pytest.skip("Elexon's specification is not at ../shared/elexon-dip-api (harness.core.paths.default_spec_dir)")

@pytest.mark.skipif(True, reason="Elexon's specification is not at ../shared/elexon-dip-api")
def test_marked():
    pass

def test_other_skip():
    pytest.skip("playwright is not installed")
'''


@pytest.mark.parametrize("ci", ["true", ""])
def test_a_specification_skip_fails_only_in_ci(pytester: pytest.Pytester, monkeypatch, ci) -> None:
    monkeypatch.setenv("CI", ci)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(TESTS)
    result = pytester.runpytest_inprocess("-p", "no:dipcert", "-p", "no:cacheprovider")
    if ci:  # a skip at setup (skipif) is reported as an error, one in the test as a failure
        result.assert_outcomes(failed=1, errors=1, skipped=1)
        result.stdout.fnmatch_lines(["*CI is set but this specification test was skipped*"])
    else:
        result.assert_outcomes(skipped=3)


@pytest.mark.parametrize("value, ci", [("true", True), ("1", True), ("yes", True), ("", False), ("0", False),
                                       ("false", False), ("FALSE", False), ("no", False)])
def test_what_counts_as_ci(monkeypatch, value, ci) -> None:
    from conftest import in_ci  # tests/ is on sys.path (rootdir-relative test modules)

    monkeypatch.setenv("CI", value)
    assert in_ci() is ci
