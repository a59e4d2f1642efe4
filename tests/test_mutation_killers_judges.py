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
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from harness.findings import Finding
from harness.messages.ids import correlation_id, is_valid_mpan, mpan_check_digit, parse_dip_timestamp
from harness.profile import load_profile
from harness.run import adversary, consume, produce
from harness.run.context import DEFAULT_BATCH, RunContext
from harness.run.demo import make_pki, profile_text
from harness.run.planning import certification_plan
from harness.run.triggers import SendResult
from harness.transport.certs import cached_key, make_ca
from harness.transport.delivery import Attempt, DeliveryResult, WebhookConfig
from harness.transport.hub import Rejection, StatusMessage, Submission
from harness.transport.signing import (
    CONTENT_HASH, SIGNATURE_DATE, SigningIdentity, content_hash, parse_signature_date, verify_request,
)

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


# Steps 2-4 of a consume requirement run concurrently: each step's delivery gets a fixed evidence seq,
# so the recorded checks can be compared whatever order the deliveries happened in.
CONSUME_STEPS = ("single", "batch", "replay", *[a.step for a in adversary.ATTACKS])
REJECT_STEPS = ("bad-mpan", "future-timestamp")
STEP_SEQ = {step: 101 + i for i, step in enumerate(CONSUME_STEPS + REJECT_STEPS)} | {"smoke": 101}


class Script:
    """deliver(): answers by step; records every delivery (thread-safe: steps run concurrently)."""

    def __init__(self, **answers: DeliveryResult) -> None:
        self.answers = answers
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, url: str, items: list[dict], *, config=None, identity=None, context=None, sign=None,
                 redeliver: bool = False) -> DeliveryResult:
        step = context["step"]
        seq = STEP_SEQ[step]
        with self._lock:
            self.calls.append({"url": url, "items": copy.deepcopy(items), "identity": identity, "config": config,
                               "step": step, "context": dict(context), "sign": sign, "redeliver": redeliver})
        if step in self.answers:
            return dataclasses.replace(self.answers[step], responses=[dataclasses.replace(
                a, seq=seq + 100 * i) for i, a in enumerate(self.answers[step].responses)])
        if step in REJECT_STEPS:
            code = "RCP1061" if step == "bad-mpan" else "RCP1008"
            return reply(400, [code], seq=seq)
        if step in {a.step for a in adversary.ATTACKS}:
            return reply(401, ["RCP9999"], seq=seq)
        return reply(201, ["RCP0000"] * len(items), seq=seq)

    def call(self, step: str) -> dict[str, Any]:
        [found] = [c for c in self.calls if c["step"] == step]
        return found

    def steps(self) -> set[str]:
        return {c["step"] for c in self.calls}


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
REJECT = "IF-061/reject"
ATTACK_RULES = [a.check for a in adversary.ATTACKS]


def redelivered(first: int, then: DeliveryResult) -> DeliveryResult:
    """`then` after a first answer `first` that the DIP redelivers on (5xx, 408, 429)."""
    return dataclasses.replace(then, attempts=2, responses=[
        Attempt(1, 1, first, None, 0.01, b"", False, 1, seq=7), *then.responses])


def test_a_requirement_without_interface_and_event_is_a_programming_error(profile):
    ctx, _ = make_ctx(profile)
    for req in (dataclasses.replace(requirement(ctx, CONSUME), event=None),
                dataclasses.replace(requirement(ctx, CONSUME), interface=None)):
        for judge in (consume.run_consume, consume.run_smoke, consume.run_reject):
            with pytest.raises(AssertionError):
                judge(ctx, req)
    # produce: a requirement without an interface is the declared-flows requirement (issue 14b)
    with pytest.raises(AssertionError):
        produce.run_produce(ctx, dataclasses.replace(requirement(ctx, PRODUCE), event=None))


def test_a_participant_that_consumes_correctly_passes_every_step(profile):
    script = Script()
    ctx, hub = make_ctx(profile, script)
    req = requirement(ctx, CONSUME)
    assert consume.run_consume(ctx, req) is True
    assert outcomes(ctx) == [("consume.single", True), ("consume.batch", True), ("consume.replay", True),
                             ("consume.replay-once", True), *[(rule, True) for rule in ATTACK_RULES]]
    assert all(o.requirement == req.id for o in ctx.outcomes)
    assert [o.findings for o in ctx.outcomes if o.rule != "consume.replay-once"] == [[]] * 7
    assert recorded(ctx) == [
        (req.id, "consume.single", True, [101], {"step": "single"}),
        (req.id, "consume.batch", True, [102], {"step": "batch", "size": DEFAULT_BATCH}),
        (req.id, "consume.replay", True, [103], {"step": "replay"}),
        (req.id, "consume.replay-once", True, [103], {"step": "replay-once"}),
        *[(req.id, a.check, True, [STEP_SEQ[a.step]], {"step": a.step, "expected_valid": True})
          for a in adversary.ATTACKS]]
    # nothing answered the first delivery on the DIP: whether the replay was processed again is unknown
    [unseen] = ctx.outcomes[3].findings
    assert unseen == Finding(
        "consume.replay-processed", "", "IF-062 [MDRStartResponse] answering the first delivery", "none",
        f"IF-061 [{req.event}]: no IF-062 [MDRStartResponse] answering the first delivery reached the DIP within "
        "0.5 s, so whether the replay was processed again could not be observed", "warning")
    assert hub.waits == [0.5]  # one bounded wait for the first answer
    sender = ctx.sender_for("IF-061", req.event)
    for call in script.calls:
        for item in call["items"]:
            common = item["payload"]["CommonBlock"]
            assert common["S0"] == {**common["S0"], "interfaceID": "IF-061", "eventCode": f"[{req.event}]"}
            assert (common["S1"]["senderDIPID"], common["S1"]["senderRoleID"]) == (sender.dip_id, sender.role)
            assert common["A0"]["primaryRecipients"] == [ctx.me.dip_id] and "D0" in common
    assert [c["step"] for c in script.calls][:1] == ["single"] and script.steps() == set(CONSUME_STEPS)
    assert all(c["context"] == {"requirement": req.id, "interface": "IF-061", "event": req.event, "step": c["step"]}
               for c in script.calls)
    url = ctx.webhook("IF-061").callback_url
    assert all(c["url"] == url and len(c["items"]) == (DEFAULT_BATCH if c["step"] == "batch" else 1)
               for c in script.calls)
    # the DIP redelivers valid messages after a 5xx; never a hostile or a replayed one
    assert {c["step"] for c in script.calls if c["redeliver"]} == {"single", "batch"}
    first, replayed = script.call("single")["items"][0], script.call("replay")["items"][0]
    common = first["payload"]["CommonBlock"]
    assert common["D0"]["replayIndicator"] is False and replayed["payload"]["CommonBlock"]["D0"]["replayIndicator"]
    assert dict(replayed, payload={**replayed["payload"], "CommonBlock": {**replayed["payload"]["CommonBlock"],
                                                                          "D0": common["D0"]}}) == first
    batch = script.call("batch")["items"]
    assert len({b["payload"]["CommonBlock"]["D0"]["transactionID"] for b in batch}) == DEFAULT_BATCH
    impostor = script.call("bad-signature")["identity"]
    assert impostor.certificate == hub.identity.certificate and impostor.private_key is not hub.identity.private_key
    foreign = script.call("foreign-certificate")["identity"]
    assert foreign.certificate != hub.identity.certificate and foreign.certificate.subject == \
        hub.identity.certificate.subject
    assert script.call("altered-body")["identity"] is hub.identity and script.call("altered-body")["sign"]
    assert script.call("stale-signature")["identity"] is hub.identity and script.call("stale-signature")["sign"]
    assert all(c["identity"] is None and c["sign"] is None for c in script.calls
               if c["step"] in ("single", "batch", "replay"))
    assert is_valid_mpan(common["M0"]["MPANCore"])


def _answer(ctx: RunContext, request: dict, *, seq: int, when: datetime | None = None) -> Submission:
    """The party's IF-062 answering `request` (same MPAN, its correlation id), as the hub holds it."""
    common = request["payload"]["CommonBlock"]
    corr = common["S1"].get("senderCorrelationID") or common["D0"].get("initialCorrelationID")
    item = {"payload": {"CommonBlock": {"M0": {"MPANCore": common["M0"]["MPANCore"]},
                                        "S1": {"senderCorrelationID": corr}}}}
    return Submission("IF-062", "MDRStartResponse", item, ctx.me.dip_id, f"T-answer-{seq}",
                      when or datetime.now(UTC) + timedelta(seconds=1), b"", {}, seq=seq)


class Answering(Script):
    """A party that answers the first delivery on the DIP and, with `twice`, answers the replay again."""

    def __init__(self, ctx_hub: list, *, twice: bool, **answers: DeliveryResult) -> None:
        super().__init__(**answers)
        self.ctx_hub, self.twice = ctx_hub, twice

    def __call__(self, url, items, **kw):
        result = super().__call__(url, items, **kw)
        ctx, hub = self.ctx_hub
        step = kw["context"]["step"]
        if step == "single" or (step == "replay" and self.twice):
            hub.submissions.append(_answer(ctx, items[0], seq=61 if step == "single" else 62))
        return result


@pytest.mark.parametrize("twice", [False, True])
def test_a_replay_must_not_be_processed_twice(profile, twice):
    holder: list = []
    script = Answering(holder, twice=twice)
    ctx, hub = make_ctx(profile, script)
    holder.extend([ctx, hub])
    ctx.quiet_window = 0.2
    req = requirement(ctx, CONSUME)
    # an answer from another party, to another MPAN, or from before the first delivery is not this answer
    hub.submissions.append(dataclasses.replace(_answer(ctx, _request_like(ctx), seq=50), sender="1999999999"))
    assert consume.run_consume(ctx, req) is not twice
    once = ctx.outcomes[3]
    tx = script.call("single")["items"][0]["payload"]["CommonBlock"]["D0"]["transactionID"]
    assert hub.waits[0] == 0.5 and 0 < hub.waits[1] <= 0.5  # the first answer's bound, then the watch window
    if not twice:
        assert (once.rule, once.passed, once.findings) == ("consume.replay-once", True, [])
        assert recorded(ctx)[3][3:] == ([103], {"step": "replay-once", "window": round(hub.waits[1], 3),
                                               "answer_seq": 61})
        return
    assert (once.rule, once.passed) == ("consume.replay-once", False)
    assert once.findings == [Finding(
        "consume.replay-processed", "/0/payload/CommonBlock/D0/replayIndicator",
        f"one IF-062 [MDRStartResponse] for transaction {tx}", "2 answers (evidence 61, 62)",
        f"IF-061 [{req.event}]: the replay of transaction {tx} (replayIndicator true) was processed again: the MDR "
        "sent 2 IF-062 [MDRStartResponse] answering it. A replay must be acknowledged (201, RCP0000) and not "
        "processed twice (assumption A-REPLAY)", extra={"transactionID": tx})]
    assert recorded(ctx)[3][3] == [103, 61, 62]


def _request_like(ctx: RunContext) -> dict:
    return {"payload": {"CommonBlock": {"M0": {"MPANCore": "1200000000009"}, "S1": {"senderCorrelationID": "CI-x"},
                                        "D0": {}}}}


def test_a_replay_is_not_watched_when_the_first_delivery_failed_or_nothing_answers_it(profile):
    script = Script(single=reply(500, []))
    ctx, hub = make_ctx(profile, script)
    consume.run_consume(ctx, requirement(ctx, CONSUME))
    assert "consume.replay-once" not in [o.rule for o in ctx.outcomes] and hub.waits == []
    ctx, hub = make_ctx(profile, Script())
    ctx.enabled_interfaces = ctx.enabled_interfaces - {"IF-062"}  # the party does not answer IF-061
    assert consume.run_consume(ctx, requirement(ctx, CONSUME)) is True
    assert "consume.replay-once" not in [o.rule for o in ctx.outcomes] and hub.waits == []
    ctx, hub = make_ctx(profile, Script(replay=reply(400, ["RCP1047"])))
    consume.run_consume(ctx, requirement(ctx, CONSUME))  # a refused replay: its count is not judged
    assert "consume.replay-once" not in [o.rule for o in ctx.outcomes] and hub.waits == [0.5]


def test_the_batch_is_capped_by_the_webhooks_message_count(profile):
    script = Script()
    ctx, hub = make_ctx(profile, script)
    hub.webhook = lambda dip_id, interface_id: WebhookConfig("https://127.0.0.1:9/hook", 2, None)  # type: ignore
    consume.run_consume(ctx, requirement(ctx, CONSUME))
    assert {c["step"]: len(c["items"]) for c in script.calls} == {step: 2 if step == "batch" else 1
                                                                  for step in CONSUME_STEPS}
    assert script.call("batch")["config"].max_message_count == 2
    script = Script()
    ctx, hub = make_ctx(profile, script)
    hub.webhook = lambda dip_id, interface_id: WebhookConfig("https://127.0.0.1:9/hook", 50, None)  # type: ignore
    consume.run_consume(ctx, requirement(ctx, CONSUME))
    assert len(script.call("batch")["items"]) == DEFAULT_BATCH


def test_no_webhook_is_one_finding(profile):
    ctx, hub = make_ctx(profile)
    ctx.webhook = lambda interface_id: None  # type: ignore[method-assign]
    for rid in (CONSUME, REJECT):
        ctx.outcomes.clear()
        ctx.recorder._recorder.checks.clear()  # type: ignore[union-attr]
        req = requirement(ctx, rid)
        judge = consume.run_reject if rid == REJECT else consume.run_consume
        assert judge(ctx, req) is False
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


# issue 14a: how the webhook answered is written `HTTP 400 (RCP1061)` (was `HTTP 400, codes RCP1061`).
@pytest.mark.parametrize("answer, actual, detail", [
    (reply(500, []), "HTTP 500", ""),
    (reply(201, ["RCP1003"], outcome="accepted"), "HTTP 201 (RCP1003)", ""),
    (reply(400, ["RCP1061"], findings=[Finding("response.count", "", "", "", "one entry per message"),
                                       Finding("x.warn", "", "", "", "only a warning", "warning")]),
     "HTTP 400 (RCP1061)", "; response.count: one entry per message"),
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
                              actual, f"IF-061 [{req.event}] single delivery: not consumed ({actual}{detail})",
                              extra={"codes": answer.codes})
    assert batch.findings[0].message.startswith(f"IF-061 [{req.event}] batch of {DEFAULT_BATCH}: not consumed")
    # not consumed: the replay's second processing is not watched
    assert [o.rule for o in ctx.outcomes][2:] == ["consume.replay", *ATTACK_RULES]


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_a_delivery_consumed(profile, status):
    script = Script(single=reply(status, []))
    ctx, _ = make_ctx(profile, script)
    req = requirement(ctx, CONSUME)
    assert consume.run_consume(ctx, req) is False
    assert ctx.outcomes[0].findings == [Finding(
        "consume.status", "", "HTTP 201 with a StandardResponse, RCP0000 for every message", f"HTTP {status}",
        f"IF-061 [{req.event}] single delivery: the webhook answered with a redirect (HTTP {status}); the DIP does "
        "not follow redirects, so the delivery was not consumed. Register the final URL", extra={"codes": []})]
    for edge in (299, 400):  # just outside the redirects: an ordinary refusal
        ctx, _ = make_ctx(profile, Script(single=reply(edge, [])))
        consume.run_consume(ctx, req)
        assert "redirect" not in ctx.outcomes[0].findings[0].message


def test_a_redelivery_after_a_5xx_must_be_accepted(profile):
    ctx, _ = make_ctx(profile, Script(single=redelivered(503, reply(201, ["RCP0000"]))))
    req = requirement(ctx, CONSUME)
    assert consume.run_consume(ctx, req) is True
    assert ctx.outcomes[0].findings == [Finding(
        "consume.redelivery", "", "HTTP 201 at the first delivery", "HTTP 503",
        f"IF-061 [{req.event}] single delivery: the webhook answered HTTP 503; the DIP's redelivery of the same "
        "batch was accepted", "warning")]
    assert recorded(ctx)[0][3] == [101, 201]  # both attempts are cited
    for then, ok in ((reply(400, ["RCP1006"]), False), (reply(499, []), False), (reply(500, []), True),
                     (reply(408, []), True), (reply(429, []), True)):
        ctx, _ = make_ctx(profile, Script(single=redelivered(503, then)))
        consume.run_consume(ctx, req)
        [finding] = ctx.outcomes[0].findings
        assert (finding.rule == "consume.redelivery") is not ok, then.status
        assert finding.rule == ("consume.status" if ok else "consume.redelivery")
    ctx, _ = make_ctx(profile, Script(single=redelivered(503, reply(400, ["RCP1006"]))))
    consume.run_consume(ctx, req)
    assert ctx.outcomes[0].findings == [Finding(
        "consume.redelivery", "", "the redelivered batch accepted: HTTP 201, RCP0000", "HTTP 503, then HTTP 400 "
        "(RCP1006)", f"IF-061 [{req.event}] single delivery: the webhook answered HTTP 503, then refused the DIP's "
        "redelivery of the same batch (HTTP 503, then HTTP 400 (RCP1006)). After a 5xx the DIP delivers the batch "
        "again: a webhook must accept it (201, RCP0000) and must not treat it as a duplicate of what it failed",
        extra={"codes": ["RCP1006"]})]


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
    assert finding.rule == "consume.replay" and finding.actual == "HTTP 400 (RCP1047)"
    assert finding.message == (f"replay (same D0.transactionID, replayIndicator true): IF-061 [{req.event}] replayed "
                               "delivery: not consumed (HTTP 400 (RCP1047)); a replay must be acknowledged like the "
                               "first delivery (assumption A-REPLAY)")
    assert finding.extra == {"codes": ["RCP1047"]}
    assert [o.passed for o in ctx.outcomes] == [True, True, False, True, True, True, True]


@pytest.mark.parametrize("answer, ok", [
    (reply(401, ["RCP9999"]), True), (reply(400, []), True), (reply(403, []), True),
    (reply(200, ["RCP9999", "RCP9999"], outcome="rejected"), True),
    (reply(201, ["RCP0000"]), False), (reply(207, ["RCP9999", "RCP0000"], outcome="partial"), False),
    (reply(200, [], outcome="rejected"), False), (reply(302, []), False), (reply(300, ["RCP9999"]), False),
    (reply(404, []), False), (reply(500, []), False), (reply(None, [], outcome="failed"), False),
])
@pytest.mark.parametrize("attack", adversary.ATTACKS, ids=lambda a: a.step)
def test_a_hostile_delivery_must_be_refused(profile, answer, ok, attack):
    script = Script(**{attack.step: answer})
    ctx, _ = make_ctx(profile, script)
    req = requirement(ctx, CONSUME)
    assert consume.run_consume(ctx, req) is ok
    [step] = [o for o in ctx.outcomes if o.rule == attack.check]
    assert step.passed is ok and all(o.passed for o in ctx.outcomes if o is not step)
    if ok:
        assert step.findings == []
        return
    said = "no answer" if answer.status is None else f"HTTP {answer.status}" + (
        f" ({', '.join(answer.codes)})" if answer.codes else "")
    if answer.status is None or answer.status >= 500:
        how = f"was not refused cleanly ({said})"
    elif 300 <= answer.status < 400:
        how = f"was answered with a redirect (HTTP {answer.status}), which is neither a refusal nor an acknowledgement"
    else:
        how = f"was accepted ({said})"
    assert step.findings == [Finding(
        attack.rule, f"header:{attack.header}", "HTTP 400/401/403 or RCP9999 for every message", said,
        f"IF-061 [{req.event}]: {attack.what} {how}; the webhook must {attack.must}, and answer 401 (or 400/403) "
        "or RCP9999")]


def _tx(script: Script, step: str) -> str:
    return script.call(step)["items"][0]["payload"]["CommonBlock"]["D0"]["transactionID"]


def test_the_messages_to_reject_are_delivered_at_once_and_refused_with_their_code(profile):
    script = Script()
    ctx, hub = make_ctx(profile, script)
    req = requirement(ctx, REJECT)
    assert req.advisory and req.kind == "reject"
    assert consume.run_reject(ctx, req) is True
    assert recorded(ctx) == [
        (req.id, "consume.recipient-rejection", True, [108],
         {"step": "bad-mpan", "expected_valid": False, "expected_code": "RCP1061"}),
        (req.id, "consume.recipient-rejection", True, [109],
         {"step": "future-timestamp", "expected_valid": False, "expected_code": "RCP1008"})]
    assert script.steps() == set(REJECT_STEPS) and hub.waits == []  # refused in the reply: nothing to wait for
    assert all(c["redeliver"] and c["identity"] is None and c["sign"] is None and len(c["items"]) == 1
               for c in script.calls)
    bad_mpan = script.call("bad-mpan")["items"][0]["payload"]["CommonBlock"]
    assert not is_valid_mpan(bad_mpan["M0"]["MPANCore"])
    assert is_valid_mpan(bad_mpan["M0"]["MPANCore"][:12] + str(mpan_check_digit(bad_mpan["M0"]["MPANCore"][:12])))
    assert parse_dip_timestamp(bad_mpan["S1"]["senderTimestamp"]) <= datetime.now(UTC)
    future = script.call("future-timestamp")["items"][0]["payload"]["CommonBlock"]
    assert is_valid_mpan(future["M0"]["MPANCore"])
    sender = ctx.sender_for("IF-061", req.event)
    for c in script.calls:
        common = c["items"][0]["payload"]["CommonBlock"]
        assert common["S0"]["eventCode"] == f"[{req.event}]" and common["A0"]["primaryRecipients"] == [ctx.me.dip_id]
        assert (common["S1"]["senderDIPID"], common["S1"]["senderRoleID"]) == (sender.dip_id, sender.role)
        assert c["context"] == {"requirement": req.id, "interface": "IF-061", "event": req.event, "step": c["step"]}


def test_a_rejection_may_come_in_the_reply_or_later_by_status_message(profile):
    script = Script(**{"bad-mpan": reply(201, ["RCP0000"]), "future-timestamp": reply(201, ["RCP0000"])})
    ctx, hub = make_ctx(profile, script)
    me = ctx.me.dip_id
    original = hub.wait_until
    reported: list[str] = []

    def status_arrives(condition, timeout):  # the participant reports after its 201, as a DIP would relay it
        for step, code in (("bad-mpan", "RCP1061"), ("future-timestamp", "RCP1008")):
            tx = _tx(script, step)
            hub.statuses.append(StatusMessage("1999999999", [{"transactionID": tx}], [code], datetime.now(UTC), b""))
            hub.statuses.append(StatusMessage(me, [{"transactionID": "T-other"}], [code], datetime.now(UTC), b""))
            hub.statuses.append(StatusMessage(me, ["not an entry"], [code], datetime.now(UTC), b""))
            hub.statuses.append(StatusMessage(me, [{"transactionID": tx}], ["RCP0000"], datetime.now(UTC), b""))
        assert original(condition, timeout) is None  # none of those is the participant's report
        for step, code, seq in (("bad-mpan", "RCP1061", 71), ("future-timestamp", "RCP1008", 72)):
            hub.statuses.append(StatusMessage(me, [{"transactionID": _tx(script, step)}], [code], datetime.now(UTC),
                                              b"", seq=seq))
            reported.append(step)
        return original(condition, timeout)

    hub.wait_until = status_arrives  # type: ignore[method-assign]
    req = requirement(ctx, REJECT)
    assert consume.run_reject(ctx, req) is True
    assert hub.waits == [0.5, 0.5]  # ONE bound for both messages (a second call only inside the fake)
    assert [r[3] for r in recorded(ctx)] == [[108, 71], [109, 72]]


def test_a_rejection_that_never_comes_is_named(profile):
    script = Script(**{"bad-mpan": reply(201, ["RCP0000"])})
    ctx, hub = make_ctx(profile, script)
    req = requirement(ctx, REJECT)
    assert consume.run_reject(ctx, req) is False
    bad, future = ctx.outcomes
    assert (bad.rule, bad.passed, future.passed) == ("consume.recipient-rejection", False, True)
    tx = _tx(script, "bad-mpan")
    assert bad.findings == [Finding(
        "consume.recipient-rejection", "/0/payload/CommonBlock", "RCP1061", "HTTP 201, RCP0000",
        f"IF-061 [{req.event}]: an MPAN core with a wrong check digit was accepted; a recipient must reject it "
        f"with RCP1061, in the reply or by /statusmessage within 0.5 s (assumption A-RECIPIENT-REJECTS)",
        extra={"transactionID": tx})]
    assert hub.waits == [0.5]
    ctx, _ = make_ctx(profile, Script(**{"bad-mpan": reply(201, [])}))
    consume.run_reject(ctx, req)  # a 201 without codes is no acknowledgement either: not waited for
    assert ctx.outcomes[0].findings[0].actual == "HTTP 201"


@pytest.mark.parametrize("answer, actual", [
    (reply(400, ["RCP1003"]), "HTTP 400 (RCP1003)"),
    (reply(400, []), "HTTP 400"),
    (reply(207, ["RCP0000", "RCP1002"], outcome="partial"), "HTTP 207 (RCP0000, RCP1002)"),
])
def test_a_rejection_with_the_wrong_code_is_named(profile, answer, actual):
    script = Script(**{"future-timestamp": answer})
    ctx, hub = make_ctx(profile, script)
    req = requirement(ctx, REJECT)
    assert consume.run_reject(ctx, req) is False
    tx = _tx(script, "future-timestamp")
    assert ctx.outcomes[1].findings == [Finding(
        "consume.recipient-rejection", "/0/payload/CommonBlock", "RCP1008", actual,
        f"IF-061 [{req.event}]: a senderTimestamp a day in the future was answered {actual}, without RCP1008; a "
        "recipient must reject it with RCP1008 (assumption A-RECIPIENT-REJECTS)", extra={"transactionID": tx})]
    assert hub.waits == []  # a refusal is final: nothing to wait for


def test_a_redirect_is_no_rejection(profile):
    script = Script(**{"bad-mpan": reply(302, [])})
    ctx, _ = make_ctx(profile, script)
    req = requirement(ctx, REJECT)
    consume.run_reject(ctx, req)
    assert ctx.outcomes[0].findings == [Finding(
        "consume.recipient-rejection", "/0/payload/CommonBlock", "RCP1061", "HTTP 302",
        f"IF-061 [{req.event}]: an MPAN core with a wrong check digit was answered with a redirect (HTTP 302): "
        "neither a rejection nor an acknowledgement; expected RCP1061", extra={"transactionID": _tx(script, "bad-mpan")})]


@pytest.mark.parametrize("answer, rule", [
    (reply(None, [], outcome="failed"), "consume.connection"),
    (reply(None, [], findings=[Finding("delivery.timeout", "", "", "", "read timed out")]), "consume.timeout"),
])
def test_no_answer_to_a_message_to_reject(profile, answer, rule):
    script = Script(**{"bad-mpan": answer})
    ctx, _ = make_ctx(profile, script)
    req = requirement(ctx, REJECT)
    consume.run_reject(ctx, req)
    assert ctx.outcomes[0].findings == [Finding(rule, "", "an answer within 0.5 s", "no answer",
                                                f"IF-061 [{req.event}]: no answer to an MPAN core with a wrong "
                                                "check digit (no answer)",
                                                extra={"transactionID": _tx(script, "bad-mpan")})]


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
    assert [c["step"] for c in script.calls] == ["smoke"] and script.calls[0]["redeliver"]
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
                                                 "no webhook is configured or registered for IF-061: nothing can be "
                                                 "delivered")]


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
    # issue 14b: each reason says the DIP refused the submission, with the DIP's codes
    assert outcomes(ctx) == [("produce.accepted", False)] and ctx.outcomes[0].findings == [dataclasses.replace(
        reasons[0], message="the DIP refused the IF-064 submission (MSG1001): M0 is required",
        extra={"codes": ["MSG1001"]})]


def test_a_rejection_without_reasons_names_the_codes(profile):
    ctx, hub = make_ctx(profile)
    req = requirement(ctx, PRODUCE)
    ctx.send = Sender(then=lambda corr: hub.refused.append(  # type: ignore[method-assign]
        Rejection("submit", "IF-064", 401, [], [], datetime.now(UTC), b"", {}, sender=ctx.me.dip_id)))
    assert produce.run_produce(ctx, req) is False
    assert ctx.outcomes[0].findings == [Finding("hub.rejected", "", "MSG0000", "HTTP 401",
                                                "the DIP rejected the IF-064 submission (HTTP 401)",
                                                extra={"codes": []})]
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
    # (not periods.count: for IF-064 produce judges that itself, as an error, from the message: below)
    note = Finding("mpan.check-digit", "/0/payload/CommonBlock/M0/MPANCore", "check digit 1", "2", "bad digit")
    warn = Finding("x.note", "", "", "", "a warning only", "warning")
    ctx.send = Sender(then=lambda corr: hub.submissions.append(  # type: ignore[method-assign]
        submission(ctx, produced(ctx, corr), findings=[note])))
    assert produce.run_produce(ctx, req) is False and ctx.outcomes[0].findings == [note]
    ctx, hub = make_ctx(profile)
    ctx.send = Sender(then=lambda corr: hub.submissions.append(  # type: ignore[method-assign]
        submission(ctx, produced(ctx, corr), findings=[warn])))
    assert produce.run_produce(ctx, req) is True and ctx.outcomes[0].findings == [warn]


def test_produce_judges_whole_days_itself_for_if064(profile):
    """The hub records periods.count as validation does (a warning); produce holds an MDR to 48 periods
    (A-PERIODS-48: an error, provisional) and to past days only (A-COMPLETE-DAYS), from the message."""
    ctx, hub = make_ctx(profile)
    req = requirement(ctx, PRODUCE)
    assert produce.produce_rules("IF-064") == ("periods.count", "consumption.complete-days")
    assert produce.produce_rules("IF-062") == ()
    hub_says = Finding("periods.count", "/0/payload/CustomBlock/B941List/0/MDRConsumptionPeriods", "48 periods",
                       "47 periods", "47 periods (allowed by the specification)", "warning")
    item = produced(ctx, None)
    day = item["payload"]["CustomBlock"]["B941List"][0]
    assert len(day["MDRConsumptionPeriods"]) == 48
    ctx.send = Sender(then=lambda corr: hub.submissions.append(  # type: ignore[method-assign]
        submission(ctx, dict(item, payload={**item["payload"], "CommonBlock": produced(ctx, corr)["payload"][
            "CommonBlock"]}), findings=[hub_says])))
    assert produce.run_produce(ctx, req) is True and ctx.outcomes[0].findings == []  # the hub's note is replaced
    del day["MDRConsumptionPeriods"][-1]
    ctx, hub = make_ctx(profile)
    ctx.send = Sender(then=lambda corr: hub.submissions.append(  # type: ignore[method-assign]
        submission(ctx, dict(item, payload={**item["payload"], "CommonBlock": produced(ctx, corr)["payload"][
            "CommonBlock"]}), findings=[hub_says])))
    assert produce.run_produce(ctx, req) is False
    [finding] = ctx.outcomes[0].findings
    assert (finding.rule, finding.severity, finding.actual) == ("periods.count", "error", "47 periods")
    assert finding.extra["assumption"] == "A-PERIODS-48" and "provisional" in finding.message
    today = datetime.now(UTC).date()
    found = produce.message_findings(ctx, _with_day(produced(ctx, "CI-1"), today), 0, [])
    assert [(f.rule, f.extra.get("assumption")) for f in found] == [("consumption.complete-days", "A-COMPLETE-DAYS")]
    assert produce.message_findings(ctx, _with_day(produced(ctx, "CI-1"), today - timedelta(days=1)), 0, []) == []
    other = produced(ctx, "CI-1")
    other["payload"]["CommonBlock"]["S0"]["interfaceID"] = "IF-062"  # no whole-day rules for another interface
    del other["payload"]["CustomBlock"]["B941List"][0]["MDRConsumptionPeriods"][-1]
    [kept] = produce.message_findings(ctx, other, 0, [hub_says])  # the hub's warning stays, marked provisional
    assert (kept.severity, kept.extra) == ("warning", {"assumption": "A-PERIODS-48"})


def _with_day(item: dict, day) -> dict:
    """`item` reporting settlement day `day` (48 UTC half hours) and sent at the end of that day."""
    from harness.messages.ids import settlement_period_ends, utc_timestamp

    [entry] = item["payload"]["CustomBlock"]["B941List"][:1]
    entry["settlementDay"]["settlementDayDate"] = f"{day.isoformat()}T00:00:00+00:00"
    for period, end in zip(entry["MDRConsumptionPeriods"], settlement_period_ends(day)):
        period["sp"] = utc_timestamp(end)
    item["payload"]["CustomBlock"]["B941List"] = [entry]
    return item


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
    consume.run_reject(ctx, requirement(ctx, REJECT))
    call = script.call("future-timestamp")
    ahead = parse_dip_timestamp(call["items"][0]["payload"]["CommonBlock"]["S1"]["senderTimestamp"]) - datetime.now(UTC)
    assert timedelta(hours=23) < ahead <= timedelta(days=1)


def test_an_accepted_message_to_reject_lists_every_code(profile):
    script = Script(**{"bad-mpan": reply(201, ["RCP0000", "MSG0000"])})
    ctx, _ = make_ctx(profile, script)
    consume.run_reject(ctx, requirement(ctx, REJECT))
    assert ctx.outcomes[0].findings[0].actual == "HTTP 201, RCP0000, MSG0000"


def test_every_consume_delivery_carries_the_event_the_partner_and_the_webhook_config(profile):
    script = Script()
    ctx, hub = make_ctx(profile, script)
    ctx.profile = dataclasses.replace(ctx.profile, partner=dataclasses.replace(ctx.profile.partner,
                                                                               dip_id="1777777777"))
    config = WebhookConfig("https://127.0.0.1:9/hook/if-006", 5, None)
    hub.webhook = lambda dip_id, interface_id: config  # type: ignore[method-assign]
    for rid_part, interface, judge in (("IF-006/consume/MeterRemoval", "IF-006", consume.run_consume),
                                       (CONSUME, "IF-061", consume.run_consume),
                                       (REJECT, "IF-061", consume.run_reject)):
        req = requirement(ctx, rid_part)
        script.calls.clear()
        assert judge(ctx, req) is True
        sender = ctx.sender_for(interface, req.event)
        assert all(c["config"] is config and c["url"] == config.callback_url for c in script.calls)
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
    assert [o.passed for o in ctx.outcomes] == [False, True, True, True, True, True, True]


def test_a_webhook_taking_one_message_at_a_time_gets_a_batch_of_one(profile):
    script = Script(batch=reply(201, ["RCP0000"], batches=2))
    ctx, hub = make_ctx(profile, script)
    hub.webhook = lambda dip_id, interface_id: WebhookConfig("https://127.0.0.1:9/hook", 1, None)  # type: ignore
    assert consume.run_consume(ctx, requirement(ctx, CONSUME)) is True
    assert len(script.call("batch")["items"]) == 1
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
    assert finding.actual == "HTTP 400 (RCP1061, RCP1003)"
    assert finding.message.endswith("(HTTP 400 (RCP1061, RCP1003); response.count: one entry per message; "
                                    "response.code: unknown code)")


# --- declared flows (issue 14b) -----------------------------------------------------------------------

def _sent(interface_id: str, sender: str, *, seq: int, index: int = 0, tx: str = "T-1") -> Submission:
    item = {"payload": {"CommonBlock": {"S0": {"interfaceID": interface_id, "eventCode": "[Any]"},
                                        "S1": {"senderUniqueReference": f"S-{seq}"}}}}
    return Submission(interface_id, "Any", item, sender, tx, datetime.now(UTC), b"", {}, index=index, seq=seq)


def test_only_the_flows_the_profile_enables_may_be_sent(profile):
    """run_declared_flows: every message the party sent is on an enabled interface; a partner's message
    on any interface is not the party's (issue 21: only the slow fault matrix reached this judge)."""
    ctx, hub = make_ctx(profile)
    req = dataclasses.replace(requirement(ctx, "declared-flows"))
    assert req.interface is None and req.id.endswith("/declared-flows")
    enabled = sorted(ctx.profile.enabled_interfaces)
    assert "IF-064" in enabled and "IF-070" not in enabled
    hub.submissions += [_sent("IF-064", ctx.me.dip_id, seq=41), _sent("IF-070", ctx.partner.dip_id, seq=42)]
    assert produce.run_produce(ctx, req) is True
    assert recorded(ctx) == [(req.id, "produce.undeclared-flow", True, [41],
                              {"step": "declared-flows", "sent": 1, "expected_valid": False})]
    assert ctx.outcomes[0].findings == []
    ctx, hub = make_ctx(profile)
    hub.submissions += [_sent("IF-064", ctx.me.dip_id, seq=41), _sent("IF-070", ctx.me.dip_id, seq=43, index=2,
                                                                      tx="T-9"),
                        _sent("IF-070", ctx.partner.dip_id, seq=44)]
    assert produce.run_produce(ctx, req) is False
    assert recorded(ctx) == [(req.id, "produce.undeclared-flow", False, [43],
                              {"step": "declared-flows", "sent": 2, "expected_valid": False})]
    assert ctx.outcomes[0].findings == [Finding(
        "produce.undeclared-flow", "/2/payload/CommonBlock/S0/interfaceID",
        f"one of the enabled interfaces ({', '.join(enabled)})", "IF-070",
        f"IF-070 [Any] S1.senderUniqueReference=S-43: the MDR sent IF-070, which its profile does not enable "
        f"(interfaces.IF-070 = \"N\"): enable and certify it, or stop sending it", extra={"transactionID": "T-9"})]
    ctx, _ = make_ctx(profile)  # nothing sent: nothing undeclared
    assert produce.run_produce(ctx, req) is True
    assert recorded(ctx) == [(req.id, "produce.undeclared-flow", True, [],
                              {"step": "declared-flows", "sent": 0, "expected_valid": False})]


def test_a_trigger_that_failed_because_the_dip_refused_names_the_dips_code(profile):
    """The trigger answered an error because the DIP refused what the participant sent: the refusal
    (already on the hub, looked up without waiting) is the finding, the trigger's word a warning."""
    ctx, hub = make_ctx(profile)
    req = requirement(ctx, PRODUCE)

    def refuse(corr):
        hub.refused.append(Rejection("submit", "IF-064", 400, ["MSG1010"], [], datetime.now(UTC), b"", {},
                                     sender=ctx.me.dip_id, seq=40))

    ctx.send = Sender(ok=False, detail="trigger answered HTTP 502", then=refuse)  # type: ignore[method-assign]
    assert produce.run_produce(ctx, req) is False
    assert hub.waits == [0.0]  # the refusal is known when the trigger answers: no step-long wait
    assert recorded(ctx) == [(req.id, "produce.accepted", False, [40, 3], {
        "step": "submit", "status": 400, "codes": ["MSG1010"], "expected_valid": True})]
    assert ctx.outcomes[0].findings == [
        Finding("hub.rejected", "", "MSG0000", "MSG1010", "the DIP rejected the IF-064 submission (MSG1010)",
                extra={"codes": ["MSG1010"]}),
        Finding("produce.trigger", "triggers.IF-064", "the trigger to succeed", "trigger answered HTTP 502",
                "the trigger reported the refusal: trigger answered HTTP 502", "warning")]


def test_every_finding_on_an_accepted_message_points_into_that_item(profile):
    """message_findings: the identity, whole-day and period findings all name the item's own index."""
    ctx, _ = make_ctx(profile)
    item = _with_day(produced(ctx, "CI-1"), datetime.now(UTC).date())
    item["payload"]["CommonBlock"]["S1"]["senderRoleID"] = "SDS"
    del item["payload"]["CustomBlock"]["B941List"][0]["MDRConsumptionPeriods"][-1]
    found = produce.message_findings(ctx, item, 3, [])
    assert [f.rule for f in found] == ["produce.sender-role", "periods.count", "consumption.complete-days"]
    assert all(f.path.startswith("/3/payload/") for f in found), [f.path for f in found]
    assert [f.extra.get("assumption") for f in found] == [None, "A-PERIODS-48", "A-COMPLETE-DAYS"]
    # no interface id to read (the schema's finding): no produce rules, the hub's findings kept as they are
    for unreadable in (None, ["IF-064"]):
        item["payload"]["CommonBlock"]["S0"]["interfaceID"] = unreadable
        assert [f.rule for f in produce.message_findings(ctx, item, 3, [])] == ["produce.sender-role"]


# --- the hostile deliveries themselves (harness/run/adversary.py) ------------------------------------

@pytest.fixture
def clock_fourteen_hours_ahead(monkeypatch):
    """The machine's local time zone UTC+14 (a POSIX TZ string: no tz database needed)."""
    monkeypatch.setenv("TZ", "XYZ-14")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(scope="module")
def dip_identity():
    ca = make_ca("adversary killers CA", key=cached_key("test-ca"))
    return ca.issue("dip.test", key=cached_key("test-dip")).identity()


def test_the_stale_signature_is_dated_a_day_ago_in_utc_whatever_the_local_zone(dip_identity,
                                                                             clock_fourteen_hours_ahead):
    items, identity, sign = adversary.hostile("stale-signature", dip_identity, lambda: {"n": 1}, None)
    assert identity is dip_identity and sign is not None
    headers = sign("POST", "https://webhook.example/dip", b"[]", identity)
    dated = parse_signature_date(headers[SIGNATURE_DATE])
    assert dated is not None
    assert abs(dated - (datetime.now(timezone.utc) - adversary.STALE_BY)) < timedelta(minutes=1)
    assert verify_request("POST", "https://webhook.example/dip", b"[]", headers,
                          expected_certificate=dip_identity.certificate)[0].rule == "signature.skew"


def test_the_altered_body_headers_are_those_of_the_first_delivery_of_the_original(dip_identity):
    """With a webhook taking one message at a time, the DIP would have sent (and signed) `[a]` alone."""
    a, b = {"n": 1}, {"n": 2}
    config = WebhookConfig("https://webhook.example/dip", max_message_count=1)
    headers = adversary.signer_over([a, b], config)("POST", "https://webhook.example/dip", b"[]", dip_identity)
    assert headers[CONTENT_HASH] == content_hash(b'[{"n":1}]')
    assert adversary.signer_over([a, b], None)("POST", "u", b"[]", dip_identity)[CONTENT_HASH] == content_hash(
        b'[{"n":1},{"n":2}]')


def test_an_unknown_attack_is_named() -> None:
    with pytest.raises(ValueError, match=r"^unknown attack 'replayed-nonce'$"):
        adversary.hostile("replayed-nonce", None, dict, None)  # type: ignore[arg-type]
