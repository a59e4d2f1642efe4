"""The transcript store: per-chain hash links, restart, concurrent writers, bodies, the signed export."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest

from harness.dip.store import Database
from harness.dip.transcript import (
    GENESIS,
    HUB_CHAIN,
    SqliteTranscript,
    TranscriptError,
    canonical,
    export_lines,
    read_export,
    record_hash,
    sign_export,
    verify_chain,
)


def store(folder=None) -> SqliteTranscript:
    return SqliteTranscript(Database(folder))


def test_each_chain_links_its_own_records():
    t = store()
    t.append(["s-a"], {"kind": "event", "event": "one"})
    both = t.append(["s-a", "s-b"], {"kind": "inbound", "request_sha256": hashlib.sha256(b"x").hexdigest()},
                    {hashlib.sha256(b"x").hexdigest(): b"x"})
    assert both == {"s-a": 2, "s-b": 1}
    a, b = t.records("s-a"), t.records("s-b")
    assert a[0]["prev"] == GENESIS and a[1]["prev"] == record_hash(a[0]) and b[0]["prev"] == GENESIS
    assert a[1]["time"] == b[0]["time"] and a[1]["session"] == "s-a" and b[0]["session"] == "s-b"
    assert t.head("s-a") == (2, record_hash(a[1])) and t.head("nothing") == (0, GENESIS)
    assert hashlib.sha256(canonical(a[1])).hexdigest() == record_hash(a[1])
    assert verify_chain(a, "s-a") == t.head("s-a")


def test_bodies_are_shared_but_read_only_through_a_citing_chain():
    t = store()
    sha = hashlib.sha256(b"body").hexdigest()
    t.append(["s-a"], {"kind": "inbound", "request_sha256": sha}, {sha: b"body"})
    assert t.body(sha) == b"body" and t.body(sha, "s-a") == b"body" and t.body(sha, "s-b") is None


def test_a_reopened_store_continues_every_chain(tmp_path):
    first = store(tmp_path)
    for n in range(3):
        first.append(["s-a", HUB_CHAIN], {"kind": "event", "event": f"e{n}"})
    head = first.head("s-a")
    first.db.close()
    again = store(tmp_path)
    assert again.head("s-a") == head
    assert again.append(["s-a"], {"kind": "event", "event": "after"}) == {"s-a": 4}
    records = again.records("s-a")
    assert records[3]["prev"] == head[1] and verify_chain(records, "s-a")[0] == 4


def test_concurrent_writers_leave_one_unbroken_chain(tmp_path):
    t = store(tmp_path)
    start = threading.Barrier(8)

    def write(n: int) -> None:
        start.wait()
        for i in range(40):
            t.append(["s-a"] + (["s-b"] if i % 2 else []), {"kind": "event", "event": f"{n}-{i}"})

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    a, b = t.records("s-a"), t.records("s-b")
    assert [r["seq"] for r in a] == list(range(1, 321)) and len({r["event"] for r in a}) == 320
    assert verify_chain(a, "s-a")[0] == 320 and verify_chain(b, "s-b")[0] == 160


def test_wait_returns_on_the_next_record_or_after_its_bound():
    t = store()
    assert t.wait("s-a", 0, 0.05) is False
    t.append(["s-a"], {"kind": "event", "event": "x"})
    assert t.wait("s-a", 0, 5) is True  # at once: there is one after 0
    woke = threading.Event()

    def waiter() -> None:
        if t.wait("s-a", 1, 5):
            woke.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    t.append(["s-a"], {"kind": "event", "event": "y"})
    thread.join(5)
    assert woke.is_set()


def test_export_verifies_and_any_edit_fails(hub_pki):
    t = store()
    sha = hashlib.sha256(b"[1]").hexdigest()
    for n in range(3):
        t.append(["s-a"], {"kind": "inbound", "n": n, "request_sha256": sha}, {sha: b"[1]"})
    lines = export_lines(t, "s-a")
    fields = dict(session="s-a", run_id="r", party={"dip_id": "1"}, dip={"fingerprint": "f"}, opened="o", closed="c")
    envelope = sign_export(lines, hub_pki["dip"], **fields)
    statement, records = read_export(lines, envelope, [hub_pki["dip"].certificate])
    assert statement["count"] == 3 and statement["head"] == t.head("s-a")[1] and len(records) == 3
    rows = lines.splitlines(keepends=True)
    edited = json.loads(rows[1])
    edited["n"] = 7
    for bad, why in ((b"".join([rows[0], canonical(edited) + b"\n", rows[2]]), "SHA-256"),
                     (b"".join(rows[:2]), "SHA-256")):
        with pytest.raises(TranscriptError, match=why):
            read_export(bad, envelope, [hub_pki["dip"].certificate])
    resigned = sign_export(b"".join([rows[0], canonical(edited) + b"\n", rows[2]]), hub_pki["dip"], **fields)
    with pytest.raises(TranscriptError, match="prev"):  # even signed again, an edit breaks the next link
        read_export(b"".join([rows[0], canonical(edited) + b"\n", rows[2]]), resigned, [hub_pki["dip"].certificate])
    with pytest.raises(TranscriptError, match="transcript.dsse.json"):
        read_export(lines, sign_export(lines, hub_pki["MDR"], **fields), [hub_pki["dip"].certificate])


def test_a_stopping_hub_ends_every_long_poll_at_once():
    """A participant's long poll (`records?wait=`) must not hold a stopping DIP for its whole bound."""
    transcript = store()
    returned = threading.Event()
    result: list[bool] = []

    def poll() -> None:
        result.append(transcript.wait("session-1", 0, timeout=60.0))
        returned.set()

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    assert not returned.wait(0.2)  # nothing recorded: the poll is waiting
    transcript.release_waiters()
    assert returned.wait(5.0), "the long poll outlived the hub's stop"
    assert result == [False]  # nothing new: the poll answers with what there is
