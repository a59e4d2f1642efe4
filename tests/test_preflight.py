"""Onboarding readiness (guidance 4.1): each check passes a good setup and fails a bad one."""

from __future__ import annotations

import socket
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from harness.config.profile import Partner, Party, load_profile
from harness.core.findings import errors
from harness.run.preflight import (
    check_api_keys,
    check_certificates,
    check_dcp,
    check_identifiers,
    check_partner,
    check_webhooks,
    probe_identity,
    probe_webhook,
    run_preflight,
)
from harness.transport.certs import cached_key, make_ca
from harness.transport.signing import SIGNATURE_HEADERS, verify_request
from harness.transport.tls import server_context

NOW = datetime.now(timezone.utc)  # read at import: certificates below are dated from it, not from the wall clock
SINCE = NOW - timedelta(days=1)

PROFILE = """\
[party]
role = "MDR"
company = "Example Energy Ltd"
mpid = "EXMP"
dip_id = "1234567890"
{party_extra}

[system]
name = "AcmeMDR"
version = "4.2.1"
{system_extra}

{partner}

[interfaces]
{interfaces}

[webhooks]
{webhooks}

[credentials]
api_key_primary = {{ env = "PF_KEY_PRIMARY" }}
api_key_secondary = {{ file = "secrets/secondary" }}
{certs}
"""

PARTNER = '[partner]\nmpid = "PART"\ndip_id = "1111111111"\nendpoint = "reference"'


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    return ("127.0.0.1", 0)


@pytest.fixture(scope="module")
def ca():
    return make_ca("preflight test CA", key=cached_key("preflight-ca"), not_before=SINCE)


@pytest.fixture(scope="module")
def identity(ca):
    return ca.issue("probe", key=cached_key("preflight-probe")).identity()


def make_profile(tmp_path: Path, ca, *, not_after: datetime | None = None, not_before: datetime | None = None,
                 mismatched_key: bool = False, password: str | None = None, certs: str | None = None,
                 partner: str = PARTNER,
                 interfaces: str = 'IF-006 = "Y"\nIF-061 = "Y"\nIF-062 = "Y"\nIF-064 = "Y"',
                 webhooks: str = 'default = "https://127.0.0.1:1/dip"', party_extra: str = "",
                 system_extra: str = "", secondary: str = "secondary-key-value") -> "object":
    leaf = ca.issue("signer", key=cached_key("preflight-signer"), not_after=not_after, not_before=not_before or SINCE)
    cert_path, key_path = leaf.write(tmp_path / "certs", "signing", password=password)
    if mismatched_key:
        other = ca.issue("other", key=cached_key("preflight-other"), not_before=SINCE)
        _, key_path = other.write(tmp_path / "certs", "other")
    (tmp_path / "secrets").mkdir(exist_ok=True)
    (tmp_path / "secrets" / "secondary").write_text(secondary + "\n")
    if certs is None:
        certs = f'signing_certificate = "certs/{cert_path.name}"\nsigning_key = "certs/{key_path.name}"'
        if password is not None:
            certs += '\nsigning_key_password = { env = "PF_KEY_PASSWORD" }'
    text = PROFILE.format(party_extra=party_extra, system_extra=system_extra, partner=partner,
                          interfaces=interfaces, webhooks=webhooks, certs=certs)
    path = tmp_path / "profile.toml"
    path.write_text(text, encoding="utf-8")
    return load_profile(path)


@pytest.fixture(autouse=True)
def api_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PF_KEY_PRIMARY", "primary-key-value")
    monkeypatch.delenv("PF_KEY_PASSWORD", raising=False)


def rules(findings) -> list[str]:
    return [f.rule for f in findings]


# --- certificates -----------------------------------------------------------------------------

def test_certificates_good(tmp_path: Path, ca) -> None:
    assert check_certificates(make_profile(tmp_path, ca), now=NOW) == []


def test_certificate_expired(tmp_path: Path, ca) -> None:
    profile = make_profile(tmp_path, ca, not_before=NOW - timedelta(days=60), not_after=NOW - timedelta(days=1))
    findings = check_certificates(profile, now=NOW)
    assert rules(findings) == ["preflight.certificates.expired"]
    assert findings[0].path == "profile:credentials.signing_certificate"


def test_certificate_expiring_soon_is_a_warning(tmp_path: Path, ca) -> None:
    profile = make_profile(tmp_path, ca, not_after=NOW + timedelta(days=10))
    findings = check_certificates(profile, now=NOW)
    assert rules(findings) == ["preflight.certificates.expiring"]
    assert errors(findings) == []


def test_certificate_not_yet_valid(tmp_path: Path, ca) -> None:
    profile = make_profile(tmp_path, ca, not_before=NOW + timedelta(days=2), not_after=NOW + timedelta(days=90))
    assert rules(check_certificates(profile, now=NOW)) == ["preflight.certificates.not-yet-valid"]


def test_key_mismatch(tmp_path: Path, ca) -> None:
    findings = check_certificates(make_profile(tmp_path, ca, mismatched_key=True), now=NOW)
    assert rules(findings) == ["preflight.certificates.key-mismatch"]
    assert findings[0].path == "profile:credentials.signing_key"


def test_certificate_missing_or_unparseable(tmp_path: Path, ca) -> None:
    findings = check_certificates(make_profile(tmp_path, ca, certs=""), now=NOW)
    assert rules(findings) == ["preflight.certificates.missing"]
    (tmp_path / "junk.pem").write_text("not a certificate")
    profile = make_profile(tmp_path, ca, certs='signing_certificate = "junk.pem"\nsigning_key = "certs/signing.key"')
    assert rules(check_certificates(profile, now=NOW)) == ["preflight.certificates.unparseable"]
    profile = make_profile(tmp_path, ca, certs='signing_certificate = "absent.pem"\nsigning_key = "certs/signing.key"')
    assert rules(check_certificates(profile, now=NOW)) == ["preflight.certificates.unreadable"]


def test_encrypted_key_needs_its_password(tmp_path: Path, ca, monkeypatch: pytest.MonkeyPatch) -> None:
    profile = make_profile(tmp_path, ca, password="pw-123")
    findings = check_certificates(profile, now=NOW)
    assert rules(findings) == ["preflight.certificates.key-password"]
    assert "PF_KEY_PASSWORD" in findings[0].message and "pw-123" not in str(findings)
    monkeypatch.setenv("PF_KEY_PASSWORD", "pw-123")
    assert check_certificates(profile, now=NOW) == []
    monkeypatch.setenv("PF_KEY_PASSWORD", "wrong")
    assert rules(check_certificates(profile, now=NOW)) == ["preflight.certificates.key-unreadable"]


def test_tls_ca_checked_when_given(tmp_path: Path, ca) -> None:
    ca_path = ca.write(tmp_path, "ca")
    base = make_profile(tmp_path, ca)
    certs = (f'signing_certificate = "{base.credentials.signing_certificate}"\n'
             f'signing_key = "{base.credentials.signing_key}"\n')
    good = make_profile(tmp_path, ca, certs=certs + f'tls_ca = "{ca_path.name}"')
    assert check_certificates(good, now=NOW) == []
    bad = make_profile(tmp_path, ca, certs=certs + 'tls_ca = "missing-ca.pem"')
    assert rules(check_certificates(bad, now=NOW)) == ["preflight.certificates.unreadable"]


# --- API keys ---------------------------------------------------------------------------------

def test_api_keys_good(tmp_path: Path, ca) -> None:
    assert check_api_keys(make_profile(tmp_path, ca)) == []


def test_api_keys_identical(tmp_path: Path, ca) -> None:
    findings = check_api_keys(make_profile(tmp_path, ca, secondary="primary-key-value"))
    assert rules(findings) == ["preflight.api-keys.identical"]
    assert "primary-key-value" not in str([f.to_dict() for f in findings])


def test_api_key_unresolvable_and_missing(tmp_path: Path, ca, monkeypatch: pytest.MonkeyPatch) -> None:
    profile = make_profile(tmp_path, ca)
    monkeypatch.delenv("PF_KEY_PRIMARY")
    findings = check_api_keys(profile)
    assert rules(findings) == ["preflight.api-keys.unresolvable"]
    assert "PF_KEY_PRIMARY is not set" in findings[0].message
    creds = replace(profile.credentials, api_key_secondary=None)
    assert rules(check_api_keys(replace(profile, credentials=creds))) == [
        "preflight.api-keys.unresolvable", "preflight.api-keys.missing"]


# --- identifiers ------------------------------------------------------------------------------

def test_identifiers_good_and_malformed(tmp_path: Path, ca) -> None:
    profile = make_profile(tmp_path, ca)
    assert check_identifiers(profile) == []
    bad = replace(profile, party=replace(profile.party, dip_id="12345", mpid="exm1"),
                  partner=replace(profile.partner, mpid="PARTNER"))
    assert rules(check_identifiers(bad)) == ["preflight.identifiers.dip-id", "preflight.identifiers.mpid",
                                             "preflight.identifiers.mpid"]
    same = replace(profile, partner=replace(profile.partner, dip_id=profile.party.dip_id))
    assert rules(check_identifiers(same)) == ["preflight.identifiers.same-dip-id"]
    nonhex = replace(profile, party=replace(profile.party, dip_id="ABCDEFGHIJ"))
    findings = check_identifiers(nonhex)
    assert rules(findings) == ["preflight.identifiers.dip-id"] and errors(findings) == []


# --- DCP --------------------------------------------------------------------------------------

def test_dcp(tmp_path: Path, ca) -> None:
    assert check_dcp(make_profile(tmp_path, ca)) == []  # no DCP: nothing to check
    missing = make_profile(tmp_path, ca, system_extra='supplier = "Connect DCP"\nsupplier_is_dcp = true')
    assert rules(check_dcp(missing)) == ["preflight.dcp.missing"]
    good = make_profile(tmp_path, ca, system_extra="supplier_is_dcp = true", party_extra='dcp_id = "5555555555"')
    assert check_dcp(good) == []
    malformed = replace(good, party=Party(**{**vars(good.party), "dcp_id": "55"}))
    assert rules(check_dcp(malformed)) == ["preflight.dcp.malformed"]


# --- partner ----------------------------------------------------------------------------------

def test_partner(tmp_path: Path, ca) -> None:
    assert check_partner(make_profile(tmp_path, ca)) == []
    missing = make_profile(tmp_path, ca, partner="")
    findings = check_partner(missing)
    assert rules(findings) == ["preflight.partner.missing"]
    assert "IF-061, IF-062" in findings[0].message
    optional_only = make_profile(tmp_path, ca, partner="", interfaces='IF-006 = "Y"')
    assert check_partner(optional_only) == []
    bad_endpoint = replace(missing, partner=Partner("SDS", "PART", "1111111111", "ftp://x"))
    assert rules(errors(check_partner(bad_endpoint))) == ["preflight.partner.endpoint"]


@pytest.mark.parametrize("interfaces, gaps", [
    ('IF-061 = "Y"\nIF-063 = "Y"',
     [("IF-062", "reject, start-and-consume, stop"), ("IF-064", "start-and-consume, stop")]),
    ('IF-061 = "Y"\nIF-062 = "Y"', [("IF-064", "start-and-consume, stop")]),
    ('IF-065 = "Y"', [("IF-064", "on-demand-reads")]),
    ('IF-061 = "Y"\nIF-062 = "Y"\nIF-064 = "Y"\nIF-065 = "Y"', []),
])
def test_a_request_enabled_without_its_answer_fails_preflight_and_warns_at_load(tmp_path: Path, ca, interfaces,
                                                                                   gaps) -> None:
    profile = make_profile(tmp_path, ca, interfaces=interfaces)
    findings = [f for f in check_partner(profile) if f.rule == "preflight.partner.unanswered-request"]
    assert [(f.path.removeprefix("profile:interfaces."), f.message.split("exchange(s) ")[1].split(" (")[0])
            for f in findings] == gaps
    assert all(f.severity == "error" for f in findings)
    assert len(profile.warnings) == len(gaps)
    assert all(str(profile.path) in w and "is enabled but" in w for w in profile.warnings)


# --- webhooks ---------------------------------------------------------------------------------

def test_webhook_missing_for_incoming_interface(tmp_path: Path, ca) -> None:
    profile = make_profile(tmp_path, ca, webhooks='IF-006 = "https://127.0.0.1:1/if-006"')
    findings = check_webhooks(profile)
    assert rules(findings) == ["preflight.webhooks.missing"]
    assert findings[0].path == "profile:webhooks.IF-061"  # IF-062 is outgoing: needs none
    assert check_webhooks(make_profile(tmp_path, ca)) == []


def test_webhook_probe_4xx_is_fine_and_request_is_signed(tmp_path: Path, ca, identity, httpserver: HTTPServer) -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response("empty array is not a message", status=400)

    httpserver.expect_request("/dip", method="POST").respond_with_handler(handler)
    url = httpserver.url_for("/dip")
    assert probe_webhook(url, identity=identity, timeout=2.0) == []
    request = seen[0]
    assert request.get_data() == b"[]"
    assert all(request.headers.get(h) for h in SIGNATURE_HEADERS)
    assert verify_request("POST", url, b"[]", dict(request.headers)) == []


def test_webhook_probe_500(identity, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/dip").respond_with_data("boom", status=500)
    findings = probe_webhook(httpserver.url_for("/dip"), identity=identity, timeout=2.0)
    assert rules(findings) == ["preflight.webhooks.server-error"]
    assert findings[0].actual == "500"


def test_webhook_unreachable(identity) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    findings = probe_webhook(f"http://127.0.0.1:{port}/dip", identity=identity, timeout=2.0)
    assert rules(findings) == ["preflight.webhooks.unreachable"]


def test_webhook_timeout(identity, httpserver: HTTPServer) -> None:
    release = threading.Event()

    def slow(request: Request) -> Response:
        release.wait(5)  # bounded; released as soon as the client has given up
        return Response("late", status=200)

    httpserver.expect_request("/dip").respond_with_handler(slow)
    try:
        findings = probe_webhook(httpserver.url_for("/dip"), identity=identity, timeout=0.3)
    finally:
        release.set()
    assert rules(findings) == ["preflight.webhooks.timeout"]


def test_webhook_tls(tmp_path: Path, ca, identity) -> None:
    server_cert = ca.issue("127.0.0.1", key=cached_key("preflight-server"))
    cert_path, key_path = server_cert.write(tmp_path, "server")
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=server_context(cert_path, key_path))
    server.expect_request("/dip").respond_with_data("", status=401)
    server.start()
    try:
        url = server.url_for("/dip")
        assert url.startswith("https://127.0.0.1:")
        untrusted = probe_webhook(url, identity=identity, timeout=2.0)
        assert rules(untrusted) == ["preflight.webhooks.tls"]
        assert "credentials.tls_ca" in untrusted[0].message
        assert probe_webhook(url, identity=identity, ca=ca.write(tmp_path, "ca"), timeout=2.0) == []
    finally:
        server.clear()
        server.stop()


def test_check_webhooks_probes_each_url_once(tmp_path: Path, ca, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/dip").respond_with_data("", status=500)
    profile = make_profile(tmp_path, ca, webhooks=f'default = "{httpserver.url_for("/dip")}"')
    findings = check_webhooks(profile, probe=lambda url: probe_webhook(url, identity=probe_identity(), timeout=2.0))
    assert rules(findings) == ["preflight.webhooks.not-https", "preflight.webhooks.server-error"]
    assert findings[1].extra["interfaces"] == ["IF-006", "IF-061"]
    assert len(httpserver.log) == 1


# --- all together -----------------------------------------------------------------------------

def test_run_preflight_good_setup(tmp_path: Path, ca, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/dip").respond_with_data("", status=400)
    profile = make_profile(tmp_path, ca, webhooks=f'default = "{httpserver.url_for("/dip")}"')
    profile = replace(profile, harness=replace(profile.harness, timeout=2.0))
    results = run_preflight(profile, now=NOW)  # real probe, throwaway signer
    assert list(results) == ["certificates", "api-keys", "identifiers", "webhooks", "dcp", "partner"]
    assert {name: errors(found) for name, found in results.items()} == {name: [] for name in results}
    assert rules(results["webhooks"]) == ["preflight.webhooks.not-https"]  # a warning only
    assert len(httpserver.log) == 1


def test_run_preflight_bad_setup_without_probe(tmp_path: Path, ca) -> None:
    profile = make_profile(tmp_path, ca, mismatched_key=True, partner="", secondary="primary-key-value",
                           webhooks='IF-006 = "https://127.0.0.1:1/dip"')
    results = run_preflight(profile, probe=False, now=NOW)
    assert rules(results["certificates"]) == ["preflight.certificates.key-mismatch"]
    assert rules(results["api-keys"]) == ["preflight.api-keys.identical"]
    assert rules(results["webhooks"]) == ["preflight.webhooks.missing"]
    assert rules(results["partner"]) == ["preflight.partner.missing"]
    assert results["identifiers"] == [] and results["dcp"] == []


# --- dipcert preflight ------------------------------------------------------------------------

def test_preflight_command_exit_codes(tmp_path: Path, ca, httpserver: HTTPServer,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from harness.cli import main

    httpserver.expect_request("/dip").respond_with_data("", status=400)
    good = make_profile(tmp_path, ca, webhooks=f'default = "{httpserver.url_for("/dip")}"')
    assert main(["preflight", "--profile", str(good.path)]) == 0
    out = capsys.readouterr().out
    assert "MDR-4.1/preflight/certificates" in out and "ready for certification" in out
    assert "primary-key-value" not in out

    assert main(["preflight", "--profile", str(good.path), "--json", "--no-probe"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ready"] is True
    assert [c["status"] for c in data["checks"]] == ["pass", "pass", "pass", "warn", "not needed", "pass"]

    (tmp_path / "bad").mkdir()
    bad = make_profile(tmp_path / "bad", ca, mismatched_key=True,
                       webhooks=f'default = "{httpserver.url_for("/dip")}"')
    assert main(["preflight", "--profile", str(bad.path), "--no-probe"]) == 1
    assert "does not match" in capsys.readouterr().out

    assert main(["preflight", "--profile", str(tmp_path / "absent.toml")]) == 2
    assert "profile file not found" in capsys.readouterr().err


def test_a_real_partner_without_trigger_key_or_certificate_is_warned(tmp_path: Path, ca) -> None:
    base = make_profile(tmp_path, ca)
    real = replace(base, partner=Partner("SDS", "PART", "1111111111", "https://partner.example/dip"))
    findings = check_partner(real)
    assert rules(findings) == ["preflight.partner.real"] * 3
    assert {f.path for f in findings} == {"profile:partner.trigger", "profile:partner.api_key",
                                          "profile:partner.signing_certificate"}
    assert not errors(findings)  # warnings: the exchanges will tell, but the party is told first
