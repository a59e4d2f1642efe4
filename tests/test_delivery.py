"""Webhook delivery against real HTTP servers on 127.0.0.1 that misbehave in every listed way."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from harness.transport.certs import cached_key, make_ca
from harness.transport.delivery import Timeouts, WebhookConfig, deliver, split_batches
from harness.transport.responses import response_entry, standard_response
from harness.transport.signing import verify_request

logging.getLogger("werkzeug").setLevel(logging.ERROR)

FAST = Timeouts(connect=1.0, read=0.3, write=1.0, pool=1.0, total=5.0)
Handler = Callable[[Request, list, int], Response]


class Webhook:
    """A scripted webhook: `handler(request, messages, call_number) -> Response`."""

    def __init__(self, handler: Handler, ssl_context=None) -> None:
        self.handler = handler
        self.calls: list[tuple[dict, bytes, str]] = []
        self.release = threading.Event()
        self.scheme = "https" if ssl_context is not None else "http"
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True, ssl_context=ssl_context)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_port}/webhook/IF-061"

    @Request.application
    def _app(self, request: Request) -> Response:
        body = request.get_data()
        self.calls.append((dict(request.headers), body, request.url))
        try:
            messages = json.loads(body)
        except ValueError:
            messages = []
        return self.handler(request, messages, len(self.calls))

    def __enter__(self) -> "Webhook":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def answer(messages: list, status: int = 201, codes: list[str] | None = None) -> Response:
    codes = codes or ["RCP0000"] * len(messages)
    entries = [response_entry(code, transaction_id=f"T-{i}", sender_id="1400000001", recipient_id="0000000000")
               for i, code in enumerate(codes)]
    return Response(json.dumps(standard_response(entries)), status=status, content_type="application/json")


@pytest.fixture(scope="module")
def identity():
    ca = make_ca("delivery test CA", key=cached_key("test-ca"))
    return ca.issue("dip.test", key=cached_key("test-dip")).identity()


def messages(n: int = 2) -> list[dict]:
    return [{"payload": {"CommonBlock": {"S0": {"interfaceID": "IF-061"}}, "CustomBlock": {"n": i}}}
            for i in range(n)]


def run(url: str, identity, *, n: int = 2, **kw):
    sleeps: list[float] = []
    kw.setdefault("timeout", FAST)
    result = deliver(url, messages(n), identity=identity, sleep=sleeps.append, **kw)
    return result, sleeps


def test_201_accepted_signed(identity):
    with Webhook(lambda req, msgs, n: answer(msgs)) as hook:
        result, sleeps = run(hook.url, identity)
    assert (result.outcome, result.attempts, result.status) == ("accepted", 1, 201)
    assert result.codes == ["RCP0000", "RCP0000"] and not result.findings and sleeps == []
    headers, body, url = hook.calls[0]
    assert json.loads(body) == messages(2)
    assert verify_request("POST", url, body, headers, expected_certificate=identity.certificate) == []


def test_201_with_malformed_body_is_not_accepted(identity):
    def handler(req, msgs, n):
        entry = response_entry("RCP0000", sender_id="1400000001")
        del entry["help"]
        return Response(json.dumps({"messageArray": [entry], "timestamp": "now"}), status=201)

    with Webhook(handler) as hook:
        result, _ = run(hook.url, identity)
    assert result.outcome == "failed" and result.attempts == 1
    rules = {f.rule for f in result.findings}
    assert {"response.missing-key", "response.count", "response.timestamp"} <= rules


def test_207_partial_surfaces_codes(identity):
    with Webhook(lambda req, msgs, n: answer(msgs, 207, ["RCP0000", "RCP1061"])) as hook:
        result, _ = run(hook.url, identity)
    assert (result.outcome, result.attempts) == ("partial", 1)
    assert result.codes == ["RCP0000", "RCP1061"]
    rejected = [f for f in result.findings if f.rule == "delivery.message-rejected"]
    assert len(rejected) == 1 and rejected[0].extra["code"] == "RCP1061"


def test_400_rejected_no_retry(identity):
    with Webhook(lambda req, msgs, n: answer(msgs, 400, ["RCP1001", "RCP9999"])) as hook:
        result, sleeps = run(hook.url, identity)
    assert (result.outcome, result.attempts, result.status) == ("rejected", 1, 400)
    assert result.rcp_codes == ["RCP1001", "RCP9999"] and sleeps == []
    assert len(hook.calls) == 1


@pytest.mark.parametrize("status", [401, 403, 404, 413, 505])
def test_no_retry_statuses_refused(identity, status):
    with Webhook(lambda req, msgs, n: Response("no", status=status)) as hook:
        result, sleeps = run(hook.url, identity)
    assert (result.outcome, result.attempts, result.status) == ("refused", 1, status)
    assert sleeps == [] and len(hook.calls) == 1


def test_500_then_201_retried_with_backoff(identity):
    def handler(req, msgs, n):
        return Response("oops", status=500) if n < 3 else answer(msgs)

    with Webhook(handler) as hook:
        result, sleeps = run(hook.url, identity, retries=3, backoff=(0.05, 2.0))
    assert (result.outcome, result.attempts, result.status) == ("accepted", 3, 201)
    assert sleeps == [0.05, 0.1]
    # every attempt is freshly signed over the same bytes
    bodies = {body for _, body, _ in hook.calls}
    assert len(bodies) == 1


def test_503_forever_fails_after_bounded_retries(identity):
    with Webhook(lambda req, msgs, n: Response("busy", status=503, headers={"Retry-After": "1"})) as hook:
        result, sleeps = run(hook.url, identity, retries=4, backoff=(0.1, 0.5))
    assert (result.outcome, result.attempts, result.status) == ("failed", 5, 503)
    assert sleeps == [0.5] * 4  # Retry-After: 1 s, capped at backoff[1]
    assert len(hook.calls) == 5


def test_hang_past_read_timeout(identity):
    answered = threading.Event()

    def hang(req, msgs, n):
        hook.release.wait(30)  # until the test ends: only the client's read timeout can end the call
        answered.set()
        return answer(msgs)

    hook = Webhook(hang)
    with hook:
        result, sleeps = run(hook.url, identity, retries=1)
        still_hanging = not answered.is_set()  # the client gave up while the webhook was still busy
    assert still_hanging and len(hook.calls) == 2
    assert (result.outcome, result.attempts, result.status) == ("timeout", 2, None)
    assert len(sleeps) == 1
    assert any(f.rule == "delivery.timeout" for f in result.findings)


def _closing_server() -> tuple[socket.socket, threading.Thread, list[int]]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    accepted: list[int] = []

    def loop() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            accepted.append(1)
            conn.settimeout(1)
            try:
                conn.recv(65536)
            except OSError:
                pass
            conn.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return sock, thread, accepted


def test_connection_closed_without_reply(identity):
    sock, thread, accepted = _closing_server()
    try:
        result, sleeps = run(f"http://127.0.0.1:{sock.getsockname()[1]}/hook", identity, retries=2)
    finally:
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        thread.join(2)
    assert (result.outcome, result.attempts, result.status) == ("failed", 3, None)
    assert len(sleeps) == 2 and len(accepted) == 3
    assert any(f.rule == "delivery.connection" for f in result.findings)


def test_connection_refused(identity):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    result, _ = run(f"http://127.0.0.1:{port}/hook", identity, retries=1)
    assert (result.outcome, result.attempts) == ("failed", 2)


def test_50mb_reply_is_cut_off(identity):
    produced: list[int] = []

    def handler(req, msgs, n):
        def stream() -> Iterator[bytes]:
            chunk = b"x" * 65536
            for _ in range(800):  # 50 MiB
                produced.append(1)
                yield chunk
        return Response(stream(), status=201, content_type="application/json")

    with Webhook(handler) as hook:
        result, sleeps = run(hook.url, identity, max_response_bytes=1024 * 1024)
    assert result.outcome == "failed" and result.attempts == 1 and sleeps == []
    assert any(f.rule == "delivery.response-too-large" for f in result.findings)
    assert len(result.responses[0].body) <= 1024 * 1024
    assert len(produced) < 800  # the client hung up instead of draining the 50 MiB


def test_batches_honour_count_and_size(identity):
    seen: list[int] = []

    def handler(req, msgs, n):
        seen.append(len(msgs))
        return answer(msgs)

    with Webhook(handler) as hook:
        result, _ = run(hook.url, identity, n=5, config=WebhookConfig(hook.url, max_message_count=2))
    assert result.outcome == "accepted" and seen == [2, 2, 1] and result.batches == 3
    assert len(result.codes) == 5

    items = messages(4)
    one = len(json.dumps(items[0], separators=(",", ":")))
    batches = split_batches(items, WebhookConfig("http://x", max_payload_kb=(2 * one + 3) / 1024))
    assert [len(b) for b, _ in batches] == [2, 2]
    assert all(len(raw) <= 2 * one + 3 for _, raw in batches)
    assert json.loads(batches[0][1]) == items[:2]


def test_oversized_single_message_is_sent_with_warning(identity):
    with Webhook(lambda req, msgs, n: answer(msgs)) as hook:
        result, _ = run(hook.url, identity, n=1, config=WebhookConfig(hook.url, max_payload_kb=0.01))
    assert result.outcome == "accepted"
    assert [f.rule for f in result.findings] == ["delivery.message-too-large"]


def test_webhook_config_parsing():
    config = WebhookConfig.from_json({"callbackURL": "https://127.0.0.1/x", "maxMessageCount": 10,
                                      "maxPayloadSize": 100})
    assert (config.max_message_count, config.max_payload_kb) == (10, 100.0)
    for bad in ({"callbackURL": "ftp://x"}, {"callbackURL": "https://h/x", "maxMessageCount": 0},
                {"callbackURL": "https://h/x", "other": 1}, []):
        with pytest.raises(ValueError):
            WebhookConfig.from_json(bad)


def test_standard_response_parsing_and_code_table(tmp_path):
    from harness.core.errors import ConfigError
    from harness.transport.responses import load_code_table, parse_code, parse_standard_response

    good = standard_response([response_entry("RCP0000", sender_id="1400000001")])
    assert parse_standard_response(json.dumps(good), expected_count=1).ok
    assert parse_code("MSG1001 -Schema Failure") == "MSG1001" and parse_code("fine") is None
    assert load_code_table().message("MSG1006") == "MSG1006 - Sender Unique Reference Duplicated"
    cases = {b"<html>": "response.json", b"[]": "response.shape",
             json.dumps({"messageArray": [{"message": "ok"}], "timestamp": "2025-01-01T00:00:00+00:00"}):
             "response.code"}
    for raw, rule in cases.items():
        parsed = parse_standard_response(raw)
        assert not parsed.ok and rule in {f.rule for f in parsed.findings}
    bad = tmp_path / "codes.toml"
    bad.write_text("[msg]\nMSG0000 = 'Success'\n")
    with pytest.raises(ConfigError, match="rcp"):
        load_code_table(bad)


def test_mtls_webhook_needs_the_dip_client_certificate(identity, tmp_path):
    from harness.transport.tls import client_context, server_context

    ca = make_ca("delivery test CA", key=cached_key("test-ca"))
    ca_path = ca.write(tmp_path, "ca")
    server = ca.issue("webhook.local", key=cached_key("test-webhook-tls")).write(tmp_path, "webhook")
    dip = ca.issue("dip.client", key=cached_key("test-dip")).write(tmp_path, "dip")
    with Webhook(lambda req, msgs, n: answer(msgs), server_context(*server, client_ca=ca_path)) as hook:
        good, _ = run(hook.url, identity, client_tls=client_context(ca=ca_path, cert=dip[0], key=dip[1]))
        bare, _ = run(hook.url, identity, retries=0, client_tls=client_context(ca=ca_path))
    assert (good.outcome, good.attempts) == ("accepted", 1)
    assert good.responses[0].peer_certificate and good.responses[0].peer_certificate.startswith("sha256:")
    assert bare.outcome == "failed" and len(hook.calls) == 1


# --- issue 14: what the consume checks need from delivery -----------------------------------------

def test_without_retry_errors_a_timeout_is_waited_for_once(identity):
    hook = Webhook(lambda req, msgs, n: (hook.release.wait(10), answer(msgs))[1])
    with hook:
        result, sleeps = run(hook.url, identity, retries=1, retry_errors=False)
    assert (result.outcome, result.attempts) == ("timeout", 1) and sleeps == [] and len(hook.calls) == 1


def test_without_retry_errors_a_5xx_is_still_redelivered_once(identity):
    with Webhook(lambda req, msgs, n: answer(msgs) if n > 1 else Response("oops", status=500)) as hook:
        result, sleeps = run(hook.url, identity, retries=1, retry_errors=False)
    assert (result.outcome, result.attempts, [a.status for a in result.responses]) == ("accepted", 2, [500, 201])
    assert hook.calls[0][1] == hook.calls[1][1]  # the same batch, byte for byte


def test_a_redirect_is_refused_not_followed(identity):
    with Webhook(lambda req, msgs, n: Response("", status=302, headers={"Location": "http://127.0.0.1:9/x"})) as hook:
        result, _ = run(hook.url, identity, retries=1)
    assert (result.outcome, result.status, result.attempts) == ("refused", 302, 1) and len(hook.calls) == 1


def test_a_signer_hook_makes_the_headers(identity):
    from harness.transport.signing import sign_request

    calls = []

    def signer(method, url, body, who):
        calls.append(body)
        return sign_request(method, url, b"other bytes", who)

    with Webhook(lambda req, msgs, n: answer(msgs)) as hook:
        run(hook.url, identity, sign=signer)
    headers, body, url = hook.calls[0]
    assert calls == [body]
    assert [f.rule for f in verify_request("POST", url, body, headers, expected_certificate=identity.certificate)] \
        == ["signature.hash"]
