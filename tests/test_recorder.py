"""Recorder: records land on disk as they happen, chained, thread-safe, with secrets redacted."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from harness.core.errors import ConfigError
from harness.core.findings import Finding
from harness.evidence.recorder import GENESIS, Recorder, read_records
from harness.evidence.redact import Redactor
from harness.evidence.verify import verify_bundle
from harness.report.bodies import read_body

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
PRIMARY = "PRIMARY-api-key-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
SECONDARY = "SECONDARY-api-key-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
PASSWORD = "s3cret/pa\"ss"
PEM = ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n"
       "VJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n"
       "-----END PRIVATE KEY-----\n")
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"


def _last(folder: Path) -> dict:
    return json.loads((folder / "evidence.jsonl").read_bytes().splitlines()[-1])


def _exchange(rec: Recorder, **overrides: object) -> int:
    args = dict(channel="api", method="post", url="https://127.0.0.1:8443/api/IF-062",
                request_headers={"X-API-Key": PRIMARY}, request_body=b'[{"payload":{}}]', status=201,
                response_headers={"Content-Type": "application/json"}, response_body=b'{"ok":true}',
                started=NOW, elapsed_ms=4.25)
    args.update(overrides)
    return rec.http(**args)  # type: ignore[arg-type]


def test_each_record_is_on_disk_and_chained_as_it_happens(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "run", run={"run_id": "r1"})
    start = _last(tmp_path / "run")
    assert start["kind"] == "run-start" and start["seq"] == 1 and start["prev"] == GENESIS
    assert start["run"] == {"run_id": "r1"} and len(start["redaction"]["salt"]) == 32

    seq = _exchange(rec)
    record = _last(tmp_path / "run")  # read mid-run, before close()
    assert record["seq"] == seq == 2 and record["kind"] == "http" and record["method"] == "POST"
    first_line = (tmp_path / "run" / "evidence.jsonl").read_bytes().splitlines()[0]
    assert record["prev"] == hashlib.sha256(first_line).hexdigest()
    body = read_body(tmp_path / "run", record["request"]["body"])  # on disk before close(), like the record
    assert body == b'[{"payload":{}}]' and record["request"]["body"]["sha256"] == hashlib.sha256(body).hexdigest()
    assert record["request"]["body"]["file"] == "messages/bodies-0001.bin" and record["request"]["body"]["offset"] == 0
    assert record["response"]["status"] == 201 and record["started"] == "2026-05-01T12:00:00.000000Z"

    assert rec.event("trigger", interface="IF-062", how="http") == 3
    assert _last(tmp_path / "run")["data"] == {"interface": "IF-062", "how": "http"}
    assert rec.check("REQ-1", "api.accepts", False, findings=[Finding("x.y", "/0", "a", "b", "m")],
                     messages=[2, 2]) == 4
    check = _last(tmp_path / "run")
    assert check["passed"] is False and check["messages"] == [2] and check["findings"][0]["rule"] == "x.y"
    rec.close()
    assert _last(tmp_path / "run") == {**_last(tmp_path / "run"), "kind": "run-end", "status": "complete"}
    with pytest.raises(RuntimeError, match="closed"):
        rec.event("late")


def test_no_response_and_no_body_are_recorded_as_such(tmp_path: Path) -> None:
    with Recorder(tmp_path / "run", fsync=True) as rec:
        _exchange(rec, request_body=None, status=None, response_headers=None, response_body=None,
                  error="timed out after 5 s", method="GET")
    record = read_records(tmp_path / "run" / "evidence.jsonl")[1]
    assert record["request"]["body"] is None and record["response"] is None
    assert record["error"] == "timed out after 5 s"
    assert list((tmp_path / "run" / "messages").iterdir()) == []


def test_a_second_recorder_cannot_append_to_an_earlier_run(tmp_path: Path) -> None:
    Recorder(tmp_path / "run").close()
    with pytest.raises(ConfigError, match="evidence already recorded"):
        Recorder(tmp_path / "run")


def test_many_threads_give_one_unbroken_chain(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "run")
    barrier = threading.Barrier(8, timeout=10)

    def work(n: int) -> None:
        barrier.wait()
        for i in range(40):
            if i % 2:
                rec.event("note", thread=n, i=i)
            else:
                _exchange(rec, request_body=f"{n}-{i}".encode())

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    rec.close()
    records = read_records(tmp_path / "run" / "evidence.jsonl")
    assert [r["seq"] for r in records] == list(range(1, 8 * 40 + 3))
    result = verify_bundle(tmp_path / "run", now=NOW)
    # an unfinished bare log with no plan or profile: only those absences, never a chain problem
    assert {f.rule for f in result.findings} <= {"bundle.manifest", "evidence.plan", "summary.missing",
                                                 "plan.profile-missing", "plan.profile-digest"}
    bodies = {read_body(tmp_path / "run", r["request"]["body"]) for r in records if r["kind"] == "http"}
    assert len(bodies) == 8 * 20


# -- redaction -----------------------------------------------------------------------------------
def _all_bytes(folder: Path) -> list[tuple[str, bytes]]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            if path.suffix == ".zip":
                with zipfile.ZipFile(path) as archive:
                    found += [(f"{path.name}:{n}", archive.read(n)) for n in archive.namelist()]
            found.append((str(path), path.read_bytes()))
    return found


def test_secrets_never_reach_any_file(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    with Recorder(folder, secrets=[PRIMARY, SECONDARY, PASSWORD], run={"key_password": "hunter2-x"}) as rec:
        _exchange(rec, url=f"https://127.0.0.1:8443/api/IF-062?key={PRIMARY}",
                  request_headers=[("X-API-Key", PRIMARY), ("Authorization", "Bearer opaque-token-1"),
                                   ("X-Echo", f"copy of {SECONDARY}")],
                  request_body=json.dumps({"k": PRIMARY, "escaped": PASSWORD, "pem": PEM}).encode(),
                  response_body=f"echo {SECONDARY} {PEM}".encode(),
                  error=f"refused key {PRIMARY}", context={"nested": [{"api_key": "undeclared-key-77"}]})
        rec.event("profile", api_keys={"primary": PRIMARY, "secondary": SECONDARY},
                  note=f"password is {PASSWORD}", private_key=PEM, token="tok-abcdef")
        rec.check("REQ-1", "hub.api-key", False, findings=[
            Finding("hub.api-key", "header:X-API-Key", SECONDARY, PRIMARY, f"key {PRIMARY} is not registered")])
    from harness.evidence.bundle import finalise_bundle

    finalise_bundle(folder, run_id="run", harness_version="0", schema_pack={}, profile_digest=None,
                    started=NOW, finished=NOW, ready=False,
                    attestation={"name": "A", "role": "B", "organisation": "C", "environment": "UIT",
                                 "expires": "2099-01-01"})
    needles = [PRIMARY, SECONDARY, PASSWORD, json.dumps(PASSWORD)[1:-1], "opaque-token-1", "hunter2-x",
               "undeclared-key-77", "tok-abcdef", "PRIVATE KEY", PEM_BODY]
    files = _all_bytes(tmp_path)
    assert len(files) > 6
    for name, data in files:
        for needle in needles:
            assert needle.encode() not in data, f"{needle!r} found in {name}"
    assert any(b"[redacted sha256:" in data for name, data in files if name.endswith("messages/bodies-0001.bin"))
    record = read_records(folder / "evidence.jsonl")[1]
    assert record["request"]["body"]["redacted"] is True
    body = read_body(folder, record["request"]["body"])
    assert record["request"]["body"]["sha256"] == hashlib.sha256(body).hexdigest()
    json.loads(body)  # the redacted body is still the JSON it was


def test_markers_tell_keys_apart_without_revealing_them(tmp_path: Path) -> None:
    with Recorder(tmp_path / "run", secrets=[PRIMARY, SECONDARY]) as rec:
        for key in (PRIMARY, SECONDARY, PRIMARY):
            _exchange(rec, request_headers={"X-API-Key": key})
    records = read_records(tmp_path / "run" / "evidence.jsonl")[1:4]
    markers = [dict(r["request"]["headers"])["X-API-Key"] for r in records]
    assert all(re.fullmatch(r"\[redacted sha256:[0-9a-f]{16}\]", m) for m in markers)
    assert markers[0] == markers[2] != markers[1]
    # whoever holds the key and the recorded salt can confirm which key was used
    salt = bytes.fromhex(read_records(tmp_path / "run" / "evidence.jsonl")[0]["redaction"]["salt"])
    assert markers[0] == Redactor([], salt).marker(PRIMARY)


def test_markers_differ_between_runs_and_match_across_escaping() -> None:
    a, b = Redactor([PASSWORD]), Redactor([PASSWORD])
    assert a.marker(PASSWORD) != b.marker(PASSWORD)  # fresh salt per run
    plain, _ = a.bytes(PASSWORD.encode())
    escaped, changed = a.bytes(json.dumps({"p": PASSWORD}).encode())
    assert changed and a.marker(PASSWORD).encode() in escaped and plain == a.marker(PASSWORD).encode()
    untouched, changed = a.bytes(b'{"nothing": "secret"}')
    assert not changed and untouched == b'{"nothing": "secret"}'


def test_a_truncated_private_key_is_still_redacted() -> None:
    text, changed = Redactor().bytes(PEM[:90].encode())
    assert changed and b"PRIVATE KEY" not in text and PEM_BODY[:20].encode() not in text


def test_bodies_are_appended_to_segments_that_roll_over_and_the_old_layout_is_still_written(tmp_path: Path) -> None:
    with Recorder(tmp_path / "seg", segment_bytes=40) as rec:
        for n in range(3):
            _exchange(rec, request_body=b"x" * 20, response_body=b"y" * 10)
    bodies = [(r["request"]["body"], r["response"]["body"]) for r in read_records(tmp_path / "seg" / "evidence.jsonl")
              if r["kind"] == "http"]
    # 20 + 10 fit in 40 bytes, the next 20 do not: each exchange starts a segment of its own
    assert [(q["file"], q["offset"], a["file"], a["offset"]) for q, a in bodies] == [
        (f"messages/bodies-000{n}.bin", 0, f"messages/bodies-000{n}.bin", 20) for n in (1, 2, 3)]
    assert (tmp_path / "seg" / "messages" / "bodies-0002.bin").read_bytes() == b"x" * 20 + b"y" * 10
    assert sorted(p.name for p in (tmp_path / "seg" / "messages").iterdir()) == [
        "bodies-0001.bin", "bodies-0002.bin", "bodies-0003.bin"]
    with Recorder(tmp_path / "files", layout="files") as rec:
        seq = _exchange(rec, request_body=b"x" * 20)
    [record] = [r for r in read_records(tmp_path / "files" / "evidence.jsonl") if r["kind"] == "http"]
    body = record["request"]["body"]
    assert body["file"] == f"messages/{seq}-request.bin" and "offset" not in body
    assert read_body(tmp_path / "files", record["request"]["body"]) == b"x" * 20
    with pytest.raises(ValueError, match="layout"):
        Recorder(tmp_path / "other", layout="zip")
