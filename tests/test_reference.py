"""The reference MDR and SDS, their fault switches, and the participant-side DIP client.

Real HTTP on 127.0.0.1 throughout. Most tests put one participant in front of a recording DIP
(it accepts every submission and keeps it), so each behaviour and each fault switch is seen
directly; the end-to-end tests at the bottom run both references through the real Hub.
Waits are bounded waits on the participant's condition variable, never sleeps.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone

import httpx
import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from harness.core.catalogue import load_catalogue
from harness.core.errors import UsageError
from harness.messages.checks import check_periods_count
from harness.messages.ids import LONDON, break_check_digit, dip_timestamp, is_valid_mpan, make_mpan
from harness.messages.samples import DEFAULT_PARTIES, SampleFactory
from harness.messages.validate import validate_body
from harness.reference.faults import load_faults, parse_fault, parse_faults
from harness.reference.participant import ReferenceParticipant
from harness.transport.certs import cached_key, make_ca
from harness.transport.client import DipClient
from harness.transport.responses import STANDARD_RESPONSE_KEYS, response_entry, standard_response
from harness.transport.signing import sign_request, verify_request

logging.getLogger("werkzeug").setLevel(logging.ERROR)

MDR, SDS = DEFAULT_PARTIES["MDR"], DEFAULT_PARTIES["SDS"]
WAIT = 10.0  # bound for every wait; a passing test never comes near it
API_KEYS = {"MDR": ("reference-mdr-primary-key-01", "reference-mdr-secondary-key-02"),
            "SDS": ("reference-sds-primary-key-01", "reference-sds-secondary-key-02")}
KEYS = API_KEYS["MDR"]


# --- fixtures -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pki():
    ca = make_ca("dipcert test CA", key=cached_key("ref-ca"))
    return {
        "ca": ca,
        "dip": ca.issue("simulated DIP", key=cached_key("ref-dip")).identity(),
        "MDR": ca.issue("reference MDR", key=cached_key("ref-mdr")).identity(),
        "SDS": ca.issue("reference SDS", key=cached_key("ref-sds")).identity(),
        "other": ca.issue("somebody else", key=cached_key("ref-other")).identity(),
    }


class RecordingDip:
    """A DIP that accepts every POST (201, one MSG0000 entry per message) and keeps what it got."""

    def __init__(self, identities: dict) -> None:
        self.identities = identities
        self.posts: list[dict] = []
        self._cond = threading.Condition()
        self._count = 0
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    @Request.application
    def _app(self, request: Request) -> Response:
        body = request.get_data()
        url = self.url + request.path
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        signer = next((name for name, ident in self.identities.items()
                       if not verify_request("POST", url, body, request.headers,
                                             expected_certificate=ident.certificate)), None)
        with self._cond:
            self._count += 1
            record = {"path": request.path,
                      "interface": request.path.split("/")[2] if request.path.count("/") >= 2 else "",
                      "headers": dict(request.headers), "body": body, "data": data, "signer": signer}
            self.posts.append(record)
            self._cond.notify_all()
        items = data if isinstance(data, list) else [None]
        entries = [response_entry("MSG0000", transaction_id=f"T-{self._count}-{i}", sender_id="0000000000")
                   for i, _ in enumerate(items)]
        return Response(json.dumps(standard_response(entries)), status=201, mimetype="application/json")

    def submissions(self, interface_id: str | None = None) -> list[dict]:
        """Messages POSTed to /dip-channel/{IF} (one dict per wire item, with its interface)."""
        with self._cond:
            out = []
            for post in self.posts:
                if post["path"].startswith("/dip-channel/") and "pubconfig" not in post["path"] \
                        and isinstance(post["data"], list):
                    for item in post["data"]:
                        iid = post["path"].split("/")[2].upper()
                        if interface_id is None or iid == interface_id:
                            out.append({"interface": iid, "item": item, "post": post})
            return out

    def wait(self, predicate: Callable[["RecordingDip"], object], timeout: float = WAIT):
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (result := predicate(self)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("recording DIP: condition not met")
                self._cond.wait(remaining)
            return result

    def __enter__(self) -> "RecordingDip":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def dip(pki) -> Iterator[RecordingDip]:
    with RecordingDip({"MDR": pki["MDR"], "SDS": pki["SDS"]}) as server:
        yield server


@pytest.fixture
def make_ref(pki, dip):
    started: list[ReferenceParticipant] = []

    def make(role: str = "MDR", faults=(), **kw) -> ReferenceParticipant:
        party, partner = (MDR, SDS) if role == "MDR" else (SDS, MDR)
        # These tests follow an MDR that sends consumption right after accepting a start (its
        # spontaneous mode); test_mdr_sends_consumption_only_when_asked covers the default.
        kw.setdefault("spontaneous_consumption", True)
        ref = ReferenceParticipant(role, party=party, partner=partner, hub_url=kw.pop("hub_url", dip.url),
                                   api_keys=API_KEYS[role], identity=pki[role], dip_certificate=pki["dip"].certificate,
                                   faults=faults, register_webhooks=kw.pop("register_webhooks", False), **kw)
        ref.start()
        started.append(ref)
        return ref

    yield make
    for ref in started:
        ref.stop()


# --- helpers --------------------------------------------------------------------------------

_factory_seed = iter(range(1000, 100000))


def request_item(interface_id: str, event: str | None = None, *, mpan: str | None = None,
                 custom: dict | None = None, replay: bool = False, transaction_id: str | None = None,
                 correlation: str | None = "CI-20250101-reference000000001") -> dict:
    """A message as the DIP delivers it to the MDR (egress form, D0 added), sent by the SDS."""
    factory = SampleFactory(next(_factory_seed), now=datetime.now(timezone.utc))
    sender = SDS if interface_id in ("IF-061", "IF-063", "IF-065") and event != "ReadingRemote" else MDR
    recipient = MDR if sender is SDS else SDS
    if interface_id in ("IF-006", "IF-008", "IF-024", "IF-026"):  # notifications: from REGS or SUP (sender.role)
        sender, recipient = DEFAULT_PARTIES[load_catalogue().event(interface_id, event).sender], MDR
    item = factory.message(interface_id, event, sender=sender, recipients=[recipient.dip_id], mpan=mpan,
                           correlation_id=correlation, custom=custom)
    if interface_id == "IF-061":
        start = date.today() - timedelta(days=2)
        item["payload"]["CustomBlock"]["B019"].update(
            assignedMDRDIPID=MDR.dip_id, assignedMDRMPID=MDR.mpid,
            assignedMDREffectiveFromDate=dip_timestamp(datetime(start.year, start.month, start.day, tzinfo=LONDON)))
        item["payload"]["CustomBlock"]["B078"] = {"energyDirection": "I"}
        if custom:
            for key, value in custom.items():
                item["payload"]["CustomBlock"][key] = value
    return factory.egress(item, transaction_id=transaction_id, replay=replay)


def deliver(pki, ref: ReferenceParticipant, interface_id: str, items: list[dict], *, signer: str = "dip",
            tamper: bool = False, body: bytes | None = None, timeout: float = 5.0, verify=True) -> httpx.Response:
    url = ref.webhook_url(interface_id)
    body = body if body is not None else json.dumps(items).encode("utf-8")
    headers = sign_request("POST", url, body, pki[signer])
    if tamper:
        body = body.replace(b'"payload"', b'"payload" ', 1)  # same JSON, different bytes: hash breaks
    return httpx.post(url, content=body, headers={**headers, "Content-Type": "application/json"}, timeout=timeout,
                      verify=verify)


def tx(item: dict) -> str:
    return item["payload"]["CommonBlock"]["D0"]["transactionID"]


def codes(response: httpx.Response) -> list[str]:
    return [e["message"].split(" ")[0] for e in response.json()["messageArray"]]


def handled(ref: ReferenceParticipant, item: dict) -> None:
    ref.wait_for(lambda s: tx(item) in s.handled, WAIT)


def sent(dip: RecordingDip, interface_id: str) -> list[dict]:
    return [s["item"] for s in dip.submissions(interface_id)]


def start_mdr(pki, ref, dip, **kw) -> dict:
    item = request_item("IF-061", **kw)
    response = deliver(pki, ref, "IF-061", [item])
    assert response.status_code == 201, response.text
    handled(ref, item)
    return item


# --- fault list -----------------------------------------------------------------------------

REQUIRED_FAULTS = {
    "webhook-500": "consume.status", "webhook-slow": "consume.timeout",
    "ignore-signature": "consume.bad-signature-accepted", "bad-signature": "signature.invalid",
    "wrong-api-key": "hub.api-key", "drop-field": "schema.required", "wrong-role": "hub.sender-role",
    "duplicate-reference": "hub.duplicate-sur", "wrong-recipient": "hub.recipient-unknown",
    "bad-mpan-check-digit": "mpan.check-digit", "47-periods": "periods.count", "periods-not-utc": "periods.utc",
    "consumption-after-stop": "exchange.after-stop", "wrong-measurement-quantity": "exchange.measurement-quantity",
    "no-correlation": "exchange.correlation", "never-answers": "exchange.timeout",
    "accept-bad-mpan": "consume.recipient-rejection", "reject-replay": "consume.replay",
    "accept-anything-start": "exchange.reject",
}


def test_fault_list_names_every_switch_and_the_rule_it_breaks():
    defs = {d.name: d for d in load_faults()}
    assert {name: defs[name].breaks for name in REQUIRED_FAULTS} == REQUIRED_FAULTS
    assert all(d.description and d.requirement and d.role in ("MDR", "SDS", "both") for d in defs.values())


def test_parametrised_fault_is_parsed_and_fills_its_requirement():
    fault = parse_fault("webhook-500:if-024", "MDR")
    assert (fault.name, fault.args, fault.spec) == ("webhook-500", ("IF-024",), "webhook-500:IF-024")
    assert fault.requirement == "MDR-*/IF-024/consume*"
    assert fault.matches_requirement("MDR-5.2a/IF-024/consume")
    assert not fault.matches_requirement("MDR-5.2a/IF-006/consume")
    drop = parse_fault("drop-field:IF-062:R0", "MDR")
    assert (drop.arg("interface"), drop.arg("block")) == ("IF-062", "R0")
    assert "R0" in drop.description


@pytest.mark.parametrize("spec, message", [
    ("no-such-fault", "unknown fault 'no-such-fault' (expected one of: webhook-500:INTERFACE"),
    ("webhook-500", "takes 1 argument(s): write it as webhook-500:INTERFACE"),
    ("webhook-500:IF-999", "unknown interface 'IF-999'"),
    ("47-periods", "applies to the reference MDR, not SDS"),
])
def test_bad_fault_names_are_one_line_usage_errors(spec, message):
    with pytest.raises(UsageError, match=None) as info:
        parse_faults([spec], "SDS")
    assert message in str(info.value) and "\n" not in str(info.value)


# --- the DIP client -------------------------------------------------------------------------

def test_client_signs_the_exact_bytes_it_sends_and_sends_the_api_key(pki, dip):
    item = SampleFactory(3).message("IF-062", sender=MDR, recipients=[SDS.dip_id])
    with DipClient(dip.url, api_key=KEYS[0], identity=pki["MDR"], timeout=5) as client:
        result = client.submit("IF-062", [item])
    post = dip.posts[-1]
    assert post["path"] == "/dip-channel/IF-062" and post["signer"] == "MDR"
    assert post["body"] == result.request and json.loads(result.request) == [item]
    assert post["headers"]["X-Api-Key"] == KEYS[0]
    assert "X-API-Key" not in result.headers  # the secret is not kept with the result
    assert (result.status, result.messages, result.ok) == (201, ["MSG0000"], True)
    assert result.transaction_ids == [f"T-{len(dip.posts)}-0"]


def test_client_registers_webhooks_and_sends_status(pki, dip):
    with DipClient(dip.url, api_key=KEYS[0], identity=pki["SDS"], timeout=5) as client:
        client.register_webhook("IF-062", SDS.dip_id, "http://127.0.0.1:1/webhook/if-062")
        entry = response_entry("RCP0000", sender_id=SDS.dip_id)
        client.send_status([entry])
    register, status = dip.posts[-2:]
    assert register["path"] == f"/dip-channel/IF-062/pubconfig/{SDS.dip_id}"
    assert register["data"] == {"callbackURL": "http://127.0.0.1:1/webhook/if-062", "maxMessageCount": 100,
                                "maxPayloadSize": 1024}
    assert status["path"] == "/statusmessage" and status["data"] == [entry]
    assert register["signer"] == status["signer"] == "SDS"


def test_client_times_out_instead_of_hanging(pki):
    release = threading.Event()

    @Request.application
    def slow(request: Request) -> Response:
        release.wait(5)
        return Response("{}", status=201)

    server = make_server("127.0.0.1", 0, slow, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with DipClient(f"http://127.0.0.1:{server.server_port}", api_key=KEYS[0], identity=pki["MDR"],
                       timeout=0.3) as client, pytest.raises(httpx.TimeoutException):
            client.submit("IF-062", [{}])
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


# --- MDR as recipient: webhook answers ------------------------------------------------------

def test_mdr_accepts_a_valid_start_with_a_complete_standard_response(pki, dip, make_ref):
    ref = make_ref("MDR")
    item = request_item("IF-061")
    response = deliver(pki, ref, "IF-061", [item])
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"messageArray", "timestamp"}
    [entry] = body["messageArray"]
    assert set(entry) == set(STANDARD_RESPONSE_KEYS)
    assert entry["message"].startswith("RCP0000")
    assert (entry["transactionID"], entry["senderID"], entry["recipientID"]) == (tx(item), MDR.dip_id, SDS.dip_id)
    assert entry["senderUniqueReference"] == item["payload"]["CommonBlock"]["S1"]["senderUniqueReference"]


def test_mdr_rejects_a_tampered_delivery_with_rcp9999(pki, make_ref):
    ref = make_ref("MDR")
    item = request_item("IF-061")
    response = deliver(pki, ref, "IF-061", [item], tamper=True)
    assert response.status_code == 401 and codes(response) == ["RCP9999"]
    assert response.json()["messageArray"][0]["message"] == "RCP9999 - Message Signature Invalid"
    # Signed by someone other than the DIP: also refused.
    assert deliver(pki, ref, "IF-061", [item], signer="other").status_code == 401
    assert not ref.state.received


def test_ignore_signature_fault_accepts_a_tampered_delivery(pki, make_ref):
    ref = make_ref("MDR", faults=["ignore-signature"])
    response = deliver(pki, ref, "IF-061", [request_item("IF-061")], tamper=True)
    assert response.status_code == 201 and codes(response) == ["RCP0000"]
    assert ref.state.replies[-1].signature_findings  # it saw the problem and let it through


def test_bad_mpan_is_rejected_with_rcp1061_unless_accept_bad_mpan(pki, make_ref):
    good = make_mpan(__import__("random").Random(5))
    item = request_item("IF-061", mpan=good)
    item["payload"]["CommonBlock"]["M0"]["MPANCore"] = break_check_digit(good)
    response = deliver(pki, make_ref("MDR"), "IF-061", [item])
    assert response.status_code == 400 and codes(response) == ["RCP1061"]
    lenient = make_ref("MDR", faults=["accept-bad-mpan"])
    response = deliver(pki, lenient, "IF-061", [item])
    assert response.status_code == 201 and codes(response) == ["RCP0000"]


def test_mixed_batch_gets_207_and_a_code_per_message(pki, make_ref):
    ref = make_ref("MDR")
    good, bad = request_item("IF-061"), request_item("IF-061")
    del bad["payload"]["CustomBlock"]["B019"]
    future = request_item("IF-061")
    future["payload"]["CommonBlock"]["S1"]["senderTimestamp"] = dip_timestamp(
        datetime.now(timezone.utc) + timedelta(hours=2))
    response = deliver(pki, ref, "IF-061", [good, bad, future])
    assert response.status_code == 207 and codes(response) == ["RCP0000", "RCP1001", "RCP1008"]


def test_wrong_interface_and_unknown_event_codes(pki, make_ref):
    ref = make_ref("MDR")
    item = request_item("IF-061")
    assert codes(deliver(pki, ref, "IF-063", [item])) == ["RCP1002"]  # an IF-061 at the IF-063 webhook
    wrong_event = request_item("IF-061")
    wrong_event["payload"]["CommonBlock"]["S0"]["eventCode"] = "[MDRStop]"
    assert codes(deliver(pki, ref, "IF-061", [wrong_event])) == ["RCP1003"]
    # An interface the MDR does not receive at all.
    assert codes(deliver(pki, ref, "IF-062", [request_item("IF-062")])) == ["RCP1002"]
    assert deliver(pki, ref, "IF-061", [], body=b"not json").status_code == 400
    # An IF-065 event the MDR sends rather than receives.
    assert codes(deliver(pki, ref, "IF-065", [request_item("IF-065", "ReadingRemote")])) == ["RCP1003"]


def test_replay_is_accepted_once_processed(pki, dip, make_ref):
    ref = make_ref("MDR")
    item = start_mdr(pki, ref, dip)
    replay = json.loads(json.dumps(item))
    replay["payload"]["CommonBlock"]["D0"]["replayIndicator"] = True
    response = deliver(pki, ref, "IF-061", [replay])
    assert response.status_code == 201 and codes(response) == ["RCP0000"]
    ref.wait_for(lambda s: len(s.received) == 2, WAIT)
    assert ref.state.received[-1].duplicate is True
    assert len(sent(dip, "IF-062")) == 1  # not answered twice


def test_reject_replay_fault_refuses_the_replay(pki, dip, make_ref):
    ref = make_ref("MDR", faults=["reject-replay"])
    item = start_mdr(pki, ref, dip)
    replay = json.loads(json.dumps(item))
    replay["payload"]["CommonBlock"]["D0"]["replayIndicator"] = True
    response = deliver(pki, ref, "IF-061", [replay])
    assert response.status_code == 400 and codes(response) == ["RCP1047"]


def test_webhook_500_fault_hits_only_its_interface(pki, make_ref):
    ref = make_ref("MDR", faults=["webhook-500:IF-024"])
    assert deliver(pki, ref, "IF-024", [request_item("IF-024", "SN-Vacant")]).status_code == 500
    assert deliver(pki, ref, "IF-061", [request_item("IF-061")]).status_code == 201


def test_webhook_slow_fault_outlasts_the_callers_timeout(pki, make_ref):
    ref = make_ref("MDR", faults=["webhook-slow"])
    with pytest.raises(httpx.ReadTimeout):
        deliver(pki, ref, "IF-061", [request_item("IF-061")], timeout=0.5)
    fast = make_ref("MDR")
    assert deliver(pki, fast, "IF-061", [request_item("IF-061")], timeout=5).status_code == 201


def test_optional_notifications_are_recorded_only(pki, dip, make_ref):
    ref = make_ref("MDR")
    for interface_id, event in (("IF-006", "MeterInstall"), ("IF-008", None), ("IF-024", "SN-NoComms"),
                                ("IF-026", "SMSO")):
        item = request_item(interface_id, event)
        assert deliver(pki, ref, interface_id, [item]).status_code == 201, interface_id
        handled(ref, item)
    assert [r.interface_id for r in ref.state.received] == ["IF-006", "IF-008", "IF-024", "IF-026"]
    assert dip.submissions() == []


def test_webhooks_over_mtls(pki, make_ref, tmp_path):
    from harness.transport.tls import client_context, server_context

    ca = pki["ca"]
    ca_path = ca.write(tmp_path)
    server_cert, server_key = ca.issue("reference MDR server", key=cached_key("ref-mdr")).write(tmp_path, "server")
    dip_cert, dip_key = ca.issue("DIP client", key=cached_key("ref-dip")).write(tmp_path, "dip")
    ref = make_ref("MDR", ssl_context=server_context(server_cert, server_key, client_ca=ca_path))
    assert ref.base_url.startswith("https://127.0.0.1:")
    good = client_context(ca=ca_path, cert=dip_cert, key=dip_key)
    assert deliver(pki, ref, "IF-061", [request_item("IF-061")], verify=good).status_code == 201
    with pytest.raises(httpx.HTTPError):  # no client certificate: the TLS handshake fails
        deliver(pki, ref, "IF-061", [request_item("IF-061")], verify=client_context(ca=ca_path))


# --- MDR business behaviour -----------------------------------------------------------------

def assert_valid(interface_id: str, item: dict) -> None:
    findings = validate_body([item], interface_id=interface_id)
    assert not [f for f in findings if f.severity == "error"], [str(f) for f in findings]


def test_mdr_answers_a_start_with_if062_accepted_and_consumption(pki, dip, make_ref):
    ref = make_ref("MDR")
    request = start_mdr(pki, ref, dip)
    [answer] = sent(dip, "IF-062")
    common, custom = answer["payload"]["CommonBlock"], answer["payload"]["CustomBlock"]
    assert common["R0"] == {"responseCode": "A", "responseMessages": ["SP000 - MDR start accepted"]}
    assert common["S1"]["senderCorrelationID"] == "CI-20250101-reference000000001"
    assert common["A0"]["primaryRecipients"] == [SDS.dip_id]
    assert common["M0"] == request["payload"]["CommonBlock"]["M0"]
    assert custom == request["payload"]["CustomBlock"]
    assert_valid("IF-062", answer)
    [consumption] = sent(dip, "IF-064")
    assert_valid("IF-064", consumption)
    days = consumption["payload"]["CustomBlock"]["B941List"]
    assert [len(d["MDRConsumptionPeriods"]) for d in days] == [48, 48]  # start 2 days ago .. yesterday
    assert days[0]["settlementDay"]["settlementDayDate"].startswith(str(date.today() - timedelta(days=2)))
    assert consumption["payload"]["CustomBlock"]["B045"] == {"measurementQuantityID": "AI"}
    assert consumption["payload"]["CommonBlock"]["S1"]["senderCorrelationID"] == "CI-20250101-reference000000001"
    assert ref.state.mpan(request["payload"]["CommonBlock"]["M0"]["MPANCore"]).started == \
        date.today() - timedelta(days=2)


def test_mdr_sends_consumption_only_when_asked(pki, dip, make_ref):
    """By default the MDR keeps consumption for its daily run: nothing after the IF-062 until its
    IF-064 trigger asks, for the started MPAN and with the start's correlation id."""
    ref = make_ref("MDR", spontaneous_consumption=False)
    request = start_mdr(pki, ref, dip)
    assert len(sent(dip, "IF-062")) == 1 and sent(dip, "IF-064") == []
    mpan = request["payload"]["CommonBlock"]["M0"]["MPANCore"]
    response = httpx.post(ref.trigger_url, json={"interface": "IF-064", "mpan": mpan,
                                                 "correlation_id": "CI-20250101-reference000000001"}, timeout=5)
    assert response.status_code == 200, response.text
    [consumption] = sent(dip, "IF-064")
    assert consumption["payload"]["CommonBlock"]["M0"]["MPANCore"] == mpan
    assert consumption["payload"]["CommonBlock"]["S1"]["senderCorrelationID"] == "CI-20250101-reference000000001"
    assert len(consumption["payload"]["CustomBlock"]["B941List"]) == 2  # start two days ago .. yesterday


def test_mdr_sends_nothing_for_a_stop_of_an_mpan_it_never_started(pki, dip, make_ref):
    ref = make_ref("MDR")
    stop = request_item("IF-063", custom={"B083": {"assignedMDRDIPID": MDR.dip_id, "assignedMDRMPID": MDR.mpid,
                                                   "assignedMDREffectiveToDate": dip_timestamp()}})
    assert deliver(pki, ref, "IF-063", [stop]).status_code == 201
    handled(ref, stop)
    assert sent(dip, "IF-064") == [] and sent(dip, "IF-062") == []


def test_mdr_rejects_a_start_for_another_mdr_and_sends_no_consumption(pki, dip, make_ref):
    ref = make_ref("MDR")
    start_mdr(pki, ref, dip, custom={"B019": {"assignedMDRDIPID": "1659999999", "assignedMDRMPID": "OTHR",
                                              "assignedMDREffectiveFromDate": dip_timestamp()}})
    [answer] = sent(dip, "IF-062")
    assert answer["payload"]["CommonBlock"]["R0"] == {"responseCode": "R",
                                                      "responseMessages": ["RCP1064 - MDR provided not valid"]}
    assert_valid("IF-062", answer)
    assert sent(dip, "IF-064") == []


def test_served_mpans_limit_what_the_mdr_accepts(pki, dip, make_ref):
    ref = make_ref("MDR", served_mpans={"2000056535971"})
    start_mdr(pki, ref, dip)
    assert sent(dip, "IF-062")[0]["payload"]["CommonBlock"]["R0"]["responseCode"] == "R"


def test_accept_anything_start_fault_accepts_another_mdrs_start(pki, dip, make_ref):
    ref = make_ref("MDR", faults=["accept-anything-start"])
    start_mdr(pki, ref, dip, custom={"B019": {"assignedMDRDIPID": "1659999999", "assignedMDRMPID": "OTHR",
                                              "assignedMDREffectiveFromDate": dip_timestamp()}})
    assert sent(dip, "IF-062")[0]["payload"]["CommonBlock"]["R0"]["responseCode"] == "A"
    assert len(sent(dip, "IF-064")) == 1


def stop_and_ask(pki, ref, dip) -> tuple[str, date, dict]:
    request = start_mdr(pki, ref, dip)
    mpan = request["payload"]["CommonBlock"]["M0"]["MPANCore"]
    stop_day = date.today() - timedelta(days=2)
    stop = request_item("IF-063", mpan=mpan, custom={"B083": {
        "assignedMDRDIPID": MDR.dip_id, "assignedMDRMPID": MDR.mpid,
        "assignedMDREffectiveToDate": dip_timestamp(datetime(stop_day.year, stop_day.month, stop_day.day,
                                                             tzinfo=LONDON))}})
    assert deliver(pki, ref, "IF-063", [stop]).status_code == 201
    handled(ref, stop)
    after = date.today() - timedelta(days=1)
    ask = request_item("IF-065", "MDRConsumption", mpan=mpan, custom={"B077": {"MDRReferenceDateTime": dip_timestamp(
        datetime(after.year, after.month, after.day, tzinfo=LONDON))}})
    assert deliver(pki, ref, "IF-065", [ask]).status_code == 201
    handled(ref, ask)
    return mpan, stop_day, ask


def test_mdr_stops_consumption_after_if063(pki, dip, make_ref):
    ref = make_ref("MDR")
    mpan, stop_day, _ = stop_and_ask(pki, ref, dip)
    assert ref.state.mpan(mpan).stopped == stop_day
    assert len(sent(dip, "IF-064")) == 1  # only the one sent after the start
    assert ref.state.declined and "after the stop date" in ref.state.declined[-1]["reason"]
    # Asked through the trigger: only days up to the stop date.
    response = httpx.post(ref.trigger_url, json={"interface": "IF-064", "mpan": mpan}, timeout=5)
    assert response.status_code == 200
    days = [d["settlementDay"]["settlementDayDate"][:10]
            for d in sent(dip, "IF-064")[-1]["payload"]["CustomBlock"]["B941List"]]
    assert days == [str(stop_day)]


def test_consumption_after_stop_fault_keeps_sending(pki, dip, make_ref):
    ref = make_ref("MDR", faults=["consumption-after-stop"])
    _, stop_day, _ = stop_and_ask(pki, ref, dip)
    days = [d["settlementDay"]["settlementDayDate"][:10] for s in sent(dip, "IF-064")[1:]
            for d in s["payload"]["CustomBlock"]["B941List"]]
    assert str(stop_day + timedelta(days=1)) in days


def test_mdr_answers_reading_requests(pki, dip, make_ref):
    ref = make_ref("MDR")
    for event in ("MDRInstantaneous", "MDRTOU"):
        ask = request_item("IF-065", event, correlation=f"CI-20250101-{event.lower()}")
        assert deliver(pki, ref, "IF-065", [ask]).status_code == 201
        handled(ref, ask)
    answers = sent(dip, "IF-065")
    assert [a["payload"]["CommonBlock"]["S0"]["eventCode"] for a in answers] == ["[ReadingRemote]"] * 2
    assert [a["payload"]["CommonBlock"]["S1"]["senderCorrelationID"] for a in answers] == [
        "CI-20250101-mdrinstantaneous", "CI-20250101-mdrtou"]
    for answer in answers:
        assert answer["payload"]["CustomBlock"]["B076List"]
        assert_valid("IF-065", answer)


def test_mdr_answers_a_consumption_request_for_the_reference_day(pki, dip, make_ref):
    ref = make_ref("MDR")
    day = date.today() - timedelta(days=5)
    ask = request_item("IF-065", "MDRConsumption", custom={"B077": {"MDRReferenceDateTime": dip_timestamp(
        datetime(day.year, day.month, day.day, 12, tzinfo=LONDON))}})
    deliver(pki, ref, "IF-065", [ask])
    handled(ref, ask)
    [answer] = sent(dip, "IF-064")
    assert_valid("IF-064", answer)
    [b941] = answer["payload"]["CustomBlock"]["B941List"]
    assert b941["settlementDay"]["settlementDayDate"] == f"{day}T00:00:00+00:00"
    assert answer["payload"]["CommonBlock"]["M0"] == ask["payload"]["CommonBlock"]["M0"]


# --- fault switches on outgoing messages ----------------------------------------------------

def findings_of(interface_id: str, item: dict) -> set[str]:
    return {f.rule for f in validate_body([item], interface_id=interface_id) if f.severity == "error"}


def test_47_periods_fault(pki, dip, make_ref):
    start_mdr(pki, make_ref("MDR", faults=["47-periods"]), dip)
    [consumption] = sent(dip, "IF-064")
    assert {len(d["MDRConsumptionPeriods"]) for d in consumption["payload"]["CustomBlock"]["B941List"]} == {47}
    # Partial days are allowed by the specification (a warning in validation); under the named
    # assumption of whole days the judgement applies the same rule as an error.
    assert "periods.count" in {f.rule for f in validate_body([consumption], interface_id="IF-064")}
    assert {f.severity for f in check_periods_count(consumption, 0)} == {"error"}


def test_periods_not_utc_fault(pki, dip, make_ref):
    start_mdr(pki, make_ref("MDR", faults=["periods-not-utc"]), dip)
    [consumption] = sent(dip, "IF-064")
    sps = [p["sp"] for d in consumption["payload"]["CustomBlock"]["B941List"] for p in d["MDRConsumptionPeriods"]]
    assert all(sp.endswith("+01:00") for sp in sps)
    assert "periods.utc" in findings_of("IF-064", consumption)


def test_wrong_measurement_quantity_fault(pki, dip, make_ref):
    start_mdr(pki, make_ref("MDR", faults=["wrong-measurement-quantity"]), dip)  # B078 I
    assert sent(dip, "IF-064")[0]["payload"]["CustomBlock"]["B045"] == {"measurementQuantityID": "AE"}


def test_no_correlation_fault(pki, dip, make_ref):
    start_mdr(pki, make_ref("MDR", faults=["no-correlation"]), dip)
    for interface_id in ("IF-062", "IF-064"):
        assert sent(dip, interface_id)[0]["payload"]["CommonBlock"]["S1"]["senderCorrelationID"] is None


def test_never_answers_fault(pki, dip, make_ref):
    ref = make_ref("MDR", faults=["never-answers"])
    start_mdr(pki, ref, dip)
    ask = request_item("IF-065", "MDRInstantaneous")
    assert deliver(pki, ref, "IF-065", [ask]).status_code == 201
    handled(ref, ask)
    assert dip.submissions() == [] and len(ref.state.declined) == 2


def test_drop_field_fault(pki, dip, make_ref):
    start_mdr(pki, make_ref("MDR", faults=["drop-field:IF-062:R0"]), dip)
    [answer] = sent(dip, "IF-062")
    assert "R0" not in answer["payload"]["CommonBlock"]
    assert "schema.required" in findings_of("IF-062", answer)
    assert "R0" not in sent(dip, "IF-064")[0]["payload"]["CommonBlock"]  # IF-064 untouched (never had R0)
    assert_valid("IF-064", sent(dip, "IF-064")[0])


def test_wrong_role_fault(pki, dip, make_ref):
    start_mdr(pki, make_ref("MDR", faults=["wrong-role"]), dip)
    assert {s["payload"]["CommonBlock"]["S1"]["senderRoleID"]
            for s in sent(dip, "IF-062") + sent(dip, "IF-064")} == {"SUP"}


def test_duplicate_reference_fault(pki, dip, make_ref):
    start_mdr(pki, make_ref("MDR", faults=["duplicate-reference"]), dip)
    refs = [s["item"]["payload"]["CommonBlock"]["S1"]["senderUniqueReference"] for s in dip.submissions()]
    assert len(refs) == 2 and refs[0] == refs[1]


def test_unique_references_without_the_fault(pki, dip, make_ref):
    start_mdr(pki, make_ref("MDR"), dip)
    refs = [s["item"]["payload"]["CommonBlock"]["S1"]["senderUniqueReference"] for s in dip.submissions()]
    assert len(refs) == 2 and refs[0] != refs[1]


def test_wrong_recipient_fault(pki, dip, make_ref):
    start_mdr(pki, make_ref("MDR", faults=["wrong-recipient"]), dip)
    assert sent(dip, "IF-062")[0]["payload"]["CommonBlock"]["A0"]["primaryRecipients"] != [SDS.dip_id]


def test_bad_mpan_check_digit_fault(pki, dip, make_ref):
    ref = make_ref("SDS", faults=["bad-mpan-check-digit"])
    response = httpx.post(ref.trigger_url, json={"interface": "IF-061"}, timeout=5)
    assert response.status_code == 200
    [request] = sent(dip, "IF-061")
    assert not is_valid_mpan(request["payload"]["CommonBlock"]["M0"]["MPANCore"])
    assert "mpan.check-digit" in findings_of("IF-061", request)


def test_bad_signature_and_wrong_api_key_faults(pki, dip, make_ref):
    good = make_ref("SDS")
    bad = make_ref("SDS", faults=["bad-signature", "wrong-api-key"])
    for ref in (good, bad):
        assert httpx.post(ref.trigger_url, json={"interface": "IF-063"}, timeout=5).status_code == 200
    first, second = dip.submissions("IF-063")
    assert first["post"]["signer"] == "SDS" and first["post"]["headers"]["X-Api-Key"] == API_KEYS["SDS"][0]
    assert second["post"]["signer"] is None and second["post"]["headers"]["X-Api-Key"] not in API_KEYS["SDS"]
    url = dip.url + "/dip-channel/IF-063"
    rules = {f.rule for f in verify_request("POST", url, second["post"]["body"], second["post"]["headers"])}
    assert rules == {"signature.invalid"}


# --- triggers and state ---------------------------------------------------------------------

def test_trigger_refuses_flows_the_role_does_not_send(make_ref):
    sds = make_ref("SDS")
    response = httpx.post(sds.trigger_url, json={"interface": "IF-062"}, timeout=5)
    assert response.status_code == 400 and "not an outgoing flow of the SDS" in response.json()["error"]
    assert httpx.post(sds.trigger_url, json={"interface": "IF-065"}, timeout=5).status_code == 400  # event needed
    assert httpx.post(sds.trigger_url, content=b"[1", timeout=5).status_code == 400


def test_sds_trigger_sends_a_start_for_its_partner_and_state_shows_it(pki, dip, make_ref):
    sds = make_ref("SDS")
    response = httpx.post(sds.trigger_url, json={"interface": "IF-061", "correlation_id": "CI-20250101-trigger01"},
                          timeout=5)
    assert response.status_code == 200
    data = response.json()
    assert data["status"] == 201 and data["transactionIDs"] and data["senderUniqueReference"].startswith("S-IF-061-")
    [request] = sent(dip, "IF-061")
    assert_valid("IF-061", request)
    b019 = request["payload"]["CustomBlock"]["B019"]
    assert (b019["assignedMDRDIPID"], b019["assignedMDRMPID"]) == (MDR.dip_id, MDR.mpid)
    assert request["payload"]["CommonBlock"]["S1"]["senderCorrelationID"] == "CI-20250101-trigger01"
    state = httpx.get(sds.base_url + "/state", timeout=5).json()
    assert state["role"] == "SDS" and state["sent"][0]["interface_id"] == "IF-061"
    assert state["mpans"][data["MPANCore"]]["correlation_id"] == "CI-20250101-trigger01"


# --- end to end through the real Hub --------------------------------------------------------

@pytest.fixture
def hub(pki):
    from harness.dip.config import DeliverySettings, HubConfig, PartyRegistration
    from harness.dip.server import Hub
    from harness.transport.delivery import Timeouts

    settings = DeliverySettings(timeouts=Timeouts(connect=1.0, read=3.0, write=1.0, pool=1.0, total=5.0), retries=0)
    with Hub(HubConfig(identity=pki["dip"], delivery=settings)) as server:
        for party in (MDR, SDS):
            server.register_party(PartyRegistration(party.dip_id, party.role, party.mpid, API_KEYS[party.role],
                                                    pki[party.role].certificate))
        yield server


@pytest.fixture
def pair(make_ref, hub):
    """Both references registered with the hub (webhooks through pubconfig)."""
    def make(mdr_faults=(), sds_faults=()):
        mdr = make_ref("MDR", faults=mdr_faults, hub_url=hub.base_url, register_webhooks=True)
        sds = make_ref("SDS", faults=sds_faults, hub_url=hub.base_url, register_webhooks=True)
        return mdr, sds
    return make


def trigger(ref: ReferenceParticipant, **spec) -> dict:
    """The trigger's answer: 200 when the DIP accepted what it sent, 502 (with the DIP's codes) when it refused."""
    response = httpx.post(ref.trigger_url, json=spec, timeout=10)
    data = response.json()
    assert response.status_code == (502 if data.get("refused") else 200), response.text
    assert data["refused"] is (data["status"] not in (200, 201))
    return data


def received(ref: ReferenceParticipant, interface_id: str, event: str | None = None, count: int = 1) -> list:
    return ref.wait_for(lambda s: (r := s.received_for(interface_id, event)) and len(r) >= count and r, WAIT)


def test_hub_exchange_start_answer_and_consumption(pair, hub):
    mdr, sds = pair()
    assert hub.webhook(MDR.dip_id, "IF-061").callback_url == mdr.webhook_url("IF-061")
    result = trigger(sds, interface="IF-061", correlation_id="CI-20250101-hubexchange01")
    assert result["status"] == 201 and result["messages"] == ["MSG0000"]
    [answer] = received(sds, "IF-062")
    assert answer.code == "RCP0000" and answer.correlation_id == "CI-20250101-hubexchange01"
    assert answer.item["payload"]["CommonBlock"]["R0"]["responseCode"] == "A"
    [consumption] = received(sds, "IF-064")
    days = consumption.item["payload"]["CustomBlock"]["B941List"]
    assert days and all(len(d["MDRConsumptionPeriods"]) == 48 for d in days)
    assert consumption.item["payload"]["CommonBlock"]["S1"]["senderCorrelationID"] == "CI-20250101-hubexchange01"
    # The DIP delivers what it accepted before its answer reaches the sender: wait for the MDR's own record.
    sent = mdr.wait_for(lambda s: len(s.sent) >= 2 and s.sent, WAIT)
    assert all(s.status == 201 for s in sent) and len(sent) == 2
    for submission in hub.received():
        assert not [f for f in validate_body([submission.item], interface_id=submission.interface_id)
                    if f.severity == "error"]
    assert not mdr.state.errors and not sds.state.errors


def test_hub_exchange_unserved_start_is_rejected(pair, hub):
    mdr, sds = pair()
    trigger(sds, interface="IF-061", fields={"B019": {"assignedMDRDIPID": "1659999999"}})
    [answer] = received(sds, "IF-062")
    assert answer.item["payload"]["CommonBlock"]["R0"] == {"responseCode": "R",
                                                           "responseMessages": ["RCP1064 - MDR provided not valid"]}
    mdr.wait_for(lambda s: s.handled, WAIT)
    assert mdr.state.sent_for("IF-064") == []


def test_hub_exchange_stop_then_consumption_request_is_declined(pair, hub):
    mdr, sds = pair()
    mpan = trigger(sds, interface="IF-061")["MPANCore"]
    received(sds, "IF-064")
    yesterday = date.today() - timedelta(days=1)
    stop_day = yesterday - timedelta(days=1)
    trigger(sds, interface="IF-063", mpan=mpan, fields={"B083": {"assignedMDREffectiveToDate": dip_timestamp(
        datetime(stop_day.year, stop_day.month, stop_day.day, tzinfo=LONDON))}})
    trigger(sds, interface="IF-065", event="MDRConsumption", mpan=mpan, fields={"B077": {
        "MDRReferenceDateTime": dip_timestamp(datetime(yesterday.year, yesterday.month, yesterday.day,
                                                       tzinfo=LONDON))}})
    mdr.wait_for(lambda s: s.declined, WAIT)
    assert mdr.state.mpan(mpan).stopped == stop_day
    assert len(mdr.state.sent_for("IF-064")) == 1


def test_hub_exchange_reading_request_is_answered(pair, hub):
    mdr, sds = pair()
    trigger(sds, interface="IF-065", event="MDRInstantaneous", correlation_id="CI-20250101-reading0001")
    [reading] = received(sds, "IF-065", "ReadingRemote")
    assert reading.correlation_id == "CI-20250101-reading0001"
    assert reading.item["payload"]["CustomBlock"]["B076List"]


def test_hub_requeue_is_a_replay_processed_once(pair, hub, pki):
    mdr, sds = pair()
    trigger(sds, interface="IF-061")
    received(sds, "IF-064")
    [first] = mdr.state.received_for("IF-061")
    with DipClient(hub.base_url, api_key=KEYS[0], identity=pki["MDR"], timeout=5) as client:
        assert client.requeue("IF-061", MDR.dip_id, transaction_ids=[first.transaction_id]).status == 200
    [_, replay] = received(mdr, "IF-061", count=2)
    assert (replay.replay, replay.duplicate, replay.code) == (True, True, "RCP0000")
    hub.wait_for_delivery(lambda d: d.replay, WAIT)
    assert len(mdr.state.sent_for("IF-062")) == 1


@pytest.mark.parametrize("fault, status, code", [
    ("bad-signature", 401, None), ("wrong-api-key", 401, None), ("wrong-role", 400, "MSG1010"),
    ("wrong-recipient", 400, "MSG1031"),
])
def test_hub_refuses_what_the_sender_faults_break(pair, hub, fault, status, code):
    _, sds = pair(sds_faults=[fault])
    result = trigger(sds, interface="IF-061")
    assert result["status"] == status
    assert result["messages"] == ([code] if code else [])
    assert hub.received() == []


def test_hub_refuses_a_duplicated_reference(pair, hub):
    _, sds = pair(sds_faults=["duplicate-reference"])
    assert trigger(sds, interface="IF-061")["status"] == 201
    second = trigger(sds, interface="IF-063")
    assert (second["status"], second["messages"]) == (400, ["MSG1006"])


# --- dipcert serve-reference ----------------------------------------------------------------

def test_serve_reference_runs_with_a_local_hub_and_writes_its_pki(tmp_path, capsys):
    from harness.cli import main

    assert main(["serve-reference", "sds", "--duration", "0", "--out", str(tmp_path), "--fault", "wrong-role"]) == 0
    out = capsys.readouterr().out
    assert "reference SDS 1450000102" in out and "fault switches: wrong-role" in out
    assert "/webhook/if-062" in out and "/trigger" in out and "local simulated DIP at http://127.0.0.1:" in out
    key_file = tmp_path / "partner-mdr.apikey"
    assert (key_file.stat().st_mode & 0o777) == 0o600
    assert key_file.read_text().strip() not in out  # the secret is not printed
    assert {p.name for p in tmp_path.iterdir()} >= {"ca.crt", "dip.crt", "partner-mdr.crt", "partner-mdr.key"}


@pytest.mark.parametrize("argv, message", [
    (["mdr", "--fault", "nope"], "unknown fault 'nope'"),
    (["sds", "--fault", "47-periods"], "applies to the reference MDR, not SDS"),
    (["sds", "--hub", "http://127.0.0.1:1"], "with --hub, also give --api-key-env, --cert, --key, --dip-cert"),
    (["sds", "--mpan", "2000056535971"], "--mpan applies to the reference MDR only"),
])
def test_serve_reference_usage_errors(argv, message, capsys):
    from harness.cli import main

    assert main(["serve-reference", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_serve_reference_lists_faults(capsys):
    from harness.cli import main

    assert main(["serve-reference", "mdr", "--list-faults"]) == 0
    out = capsys.readouterr().out
    assert "drop-field:INTERFACE:BLOCK" in out and "breaks exchange.after-stop" in out


def test_state_wait_is_bounded(make_ref):
    ref = make_ref("SDS")
    outcome: list[BaseException] = []
    done = threading.Event()

    def wait() -> None:
        try:
            ref.wait_for(lambda s: s.received, 0.2)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)
        done.set()

    threading.Thread(target=wait, daemon=True).start()
    assert done.wait(30), "wait_for(…, 0.2) did not return"
    assert len(outcome) == 1 and isinstance(outcome[0], TimeoutError)


def test_readme_counts_the_fault_switches_there_are():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")
    assert f"{len(load_faults())} fault switches" in readme
