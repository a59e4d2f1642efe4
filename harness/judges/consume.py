"""Consume judges (guidance 5.2a / 6.2a): how the participant's webhook answered the DIP's deliveries.

- `consume.accepted`: a delivery of valid messages was consumed: 201 and RCP0000 for every message
  (after at most the DIP's redelivery); findings `consume.status`, `consume.timeout`,
  `consume.connection`, `consume.redelivery` (args: `attempts` the seqs of the delivery's attempt
  records, `what`, `timeout`, `replay`, `batch`);
- `consume.refused`: a hostile delivery was refused with 400/401/403 or RCP9999 (args: `attack`,
  `label`);
- `consume.recipient-rejection`: a message a recipient must reject was, with `code`, in the reply or
  by a `/statusmessage` of the party naming its transaction (args: `code`, `what`, `label`,
  `timeout`, `transaction_id`, `party`);
- `consume.replay-once`: a replayed request was not answered twice: counts the party's accepted
  answers correlated with it in the scanned range (args: `attempts` of the replayed delivery,
  `label`, `answers`, `party`, `role`, `timeout`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.core.catalogue import load_catalogue
from harness.core.findings import Finding
from harness.judges.attacks import attack
from harness.judges.delivery import delivery_result
from harness.judges.records import RecordSet, TranscriptRecord
from harness.judges.registry import judge
from harness.messages import business
from harness.messages.access import dig
from harness.transport.delivery import DeliveryResult
from harness.transport.responses import SUCCESS_CODES, parse_standard_response

REFUSAL_STATUSES = (400, 401, 403)
SIGNATURE_REFUSAL = "RCP9999"


# --- how a delivery was answered ---------------------------------------------------------------

def codes_text(result: DeliveryResult) -> str:
    """The RCP codes of a reply, or what stood in their place (never "None")."""
    codes = [c for c in result.codes if c]
    return ", ".join(codes) if codes else "no RCP code (no usable StandardResponse)"


def answered(result: DeliveryResult) -> str:
    """How the webhook answered, including a redelivery: `HTTP 500, then HTTP 400 (RCP1006)`."""
    parts = [f"HTTP {a.status}" if a.status is not None else (a.error or "no answer") for a in result.responses]
    text = ", then ".join(parts) or "no answer"
    codes = [c for c in result.codes if c]
    return text + (f" ({', '.join(codes)})" if codes else "")


def redirect(status: int | None) -> bool:
    return status is not None and 300 <= status < 400


def acknowledged(result: DeliveryResult) -> bool:
    return result.status == 201 and bool(result.codes) and all(c in SUCCESS_CODES for c in result.codes)


def errors_in(findings: list[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)


def accept_findings(result: DeliveryResult, what: str, timeout: float) -> list[Finding]:
    """Why a delivery of valid messages was not consumed: `consume.timeout`, `consume.connection`,
    `consume.redelivery` or `consume.status`; a warning when it was, but only on redelivery."""
    # A redelivery is a second attempt within one batch; a batch the DIP split is several first attempts.
    again = next((a for a in result.responses if a.number > 1), None)
    redelivered = again is not None
    first = next((a.status for a in result.responses if again is None or a.batch == again.batch), None)
    if result.outcome == "accepted" and all(c in SUCCESS_CODES for c in result.codes):
        if redelivered:
            return [Finding("consume.redelivery", "", "HTTP 201 at the first delivery", f"HTTP {first}",
                            f"{what}: the webhook answered HTTP {first}; the DIP's redelivery of the same batch "
                            f"was accepted", "warning")]
        return []
    if result.status is None:
        detail = "; ".join(f.message for f in result.findings) or "no reply"
        if any(f.rule == "delivery.timeout" for f in result.findings):
            return [Finding("consume.timeout", "", f"an answer within {timeout:g} s", detail,
                            f"{what}: the webhook did not answer within {timeout:g} s ({detail})")]
        return [Finding("consume.connection", "", "a connection to the webhook (TCP, TLS)", detail,
                        f"{what}: the webhook could not be reached ({detail})")]
    detail = "; ".join(f"{f.rule}: {f.message}" for f in result.findings if f.severity == "error")
    if redelivered and result.status is not None and result.status < 500 and result.status not in (408, 429):
        return [Finding("consume.redelivery", "", "the redelivered batch accepted: HTTP 201, RCP0000",
                        answered(result),
                        f"{what}: the webhook answered HTTP {first}, then refused the DIP's redelivery of the same "
                        f"batch ({answered(result)}). After a 5xx the DIP delivers the batch again: a webhook "
                        f"must accept it (201, RCP0000) and must not treat it as a duplicate of what it failed",
                        extra={"codes": result.codes})]
    if redirect(result.status):
        return [Finding("consume.status", "", "HTTP 201 with a StandardResponse, RCP0000 for every message",
                        f"HTTP {result.status}",
                        f"{what}: the webhook answered with a redirect (HTTP {result.status}); the DIP does not "
                        f"follow redirects, so the delivery was not consumed. Register the final URL",
                        extra={"codes": result.codes})]
    return [Finding("consume.status", "", "HTTP 201 with a StandardResponse, RCP0000 for every message",
                    answered(result),
                    f"{what}: not consumed ({answered(result)}{'; ' + detail if detail else ''})",
                    extra={"codes": result.codes})]


def attempts_of(records: RecordSet, args: Mapping[str, Any], key: str = "attempts") -> list[TranscriptRecord]:
    """The delivery records `args[key]` names (the attempts of one delivery), in seq order."""
    seqs = args.get(key) or []
    return [r for s in seqs if (r := records.get(s)) is not None and r.kind == "delivery"]


def _delivery(records: RecordSet, args: Mapping[str, Any]) -> DeliveryResult:
    """The one delivery a check judges: the attempts `args["attempts"]` names."""
    return delivery_result(attempts_of(records, args))


# --- judges -----------------------------------------------------------------------------------

def judge_accepted(records: RecordSet, args: Mapping[str, Any]) -> list[Finding]:
    result = _delivery(records, args)
    what, timeout = str(args.get("what") or "delivery"), float(args.get("timeout") or 0)
    problems = accept_findings(result, what, timeout)
    size = args.get("batch")
    if isinstance(size, int) and size > 1 and not errors_in(problems) and result.batches != 1:
        problems.append(Finding("consume.status", "", "one POST", f"{result.batches} POSTs", "the batch was split",
                                "warning"))
    if args.get("replay"):
        problems = [Finding("consume.replay", f.path, f.expected, f.actual,
                            f"replay (same D0.transactionID, replayIndicator true): {f.message}; a replay must be "
                            f"acknowledged like the first delivery (assumption A-REPLAY)", f.severity, f.extra)
                    for f in problems]
    return problems


def judge_refused(records: RecordSet, args: Mapping[str, Any]) -> list[Finding]:
    a = attack(str(args.get("attack")))
    result = _delivery(records, args)
    refused = result.status in REFUSAL_STATUSES or (
        result.status is not None and result.status < 300 and bool(result.codes)
        and all(c == SIGNATURE_REFUSAL for c in result.codes))
    if refused:
        return []
    if result.status is None or result.status >= 500:
        how = f"was not refused cleanly ({answered(result)})"
    elif redirect(result.status):
        how = f"was answered with a redirect (HTTP {result.status}), which is neither a refusal nor an acknowledgement"
    else:
        how = f"was accepted ({answered(result)})"
    return [Finding(a.rule, f"header:{a.header}", "HTTP 400/401/403 or RCP9999 for every message", answered(result),
                    f"{args.get('label')}: {a.what} {how}; the webhook must {a.must}, and answer 401 (or 400/403) "
                    f"or RCP9999")]


def status_message_for(records: RecordSet, party: str, code: str, transaction_id: str) -> TranscriptRecord | None:
    """The party's accepted `/statusmessage` naming `transaction_id` with `code`, among `records`."""
    for record in records.ordered():
        if record.kind != "inbound" or record.endpoint != "statusmessage" or record.caller != party:
            continue
        if record.status is None or not 200 <= record.status < 300:
            continue
        parsed = parse_standard_response(record.request_body or b"", array_only=True, prefix="status")
        for entry, found in zip(parsed.entries, parsed.codes):
            if found == code and isinstance(entry, Mapping) and entry.get("transactionID") == transaction_id:
                return record
    return None


def judge_recipient_rejection(records: RecordSet, args: Mapping[str, Any]) -> list[Finding]:
    """The right code in the reply, or (after a 201 without it) in a status message of the party."""
    code, what, label = str(args.get("code")), str(args.get("what")), str(args.get("label"))
    timeout, tx = float(args.get("timeout") or 0), str(args.get("transaction_id"))
    result = _delivery(records, args)
    where, extra = "/0/payload/CommonBlock", {"transactionID": tx}
    if result.status is None:
        timed_out = any(f.rule == "delivery.timeout" for f in result.findings)
        return [Finding("consume.timeout" if timed_out else "consume.connection", "", f"an answer within {timeout:g} s",
                        answered(result), f"{label}: no answer to {what} ({answered(result)})", extra=extra)]
    if code in result.codes:
        return []
    if acknowledged(result):
        if status_message_for(records, str(args.get("party")), code, tx) is not None:
            return []
        return [Finding("consume.recipient-rejection", where, code, f"HTTP 201, {codes_text(result)}",
                        f"{label}: {what} was accepted; a recipient must reject it with {code}, in the reply or by "
                        f"/statusmessage within {timeout:g} s (assumption A-RECIPIENT-REJECTS)", extra=extra)]
    if redirect(result.status):
        return [Finding("consume.recipient-rejection", where, code, f"HTTP {result.status}",
                        f"{label}: {what} was answered with a redirect (HTTP {result.status}): neither a rejection "
                        f"nor an acknowledgement; expected {code}", extra=extra)]
    return [Finding("consume.recipient-rejection", where, code, answered(result),
                    f"{label}: {what} was answered {answered(result)}, without {code}; a recipient must reject it "
                    f"with {code} (assumption A-RECIPIENT-REJECTS)", extra=extra)]


def event_of(item: Any) -> tuple[str, str] | None:
    """(interface id, event name) of a message, from S0 and the catalogue; None when unreadable."""
    interface = dig(item, "payload", "CommonBlock", "S0", "interfaceID")
    code = dig(item, "payload", "CommonBlock", "S0", "eventCode")
    try:
        event = load_catalogue().find_event_by_code(interface, code)
    except Exception:  # noqa: BLE001 - an unreadable S0 is the schema's finding, not this judge's
        return None
    return (event.interface_id, event.name) if event is not None else None


def answers_in(records: RecordSet, request: dict, answers: set[tuple[str, str]], party: str
               ) -> list[tuple[TranscriptRecord, int]]:
    """(record, index) of the party's accepted messages answering `request` (A-CORRELATION), in seq order."""
    rule = business.correlation_rule()
    found = []
    for record in records.ordered():
        if not record.accepted_submission or record.caller != party:
            continue
        for index, item, _ in record.messages():
            if event_of(item) in answers and rule.matches(request, item):
                found.append((record, index))
    return found


def judge_replay_once(records: RecordSet, args: Mapping[str, Any]) -> list[Finding]:
    """Counts the answers to the replayed request in the scanned range: two or more, processed twice."""
    replayed = attempts_of(records, args)
    request = replayed[0].message(0) if replayed else None
    label, role = str(args.get("label")), str(args.get("role"))
    wanted = {(str(a[0]), str(a[1])) for a in args.get("answers") or [] if isinstance(a, (list, tuple)) and len(a) == 2}
    what = " or ".join(f"{i} [{e}]" for i, e in sorted(wanted))
    if request is None:
        return [Finding("consume.replay-processed", "", "the replayed delivery in the DIP's transcript", "absent",
                        f"{label}: the replayed delivery is not among the transcript records the check cites")]
    tx = business.reply_keys(request).get("transactionID")
    seen = answers_in(records, request, wanted, str(args.get("party")))
    if not seen:
        return [Finding("consume.replay-processed", "", f"{what} answering the first delivery", "none",
                        f"{label}: no {what} answering the first delivery reached the DIP within "
                        f"{float(args.get('timeout') or 0):g} s, so whether the replay was processed again could not "
                        f"be observed", "warning")]
    if len(seen) == 1:
        return []
    seqs = ", ".join(str(r.seq) for r, _ in seen)
    return [Finding("consume.replay-processed", "/0/payload/CommonBlock/D0/replayIndicator",
                    f"one {what} for transaction {tx}", f"{len(seen)} answers (transcript {seqs})",
                    f"{label}: the replay of transaction {tx} (replayIndicator true) was processed again: the "
                    f"{role} sent {len(seen)} {what} answering it. A replay must be acknowledged (201, RCP0000) "
                    f"and not processed twice (assumption A-REPLAY)", extra={"transactionID": tx})]


# Registered by a call, not with `@judge(...)`: mutmut never mutates a decorated function, so the
# verdicts themselves would escape the mutation run (bench/mutation.py).
judge("consume.accepted")(judge_accepted)
judge("consume.refused")(judge_refused)
judge("consume.recipient-rejection")(judge_recipient_rejection)
judge("consume.replay-once")(judge_replay_once)
