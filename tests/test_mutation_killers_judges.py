"""The consume and produce judges (harness/run/consume.py, produce.py) on scripted answers (issue 21).

A real RunContext on the reference MDR's profile, with the network replaced: `deliver` returns what a
scripted webhook would have answered, `send` what a trigger would have, and the hub holds the
submissions, rejections and status messages a participant would have sent. Each test changes one
answer and asserts the exact verdicts and findings, so a broken judge cannot pass unnoticed. The
end-to-end runs (tests/test_run.py) show the same judges against the real reference participants.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from harness.findings import Finding
from harness.messages.ids import correlation_id, is_valid_mpan, mpan_check_digit, parse_dip_timestamp
from harness.profile import load_profile
from harness.run import consume, produce
from harness.run.context import DEFAULT_BATCH, RunContext
from harness.run.demo import make_pki, profile_text
from harness.run.planning import certification_plan
from harness.run.triggers import SendResult
from harness.transport.delivery import Attempt, DeliveryResult, WebhookConfig
from harness.transport.hub import Rejection, StatusMessage, Submission
from harness.transport.signing import SigningIdentity

UTC = timezone.utc


@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    path = pki.folder / "mdr.toml"
    path.write_text(profile_text("MDR", pki, hub_port=9, port=9, timeout=0.5), encoding="utf-8")
    return load_profile(path), pki


class Hub:
    """What the judges read from the simulated DIP; a wait returns at once (nothing changes later)."""

    def __init__(self, identity: SigningIdentity) -> None:
        self.identity = identity
        self.submissions: list[Submission] = []
        self.refused: list[Rejection] = []
        self.statuses: list[StatusMessage] = []
        self.waits: list[float] = []

    def webhook(self, dip_id: str, interface_id: str) -> WebhookConfig | None:
        return None

    def received(self) -> list[Submission]:
        return list(self.submissions)

    def rejections(self) -> list[Rejection]:
        return list(self.refused)

    def status_messages(self) -> list[StatusMessage]:
        return list(self.statuses)

    def wait_until(self, condition, timeout: float):
        self.waits.append(timeout)
        return condition() or None


def reply(status: int | None = 201, codes: list[str] | None = None, *, outcome: str | None = None,
          findings: list[Finding] | None = None, batches: int = 1, seq: int = 7) -> DeliveryResult:
    outcome = outcome or ("accepted" if status == 201 else "timeout" if status is None else "rejected")
    attempt = Attempt(1, 1, status, None, 0.01, b"", False, 1, seq=seq)
    return DeliveryResult(outcome, 1, status, findings or [], [attempt], codes if codes is not None else ["RCP0000"],
                          batches)


class Script:
    """deliver(): answers by step; records every delivery."""

    def __init__(self, **answers: DeliveryResult) -> None:
        self.answers = answers
        self.calls: list[dict[str, Any]] = []

    def __call__(self, url: str, items: list[dict], *, config=None, identity=None, context=None) -> DeliveryResult:
        self.calls.append({"url": url, "items": copy.deepcopy(items), "identity": identity, "config": config,
                           "step": context["step"], "context": dict(context)})
        step, seq = context["step"], 100 + len(self.calls)
        if step in self.answers:
            return dataclasses.replace(self.answers[step], responses=[dataclasses.replace(
                a, seq=seq) for a in self.answers[step].responses])
        if step in ("bad-mpan", "future-timestamp"):
            code = "RCP1061" if step == "bad-mpan" else "RCP1008"
            return reply(400, [code], seq=seq)
        if step == "bad-signature":
            return reply(401, ["RCP9999"], seq=seq)
        return reply(201, ["RCP0000"] * len(items), seq=seq)


class Checks:
    """The recorder as the judges use it: every check with its evidence seqs and data."""

    def __init__(self) -> None:
        self.checks: list[tuple] = []

    def check(self, requirement, rule, passed, findings=(), messages=(), **data) -> int:
        self.checks.append((requirement, rule, passed, list(messages), data))
        return len(self.checks)


def make_ctx(profile, script: Script | None = None) -> tuple[RunContext, Hub]:
    prof, pki = profile
    hub = Hub(pki.dip)
    ctx = RunContext(prof, hub=hub, recorder=Checks(), timeout=0.5, run_id="judges")
    ctx.deliver = script or Script()  # type: ignore[method-assign]
    return ctx, hub


def recorded(ctx: RunContext) -> list[tuple]:
    return ctx.recorder._recorder.checks  # type: ignore[union-attr]


def requirement(ctx: RunContext, rid_part: str):
    return next(r for r in certification_plan(ctx.profile) if rid_part in r.id)


def outcomes(ctx: RunContext) -> list[tuple[str, bool]]:
    return [(o.rule, o.passed) for o in ctx.outcomes]


# --- consume ------------------------------------------------------------------------------------------

CONSUME = "IF-061/consume"


def test_a_requirement_without_interface_and_event_is_a_programming_error(profile):
    ctx, _ = make_ctx(profile)
    for req in (dataclasses.replace(requirement(ctx, CONSUME), event=None),
                dataclasses.replace(requirement(ctx, CONSUME), interface=None)):
        for judge in (consume.run_consume, consume.run_smoke, produce.run_produce):
            with pytest.raises(AssertionError):
                judge(ctx, req)


def test_a_participant_that_consumes_correctly_passes_every_step(profile):
    script = Script()
    ctx, hub = make_ctx(profile, script)
    req = requirement(ctx, CONSUME)
    assert consume.run_consume(ctx, req) is True
    assert outcomes(ctx) == [("consume.single", True), ("consume.batch", True), ("consume.replay", True),
                             ("consume.bad-signature", True), ("consume.recipient-rejection", True),
                             ("consume.recipient-rejection", True)]
    assert all(o.requirement == req.id and o.findings == [] for o in ctx.outcomes)
    assert recorded(ctx) == [
        (req.id, "consume.single", True, [101], {"step": "single"}),
        (req.id, "consume.batch", True, [102], {"step": "batch", "size": DEFAULT_BATCH}),
        (req.id, "consume.replay", True, [103], {"step": "replay"}),
        (req.id, "consume.bad-signature", True, [104], {"step": "bad-signature", "expected_valid": True}),
        (req.id, "consume.recipient-rejection", True, [105],
         {"step": "bad-mpan", "expected_valid": False, "expected_code": "RCP1061"}),
        (req.id, "consume.recipient-rejection", True, [106],
         {"step": "future-timestamp", "expected_valid": False, "expected_code": "RCP1008"})]
    sender = ctx.sender_for("IF-061", req.event)
    for call in script.calls:
        for item in call["items"]:
            common = item["payload"]["CommonBlock"]
            assert common["S0"] == {**common["S0"], "interfaceID": "IF-061", "eventCode": f"[{req.event}]"}
            assert (common["S1"]["senderDIPID"], common["S1"]["senderRoleID"]) == (sender.dip_id, sender.role)
            assert common["A0"]["primaryRecipients"] == [ctx.me.dip_id] and "D0" in common
    steps = [c["step"] for c in script.calls]
    assert steps == ["single", "batch", "replay", "bad-signature", "bad-mpan", "future-timestamp"]
    assert all(c["context"] == {"requirement": req.id, "interface": "IF-061", "event": req.event, "step": c["step"]}
               for c in script.calls)
    url = ctx.webhook("IF-061").callback_url
    assert all(c["url"] == url and len(c["items"]) == (DEFAULT_BATCH if c["step"] == "batch" else 1)
               for c in script.calls)
    first, replayed = script.calls[0]["items"][0], script.calls[2]["items"][0]
    common = first["payload"]["CommonBlock"]
    assert common["D0"]["replayIndicator"] is False and replayed["payload"]["CommonBlock"]["D0"]["replayIndicator"]
    assert dict(replayed, payload={**replayed["payload"], "CommonBlock": {**replayed["payload"]["CommonBlock"],
                                                                          "D0": common["D0"]}}) == first
    me = ctx.me.dip_id
    assert all(c["items"][0]["payload"]["CommonBlock"]["A0"]["primaryRecipients"] == [me] for c in script.calls)
    batch = script.calls[1]["items"]
    assert len({b["payload"]["CommonBlock"]["D0"]["transactionID"] for b in batch}) == DEFAULT_BATCH
    impostor = script.calls[3]["identity"]
    assert impostor.certificate == hub.identity.certificate and impostor.private_key is not hub.identity.private_key
    assert all(c["identity"] is None for i, c in enumerate(script.calls) if i != 3)
    bad_mpan = script.calls[4]["items"][0]["payload"]["CommonBlock"]["M0"]["MPANCore"]
    assert not is_valid_mpan(bad_mpan) and is_valid_mpan(bad_mpan[:12] + str(mpan_check_digit(bad_mpan[:12])))
    stamp = parse_dip_timestamp(script.calls[5]["items"][0]["payload"]["CommonBlock"]["S1"]["senderTimestamp"])
    assert stamp - datetime.now(UTC) > timedelta(hours=23)
    assert is_valid_mpan(common["M0"]["MPANCore"])


def test_the_batch_is_capped_by_the_webhooks_message_count(profile):
    script = Script()
    ctx, hub = make_ctx(profile, script)
    hub.webhook = lambda dip_id, interface_id: WebhookConfig("https://127.0.0.1:9/hook", 2, None)  # type: ignore
    consume.run_consume(ctx, requirement(ctx, CONSUME))
    assert [len(c["items"]) for c in script.calls] == [1, 2, 1, 1, 1, 1]
    assert script.calls[1]["config"].max_message_count == 2
    script = Script()
    ctx, hub = make_ctx(profile, script)
    hub.webhook = lambda dip_id, interface_id: WebhookConfig("https://127.0.0.1:9/hook", 50, None)  # type: ignore
    consume.run_consume(ctx, requirement(ctx, CONSUME))
    assert len(script.calls[1]["items"]) == DEFAULT_BATCH


def test_no_webhook_is_one_finding(profile):
    ctx, hub = make_ctx(profile)
    ctx.webhook = lambda interface_id: None  # type: ignore[method-assign]
    req = requirement(ctx, CONSUME)
    assert consume.run_consume(ctx, req) is False
    assert recorded(ctx) == [(req.id, "consume.webhook", False, [], {})]
    [outcome] = ctx.outcomes
    assert (outcome.rule, outcome.passed) == ("consume.webhook", False)
    assert outcome.findings == [Finding("consume.webhook", "webhooks.IF-061", "a webhook URL for this interface",
                                        "none", "no webhook is configured or registered for IF-061: nothing can "
                                        "be delivered")]


@pytest.mark.parametrize("answer, rule", [
    (reply(None, [], findings=[Finding("delivery.timeout", "", "", "", "read timed out")]), "consume.timeout"),
    (reply(None, [], outcome="failed", findings=[Finding("delivery.connection", "", "", "", "refused")]),
     "consume.connection"),
])
def test_no_answer_to_the_first_delivery_ends_the_requirement(profile, answer, rule):
    script = Script(single=answer)
    ctx, _ = make_ctx(profile, script)
    req = requirement(ctx, CONSUME)
    assert consume.run_consume(ctx, req) is False
    assert outcomes(ctx) == [("consume.single", False)] and len(script.calls) == 1
    [finding] = ctx.outcomes[0].findings
    assert finding.rule == rule and finding.path == ""
    detail = answer.findings[0].message
    if rule == "consume.timeout":
        assert finding.expected == "an answer within 0.5 s" and finding.actual == detail
        assert finding.message == f"IF-061 [{req.event}] single delivery: the webhook did not answer within 0.5 s ({detail})"
    else:
        assert finding.expected == "a connection to the webhook (TCP, TLS)" and finding.actual == detail
        assert finding.message == f"IF-061 [{req.event}] single delivery: the webhook could not be reached ({detail})"


def test_no_answer_without_a_reason_says_no_reply(profile):
    script = Script(single=reply(None, [], outcome="failed"))
    ctx, _ = make_ctx(profile, script)
    consume.run_consume(ctx, requirement(ctx, CONSUME))
    assert ctx.outcomes[0].findings[0].actual == "no reply"


@pytest.mark.parametrize("answer, actual, detail", [
    (reply(500, []), "HTTP 500", ""),
    (reply(201, ["RCP1003"], outcome="accepted"), "HTTP 201, codes RCP1003", ""),
    (reply(400, ["RCP1061"], findings=[Finding("response.count", "", "", "", "one entry per message"),
                                       Finding("x.warn", "", "", "", "only a warning", "warning")]),
     "HTTP 400, codes RCP1061", "; response.count: one entry per message"),
])
def test_a_delivery_not_consumed_is_a_status_finding(profile, answer, actual, detail):
    script = Script(single=answer, batch=answer)
    ctx, _ = make_ctx(profile, script)
    req = requirement(ctx, CONSUME)
    assert consume.run_consume(ctx, req) is False
    single, batch = ctx.outcomes[0], ctx.outcomes[1]
    assert (single.rule, single.passed, batch.rule, batch.passed) == ("consume.single", False, "consume.batch", False)
    [finding] = single.findings
    assert finding == Finding("consume.status", "", "HTTP 201 with a StandardResponse, RCP0000 for every message",
                              actual, f"IF-061 [{req.event}] single delivery: not consumed (HTTP {answer.status}"
                              f"{detail})", extra={"codes": answer.codes})
    assert batch.findings[0].message.startswith(f"IF-061 [{req.event}] batch of {DEFAULT_BATCH}: not consumed")
    assert [o.rule for o in ctx.outcomes][2:] == ["consume.replay", "consume.bad-signature",
                                                  "consume.recipient-rejection", "consume.recipient-rejection"]


def test_a_split_batch_is_a_warning_only(profile):
    script = Script(batch=reply(201, ["RCP0000"] * DEFAULT_BATCH, batches=2))
    ctx, _ = make_ctx(profile, script)
    assert consume.run_consume(ctx, requirement(ctx, CONSUME)) is True
    batch = ctx.outcomes[1]
    assert batch.passed and batch.findings == [Finding("consume.status", "", "one POST", "2 POSTs",
                                                       "the batch was split", "warning")]


def test_a_refused_replay_fails_the_replay_step(profile):
    script = Script(replay=reply(400, ["RCP1047"]))
    ctx, _ = make_ctx(profile, script)
    req = requirement(ctx, CONSUME)
    assert consume.run_consume(ctx, req) is False
    replay = ctx.outcomes[2]
    assert (replay.rule, replay.passed) == ("consume.replay", False)
    [finding] = replay.findings
    assert finding.rule == "consume.replay" and finding.actual == "HTTP 400, codes RCP1047"
    assert finding.message == f"replay: IF-061 [{req.event}] replayed delivery: not consumed (HTTP 400)"
    assert finding.extra == {"codes": ["RCP1047"]}
    assert [o.passed for o in ctx.outcomes] == [True, True, False, True, True, True]


@pytest.mark.parametrize("answer, ok", [
    (reply(401, ["RCP9999"]), True), (reply(400, []), True), (reply(403, []), True),
    (reply(200, ["RCP9999", "RCP9999"], outcome="rejected"), True),
    (reply(201, ["RCP0000"]), False), (reply(207, ["RCP9999", "RCP0000"], outcome="partial"), False),
    (reply(404, []), False), (reply(500, []), False), (reply(None, [], outcome="failed"), False),
])
def test_a_badly_signed_delivery_must_be_refused(profile, answer, ok):
    script = Script(**{"bad-signature": answer})
    ctx, _ = make_ctx(profile, script)
    req = requirement(ctx, CONSUME)
    assert consume.run_consume(ctx, req) is ok
    step = ctx.outcomes[3]
    assert (step.rule, step.passed) == ("consume.bad-signature", ok)
    if not ok:
        [finding] = step.findings
        assert (finding.rule, finding.path, finding.expected) == (
            "consume.bad-signature-accepted", "header:X-DIP-Signature", "HTTP 400/401/403 or RCP9999")
        if answer.status is None or answer.status >= 500:
            assert finding.actual == f"HTTP {answer.status}"
            assert finding.message == (f"IF-061 [{req.event}]: a badly signed delivery was not refused cleanly "
                                       f"(HTTP {answer.status})")
        else:
            assert finding.actual == f"HTTP {answer.status}, codes {answer.codes}"
            assert finding.message == (f"IF-061 [{req.event}]: a delivery whose X-DIP-Signature does not verify "
                                       f"with the DIP's certificate was accepted")


def _tx(script: Script, step: str) -> str:
    call = next(c for c in script.calls if c["step"] == step)
    return call["items"][0]["payload"]["CommonBlock"]["D0"]["transactionID"]


def test_a_rejection_may_come_in_the_reply_or_later_by_status_message(profile):
    script = Script(**{"bad-mpan": reply(201, ["RCP0000"]), "future-timestamp": reply(201, ["RCP0000"])})
    ctx, hub = make_ctx(profile, script)
    me = ctx.me.dip_id
    original = hub.wait_until

    def status_arrives(condition, timeout):  # the participant reports after its 201, as a DIP would relay it
        tx = _tx(script, script.calls[-1]["step"])
        code = "RCP1061" if script.calls[-1]["step"] == "bad-mpan" else "RCP1008"
        hub.statuses.append(StatusMessage("1999999999", [{"transactionID": tx}], [code], datetime.now(UTC), b""))
        hub.statuses.append(StatusMessage(me, [{"transactionID": "T-other"}], [code], datetime.now(UTC), b""))
        hub.statuses.append(StatusMessage(me, ["not an entry"], [code], datetime.now(UTC), b""))
        hub.statuses.append(StatusMessage(me, [{"transactionID": tx}], ["RCP0000"], datetime.now(UTC), b""))
        found = original(condition, timeout)
        assert found is None  # none of those is the participant's report of this message
        hub.statuses.append(StatusMessage(me, [{"transactionID": tx}], [code], datetime.now(UTC), b""))
        return original(condition, timeout)

    hub.wait_until = status_arrives  # type: ignore[method-assign]
    assert consume.run_consume(ctx, requirement(ctx, CONSUME)) is True
    assert hub.waits == [0.5, 0.5, 0.5, 0.5]  # bounded by the step timeout


def test_a_rejection_that_never_comes_is_named(profile):
    script = Script(**{"bad-mpan": reply(201, ["RCP0000"])})
    ctx, hub = make_ctx(profile, script)
    req = requirement(ctx, CONSUME)
    assert consume.run_consume(ctx, req) is False
    step = ctx.outcomes[4]
    assert (step.rule, step.passed) == ("consume.recipient-rejection", False)
    tx = _tx(script, "bad-mpan")
    assert step.findings == [Finding(
        "consume.recipient-rejection", "/0/payload/CommonBlock", "RCP1061", "HTTP 201, RCP0000",
        f"IF-061 [{req.event}]: an MPAN core with a wrong check digit was accepted; a recipient must reject it "
        f"with RCP1061 (in the reply or via /statusmessage within 0.5 s)", extra={"transactionID": tx})]
    assert hub.waits == [0.5] and ctx.outcomes[5].passed


@pytest.mark.parametrize("answer, actual, said", [
    (reply(400, ["RCP1003"]), "HTTP 400, RCP1003", "RCP1003"),
    (reply(400, []), "HTTP 400, no code", "no code"),
    (reply(207, ["RCP0000", "RCP1002"], outcome="partial"), "HTTP 207, RCP0000, RCP1002", "RCP0000, RCP1002"),
])
def test_a_rejection_with_the_wrong_code_is_named(profile, answer, actual, said):
    script = Script(**{"future-timestamp": answer})
    ctx, hub = make_ctx(profile, script)
    req = requirement(ctx, CONSUME)
    assert consume.run_consume(ctx, req) is False
    tx = _tx(script, "future-timestamp")
    assert ctx.outcomes[5].findings == [Finding(
        "consume.recipient-rejection", "/0/payload/CommonBlock", "RCP1008", actual,
        f"IF-061 [{req.event}]: a senderTimestamp a day in the future was rejected with {said}, expected RCP1008",
        extra={"transactionID": tx})]
    assert hub.waits == []  # a refusal is final: nothing to wait for


def test_no_answer_to_a_message_to_reject(profile):
    script = Script(**{"bad-mpan": reply(None, [], outcome="failed")})
    ctx, _ = make_ctx(profile, script)
    req = requirement(ctx, CONSUME)
    consume.run_consume(ctx, req)
    assert ctx.outcomes[4].findings == [Finding("consume.timeout", "", "an answer within 0.5 s", "no reply",
                                                f"IF-061 [{req.event}]: no answer to an MPAN core with a wrong "
                                                "check digit")]


def test_the_smoke_test_is_one_delivery(profile):
    script = Script()
    ctx, _ = make_ctx(profile, script)
    req = dataclasses.replace(requirement(ctx, CONSUME), id="MDR-5.4/IF-061/smoke")
    assert consume.run_smoke(ctx, req) is True
    assert recorded(ctx) == [(req.id, "consume.single", True, [101], {"step": "smoke"})]
    common = script.calls[0]["items"][0]["payload"]["CommonBlock"]
    sender = ctx.sender_for("IF-061", req.event)
    assert common["S0"]["eventCode"] == f"[{req.event}]" and common["S1"]["senderDIPID"] == sender.dip_id
    assert script.calls[0]["config"] == ctx.webhook("IF-061") and script.calls[0]["url"] == ctx.webhook(
        "IF-061").callback_url
    assert [c["step"] for c in script.calls] == ["smoke"]
    assert script.calls[0]["context"] == {"requirement": req.id, "interface": "IF-061", "event": req.event,
                                          "step": "smoke"}
    assert script.calls[0]["items"][0]["payload"]["CommonBlock"]["A0"]["primaryRecipients"] == [ctx.me.dip_id]
    script = Script(smoke=reply(500, []))
    ctx, _ = make_ctx(profile, script)
    assert consume.run_smoke(ctx, req) is False
    assert ctx.outcomes[0].findings[0].message.startswith(f"IF-061 [{req.event}] smoke delivery: not consumed")
    script = Script(smoke=reply(None, [], findings=[Finding("delivery.timeout", "", "", "", "slow")]))
    ctx, _ = make_ctx(profile, script)
    consume.run_smoke(ctx, req)
    assert ctx.outcomes[0].findings[0].expected == "an answer within 0.5 s"
    ctx.webhook = lambda interface_id: None  # type: ignore[method-assign]
    assert consume.run_smoke(ctx, req) is False
    assert recorded(ctx)[-1] == (req.id, "consume.webhook", False, [], {})
    assert ctx.outcomes[-1].findings == [Finding("consume.webhook", "webhooks.IF-061",
                                                 "a webhook URL for this interface", "none",
                                                 "no webhook is configured or registered for IF-061")]


# --- produce -------------------------------------------------------------------------------------------

PRODUCE = "IF-064/produce"


def submission(ctx: RunContext, item: dict, *, seq: int = 21, findings: list[Finding] | None = None,
               sender: str | None = None, when: datetime | None = None, tx: str = "T-1") -> Submission:
    common = item["payload"]["CommonBlock"]
    return Submission(common["S0"]["interfaceID"], common["S0"]["eventCode"].strip("[]"), item,
                      sender or ctx.me.dip_id, tx, when or datetime.now(UTC) + timedelta(seconds=1), b"", {},
                      findings=list(findings or []), seq=seq)


def produced(ctx: RunContext, correlation: str | None) -> dict:
    item = ctx.factory().message("IF-064", "MDRConsumption", sender=ctx.me, recipients=[ctx.partner.dip_id],
                                 correlation_id=correlation)
    return item


class Sender:
    """send(): what the trigger answered; `then` runs as the participant's reaction."""

    def __init__(self, ok: bool = True, detail: str = "trigger answered HTTP 200", then=None) -> None:
        self.ok, self.detail, self.then, self.calls = ok, detail, then, []

    def __call__(self, role, interface_id, event, *, correlation_id=None, context=None, **kw) -> SendResult:
        self.calls.append({"role": role, "interface": interface_id, "event": event, "correlation_id": correlation_id,
                           "context": context})
        if self.then is not None:
            self.then(correlation_id)
        return SendResult(self.ok, self.detail, seq=3)


def test_an_accepted_message_from_the_party_passes(profile):
    ctx, hub = make_ctx(profile)
    req = requirement(ctx, PRODUCE)
    sender = Sender(then=lambda corr: hub.submissions.append(submission(ctx, produced(ctx, corr))))
    ctx.send = sender  # type: ignore[method-assign]
    assert produce.run_produce(ctx, req) is True
    assert outcomes(ctx) == [("produce.accepted", True)] and ctx.outcomes[0].findings == []
    assert recorded(ctx) == [(req.id, "produce.accepted", True, [21, 3], {"step": "submit", "transaction_id": "T-1"})]
    [call] = sender.calls
    assert (call["role"], call["interface"], call["event"]) == ("MDR", "IF-064", req.event)
    assert call["context"] == {"requirement": req.id, "step": "trigger"}
    # the correlation id is reproducible: today's date and the requirement's own generator
    assert call["correlation_id"] == correlation_id(datetime.now(UTC), ctx.rng_for(req.id)) and hub.waits == [0.5]


def test_the_message_carrying_the_correlation_id_is_judged_before_others(profile):
    ctx, hub = make_ctx(profile)
    req = requirement(ctx, PRODUCE)
    flawed = Finding("periods.count", "/0/payload", "48 periods", "47 periods", "47 periods")

    def send_two(corr):
        hub.submissions.append(submission(ctx, produced(ctx, "CI-20250101-other"), findings=[flawed], tx="T-a",
                                          seq=31))
        hub.submissions.append(submission(ctx, produced(ctx, corr), tx="T-b", seq=32))

    ctx.send = Sender(then=send_two)  # type: ignore[method-assign]
    assert produce.run_produce(ctx, req) is True
    assert recorded(ctx) == [(req.id, "produce.accepted", True, [32, 3], {"step": "submit", "transaction_id": "T-b"})]


def test_the_trigger_failing_is_a_finding(profile):
    ctx, _ = make_ctx(profile)
    req = requirement(ctx, PRODUCE)
    ctx.send = Sender(ok=False, detail="trigger answered HTTP 500")  # type: ignore[method-assign]
    assert produce.run_produce(ctx, req) is False
    assert recorded(ctx) == [(req.id, "produce.trigger", False, [3], {"step": "trigger"})]
    assert ctx.outcomes[0].findings == [Finding(
        "produce.trigger", "triggers.IF-064", "the trigger to succeed", "trigger answered HTTP 500",
        f"could not ask the MDR to send IF-064 [{req.event}]: trigger answered HTTP 500")]


def test_nothing_sent_is_a_timeout(profile):
    ctx, hub = make_ctx(profile)
    req = requirement(ctx, PRODUCE)
    early = submission(ctx, produced(ctx, None), when=datetime.now(UTC) - timedelta(hours=1), tx="T-old")
    hub.submissions.append(early)  # before the trigger: not this requirement's message
    ctx.send = Sender(then=lambda corr: hub.submissions.append(  # type: ignore[method-assign]
        submission(ctx, produced(ctx, corr), sender="1999999999", tx="T-other")))
    assert produce.run_produce(ctx, req) is False
    assert recorded(ctx) == [(req.id, "produce.timeout", False, [3], {"step": "wait"})]
    assert ctx.outcomes[0].findings == [Finding(
        "produce.timeout", "", f"IF-064 [{req.event}] from {ctx.me.dip_id} within 0.5 s", "nothing",
        f"the MDR did not send IF-064 [{req.event}] to the DIP within 0.5 s of being asked "
        "(trigger answered HTTP 200)")]


def test_an_uncorrelated_message_is_taken_when_nothing_carries_the_id(profile):
    ctx, hub = make_ctx(profile)
    req = requirement(ctx, PRODUCE)
    other_event = produced(ctx, None)
    other_event["payload"]["CommonBlock"]["S0"]["eventCode"] = "[Other]"
    ctx.send = Sender(then=lambda corr: hub.submissions.extend([  # type: ignore[method-assign]
        submission(ctx, other_event, tx="T-event"), submission(ctx, produced(ctx, "CI-20250101-x"), seq=33)]))
    assert produce.run_produce(ctx, req) is True
    assert ctx.outcomes[0].passed


def test_a_message_the_dip_rejects_fails_with_its_findings(profile):
    ctx, hub = make_ctx(profile)
    req = requirement(ctx, PRODUCE)
    reasons = [Finding("schema.required", "/0/payload/CommonBlock", "M0", "absent", "M0 is required"),
               Finding("x.note", "", "", "", "a warning only", "warning")]

    def refuse(corr):
        hub.refused.append(Rejection("statusmessage", "IF-064", 400, ["MSG1001"], [], datetime.now(UTC), b"", {}))
        hub.refused.append(Rejection("submit", "IF-061", 400, ["MSG1001"], [], datetime.now(UTC), b"", {}))
        hub.refused.append(Rejection("submit", "if-064", 400, ["MSG1001"], [], datetime.now(UTC), b"", {},
                                     sender="1999999999"))
        hub.refused.append(Rejection("submit", "if-064", 400, ["MSG1001"], reasons, datetime.now(UTC), b"", {},
                                     sender=None, seq=40))

    ctx.send = Sender(then=refuse)  # type: ignore[method-assign]
    assert produce.run_produce(ctx, req) is False
    assert recorded(ctx) == [(req.id, "produce.accepted", False, [40, 3], {
        "step": "submit", "status": 400, "codes": ["MSG1001"], "expected_valid": True})]
    assert outcomes(ctx) == [("produce.accepted", False)] and ctx.outcomes[0].findings == reasons[:1]


def test_a_rejection_without_reasons_names_the_codes(profile):
    ctx, hub = make_ctx(profile)
    req = requirement(ctx, PRODUCE)
    ctx.send = Sender(then=lambda corr: hub.refused.append(  # type: ignore[method-assign]
        Rejection("submit", "IF-064", 401, [], [], datetime.now(UTC), b"", {}, sender=ctx.me.dip_id)))
    assert produce.run_produce(ctx, req) is False
    assert ctx.outcomes[0].findings == [Finding("hub.rejected", "", "MSG0000", "HTTP 401",
                                                "the DIP rejected the IF-064 submission (HTTP 401)")]
    ctx, hub = make_ctx(profile)
    ctx.send = Sender(then=lambda corr: hub.refused.append(  # type: ignore[method-assign]
        Rejection("submit", "IF-064", 400, ["MSG1001", "MSG1002"], [], datetime.now(UTC), b"", {})))
    produce.run_produce(ctx, req)
    assert ctx.outcomes[0].findings[0].actual == "MSG1001,MSG1002"


def test_an_earlier_rejection_is_not_this_messages(profile):
    ctx, hub = make_ctx(profile)
    req = requirement(ctx, PRODUCE)
    hub.refused.append(Rejection("submit", "IF-064", 400, ["MSG1001"], [], datetime.now(UTC), b"", {}))
    ctx.send = Sender()  # type: ignore[method-assign]
    assert produce.run_produce(ctx, req) is False
    assert ctx.outcomes[0].rule == "produce.timeout"


def test_business_findings_the_hub_recorded_fail_an_accepted_message(profile):
    ctx, hub = make_ctx(profile)
    req = requirement(ctx, PRODUCE)
    note = Finding("periods.count", "/0/payload/CustomBlock/B941List/0", "48 periods", "47 periods", "47 periods")
    warn = Finding("x.note", "", "", "", "a warning only", "warning")
    ctx.send = Sender(then=lambda corr: hub.submissions.append(  # type: ignore[method-assign]
        submission(ctx, produced(ctx, corr), findings=[note])))
    assert produce.run_produce(ctx, req) is False and ctx.outcomes[0].findings == [note]
    ctx, hub = make_ctx(profile)
    ctx.send = Sender(then=lambda corr: hub.submissions.append(  # type: ignore[method-assign]
        submission(ctx, produced(ctx, corr), findings=[warn])))
    assert produce.run_produce(ctx, req) is True and ctx.outcomes[0].findings == [warn]


def test_identity_findings_compare_with_the_profile(profile):
    ctx, _ = make_ctx(profile)
    item = produced(ctx, "CI-1")
    assert produce.identity_findings(ctx, item) == []
    s1 = item["payload"]["CommonBlock"]["S1"]
    s1.update(senderRoleID="SUP", senderDIPID="1999999999")
    item["payload"]["CommonBlock"]["A0"]["primaryRecipients"] = ["1888888888"]
    p = ctx.profile
    assert produce.identity_findings(ctx, item, 2) == [
        Finding("produce.sender-role", "/2/payload/CommonBlock/S1/senderRoleID", "MDR", "SUP",
                "senderRoleID should be the party's role MDR"),
        Finding("produce.sender-dip-id", "/2/payload/CommonBlock/S1/senderDIPID", p.party.dip_id, "1999999999",
                "senderDIPID should be the party's DIP ID from the profile"),
        Finding("produce.recipient", "/2/payload/CommonBlock/A0/primaryRecipients", [p.partner.dip_id],
                ["1888888888"], f"A0.primaryRecipients should address the nominated SDS {p.partner.dip_id}")]
    item["payload"]["CommonBlock"]["A0"]["primaryRecipients"] = "not a list"
    assert produce.identity_findings(ctx, item)[-1].rule == "produce.recipient"


def test_the_dcp_and_the_recipient_are_judged_only_where_they_apply(profile):
    ctx, _ = make_ctx(profile)
    item = produced(ctx, "CI-1")
    item["payload"]["CommonBlock"]["S1"]["DIPConnectionProviderID"] = "DCP9"
    assert produce.identity_findings(ctx, item) == []  # the profile names no DCP
    ctx.profile = dataclasses.replace(ctx.profile, party=dataclasses.replace(ctx.profile.party, dcp_id="DCP1"))
    assert produce.identity_findings(ctx, item) == [Finding(
        "produce.dcp", "/0/payload/CommonBlock/S1/DIPConnectionProviderID", "DCP1", "DCP9",
        "DIPConnectionProviderID should be the DCP ID from the profile")]
    item["payload"]["CommonBlock"]["S1"]["DIPConnectionProviderID"] = "DCP1"
    item["payload"]["CommonBlock"]["A0"]["primaryRecipients"] = ["1888888888"]
    item["payload"]["CommonBlock"]["S0"]["eventCode"] = "[NoSuchEvent]"  # receivers unknown: not judged
    assert produce.identity_findings(ctx, item) == []
    item["payload"]["CommonBlock"]["S0"]["interfaceID"] = None
    assert produce.identity_findings(ctx, item) == []
    ctx.profile = dataclasses.replace(ctx.profile, partner=None)
    item = produced(make_ctx(profile)[0], "CI-1")
    item["payload"]["CommonBlock"]["S1"]["DIPConnectionProviderID"] = "DCP1"
    item["payload"]["CommonBlock"]["A0"]["primaryRecipients"] = ["1888888888"]
    assert produce.identity_findings(ctx, item) == []
    assert produce.identity_findings(ctx, {"payload": {}}) != []  # sender role and DIP ID are missing


def test_samples_name_the_event_and_the_nominated_partner_as_sender(profile):
    """An interface with several events, and a partner that is not the default market party: the
    smoke delivery must carry the requirement's event and come from the partner the profile names."""
    script = Script()
    ctx, _ = make_ctx(profile, script)
    partner = dataclasses.replace(ctx.profile.partner, dip_id="1777777777")
    ctx.profile = dataclasses.replace(ctx.profile, partner=partner)
    for rid_part, interface in (("IF-006/consume/MeterRemoval", "IF-006"), ("IF-061/consume", "IF-061")):
        req = requirement(ctx, rid_part)
        script.calls.clear()
        consume.run_smoke(ctx, req)
        common = script.calls[0]["items"][0]["payload"]["CommonBlock"]
        sender = ctx.sender_for(interface, req.event)
        assert common["S0"]["eventCode"] == f"[{req.event}]"
        assert (common["S1"]["senderDIPID"], common["S1"]["senderRoleID"]) == (sender.dip_id, sender.role)
    assert sender.dip_id == "1777777777"  # IF-061 comes from the nominated SDS


def test_a_replay_is_a_copy_marked_as_replay():
    item = {"payload": {"CommonBlock": {"D0": {"transactionID": "T-1", "replayIndicator": False}}}}
    replay = consume._as_replay(item)
    assert replay["payload"]["CommonBlock"]["D0"] == {"transactionID": "T-1", "replayIndicator": True}
    assert item["payload"]["CommonBlock"]["D0"]["replayIndicator"] is False  # the original is untouched


def test_the_future_timestamp_is_one_day_ahead(profile):
    script = Script()
    ctx, _ = make_ctx(profile, script)
    consume.run_consume(ctx, requirement(ctx, CONSUME))
    call = next(c for c in script.calls if c["step"] == "future-timestamp")
    ahead = parse_dip_timestamp(call["items"][0]["payload"]["CommonBlock"]["S1"]["senderTimestamp"]) - datetime.now(UTC)
    assert timedelta(hours=23) < ahead <= timedelta(days=1)


def test_an_accepted_message_to_reject_lists_every_code(profile):
    script = Script(**{"bad-mpan": reply(201, ["RCP0000", "MSG0000"])})
    ctx, _ = make_ctx(profile, script)
    consume.run_consume(ctx, requirement(ctx, CONSUME))
    assert ctx.outcomes[4].findings[0].actual == "HTTP 201, RCP0000, MSG0000"


def test_every_consume_delivery_carries_the_event_the_partner_and_the_webhook_config(profile):
    script = Script()
    ctx, hub = make_ctx(profile, script)
    ctx.profile = dataclasses.replace(ctx.profile, partner=dataclasses.replace(ctx.profile.partner,
                                                                               dip_id="1777777777"))
    config = WebhookConfig("https://127.0.0.1:9/hook/if-006", 5, None)
    hub.webhook = lambda dip_id, interface_id: config  # type: ignore[method-assign]
    for rid_part, interface in (("IF-006/consume/MeterRemoval", "IF-006"), (CONSUME, "IF-061")):
        req = requirement(ctx, rid_part)
        script.calls.clear()
        assert consume.run_consume(ctx, req) is True
        sender = ctx.sender_for(interface, req.event)
        assert all(c["config"] is config for c in script.calls)
        for call in script.calls:
            for item in call["items"]:
                common = item["payload"]["CommonBlock"]
                assert common["S0"]["eventCode"] == f"[{req.event}]", call["step"]
                assert (common["S1"]["senderDIPID"], common["S1"]["senderRoleID"]) == (sender.dip_id, sender.role)
                assert common["A0"]["primaryRecipients"] == [ctx.me.dip_id]


def test_a_failed_first_delivery_alone_fails_the_requirement(profile):
    script = Script(single=reply(500, []))
    ctx, _ = make_ctx(profile, script)
    assert consume.run_consume(ctx, requirement(ctx, CONSUME)) is False
    assert [o.passed for o in ctx.outcomes] == [False, True, True, True, True, True]


def test_a_webhook_taking_one_message_at_a_time_gets_a_batch_of_one(profile):
    script = Script(batch=reply(201, ["RCP0000"], batches=2))
    ctx, hub = make_ctx(profile, script)
    hub.webhook = lambda dip_id, interface_id: WebhookConfig("https://127.0.0.1:9/hook", 1, None)  # type: ignore
    assert consume.run_consume(ctx, requirement(ctx, CONSUME)) is True
    assert len(script.calls[1]["items"]) == 1
    assert ctx.outcomes[1].findings == [] and recorded(ctx)[1][4] == {"step": "batch", "size": 1}


def test_details_of_a_failed_delivery_are_all_listed(profile):
    slow = [Finding("delivery.timeout", "", "", "", "read timed out"), Finding("delivery.retry", "", "", "", "gave up")]
    script = Script(batch=reply(None, [], findings=slow))
    ctx, _ = make_ctx(profile, script)
    req = requirement(ctx, CONSUME)
    consume.run_consume(ctx, req)
    assert ctx.outcomes[1].findings[0].message == (f"IF-061 [{req.event}] batch of {DEFAULT_BATCH}: the webhook did "
                                                   "not answer within 0.5 s (read timed out; gave up)")
    errors = [Finding("response.count", "", "", "", "one entry per message"),
              Finding("response.code", "", "", "", "unknown code")]
    script = Script(single=reply(400, ["RCP1061", "RCP1003"], findings=errors))
    ctx, _ = make_ctx(profile, script)
    consume.run_consume(ctx, req)
    [finding] = ctx.outcomes[0].findings
    assert finding.actual == "HTTP 400, codes RCP1061, RCP1003"
    assert finding.message.endswith("(HTTP 400; response.count: one entry per message; response.code: unknown code)")
