"""Probe deliveries: one crafted delivery to a session party's webhook, made by the hub alone.

Only the hub holds the DIP's signing key, so every delivery that must look like (or deliberately
unlike) the DIP's is made here, on request of the session (`POST /dipcert/v1/sessions/{sid}/probe`).
Each differs from a correct delivery in exactly one way:

- `plain`: a correct delivery of the given egress items, one attempt (the caller chooses D0);
- `redelivery` (or any kind with `"redeliver": true`): after a retryable answer (5xx gateway code,
  408, 429) the same batch once more, as the DIP redelivers; never after a timeout;
- `bad-signature`: the DIP's certificate in X-DIP-Signature-Certificate, signed with another key;
- `foreign-certificate`: signed by an attacker's key, with the attacker's own certificate in the
  header; it copies the DIP certificate's subject and issuer names, so comparing names is not enough;
- `altered-body`: X-DIP-Content-Hash and the signature made over the body with one byte changed,
  the body sent as given: what a webhook receives is not what was signed;
- `stale-signature` (alias `stale-date`): a correct signature whose X-DIP-Signature-Date is a day old;
- `tls-probe`: no delivery: open TLS to the webhook with the DIP's client certificate and report the
  handshake (server certificate, whether the webhook asked for a client certificate it did not get).
"""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from harness.dip.routing import Job, new_delivery_id
from harness.dip.transcript import HUB_CHAIN
from harness.transport.certs import cached_key
from harness.transport.delivery import Signer, Timeouts
from harness.transport.signing import SigningIdentity, sign_request
from harness.transport.tls import peer_certificate_sha256

STALE_BY = timedelta(days=1)  # how old the stale-signature probe's X-DIP-Signature-Date is
KINDS = ("plain", "redelivery", "bad-signature", "foreign-certificate", "altered-body", "stale-signature",
         "tls-probe")
ALIASES = {"stale-date": "stale-signature"}
MAX_MESSAGES = 500
MAX_TIMEOUT = 120.0
_KEYS = threading.Lock()  # probes run concurrently: the attacker's key and certificate are made once


@lru_cache(maxsize=8)
def _impostor_certificate(dip_der: bytes) -> x509.Certificate:
    """A certificate for the attacker's key that names itself exactly as the DIP's certificate does."""
    dip = x509.load_der_x509_certificate(dip_der)
    key = cached_key("dipcert-attacker")
    now = datetime.now(timezone.utc)
    return (x509.CertificateBuilder().subject_name(dip.subject).issuer_name(dip.issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=30))
            .sign(key, hashes.SHA256()))


def impostor(dip: SigningIdentity) -> SigningIdentity:
    """`bad-signature`: the DIP's certificate with someone else's key; the signature cannot verify."""
    with _KEYS:
        return SigningIdentity.from_key_and_cert(cached_key("dipcert-impostor"), dip.certificate)


def attacker(dip: SigningIdentity) -> SigningIdentity:
    """`foreign-certificate`: the attacker's key and its own certificate; the signature verifies with it."""
    der = dip.certificate.public_bytes(serialization.Encoding.DER)
    with _KEYS:
        return SigningIdentity.from_key_and_cert(cached_key("dipcert-attacker"), _impostor_certificate(der))


def stale_signer(age: timedelta = STALE_BY) -> Signer:
    """`stale-signature`: a correct signature, dated `age` ago."""
    def sign(method: str, url: str, body: bytes, identity: Any) -> dict[str, str]:
        return sign_request(method, url, body, identity, now=datetime.now(timezone.utc) - age)
    return sign


def altered(body: bytes) -> bytes:
    """`body` with one byte (the middle one) changed."""
    data = bytearray(body)
    data[len(data) // 2] ^= 0x01
    return bytes(data)


def altered_signer() -> Signer:
    """`altered-body`: headers made over the sent bytes with one byte changed."""
    def sign(method: str, url: str, body: bytes, identity: Any) -> dict[str, str]:
        return sign_request(method, url, altered(body), identity)
    return sign
MAX_TAG_KEYS = 8


@dataclass(frozen=True)
class ProbeRequest:
    kind: str
    interface: str
    recipient: str
    messages: list[dict]
    redeliver: bool = False  # with `plain` (and the attacks): once more after a retryable status
    timeout: float | None = None  # bound of each attempt (capped at MAX_TIMEOUT)
    tag: dict[str, str] | None = None  # the caller's note (its requirement and step), kept on each delivery record


def parse(data: Any) -> ProbeRequest:
    """The probe request in a body; ValueError (one line) when it is not one."""
    if not isinstance(data, dict):
        raise ValueError("body should be an object {interface, recipient, kind, messages}")
    kind = data.get("kind")
    kind = ALIASES.get(kind, kind) if isinstance(kind, str) else kind  # a list or object is no kind: named below
    if kind not in KINDS:
        raise ValueError(f"kind should be one of {', '.join(KINDS)}, got {str(data.get('kind'))[:40]!r}")
    interface, recipient = data.get("interface"), data.get("recipient")
    if not isinstance(interface, str) or not isinstance(recipient, str):
        raise ValueError("interface and recipient should be strings (an interface id, a DIP ID)")
    messages = data.get("messages", [])
    if kind != "tls-probe" and (not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES
                                or not all(isinstance(m, dict) for m in messages)):
        raise ValueError(f"messages should be 1 to {MAX_MESSAGES} egress message objects")
    extra = sorted(set(data) - {"interface", "recipient", "kind", "messages", "redeliver", "timeout", "tag"})
    if extra:
        raise ValueError(f"unexpected keys: {', '.join(extra)}")
    redeliver, timeout = data.get("redeliver", False), data.get("timeout")
    if not isinstance(redeliver, bool):
        raise ValueError("redeliver should be true or false")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise ValueError("timeout should be a positive number of seconds")
    tag = data.get("tag")
    if tag is not None and (not isinstance(tag, dict) or len(tag) > MAX_TAG_KEYS or not all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= 40 and len(v) <= 200 for k, v in tag.items())):
        raise ValueError(f"tag should be an object of at most {MAX_TAG_KEYS} short strings")
    return ProbeRequest(kind, interface, recipient, messages if kind != "tls-probe" else [],
                        redeliver or kind == "redelivery", min(float(timeout), MAX_TIMEOUT) if timeout else None,
                        tag or None)


def run(hub: Any, job: Job, probe: ProbeRequest) -> dict[str, Any]:
    """Make the probe (the job names recipient, webhook and messages); the outcome as the API answers."""
    kind = probe.kind
    if kind == "tls-probe":
        return tls_probe(hub, job)
    dip = hub.identity
    identity, sign, retries = dip, None, 1 if probe.redeliver else 0
    timeouts = None
    if probe.timeout is not None:
        t = probe.timeout
        timeouts = Timeouts(connect=min(5.0, t), read=t, write=t, pool=min(5.0, t), total=t)
    if kind == "bad-signature":
        identity = impostor(dip)
    elif kind == "foreign-certificate":
        identity = attacker(dip)
    elif kind == "altered-body":
        sign = altered_signer()
    elif kind == "stale-signature":
        sign = stale_signer()
    delivery = hub.router.deliver(job, retries=retries, retry_errors=False, identity=identity, sign=sign, probe=kind,
                                  timeouts=timeouts, tag=probe.tag)
    r = delivery.result
    return {"kind": kind, "recipient": delivery.recipient, "interface": delivery.interface_id, "url": delivery.url,
            "delivery_id": delivery.delivery_id, "records": delivery.transcript_seqs,
            "seq": delivery.transcript_seqs[-1] if delivery.transcript_seqs else None,
            "outcome": r.outcome, "status": r.status, "attempts": r.attempts,
            "statuses": [a.status for a in r.responses], "codes": r.codes,
            "transaction_ids": delivery.transaction_ids, "transcript": delivery.transcript_seqs,
            "findings": [f.to_dict() for f in r.findings]}


def _closed_after_handshake(result: dict[str, Any], presented: bool | None) -> None:
    """TLS 1.3 completes the client's handshake before the server judges its certificate: a server that
    wanted one it did not get closes (or resets) before any HTTP answer."""
    if result["tls_version"] is not None and not presented:
        result["client_cert_required"] = True
        result["error"] = ("the webhook closed the connection right after the TLS handshake: it asked for a "
                           "client certificate and the DIP presented none")


def tls_probe(hub: Any, job: Job) -> dict[str, Any]:
    """Open TLS to the webhook as a delivery would, send nothing but a HEAD, and say how it went."""
    url = job.config.callback_url
    parts = urlsplit(url)
    party = hub.directory.party(job.recipient)
    presented = hub.router.pool.presents_certificate
    result: dict[str, Any] = {"kind": "tls-probe", "recipient": job.recipient[1], "interface": job.interface_id,
                              "url": url, "outcome": "failed", "error": None, "server_cert_sha256": None,
                              "tls_version": None, "client_cert_presented": presented,
                              "client_cert_required": None, "http_status": None}
    if parts.scheme.lower() != "https":
        result.update(outcome="not-tls", error="the webhook URL is http: no TLS on this leg")
    else:
        host, port = parts.hostname or "", parts.port or 443
        timeout = hub.config.delivery.timeouts.connect
        try:
            context = hub.router.pool.context(party.tls_ca if party else None)
            with socket.create_connection((host, port), timeout=timeout) as raw, \
                    context.wrap_socket(raw, server_hostname=host) as tls:
                result.update(server_cert_sha256=peer_certificate_sha256(tls), tls_version=tls.version())
                tls.settimeout(hub.config.delivery.timeouts.read)
                path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                tls.sendall(f"HEAD {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
                line = tls.recv(64).split(b"\r\n", 1)[0].decode("latin-1")
                if not line:
                    raise ConnectionError("the webhook closed the connection after the handshake")
                result.update(outcome="ok", http_status=int(line.split()[1]) if len(line.split()) > 1 else None)
        except ssl.SSLError as exc:
            reason = (exc.reason or str(exc)).upper()
            result["error"] = f"TLS: {exc.reason or exc}"
            if "CERTIFICATE_REQUIRED" in reason or ("HANDSHAKE_FAILURE" in reason and not presented):
                result["client_cert_required"] = True
                if not presented:
                    result["error"] = "the webhook asked for a client certificate and the DIP presented none"
            else:
                _closed_after_handshake(result, presented)
        except (OSError, ValueError) as exc:
            result["error"] = f"{type(exc).__name__}: {exc}"
            _closed_after_handshake(result, presented)
        except Exception as exc:  # noqa: BLE001 - a broken CA file is an answer, not a crash
            result["error"] = f"{type(exc).__name__}: {exc}"
    delivery_id = new_delivery_id()
    written = hub.transcript.append(job.chains or [HUB_CHAIN], {
        "kind": "delivery", "delivery_id": delivery_id, "final": True, "recipient": job.recipient[1],
        "recipient_scope": job.recipient[0] or "global",
        "interface": job.interface_id, "url": url, "attempt": 1, "probe": "tls-probe", "replay": False,
        "request_headers": {}, "request_sha256": None, "status": None, "response_headers": {},
        "response_sha256": None, "outcome": result["outcome"], "codes": [], "transaction_ids": [],
        "error": result["error"], "client_cert_presented": presented,
        "client_cert_required": result["client_cert_required"], "server_cert_sha256": result["server_cert_sha256"],
        "tls_version": result["tls_version"], "http_status": result["http_status"]})
    seq = written[(job.chains or [HUB_CHAIN])[0]]
    result.update(transcript=[seq], records=[seq], seq=seq, delivery_id=delivery_id, status=None)
    return result
