"""The simulated DIP through real HTTP on 127.0.0.1: auth, every MSG rejection, routing, replay, mTLS."""

from __future__ import annotations

import copy
import json
import logging
import threading
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from harness.dip.config import DeliverySettings, HubConfig, HubTLS, PartyRegistration
from harness.dip.model import HubTimeout
from harness.dip.references import WAIT_BOUND, InFlight
from harness.dip.routing import Job, Router
from harness.dip.server import Hub
from harness.messages.samples import DEFAULT_PARTIES, SampleFactory
from harness.transport.certs import cached_key, make_ca
from harness.transport.client import DipClient
from harness.transport.delivery import Timeouts, WebhookConfig, split_batches, wire_text
from harness.transport.responses import STANDARD_RESPONSE_KEYS, parse_code, response_entry
from harness.transport.signing import verify_request
from harness.transport.tls import client_context

logging.getLogger("werkzeug").setLevel(logging.ERROR)
UTC = timezone.utc
MDR, SDS, SUP = DEFAULT_PARTIES["MDR"], DEFAULT_PARTIES["SDS"], DEFAULT_PARTIES["SUP"]
KEYS = {p.dip_id: (f"primary-key-{p.role}-0123456789abcdef", f"secondary-key-{p.role}-0123456789abcdef")
        for p in (MDR, SDS, SUP)}
WAIT = 5.0


@pytest.fixture(scope="module")
def pki():
    ca = make_ca("hub test CA", key=cached_key("test-ca"))
    return {
        "ca": ca,
        "dip": ca.issue("dip.test", key=cached_key("test-dip")).identity(),
        **{p.role: ca.issue(f"{p.role.lower()}.test", key=cached_key(f"test-{p.role}")).identity()
           for p in (MDR, SDS, SUP)},
        "rogue": ca.issue("rogue.test", key=cached_key("test-rogue")).identity(),
    }


class Webhook:
    """A participant's webhook that answers 201 per message and keeps what it got."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict, bytes, str]] = []
        self.arrived = threading.Condition()
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/dip/in"

    @Request.application
    def _app(self, request: Request) -> Response:
        body = request.get_data()
        messages = json.loads(body)
        with self.arrived:
            self.calls.append((dict(request.headers), body, request.url))
            self.arrived.notify_all()
        entries = [response_entry("RCP0000", transaction_id=m["payload"]["CommonBlock"]["D0"]["transactionID"],
                                  sender_id=MDR.dip_id) for m in messages]
        return Response(json.dumps({"messageArray": entries, "timestamp": entries[0]["sentTimestamp"]}),
                        status=201, content_type="application/json")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


def make_hub(pki, webhook=None, **config) -> Hub:
    settings = DeliverySettings(timeouts=Timeouts(connect=1, read=2, write=1, pool=1, total=5), retries=1,
                                sleep=lambda s: None)
    hub = Hub(HubConfig(identity=pki["dip"], delivery=settings, **config))
    for party in (MDR, SDS, SUP):
        hooks = {"IF-061": WebhookConfig(webhook.url)} if webhook is not None and party is MDR else None
        hub.register_party(PartyRegistration(party.dip_id, party.role, party.mpid, KEYS[party.dip_id],
                                             pki[party.role].certificate, dcp_id=None, webhooks=hooks))
    return hub


@pytest.fixture
def hub(pki, webhook):
    with make_hub(pki, webhook) as running:
        yield running


def client(hub: Hub, pki, party=SDS, *, slot: int = 0, identity=None, **kw) -> DipClient:
    return DipClient(hub.base_url, api_key=KEYS[party.dip_id][slot], identity=identity or pki[party.role],
                     timeout=5, **kw)


def body(count: int = 1, interface: str = "IF-061", event: str | None = None, seed: int = 1) -> list[dict]:
    return SampleFactory(seed, now=datetime.now(UTC), parties=DEFAULT_PARTIES).body(interface, event, count=count)


def s1(item: dict) -> dict:
    return item["payload"]["CommonBlock"]["S1"]


def nothing_routed(hub: Hub) -> None:
    assert hub.received() == [] and hub.inbox(MDR.dip_id) == [] and hub.deliveries() == []


# --- accepted batches -----------------------------------------------------------------------------

def test_valid_batch_accepted_stored_and_delivered_signed(hub, pki, webhook):
    items = body(2)
    with client(hub, pki) as c:
        result = c.submit("IF-061", items)
    assert result.status == 201
    entries = result.body["messageArray"]
    assert len(entries) == 2 and all(set(e) == set(STANDARD_RESPONSE_KEYS) for e in entries)
    assert [e["message"] for e in entries] == ["MSG0000 - Success"] * 2
    assert all(t.startswith("T-IF-061-") for t in result.transaction_ids) and len(set(result.transaction_ids)) == 2
    assert [e["senderUniqueReference"] for e in entries] == [s1(i)["senderUniqueReference"] for i in items]

    received = hub.received("IF-061")
    assert [s.transaction_id for s in received] == result.transaction_ids
    assert received[0].sender == SDS.dip_id and received[0].event == "MDRStart"
    assert "X-API-Key" not in received[0].headers and "x-api-key" not in received[0].headers

    delivery = hub.wait_for_delivery(lambda d: d.recipient == MDR.dip_id, WAIT)
    assert delivery.outcome == "accepted" and delivery.transaction_ids == result.transaction_ids
    headers, raw, url = webhook.calls[0]
    assert verify_request("POST", url, raw, headers, expected_certificate=pki["dip"].certificate) == []
    delivered = json.loads(raw)
    for item, sent, tx in zip(delivered, items, result.transaction_ids):
        common = item["payload"]["CommonBlock"]
        assert common["D0"]["transactionID"] == tx
        assert common["D0"]["publicationID"] == "PUB-061"
        assert common["D0"]["initialCorrelationID"] == s1(sent)["senderCorrelationID"]
        assert common["D0"]["replayIndicator"] is False
        assert set(common["A0"]) == {"primaryRecipients", "secondaryRecipients", "always"}
        assert common["S1"] == s1(sent)
    assert [m.transaction_id for m in hub.inbox(MDR.dip_id)] == result.transaction_ids


def test_routing_leaves_the_accepted_message_as_sent_and_delivers_the_inbox_bytes(hub, pki, webhook):
    """The egress copy shares the blocks it does not change with the accepted item (issue 16): adding D0
    and completing A0 must not reach the submission, and the bytes delivered are those routed."""
    items = body(2)
    with client(hub, pki) as c:
        assert c.submit("IF-061", copy.deepcopy(items)).status == 201
    hub.wait_for_delivery(lambda d: d.recipient == MDR.dip_id, WAIT)
    assert [s.item for s in hub.received("IF-061")] == items  # no D0, A0 as the sender wrote it
    stored = [m.item for m in hub.inbox(MDR.dip_id)]
    assert all(set(m["payload"]["CommonBlock"]) >= {"A0", "D0"} for m in stored)
    [(_, raw, _)] = webhook.calls
    assert raw == b"[" + b",".join(wire_text(m).encode("utf-8") for m in stored) + b"]"


def test_a_job_carries_its_routed_wire_bytes_and_merging_keeps_them_in_step():
    items = body(3)
    config = WebhookConfig("http://127.0.0.1:9/in")
    jobs = [Job(("global", MDR.dip_id), "IF-061", config, [item], wire=[wire_text(item).encode("utf-8")])
            for item in items]
    [merged] = Router.merge(jobs)
    assert merged.items == items and merged.wire == [wire_text(i).encode("utf-8") for i in items]
    assert Router.merge([jobs[0], Job(("global", MDR.dip_id), "IF-061", config, [items[1]])])[0].wire is None
    assert "wire" not in json.loads(merged.to_json())  # not stored: a resumed job makes them again
    # split_batches sends the given bytes verbatim, and makes its own when they do not fit the messages
    spaced = [json.dumps(i).encode("utf-8") for i in items]
    assert split_batches(items, config, wire=spaced) == [(items, b"[" + b",".join(spaced) + b"]")]
    assert split_batches(items, config, wire=spaced[:2]) == split_batches(items, config)


def test_secondary_key_and_case_insensitive_url(hub, pki):
    with client(hub, pki, slot=1) as c:
        result = c._post("/DIP-CHANNEL/if-061", json.dumps(body(1)).encode())
    assert result.status == 201
    assert hub.wait_for(timeout=WAIT).key_slot == "secondary"


def test_recipient_without_webhook_keeps_messages(pki):
    with make_hub(pki) as hub, client(hub, pki) as c:
        assert c.submit("IF-061", body(1)).status == 201
        assert len(hub.inbox(MDR.dip_id)) == 1 and hub.deliveries() == []
        assert hub.inbox(MDR.dip_id)[0].item["payload"]["CommonBlock"]["D0"]["replayIndicator"] is False


# --- authentication -------------------------------------------------------------------------------

def test_missing_or_wrong_api_key_is_401(hub, pki):
    raw = json.dumps(body(1)).encode()
    r = httpx.post(hub.base_url + "/dip-channel/IF-061", content=raw, timeout=5,
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 401
    with DipClient(hub.base_url, api_key="not-a-registered-key-000000", identity=pki["SDS"], timeout=5) as c:
        assert c.submit("IF-061", body(1)).status == 401
    nothing_routed(hub)
    assert [x.status for x in hub.rejections()] == [401, 401]
    assert "not-a-registered-key" not in repr(hub.rejections())


def test_bad_signature_is_401_with_findings(hub, pki):
    def tamper(headers):
        return {**headers, "X-DIP-Content-Hash": "AAAA" + headers["X-DIP-Content-Hash"][4:]}

    with client(hub, pki, header_hook=tamper) as c:
        assert c.submit("IF-061", body(1)).status == 401
    with client(hub, pki, identity=pki["rogue"]) as c:  # valid signature, not the registered certificate
        assert c.submit("IF-061", body(1)).status == 401
    rules = [{f.rule for f in r.findings} for r in hub.rejections()]
    assert "signature.hash" in rules[0] and "signature.unexpected-certificate" in rules[1]
    nothing_routed(hub)


def test_signature_not_required_records_findings_but_accepts(pki):
    def tamper(headers):
        return {k: v for k, v in headers.items() if k != "X-DIP-Signature"}

    with make_hub(pki, require_signature=False) as hub, client(hub, pki, header_hook=tamper) as c:
        assert c.submit("IF-061", body(1)).status == 201


def test_business_checks_kept_as_findings_or_rejected_when_asked(pki):
    from harness.messages.ids import break_check_digit

    item = body(1)[0]
    m0 = item["payload"]["CommonBlock"]["M0"]
    m0["MPANCore"] = break_check_digit(m0["MPANCore"])
    with make_hub(pki) as hub, client(hub, pki) as c:
        assert c.submit("IF-061", [item]).status == 201
        assert "mpan.check-digit" in {f.rule for f in hub.received()[0].findings}
    with make_hub(pki, reject_on_checks=True) as hub, client(hub, pki) as c:
        result = c.submit("IF-061", [item])
        assert result.status == 400 and result.messages == ["MSG1001"]


def test_party_registration_errors(pki):
    from harness.core.errors import ConfigError

    hub = Hub(HubConfig(identity=pki["dip"]))
    good = PartyRegistration(MDR.dip_id, "MDR", "MDRA", KEYS[MDR.dip_id], None)
    hub.register_party(good)
    for bad in (PartyRegistration("123", "MDR", "MDRA", ("a" * 20, "b" * 20), None),
                PartyRegistration(SDS.dip_id, "sds", "SDSB", ("a" * 20, "b" * 20), None),
                PartyRegistration(SDS.dip_id, "SDS", "SDSB", (KEYS[MDR.dip_id][0], "b" * 20), None),
                PartyRegistration(SDS.dip_id, "SDS", "SDSB", ("a" * 20,), None)):  # type: ignore[arg-type]
        with pytest.raises(ConfigError):
            hub.register_party(bad)
    assert KEYS[MDR.dip_id][0] not in repr(good)


def test_api_key_helpers(tmp_path, monkeypatch):
    from harness.core.errors import ConfigError
    from harness.transport.apikeys import ApiKeyRegistry, generate_api_key, key_fingerprint, read_api_key

    key = generate_api_key()
    registry = ApiKeyRegistry()
    registry.register("1650000101", (key, generate_api_key()))
    assert registry.lookup(key).slot == "primary" and registry.lookup(key + "x") is None
    assert registry.lookup(None) is None and key not in key_fingerprint(key)
    monkeypatch.setenv("DIPCERT_TEST_KEY", key)
    (tmp_path / "key").write_text(key + "\n")
    (tmp_path / "short").write_text("abc")
    assert read_api_key(env="DIPCERT_TEST_KEY") == key == read_api_key(file=tmp_path / "key")
    for kw in ({"env": "DIPCERT_TEST_UNSET"}, {"file": tmp_path / "missing"}, {"file": tmp_path / "short"}, {}):
        with pytest.raises(ConfigError):
            read_api_key(**kw)


# --- every MSG rejection --------------------------------------------------------------------------

def _del(path):
    def apply(item):
        *parents, last = path
        target = item["payload"]["CommonBlock"]
        for key in parents:
            target = target[key]
        del target[last]
    return apply


def _set(block, key, value):
    def apply(item):
        item["payload"]["CommonBlock"][block][key] = value(item) if callable(value) else value
    return apply


FUTURE = lambda item: (datetime.now(UTC) + timedelta(hours=1)).astimezone().replace(microsecond=0).isoformat()  # noqa: E731

CASES = [
    ("MSG1001", _del(("S1", "environmentTag"))),
    ("MSG1002", _set("S0", "interfaceID", "IF-063")),
    ("MSG1007", _set("S1", "senderTimestamp", FUTURE)),
    ("MSG1007", _set("S1", "senderTimestamp", "2025-13-45T99:99:99+00:00")),
    ("MSG1009", _set("S1", "senderDIPID", SUP.dip_id)),
    ("MSG1010", _set("S1", "senderRoleID", "SUP")),
    ("MSG1011", _set("S1", "DIPConnectionProviderID", "9999999999")),
    ("MSG1030", _set("A0", "primaryRecipients", [])),
    ("MSG1031", _set("A0", "primaryRecipients", ["9999999999"])),
    ("MSG1032", _set("A0", "primaryRecipients", [SUP.dip_id])),
]


@pytest.mark.parametrize("code,mutate", CASES, ids=[f"{c}-{i}" for i, (c, _) in enumerate(CASES)])
def test_each_msg_rejection(hub, pki, code, mutate):
    good, bad = body(2)
    mutate(bad)
    with client(hub, pki) as c:
        result = c.submit("IF-061", [good, bad])
        assert result.status == 400
        entries = result.body["messageArray"]
        assert [parse_code(e["message"]) for e in entries] == [code]
        assert entries[0]["transactionID"] is None and set(entries[0]) == set(STANDARD_RESPONSE_KEYS)
        assert entries[0]["help"]
        nothing_routed(hub)
        assert hub.rejections()[-1].codes == [code]
        # the rejected batch consumed no reference: the good message alone is accepted now
        assert c.submit("IF-061", [good]).status == 201


def test_unknown_url_interface_and_unreadable_body(hub, pki):
    with client(hub, pki) as c:
        unknown = c.submit("IF-999", body(1))
        garbage = c.submit_bytes("IF-061", b"{not json")
        empty = c.submit_bytes("IF-061", b"[]")
    assert unknown.status == 400 and unknown.messages == ["MSG1002"]
    assert garbage.status == 400 and garbage.messages == ["MSG1001"]
    assert empty.status == 400 and empty.messages == ["MSG1001"]
    nothing_routed(hub)


def test_sender_role_not_a_sender_of_the_event(hub, pki):
    item = SampleFactory(3, now=datetime.now(UTC)).message("IF-061", sender=MDR, recipients=[SDS.dip_id])
    with client(hub, pki, party=MDR) as c:
        result = c.submit("IF-061", [item])
    assert result.status == 400 and result.messages == ["MSG1010"]


def test_duplicate_reference_across_batches_and_within_a_batch(hub, pki):
    first = body(1, seed=5)
    with client(hub, pki) as c:
        assert c.submit("IF-061", first).status == 201
        again = c.submit("IF-061", first)
        twin = body(1, seed=6)[0]
        within = c.submit("IF-061", [twin, copy.deepcopy(twin)])
    assert again.status == 400 and again.messages == ["MSG1006"]
    assert within.status == 400 and within.messages == ["MSG1006"]
    assert len(hub.received()) == 1


def test_references_are_claimed_with_the_record_so_a_batch_the_hub_did_not_record_can_be_sent_again(pki, caplog):
    """A batch whose transcript record was never written (the hub failed or stopped in between) has
    claimed none of its senderUniqueReferences: the sender's retry is accepted, not refused MSG1006."""
    caplog.set_level(logging.CRITICAL, logger="werkzeug")  # the failure below is logged with a traceback
    with make_hub(pki) as hub, client(hub, pki) as c:
        append = hub.transcript.append
        failed: list[str] = []

        def fail_once(chains, record, *args, **kwargs):
            if record.get("endpoint") == "submit" and not failed:
                failed.append(record["endpoint"])
                raise OSError("disk full")
            return append(chains, record, *args, **kwargs)

        hub.transcript.append = fail_once  # type: ignore[method-assign]
        items = body(2, seed=7)
        assert c.submit("IF-061", items).status == 500 and failed
        assert hub.received() == []
        again = c.submit("IF-061", items)
        assert again.status == 201, again.messages
        assert c.submit("IF-061", items).messages == ["MSG1006", "MSG1006"]  # claimed now, with the record


class _Watched(InFlight):
    """The hub's references in flight, telling (`progressed`) when a batch has to wait for another."""

    def __init__(self, progressed: threading.Event) -> None:
        super().__init__()
        self.progressed = progressed

    def reserve(self, references, bound=WAIT_BOUND):
        references = list(references)
        free = super().reserve(references, 0.0)  # at once, when no other batch holds one of them
        if free is not None:
            return free
        self.progressed.set()
        return super().reserve(references, bound)


def _paused_routing(hub: Hub) -> tuple[threading.Event, threading.Event]:
    """The first batch routed waits (bounded) for `gate`, having set `entered`."""
    route, entered, gate = hub.router.route, threading.Event(), threading.Event()

    def paused(*args, **kwargs):
        if not entered.is_set():
            entered.set()
            assert gate.wait(WAIT)
        return route(*args, **kwargs)

    hub.router.route = paused  # type: ignore[method-assign]
    return entered, gate


def _send(hub: Hub, pki, items: list[dict], results: dict, name: str, done: threading.Event | None = None) -> None:
    with client(hub, pki) as c:
        results[name] = c.submit("IF-061", copy.deepcopy(items))
    if done is not None:
        done.set()


def test_a_batch_checks_its_references_only_after_another_batch_with_them_is_recorded(pki):
    """Two batches with the same reference at once: the second waits for the first one's record, then
    is refused MSG1006 (it must not pass the check while the first is still being routed)."""
    progressed = threading.Event()  # the second batch is answered, or waits for the first one's record
    with make_hub(pki) as hub:
        hub.references = _Watched(progressed)  # type: ignore[assignment]
        entered, gate = _paused_routing(hub)
        items, results = body(1, seed=8), {}
        first = threading.Thread(target=_send, args=(hub, pki, items, results, "first"))
        first.start()
        assert entered.wait(WAIT)
        second = threading.Thread(target=_send, args=(hub, pki, items, results, "second", progressed))
        second.start()
        assert progressed.wait(WAIT)  # then the first batch, paused in routing, goes on
        gate.set()
        first.join(WAIT)
        second.join(WAIT)
    assert results["first"].status == 201
    assert (results["second"].status, results["second"].messages) == (400, ["MSG1006"])


def test_a_batch_with_other_references_is_not_held_up_by_one_being_routed(pki):
    """Only the same reference waits: one lock over every submission would queue them all behind the
    slowest (seconds on a busy machine, past a participant's timeout)."""
    with make_hub(pki) as hub:
        entered, gate = _paused_routing(hub)
        results: dict = {}
        first = threading.Thread(target=_send, args=(hub, pki, body(1, seed=9), results, "first"))
        first.start()
        try:
            assert entered.wait(WAIT)
            done = threading.Event()
            threading.Thread(target=_send, args=(hub, pki, body(1, seed=10), results, "other", done)).start()
            assert done.wait(WAIT), "a batch with another reference waited for the one being routed"
        finally:
            gate.set()
            first.join(WAIT)
    assert results["other"].status == 201 and results["first"].status == 201


# --- pubconfig, replay, requeue -------------------------------------------------------------------

def test_pubconfig_register_and_delete(pki, webhook):
    with make_hub(pki) as hub:
        with client(hub, pki, party=MDR) as mdr, client(hub, pki) as sds:
            assert sds.register_webhook("IF-061", MDR.dip_id, webhook.url).status == 403  # SDS key, MDR's channel
            assert mdr._post(f"/dip-channel/IF-061/pubconfig/{MDR.dip_id}", b'{"callbackURL": "ftp://x"}').status == 400
            assert mdr.register_webhook("if-061", MDR.dip_id, webhook.url, max_message_count=5).status == 201
            assert hub.webhook(MDR.dip_id, "IF-061") == WebhookConfig(webhook.url, 5, 1024.0)
            assert sds.submit("IF-061", body(1)).status == 201
            assert hub.wait_for_delivery(timeout=WAIT).outcome == "accepted"
            url = f"{hub.base_url}/dip-channel/IF-061/pubconfig/{MDR.dip_id}"
            headers = {"X-API-Key": KEYS[MDR.dip_id][0]}
            from harness.transport.signing import sign_request
            headers.update(sign_request("DELETE", url, b"", pki["MDR"]))
            assert httpx.delete(url, headers=headers, timeout=5).status_code == 204
            assert hub.webhook(MDR.dip_id, "IF-061") is None
            assert sds.submit("IF-061", body(1, seed=9)).status == 201
        assert len(hub.inbox(MDR.dip_id)) == 2 and len(hub.deliveries()) == 1


def _request(**kw) -> bytes:
    data = {"datetimeFrom": None, "datetimeTo": None, "eventCode": None, "MPAN": None, "version": None, **kw}
    return json.dumps(data).encode()


def test_replay_returns_stored_messages_with_replay_indicator(hub, pki):
    items = body(2)
    with client(hub, pki) as sds, client(hub, pki, party=MDR) as mdr:
        tx = sds.submit("IF-061", items).transaction_ids
        path = f"/dip-channel/IF-061/replay/{MDR.dip_id}"
        everything = mdr._post(path, _request(eventCode="MDRStart", version="011"))
        one = mdr._post(path, _request(transactionIDs=[tx[1]]))
        by_mpan = mdr._post(path, _request(MPAN=items[0]["payload"]["CommonBlock"]["M0"]["MPANCore"]))
        none = mdr._post(path, _request(eventCode="[MDRStop]"))
        bad = mdr._post(path, b'{"datetimeFrom": "yesterday"}')
        forbidden = sds._post(path, _request())
    assert everything.status == 200 and len(everything.body) == 2
    assert all(i["payload"]["CommonBlock"]["D0"]["replayIndicator"] is True for i in everything.body)
    assert [i["payload"]["CommonBlock"]["D0"]["transactionID"] for i in one.body] == [tx[1]]
    assert len(by_mpan.body) >= 1 and none.body == []
    assert bad.status == 400 and bad.messages == ["MSG1001"]
    assert forbidden.status == 403
    # the store itself is unchanged: replay copies
    assert all(m.item["payload"]["CommonBlock"]["D0"]["replayIndicator"] is False for m in hub.inbox(MDR.dip_id))


def test_requeue_redelivers_with_replay_indicator(hub, pki, webhook):
    with client(hub, pki) as sds, client(hub, pki, party=MDR) as mdr:
        tx = sds.submit("IF-061", body(1)).transaction_ids
        hub.wait_for_delivery(lambda d: not d.replay, WAIT)
        result = mdr._post(f"/dip-channel/IF-061/requeue/{MDR.dip_id}", _request(transactionIDs=tx))
    assert result.status == 200
    delivery = hub.wait_for_delivery(lambda d: d.replay, WAIT)
    assert delivery.outcome == "accepted" and delivery.transaction_ids == tx
    replayed = json.loads(webhook.calls[-1][1])
    assert replayed[0]["payload"]["CommonBlock"]["D0"]["replayIndicator"] is True
    assert replayed[0]["payload"]["CommonBlock"]["D0"]["transactionID"] == tx[0]


def test_requeue_without_webhook_is_400(pki):
    with make_hub(pki) as hub, client(hub, pki, party=MDR) as mdr:
        assert mdr._post(f"/dip-channel/IF-061/requeue/{MDR.dip_id}", _request()).status == 400


# --- statusmessage, validate ----------------------------------------------------------------------

def test_statusmessage_recorded(hub, pki):
    entries = [response_entry("RCP1061", transaction_id="T-IF-061-1450000102-SDS-20250101-ab", sender_id=MDR.dip_id,
                              recipient_id=SDS.dip_id)]
    with client(hub, pki, party=MDR) as mdr:
        ok = mdr.send_status(entries)
        broken = mdr._post("/statusmessage", json.dumps([{"message": "nope"}]).encode())
    assert ok.status == 201 and ok.messages == ["MSG0000"]
    status = hub.wait_for_status(timeout=WAIT)
    assert status.sender == MDR.dip_id and status.codes == ["RCP1061"]
    assert broken.status == 400 and broken.messages == ["MSG1001"]
    assert len(hub.status_messages()) == 1


def test_validate_endpoint(hub, pki):
    good = body(1)
    bad = copy.deepcopy(good)
    del bad[0]["payload"]["CommonBlock"]["M0"]["MPANCore"]
    url = hub.base_url + "/validate/IF-061/MDRStart"
    key = {"X-API-Key": KEYS[SDS.dip_id][0], "Content-Type": "application/json"}
    ok = httpx.post(url, content=json.dumps(good), headers=key, timeout=5)
    invalid = httpx.post(url, content=json.dumps(bad), headers=key, timeout=5)
    wrong_event = httpx.post(hub.base_url + "/validate/IF-065/MDRTOU", content=json.dumps(good), headers=key, timeout=5)
    unknown_event = httpx.post(hub.base_url + "/validate/IF-061/Nope", content=json.dumps(good), headers=key, timeout=5)
    no_key = httpx.post(url, content=json.dumps(good), timeout=5)
    assert (ok.status_code, ok.json()) == (201, "Message OK")
    assert invalid.status_code == 400 and "MPANCore" in invalid.json()
    assert wrong_event.status_code == 400
    assert unknown_event.status_code == 400 and no_key.status_code == 401
    nothing_routed(hub)


def test_unknown_path_and_method(hub):
    assert httpx.get(hub.base_url + "/dip-channel/IF-061", timeout=5).status_code == 405
    assert httpx.post(hub.base_url + "/nowhere", timeout=5).status_code == 404


def test_wait_for_is_bounded(hub):
    with pytest.raises(HubTimeout):
        hub.wait_for(lambda s: False, timeout=0.1)


# --- evidence -------------------------------------------------------------------------------------

def test_recorded_without_api_keys(pki, webhook, tmp_path):
    from harness.evidence.recorder import Recorder

    recorder = Recorder(tmp_path / "run", secrets=[k for pair in KEYS.values() for k in pair])
    hub = make_hub(pki, webhook)
    hub.recorder = recorder
    with hub, client(hub, pki) as c:
        assert c.submit("IF-061", body(1)).status == 201
        hub.wait_for_delivery(timeout=WAIT)
        with DipClient(hub.base_url, api_key=KEYS[SDS.dip_id][0][::-1], identity=pki["SDS"], timeout=5) as bad:
            assert bad.submit("IF-061", body(1)).status == 401
    recorder.close()
    lines = [json.loads(line) for line in (tmp_path / "run" / "evidence.jsonl").read_text().splitlines()]
    channels = [r.get("channel") for r in lines if r["kind"] == "http"]
    assert channels.count("hub-inbound") == 2 and "hub-outbound" in channels
    assert hub.received()[0].seq is not None
    blob = b"".join(p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file())
    for pair in KEYS.values():
        for key in pair:
            assert key.encode() not in blob and key[::-1].encode() not in blob


# --- mTLS -----------------------------------------------------------------------------------------

def test_mtls_requires_a_client_certificate_from_the_ca(pki, tmp_path):
    ca, other = pki["ca"], make_ca("other CA", key=cached_key("test-other-ca"))
    server_cert, server_key = ca.issue("hub.local", key=cached_key("test-hub-tls")).write(tmp_path, "hub")
    ca_path = ca.write(tmp_path, "ca")
    good_cert, good_key = ca.issue("sds.client", key=cached_key("test-SDS")).write(tmp_path, "good")
    bad_cert, bad_key = other.issue("sds.client", key=cached_key("test-SDS")).write(tmp_path, "bad")
    with make_hub(pki, tls=HubTLS(server_cert, server_key, client_ca=ca_path)) as hub:
        assert hub.base_url.startswith("https://127.0.0.1:")
        with client(hub, pki, verify=client_context(ca=ca_path, cert=good_cert, key=good_key)) as c:
            assert c.submit("IF-061", body(1)).status == 201
        for context in (client_context(ca=ca_path), client_context(ca=ca_path, cert=bad_cert, key=bad_key)):
            with client(hub, pki, verify=context) as c, pytest.raises(httpx.HTTPError):
                c.submit("IF-061", body(1, seed=11))
        assert len(hub.received()) == 1
