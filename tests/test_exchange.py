"""The paired exchange: definitions as data and the runner, between both reference participants
through a real Hub on 127.0.0.1.

The host below implements the runner's host protocol (`harness.run.exchange.ExchangeHost`) the way a
certification run does: the party under test and its partner are triggered over HTTP, and the runner
sees the hub only through a DIP session of the party under test (`RemoteHub`), which mirrors the
session's records into a real evidence log. Each MDR fault switch that breaks an exchange rule
must make exactly that rule fail, with a finding naming the rule, the message and the JSON path.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from harness.config.exchanges import Exchange, exchange_enabled, load_exchange, load_exchanges, resolve_fields
from harness.core.errors import ConfigError
from harness.dip.client import RemoteHub
from harness.dip.config import DeliverySettings, HubConfig, PartyRegistration
from harness.dip.connection import DipCaller, DipConnection
from harness.dip.server import Hub
from harness.evidence.recorder import Recorder, read_records
from harness.messages.samples import DEFAULT_PARTIES
from harness.reference.faults import load_faults
from harness.reference.participant import ReferenceParticipant
from harness.run.exchange import run_exchange
from harness.run.triggers import SendResult, trigger_spec
from harness.transport.certs import cached_key, make_ca
from harness.transport.delivery import Timeouts

logging.getLogger("werkzeug").setLevel(logging.ERROR)

MDR, SDS = DEFAULT_PARTIES["MDR"], DEFAULT_PARTIES["SDS"]
API_KEYS = {"MDR": ("exchange-mdr-primary-key-01", "exchange-mdr-secondary-key-02"),
            "SDS": ("exchange-sds-primary-key-01", "exchange-sds-secondary-key-02")}
STEP_TIMEOUT = 5.0  # a passing exchange never comes near it


# --- fixtures -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pki():
    ca = make_ca("dipcert test CA", key=cached_key("ref-ca"))
    return {"dip": ca.issue("simulated DIP", key=cached_key("ref-dip")).identity(),
            "MDR": ca.issue("reference MDR", key=cached_key("ref-mdr")).identity(),
            "SDS": ca.issue("reference SDS", key=cached_key("ref-sds")).identity()}


@pytest.fixture(scope="module")
def exchanges() -> dict[str, Exchange]:
    return {e.name: e for e in load_exchanges()}


class RefHost:
    """The runner's host over a real Hub and both reference participants (what RunContext provides)."""

    def __init__(self, role: str, hub: Hub, refs: dict[str, ReferenceParticipant], recorder: Recorder | None,
                 step_timeout: float = STEP_TIMEOUT) -> None:
        self.role, self.hub, self.refs, self.recorder, self.step_timeout = role, hub, refs, recorder, step_timeout
        self.sent: list[dict] = []

    def party(self, role: str):
        return self.refs[role].party

    def send(self, role, interface_id, event, *, mpan=None, correlation_id=None, fields=None, context=None):
        spec = trigger_spec(interface_id, event, mpan=mpan, correlation_id=correlation_id, fields=fields)
        self.sent.append(spec)
        try:
            response = httpx.post(self.refs[role].trigger_url, json=spec, timeout=5.0)
        except httpx.HTTPError as exc:
            return SendResult(False, f"trigger did not answer ({type(exc).__name__})")
        return SendResult(response.status_code == 200, f"trigger answered HTTP {response.status_code}")


@pytest.fixture
def make_host(pki, tmp_path) -> Iterator:
    """`make_host(role, mdr_faults=..., sds_faults=..., step_timeout=...)`: hub + both references + recorder."""
    opened: list = []

    def make(role: str = "MDR", *, mdr_faults=(), sds_faults=(), step_timeout: float = STEP_TIMEOUT,
             recorder: bool = True) -> RefHost:
        rec = Recorder(tmp_path / f"run-{len(opened)}") if recorder else None
        if rec is not None:
            opened.append(rec)  # closed last, after the hub has written its last event
        settings = DeliverySettings(timeouts=Timeouts(connect=1.0, read=3.0, write=1.0, pool=1.0, total=5.0),
                                    retries=0)
        hub = Hub(HubConfig(identity=pki["dip"], delivery=settings)).start()
        opened.append(hub)
        for party in (MDR, SDS):
            hub.register_party(PartyRegistration(party.dip_id, party.role, party.mpid, API_KEYS[party.role],
                                                 pki[party.role].certificate))
        # The runner sees the DIP only through a session of the party under test, over HTTP.
        me = MDR if role == "MDR" else SDS
        caller = DipCaller(DipConnection(hub.base_url), api_key=API_KEYS[role][0], identity=pki[role])
        remote = RemoteHub(caller, recorder=rec).open(f"exchange-test-{len(opened)}", [], None)
        assert remote.party.get("dip_id", me.dip_id) == me.dip_id
        opened.append(remote)
        refs = {}
        for r, party, partner, faults in (("MDR", MDR, SDS, mdr_faults), ("SDS", SDS, MDR, sds_faults)):
            refs[r] = ReferenceParticipant(r, party=party, partner=partner, hub_url=hub.base_url,
                                           api_keys=API_KEYS[r], identity=pki[r],
                                           dip_certificate=pki["dip"].certificate, faults=faults,
                                           register_webhooks=True).start()
            opened.append(refs[r])
        return RefHost(role, remote, refs, rec, step_timeout)

    yield make
    for thing in opened:  # end the DIP sessions' long polls now, not at their bound (5 s per test)
        if isinstance(thing, Hub):
            thing.transcript.release_waiters()
    for thing in reversed(opened):
        thing.close() if isinstance(thing, Recorder) else thing.stop()


def spy_on_waits(hub: Hub) -> list[float]:
    """The bound of every wait the runner makes on the hub, in order (the waits themselves are real)."""
    bounds: list[float] = []
    for name in ("wait_for", "wait_for_delivery"):
        def spy(predicate, timeout, _original=getattr(hub, name)):
            bounds.append(timeout)
            return _original(predicate, timeout)
        setattr(hub, name, spy)
    return bounds


def checks_of(host: RefHost) -> list[dict]:
    return [r for r in read_records(host.recorder.path) if r["kind"] == "check"]


# --- definitions ----------------------------------------------------------------------------------

def test_the_four_exchanges_load_with_their_interfaces(exchanges):
    assert set(exchanges) == {"start-and-consume", "on-demand-reads", "stop", "reject"}
    assert exchanges["start-and-consume"].interfaces == {"IF-061", "IF-062", "IF-064"}
    assert exchanges["on-demand-reads"].interfaces == {"IF-065", "IF-064"}
    stop = exchanges["stop"]
    assert stop.step("no-consumption-after-stop").after == "stop"
    assert stop.step("stop-unstarted").mpan == "unstarted" and stop.step("stop-unstarted").reply == "any"
    assert stop.step("consumption").scheduled and exchanges["start-and-consume"].step("consumption").scheduled
    assert not exchanges["on-demand-reads"].step("consumption").scheduled  # a direct answer to IF-065
    # Directions from the catalogue: the definitions do not name senders, the catalogue does.
    reads = exchanges["on-demand-reads"]
    assert [(s.sender, s.event) for s in reads.steps][:2] == [("SDS", "MDRInstantaneous"), ("MDR", "ReadingRemote")]
    assert exchanges["reject"].steps[1].request == "start-for-another-mdr"


def test_placeholders_become_local_midnight_timestamps():
    from datetime import date

    resolved = resolve_fields({"B077": {"MDRReferenceDateTime": "{day-1}"}, "x": ["{day}", "plain"]}, date(2025, 7, 2))
    assert resolved == {"B077": {"MDRReferenceDateTime": "2025-07-01T00:00:00+01:00"},
                        "x": ["2025-07-02T00:00:00+01:00", "plain"]}


GOOD = """title = "t"
[[step]]
name = "start"
interface = "IF-061"
expect = "request"
"""


@pytest.mark.parametrize("text, message", [
    ("title = 't'\n[[step]]\nname = 'a'\ninterface = 'IF-099'\nexpect = 'request'\n",
     "step[0]: key 'interface'/'event'"),
    (GOOD + "[[step]]\nname = 'x'\ninterface = 'IF-062'\nexpect = 'maybe'\n", "step[1]: key 'expect' should be one of"),
    (GOOD + "[[step]]\nname = 'x'\ninterface = 'IF-062'\nsender = 'SDS'\nexpect = 'accepted'\n",
     "step[1]: key 'sender' is 'SDS' but the catalogue says IF-062/MDRStartResponse is sent by MDR"),
    (GOOD + "[[step]]\nname = 'x'\ninterface = 'IF-062'\nexpect = 'accepted'\ntimeout = -1\n",
     "step[1]: key 'timeout' should be a number of seconds"),
    (GOOD + "[[step]]\nname = 'x'\ninterface = 'IF-064'\nexpect = 'nothing'\nrule = 'exchange.whatever'\n",
     "step[1]: key 'rule' should be one of"),
    (GOOD + "[[step]]\nname = 'start'\ninterface = 'IF-062'\nexpect = 'accepted'\n", "step[1]: key 'name' 'start'"),
    (GOOD + "fields = { B019 = { assignedMDREffectiveFromDate = '{tomorrow}' } }\n",
     "step[0]: key 'fields': unknown placeholder '{tomorrow}'"),
    ("title = 't'\n[[step]]\nname = 'x'\ninterface = 'IF-062'\nexpect = 'accepted'\n",
     "step[0]: key 'expect' is 'accepted' but no request step comes before it"),
    ("title = 't'\ncolour = 'red'\n", "unknown key 'colour'"),
    (GOOD + "scheduled = true\n", "step[0]: key 'scheduled' applies to"),
    (GOOD + "reply = 'maybe'\n", "step[0]: key 'reply' should be one of accept, any"),
    (GOOD + "[[step]]\nname = 'x'\ninterface = 'IF-062'\nexpect = 'accepted'\nreply = 'any'\n",
     "step[1]: key 'reply' applies to"),
    (GOOD + "mpan = 'other'\n", "step[0]: key 'mpan' should be one of exchange, unstarted"),
    (GOOD + "[[step]]\nname = 'x'\ninterface = 'IF-062'\nexpect = 'accepted'\nmpan = 'unstarted'\n",
     "step[1]: key 'mpan' applies to request and nothing steps"),
    ("title = 't'\n", "no [[step]] entries"),
    ("title = \n", "not valid TOML"),
])
def test_bad_definition_is_a_one_line_config_error(tmp_path, text, message):
    path = tmp_path / "broken.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_exchange(path)
    assert message in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ConfigError):
        load_exchanges(tmp_path)


def test_empty_or_missing_folder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no exchange definitions"):
        load_exchanges(tmp_path)
    with pytest.raises(ConfigError, match="not found"):
        load_exchanges(tmp_path / "nope")


# --- reference with reference ---------------------------------------------------------------------

@pytest.mark.parametrize("role", ["MDR", "SDS"])
def test_reference_pair_passes_every_exchange_and_records_evidence(make_host, exchanges, role):
    host = make_host(role)
    waits = spy_on_waits(host.hub)
    results = [run_exchange(host, e, f"{role}-x/exchange/{e.name}") for e in exchanges.values()]
    assert waits and max(waits) <= STEP_TIMEOUT  # every wait is bounded by the step timeout
    for result in results:
        assert result, (result.exchange, [str(f) for f in result.findings])
        assert all(o.status == "pass" for o in result.steps), result.steps
    checks = checks_of(host)
    assert checks and all(c["passed"] for c in checks)
    by_rule = {c["rule"] for c in checks}
    assert by_rule >= {"exchange.timeout", "exchange.correlation", "exchange.accept", "exchange.echo",
                       "exchange.reject", "exchange.measurement-quantity", "periods.count", "periods.sequence",
                       "periods.utc", "periods.duration", "periods.quantity", "exchange.before-start",
                       "exchange.after-stop"}
    # Whatever the DIP delivers to the party under test is answered on its webhook, naming the message.
    assert {"exchange.delivery", "exchange.reply", "consumption.complete-days", "exchange.unstarted"} <= by_rule
    # Every judged message is a hub-inbound record in the same evidence log.
    records = {r["seq"]: r for r in read_records(host.recorder.path)}
    judged = {seq for c in checks for seq in c["messages"]}
    assert judged and all(records[s]["kind"] == "http" for s in judged)
    assert {records[s]["channel"] for s in judged} >= {"hub-inbound"}
    # One correlation id per request, carried on each request; scheduled consumption asked for with the start's.
    requests = [spec for spec in host.sent if spec["interface"] in ("IF-061", "IF-063", "IF-065")]
    assert all(spec.get("correlation_id", "").startswith("CI-") for spec in host.sent)
    assert len({spec["correlation_id"] for spec in requests}) == len(requests)
    asked = [spec for spec in host.sent if spec["interface"] == "IF-064"]
    assert len(asked) == 2 and all(spec["mpan"] and spec["correlation_id"] for spec in asked)
    assert not host.refs["MDR"].state.errors and not host.refs["SDS"].state.errors


# Each MDR fault switch that breaks an exchange rule, and the exchange that shows it.
FAULT_CASES = [
    ("consumption-after-stop", "stop"),
    ("wrong-measurement-quantity", "start-and-consume"),
    ("no-correlation", "start-and-consume"),
    ("accept-anything-start", "reject"),
    ("47-periods", "start-and-consume"),
    ("periods-not-utc", "start-and-consume"),
    ("consumption-before-start", "start-and-consume"),  # the window check inside the exchange
    ("no-echo", "start-and-consume"),
    ("periods-shifted", "start-and-consume"),
]


@pytest.mark.parametrize("fault, exchange", FAULT_CASES)
def test_each_fault_breaks_exactly_its_rule(make_host, exchanges, fault, exchange):
    rule = next(f.breaks for f in load_faults() if f.name == fault)
    host = make_host("MDR", mdr_faults=[fault])
    result = run_exchange(host, exchanges[exchange], f"MDR-5.3/exchange/{exchange}")
    assert not result
    assert result.failed_rules == {rule}
    assert result.findings and {f.rule for f in result.findings} == {rule}
    for finding in result.findings:
        assert finding.message.startswith(("IF-062 [MDRStartResponse] S1.senderUniqueReference=S-IF-062-",
                                           "IF-064 [MDRConsumption] S1.senderUniqueReference=S-IF-064-"))
        assert finding.path.startswith("/0/payload/")
    failed = [c for c in checks_of(host) if not c["passed"]]
    assert {c["rule"] for c in failed} == {rule}
    assert all(c["messages"] and c["requirement"] == f"MDR-5.3/exchange/{exchange}" for c in failed)


def test_the_same_exchanges_pass_without_the_faults(make_host, exchanges):
    host = make_host("MDR", recorder=False)
    for name in {e for _, e in FAULT_CASES}:
        result = run_exchange(host, exchanges[name], f"MDR-5.3/exchange/{name}")
        assert result, [str(f) for f in result.findings]


def test_a_partner_that_never_answers_times_out_within_the_bound(make_host, exchanges):
    host = make_host("MDR", mdr_faults=["never-answers"], step_timeout=1.5)
    waits = spy_on_waits(host.hub)
    result = run_exchange(host, exchanges["start-and-consume"], "MDR-5.3/exchange/start-and-consume")
    assert waits and max(waits) == 1.5  # the unanswered step waited its bound, and nothing waited longer
    assert result.steps[1].elapsed >= 1.5  # ... all of it: the runner did not give up early
    assert not result and result.failed_rules == {"exchange.timeout"}
    assert next(f.breaks for f in load_faults() if f.name == "never-answers") == "exchange.timeout"
    [finding] = result.findings
    assert "IF-062 [MDRStartResponse]" in finding.message and "within 1.5 s" in finding.message
    assert [o.status for o in result.steps] == ["pass", "fail", "skipped"]
    host.hub.stop()  # what a run does at its end; the evidence must be complete all the same
    host.recorder.close()
    records = read_records(host.recorder.path)
    [failed] = [r for r in records if r["kind"] == "check" and not r["passed"]]
    assert failed["rule"] == "exchange.timeout" and failed["messages"]  # the unanswered request
    assert records[-1]["kind"] == "run-end"
    steps = [r["data"] for r in records if r["kind"] == "event" and r["event"] == "exchange.step"]
    assert steps == [{"requirement": "MDR-5.3/exchange/start-and-consume", "exchange": "start-and-consume",
                      "step": "consumption", "interface": "IF-064", "event": "MDRConsumption",
                      "status": "skipped"}]


def test_a_definition_timeout_shortens_but_never_lengthens_the_bound(make_host, exchanges, tmp_path):
    text = (exchanges["start-and-consume"].source.read_text(encoding="utf-8")
            .replace('expect = "accepted"', 'expect = "accepted"\ntimeout = 0.5'))
    path = tmp_path / "quick.toml"
    path.write_text(text, encoding="utf-8")
    host = make_host("MDR", mdr_faults=["never-answers"], step_timeout=30.0, recorder=False)
    waits = spy_on_waits(host.hub)
    assert not run_exchange(host, load_exchange(path), "MDR-5.3/exchange/quick")
    assert waits == [30.0, 0.5]  # the request: the run's bound; the unanswered answer: its own 0.5 s, not 30
    path.write_text(text.replace("timeout = 0.5", "timeout = 60"), encoding="utf-8")
    host = make_host("MDR", mdr_faults=["never-answers"], step_timeout=0.4, recorder=False)
    waits = spy_on_waits(host.hub)
    assert not run_exchange(host, load_exchange(path), "MDR-5.3/exchange/quick")
    assert waits == [0.4, 0.4]  # 60 s in the definition does not lengthen the run's 0.4 s


def test_sds_under_test_whose_webhook_refuses_answers_fails_delivery(make_host, exchanges):
    host = make_host("SDS", sds_faults=["webhook-500:IF-062"])
    result = run_exchange(host, exchanges["start-and-consume"], "SDS-6.3/exchange/start-and-consume")
    assert not result and result.failed_rules == {"exchange.delivery"}
    [finding] = result.findings
    assert finding.message.startswith("IF-062 [MDRStartResponse] S1.senderUniqueReference=")
    assert "refused" in finding.actual or "failed" in finding.actual


def test_steps_of_interfaces_not_enabled_are_not_run(make_host, exchanges):
    stop = exchanges["stop"]
    assert exchange_enabled(stop, {"IF-063", "IF-061"})
    assert not exchange_enabled(stop, {"IF-061", "IF-062", "IF-064", "IF-065"})  # it opens with an IF-063
    host = make_host("MDR")
    result = run_exchange(host, stop, "MDR-5.3/exchange/stop", enabled={"IF-061", "IF-062", "IF-063", "IF-064"})
    assert result, [str(f) for f in result.findings]
    assert {o.name: o.status for o in result.steps} == {
        "stop-unstarted": "pass", "start": "pass", "start-response": "pass", "consumption": "pass", "stop": "pass",
        "consumption-request-after-stop": "not-enabled", "no-consumption-after-stop": "pass",
        "no-consumption-unstarted": "pass"}
    host.enabled_interfaces = {"IF-061", "IF-062"}  # the host may carry the enabled set itself
    result = run_exchange(host, exchanges["start-and-consume"], "MDR-5.3/exchange/start-and-consume")
    assert [o.status for o in result.steps] == ["pass", "pass", "not-enabled"]
    events = [r["data"] for r in read_records(host.recorder.path) if r["kind"] == "event"
              and r["event"] == "exchange.step"]
    assert {(e["step"], e["status"]) for e in events} == {("consumption-request-after-stop", "not-enabled"),
                                                          ("consumption", "not-enabled")}


def test_without_a_recorder_the_runner_returns_findings(make_host, exchanges):
    host = make_host("MDR", mdr_faults=["wrong-measurement-quantity"], recorder=False)
    result = run_exchange(host, exchanges["start-and-consume"], "MDR-5.3/exchange/start-and-consume")
    [finding] = result.findings
    assert finding.rule == "exchange.measurement-quantity"
    assert finding.path == "/0/payload/CustomBlock/B045/measurementQuantityID"
    assert json.loads(json.dumps(finding.to_dict()))["expected"] == "AI"


# --- issue 14: stricter exchange judgement ------------------------------------------------------------

@pytest.mark.parametrize("role, fault, exchange, rule, where", [
    ("MDR", "consumption-today", "start-and-consume", "consumption.complete-days", "/settlementDay/settlementDayDate"),
    ("MDR", "answer-wrong-request", "on-demand-reads", "exchange.correlation", "/S1/senderCorrelationID"),
    ("MDR", "reply-wrong-transaction", "start-and-consume", "exchange.reply", "/messageArray/0/transactionID"),
    ("SDS", "reply-wrong-transaction", "start-and-consume", "exchange.reply", "/messageArray/0/transactionID"),
    ("MDR", "stop-unknown-consumption", "stop", "exchange.unstarted", "/M0/MPANCore"),
    ("MDR", "wrong-environment", "reject", "environment.tag", "/S1/environmentTag"),
    ("SDS", "wrong-environment", "on-demand-reads", "environment.tag", "/S1/environmentTag"),
])
def test_issue_14_faults_break_their_exchange_rule(make_host, exchanges, role, fault, exchange, rule, where):
    assert next(f.breaks for f in load_faults() if f.name == fault) == rule
    faults = {"mdr_faults" if role == "MDR" else "sds_faults": [fault]}
    host = make_host(role, recorder=False, **faults)
    host.environment = "UIT"
    result = run_exchange(host, exchanges[exchange], f"{role}-x/exchange/{exchange}")
    assert not result and result.failed_rules == {rule}, [str(f) for f in result.findings]
    assert all(f.rule == rule and f.path.endswith(where) and f.message for f in result.findings)


def test_an_answer_to_another_request_names_the_request_it_answers(make_host, exchanges):
    host = make_host("MDR", mdr_faults=["answer-wrong-request"], recorder=False)
    result = run_exchange(host, exchanges["on-demand-reads"], "MDR-5.3/exchange/on-demand-reads")
    first = result.findings[0]
    assert "answers another message" in first.message and "request step 'instantaneous'" in first.message
    assert first.extra["assumption"] == "A-CORRELATION" and "provisional" in first.message


def test_consumption_rests_on_named_assumptions_and_is_marked_so(make_host, exchanges):
    host = make_host("MDR", mdr_faults=["47-periods"], recorder=False)
    result = run_exchange(host, exchanges["start-and-consume"], "MDR-5.3/exchange/start-and-consume")
    assert result.findings and result.failed_rules == {"periods.count"}
    for finding in result.findings:
        assert finding.severity == "error" and finding.extra["assumption"] == "A-PERIODS-48"
    assert set(exchanges["start-and-consume"].assumptions()) == {"A-CORRELATION", "A-ECHO", "A-PERIODS-48",
                                                                 "A-COMPLETE-DAYS"}


def test_scheduled_consumption_is_asked_for_through_the_trigger_and_the_finding_says_so(make_host, exchanges):
    host = make_host("MDR", mdr_faults=["no-consumption-trigger"], step_timeout=1.0, recorder=False)
    result = run_exchange(host, exchanges["start-and-consume"], "MDR-5.3/exchange/start-and-consume")
    [finding] = result.findings
    assert finding.rule == "exchange.timeout"
    assert "through its IF-064 trigger" in finding.message and 'consumption = "triggered"' in finding.message
    assert [o.status for o in result.steps] == ["pass", "pass", "fail"]


@pytest.mark.parametrize("spontaneous", [True, False], ids=["mdr-sends-unprompted", "mdr-waits-for-its-schedule"])
def test_spontaneous_consumption_is_waited_for_within_its_window(make_host, exchanges, spontaneous):
    from types import SimpleNamespace

    from harness.config.profile import ExchangeSettings

    host = make_host("MDR", recorder=False)
    host.refs["MDR"].behaviour.spontaneous_consumption = spontaneous
    host.profile = SimpleNamespace(exchange=ExchangeSettings("spontaneous", 0.5), environment="UIT")
    result = run_exchange(host, exchanges["start-and-consume"], "MDR-5.3/exchange/start-and-consume")
    assert not any(spec["interface"] == "IF-064" for spec in host.sent)  # never asked
    if spontaneous:
        assert result, [str(f) for f in result.findings]
    else:
        [finding] = result.findings
        assert finding.rule == "exchange.timeout" and "unprompted" in finding.message \
            and "within 0.5 s" in finding.message


def test_an_exchange_the_party_took_no_part_in_never_passes(make_host, exchanges):
    start = exchanges["start-and-consume"]
    assert exchange_enabled(start, {"IF-061", "IF-062", "IF-064"}, "MDR")
    assert not exchange_enabled(start, {"IF-061", "IF-063"}, "MDR")  # the MDR would send nothing
    assert not exchange_enabled(start, {"IF-061", "IF-062"}, "MDR")  # nor its consumption
    assert exchange_enabled(start, {"IF-061"}, "SDS")  # the SDS sends its request; what it receives may be off
    host = make_host("MDR", recorder=False)
    result = run_exchange(host, start, "MDR-5.3/exchange/start-and-consume", enabled={"IF-061", "IF-063"})
    assert [o.status for o in result.steps] == ["pass", "not-enabled", "not-enabled"]
    assert not result and result.failed_rules == {"exchange.vacuous"}
    assert "performed none of its own steps" in result.findings[0].message


def test_requests_without_their_answers_are_derived_from_the_definitions(exchanges):
    from harness.config.exchanges import unanswered_requests

    gaps = {(req, ans): names for req, ans, names in unanswered_requests({"IF-061", "IF-063"}, exchanges.values())}
    assert gaps == {("IF-061", "IF-062"): ["reject", "start-and-consume", "stop"],
                    ("IF-061", "IF-064"): ["start-and-consume", "stop"]}
    assert ("IF-065", "IF-064") in {(r, a) for r, a, _ in unanswered_requests({"IF-065"}, exchanges.values())}
    assert unanswered_requests({"IF-061", "IF-062", "IF-064", "IF-065"}, exchanges.values()) == []


def test_a_request_the_dip_refuses_fails_at_once_with_the_dips_code(make_host, exchanges):
    host = make_host("SDS", sds_faults=["wrong-role"], step_timeout=5.0, recorder=False)
    ended: list[tuple[float, object]] = []  # (bound, what ended the wait) of every hub wait

    def spy(condition, timeout, _original=host.hub.wait_until):
        found = _original(condition, timeout)
        ended.append((timeout, found))
        return found

    host.hub.wait_until = spy
    result = run_exchange(host, exchanges["start-and-consume"], "SDS-6.3/exchange/start-and-consume")
    # not the 5 s bound: the request's wait ended on the DIP's refusal, and nothing else was waited for
    # but (issue 15) the stream reaching the DIP's head once the trigger answered (RemoteHub.sync), at once
    *synced, (bound, found) = ended
    assert [f for _, f in synced] in ([], [True])
    assert bound in (0.0, 5.0) and found is not None and found[0] == "rejected"  # 0: the trigger said it failed
    assert result.failed_rules == {"exchange.request"}
    [finding] = [f for f in result.findings if f.rule == "hub.sender-role"]
    assert "the DIP refused it (MSG1010)" in finding.message and finding.extra["codes"] == ["MSG1010"]
