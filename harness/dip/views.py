"""The session's transcript records, turned into what check code waits on, and mirrored into evidence.

RemoteHub reads the session's records from the DIP (`harness.dip.client`); here each record becomes
the object the check code knows (an accepted message is a `Submission`, a refusal a `Rejection`, a
finished delivery a `Delivery`, a status message a `StatusMessage`, each with `transcript_seq`) and
an `http` record in the party's evidence log (channel `hub-inbound` for a request to the DIP,
`hub-outbound` for a delivery attempt; `context.transcript_seq` names the DIP's record, so verify
can hold the party's copy against the DIP's signed one).
"""

from __future__ import annotations

from typing import Any

from harness.core.catalogue import Catalogue
from harness.dip.model import Delivery, Rejection, StatusMessage, Submission
from harness.judges.delivery import delivery_result
from harness.judges.records import TranscriptRecord
from harness.messages.access import dig
from harness.transport.responses import parse_standard_response

DIP_ENDPOINTS = ("submit", "pubconfig", "replay", "requeue", "statusmessage", "validate")


def _headers(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, list):
        return {str(p[0]): str(p[1]) for p in value if isinstance(p, (list, tuple)) and len(p) == 2}
    return {}


def submissions(record: TranscriptRecord, catalogue: Catalogue, seq: int | None) -> list[Submission]:
    """One Submission per message of an accepted `POST /dip-channel/{IF}`."""
    out = []
    for index, item, tx in record.messages():
        interface = record.interface or dig(item, "payload", "CommonBlock", "S0", "interfaceID")
        event = catalogue.find_event_by_code(interface, dig(item, "payload", "CommonBlock", "S0", "eventCode"))
        recipients = dig(item, "payload", "CommonBlock", "A0", "primaryRecipients")
        out.append(Submission(
            interface_id=str(interface), event=event.name if event is not None else "?", item=item,
            sender=str(record.caller), transaction_id=str(tx), received_at=record.moment,
            body=record.request_body or b"", headers=_headers(record.get("request_headers")), index=index,
            key_slot=str(record.get("key_slot") or "primary"),
            recipients=tuple(r for r in recipients if isinstance(r, str) and r) if isinstance(recipients, list) else (),
            findings=[f for f in record.findings if f.path.startswith(f"/{index}/")
                      or (index == 0 and not f.path.startswith("/"))],
            seq=seq, transcript_seq=record.seq))
    return out


def rejection(record: TranscriptRecord, seq: int | None) -> Rejection | None:
    """A DIP API request the DIP refused (401/403) or rejected (4xx): endpoint, codes, reasons."""
    if record.kind != "inbound" or record.endpoint not in DIP_ENDPOINTS or record.status is None \
            or record.status < 400:
        return None
    return Rejection(endpoint=str(record.endpoint), interface_id=record.interface, status=record.status,
                     codes=record.codes, findings=record.findings, received_at=record.moment,
                     body=record.request_body or b"", headers=_headers(record.get("request_headers")),
                     sender=record.caller, seq=seq, transcript_seq=record.seq)


def status_message(record: TranscriptRecord, seq: int | None) -> StatusMessage | None:
    if record.kind != "inbound" or record.endpoint != "statusmessage" or record.status is None \
            or not 200 <= record.status < 300:
        return None
    parsed = parse_standard_response(record.request_body or b"", array_only=True, prefix="status")
    return StatusMessage(sender=str(record.caller), entries=[e for e in parsed.entries if isinstance(e, dict)],
                         codes=list(parsed.codes), received_at=record.moment, body=record.request_body or b"",
                         seq=seq, transcript_seq=record.seq)


def delivery_key(record: TranscriptRecord) -> str:
    """Which delivery an attempt belongs to: its `delivery_id`, else (a DIP that does not say) the
    recipient, interface and transaction ids it carries."""
    if record.get("delivery_id") is not None:
        return str(record.get("delivery_id"))
    return "|".join([str(record.get("recipient")), str(record.interface), *record.transaction_ids])


def final(record: TranscriptRecord) -> bool:
    """No attempt of the same delivery follows: the DIP's `final`, else an outcome it does not retry."""
    if record.get("final") is not None:
        return bool(record.get("final"))
    return record.get("outcome") != "retryable" and not record.get("resumed")


def delivery(attempts: list[TranscriptRecord]) -> Delivery:
    """A finished delivery (every attempt of one delivery_id, the last one `final`)."""
    first, last = attempts[0], attempts[-1]
    items = last.items()
    tx_ids = [str(dig(i, "payload", "CommonBlock", "D0", "transactionID")) for i in items if isinstance(i, dict)]
    replay = any(dig(i, "payload", "CommonBlock", "D0", "replayIndicator") is True
                 for i in items if isinstance(i, dict))
    return Delivery(recipient=str(last.get("recipient")), interface_id=str(last.interface), url=str(last.get("url")),
                    transaction_ids=tx_ids or last.transaction_ids, replay=replay, result=delivery_result(attempts),
                    started=first.moment, finished=last.moment, probe=last.get("probe"),
                    transcript_seqs=[a.seq for a in attempts])


def mirror(recorder: Any, record: TranscriptRecord, party: str | None = None) -> int | None:
    """The record as an `http` record of the party's evidence (events are not mirrored: the DIP's
    transcript in the bundle holds them). Returns the evidence seq. A delivery to `party` (the party
    under test) is on channel `webhook-delivery` (what its webhook was sent, as the report and replay
    name it), any other delivery `hub-outbound`; a probe's `tag` (requirement, step) joins the context."""
    if recorder is None or record.kind not in ("inbound", "delivery"):
        return None
    data = record.data
    response = None if record.status is None and record.response_body is None else record.response_body
    if record.kind == "inbound":
        context = {"transcript_seq": record.seq, "endpoint": record.endpoint, "interface": record.interface,
                   "sender": record.caller, "key_slot": data.get("key_slot"), "outcome": data.get("outcome"),
                   "codes": record.codes, "transaction_ids": record.transaction_ids,
                   "findings": data.get("findings") or []}
        return recorder.http(channel="hub-inbound", method=str(data.get("method") or "POST"),
                             url=str(data.get("url") or ""), request_headers=_headers(data.get("request_headers")),
                             request_body=record.request_body, status=record.status,
                             response_headers=_headers(data.get("response_headers")), response_body=response,
                             started=record.moment, elapsed_ms=float(data.get("elapsed_ms") or 0),
                             peer_certificate_sha256=data.get("client_cert_sha256"), error=data.get("error"),
                             context=context)
    context = {"transcript_seq": record.seq, "recipient": data.get("recipient"), "interface": record.interface,
               "delivery_id": data.get("delivery_id"), "attempt": data.get("attempt"), "batch": data.get("batch"),
               "final": data.get("final"), "probe": data.get("probe"), "outcome": data.get("outcome"),
               "codes": record.codes, "transaction_ids": record.transaction_ids,
               "client_cert_presented": data.get("client_cert_presented")}
    tag = data.get("tag")
    if isinstance(tag, dict):
        context.update({k: v for k, v in tag.items() if k in ("requirement", "step") and isinstance(v, str)})
    channel = "webhook-delivery" if party is not None and data.get("recipient") == party else "hub-outbound"
    return recorder.http(channel=channel, method="POST", url=str(data.get("url") or ""),
                         request_headers=_headers(data.get("request_headers")), request_body=record.request_body,
                         status=record.status, response_headers=_headers(data.get("response_headers")),
                         response_body=response, started=record.moment, elapsed_ms=float(data.get("elapsed_ms") or 0),
                         peer_certificate_sha256=data.get("server_cert_sha256"), error=data.get("error"),
                         context=context)
