"""The paired exchange with a REAL partner (issue #6 item 4), not only the built-in reference one.

The party under test is the reference MDR (set up as `dipcert demo` does); the partner is a
reference SDS started by the test as an ordinary participant of another organisation: its own DIP
ID, MPID, CA, certificate and API key in files, its webhooks and `/trigger` declared in the
profile's [partner] table. The harness knows it only through that table, exactly as it would know
a partner's real endpoint.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from harness.cli import main
from harness.config.profile import load_profile, parse_profile
from harness.core.errors import ConfigError
from harness.dip.provision import build_hub
from harness.evidence.revalidate import make_revalidator
from harness.evidence.verify import verify_bundle
from harness.messages.samples import DEFAULT_PARTIES, Party, SampleFactory
from harness.messages.schemapack import load_pack
from harness.plan.certification import plan_from_recorded_profile
from harness.reference.participant import ReferenceParticipant, webhook_path
from harness.run.demo import free_port, make_pki, profile_text
from harness.run.session import RunOptions, run_certification
from harness.transport.apikeys import generate_api_key
from harness.transport.certs import cached_key, make_ca
from harness.transport.signing import sign_request

REAL_SDS = Party("SDS", "5550000001", "RSDS")  # deliberately not DEFAULT_PARTIES["SDS"]
MDR = DEFAULT_PARTIES["MDR"]
PARTNER_KEY_ENV = "DIPCERT_TEST_REAL_PARTNER_KEY"
SDS_RECEIVES = ("IF-062", "IF-064", "IF-065")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """The demo PKI (DIP, MDR) plus the partner organisation's own CA, certificate and API key files."""
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    issued = make_ca("Partner Org CA", key=cached_key("real-partner-ca")).issue(
        "sds.partner.example", key=cached_key("real-partner-sds"))
    issued.write(pki.folder, "partner-signing")
    key = generate_api_key()
    (pki.folder / "partner-api-key").write_text(key + "\n", encoding="utf-8")
    pki.partner_identity, pki.partner_key = issued.identity(), key
    return pki


def partner_block(*, sds: ReferenceParticipant | None, trigger: bool = True,
                  hooks: bool = True, endpoint: str | None = None) -> str:
    lines = ["[partner]", 'role = "SDS"', 'company = "Partner Data Services Ltd"',
             f'mpid = "{REAL_SDS.mpid}"', f'dip_id = "{REAL_SDS.dip_id}"',
             f'endpoint = "{endpoint or (sds.base_url + "/webhook/if-062" if sds else "http://127.0.0.1:9/dip")}"',
             'signing_certificate = "partner-signing.crt"', 'api_key = { file = "partner-api-key" }']
    if trigger and sds is not None:
        lines.append(f'trigger = {{ kind = "http", url = "{sds.trigger_url}", timeout = 5 }}')
    if hooks and sds is not None:
        entries = ", ".join(f'"{i}" = "{sds.webhook_url(i)}"' for i in SDS_RECEIVES)
        lines.append(f"webhooks = {{ {entries} }}")
    return "\n".join(lines) + "\n"


def write_profile(pki, name: str, *, hub_port: int, mdr_port: int, timeout: float, block: str) -> Path:
    text = profile_text("MDR", pki, hub_port=hub_port, port=mdr_port, timeout=timeout)
    text, count = re.subn(r'\[partner\]\n(?:.*\n)*?endpoint = "reference"\n', block, text, count=1)
    assert count == 1
    path = pki.folder / name
    path.write_text(text, encoding="utf-8")
    return path


def certify(pki, out: Path, *, timeout: float, trigger: bool = True):
    """Run the reference MDR's certification with the separately started SDS as its real partner."""
    hub_port, mdr_port = free_port(), free_port()
    hub_url = f"http://127.0.0.1:{hub_port}"
    # The partner's profile names one API key (partner.api_key): the reference SDS is given only that
    # one (it rotates through the keys it is given, issue 14).
    sds = ReferenceParticipant("SDS", party=REAL_SDS, partner=MDR, hub_url=hub_url,
                               api_keys=(pki.partner_key, pki.partner_key), identity=pki.partner_identity,
                               dip_certificate=pki.dip.certificate, register_webhooks=False,
                               client_timeout=timeout, seed=7)
    mdr = ReferenceParticipant("MDR", party=MDR, partner=REAL_SDS, hub_url=hub_url, api_keys=pki.api_keys["MDR"],
                               identity=pki.identities["MDR"], dip_certificate=pki.dip.certificate, port=mdr_port,
                               register_webhooks=False, client_timeout=timeout, slow_seconds=timeout * 3)
    with sds, mdr:
        block = partner_block(sds=sds, trigger=trigger)
        path = write_profile(pki, f"real-{'t' if trigger else 'n'}.toml", hub_port=hub_port, mdr_port=mdr_port,
                             timeout=timeout, block=block)
        profile = load_profile(path)
        options = RunOptions(out=out, dip_identity=pki.dip, timeout=timeout, party_reference=mdr,
                             attested_by="dipcert tests, real partner")
        result = run_certification(profile, options)
        return result, sds


def records(result) -> list[dict]:
    return [json.loads(line) for line in (result.folder / "evidence.jsonl").read_text("utf-8").splitlines()]


def _verify(path: Path):
    pack = load_pack(None)
    # Integrity and verdicts only: who signed is test_verify_trust.py's subject (the demo's anchors there).
    return verify_bundle(path, pack=pack, revalidate=make_revalidator(pack),
                         plan_from_profile=plan_from_recorded_profile,
                         integrity_only=True)


@pytest.fixture(scope="module")
def with_trigger(pki, tmp_path_factory):
    # a bound, not a wait: a busy machine answers late
    return certify(pki, tmp_path_factory.mktemp("real"), timeout=5.0)


@pytest.fixture(scope="module")
def without_trigger(pki, tmp_path_factory):
    return certify(pki, tmp_path_factory.mktemp("real-no-trigger"), timeout=1.0, trigger=False)


# --- a real partner with a trigger: the whole certification passes ---------------------------

def test_every_exchange_passes_with_a_real_partner(with_trigger):
    result, _ = with_trigger
    verdicts = result.verdicts
    exchanges = {rid: v for rid, v in verdicts.items() if "/exchange/" in rid}
    assert exchanges and set(exchanges.values()) == {"pass"}, exchanges
    assert result.ready and result.exit_code == 0, {k: v for k, v in verdicts.items() if v == "fail"}


def test_evidence_says_the_partner_is_real_and_records_both_legs(with_trigger):
    result, sds = with_trigger
    recs = records(result)
    partner = recs[0]["run"]["partner"]
    assert partner == {"role": "SDS", "dip_id": REAL_SDS.dip_id, "mpid": REAL_SDS.mpid,
                       "company": "Partner Data Services Ltd", "kind": "real"}
    recorded = recs[0]["run"]["profile"]["partner"]
    assert recorded["api_key"] == {"file": "partner-api-key"} and recorded["trigger"]["kind"] == "http"
    http = [r for r in recs if r["kind"] == "http"]
    # leg 1: the partner's own submissions reached the hub (its trigger was fired first)
    assert any(r["channel"] == "trigger" and r["url"] == sds.trigger_url for r in http)
    inbound = [r for r in http if r["channel"] == "hub-inbound" and r["context"].get("sender") == REAL_SDS.dip_id
               and r["context"].get("outcome") == "accepted"]
    assert {r["context"]["interface"] for r in inbound} >= {"IF-061", "IF-063", "IF-065"}
    # leg 2: the hub relayed the MDR's answers to the partner's declared webhooks, which accepted them
    for interface in SDS_RECEIVES:
        outbound = [r for r in http if r["channel"] == "hub-outbound" and r["url"] == sds.webhook_url(interface)]
        assert outbound and any(r["response"]["status"] == 201 for r in outbound), interface


def test_bundle_verifies_and_report_names_the_partner_real(with_trigger):
    result, _ = with_trigger
    verdict = _verify(result.zip_path)
    assert verdict.sound and verdict.ready_by_evidence, [str(f) for f in verdict.findings]
    html = (result.folder / "report.html").read_text("utf-8")
    assert f"Partner Data Services Ltd: SDS, DIP ID {REAL_SDS.dip_id}; the exchange ran with the partner's own system" \
        in html
    assert "reference" not in html.split("<dt>Nominated partner</dt>", 1)[1][:300]
    # A real partner is no rehearsal; the DIP simulated on the party's side still makes it a self-test.
    assert result.summary["grade"]["level"] == "self-test" and 'data-grade="self-test"' in html


def test_partner_api_key_never_reaches_the_bundle(with_trigger, pki):
    import zipfile

    result, _ = with_trigger
    with zipfile.ZipFile(result.zip_path) as archive:
        for name in archive.namelist():
            assert pki.partner_key.encode() not in archive.read(name), name


# --- a real partner without a trigger: the exchanges fail clearly, the rest passes -----------

def test_without_a_partner_trigger_the_exchanges_fail_with_a_clear_finding(without_trigger):
    result, _ = without_trigger
    requirements = {r["id"]: r for r in result.summary["requirements"]}
    exchanges = {rid: r for rid, r in requirements.items() if "/exchange/" in rid and r["verdict"] != "not-enabled"}
    assert exchanges and all(r["verdict"] == "fail" for r in exchanges.values())
    for r in exchanges.values():
        messages = [f["message"] for f in r["findings"] if f["rule"] == "exchange.timeout"]
        assert messages and all("set partner.trigger in the profile" in m for m in messages), r["findings"]
    others = {rid: r["verdict"] for rid, r in requirements.items()
              if ("/consume" in rid or "/produce" in rid) and r["verdict"] != "not-enabled"}
    assert others and set(others.values()) == {"pass"}, others
    assert not result.ready and result.exit_code == 1
    assert _verify(result.zip_path).sound


# --- the simulated DIP knows the real partner by its key, certificate and webhooks ------------

def test_hub_registers_the_real_partner_key_certificate_and_webhooks(pki):
    block = partner_block(sds=None, endpoint="http://127.0.0.1:9/partner-default")
    block += 'webhooks = { "IF-064" = "http://127.0.0.1:9/partner-064" }\n'
    profile = load_profile(write_profile(pki, "hub.toml", hub_port=0, mdr_port=9, timeout=2, block=block))
    with build_hub(profile, identity=pki.dip) as hub:
        assert hub.webhook(REAL_SDS.dip_id, "IF-064").callback_url == "http://127.0.0.1:9/partner-064"
        assert hub.webhook(REAL_SDS.dip_id, "IF-062").callback_url == "http://127.0.0.1:9/partner-default"
        assert hub.webhook(REAL_SDS.dip_id, "IF-061") is None  # the SDS sends IF-061, it takes no webhook
        item = SampleFactory(seed=5).message("IF-061", sender=REAL_SDS, recipients=[MDR.dip_id])
        body = json.dumps([item]).encode()
        url = f"{hub.base_url}/dip-channel/IF-061"

        def post(identity, key):
            headers = {**sign_request("POST", url, body, identity), "X-API-Key": key,
                       "Content-Type": "application/json"}
            return httpx.post(url, content=body, headers=headers, timeout=5)

        assert post(pki.partner_identity, pki.partner_key).status_code == 201
        # signed with another certificate than the registered one: refused
        assert post(pki.identities["MDR"], pki.partner_key).status_code == 401
        # its webhooks through pubconfig, authenticated with the partner's own key
        with ReferenceParticipant("SDS", party=REAL_SDS, partner=MDR, hub_url=hub.base_url,
                                  api_keys=(pki.partner_key, generate_api_key()), identity=pki.partner_identity,
                                  dip_certificate=pki.dip.certificate, register_webhooks=True) as sds:
            assert hub.webhook(REAL_SDS.dip_id, "IF-062").callback_url == sds.base_url + webhook_path("IF-062")


def test_the_partner_api_key_is_among_the_secrets_the_recorder_redacts(pki):
    from harness.run.session import profile_secrets

    block = partner_block(sds=None, endpoint="https://sds.partner.example/dip")
    profile = load_profile(write_profile(pki, "secrets.toml", hub_port=0, mdr_port=9, timeout=2, block=block))
    assert pki.partner_key in profile_secrets(profile)
    assert profile.resolve_secret("partner.api_key") == pki.partner_key


# --- profile rules for a real partner --------------------------------------------------------

def test_public_dict_keeps_references_and_reparses(pki):
    block = partner_block(sds=None, endpoint="https://sds.partner.example/dip")
    profile = load_profile(write_profile(pki, "pub.toml", hub_port=0, mdr_port=9, timeout=2, block=block))
    public = profile.to_public_dict()
    assert public["partner"]["api_key"] == {"file": "partner-api-key"}
    assert pki.partner_key not in json.dumps(public)
    from harness.plan.certification import as_profile_toml

    again = parse_profile(as_profile_toml(public), Path("<recorded>"))
    assert again.partner == profile.partner and again.digest() == profile.digest()


def test_reference_partner_public_dict_is_unchanged():
    profile = load_profile(Path(__file__).resolve().parents[1] / "fixtures" / "profiles" / "mdr-example.toml")
    assert profile.to_public_dict()["partner"] == {"role": "SDS", "company": "Partner Data Services Ltd",
                                                   "mpid": "PART", "dip_id": "1111111111", "endpoint": "reference"}


@pytest.mark.parametrize("extra, key, expected", [
    ('trigger = { kind = "http", url = "http://127.0.0.1:1/t" }\n', "partner.trigger", "only for a real partner"),
    ('webhooks = { default = "http://127.0.0.1:1/w" }\n', "partner.webhooks", "only for a real partner"),
])
def test_real_partner_keys_with_the_reference_partner_are_errors(pki, extra, key, expected):
    text = profile_text("MDR", pki, hub_port=0, port=9, timeout=2).replace(
        'endpoint = "reference"\n', 'endpoint = "reference"\n' + extra)
    path = pki.folder / "ref-extra.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    assert f"{path}: {key}: {expected}" in str(err.value)


def test_partner_webhook_for_an_interface_it_sends_is_an_error(pki):
    block = partner_block(sds=None) + 'webhooks = { IF061 = "http://127.0.0.1:1/w" }\n'
    path = write_profile(pki, "bad-hook.toml", hub_port=0, mdr_port=9, timeout=2, block=block)
    with pytest.raises(ConfigError, match=r"partner\.webhooks\.IF-061: IF-061 is outgoing for an SDS"):
        load_profile(path)


@pytest.mark.parametrize("edit, message", [
    (('api_key = { file = "partner-api-key" }', 'api_key = "s3cr3t-inline-key"'),
     'partner.api_key: secrets must be referenced as {env = "NAME"} or {file = "path"}, not written inline'),
    (('signing_certificate = "partner-signing.crt"', 'signing_certificate = "no-such-partner.crt"'),
     "no-such-partner.crt: PEM certificate file not found"),
    (('signing_certificate = "partner-signing.crt"', 'signing_certificate = "."'),
     "partner.signing_certificate:"),
    (('api_key = { file = "partner-api-key" }', f'api_key = {{ env = "{PARTNER_KEY_ENV}" }}'),
     f"partner.api_key: environment variable {PARTNER_KEY_ENV} is not set"),
    (("}\n", '}\ntrigger = { kind = "smoke" }\n'),
     "partner.trigger.kind: expected http, command or manual, got 'smoke'"),
    (("}\n", '}\ntrigger = { kind = "http" }\n'), "partner.trigger.url: missing key"),
])
def test_partner_profile_mistakes_exit_2_with_one_line(pki, tmp_path, capsys, monkeypatch, edit, message):
    monkeypatch.delenv(PARTNER_KEY_ENV, raising=False)
    old, new = edit
    block = partner_block(sds=None, endpoint="http://127.0.0.1:9/partner").replace(old, new, 1)
    assert new in block
    path = write_profile(pki, "mistake.toml", hub_port=free_port(), mdr_port=9, timeout=1, block=block)
    out = tmp_path / "out"
    assert main(["run", "--profile", str(path), "--out", str(out), "--dip-key", str(pki.folder / "dip")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and str(path) in err and "\n" not in err and "Traceback" not in err, err
    assert "s3cr3t-inline-key" not in err
    assert not out.exists() or not [p for p in out.iterdir() if not p.name.startswith(".")]  # no run folder
