"""Sessions on one hub: session-scoped counterparties, routing scope, visibility, records, export."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from dipkit import (
    MDR,
    OTHER_MDR,
    SDS,
    SUP,
    WAIT,
    Webhook,
    api,
    keys_for,
    make_hub,
    open_session,
    records,
    registration,
    sample,
    serving,
    sha256,
    wait_records,
)
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from harness.dip.client import RemoteHub
from harness.dip.connection import DipCaller, DipConnection, DipUnavailable
from harness.dip.transcript import GENESIS, PAYLOAD_TYPE
from harness.evidence.dsse import verify_envelope
from harness.messages.samples import DEFAULT_PARTIES, SampleFactory
from harness.transport.delivery import WebhookConfig

logging.getLogger("werkzeug").setLevel(logging.ERROR)


@pytest.fixture
def webhooks():
    hooks = {"MDR": Webhook(), "OMDR": Webhook(), "SDS": Webhook()}
    yield hooks
    for hook in hooks.values():
        hook.close()


@pytest.fixture
def hub(hub_pki, webhooks):
    mdr = registration(hub_pki, MDR, webhooks={"IF-061": WebhookConfig(webhooks["MDR"].url)})
    other = registration(hub_pki, OTHER_MDR, "OMDR", webhooks={"IF-061": WebhookConfig(webhooks["OMDR"].url)})
    with make_hub(hub_pki, mdr, other) as running:
        yield running


def pem(identity) -> str:
    return identity.certificate.public_bytes(serialization.Encoding.PEM).decode()


def counterparty_sds(hub_pki, webhook_url: str | None = None) -> dict:
    spec = {"role": "SDS", "mpid": SDS.mpid, "dip_id": SDS.dip_id, "certificate_pem": pem(hub_pki["SDS"])}
    if webhook_url:
        spec["webhooks"] = {"IF-062": webhook_url}
    return spec


def independent_chain_check(lines: bytes) -> list[dict]:
    """Written here from the format (not from harness.dip.transcript): links, seqs and body hashes."""
    prev, out = GENESIS, []
    for n, raw in enumerate(lines.splitlines(), 1):
        line = json.loads(raw)
        bare = {k: v for k, v in line.items() if k not in ("request_b64", "response_b64")}
        assert line["seq"] == n and line["prev"] == prev
        for key in ("request", "response"):
            if line.get(f"{key}_sha256"):
                assert sha256(base64.b64decode(line[f"{key}_b64"])) == line[f"{key}_sha256"]
        prev = sha256(json.dumps(bare, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())
        out.append(line)
    return out


def test_session_counterparty_submits_to_the_party_under_test(hub, hub_pki, webhooks):
    with api(hub, hub_pki["MDR"], keys_for(MDR.dip_id)[0]) as mdr:
        opened = open_session(mdr, [counterparty_sds(hub_pki, webhooks["SDS"].url),
                                    {"role": "SUP", "mpid": SUP.mpid, "dip_id": MDR.dip_id}])
        sid = opened["session"]
        (sds, sup) = opened["counterparties"]
        assert sds["dip_id"] == SDS.dip_id and len(set(sds["api_keys"])) == 2
        assert sup["dip_id"] != MDR.dip_id and len(sup["dip_id"]) == 10  # taken in scope: another allocated
        assert opened["dip"]["fingerprint"].startswith("sha256:") and opened["dip"]["mtls"] is False
        with api(hub, hub_pki["SDS"], sds["api_keys"][1]) as cp:
            result = cp.submit("IF-061", sample())
            assert result.status == 201, result.body
            seen = wait_records(mdr, sid, lambda r: r["kind"] == "delivery")
        kinds = [(r["kind"], r.get("event") or r.get("endpoint")) for r in seen]
        assert kinds[:4] == [("event", "session.open"), ("event", "webhook"), ("event", "party"), ("event", "party")]
        assert seen[1]["data"]["config"]["callbackURL"] == webhooks["MDR"].url
        assert opened["party"]["webhooks"]["IF-061"]["callbackURL"] == webhooks["MDR"].url
        opening = next(r for r in seen if r.get("endpoint") == "session")
        kept = mdr.call("GET", f"/dipcert/v1/sessions/{sid}/bodies/{opening['response_sha256']}").content
        assert opening["redacted"] and sds["api_keys"][0].encode() not in kept and b"[redacted]" in kept
        inline = records(mdr, sid, bodies=True)["records"]
        assert all(r.get("response_b64") for r in inline if r.get("response_sha256"))
        submit = next(r for r in seen if r.get("endpoint") == "submit")
        assert submit["caller"] == SDS.dip_id and submit["caller_scope"] == sid and submit["key_slot"] == "secondary"
        assert submit["transaction_ids"] == result.transaction_ids and "X-API-Key" not in submit["request_headers"]
        delivery = next(r for r in seen if r["kind"] == "delivery")
        assert delivery["recipient"] == MDR.dip_id and delivery["outcome"] == "accepted"
        assert delivery["transaction_ids"] == result.transaction_ids
        body = mdr.call("GET", f"/dipcert/v1/sessions/{sid}/bodies/{delivery['request_sha256']}")
        assert body.status_code == 200 and body.content == webhooks["MDR"].calls[0].body
        assert records(mdr, sid, after=seen[-1]["seq"], wait=0.05)["records"] == []


def test_two_sessions_same_counterparty_dip_id_no_crosstalk(hub, hub_pki, webhooks):
    with api(hub, hub_pki["MDR"], keys_for(MDR.dip_id)[0]) as mdr, \
            api(hub, hub_pki["OMDR"], keys_for(OTHER_MDR.dip_id)[0]) as other:
        one = open_session(mdr, [counterparty_sds(hub_pki)], run_id="run-A")
        two = open_session(other, [counterparty_sds(hub_pki)], run_id="run-B")
        (cp1,), (cp2,) = one["counterparties"], two["counterparties"]
        assert cp1["dip_id"] == cp2["dip_id"] == SDS.dip_id and cp1["api_keys"] != cp2["api_keys"]
        with api(hub, hub_pki["SDS"], cp1["api_keys"][0]) as sds1, api(hub, hub_pki["SDS"], cp2["api_keys"][0]) as sds2:
            first = sds1.submit("IF-061", sample(seed=1))
            second = sds2.submit("IF-061", sample(seed=1, parties={**DEFAULT_PARTIES, "MDR": OTHER_MDR}))
            assert first.status == second.status == 201  # same references: each sender has its own
            wrong = sds2.submit("IF-061", sample(seed=3))  # to MDR: a global party, not in session two's scope...
            assert wrong.status == 201  # ...but registered on the hub, so routed (as the DIP would)
            seen_one = wait_records(mdr, one["session"], lambda r: r["kind"] == "delivery")
            seen_two = wait_records(other, two["session"], lambda r: r["kind"] == "delivery")
            # a caller cannot read another's session: the party, nor its counterparty
            assert mdr.call("GET", f"/dipcert/v1/sessions/{two['session']}/records").status_code == 403
            assert sds1.call("GET", f"/dipcert/v1/sessions/{two['session']}/records").status_code == 403
            assert sds2.call("GET", f"/dipcert/v1/sessions/{two['session']}/records").status_code == 200
            assert mdr.call("GET", "/dipcert/v1/sessions/s-0000000000000000/records").status_code == 404
            foreign = next(r for r in seen_two if r.get("endpoint") == "submit")["request_sha256"]
            assert mdr.call("GET", f"/dipcert/v1/sessions/{one['session']}/bodies/{foreign}").status_code == 404
            assert webhooks["MDR"].wait_calls(2) and webhooks["OMDR"].wait_calls(1)
            # session two's counterparty's message to MDR is in MDR's session (recipient) and in session two
            full_one = wait_records(mdr, one["session"], lambda r: r["kind"] == "delivery" and bool(
                set(wrong.transaction_ids) & set(r.get("transaction_ids") or [])))
    tx_one = {t for r in seen_one for t in r.get("transaction_ids") or []} - set(wrong.transaction_ids)
    tx_two = {t for r in seen_two for t in r.get("transaction_ids") or []}
    assert set(first.transaction_ids) <= tx_one and not set(second.transaction_ids) & tx_one
    assert set(second.transaction_ids) <= tx_two and not set(first.transaction_ids) & tx_two
    assert any(set(wrong.transaction_ids) & set(r.get("transaction_ids") or []) for r in full_one)


def test_close_then_signed_export(hub, hub_pki, webhooks):
    with api(hub, hub_pki["MDR"], keys_for(MDR.dip_id)[0]) as mdr:
        opened = open_session(mdr, [counterparty_sds(hub_pki)], run_id="run-export")
        sid = opened["session"]
        with api(hub, hub_pki["SDS"], opened["counterparties"][0]["api_keys"][0]) as sds:
            assert sds.submit("IF-061", sample(seed=5)).status == 201
            wait_records(mdr, sid, lambda r: r["kind"] == "delivery")
            assert mdr.call("GET", f"/dipcert/v1/sessions/{sid}/transcript").status_code == 409  # still open
            closed = mdr.call("POST", f"/dipcert/v1/sessions/{sid}/close")
            assert closed.status_code == 200
            after = sds.submit("IF-061", sample(seed=6))  # after the close: not in the session's transcript
            assert after.status == 201
        lines = mdr.call("GET", f"/dipcert/v1/sessions/{sid}/transcript")
        envelope = mdr.call("GET", f"/dipcert/v1/sessions/{sid}/transcript/envelope").json()
    assert lines.status_code == 200
    verified = verify_envelope(envelope, [hub_pki["dip"].certificate], payload_type=PAYLOAD_TYPE)
    statement = json.loads(verified.payload)
    got = independent_chain_check(lines.content)
    assert statement["transcript_sha256"] == sha256(lines.content)
    assert statement["count"] == len(got) == closed.json()["count"]
    assert statement["head"] == closed.json()["head"]
    assert statement["session"] == sid and statement["run_id"] == "run-export"
    assert statement["party"] == {"dip_id": MDR.dip_id, "role": "MDR", "mpid": MDR.mpid}
    assert got[-1]["kind"] == "event" and got[-1]["event"] == "session.close"
    assert not any(set(after.transaction_ids) & set(r.get("transaction_ids") or []) for r in got)
    with pytest.raises(Exception):
        verify_envelope(envelope, [hub_pki["SDS"].certificate], payload_type=PAYLOAD_TYPE)


def test_counterparty_cannot_open_a_session_and_bad_bodies_are_400(hub, hub_pki):
    with api(hub, hub_pki["MDR"], keys_for(MDR.dip_id)[0]) as mdr:
        opened = open_session(mdr, [counterparty_sds(hub_pki)])
        for bad in (b"[]", b"{", b'{"counterparties": [{"role": 1}]}', b'{"nope": 1}',
                    b'{"counterparties": [{"role": "SDS", "mpid": "X", "certificate_pem": "x"}]}'):
            assert mdr.call("POST", "/dipcert/v1/sessions", bad).status_code == 400
        with api(hub, hub_pki["SDS"], opened["counterparties"][0]["api_keys"][0]) as sds:
            assert sds.call("POST", "/dipcert/v1/sessions", b"{}").status_code == 403
    with api(hub, hub_pki["MDR"], "not-a-key-000000000000") as nobody:
        assert nobody.call("POST", "/dipcert/v1/sessions", b"{}").status_code == 401


def test_a_new_session_supersedes_the_open_one(hub, hub_pki):
    with api(hub, hub_pki["MDR"], keys_for(MDR.dip_id)[0]) as mdr:
        first = open_session(mdr, [])["session"]
        second = open_session(mdr, [])["session"]
        old = records(mdr, first)
        assert old["open"] is False and old["records"][-1]["event"] == "session.close"
        assert "superseded" in old["records"][-1]["data"]["reason"]
        assert records(mdr, second)["open"] is True


def test_public_identity_needs_no_credentials(hub, hub_pki):
    answer = httpx.get(hub.base_url + "/dipcert/v1/dip", timeout=WAIT).json()
    assert answer["fingerprint"] == "sha256:" + hub_pki["dip"].certificate.fingerprint(hashes.SHA256()).hex()
    assert answer["signing_certificate_pem"].startswith("-----BEGIN CERTIFICATE-----") and answer["tls"] is False


def test_the_party_under_test_reaches_its_sessions_counterparty_first(hub_pki, webhooks):
    """MDR sends IF-062 to SDS: the session's SDS gets it, not a registered SDS with the same DIP ID."""
    global_sds = Webhook()
    mdr = registration(hub_pki, MDR)
    sds = registration(hub_pki, SDS, webhooks={"IF-062": WebhookConfig(global_sds.url)})
    try:
        with make_hub(hub_pki, mdr, sds) as hub, api(hub, hub_pki["MDR"], keys_for(MDR.dip_id)[0]) as client:
            answer = client.submit("IF-062", SampleFactory(7).body("IF-062", sender=MDR, recipients=[SDS.dip_id]))
            assert answer.status == 201  # no session yet: to the registered SDS
            assert len(global_sds.wait_calls(1)) == 1
            sid = open_session(client, [counterparty_sds(hub_pki, webhooks["SDS"].url)])["session"]
            answer = client.submit("IF-062", SampleFactory(8).body("IF-062", sender=MDR, recipients=[SDS.dip_id]))
            assert answer.status == 201
            seen = wait_records(client, sid, lambda r: r["kind"] == "delivery")
            assert [r["recipient_scope"] for r in seen if r["kind"] == "delivery"] == [sid]
            assert len(webhooks["SDS"].wait_calls(1)) == 1 and len(global_sds.calls) == 1
    finally:
        global_sds.close()


class LoseFirstAnswer:
    """WSGI middleware: the DIP handles the first `POST .../sessions` in full, then the connection drops
    before its answer goes out (what a participant sees when the DIP restarts at that moment)."""

    def __init__(self, app) -> None:
        self.app, self.lost = app, 0

    def __call__(self, environ, start_response):
        if self.lost == 0 and environ["PATH_INFO"] == "/dipcert/v1/sessions":
            self.lost += 1
            b"".join(self.app(environ, lambda *args: None))  # opened, recorded
            environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            return []
        return self.app(environ, start_response)


@pytest.mark.parametrize("retried", [True, False])
def test_an_open_whose_answer_was_lost_is_sent_again_and_leaves_one_session(hub, hub_pki, retried, monkeypatch):
    dropper = LoseFirstAnswer(hub._server.app)  # noqa: SLF001 - between the server and the DIP's API
    hub._server.app = dropper  # noqa: SLF001
    caller = DipCaller(DipConnection(hub.base_url), api_key=keys_for(MDR.dip_id)[0], identity=hub_pki["MDR"])
    if not retried:  # what the open did before: an unanswered call is not sent again
        original = caller.call
        monkeypatch.setattr(caller, "call", lambda *a, **kw: original(*a, **{**kw, "retry_unanswered": False}))
        with pytest.raises(DipUnavailable, match="POST /dipcert/v1/sessions to the DIP failed"):
            RemoteHub(caller).open("run-lost", [], None)
        caller.close()
        return
    remote = RemoteHub(caller).open("run-lost", [], None)
    try:
        assert dropper.lost == 1
        mine = [s for s in hub.directory.sessions() if s.run_id == "run-lost"]
        assert len(mine) == 2  # the DIP opened one for each request
        [still_open] = [s for s in mine if s.closed is None]
        assert still_open.sid == remote.session
        with api(hub, hub_pki["MDR"], keys_for(MDR.dip_id)[0]) as mdr:
            [lost] = [s.sid for s in mine if s.sid != remote.session]
            old = records(mdr, lost)
            assert old["open"] is False and "superseded" in old["records"][-1]["data"]["reason"]
    finally:
        hub.transcript.release_waiters()  # the record stream's long poll answers now, not at its bound
        remote.stop()


def test_an_open_that_timed_out_is_not_sent_again():
    """A timeout is not a dropped connection: the DIP may still be opening the session."""
    calls, release = [], threading.Event()

    @Request.application
    def slow(request: Request) -> Response:
        calls.append(request.path)
        release.wait(WAIT)
        return Response("{}", status=201, content_type="application/json")

    server = make_server("127.0.0.1", 0, slow, threaded=True)
    with serving(server) as base:
        caller = DipCaller(DipConnection(base, timeout=0.3), api_key="k", identity=None)
        try:
            with pytest.raises(DipUnavailable, match="ReadTimeout"):
                RemoteHub(caller).open("run-slow", [], None)
            assert calls == ["/dipcert/v1/sessions"]
        finally:
            release.set()
            caller.close()
