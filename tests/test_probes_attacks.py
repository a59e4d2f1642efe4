"""The DIP's hostile deliveries themselves (harness.dip.probes): what each attack signs, exactly.

A consume check is only as good as its attack: a stale signature that is not stale in UTC, or an
altered body whose headers match the altered bytes, would let a careless webhook pass.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from harness.dip import probes
from harness.transport.certs import cached_key, make_ca
from harness.transport.signing import CONTENT_HASH, SIGNATURE_DATE, content_hash, parse_signature_date, verify_request

URL = "https://webhook.example/dip"


@pytest.fixture
def clock_fourteen_hours_ahead(monkeypatch: pytest.MonkeyPatch):
    """The machine's local time zone UTC+14 (a POSIX TZ string: no tz database needed)."""
    monkeypatch.setenv("TZ", "XYZ-14")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(scope="module")
def dip_identity():
    ca = make_ca("probe attacks CA", key=cached_key("test-ca"))
    return ca.issue("dip.test", key=cached_key("test-dip")).identity()


def test_the_stale_signature_is_dated_a_day_ago_in_utc_whatever_the_local_zone(dip_identity,
                                                                             clock_fourteen_hours_ahead) -> None:
    headers = probes.stale_signer()("POST", URL, b"[]", dip_identity)
    dated = parse_signature_date(headers[SIGNATURE_DATE])
    assert dated is not None
    assert abs(dated - (datetime.now(timezone.utc) - probes.STALE_BY)) < timedelta(minutes=1)
    findings = verify_request("POST", URL, b"[]", headers, expected_certificate=dip_identity.certificate)
    assert [f.rule for f in findings] == ["signature.skew"]


def test_the_altered_body_headers_are_made_over_other_bytes_than_those_sent(dip_identity) -> None:
    sent = b'[{"n":1},{"n":2}]'
    headers = probes.altered_signer()("POST", URL, sent, dip_identity)
    assert headers[CONTENT_HASH] == content_hash(probes.altered(sent)) != content_hash(sent)
    assert probes.altered(sent) != sent and len(probes.altered(sent)) == len(sent)
    findings = verify_request("POST", URL, sent, headers, expected_certificate=dip_identity.certificate)
    assert findings and findings[0].rule.startswith("signature.")


def test_an_unknown_attack_is_named() -> None:
    with pytest.raises(ValueError, match=r"^kind should be one of plain, redelivery, .*got 'replayed-nonce'$"):
        probes.parse({"kind": "replayed-nonce", "interface": "IF-061", "recipient": "1", "messages": [{}]})
    assert probes.parse({"kind": "stale-date", "interface": "IF-061", "recipient": "1",
                         "messages": [{}]}).kind == "stale-signature"


@pytest.mark.parametrize("kind", [["plain"], {"plain": 1}])
def test_a_kind_that_is_not_a_string_is_a_one_line_error_not_a_crash(kind) -> None:
    """An unhashable kind once reached the alias lookup and raised TypeError (the hub answered 500)."""
    with pytest.raises(ValueError, match=r"^kind should be one of plain, "):
        probes.parse({"kind": kind, "interface": "IF-061", "recipient": "1", "messages": [{}]})
