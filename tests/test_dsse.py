"""DSSE envelopes: the specification's test vector, a round trip, and every way a forgery is refused."""

from __future__ import annotations

import base64
import json

import pytest

from harness.evidence.dsse import EnvelopeError, keyid, pae, sign_envelope, verify_envelope
from harness.transport.certs import cached_key, make_ca

TYPE = "application/vnd.dipcert.test+json"


@pytest.fixture(scope="module")
def identities():
    ca = make_ca("dsse test CA", key=cached_key("dsse-ca"))
    return (ca.issue("signer", key=cached_key("dsse-a")).identity(),
            ca.issue("other", key=cached_key("dsse-b")).identity())


def test_pae_matches_the_specification_vector():
    # protocol.md, "Test Vectors"
    assert pae("http://example.com/HelloWorld", b"hello world") == \
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"


def test_round_trip_returns_the_exact_payload_and_the_signer(identities):
    me, _ = identities
    payload = json.dumps({"a": 1}).encode()
    envelope = json.loads(json.dumps(sign_envelope(TYPE, payload, me)))  # through JSON, as stored
    verified = verify_envelope(envelope, [me.certificate], payload_type=TYPE)
    assert verified.payload == payload and verified.signer == me.certificate
    assert envelope["signatures"][0]["keyid"] == keyid(me.certificate)


def test_a_changed_payload_or_type_or_another_signer_is_refused(identities):
    me, other = identities
    envelope = sign_envelope(TYPE, b"{}", me)
    tampered = dict(envelope, payload=base64.b64encode(b'{"x":1}').decode())
    with pytest.raises(EnvelopeError, match="no signature"):
        verify_envelope(tampered, [me.certificate], payload_type=TYPE)
    with pytest.raises(EnvelopeError, match="payloadType"):
        verify_envelope(dict(envelope, payloadType="other"), [me.certificate], payload_type=TYPE)
    # the type is authenticated too: the same signature over another type does not verify
    with pytest.raises(EnvelopeError, match="no signature"):
        verify_envelope(dict(envelope, payloadType="x"), [me.certificate], payload_type="x")
    with pytest.raises(EnvelopeError, match="no signature"):
        verify_envelope(envelope, [other.certificate], payload_type=TYPE)
    # a keyid naming the trusted certificate does not help a signature made by another key
    forged = sign_envelope(TYPE, b"{}", other)
    forged["signatures"][0]["keyid"] = keyid(me.certificate)
    with pytest.raises(EnvelopeError):
        verify_envelope(forged, [me.certificate], payload_type=TYPE)


@pytest.mark.parametrize("envelope", [None, [], {"payloadType": TYPE},
                                      {"payloadType": TYPE, "payload": "!!", "signatures": [{"sig": "AA=="}]},
                                      {"payloadType": TYPE, "payload": "e30=", "signatures": []},
                                      {"payloadType": TYPE, "payload": "e30=",
                                       "signatures": [1, {"sig": 3}, {"sig": "%%"}]}])
def test_malformed_envelopes_are_one_line_errors(envelope, identities):
    me, _ = identities
    with pytest.raises(EnvelopeError) as info:
        verify_envelope(envelope, [me.certificate], payload_type=TYPE)
    assert "\n" not in str(info.value)


def test_no_trusted_certificate_says_so(identities):
    me, _ = identities
    with pytest.raises(EnvelopeError, match="no trusted certificate"):
        verify_envelope(sign_envelope(TYPE, b"{}", me), [], payload_type=TYPE)
