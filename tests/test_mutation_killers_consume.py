"""The consume judges' own bodies, now that mutmut mutates them (issue 21).

The judges were registered with `@judge(...)`, and mutmut never mutates a decorated function: their
defaults (no `what`, no `timeout`), the status range of a party's `/statusmessage` and the answers
a replay check counts were never put to the test. Each test builds the DIP's transcript records (as
tests/test_mutation_killers_judges.py does) and asserts the exact findings.
"""

from __future__ import annotations

import copy
import threading

from test_mutation_killers_judges import (
    LABEL,
    MDR,
    Checks,
    Session,
    _reject_args,
    _replay_case,
    attempt,
    egress,
    judge,
    record,
    reply,
    status_message,
    tx_of,
)

from harness.config.profile import load_profile
from harness.core.findings import Finding
from harness.judges import attacks
from harness.judges.consume import event_of
from harness.run.context import RunContext
from harness.run.demo import make_pki, profile_text
from harness.transport.responses import response_entry


def test_a_check_without_what_or_timeout_reads_delivery_and_zero_seconds():
    items = [egress(), egress()]
    # a split batch whose two POSTs both went unanswered: both reasons, joined by "; "
    halves = [attempt(1, items[:1], None, error="timeout: ReadTimeout"),
              attempt(2, items[1:], None, error="connection: ConnectError: refused", batch=1)]
    detail = ("batch 0: no reply after 1 attempt(s): timeout: ReadTimeout; "
              "batch 1: no reply after 1 attempt(s): connection: ConnectError: refused")
    assert judge("consume.accepted", halves, {"attempts": [1, 2]}) == [Finding(
        "consume.timeout", "", "an answer within 0 s", detail,
        f"delivery: the webhook did not answer within 0 s ({detail})")]


def test_a_hostile_delivery_no_record_shows_is_not_refused_and_says_no_answer():
    attack = attacks.ATTACKS[0]
    assert judge("consume.refused", [], {"attempts": [1], "attack": attack.step, "label": LABEL}) == [Finding(
        attack.rule, f"header:{attack.header}", "HTTP 400/401/403 or RCP9999 for every message", "no answer",
        f"{LABEL}: {attack.what} was not refused cleanly (no answer); the webhook must {attack.must}, and answer "
        "401 (or 400/403) or RCP9999")]


def test_a_rejection_check_without_a_timeout_says_zero_seconds():
    items = [egress()]
    args = {k: v for k, v in _reject_args(items).items() if k != "timeout"}
    [finding] = judge("consume.recipient-rejection", [attempt(1, items, 201, reply(items, "RCP0000"))], args)
    assert finding.message == (f"{LABEL}: an MPAN core with a wrong check digit was accepted; a recipient must "
                               "reject it with RCP1061, in the reply or by /statusmessage within 0 s (assumption "
                               "A-RECIPIENT-REJECTS)")


def test_a_status_message_counts_on_any_2xx_the_dip_gave_it_and_only_as_the_partys_inbound_call():
    items = [egress()]
    accepted = attempt(1, items, 201, reply(items, "RCP0000"))
    args = _reject_args(items)
    entry = response_entry("RCP1061", transaction_id=tx_of(items[0]), sender_id=MDR.dip_id)
    for status in (200, 201, 299):
        assert judge("consume.recipient-rejection", [accepted, status_message(2, [entry], status=status)], args) == []
    # a 3xx from the DIP, or a record that is not the party's inbound call, is no status message
    not_it = [status_message(2, [entry], status=300),
              record(2, "delivery", endpoint="statusmessage", status=201, caller=MDR.dip_id, request=[entry])]
    for other in not_it:
        [finding] = judge("consume.recipient-rejection", [accepted, other], args)
        assert (finding.rule, finding.actual) == ("consume.recipient-rejection", "HTTP 201, RCP0000")


def test_a_replay_check_names_each_wanted_answer_and_ignores_malformed_ones():
    request, _, args = _replay_case()
    args = {k: v for k, v in args.items() if k != "timeout"}
    args["answers"] = [["IF-062", "MDRStartResponse"], ["IF-062", "MDRStopResponse"], ["IF-063", "X", "extra"], "ab"]
    what = "IF-062 [MDRStartResponse] or IF-062 [MDRStopResponse]"
    assert judge("consume.replay-once", [attempt(1, [request], 201, reply([request], "RCP0000"))], args) == [Finding(
        "consume.replay-processed", "", f"{what} answering the first delivery", "none",
        f"{LABEL}: no {what} answering the first delivery reached the DIP within 0 s, so whether the replay was "
        "processed again could not be observed", "warning")]


def test_an_event_the_catalogue_does_not_have_is_no_event():
    item = egress()
    unknown = copy.deepcopy(item)
    unknown["payload"]["CommonBlock"]["S0"]["eventCode"] = "ZZZZ"
    elsewhere = copy.deepcopy(item)
    elsewhere["payload"]["CommonBlock"]["S0"]["interfaceID"] = "IF-999"
    assert event_of(item) == ("IF-061", "MDRStart")
    assert event_of(unknown) is None and event_of(elsewhere) is None


def test_every_step_of_a_requirement_runs_at_once_on_the_run_s_reused_step_threads(tmp_path) -> None:
    """consume's batch, replay and hostile deliveries run at once (none waits for a thread, even with
    `parallel = 1`), on threads the run starts once and reuses for the next requirement."""
    pki = make_pki(tmp_path)
    path = pki.folder / "mdr.toml"
    path.write_text(profile_text("MDR", pki, hub_port=9, port=9, timeout=0.5, parallel=1), encoding="utf-8")
    ctx = RunContext(load_profile(path), hub=Session(), recorder=Checks(), timeout=0.5, run_id="steps")
    steps = len(attacks.ATTACKS) + 2
    together = threading.Barrier(steps, timeout=10)

    def step() -> threading.Thread:
        together.wait()  # broken (an error) unless every step runs at the same time
        return threading.current_thread()

    try:
        first = ctx.concurrently([step] * steps)
        again = ctx.concurrently([step] * steps)
    finally:
        ctx.close()
    assert len(set(first)) == steps
    assert set(again) == set(first)
    assert not any(thread.is_alive() for thread in first)  # close() ended them
