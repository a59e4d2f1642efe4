"""`dipcert promote` (issue 19, guidance 5.5 / 6.5): a certified configuration promoted to production,
and refused for each thing that may not change or is not ready; `dipcert verify --promotion`.

One small certification run of the reference MDR (two incoming interfaces) is made per module; the
production side is a production CA, the party's production signing certificate and a webhook served
over TLS on 127.0.0.1 that answers the signed empty probe.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from harness.cli import main
from harness.config.profile import load_profile
from harness.core.findings import Finding
from harness.dip.config import HubConfig
from harness.dip.provision import party_registration
from harness.dip.server import Hub
from harness.evidence.verify import verify_bundle
from harness.messages.samples import DEFAULT_PARTIES
from harness.promotion.check import check_promotion
from harness.promotion.differences import config_differences
from harness.promotion.promote import Promotion, promote
from harness.reference.participant import ReferenceParticipant
from harness.run.demo import COMPANY, DemoPKI, free_port, profile_text, run_party
from harness.run.session import RunOptions, run_certification
from harness.transport.certs import CertificateAuthority, cached_key, make_ca
from harness.transport.tls import server_context

SMALL = ("IF-008", "IF-024")
PRODUCTION_DIP_ID = "1650000901"


@pytest.fixture(scope="module")
def certified(demo_pki: DemoPKI, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The reference MDR certified on two interfaces (self-test grade: the DIP was simulated on the party's machine)."""
    result = run_party("MDR", demo_pki, tmp_path_factory.mktemp("bundles"), timeout=2.0, interfaces=SMALL)
    assert result.ready
    return result


@pytest.fixture(scope="module")
def certification(demo_pki: DemoPKI, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The same certification through a DIP the verifier trusts (issue 15): the run reaches a hub started
    here (`RunOptions.dip`), whose signed transcript in the bundle makes it certification grade under
    `--dip-cert` (no exchange is enabled, so no real partner is needed)."""
    folder = tmp_path_factory.mktemp("certification")
    port = free_port()
    path = demo_pki.folder / "certification-mdr.toml"
    path.write_text(profile_text("MDR", demo_pki, hub_port=free_port(), port=port, timeout=5.0, interfaces=SMALL),
                    encoding="utf-8")
    profile = load_profile(path)
    with Hub(HubConfig(identity=demo_pki.dip)) as hub, ReferenceParticipant(
            "MDR", party=DEFAULT_PARTIES["MDR"], partner=DEFAULT_PARTIES["SDS"], hub_url=hub.base_url,
            api_keys=demo_pki.api_keys["MDR"], identity=demo_pki.identities["MDR"],
            dip_certificate=demo_pki.dip.certificate,
            port=port, register_webhooks=False):
        hub.register_party(party_registration(profile))  # the DIP's operator onboarded the party
        result = run_certification(profile, RunOptions(out=folder, dip=hub.base_url, dip_cert=demo_pki.dip.certificate,
                                                        timeout=5.0, partner_identity=demo_pki.identities["SDS"]))
    assert result.ready, result.summary["blockers"]
    grade = verify_bundle(result.zip_path, trust=[demo_pki.ca], dip_certs=[demo_pki.dip.certificate]).grade
    assert grade["level"] == "certification", grade
    return result


class Production:
    """The production side: its CA, the party's production credentials, a TLS webhook."""

    def __init__(self, folder: Path, ca: CertificateAuthority, url: str) -> None:
        self.folder, self.ca, self.url = folder, ca, url
        self.ca_file = ca.write(folder, "production-ca")
        self.signing = ca.issue("mdr.production.example", key=cached_key("promote-signing"))
        self.signing.write(folder, "production-signing")
        for slot in ("primary", "secondary"):
            (folder / f"api-key-{slot}").write_text(f"prod-{slot}-key-0123456789abcdef\n", encoding="utf-8")

    def profile(self, name: str = "production.toml", *, environment: str = "PRD", version: str = "1.0.0",
                interfaces: tuple[str, ...] = SMALL, webhook: str | None = None, signing: str = "production-signing",
                party_extra: str = "", credentials_extra: str = "", api_keys: bool = True,
                dip_id: str = PRODUCTION_DIP_ID) -> Path:
        from harness.core.catalogue import load_catalogue

        enabled = "\n".join(f'{i} = "{"Y" if i in interfaces else "N"}"' for i in load_catalogue().interfaces)
        keys = ('api_key_primary = { file = "api-key-primary" }\napi_key_secondary = { file = "api-key-secondary" }\n'
                if api_keys else "")
        text = f'''environment = "{environment}"

[party]
role = "MDR"
company = "{COMPANY["MDR"]}"
mpid = "MDRA"
dip_id = "{dip_id}"
{party_extra}

[system]
name = "dipcert-reference-mdr"
version = "{version}"
build_id = "dipcert-demo"
supplier = "dipcert"

[interfaces]
{enabled}

[webhooks]
default = "{webhook or self.url}"

[credentials]
{keys}signing_certificate = "{signing}.crt"
signing_key = "{signing}.key"
tls_ca = "production-ca.crt"
{credentials_extra}
'''
        path = self.folder / name
        path.write_text(text, encoding="utf-8")
        return path


@pytest.fixture(scope="module")
def webhook() -> Iterator[tuple[HTTPServer, Path, CertificateAuthority]]:
    folder = Path(__import__("tempfile").mkdtemp(prefix="dipcert-promote-"))
    ca = make_ca("dipcert production CA", key=cached_key("promote-ca"))
    cert, key = ca.issue("127.0.0.1", key=cached_key("promote-webhook")).write(folder, "webhook")
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=server_context(cert, key))
    server.expect_request("/webhook", method="POST").respond_with_data("", status=400)  # [] is no message
    server.expect_request("/broken", method="POST").respond_with_data("boom", status=500)
    server.start()
    try:
        yield server, folder, ca
    finally:
        server.clear()
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture()
def production(webhook: tuple[HTTPServer, Path, CertificateAuthority], tmp_path: Path) -> Production:
    server, _folder, ca = webhook
    return Production(tmp_path, ca, server.url_for("/webhook"))


def trust(demo_pki: DemoPKI, production: Production) -> list[Any]:
    """What the DIP Manager trusts: the CA of the certification (the demo's) and the production CA."""
    return [demo_pki.ca, production.ca.cert]


def decide(certified: Any, production: Production, demo_pki: DemoPKI, profile: Path | None = None,
           bundle: Path | None = None, **options: Any) -> Promotion:
    return promote(bundle or certified.zip_path, load_profile(profile or production.profile()),
                   trust=trust(demo_pki, production), out=production.folder / "records", **options)


def error_rules(promotion: Promotion) -> set[str]:
    return {f.rule for f in promotion.findings if f.severity == "error"}


def at(promotion: Promotion, rule: str) -> list[str]:
    return [f.path for f in promotion.findings if f.rule == rule]


# -- the differences, as a pure function ------------------------------------------------------------
def test_differences_are_listed_and_judged() -> None:
    certified = {"environment": "UIT", "party": {"role": "MDR", "mpid": "MDRA", "dip_id": "1650000101"},
                 "system": {"name": "s", "version": "1"}, "interfaces": {"IF-006": True, "IF-008": True,
                                                                         "IF-024": False},
                 "webhooks": {"IF-006": "http://uit/6"}, "harness": {"timeout": 5.0}}
    production = {"environment": "PRD", "party": {"role": "MDR", "mpid": "MDRA", "dip_id": "1650000901",
                                                  "dcp_id": "1234567890"},
                  "system": {"name": "s", "version": "2"}, "interfaces": {"IF-006": False, "IF-008": True,
                                                                          "IF-024": True},
                  "webhooks": {"default": "https://prod/hook"}, "harness": {"timeout": 5.0}}
    found = {d.key: d.allowed for d in config_differences(certified, production)}
    assert found == {"environment": True, "party.dip_id": True, "party.dcp_id": False, "system.version": False,
                     "interfaces.IF-006": True, "interfaces.IF-024": False, "webhooks.IF-006": True,
                     "webhooks.default": True}
    newly = next(d for d in config_differences(certified, production) if d.key == "interfaces.IF-024")
    assert "newly enabled" in newly.why
    assert config_differences(certified, certified) == []
    assert not next(d for d in config_differences(certified, {**certified, "environment": "SIT"})).allowed


# -- refusals ---------------------------------------------------------------------------------------
def test_a_good_production_profile_is_refused_only_for_a_bundle_that_is_not_certification_grade(
        certified: Any, production: Production, demo_pki: DemoPKI) -> None:
    """The self-test bundle verifies; every production check passes; the grade alone refuses."""
    promotion = decide(certified, production, demo_pki)
    assert error_rules(promotion) == {"promote.bundle.grade"}, [str(f) for f in promotion.findings]
    assert promotion.grade["level"] == "self-test" and not promotion.promoted and promotion.record is None
    assert not (production.folder / "records").exists()
    allowed = {d.key for d in promotion.differences if d.allowed}
    assert {"environment", "party.dip_id", "webhooks.default"} <= allowed
    assert not [d for d in promotion.differences if not d.allowed]


def test_a_bundle_certified_outside_uit_is_refused(certified: Any) -> None:
    """What the recorded profile says decides; the rest of the bundle is the module's (verified) one."""
    from harness.promotion.promote import bundle_findings

    result = verify_bundle(certified.zip_path, integrity_only=True)
    assert "promote.bundle.environment" not in {f.rule for f in bundle_findings(result)}
    result.records[0]["run"]["profile"]["environment"] = "SIT"
    assert "promote.bundle.environment" in {f.rule for f in bundle_findings(result)}


def test_a_newly_enabled_interface_is_refused(certified: Any, production: Production, demo_pki: DemoPKI) -> None:
    promotion = decide(certified, production, demo_pki, production.profile(interfaces=SMALL + ("IF-006",)))
    assert at(promotion, "promote.difference") == ["profile:interfaces.IF-006"]
    assert "a flow not certified in UIT cannot be promoted" in str(promotion.findings)


def test_the_uit_dip_id_kept_in_production_is_a_warning(certified: Any, production: Production,
                                                        demo_pki: DemoPKI) -> None:
    promotion = decide(certified, production, demo_pki, production.profile(dip_id=certified.summary["party"]["dip_id"]))
    assert [(f.rule, f.severity) for f in promotion.findings if f.path == "profile:party.dip_id"] == \
        [("promote.identifiers.uit-dip-id", "warning")]


def test_fewer_interfaces_are_allowed(certified: Any, production: Production, demo_pki: DemoPKI) -> None:
    promotion = decide(certified, production, demo_pki, production.profile(interfaces=("IF-008",)))
    assert error_rules(promotion) == {"promote.bundle.grade"}
    assert next(d for d in promotion.differences if d.key == "interfaces.IF-024").allowed


def test_another_system_version_is_refused(certified: Any, production: Production, demo_pki: DemoPKI) -> None:
    promotion = decide(certified, production, demo_pki, production.profile(version="1.0.1"))
    assert at(promotion, "promote.difference") == ["profile:system.version"]
    assert at(promotion, "promote.system.differs") == ["profile:system.version"]


@pytest.mark.parametrize("window, rule", [
    ((-30, -1), "preflight.certificates.expired"),
    ((-30, 10), "promote.certificates.expiring"),
])
def test_an_expired_or_soon_expiring_certificate_is_refused(certified: Any, production: Production, demo_pki: DemoPKI,
                                                            window: tuple[int, int], rule: str) -> None:
    now = datetime.now(timezone.utc)
    issued = production.ca.issue("mdr.production.example", key=cached_key("promote-signing"),
                                 not_before=now + timedelta(days=window[0]), not_after=now + timedelta(days=window[1]))
    issued.write(production.folder, "dated")
    promotion = decide(certified, production, demo_pki, production.profile(signing="dated"), margin_days=30)
    assert at(promotion, rule) == ["profile:credentials.signing_certificate"]
    # the same certificate with a margin it meets is fine (the expired one never is)
    again = decide(certified, production, demo_pki, production.profile(signing="dated"), margin_days=5)
    assert (rule in error_rules(again)) == (rule == "preflight.certificates.expired")


def test_a_certificate_from_an_untrusted_ca_is_refused(certified: Any, production: Production,
                                                       demo_pki: DemoPKI) -> None:
    other = make_ca("someone else's CA", key=cached_key("promote-other-ca"))
    other.issue("mdr.production.example", key=cached_key("promote-signing")).write(production.folder, "stranger")
    promotion = decide(certified, production, demo_pki, production.profile(signing="stranger"))
    assert at(promotion, "promote.certificates.untrusted") == ["profile:credentials.signing_certificate"]


def test_a_bundle_that_fails_verify_is_refused(certified: Any, production: Production, demo_pki: DemoPKI,
                                               tmp_path: Path) -> None:
    folder = Path(shutil.copytree(certified.folder, tmp_path / "tampered"))
    summary = json.loads((folder / "summary.json").read_text())
    summary["party"]["company"] = "Someone Else Ltd"
    (folder / "summary.json").write_text(json.dumps(summary))
    promotion = decide(certified, production, demo_pki, bundle=folder)
    assert "promote.bundle.unsound" in error_rules(promotion)
    assert "bundle.hash" in str(promotion.findings)


def test_a_bundle_signed_outside_the_trusted_cas_is_refused(certified: Any, production: Production,
                                                             demo_pki: DemoPKI) -> None:
    promotion = promote(certified.zip_path, load_profile(production.profile()), trust=[production.ca.cert],
                        out=production.folder / "records")
    assert "promote.bundle.origin" in error_rules(promotion)


@pytest.mark.parametrize("change, rule, path", [
    ({"webhook": "http://127.0.0.1:9/webhook"}, "promote.webhooks.not-https", "webhook:http://127.0.0.1:9/webhook"),
    ({"environment": "UIT"}, "promote.environment.not-production", "profile:environment"),
    ({"environment": "SIT"}, "promote.difference", "profile:environment"),
    ({"party_extra": 'dcp_id = "4400000001"'}, "promote.difference", "profile:party.dcp_id"),
    ({"api_keys": False}, "preflight.api-keys.missing", "profile:credentials.api_key_primary"),
])
def test_production_settings_that_are_not_ready_are_refused(certified: Any, production: Production, demo_pki: DemoPKI,
                                                            change: dict[str, Any], rule: str, path: str) -> None:
    promotion = decide(certified, production, demo_pki, production.profile(**change))
    assert path in at(promotion, rule)


def test_a_webhook_that_fails_the_signed_probe_is_refused(certified: Any, production: Production, demo_pki: DemoPKI,
                                                          webhook: tuple[HTTPServer, Path, Any]) -> None:
    broken = webhook[0].url_for("/broken")
    promotion = decide(certified, production, demo_pki, production.profile(webhook=broken))
    assert at(promotion, "preflight.webhooks.server-error") == [f"webhook:{broken}"]
    signed = [r for r, _ in webhook[0].log if r.path == "/broken"]
    assert signed and signed[-1].data == b"[]" and "X-DIP-Signature" in signed[-1].headers


def test_the_command_refuses_with_exit_1_and_writes_nothing(certified: Any, production: Production, demo_pki: DemoPKI,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["promote", "--from", str(certified.zip_path), "--profile", str(production.profile(version="9")),
                 "--trust", str(demo_pki.keep_anchor(certified)), "--trust", str(production.ca_file),
                 "--out", str(production.folder / "records")])
    out = capsys.readouterr().out
    assert code == 1 and "REFUSED" in out and "system.version" in out and "NOT allowed" in out
    assert not (production.folder / "records").exists()


@pytest.mark.parametrize("argv, expected", [
    (["--from", "nowhere.zip"], "--from nowhere.zip: no such bundle"),
    (["--with", "earlier.zip"], "--with earlier.zip: no such bundle"),
    (["--margin-days", "-1"], "--margin-days should be between 0 and 3650"),
    (["--dip-cert", "missing.pem"], "--dip-cert missing.pem: cannot be read"),
    (["--no-trust"], "promote needs --trust CA.pem"),
    (["--out", "FILE"], ": --out must be a folder, and this is a file"),
])
def test_the_command_says_what_is_wrong_in_one_line(certified: Any, production: Production, demo_pki: DemoPKI,
                                                    capsys: pytest.CaptureFixture[str], argv: list[str],
                                                    expected: str) -> None:
    base = {"--from": str(certified.zip_path), "--profile": str(production.profile()),
            "--trust": str(production.ca_file)}
    args: list[str] = []
    for key, value in base.items():
        if key in argv or (key == "--trust" and "--no-trust" in argv):
            continue
        args += [key, value]
    args += [str(production.profile()) if a == "FILE" else a for a in argv if a != "--no-trust"]
    assert main(["promote", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and "\n" not in err and "Traceback" not in err


# -- a certification-grade bundle is promoted --------------------------------------------------------
def test_a_certified_bundle_is_promoted_and_verify_checks_the_record(
        certification: Any, production: Production, demo_pki: DemoPKI, capsys: pytest.CaptureFixture[str]) -> None:
    dip_cert = demo_pki.folder / "dip" / "dip-signing.pem"
    ca = demo_pki.keep_anchor(certification)
    code = main(["promote", "--from", str(certification.zip_path), "--profile", str(production.profile()),
                 "--trust", str(ca), "--trust", str(production.ca_file), "--signer", demo_pki.signer("MDR"),
                 "--dip-cert", str(dip_cert), "--out", str(production.folder / "records")])
    out = capsys.readouterr().out
    assert code == 0 and "PROMOTED" in out, out
    record = production.folder / "records" / f"promotion-{certification.run_id}.dsse.json"
    payload = payload_of(record)
    assert payload["certification"]["grade"]["level"] == "certification"
    assert all(d["allowed"] for d in payload["differences"]) and all(c["passed"] for c in payload["checks"])
    verify = ["verify", str(certification.zip_path), "--trust", str(ca), "--trust", str(production.ca_file),
              "--signer", demo_pki.signer("MDR"), "--dip-cert", str(dip_cert), "--promotion", str(record)]
    assert main(verify) == 0, capsys.readouterr().out
    # without the DIP's certificate the bundle is not certification grade, and the record is refused
    assert main([a for a in verify if a not in (str(dip_cert), "--dip-cert")]) == 1
    assert "promotion.bundle.grade" in capsys.readouterr().out


def test_the_certified_bundle_is_refused_for_a_newly_enabled_interface(certification: Any, production: Production,
                                                                       demo_pki: DemoPKI) -> None:
    promotion = decide(certification, production, demo_pki, production.profile(interfaces=SMALL + ("IF-006",)),
                       dip_certs=[demo_pki.dip.certificate])
    assert error_rules(promotion) == {"promote.difference"}
    good = decide(certification, production, demo_pki, dip_certs=[demo_pki.dip.certificate])
    assert good.promoted and good.record is not None and good.grade["level"] == "certification"


# -- the record and verify --promotion --------------------------------------------------------------
@pytest.fixture()
def record(certification: Any, production: Production, demo_pki: DemoPKI) -> Path:
    """A promotion record written by promote() for the certification-grade bundle."""
    promotion = decide(certification, production, demo_pki, dip_certs=[demo_pki.dip.certificate])
    assert promotion.promoted and promotion.record is not None, [str(f) for f in promotion.findings]
    return promotion.record


def payload_of(path: Path) -> dict[str, Any]:
    return json.loads(base64.b64decode(json.loads(path.read_text())["payload"]))


def verified(certification: Any, production: Production, demo_pki: DemoPKI) -> Any:
    """The bundle as the DIP Manager verifies it: the CAs, the party's pinned certificate, the DIP's."""
    return verify_bundle(certification.zip_path, trust=trust(demo_pki, production), signers=[demo_pki.signer("MDR")],
                         dip_certs=[demo_pki.dip.certificate])


def test_the_record_names_the_bundle_by_hash_and_lists_every_difference(record: Path, certification: Any) -> None:
    assert record.name == f"promotion-{certification.run_id}.dsse.json"
    envelope = json.loads(record.read_text())
    assert envelope["payloadType"] == "application/vnd.dipcert.promotion+json"
    payload = payload_of(record)
    assert payload["certification"]["manifest_sha256"] == verify_bundle(certification.zip_path,
                                                                        integrity_only=True).manifest_sha256
    assert payload["certification"]["run_id"] == certification.run_id
    keys = {d["key"]: d["allowed"] for d in payload["differences"]}
    assert keys["party.dip_id"] and keys["environment"] and all(keys.values())
    assert [c["check"] for c in payload["checks"]] == ["environment", "system", "identifiers", "api-keys",
                                                       "certificates", "dcp", "webhooks"]
    assert "prod-primary-key" not in record.read_text()  # secrets by reference only


def test_verify_checks_the_record_with_its_bundle(record: Path, certification: Any, production: Production,
                                                  demo_pki: DemoPKI, tmp_path: Path) -> None:
    bundle = verified(certification, production, demo_pki)
    assert check_promotion(record, bundle, trust=tuple(trust(demo_pki, production))) == []
    envelope = json.loads(record.read_text())
    payload = payload_of(record)
    payload["differences"] = payload["differences"][1:]
    envelope["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(envelope))
    assert {f.rule for f in check_promotion(edited, bundle, trust=tuple(trust(demo_pki, production)))} == \
        {"promotion.signature.invalid"}
    assert {f.rule for f in check_promotion(record, bundle, trust=(demo_pki.ca,))} == {"promotion.signature.untrusted"}
    # the same record against the bundle verified without the DIP's certificate: not certification grade
    weaker = verify_bundle(certification.zip_path, trust=trust(demo_pki, production), signers=[demo_pki.signer("MDR")])
    assert {f.rule for f in check_promotion(record, weaker, trust=tuple(trust(demo_pki, production)))} == \
        {"promotion.bundle.grade"}


def test_verify_recomputes_the_differences_and_the_bundle_hash(record: Path, certification: Any,
                                                               production: Production, demo_pki: DemoPKI,
                                                               tmp_path: Path) -> None:
    """A record edited and re-signed by the party is still checked against the bundle."""
    from harness.promotion.record import write_record

    bundle = verified(certification, production, demo_pki)
    identity = production.signing.identity()

    def rules_after(edit: Any, name: str) -> list[Finding]:
        payload = payload_of(record)
        edit(payload)
        return check_promotion(write_record(tmp_path / name, certification.run_id, payload, identity), bundle,
                               trust=tuple(trust(demo_pki, production)))

    hidden = rules_after(lambda p: p.update(differences=[d for d in p["differences"] if d["key"] != "party.dip_id"]),
                         "hidden")
    assert [f.rule for f in hidden] == ["promotion.differences"]
    other = rules_after(lambda p: p["certification"].update(manifest_sha256="sha256:" + "0" * 64), "other")
    assert [f.rule for f in other] == ["promotion.bundle-manifest"]
    widened = rules_after(lambda p: p["production"]["profile"]["interfaces"].update({"IF-006": True}), "widened")
    assert ("promotion.disallowed", "profile:interfaces.IF-006") in [(f.rule, f.path) for f in widened]
    failed = rules_after(lambda p: p["checks"][0].update(passed=False), "failed")
    assert [f.rule for f in failed] == ["promotion.check-failed"]


def test_dipcert_verify_promotion_json_and_a_malformed_record(record: Path, certification: Any,
                                                              production: Production, demo_pki: DemoPKI, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    ca = demo_pki.keep_anchor(certification)
    argv = ["verify", str(certification.zip_path), "--trust", str(ca), "--trust", str(production.ca_file),
            "--signer", demo_pki.signer("MDR"), "--dip-cert", str(demo_pki.folder / "dip" / "dip-signing.pem"),
            "--json",
            "--promotion"]
    assert main(argv + [str(record)]) == 0
    assert json.loads(capsys.readouterr().out)["promotion"]["findings"] == []
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    assert main(argv + [str(junk)]) == 2
    err = capsys.readouterr().err.strip()
    assert "junk.json" in err and "\n" not in err and "Traceback" not in err
