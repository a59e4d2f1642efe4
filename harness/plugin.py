"""The dipcert pytest plugin: the certification scenarios (scenarios/) as ordinary pytest tests.

Registered through the `pytest11` entry point, so `pytest scenarios --dipcert-profile my.toml`
works wherever dipcert is installed, on the same core as `dipcert run`: one `CertificationRun` per
pytest session, opened at the first scenario and closed (reports rendered, bundle signed) when the
session ends. Each requirement of the plan is one test, its id the requirement id, so a test team's
CI shows `MDR-5.2a/IF-061/consume` passing or failing with its findings; a requirement the profile
does not enable is a skipped test marked `not-enabled`.

Scenario modules ask for requirements with `@pytest.mark.dipcert("consume")` and a `requirement`
argument; `dipcert_certify(requirement)` runs it and fails the test with the findings.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_RUN_KEY = pytest.StashKey[Any]()
_PROFILE_KEY = pytest.StashKey[Any]()
_PLAN_KEY = pytest.StashKey[Any]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dipcert", "dipcert certification")
    group.addoption("--dipcert-profile", default=None, help="participant profile (TOML)")
    group.addoption("--dipcert-out", default=None, help="folder for the evidence bundle (default: reports/)")
    # Prefixed like every option here: a bare --spec collides with the pytest-spec plugin.
    group.addoption("--dipcert-spec", dest="dipcert_spec", default=None,
                    help="folder with Elexon's DIP API specification (unresolved YAML)")
    group.addoption("--dipcert-timeout", type=float, default=None, help="bound for every wait, in seconds")
    group.addoption("--dipcert-attested-by", default=None, help="'Name, Role' attesting the run")
    group.addoption("--dipcert-dip-key", default=None,
                    help="folder with the simulated DIP's signing key and certificate (default: <out>/.dip)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dipcert(kind): parametrise `requirement` with the plan's requirements "
                                       "of this kind (preflight, consume, reject, produce, exchange)")
    workers = getattr(config.option, "numprocesses", None)
    if config.getoption("dipcert_profile") and workers:
        # One certification run is one simulated DIP, one evidence log and one bundle: it cannot be
        # split across pytest-xdist workers (each would start its own DIP on the same ports).
        raise pytest.UsageError(f"dipcert: a certification run cannot be split across pytest-xdist workers "
                                f"(-n {workers}); run it without -n")


def _profile(config: pytest.Config) -> Any:
    """The profile named by --dipcert-profile, loaded once; a profile error stops the session (exit 4)."""
    if _PROFILE_KEY in config.stash:
        return config.stash[_PROFILE_KEY]
    path = config.getoption("dipcert_profile")
    profile = None
    if path:
        from harness.core.errors import DipcertError
        from harness.config.profile import load_profile

        try:
            profile = load_profile(Path(path))
        except DipcertError as exc:
            raise pytest.UsageError(str(exc)) from None
    config.stash[_PROFILE_KEY] = profile
    return profile


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("dipcert")
    if marker is None or "requirement" not in metafunc.fixturenames:
        return
    kind = marker.args[0] if marker.args else marker.kwargs.get("kind")
    profile = _profile(metafunc.config)
    if profile is None:
        metafunc.parametrize("requirement", [pytest.param(None, marks=pytest.mark.skip(
            reason="no --dipcert-profile given: nothing to certify"))], ids=[f"{kind}-no-profile"])
        return
    if _PLAN_KEY not in metafunc.config.stash:
        from harness.plan.certification import certification_plan

        metafunc.config.stash[_PLAN_KEY] = certification_plan(profile)
    plan = [r for r in metafunc.config.stash[_PLAN_KEY] if r.kind == kind]
    metafunc.parametrize("requirement", plan, ids=[r.id for r in plan])


KIND_ORDER = ("preflight", "consume", "reject", "produce", "exchange", "smoke")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Plan order (preflight first, exchanges after produce, declared-flows last), whatever the module
    names sort to."""
    plan = config.stash.get(_PLAN_KEY, None) or []
    position = {r.id: i for i, r in enumerate(plan)}

    def key(item: pytest.Item) -> tuple[int, int]:
        callspec = getattr(item, "callspec", None)
        req = callspec.params.get("requirement") if callspec is not None else None
        kind = getattr(req, "kind", None)
        return (position.get(getattr(req, "id", None), len(position)),
                KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER))

    items.sort(key=key)


class _PluginRun:
    """The session's run, opened lazily so that collecting (or `--collect-only`) starts nothing."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.run: Any = None
        self.result: Any = None

    def context(self) -> Any:
        if self.run is None:
            from harness.dip.identity import load_or_create
            from harness.messages.schemapack import load_pack
            from harness.run.session import CertificationRun, RunOptions

            out = Path(self.config.getoption("dipcert_out") or "reports")
            spec = self.config.getoption("dipcert_spec")
            dip, _ = load_or_create(Path(self.config.getoption("dipcert_dip_key") or out / ".dip"))
            options = RunOptions(out=out, pack=load_pack(spec), dip_identity=dip,
                                 timeout=self.config.getoption("dipcert_timeout"),
                                 attested_by=self.config.getoption("dipcert_attested_by"))
            self.run = CertificationRun(_profile(self.config), options)
            self.run.open()
        return self.run.ctx

    def close(self, complete: bool) -> None:
        if self.run is not None and self.result is None:
            self.run.mark(complete)
            self.result = self.run.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    holder = session.config.stash.get(_RUN_KEY, None)
    if holder is not None:
        holder.close(complete=exitstatus in (0, 1))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    holder = config.stash.get(_RUN_KEY, None)
    if holder is not None and holder.result is not None:
        r = holder.result
        terminalreporter.write_line(f"dipcert: {'READY' if r.ready else 'NOT READY'}; bundle {r.zip_path}; "
                                    f"report {r.folder / 'report.html'}")


@pytest.fixture(scope="session")
def dipcert_run(request: pytest.FixtureRequest) -> Any:
    """The run's context (harness.run.context.RunContext): hub, recorder, partner, triggers."""
    if _profile(request.config) is None:
        pytest.skip("no --dipcert-profile given")
    holder = request.config.stash.get(_RUN_KEY, None)
    if holder is None:
        holder = request.config.stash[_RUN_KEY] = _PluginRun(request.config)
    return holder.context()


# Every fixture is prefixed `dipcert_`: the plugin is active wherever dipcert is installed, and a
# generic name (`profile`, `hub`, `samples`) would answer another project's tests instead of pytest's
# "fixture not found".

@pytest.fixture(scope="session")
def dipcert_profile(request: pytest.FixtureRequest) -> Any:
    value = _profile(request.config)
    if value is None:
        pytest.skip("no --dipcert-profile given")
    return value


@pytest.fixture(scope="session")
def dipcert_hub(dipcert_run: Any) -> Any:
    """The simulated DIP of this run (started)."""
    return dipcert_run.hub


@pytest.fixture(scope="session")
def dipcert_participant(dipcert_run: Any) -> Any:
    """The party under test as the harness sees it: its identity (role, DIP ID, MPID, DCP)."""
    return dipcert_run.me


@pytest.fixture
def dipcert_samples(dipcert_run: Any) -> Any:
    """A seeded SampleFactory for the run (fresh per test, reproducible per run)."""
    return dipcert_run.factory()


@pytest.fixture
def dipcert_certify(dipcert_run: Any) -> Iterator[Any]:
    """`dipcert_certify(requirement)`: run it; skip when not enabled; fail the test with its findings (an
    advisory requirement that fails is an expected failure, `xfail`: shown, not failing the session)."""
    from harness.run.requirements import run_requirement

    def go(requirement: Any) -> str:
        if not requirement.enabled:
            pytest.skip(f"not-enabled: {requirement.id} (the profile does not enable it)")
        before = len(dipcert_run.outcomes)
        verdict = run_requirement(dipcert_run, requirement)
        if verdict != "pass":
            lines = [f"{requirement.id}: {verdict}"]
            for outcome in dipcert_run.outcomes[before:]:
                if outcome.requirement != requirement.id:
                    continue
                for f in outcome.findings:
                    if f.severity == "error":
                        lines.append(f"  {f.rule} at {f.path or '/'}: {f.message}")
            if getattr(requirement, "advisory", False):
                pytest.xfail("advisory (does not block readiness): " + "\n".join(lines))
            pytest.fail("\n".join(lines), pytrace=False)
        return verdict

    yield go
