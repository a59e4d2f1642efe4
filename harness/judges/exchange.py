"""Exchange judges (guidance 5.3 / 6.3): the paired SDS-MDR exchange, judged on the DIP's records.

Messages are named by `{"seq", "index"}`: the transcript record of the accepted submission and the
message's position in its body.

- `exchange.received`: the step's message was accepted by the DIP from its sender (args: `message`,
  `sender`, `interface`, `event`);
- `exchange.answer`: one business rule on an answer to a request (args: `rule`, `answer`, `request`,
  `others` the exchange's other correlation ids, `direction`, `start`, `stop`, `today`);
- `message.environment`: the environment tag of a message the party under test sent (args:
  `message`, `environment`);
- `exchange.delivery` / `exchange.reply`: the DIP's delivery of a message to the party under test,
  answered as the step asks and naming the delivered message (args: `attempts` the seqs of
  the delivery's attempt records, empty when none came, `reply`, `label`, `role`, `bound`);
- `exchange.nothing`: no message the step forbids in the scanned range (args: `rule`, `mpan`,
  `sender`, `interface`, `event`, `stop`, `why`, `exclude` the transaction ids other steps judged).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from harness.core.findings import Finding, short
from harness.judges.consume import attempts_of, event_of
from harness.judges.delivery import delivery_result
from harness.judges.records import RecordSet
from harness.judges.registry import judge
from harness.messages import business
from harness.transport.responses import parse_standard_response

# How the party under test's webhook must answer a request delivered to it (`reply` of a request step).
REPLIES = {"accept": "201 with RCP0000 for the delivered message",
           "any": "a StandardResponse naming the delivered message, accepting or rejecting it (no 5xx, no silence)"}
CONSUMPTION_RULES = ("exchange.measurement-quantity", "periods.count", "periods.sequence", "periods.utc",
                     "periods.duration", "periods.quantity", "consumption.complete-days", "exchange.before-start",
                     "exchange.after-stop")


def _day(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else None


def _missing(rule: str, what: str, ref: Any) -> list[Finding]:
    return [Finding(rule, "", f"{what} in the DIP's transcript", "absent",
                    f"{what} (transcript {short(ref)}) is not an accepted submission among the records "
                    "the check cites")]


def judge_received(records: RecordSet, args: Mapping[str, Any]) -> list[Finding]:
    ref = args.get("message") or {}
    record = records.get(ref.get("seq"))
    item = records.accepted_message(ref)
    if record is None or item is None:
        return _missing("exchange.timeout", f"{args.get('interface')} [{args.get('event')}]", ref)
    if record.caller != args.get("sender") or event_of(item) != (args.get("interface"), args.get("event")):
        return [Finding("exchange.timeout", "", f"{args.get('interface')} [{args.get('event')}] from "
                        f"{args.get('sender')}", f"{event_of(item)} from {record.caller}",
                        f"the message the check names is not the step's {args.get('interface')} "
                        f"[{args.get('event')}] from {args.get('sender')}")]
    return []


def judge_answer(records: RecordSet, args: Mapping[str, Any]) -> list[Finding]:
    rule = str(args.get("rule"))
    answer, request = records.accepted_message(args.get("answer")), records.accepted_message(args.get("request"))
    if answer is None or request is None:
        return _missing(rule, "the answer and its request", [args.get("answer"), args.get("request")])
    index = int((args.get("answer") or {}).get("index") or 0)
    if rule == "exchange.correlation":
        others = {str(k): str(v) for k, v in (args.get("others") or {}).items()}
        found = business.check_correlation(request, answer, index=index, others=others)
    elif rule == "exchange.accept":
        found = business.check_accepted(answer, index=index)
    elif rule == "exchange.reject":
        found = business.check_rejected(answer, index=index)
    elif rule == "exchange.echo":
        found = business.check_echo(request, answer, index=index)
    elif rule in CONSUMPTION_RULES:
        found = [f for f in business.check_consumption(
            answer, direction=args.get("direction"), start=_day(args.get("start")), stop=_day(args.get("stop")),
            index=index, today=_day(args.get("today"))) if f.rule == rule]
    else:
        raise ValueError(f"exchange.answer has no rule {rule!r}")
    return business.provisional(found)


def judge_environment(records: RecordSet, args: Mapping[str, Any]) -> list[Finding]:
    ref = args.get("message") or {}
    item = records.accepted_message(ref)
    if item is None:
        return _missing("environment.tag", "the message", ref)
    return business.provisional(business.check_environment(item, str(args.get("environment")),
                                                           index=int(ref.get("index") or 0)))


def judge_delivery(records: RecordSet, args: Mapping[str, Any]) -> list[Finding]:
    reply, label, role = str(args.get("reply") or "accept"), str(args.get("label")), str(args.get("role"))
    attempts = attempts_of(records, args)
    if not attempts:
        bound = float(args.get("bound") or 0)
        return [Finding("exchange.delivery", "", f"delivered and answered ({REPLIES[reply]})",
                        f"no delivery within {bound:g} s",
                        f"{label}: the hub did not finish delivering it to {role} {args.get('recipient')} within "
                        f"{bound:g} s")]
    result = delivery_result(attempts)
    ok = result.outcome == "accepted" if reply == "accept" else \
        result.outcome in ("accepted", "rejected", "partial") and bool(result.rcp_codes)
    if ok:
        return []
    return [Finding("exchange.delivery", "", REPLIES[reply],
                    f"{result.outcome} (HTTP {result.status}, codes {short(result.codes)})",
                    f"{label}: the {role}'s webhook {attempts[-1].get('url')} answered the delivery {result.outcome} "
                    f"(HTTP {result.status}); expected {REPLIES[reply]}")]


def judge_reply(records: RecordSet, args: Mapping[str, Any]) -> list[Finding]:
    attempts = attempts_of(records, args)
    if not attempts or attempts[-1].status is None:
        return []
    last = attempts[-1]
    entries = parse_standard_response(last.response_body or b"").entries
    expected = [business.reply_keys(item) for item in last.items()]
    return business.provisional(business.check_reply(
        entries, expected, where=f"{args.get('label')}: the {args.get('role')}'s StandardResponse"))


def unwanted(item: dict, args: Mapping[str, Any], index: int = 0) -> list[Finding]:
    """What makes a message one the `nothing` step forbids (empty: it is allowed); paths point into
    item `index` of its wire body."""
    rule = str(args.get("rule"))
    if rule == "exchange.after-stop":
        return business.check_consumption_window(item, stop=_day(args.get("stop")), index=index)
    return business.check_not_sent(item, index=index, rule=rule, why=str(args.get("why")))


def judge_nothing(records: RecordSet, args: Mapping[str, Any]) -> list[Finding]:
    rule = str(args.get("rule"))
    if rule == "exchange.after-stop" and not args.get("stop"):
        return []
    wanted = (args.get("interface"), args.get("event"))
    exclude = set(args.get("exclude") or [])
    findings: list[Finding] = []
    for record in records.ordered():
        if not record.accepted_submission or record.caller != args.get("sender"):
            continue
        for index, item, tx in record.messages():
            if tx in exclude or event_of(item) != wanted or business.mpan_of(item) != args.get("mpan"):
                continue
            findings += [f for f in business.labelled(unwanted(item, args, index), item) if f.rule == rule]
    return business.provisional(findings)


# Registered by a call, not with `@judge(...)`: mutmut never mutates a decorated function, so the
# verdicts themselves would escape the mutation run (bench/mutation.py).
judge("exchange.received")(judge_received)
judge("exchange.answer")(judge_answer)
judge("message.environment")(judge_environment)
judge("exchange.delivery")(judge_delivery)
judge("exchange.reply")(judge_reply)
judge("exchange.nothing")(judge_nothing)
