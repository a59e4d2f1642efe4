"""The paired exchange: definitions as data and the runner, between both reference participants
through a real Hub on 127.0.0.1.

The host below implements the runner's host protocol (`harness.exchange.ExchangeHost`) the way a
certification run does: the party under test and its partner are triggered over HTTP, the hub
records its traffic into a real evidence log. Each MDR fault switch that breaks an exchange rule
must make exactly that rule fail, with a finding naming the rule, the message and the JSON path.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from harness.errors import ConfigError
from harness.evidence.recorder import Recorder, read_records
from harness.exchange import (Exchange, exchange_enabled, load_exchange, load_exchanges, resolve_fields,
                              run_exchange)
from harness.messages.samples import DEFAULT_PARTIES
from harness.reference.faults import load_faults
from harness.reference.participant import ReferenceParticipant
from harness.run.triggers import SendResult, trigger_spec
from harness.transport.certs import cached_key, make_ca
from harness.transport.delivery import Timeouts
from harness.transport.hub import DeliverySettings, Hub, HubConfig, PartyRegistration

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
        hub = Hub(HubConfig(identity=pki["dip"], delivery=settings), recorder=rec).start()
        opened.append(hub)
        for party in (MDR, SDS):
            hub.register_party(PartyRegistration(party.dip_id, party.role, party.mpid, API_KEYS[party.role],
                                                 pki[party.role].certificate))
        refs = {}
        for r, party, partner, faults in (("MDR", MDR, SDS, mdr_faults), ("SDS", SDS, MDR, sds_faults)):
            refs[r] = ReferenceParticipant(r, party=party, partner=partner, hub_url=hub.base_url,
                                           api_keys=API_KEYS[r], identity=pki[r],
                                           dip_certificate=pki["dip"].certificate, faults=faults,
                                           register_webhooks=True).start()
            opened.append(refs[r])
        return RefHost(role, hub, refs, rec, step_timeout)

    yield make
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
    ("title = 't'\n[[step]]\nname = 'a'\ninterface = 'IF-099'\nexpect = 'request'\n", "step[0]: key 'interface'/'event'"),
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
    assert ("exchange.delivery" in by_rule) is (role == "SDS")
    # Every judged message is a hub-inbound record in the same evidence log.
    records = {r["seq"]: r for r in read_records(host.recorder.path)}
    judged = {seq for c in checks for seq in c["messages"]}
    assert judged and all(records[s]["kind"] == "http" for s in judged)
    assert {records[s]["channel"] for s in judged} >= {"hub-inbound"}
    # One correlation id per exchange, carried on each SDS request.
    assert all(spec.get("correlation_id", "").startswith("CI-") for spec in host.sent)
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
    assert exchange_enabled(stop, {"IF-061", "IF-062"})
    assert not exchange_enabled(stop, {"IF-063", "IF-064", "IF-065"})
    host = make_host("MDR")
    result = run_exchange(host, stop, "MDR-5.3/exchange/stop", enabled={"IF-061", "IF-062", "IF-063", "IF-064"})
    assert result, [str(f) for f in result.findings]
    assert {o.name: o.status for o in result.steps} == {
        "start": "pass", "start-response": "pass", "consumption": "pass", "stop": "pass",
        "consumption-request-after-stop": "not-enabled", "no-consumption-after-stop": "pass"}
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
