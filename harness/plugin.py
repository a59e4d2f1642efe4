"""The dipcert pytest plugin: the certification scenarios (scenarios/) as ordinary pytest tests.

Registered through the `pytest11` entry point, so `pytest scenarios --dipcert-profile my.toml`
works wherever dipcert is installed, on the same core as `dipcert run`: one `CertificationRun` per
pytest session, opened at the first scenario and closed (reports rendered, bundle signed) when the
session ends. Each requirement of the plan is one test, its id the requirement id, so a test team's
CI shows `MDR-5.2a/IF-061/consume` passing or failing with its findings; a requirement the profile
does not enable is a skipped test marked `not-enabled`.

Scenario modules ask for requirements with `@pytest.mark.dipcert("consume")` and a `requirement`
argument; `dipcert_certify(requirement)` runs it and fails the test with the findings.

Every option is `--dipcert-*` and has an ini key of the same name (`dipcert_profile`, `dipcert_out`,
...; the command line wins; an ini path is relative to the ini file). Without a profile the plugin is
inert: it adds no tests, no fixtures without the `dipcert_` prefix, and collects nothing of its own,
so an unrelated suite in the same environment runs as if dipcert were not installed. Requirement ids
are the tests' parameter ids, stable from run to run, so `--lf` reruns only the requirements that
failed (the bundle then records the selection and is not ready: the rest did not run).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

# The harness is imported inside the hooks and fixtures, not here: pytest loads this plugin (entry point
# pytest11) into every session of every project in the environment, and an unrelated suite must not pay
# for loading the DIP, the schema pack and cryptography. The same start-up rule as `harness/commands/`.

_RUN_KEY = pytest.StashKey[Any]()
_PROFILE_KEY = pytest.StashKey[Any]()
_PLAN_KEY = pytest.StashKey[Any]()
_SELECTED_KEY = pytest.StashKey[list[str]]()

# name -> (help, is a path); each is `--dipcert-<name>` on the command line and `dipcert_<name>` in the ini file
SETTINGS: dict[str, tuple[str, bool]] = {
    "profile": ("participant profile (TOML); without one the plugin is inert", True),
    "out": ("folder for the evidence bundle (default: reports/)", True),
    "spec": ("folder with Elexon's DIP API specification (unresolved YAML)", True),
    "timeout": ("bound for every wait, in seconds", False),
    "attested_by": ("'Name, Role' attesting the run", False),
    "dip_key": ("folder with the simulated DIP's signing key and certificate (default: $DIPCERT_HOME/dip, "
                "else ~/.dipcert/dip: the one every dipcert route shares)", True),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dipcert", "dipcert certification")
    # Prefixed like every option here: a bare --spec collides with the pytest-spec plugin.
    for name, (text, _path) in SETTINGS.items():
        group.addoption(f"--dipcert-{name.replace('_', '-')}", dest=f"dipcert_{name}", default=None,
                        type=float if name == "timeout" else None, help=text)
        parser.addini(f"dipcert_{name}", f"{text} (as --dipcert-{name.replace('_', '-')})", default="")
    # Guidance 5.4 / 6.4, as `dipcert reuse`: the earlier bundles, the DCP's attestation, verify's anchors.
    group.addoption("--dipcert-reuse-from", action="append", default=[], metavar="BUNDLE",
                    help="an earlier bundle of the same system to rest requirements on (repeatable)")
    group.addoption("--dipcert-unchanged-since-attested-by", default=None, metavar="ATTESTATION",
                    help="with --dipcert-reuse-from: 'Name, Organisation' of the DCP or supplier attesting that the "
                         "system is unchanged since the earlier run(s) (required for any reuse)")
    group.addoption("--dipcert-trust", action="append", default=[], metavar="CA.pem",
                    help="with --dipcert-reuse-from: CA that issued the earlier bundles' signing certificates")
    group.addoption("--dipcert-signer", action="append", default=[], metavar="SHA256",
                    help="with --dipcert-reuse-from: pin the earlier bundles' signer")
    group.addoption("--dipcert-integrity-only", action="store_true", default=False,
                    help="with --dipcert-reuse-from: check the earlier bundles' integrity alone")


def setting(config: pytest.Config, name: str) -> Any:
    """`--dipcert-<name>`, else the ini key `dipcert_<name>` (a path relative to the ini file), else None."""
    value = config.getoption(f"dipcert_{name}")
    if value is not None:
        return value
    raw = str(config.getini(f"dipcert_{name}") or "").strip()
    if not raw:
        return None
    if name == "timeout":
        try:
            return float(raw)
        except ValueError:
            raise pytest.UsageError(f"dipcert: ini dipcert_timeout: expected seconds, got {raw!r}") from None
    if SETTINGS[name][1]:
        base = config.inipath.parent if config.inipath is not None else config.rootpath
        return str(base / Path(raw).expanduser())
    return raw


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dipcert(kind): parametrise `requirement` with the plan's requirements "
                                       "of this kind (preflight, consume, reject, produce, exchange)")
    workers = getattr(config.option, "numprocesses", None)
    if setting(config, "profile") and workers:
        # One certification run is one simulated DIP, one evidence log and one bundle: it cannot be
        # split across pytest-xdist workers (each would start its own DIP on the same ports).
        raise pytest.UsageError(f"dipcert: a certification run cannot be split across pytest-xdist workers "
                                f"(-n {workers}); run it without -n")
    if setting(config, "profile"):
        for name in SETTINGS:  # an unusable ini value is one line and exit 4 now
            setting(config, name)
        _profile(config)  # so is a profile error (not a collection error in every scenario module)


def _profile(config: pytest.Config) -> Any:
    """The profile named by --dipcert-profile, loaded once; a profile error stops the session (exit 4)."""
    if _PROFILE_KEY in config.stash:
        return config.stash[_PROFILE_KEY]
    path = setting(config, "profile")
    profile = None
    if path:
        from harness.config.profile import load_profile
        from harness.core.errors import DipcertError

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

        metafunc.config.stash[_PLAN_KEY] = certification_plan(
            profile, reuse=bool(metafunc.config.getoption("dipcert_reuse_from")))
    plan = [r for r in metafunc.config.stash[_PLAN_KEY] if r.kind == kind]
    if not plan:  # e.g. reuse and smoke outside a reuse run: one skip that says so, not "empty parameter set"
        metafunc.parametrize("requirement", [pytest.param(None, marks=pytest.mark.skip(
            reason=f"the plan has no {kind} requirement"))], ids=[f"{kind}-none"])
        return
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


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """The requirement ids this session runs (after -k, --lf, a file given alone): a run of fewer than
    the plan's enabled requirements records its selection, as `dipcert run --only` does."""
    ids = []
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        req = callspec.params.get("requirement") if callspec is not None else None
        if req is not None and getattr(req, "enabled", False):
            ids.append(req.id)
    session.config.stash[_SELECTED_KEY] = ids


class _PluginRun:
    """The session's run, opened lazily so that collecting (or `--collect-only`) starts nothing."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.run: Any = None
        self.result: Any = None
        self._services = ExitStack()  # what the run stands on: the reference party, when the profile asks

    def context(self) -> Any:
        if self.run is None:
            from harness.dip.identity import dip_folder, load_or_create
            from harness.messages.schemapack import load_pack
            from harness.run.demo import reference_party
            from harness.run.session import CertificationRun, RunOptions

            config = self.config
            out = Path(setting(config, "out") or "reports")
            dip, _ = load_or_create(dip_folder(setting(config, "dip_key")))
            timeout = setting(config, "timeout")
            pack = load_pack(setting(config, "spec"))
            options = RunOptions(out=out, pack=pack, dip_identity=dip, timeout=timeout,
                                 attested_by=setting(config, "attested_by"), reuse=self._reuse_or_exit(pack))
            # `[party] endpoint = "reference"`: dipcert's reference participant is started as the party
            profile, _participant = self._services.enter_context(
                reference_party(_profile(config), dip_certificate=dip.certificate, timeout=timeout))
            self.run = CertificationRun(profile, options)
            try:
                self.run.open()
            except BaseException:
                self._services.close()
                raise
            selected = config.stash.get(_SELECTED_KEY, None)
            runnable = {r.id for r in self.run.selected()}  # enabled, and not judged at open (qualification)
            if selected is not None and set(selected) < runnable:
                self.run.ctx.event("selection", only=sorted(set(selected)), requirements=sorted(set(selected)))
        return self.run.ctx

    def _reuse_or_exit(self, pack: Any) -> Any:
        from harness.core.errors import DipcertError

        try:
            return self._reuse(pack)
        except DipcertError as exc:  # a usage mistake: one line and the session stops (exit 4), no tracebacks
            pytest.exit(f"dipcert: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)

    def _reuse(self, pack: Any) -> Any:
        """The reuse decision (`dipcert reuse`'s, from the same code) when --dipcert-reuse-from is given."""
        sources = [Path(s) for s in self.config.getoption("dipcert_reuse_from")]
        if not sources:
            return None
        from harness.core.errors import UsageError
        from harness.evidence.origin import load_anchors
        from harness.evidence.reuse import parse_attestation, plan_reuse

        profile = _profile(self.config)
        for source in sources:
            if not source.exists():
                raise UsageError(f"--dipcert-reuse-from {source}: no such bundle (expected a run folder or a "
                                 f".dipcert.zip)")
        option = "--dipcert-unchanged-since-attested-by"
        attestation = parse_attestation(self.config.getoption("dipcert_unchanged_since_attested_by"), option=option)
        anchors = load_anchors([Path(t) for t in self.config.getoption("dipcert_trust")],
                               self.config.getoption("dipcert_signer"),
                               integrity_only=self.config.getoption("dipcert_integrity_only"), required=True,
                               command="--dipcert-reuse-from")
        timeout = setting(self.config, "timeout") or profile.harness.timeout
        return plan_reuse(profile, sources, attestation=attestation, pack=pack, anchors=anchors,
                          probe_timeout=timeout)

    def close(self, complete: bool) -> None:
        try:
            if self.run is not None and self.result is None:
                self.run.mark(complete)
                self.result = self.run.close()
        finally:
            self._services.close()


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
def dipcert_certify(dipcert_run: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """`dipcert_certify(requirement)`: run it; skip when not enabled; fail the test with its findings (an
    advisory requirement that fails is an expected failure, `xfail`: shown, not failing the session)."""
    from harness.run.dispatch import run_requirement

    def go(requirement: Any) -> str:
        if not requirement.enabled:
            pytest.skip(f"not-enabled: {requirement.id} (the profile does not enable it)")
        reuse = request.config.stash[_RUN_KEY].run.o.reuse
        if reuse is not None and reuse.covers(requirement.id):
            return "reused"  # rests on the earlier bundle (the bundle says which): a pass, nothing runs live
        if requirement.kind == "reuse":
            return _reuse_decision(dipcert_run, requirement)
        before = len(dipcert_run.outcomes)
        verdict = run_requirement(dipcert_run, requirement)
        if request.config.getoption("allure_report_dir", None):
            _allure_steps(dipcert_run, requirement)
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


def _allure_steps(ctx: Any, requirement: Any) -> None:
    """With --alluredir: the requirement's checks as allure-pytest steps, the messages they judged and
    their findings as attachments (the same steps as the bundle's allure-results/), and the
    requirement id as its parameter instead of the Requirement object's repr."""
    import allure

    from harness.evidence.recorder import read_records
    from harness.report.allure import check_steps, report_steps
    from harness.report.bodies import Bodies

    folder = ctx.recorder.folder
    allure.dynamic.parameter("requirement", requirement.id)
    allure.dynamic.title(f"{requirement.id}: {requirement.title}")
    if requirement.interface:
        allure.dynamic.feature(requirement.interface)
    report_steps(check_steps(requirement.id, read_records(ctx.recorder.path), Bodies(folder)))


def _reuse_decision(ctx: Any, requirement: Any) -> str:
    """The reuse decision's check, recorded when the run opened (as under `dipcert reuse`): read from the
    evidence, not run again; the test fails with its findings when the decision is unsound."""
    from harness.evidence.recorder import read_records

    checks = [r for r in read_records(ctx.recorder.path)
              if r.get("kind") == "check" and r.get("requirement") == requirement.id]
    if checks and all(r.get("passed") is True for r in checks):
        return "pass"
    lines = [f"{requirement.id}: {'fail' if checks else 'not-run'}"]
    lines += [f"  {f.get('rule')}: {f.get('message')}" for r in checks for f in r.get("findings") or []
              if f.get("severity", "error") == "error"]
    pytest.fail("\n".join(lines), pytrace=False)
