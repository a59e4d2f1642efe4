"""`dipcert replay`: send a recorded message again, freshly signed, and compare the answer with the record.

Why not the recorded request as it was: its X-DIP-Signature-Date is stale (the DIP refuses a
signature minutes old), the port of the run's simulated DIP no longer exists, and the API key was
redacted before it reached the evidence. A replay therefore takes the exact body bytes from the
bundle's `messages/`, signs them now with the identity that sent them (the participant's signing key
from its profile for what the participant submitted; the simulated DIP's key, from `--dip-key DIR`,
`.dip/` beside the bundle (where older runs kept it) or the shared `~/.dipcert/dip`, for what the
DIP delivered), adds the API key the profile references,
and puts the answer beside the recorded one, the way Schemathesis replays a failing case. Secrets
are read when sending and never printed.

What can be replayed: what the DIP delivered (to the participant's webhook, or to the partner),
what the participant submitted to the DIP, and the harness's trigger calls. What the partner
submitted cannot: its key is not the participant's to use.
"""

from __future__ import annotations

import json
import re
import shlex
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from harness.config.profile import Profile
from harness.core.errors import ConfigError, InputError, UsageError
from harness.dip.identity import CERT, KEY
from harness.report.bodies import Bodies
from harness.report.scope import build_scopes
from harness.transport.apikeys import API_KEY_HEADER
from harness.transport.responses import CODE_PATTERN
from harness.transport.signing import SIGNATURE_DATE, SIGNATURE_HEADERS, SigningIdentity, sign_request
from harness.transport.tls import client_context

#: Recorded headers never re-sent: the transport's own, the stale signature, and every credential.
DROPPED = frozenset({"content-length", "host", "connection", "transfer-encoding", "accept-encoding", "user-agent",
                     "authorization", "proxy-authorization", "cookie", API_KEY_HEADER.lower(),
                     *(h.lower() for h in SIGNATURE_HEADERS)})
MARKER = re.compile(r"\[redacted sha256:[0-9a-f]{16}\]")
DELIVERED = ("webhook-delivery", "hub-outbound")  # the DIP sent these: re-signed as the DIP
MAX_ANSWER_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Answer:
    """What came back: status (None when nothing did), headers, body bytes, or the transport error."""

    status: int | None
    body: bytes | None
    error: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    elapsed_ms: float | None = None

    @property
    def codes(self) -> list[str]:
        return response_codes(self.body)

    @property
    def outcome(self) -> str:
        return str(self.status) if self.status is not None else f"no answer ({self.error or 'none recorded'})"


@dataclass
class Replay:
    """One prepared re-send: what goes on the wire and what may be printed about it."""

    seq: int
    channel: str
    label: str
    method: str
    url: str
    body: bytes
    headers: dict[str, str]  # sent (may hold the API key: never print)
    shown: list[tuple[str, str]] = field(default_factory=list)  # printable: secrets named, not shown
    notes: list[str] = field(default_factory=list)
    tls: ssl.SSLContext | bool = True


# -- which message ------------------------------------------------------------------------------------------
def replayable(record: Mapping[str, Any], party_dip_id: str | None) -> str | None:
    """None when `record` can be replayed; else why not (one line)."""
    if record.get("kind") != "http":
        return "is not a recorded HTTP message"
    channel = record.get("channel")
    if channel in DELIVERED or channel == "trigger":
        return None
    if channel == "hub-inbound":
        sender = _context(record).get("sender")
        if sender is not None and party_dip_id is not None and sender != party_dip_id:
            return f"was submitted by DIP ID {sender}, not by the party: only the sender's own key can sign it again"
        return None
    return f"was recorded on channel {channel!r}, which dipcert replay does not re-send"


def pick(records: Sequence[Mapping[str, Any]], target: str, bodies: Bodies) -> Mapping[str, Any]:
    """The record `target` names: "#NN" / "NN" (an evidence seq) or a requirement id (its first offending message)."""
    party = _party_dip_id(records)
    text = target.strip()
    if re.fullmatch(r"#?\d+", text):
        seq = int(text.lstrip("#"))
        record = next((r for r in records if r.get("seq") == seq), None)
        if record is None:
            raise UsageError(f"#{seq}: no evidence record with that number in the bundle")
        reason = replayable(record, party)
        if reason:
            raise UsageError(f"#{seq} {reason}")
        return record
    checks = [r for r in records if r.get("kind") == "check" and r.get("requirement") == text]
    if not checks:
        raise UsageError(f"{text}: neither #NN (an evidence record) nor a requirement with checks in the bundle")
    cited = sorted({s for c in checks for s in c.get("messages") or () if isinstance(s, int)})
    scope = build_scopes(records, [text], {text: cited}, bodies)[text]
    offending = [r for r in scope.records if scope.judgement.get(int(r["seq"])) == "fail"]
    judged = [r for r in scope.records if int(r["seq"]) in scope.judgement]
    for record in offending + judged:
        if replayable(record, party) is None:
            return record
    raise UsageError(f"{text}: none of the messages its checks judged can be replayed (give #NN)")


# -- preparing it ---------------------------------------------------------------------------------------------
def prepare(record: Mapping[str, Any], body: bytes | None, *, to: str | None, profile: Profile | None,
            dip_identity: SigningIdentity | None, label: str, recorded_dip: str | None = None) -> Replay:
    """The re-send of `record`: target URL, headers with a fresh signature and the profile's API key."""
    channel = str(record.get("channel"))
    method = str(record.get("method") or "POST").upper()
    if not re.fullmatch(r"[A-Z]{1,16}", method):
        raise InputError(f"#{record.get('seq')}: recorded method {method[:20]!r} is not an HTTP method")
    url = target_url(record, to, profile)
    replay = Replay(int(record["seq"]), channel, label, method, url, body or b"", {})
    for pair in (record.get("request") or {}).get("headers") or ():
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            continue
        name, value = str(pair[0]), str(pair[1])
        if name.lower() in DROPPED or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
            continue
        if MARKER.search(value) or any(c in value for c in "\r\n"):
            replay.notes.append(f"header {name} left out: its recorded value was redacted")
            continue
        replay.headers[name] = value
        replay.shown.append((name, value))
    identity = None
    if channel in DELIVERED:
        if dip_identity is None:
            raise ConfigError("replaying what the DIP delivered needs the simulated DIP's signing key: "
                              "give --dip-key DIR (the folder holding dip-signing.pem and dip-signing.key)")
        identity = dip_identity
        if recorded_dip and dip_identity.fingerprint() != recorded_dip:
            replay.notes.append(f"the DIP key given ({dip_identity.fingerprint()}) is not the one that signed the "
                                f"recorded delivery ({recorded_dip}): a webhook pinning the DIP's certificate may "
                                f"refuse it")
    elif channel == "hub-inbound":
        if profile is None:
            raise UsageError(f"#{record['seq']} was submitted by the participant: give --profile FILE (its signing "
                             f"key and API key sign and authorise the replay)")
        identity = _party_identity(profile)
        slot = "secondary" if _context(record).get("key_slot") == "secondary" else "primary"
        name = f"api_key_{slot}"
        ref = profile.secret_ref(name)
        if ref is None:
            raise ConfigError(f"{profile.path}: credentials.{name}: not set; the DIP needs an API key with the message")
        replay.headers[API_KEY_HEADER] = profile.resolve_secret(name)
        replay.shown.append((API_KEY_HEADER, f"(credentials.{name}, from {ref})"))
    if identity is not None:
        signed = sign_request(method, url, replay.body, identity)
        replay.headers.update(signed)
        subject = identity.certificate.subject.rfc4514_string()
        replay.shown.append(("X-DIP-Signature*", f"signed {signed[SIGNATURE_DATE]} by {subject} "
                                                 f"{identity.fingerprint()}"))
    replay.tls = _tls(url, profile, client=channel == "hub-inbound")
    return replay


def target_url(record: Mapping[str, Any], to: str | None, profile: Profile | None) -> str:
    """--to as given when it has a path, else --to with the recorded path; else the profile's webhook
    for a delivery to the participant; else the recorded URL."""
    recorded = str(record.get("url") or "")
    if to:
        parts = urlsplit(to)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(f"--to {to}: expected an http(s) URL")
        if parts.path in ("", "/"):
            old = urlsplit(recorded)
            return urlunsplit((parts.scheme, parts.netloc, old.path, old.query, ""))
        return to
    if record.get("channel") == "webhook-delivery" and profile is not None:
        interface = _context(record).get("interface")
        hook = profile.webhook_for(str(interface)) if interface else None
        if hook:
            return hook
    if urlsplit(recorded).scheme not in ("http", "https"):
        raise InputError(f"#{record.get('seq')}: recorded URL {recorded[:80]!r} is not http(s); give --to URL")
    return recorded


def _party_identity(profile: Profile) -> SigningIdentity:
    cert, key = profile.credential_path("signing_certificate"), profile.credential_path("signing_key")
    if cert is None or key is None:
        raise ConfigError(f"{profile.path}: credentials.signing_certificate and credentials.signing_key are needed "
                          f"to sign the replay")
    password = profile.resolve_secret("signing_key_password") if profile.credentials.signing_key_password else None
    return SigningIdentity.from_files(cert, key, password)


def _tls(url: str, profile: Profile | None, *, client: bool) -> ssl.SSLContext | bool:
    if urlsplit(url).scheme != "https":
        return True
    if profile is None:
        return client_context()
    cert = profile.credential_path("client_certificate") if client else None
    key = profile.credential_path("client_key") if client else None
    return client_context(ca=profile.credential_path("tls_ca"), cert=cert, key=key)


def load_dip_identity(folder: Path) -> SigningIdentity | None:
    """The simulated DIP's identity in `folder` (never made here: a new key would sign what no webhook trusts)."""
    cert, key = folder / CERT, folder / KEY
    if not cert.is_file() and not key.is_file():
        return None
    if not (cert.is_file() and key.is_file()):
        raise ConfigError(f"{folder}: has only one of {CERT} and {KEY}")
    return SigningIdentity.from_files(cert, key)


# -- sending and comparing --------------------------------------------------------------------------------------
def send(replay: Replay, *, timeout: float) -> Answer:
    """POSTs the replay; a connection that cannot be made at all is a ConfigError (the target is wrong)."""
    started = time.monotonic()
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout), verify=replay.tls, follow_redirects=False,
                          trust_env=False) as client:
            with client.stream(replay.method, replay.url, content=replay.body, headers=replay.headers) as response:
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > MAX_ANSWER_BYTES:
                        break
                elapsed = (time.monotonic() - started) * 1000
                return Answer(response.status_code, bytes(data[:MAX_ANSWER_BYTES]), None,
                              tuple((k, v) for k, v in response.headers.items()), round(elapsed, 1))
    except httpx.ConnectError as exc:
        raise ConfigError(f"{replay.url}: cannot connect ({_reason(exc)}); the run's simulated DIP and ports are "
                          f"gone once it ends: give --to URL") from None
    except httpx.TimeoutException:
        return Answer(None, None, f"timeout after {timeout:g} s", (), round((time.monotonic() - started) * 1000, 1))
    except httpx.HTTPError as exc:
        return Answer(None, None, _reason(exc), (), round((time.monotonic() - started) * 1000, 1))


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return text[:160]


def recorded_answer(record: Mapping[str, Any], bodies: Bodies) -> Answer:
    response = record.get("response") if isinstance(record.get("response"), Mapping) else None
    status = response.get("status") if response else None
    headers = tuple((str(p[0]), str(p[1])) for p in (response or {}).get("headers") or ()
                    if isinstance(p, (list, tuple)) and len(p) == 2)
    return Answer(status if isinstance(status, int) else None, bodies.get(record, "response") if response else None,
                  record.get("error") if isinstance(record.get("error"), str) else None, headers,
                  record.get("elapsed_ms") if isinstance(record.get("elapsed_ms"), (int, float)) else None)


def response_codes(body: bytes | None) -> list[str]:
    """The DIP response codes an answer carries (RCP0000, MSG1001, ...), in order: what "the same answer" compares."""
    if not body:
        return []
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return []
    found: list[str] = []
    stack = [value]
    while stack and len(found) < 1000:
        node = stack.pop(0)
        if isinstance(node, Mapping):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str) and (match := CODE_PATTERN.match(node)):
            found.append(match.group(1))
    return found


def differences(recorded: Answer, replayed: Answer) -> list[str]:
    """What differs between the recorded and the replayed answer: the HTTP status and the response codes."""
    out = []
    if recorded.status != replayed.status:
        out.append(f"status {recorded.outcome} then, {replayed.outcome} now")
    if recorded.codes != replayed.codes:
        out.append(f"response codes {', '.join(recorded.codes) or 'none'} then, "
                   f"{', '.join(replayed.codes) or 'none'} now")
    return out


# -- the report's reproduce line -----------------------------------------------------------------------------------
def replay_command(run_id: str, target: str, channel: str | None) -> str:
    """The `dipcert replay` line the report prints, every word from the evidence shell-quoted."""
    words = ["dipcert", "replay", f"{run_id}.dipcert.zip", target]
    if channel in ("hub-inbound", "webhook-delivery"):
        words += ["--profile", "PROFILE.toml"]
    return " ".join(shlex.quote(w) for w in words)


def _context(record: Mapping[str, Any]) -> Mapping[str, Any]:
    ctx = record.get("context")
    return ctx if isinstance(ctx, Mapping) else {}


def _party_dip_id(records: Sequence[Mapping[str, Any]]) -> str | None:
    run = records[0].get("run") if records and records[0].get("kind") == "run-start" else None
    party = run.get("party") if isinstance(run, Mapping) else None
    value = party.get("dip_id") if isinstance(party, Mapping) else None
    return value if isinstance(value, str) else None


def recorded_dip_signer(records: Sequence[Mapping[str, Any]]) -> str | None:
    """The fingerprint the run's simulated DIP signed deliveries with (its `hub.start` event)."""
    for r in records:
        if r.get("kind") == "event" and r.get("event") == "hub.start" and isinstance(r.get("data"), Mapping):
            signer = r["data"].get("signer")
            return signer if isinstance(signer, str) else None
    return None


__all__ = ["Answer", "Replay", "differences", "load_dip_identity", "pick", "prepare",
           "recorded_answer", "replay_command", "replayable", "send", "target_url"]
