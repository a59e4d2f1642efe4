"""Suite-wide rules for dipcert's own tests.

The specification-comparison tests skip when Elexon's specification is not beside the repository
(`../shared/elexon-dip-api`): a contributor without it still runs everything else. CI has it there,
so in CI (environment variable CI set, as CI runners do) such a skip would hide that dipcert was
never compared with the specification: there it is a failure instead.

Fixtures shared by many test modules live here, each made once per module: `demo_pki` (dipcert's
demo PKI on disk: CA, DIP, MDR and SDS certificates and keys, as `dipcert demo` makes them) and
`hub_pki` (in-memory identities for the DIP service tests, tests/dipkit.py).

No test writes to the real home: DIPCERT_HOME (where every route keeps the simulated DIP's identity,
harness.dip.identity) points at a scratch folder for the whole session, subprocesses included.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest
from dipkit import make_pki as make_hub_pki

from harness.run.demo import DemoPKI, make_pki

SPEC_FOLDER = "../shared/elexon-dip-api"  # every "specification missing" skip reason names it


_HOME = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_HOME] = os.environ["DIPCERT_HOME"] = tempfile.mkdtemp(prefix="dipcert-home-")


def pytest_unconfigure(config: pytest.Config) -> None:
    home = config.stash.get(_HOME, None)
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    text = str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr or "")
    return text.removeprefix("Skipped: ")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.skipped and in_ci() and SPEC_FOLDER in skip_reason(report):
        report.outcome = "failed"
        report.longrepr = (f"CI is set but this specification test was skipped: {skip_reason(report)}. "
                           f"CI must have Elexon's specification at {SPEC_FOLDER} beside the repository.")
    return None


@pytest.fixture(scope="module")
def demo_pki(tmp_path_factory: pytest.TempPathFactory) -> DemoPKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def hub_pki() -> dict:
    return make_hub_pki()
