"""Issue 15, done when: the hub as a separate process with its own keys, `dipcert run --dip` for two
participants at once against it over mTLS, the hub restarted mid-run without losing a transcript
record, and both bundles verified as certification grade with `verify --dip-cert`.

The parties under test are the reference MDR and SDS, each the other's nominated real partner, each
reaching the DIP API over HTTPS with its own client certificate (mTLS); the hub's operator registered
both from their profiles (webhooks that demand the DIP's client certificate: test_dip_webhook_mtls.py).
Everything waits on events (log lines, process exits) with bounds.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import subprocess
import sys
import zipfile
from datetime import datetime, timezone
from pathlib import Path

from test_dip_service import HubProcess

from harness.cli import main
from harness.dip.identity import load_identity
from harness.messages.samples import DEFAULT_PARTIES
from harness.reference.participant import ReferenceParticipant
from harness.run.demo import COMPANY, free_port, make_pki, profile_text
from harness.transport.tls import client_context

logging.getLogger("werkzeug").setLevel(logging.ERROR)
RUN_BOUND = 240.0  # seconds one certification run may take on a loaded 2-core machine
ROLES = ("MDR", "SDS")


def _profile(pki, role: str, port: int, other_port: int, folder: Path) -> Path:
    partner = DEFAULT_PARTIES["SDS" if role == "MDR" else "MDR"]
    text = profile_text(role, pki, hub_port=free_port(), port=port, timeout=5.0)
    block = "\n".join([
        "[partner]", f'role = "{partner.role}"', f'company = "{COMPANY[partner.role]}"', f'mpid = "{partner.mpid}"',
        f'dip_id = "{partner.dip_id}"', f'endpoint = "http://127.0.0.1:{other_port}/webhook/if-062"',
        f'signing_certificate = "{pki.files[partner.role][0].name}"',
        f'api_key = {{ file = "{partner.role.lower()}-api-key-primary" }}',
        f'trigger = {{ kind = "http", url = "http://127.0.0.1:{other_port}/trigger", timeout = 5 }}', ""])
    text, count = re.subn(r'\[partner\]\n(?:.*\n)*?endpoint = "reference"\n', block, text, count=1)
    assert count == 1
    low = role.lower()
    text = re.sub(r"(\[credentials\]\n)", rf'\1client_certificate = "{low}-client.crt"\n'
                                          rf'client_key = "{low}-client.key"\n', text, count=1)
    path = folder / f"standing-{low}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_two_participants_through_a_standing_hub_restarted_mid_run_are_certification_grade(tmp_path, capsys):
    pki = make_pki(tmp_path / "pki")
    state = tmp_path / "state"
    dip = load_identity(state / "identity")  # the hub's own keys, made before it starts (to issue client certs)
    ports = {"MDR": free_port(), "SDS": free_port()}
    refs, profiles = {}, {}
    for role in ROLES:
        dip.issue_client(role.lower()).write(pki.folder, f"{role.lower()}-client")
        profiles[role] = _profile(pki, role, ports[role], ports["SDS" if role == "MDR" else "MDR"], pki.folder)
    hub_port = free_port()
    args = ("--state", str(state), "--port", str(hub_port), "--register", str(profiles["MDR"]),
            "--register", str(profiles["SDS"]), "--delivery-timeout", "5", "--retries", "1")
    hub = HubProcess(*args)
    url = hub.base_url
    runs: dict[str, subprocess.Popen] = {}
    try:
        for role in ROLES:
            party, partner = DEFAULT_PARTIES[role], DEFAULT_PARTIES["SDS" if role == "MDR" else "MDR"]
            low = role.lower()
            refs[role] = ReferenceParticipant(
                role, party=party, partner=partner, hub_url=url, api_keys=pki.api_keys[role],
                identity=pki.identities[role], dip_certificate=dip.signing.certificate, port=ports[role],
                register_webhooks=False, client_timeout=5.0, slow_seconds=30.0, reconnect=RUN_BOUND / 4,
                verify=client_context(ca=dip.path("ca")),
                client_cert=(str(pki.folder / f"{low}-client.crt"), str(pki.folder / f"{low}-client.key"))).start()
        for role in ROLES:
            runs[role] = subprocess.Popen(
                [sys.executable, "-m", "harness.cli", "run", "--profile", str(profiles[role]),
                 "--out", str(tmp_path / f"out-{role.lower()}"), "--dip", url,
                 "--dip-cert", str(dip.path("dip-signing")), "--dip-ca", str(dip.path("ca")), "--timeout", "10",
                 "--only", f"{role}-*/exchange/*", "--only", f"{role}-4.1/preflight/webhooks"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        # mid-run: once both runs have their sessions and the hub has delivered something since, kill it
        # and start it again (same state, same port); the participants and the runs reconnect. A session
        # is the run's once the hub has recorded its answer to the opening request (the `IN session` line,
        # written just before the answer is sent): the session.open event comes earlier, while the
        # request is still open, and a kill there fails the run's POST /sessions (not retried: a retry
        # could open a second session).
        opened: set[str] = set()
        while len(opened) < len(ROLES):
            found = re.search(r" IN   session from (\d+)", hub.wait_line(
                lambda s: " IN   session from " in s and "session-opened" in s, RUN_BOUND))
            assert found is not None
            opened.add(found.group(1))
        assert opened == {DEFAULT_PARTIES[role].dip_id for role in ROLES}
        hub.wait_line(lambda s: " OUT  " in s, RUN_BOUND)
        hub.kill()
        restarted = datetime.now(timezone.utc).isoformat()
        hub = HubProcess(*args)
        outputs = {role: run.communicate(timeout=RUN_BOUND)[0] for role, run in runs.items()}
        assert hub.stop() == 0
    finally:
        for run in runs.values():
            if run.poll() is None:
                run.send_signal(signal.SIGKILL)
                run.wait(10)
        for ref in refs.values():
            ref.stop()
        if hub.proc.poll() is None:
            hub.kill()
    for role, run in runs.items():
        assert run.returncode in (0, 1), outputs[role][-3000:]
        bundle = next((tmp_path / f"out-{role.lower()}").glob("*.dipcert.zip"))
        code, report = _verify_json(capsys, str(bundle), "--dip-cert", str(dip.path("dip-signing")))
        transcript_findings = [f for f in report["findings"] if f["rule"].startswith("transcript.")]
        assert transcript_findings == [] and report["dip_transcript"]["verified"], (role, transcript_findings)
        assert report["grade"]["level"] == "certification", (role, report["grade"])
        partner = DEFAULT_PARTIES["SDS" if role == "MDR" else "MDR"]
        assert report["grade"]["nominated_partner"]["dip_id"] == partner.dip_id
        # the session spans the restart: records before it, records after it, one unbroken chain
        with zipfile.ZipFile(bundle) as z:
            name = next(n for n in z.namelist() if n.endswith("dip/transcript.jsonl"))
            times = [json.loads(line)["time"] for line in z.read(name).splitlines()]
        assert min(times) < restarted < max(times), (role, restarted, times[0], times[-1])


def _verify_json(capsys, *argv: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["verify", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)
