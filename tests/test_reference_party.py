"""`[party] endpoint = "reference"` (docs/profile.md): dipcert's reference participant started as the party
under test with run-time certificates and keys. The profile says so in one line or refuses in one line,
the run judges it like any party (a fault switched on fails), and the grade says REHEARSAL."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.profile import load_profile
from harness.core.errors import ConfigError
from harness.dip.identity import dip_folder, load_or_create
from harness.evidence.grade import evidence_grade
from harness.run.demo import reference_party
from harness.run.session import RunOptions, run_certification

SHIPPED = Path(__file__).resolve().parents[1] / "fixtures" / "profiles" / "demo-reference.toml"
SMALL = ("IF-008", "IF-024")  # two incoming interfaces, no exchange: a real run in a few seconds


def _small(tmp_path: Path) -> Path:
    text = SHIPPED.read_text(encoding="utf-8")
    for iid in ("IF-006", "IF-026", "IF-061", "IF-062", "IF-063", "IF-064", "IF-065"):
        text = text.replace(f'{iid} = "Y"', f'{iid} = "N"')
    path = tmp_path / "small.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_what_the_harness_makes_cannot_also_be_written(tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8") + '\n[webhooks]\ndefault = "http://127.0.0.1:1/dip"\n'
    (tmp_path / "p.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_profile(tmp_path / "p.toml")
    assert str(err.value).startswith(f'{tmp_path / "p.toml"}: webhooks: not with party.endpoint = "reference"')
    (tmp_path / "q.toml").write_text(SHIPPED.read_text().replace('endpoint = "reference"\n\n[system]',
                                                                 'endpoint = "mine"\n\n[system]'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"party\.endpoint: expected \"reference\""):
        load_profile(tmp_path / "q.toml")


def test_the_running_profile_holds_what_the_harness_made_and_says_who_played(tmp_path: Path) -> None:
    dip, _ = load_or_create(dip_folder())
    profile = load_profile(SHIPPED)
    with reference_party(profile, dip_certificate=dip.certificate) as (running, participant):
        assert participant is not None
        assert running.webhook_for("IF-061") == participant.webhook_url("IF-061")
        assert running.trigger_for("IF-062").url == participant.trigger_url
        assert running.resolve_secret("api_key_primary") != running.resolve_secret("api_key_secondary")
        assert running.credential_path("signing_certificate").is_file()
        assert running.to_public_dict()["party"]["endpoint"] == "reference"
        scratch = running.credential_path("signing_key").parent
    assert not scratch.exists()  # run-time keys are removed with the participant
    mine = load_profile(Path(__file__).resolve().parents[1] / "fixtures" / "profiles" / "mdr-example.toml")
    with reference_party(mine, dip_certificate=None) as (same, nobody):
        assert same is mine and nobody is None  # a profile for the party's own system passes through


def test_a_reference_party_is_a_rehearsal_even_without_exchanges() -> None:
    run = {"profile": {"party": {"endpoint": "reference"}}, "partner": None, "dip": {"kind": "embedded"}}
    grade = evidence_grade(run, [{"kind": "consume", "enabled": True}])
    assert grade["level"] == "rehearsal" and "own reference participant" in grade["reasons"][0]
    assert evidence_grade({**run, "profile": {"party": {}}}, [])["level"] == "self-test"


@pytest.mark.slow
@pytest.mark.parametrize("faults, ready", [((), True), (("ignore-signature",), False)])
def test_the_reference_party_is_judged_like_any_party(tmp_path: Path, faults: tuple[str, ...], ready: bool) -> None:
    """Verdicts stay honest: the reference MDR with a fault switched on fails its consume requirements."""
    dip, _ = load_or_create(dip_folder())
    with reference_party(load_profile(_small(tmp_path)), dip_certificate=dip.certificate, timeout=3.0,
                         faults=faults) as (running, _participant):
        secrets = [running.resolve_secret("api_key_primary"), running.resolve_secret("api_key_secondary"),
                   running.credential_path("signing_key").read_bytes()]
        result = run_certification(running, RunOptions(out=tmp_path / "out", dip_identity=dip, timeout=3.0))
    assert result.ready is ready
    # the run-time API keys and signing key the harness made never reach the bundle
    bundle = b"".join(f.read_bytes() for f in result.folder.rglob("*") if f.is_file())
    for secret in secrets:
        assert (secret if isinstance(secret, bytes) else secret.encode()) not in bundle
    verdicts = {r["id"]: r["verdict"] for r in result.summary["requirements"]}
    assert (verdicts["MDR-5.2a/IF-008/consume"] == "pass") is ready
    assert result.summary["grade"]["level"] == "rehearsal"
