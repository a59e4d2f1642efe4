"""The hub built from a participant profile: the party's keys, certificate and webhooks, and `dipcert hub`."""

from __future__ import annotations

import json

import httpx
import pytest

from harness.cli import main
from harness.config.profile import load_profile
from harness.dip.provision import build_hub
from harness.messages.samples import Party, SampleFactory
from harness.transport.certs import cached_key, make_ca
from harness.transport.signing import sign_request

PROFILE = """
environment = "UIT"
[party]
role = "MDR"
company = "Test MDR Ltd"
mpid = "TMDR"
dip_id = "1234567890"
[system]
name = "TestMDR"
version = "1.0"
[partner]
role = "SDS"
mpid = "TSDS"
dip_id = "1111111111"
endpoint = "reference"
[interfaces]
IF-006 = "N"
IF-008 = "N"
IF-024 = "Y"
IF-026 = "N"
IF-061 = "Y"
IF-062 = "Y"
IF-063 = "Y"
IF-064 = "Y"
IF-065 = "Y"
[webhooks]
default = "http://127.0.0.1:9/dip"
[credentials]
api_key_primary = { env = "TEST_HUB_KEY_1" }
api_key_secondary = { file = "key2" }
signing_certificate = "signing.crt"
signing_key = "signing.key"
"""


@pytest.fixture(scope="module")
def identity_files(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("party")
    issued = make_ca("Party CA", key=cached_key("test-ca")).issue("mdr.test", key=cached_key("test-party"))
    issued.write(folder, "signing")
    return folder, issued.identity()


@pytest.fixture
def profile(identity_files, monkeypatch: pytest.MonkeyPatch):
    folder, _ = identity_files
    (folder / "profile.toml").write_text(PROFILE)
    (folder / "key2").write_text("secondary-key-0123456789abcdef\n")
    monkeypatch.setenv("TEST_HUB_KEY_1", "primary-key-0123456789abcdef")
    return load_profile(folder / "profile.toml")


def _submit(hub, identity, key: str, seed: int = 3) -> httpx.Response:
    mdr = Party("MDR", "1234567890", "TMDR")
    item = SampleFactory(seed=seed).message("IF-062", sender=mdr, recipients=["1111111111"])
    body = json.dumps([item]).encode()
    url = f"{hub.base_url}/dip-channel/IF-062"
    headers = {**sign_request("POST", url, body, identity), "X-API-Key": key,
               "Content-Type": "application/json"}
    return httpx.post(url, content=body, headers=headers, timeout=5)


def test_party_submits_with_either_registered_key(profile, identity_files) -> None:
    _, identity = identity_files
    with build_hub(profile, port=0) as hub:
        assert _submit(hub, identity, "primary-key-0123456789abcdef").status_code == 201
        assert _submit(hub, identity, "secondary-key-0123456789abcdef", seed=4).status_code == 201
        assert _submit(hub, identity, "not-a-registered-key-000000000", seed=5).status_code == 401
        assert [s.sender for s in hub.received("IF-062")] == ["1234567890", "1234567890"]


def test_signature_must_come_from_the_registered_certificate(profile) -> None:
    stranger = make_ca("Other CA", key=cached_key("other-ca")).issue("x", key=cached_key("other")).identity()
    with build_hub(profile, port=0) as hub:
        assert _submit(hub, stranger, "primary-key-0123456789abcdef").status_code == 401
        assert not hub.received()


def test_webhooks_registered_only_for_enabled_incoming_interfaces(profile) -> None:
    hub = build_hub(profile, port=0)
    assert hub.webhook("1234567890", "IF-061").callback_url == "http://127.0.0.1:9/dip"
    assert hub.webhook("1234567890", "IF-024") is not None
    assert hub.webhook("1234567890", "IF-062") is None  # outgoing for an MDR
    assert hub.webhook("1234567890", "IF-006") is None  # not enabled


def test_missing_api_key_variable_is_one_line(profile, monkeypatch, capsys) -> None:
    monkeypatch.delenv("TEST_HUB_KEY_1")
    assert main(["hub", "--profile", str(profile.path), "--duration", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "TEST_HUB_KEY_1" in err[0]


def test_hub_command_prints_base_url_and_writes_dip_certificate(profile, tmp_path, capsys) -> None:
    cert = tmp_path / "dip.pem"
    assert main(["hub", "--profile", str(profile.path), "--port", "0", "--duration", "0.1",
                 "--dip-certificate-out", str(cert)]) == 0
    assert "listening on http://127.0.0.1:" in capsys.readouterr().out
    assert cert.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
