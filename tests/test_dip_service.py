"""`dipcert hub serve` as a separate process: a restart loses no record, continues every chain and
resumes the delivery it interrupted; start-up mistakes are one line and exit 2."""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from dipkit import MDR, SDS, WAIT, Webhook, keys_for, open_session, records, sample, wait_records

from harness.cli import main
from harness.dip.identity import load_identity
from harness.dip.transcript import PAYLOAD_TYPE, verify_chain
from harness.evidence.dsse import verify_envelope
from harness.transport.client import DipClient
from harness.transport.tls import client_context

logging.getLogger("werkzeug").setLevel(logging.ERROR)
START = 30.0  # seconds a hub process may take to start (imports, identity)


class HubProcess:
    """`dipcert hub serve` in a subprocess, its log read line by line."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "hub", "serve", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        banner = self.wait_line(lambda s: "serving on" in s, START)
        self.base_url = banner.split("serving on ")[1].split()[0]

    def _read(self) -> None:
        for text in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.put(text.rstrip("\n"))

    def wait_line(self, predicate, timeout: float = WAIT) -> str:
        while True:
            try:
                text = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no such line from the hub within {timeout} s; got: {self.log[-20:]}") from None
            self.log.append(text)
            if predicate(text):
                return text

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(WAIT)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(WAIT * 2)


def _registration(folder: Path, hub_pki, hook_url: str, client_cert: Path) -> Path:
    (folder / "mdr-signing.pem").write_bytes(hub_pki["MDR"].cert_pem)
    for slot, key in zip(("primary", "secondary"), keys_for(MDR.dip_id)):
        (folder / f"mdr-key-{slot}").write_text(key + "\n")
    path = folder / "parties.toml"
    path.write_text(f"""
[[party]]
dip_id = "{MDR.dip_id}"
role = "MDR"
mpid = "{MDR.mpid}"
api_key_primary = {{ file = "mdr-key-primary" }}
api_key_secondary = {{ file = "mdr-key-secondary" }}
signing_certificate = "mdr-signing.pem"
client_certificate = "{client_cert}"
[party.webhooks]
IF-061 = "{hook_url}"
""")
    return path


def test_a_killed_hub_restarts_with_nothing_lost(tmp_path, hub_pki):
    state = tmp_path / "state"
    dip = load_identity(state / "identity")  # made before the hub, so the test can issue client certificates
    mdr_cert, mdr_key = dip.issue_client("mdr").write(tmp_path, "mdr-client")
    tls = client_context(ca=dip.path("ca"), cert=mdr_cert, key=mdr_key)
    hold = threading.Event()
    hook = Webhook(hold=hold)
    parties = _registration(tmp_path, hub_pki, hook.url, mdr_cert)
    args = ("--state", str(state), "--port", "0", "--registrations", str(parties), "--delivery-timeout", "10")
    first = HubProcess(*args)
    try:
        assert first.base_url.startswith("https://127.0.0.1:")
        with api_at(first.base_url, hub_pki["MDR"], keys_for(MDR.dip_id)[0], tls) as mdr:
            pem = hub_pki["SDS"].certificate.public_bytes(serialization.Encoding.PEM).decode()
            opened = open_session(mdr, [{"role": "SDS", "mpid": SDS.mpid, "dip_id": SDS.dip_id,
                                         "certificate_pem": pem}])
            sid, cp_key = opened["session"], opened["counterparties"][0]["api_keys"][0]
            message = sample(seed=11)
            with api_at(first.base_url, hub_pki["SDS"], cp_key, tls) as sds:
                accepted = sds.submit("IF-061", message)
            assert accepted.status == 201
            hook.wait_calls(1)  # the delivery is in flight, held by the webhook
            before = records(mdr, sid)["records"]
        first.wait_line(lambda s: " IN   submit IF-061 from " + SDS.dip_id in s)
        first.kill()
    finally:
        hold.set()
        if first.proc.poll() is None:
            first.kill()
    second = HubProcess(*args)
    try:
        assert len(hook.wait_calls(2)) == 2  # the interrupted delivery, made again
        assert hook.calls[0].body == hook.calls[1].body
        with api_at(second.base_url, hub_pki["MDR"], keys_for(MDR.dip_id)[0], tls) as mdr:
            after = wait_records(mdr, sid, lambda r: r["kind"] == "delivery" and r.get("final") is True)
            with api_at(second.base_url, hub_pki["SDS"], cp_key, tls) as sds:  # its keys survived the restart...
                again = sds.submit("IF-061", message)  # ...and so did the references it used
                assert again.status == 400 and again.messages == ["MSG1006"]
            assert mdr.call("POST", f"/dipcert/v1/sessions/{sid}/close").status_code == 200
            lines = mdr.call("GET", f"/dipcert/v1/sessions/{sid}/transcript").content
            envelope = mdr.call("GET", f"/dipcert/v1/sessions/{sid}/transcript/envelope").json()
        assert second.stop() == 0
    finally:
        if second.proc.poll() is None:
            second.kill()
        hook.close()
    assert after[:len(before)] == before  # nothing lost or changed
    resumed = [r for r in after if r["kind"] == "delivery"]
    assert [(r["attempt"], r["outcome"], r["final"]) for r in resumed] == [(0, "failed", False), (1, "accepted", True)]
    assert resumed[0]["resumed"] and resumed[0]["transaction_ids"] == accepted.transaction_ids
    exported = [json.loads(line) for line in lines.splitlines()]
    assert verify_chain(exported, sid)[0] == len(exported) and exported[:len(before)] == [
        {**r, **{k: v for k, v in e.items() if k.endswith("_b64")}} for r, e in zip(before, exported)]
    statement = json.loads(verify_envelope(envelope, [dip.signing.certificate], payload_type=PAYLOAD_TYPE).payload)
    assert statement["count"] == len(exported) and statement["dip"]["fingerprint"] == dip.signing.fingerprint()
    assert any(" OUT  IF-061 to " + MDR.dip_id in line and "(final)" in line for line in second.log + drain(second))


def drain(hub: HubProcess) -> list[str]:
    out = []
    while not hub.lines.empty():
        out.append(hub.lines.get_nowait())
    return out


def api_at(base_url: str, identity, key: str, tls):
    return DipClient(base_url, api_key=key, identity=identity, timeout=WAIT + 10, verify=tls)


@pytest.mark.parametrize("extra, says", [
    (["--port", "70000"], "--port should be 1-65535"),
    (["--port", "-1"], "--port should be 1-65535"),
    (["--host", "no-such-host.invalid"], "cannot listen on no-such-host.invalid"),
])
def test_start_up_mistakes_are_one_line_and_exit_2(tmp_path, capsys, extra, says):
    assert main(["hub", "serve", "--state", str(tmp_path / "s"), *extra, "--duration", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0], err


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["hub", "serve", "--state", str(tmp_path / "s"), "--port", str(port), "--duration", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"cannot listen on 127.0.0.1:{port}" in err[0] and "in use" in err[0], err


def test_serve_in_process_labels_plain_http_and_writes_its_endpoint(tmp_path, capsys):
    assert main(["hub", "serve", "--state", str(tmp_path / "s"), "--port", "0", "--plain-http", "--duration", "0"]) == 0
    out = capsys.readouterr().out
    assert "(plain http: a self-test only)" in out and " EV   hub.start " in out
    assert not (tmp_path / "s" / "hub.json").exists()  # removed at a clean stop
    assert os.stat(tmp_path / "s" / "identity" / "dip-signing.key").st_mode & 0o077 == 0
