"""Transcript records as the judges read them, on the edges a faulty or hostile transcript has (issue 21).

`harness.judges.records` is what every judge stands on: a body that is not base64 or not JSON, a
body the record's hash does not match, a reference to a record or message that is not there, a
submission the DIP gave fewer transaction ids than messages. Each must read as "absent" (None, [])
rather than as something else or a crash, so a judge reports the missing evidence instead of a
traceback or a verdict on the wrong message.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest
from test_mutation_killers_judges import record

from harness.judges import RecordSet, TranscriptRecord


def _sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


# --- the exported record: bodies inline as base64 ----------------------------------------------------

def test_a_body_with_characters_outside_base64_reads_as_absent():
    # b64decode without validate drops the "!" and decodes "{}": a body the DIP never signed.
    rec = TranscriptRecord.from_json({"seq": 1, "request_b64": "e30=!", "response_b64": "e30="})
    assert rec.request_body is None and rec.response_body == b"{}"
    assert TranscriptRecord.from_json({"seq": 1, "request_b64": "not base64"}).request_body is None
    assert TranscriptRecord.from_json({"seq": 1, "request_b64": 7}).request_body is None


def test_the_inline_bodies_are_not_kept_among_the_records_fields():
    rec = record(1, "inbound", request=[{"a": 1}], response={"b": 2}, endpoint="submit")
    assert "request_b64" not in rec.data and "response_b64" not in rec.data
    assert rec.get("endpoint") == "submit" and rec.data["request_sha256"] == _sha(rec.request_body)


def test_a_missing_field_reads_as_the_default_asked_for():
    rec = record(1, "inbound")
    assert rec.get("attempt", 3) == 3 and rec.get("attempt") is None and rec.get("kind", "x") == "inbound"


@pytest.mark.parametrize("time, moment", [
    ("2025-01-02T03:04:05Z", datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
    ("2025-01-02T03:04:05+00:00", datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
    ("2025-01-02T03:04:05", datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),  # no offset: UTC
    ("2025-01-02T04:04:05+01:00", datetime(2025, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1)))),
])
def test_a_records_time_reads_as_an_aware_moment(time, moment):
    got = record(1, "event", time=time).moment
    assert got == moment and got.utcoffset() == moment.utcoffset()


@pytest.mark.parametrize("time", ["yesterday", "", None])
def test_a_record_without_a_readable_time_reads_as_now(time):
    before = datetime.now(timezone.utc)
    got = TranscriptRecord({"seq": 1, "time": time}).moment
    assert got.tzinfo is not None and before <= got <= datetime.now(timezone.utc)


# --- bodies as JSON -------------------------------------------------------------------------------

def test_bodies_parse_as_json_and_absent_or_broken_bodies_read_as_none():
    rec = record(1, "delivery", request=[{"n": 1}], response={"responseCode": "RCP0000"})
    assert rec.request_json() == [{"n": 1}] and rec.response_json() == {"responseCode": "RCP0000"}
    assert TranscriptRecord({"seq": 2}).request_json() is None
    assert TranscriptRecord({"seq": 2}).response_json() is None
    assert TranscriptRecord({"seq": 2}, b"", b"").request_json() is None
    broken = TranscriptRecord({"seq": 3}, b"[not json", b"{")
    assert broken.request_json() is None and broken.response_json() is None and broken.items() == []
    deep = TranscriptRecord({"seq": 4}, b"[" * 100_000)
    assert deep.request_json() is None


def test_items_are_the_messages_of_an_array_body_only():
    assert record(1, "delivery", request=[{"n": 1}, "x"]).items() == [{"n": 1}, "x"]
    assert record(1, "delivery", request={"n": 1}).items() == []
    assert record(1, "delivery", request="text").items() == []


@pytest.mark.parametrize("index, expected", [(0, {"n": 0}), (1, {"n": 1}), (2, None), (3, None), (-1, None)])
def test_a_message_by_index_is_a_dict_item_in_range(index, expected):
    rec = record(1, "inbound", request=[{"n": 0}, {"n": 1}, "not a message"])
    assert rec.message(index) == expected


# --- the bodies' hashes -----------------------------------------------------------------------------

def test_body_hashes_name_every_side_that_does_not_hold():
    req, resp = b'[{"n":1}]', b'{"ok":true}'
    good = {"seq": 1, "request_sha256": _sha(req), "response_sha256": _sha(resp)}
    assert TranscriptRecord(good, req, resp).body_hashes_hold() == []
    # neither a body nor a hash on a side: nothing to hold (and the other side is still checked)
    assert TranscriptRecord({"seq": 1}).body_hashes_hold() == []
    record = TranscriptRecord({"seq": 1, "response_sha256": _sha(resp)}, None, b"other")
    assert record.body_hashes_hold() == ["response"]
    # a hash with no body, or a body with no hash, does not hold
    assert TranscriptRecord({"seq": 1, "request_sha256": _sha(req)}).body_hashes_hold() == ["request"]
    assert TranscriptRecord({"seq": 1}, req, None).body_hashes_hold() == ["request"]
    assert TranscriptRecord({"seq": 1}, None, resp).body_hashes_hold() == ["response"]
    assert TranscriptRecord(good, resp, req).body_hashes_hold() == ["request", "response"]


# --- an accepted submission's messages and their transaction ids ---------------------------------

def test_a_message_the_dip_gave_no_transaction_id_has_none():
    rec = record(1, "inbound", request=[{"n": 0}, {"n": 1}, "x", {"n": 3}], endpoint="submit", status=201,
                 transaction_ids=["T-0"])
    assert list(rec.messages()) == [(0, {"n": 0}, "T-0"), (1, {"n": 1}, None), (3, {"n": 3}, None)]
    refused = record(2, "inbound", request=[{"n": 0}], endpoint="submit", status=400, transaction_ids=["T-0"])
    assert list(refused.messages()) == []


# --- the records a judge may read ---------------------------------------------------------------------

def records() -> RecordSet:
    return RecordSet([record(seq, "inbound", request=[{"seq": seq, "n": 0}, {"seq": seq, "n": 1}])
                      for seq in (3, 1, 2, 5)])


def test_a_record_set_holds_records_by_seq_and_scans_a_range_inclusively():
    rs = records()
    assert 1 in rs and 5 in rs and 4 not in rs and len(rs) == 4
    assert [r.seq for r in rs.ordered()] == [1, 2, 3, 5]
    assert [r.seq for r in rs.between(2, 5)] == [2, 3, 5]
    assert [r.seq for r in rs.between(1, 1)] == [1]
    assert rs.between(4, 4) == []
    rs.add(record(4, "event"))
    assert [r.seq for r in rs.between(3, 4)] == [3, 4]


@pytest.mark.parametrize("seq", ["1", 1.0, None, [1]])
def test_only_an_integer_seq_names_a_record(seq):
    assert records().get(seq) is None


def test_a_message_reference_names_one_item_of_one_record():
    rs = records()
    assert rs.message({"seq": 2, "index": 1}) == {"seq": 2, "n": 1}
    assert rs.message({"seq": 2}) == {"seq": 2, "n": 0}  # no index: the first message
    assert rs.message({"seq": 2, "index": 2}) is None
    assert rs.message({"seq": 4, "index": 0}) is None  # no such record
    assert rs.message({"seq": 2, "index": "1"}) is None
    assert rs.message({"seq": 2, "index": None}) is None
    assert rs.message(None) is None and rs.message([2, 1]) is None

