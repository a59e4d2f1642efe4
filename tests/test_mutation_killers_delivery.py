"""A delivery rebuilt from the DIP's attempt records, as every consume and exchange judge reads it (issue 21).

`harness.judges.delivery.delivery_result` turns the `delivery` records of one delivery into the
`DeliveryResult` the live delivery reaches: which attempt decides each batch, how many attempts
were made, what each attempt was (its status, error, number, batch, body) and the worst outcome of
the batches. The consume judges name all of these in their findings ("HTTP 503, then HTTP 201",
"no reply after 2 attempt(s)", "batch 1: ..."), so each is asserted here as the reviewer reads it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from test_mutation_killers_judges import attempt, egress, record, reply, submission

from harness.core.findings import Finding
from harness.judges.delivery import delivery_result
from harness.judges.records import TranscriptRecord

UTC = timezone.utc
ITEMS = [egress()]
OK = reply(ITEMS, "RCP0000")


# --- one attempt record, as the result holds it ---------------------------------------------------

def test_an_attempt_carries_what_the_dip_recorded_of_it():
    rec = record(7, "delivery", request=ITEMS, response=OK, status=201, attempt=2, batch=1, error=None,
                 elapsed_ms=1500, time="2025-03-04T05:06:07Z", response_headers={"Content-Type": "application/json"},
                 server_cert_sha256="sha256:ab", delivery_id="d1")
    [one] = delivery_result([rec]).responses
    assert (one.batch, one.number, one.status, one.error, one.seq) == (1, 2, 201, None, 7)
    assert one.elapsed == 1.5 and one.body == OK and one.truncated is False and one.message_count == 1
    assert one.started == datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert one.response_headers == {"Content-Type": "application/json"} and one.peer_certificate == "sha256:ab"


def test_an_attempt_record_without_the_optional_fields_reads_as_a_first_attempt_of_batch_0():
    rec = TranscriptRecord({"seq": 3, "kind": "delivery", "status": 404, "attempt": "2", "error": 5})
    result = delivery_result([rec])
    [one] = result.responses
    assert (one.batch, one.number, one.error, one.elapsed, one.body, one.message_count) == (0, 1, None, 0.0, b"", 0)
    assert one.response_headers == {} and one.peer_certificate is None and one.started.tzinfo is not None
    assert result.findings == [Finding("delivery.status", "", "201 with a StandardResponse", "404",
                                       "delivery: the webhook answered HTTP 404")]


def test_an_attempt_record_with_neither_status_nor_error_fails_the_delivery_and_says_so():
    # The DIP never writes one; an edited or damaged transcript may. Judged, not crashed on.
    for error in (None, 5):
        result = delivery_result([TranscriptRecord({"seq": 4, "kind": "delivery", "status": None, "error": error})])
        assert (result.outcome, result.attempts, result.status) == ("failed", 1, None)
        assert [f.message for f in result.findings] == [
            "delivery: no reply after 1 attempt(s): the record shows neither an HTTP status nor an error"]


def test_an_empty_reply_is_named_as_empty():
    result = delivery_result([attempt(1, ITEMS, 201)])
    assert result.outcome == "failed"
    assert [(f.rule, f.actual) for f in result.findings] == [("response.json", "b''")]


def test_an_attempt_without_an_answer_names_how_many_attempts_were_made():
    result = delivery_result([record(1, "delivery", request=ITEMS, status=None, error="connection refused")])
    assert (result.outcome, result.attempts, result.status) == ("failed", 1, None)
    assert [f.message for f in result.findings] == ["delivery: no reply after 1 attempt(s): connection refused"]


# --- which attempts decide ---------------------------------------------------------------------------

def test_no_attempt_record_is_a_failed_delivery_with_no_attempts():
    result = delivery_result([submission(1, ITEMS)])
    got = (result.outcome, result.attempts, result.status, result.batches, result.responses)
    assert got == ("failed", 0, None, 0, [])
    assert delivery_result([]).outcome == "failed"


def test_a_redelivery_after_a_retryable_status_decides_and_both_attempts_count():
    result = delivery_result([attempt(4, ITEMS, 201, OK, number=2), attempt(3, ITEMS, 503, number=1)])
    assert (result.outcome, result.attempts, result.status, result.batches) == ("accepted", 2, 201, 1)
    assert [(a.number, a.status) for a in result.responses] == [(1, 503), (2, 201)]
    assert result.codes == ["RCP0000"] and result.findings == []


def test_the_attempt_number_orders_the_attempts_before_the_seq():
    # the records of a resumed delivery need not be in seq order: attempt 1 decides first
    result = delivery_result([attempt(3, ITEMS, 201, OK, number=2), attempt(4, ITEMS, 503, number=1)])
    assert [(a.number, a.seq) for a in result.responses] == [(1, 4), (2, 3)]
    assert (result.outcome, result.attempts) == ("accepted", 2)


def test_a_record_without_an_attempt_number_is_a_first_attempt_ordered_by_seq():
    result = delivery_result([record(9, "delivery", request=ITEMS, response=OK, status=201),
                              attempt(8, ITEMS, 503, number=1), attempt(10, ITEMS, 201, OK, number=2)])
    # (1, 8) 503 is retried, (1, 9) 201 decides: the attempt numbered 2 is never reached
    assert [(a.number, a.seq) for a in result.responses] == [(1, 8), (1, 9)]
    assert (result.outcome, result.attempts, result.status) == ("accepted", 2, 201)


def test_an_answer_that_concludes_the_batch_ends_it():
    result = delivery_result([attempt(1, ITEMS, 201, OK, number=1), attempt(2, ITEMS, 503, number=2)])
    assert (result.outcome, result.attempts, result.status) == ("accepted", 1, 201)


def test_the_last_recorded_attempt_of_a_batch_still_retryable_is_its_outcome():
    result = delivery_result([attempt(1, ITEMS, 503, number=1), attempt(2, ITEMS, 503, number=2)])
    assert (result.outcome, result.attempts, result.status) == ("failed", 2, 503)
    assert [f.message for f in result.findings] == ["delivery: still HTTP 503 after 2 attempt(s)"]


# --- batches --------------------------------------------------------------------------------------------

def test_each_batch_is_named_and_the_worst_outcome_is_the_deliverys():
    result = delivery_result([attempt(1, ITEMS, 201, OK, batch=0), attempt(2, ITEMS, 404, batch=1)])
    assert (result.outcome, result.attempts, result.batches, result.status) == ("refused", 2, 2, 404)
    assert [f.message for f in result.findings] == ["batch 1: the webhook answered HTTP 404"]


@pytest.mark.parametrize("first, second, worst", [
    ((201, None), (207, None), "partial"),
    ((207, None), (400, None), "rejected"),
    ((400, None), (404, None), "refused"),
    ((404, None), (None, "timeout after 5 s"), "timeout"),
    ((None, "timeout after 5 s"), (None, "connection refused"), "failed"),
])
def test_the_outcomes_rank_by_severity_not_by_name(first, second, worst):
    codes = {201: "RCP0000", 207: "RCP0000", 400: "RCP1061"}
    records = []
    for seq, (batch, (status, error)) in enumerate([(0, first), (1, second)], start=1):
        body = reply(ITEMS, codes[status]) if status in codes else b""
        records.append(attempt(seq, ITEMS, status, body, batch=batch, error=error))
    assert delivery_result(records).outcome == worst
    assert delivery_result(list(reversed(records))).outcome == worst


def test_an_unparsable_time_is_read_as_now():
    before = datetime.now(UTC)
    rec = record(1, "delivery", request=ITEMS, response=OK, status=201, time="yesterday")
    [one] = delivery_result([rec]).responses
    assert before <= one.started <= datetime.now(UTC) + timedelta(seconds=1)

