"""`verify`'s check of the DIP's transcript in a bundle: countersigned evidence (issue 15).

A run against a DIP ends with the DIP's own record of the session in the bundle:
`dip/transcript.jsonl` (every record, bodies inline) and `dip/transcript.dsse.json` (a DSSE
envelope over a statement naming the session, the party, the count, the head hash and the file's
SHA-256, signed with the DIP's key). Here, trusting only the DIP certificate(s) the verifier brings:

1. the envelope verifies under them (`transcript.signature`); its statement names this run and
   party (`transcript.statement`);
2. transcript.jsonl is read ONCE, line by line (constant memory besides the records the checks
   cite): every record follows the one before (`transcript.chain`), every inline body hashes to what
   the record names (`transcript.body`), and the count, head and file hash are the statement's;
3. every check record that names a judge is judged again on the records it cites, and its verdict
   (passed, error rules) must be the same (`transcript.verdict`); a cited record the transcript does
   not hold, or a DIP exchange in the party's evidence whose bytes or status differ from the DIP's
   record of it, is `transcript.mismatch`;
4. an enabled requirement (other than preflight) that passed with no check resting on the transcript
   is `transcript.unbacked`.

What this makes of the bundle's grade is `harness.evidence.grade`'s to say.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from harness.core.findings import Finding, short
from harness.evidence.dsse import EnvelopeError, verify_envelope
from harness.judges import UnknownJudge, apply, verdict
from harness.judges.records import RecordSet, TranscriptRecord
from harness.transport.signing import certificate_fingerprint

FORMAT = "dipcert-transcript/1"
PAYLOAD_TYPE = "application/vnd.dipcert.transcript+json"
TRANSCRIPT, ENVELOPE = "dip/transcript.jsonl", "dip/transcript.dsse.json"
GENESIS = "0" * 64
BODY_KEYS = (("request_sha256", "request_b64"), ("response_sha256", "response_b64"))
# the DIP's records as the party's evidence shows them
MIRROR_CHANNELS = ("hub-inbound", "hub-outbound", "webhook-delivery")
UNBACKED_KINDS = ("preflight", "reuse")  # judged on the party's configuration or earlier bundles, not DIP traffic
MAX_LINE = 64 * 1024 * 1024  # one record with its bodies; a longer line is refused, not read into memory


def canonical(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass
class TranscriptResult:
    """What verify learnt of the DIP's transcript."""

    present: bool = False
    signed_by: str | None = None  # fingerprint of the trusted DIP certificate the envelope verifies under
    statement: dict[str, Any] = field(default_factory=dict)
    count: int = 0
    session_open: dict[str, Any] = field(default_factory=dict)  # the DIP's session.open event data
    counterparties: set[str] = field(default_factory=set)  # DIP IDs the session registered for the harness
    judged: int = 0  # check records judged again
    unjudged: int = 0  # check records naming no judge (the harness's own observation)
    findings: list[Finding] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        """Signed by a trusted DIP, and nothing in the transcript or against it is wrong."""
        return self.present and self.signed_by is not None and not any(f.severity == "error" for f in self.findings)

    @property
    def partner(self) -> str | None:
        """The partner the DIP's session names (a party the operator registered, not one the harness plays)."""
        value = self.session_open.get("partner")
        return value if isinstance(value, str) and value not in self.counterparties else None

    def to_dict(self) -> dict[str, Any]:
        return {"present": self.present, "signed_by": self.signed_by, "verified": self.verified,
                "session": self.statement.get("session"), "count": self.count, "judged": self.judged,
                "unjudged": self.unjudged, "partner": self.partner,
                "dip": self.statement.get("dip") if isinstance(self.statement.get("dip"), dict) else None}


def _f(rule: str, path: str, expected: Any, actual: Any, message: str, severity: str = "error",
       **extra: Any) -> Finding:
    return Finding(rule, path, short(expected), short(actual), message, severity, extra)


@dataclass
class _Needs:
    """The transcript records the party's evidence cites (seqs), scans (ranges) or mirrors."""

    seqs: set[int] = field(default_factory=set)
    ranges: list[tuple[int, int]] = field(default_factory=list)
    mirrors: dict[int, list[Mapping[str, Any]]] = field(default_factory=dict)  # transcript seq -> evidence records

    def keeps(self, record: TranscriptRecord) -> bool:
        if record.seq in self.seqs or record.seq in self.mirrors:
            return True
        # A scan judges what the party sent (accepted submissions, status messages): only those are kept.
        return (record.accepted_submission or record.endpoint == "statusmessage") and \
            any(a <= record.seq <= b for a, b in self.ranges)


def _needs(records: Sequence[Mapping[str, Any]]) -> _Needs:
    needs = _Needs()
    for r in records:
        if r.get("kind") == "check" and isinstance(r.get("judge"), str):
            needs.seqs.update(s for s in r.get("transcript") or () if isinstance(s, int))
            scan = r.get("transcript_scan")
            if isinstance(scan, list) and len(scan) == 2 and all(isinstance(s, int) for s in scan):
                needs.ranges.append((scan[0], scan[1]))
        elif r.get("kind") == "http" and r.get("channel") in MIRROR_CHANNELS:
            seq = (r.get("context") or {}).get("transcript_seq")
            if isinstance(seq, int):
                needs.mirrors.setdefault(seq, []).append(r)
    return needs


def check_transcript(folder: Path, records: Sequence[Mapping[str, Any]], run: Mapping[str, Any],
                     run_id: str | None, planned: Sequence[Mapping[str, Any]],
                     trusted: Sequence[x509.Certificate]) -> TranscriptResult:
    """The transcript checks on a bundle folder (already opened safely) and its evidence records.

    With no `trusted` certificate the envelope's signature is not checked (anyone could have made it)
    but everything else is, so an edited verdict still shows; with them, a missing or foreign-signed
    transcript is an error: the verifier asked for countersigned evidence.
    """
    out = TranscriptResult()
    path, envelope_path = folder / TRANSCRIPT, folder / ENVELOPE
    if not path.is_file() or not envelope_path.is_file():
        if trusted:
            out.findings.append(_f("transcript.missing", TRANSCRIPT, "the DIP's signed transcript", "absent",
                                   f"the bundle carries no {TRANSCRIPT} and {ENVELOPE}: nothing the DIP signed "
                                   f"backs its evidence"))
        return out
    out.present = True
    _envelope(envelope_path, out, trusted)
    needs = _needs(records)
    kept = _stream(path, out, needs)
    _statement(out, run, run_id)
    _mirrors(needs, kept, out)
    _rejudge(records, kept, out)
    _unbacked(records, planned, out, strict=bool(trusted))
    return out


def _envelope(path: Path, out: TranscriptResult, trusted: Sequence[x509.Certificate]) -> None:
    try:
        envelope = json.loads(path.read_bytes())
    except (ValueError, RecursionError):
        out.findings.append(_f("transcript.signature", ENVELOPE, "a DSSE envelope (JSON)", "unreadable",
                               f"{ENVELOPE} is not JSON"))
        return
    payload = None
    if trusted:
        try:
            checked = verify_envelope(envelope, trusted, payload_type=PAYLOAD_TYPE)
        except EnvelopeError as exc:
            out.findings.append(_f("transcript.signature", ENVELOPE, "a signature by the DIP certificate given "
                                   "(--dip-cert)", short(str(exc)), f"the transcript is not signed by the DIP you "
                                   f"trust: {exc}"))
        else:
            out.signed_by, payload = certificate_fingerprint(checked.signer), checked.payload
    if payload is None:  # unsigned reading: what the statement claims, for the checks that follow
        try:
            payload = base64.b64decode(envelope.get("payload", ""), validate=True)
        except (binascii.Error, ValueError, AttributeError):
            payload = b""
    try:
        statement = json.loads(payload)
    except (ValueError, RecursionError):
        statement = None
    if not isinstance(statement, dict) or statement.get("format") != FORMAT:
        out.findings.append(_f("transcript.statement", ENVELOPE, FORMAT, short(statement),
                               f"the envelope's statement is not a {FORMAT} statement"))
        return
    out.statement = statement


def _stream(path: Path, out: TranscriptResult, needs: _Needs) -> RecordSet:
    """One pass over transcript.jsonl: chain, bodies, count, head, file hash; keeps what `needs` names."""
    kept = RecordSet()
    digest = hashlib.sha256()
    prev, expected, session = GENESIS, 1, None
    with path.open("rb") as handle:
        while True:
            line = handle.readline(MAX_LINE + 1)
            if not line:
                break
            digest.update(line)
            if len(line) > MAX_LINE:
                out.findings.append(_f("transcript.chain", f"{TRANSCRIPT}:{expected}", f"a line under {MAX_LINE} "
                                       f"bytes", "longer", "a transcript record is too long to be read; refused"))
                return kept
            if not line.strip():
                continue
            where = f"{TRANSCRIPT}#seq={expected}"
            try:
                data = json.loads(line)
            except (ValueError, RecursionError):
                data = None
            if not isinstance(data, dict):
                out.findings.append(_f("transcript.chain", where, "one JSON object per line", short(line, 40),
                                       f"record {expected} of the transcript is not a JSON object"))
                return kept
            bare = {k: v for k, v in data.items() if k not in ("request_b64", "response_b64")}
            record = TranscriptRecord.from_json(data)
            if bare.get("seq") != expected or bare.get("prev") != prev or \
                    (session is not None and bare.get("session") != session):
                out.findings.append(_f("transcript.chain", where, f"seq {expected} after {prev[:12]}",
                                       f"seq {bare.get('seq')} after {str(bare.get('prev'))[:12]}",
                                       f"transcript record {expected} does not follow the one before it (removed, "
                                       f"inserted, reordered or edited)", seq=expected))
            for side in record.body_hashes_hold():
                out.findings.append(_f("transcript.body", where, f"{side} body hashing to {side}_sha256",
                                       "another body", f"the {side} body of transcript record {expected} is not "
                                       f"the one the record names", seq=expected))
            session = session if session is not None else bare.get("session")
            if bare.get("kind") == "event":
                _event(bare, out)
            prev, expected = hashlib.sha256(canonical(bare)).hexdigest(), expected + 1
            out.count += 1
            if needs.keeps(record):
                kept.add(record)
    statement = out.statement
    if statement:
        for key, actual in (("count", out.count), ("head", prev), ("transcript_sha256", digest.hexdigest()),
                            ("session", session)):
            if statement.get(key) != actual:
                out.findings.append(_f("transcript.statement", ENVELOPE, statement.get(key), actual,
                                       f"the DIP's statement names {key} {short(statement.get(key))}, "
                                       f"{TRANSCRIPT} has {short(actual)}"))
    return kept


def _event(record: Mapping[str, Any], out: TranscriptResult) -> None:
    data = got if isinstance(got := record.get("data"), dict) else {}
    if record.get("event") == "session.open" and not out.session_open:
        out.session_open = dict(data)
    elif record.get("event") == "party" and data.get("scope") not in (None, "global") \
            and isinstance(data.get("dip_id"), str):
        out.counterparties.add(data["dip_id"])


def _statement(out: TranscriptResult, run: Mapping[str, Any], run_id: str | None) -> None:
    statement = out.statement
    if not statement:
        return
    party = got if isinstance(got := run.get("party"), Mapping) else {}
    said = got if isinstance(got := statement.get("party"), Mapping) else {}
    if statement.get("run_id") != run_id:
        out.findings.append(_f("transcript.statement", ENVELOPE, run_id, statement.get("run_id"),
                               "the DIP's transcript is of another run"))
    if said.get("dip_id") != party.get("dip_id"):
        out.findings.append(_f("transcript.statement", ENVELOPE, party.get("dip_id"), said.get("dip_id"),
                               "the DIP's transcript is of another party's session"))


def _mirrors(needs: _Needs, kept: RecordSet, out: TranscriptResult) -> None:
    """The party's copies of DIP exchanges hold the DIP's bytes and statuses."""
    for seq, copies in sorted(needs.mirrors.items()):
        record = kept.get(seq)
        for copy in copies:
            where = f"evidence.jsonl#seq={copy.get('seq')}"
            if record is None:
                out.findings.append(_f("transcript.mismatch", where, f"transcript record {seq}", "absent",
                                       f"evidence record {copy.get('seq')} copies DIP transcript record {seq}, which "
                                       f"the transcript does not hold", seq=copy.get("seq")))
                continue
            response = copy.get("response") or {}
            wrong = []
            if response.get("status") != record.status:
                wrong.append(f"status {response.get('status')} (the DIP's: {record.status})")
            for side in ("request", "response"):
                body = (copy.get(side) or {}).get("body") if isinstance(copy.get(side), Mapping) else None
                if isinstance(body, Mapping) and body.get("redacted"):
                    continue  # a secret was blotted out of the party's copy: its bytes differ by design
                mine = body.get("sha256") if isinstance(body, Mapping) else None
                theirs = record.get(f"{side}_sha256")
                if (mine or None) != (theirs or None) and not (mine == _EMPTY and theirs is None):
                    wrong.append(f"{side} body")
            if wrong:
                out.findings.append(_f("transcript.mismatch", where, f"DIP transcript record {seq}", ", ".join(wrong),
                                       f"evidence record {copy.get('seq')} differs from the DIP's record {seq} of the "
                                       f"same exchange: {', '.join(wrong)}", seq=copy.get("seq")))


_EMPTY = hashlib.sha256(b"").hexdigest()


def _rejudge(records: Sequence[Mapping[str, Any]], kept: RecordSet, out: TranscriptResult) -> None:
    for r in records:
        if r.get("kind") != "check":
            continue
        name = r.get("judge")
        if not isinstance(name, str):
            out.unjudged += 1
            continue
        where, rid = f"evidence.jsonl#seq={r.get('seq')}", r.get("requirement")
        cited = [s for s in r.get("transcript") or () if isinstance(s, int)]
        missing = [s for s in cited if s not in kept]
        if missing:
            out.findings.append(_f("transcript.mismatch", where, "records of the DIP's transcript",
                                   f"seq {', '.join(map(str, missing[:5]))} absent",
                                   f"check {r.get('rule')} of {rid} cites transcript record(s) "
                                   f"{', '.join(map(str, missing[:5]))}, which the DIP's transcript does not hold",
                                   requirement=rid, seq=r.get("seq")))
            continue
        scan = r.get("transcript_scan")
        chosen = RecordSet(record for s in cited if (record := kept.get(s)) is not None)  # all kept: none missing
        if isinstance(scan, list) and len(scan) == 2:
            for record in kept.between(int(scan[0]), int(scan[1])):
                chosen.add(record)
        args = got if isinstance(got := r.get("judge_args"), Mapping) else {}
        try:
            again = apply(name, chosen, args)
        except UnknownJudge:
            out.findings.append(_f("transcript.verdict", where, "a judge this dipcert knows", name,
                                   f"check {r.get('rule')} of {rid} names judge {name!r}, which this dipcert does "
                                   f"not have", requirement=rid, seq=r.get("seq")))
            continue
        except Exception as exc:  # noqa: BLE001 - hostile arguments are a finding, never a crash
            out.findings.append(_f("transcript.verdict", where, f"judge {name} to run", type(exc).__name__,
                                   f"check {r.get('rule')} of {rid}: judge {name} could not judge its arguments "
                                   f"({type(exc).__name__}: {short(str(exc), 80)})", requirement=rid, seq=r.get("seq")))
            continue
        out.judged += 1
        claimed = verdict([f for f in r.get("findings") or [] if isinstance(f, Mapping)])
        claimed = (r.get("passed") is True and claimed[0], claimed[1])
        found = verdict(again)
        if claimed != found:
            def say(v: tuple[bool, frozenset[str]]) -> str:
                return "passed" if v[0] else "failed (" + ", ".join(sorted(v[1])) + ")"
            out.findings.append(_f("transcript.verdict", where, say(found), say(claimed),
                                   f"check {r.get('rule')} of {rid}: the evidence says it {say(claimed)}, judged "
                                   f"again on the DIP's transcript it {say(found)}", requirement=rid,
                                   seq=r.get("seq")))


def _unbacked(records: Sequence[Mapping[str, Any]], planned: Sequence[Mapping[str, Any]], out: TranscriptResult,
              *, strict: bool) -> None:
    backed: set[str] = set()
    checked: set[str] = set()
    for r in records:
        if r.get("kind") == "check" and isinstance(r.get("requirement"), str):
            checked.add(r["requirement"])
            if isinstance(r.get("judge"), str) and (r.get("transcript") or r.get("transcript_scan")):
                backed.add(r["requirement"])
    for p in planned:
        rid = str(p.get("id"))
        if not p.get("enabled", True) or p.get("kind") in UNBACKED_KINDS or rid not in checked or rid in backed:
            continue
        out.findings.append(_f("transcript.unbacked", f"plan/{rid}", "a check judged on the DIP's transcript",
                               "none", f"{rid}: no check of it rests on the DIP's transcript, so the DIP's "
                               f"countersignature does not cover it", "error" if strict else "warning",
                               requirement=rid))
