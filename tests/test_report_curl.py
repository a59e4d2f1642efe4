"""The report's "reproduce with curl" line is pasted into a reviewer's shell: nothing recorded in the
evidence (participant-controlled) may run there (issue 12).

Each command is run by a real bash in which `curl` is a function that records its arguments; a value
that escaped its quoting would create the canary file `PWNED` (`>PWNED` works whatever the case, as
the method is upper-cased).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.report.curl import curl_command, variables

CANARIES = ["$(>PWNED)", "`>PWNED`", ";>PWNED", "&& >PWNED", "| >PWNED", "\n>PWNED\n", "'; >PWNED; '",
            "\"; >PWNED; \"", "$'\\x3ePWNED'", "\\'>PWNED", "${IFS}>PWNED"]
RECORDER = 'curl() { for a in "$@"; do printf "%s\\0" "$a"; done > args; }\n'


def run_in_bash(command: str, cwd: Path) -> list[str]:
    """What curl would receive when `command` is pasted into bash; fails if the canary was created."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DIP_API_KEY": "key-1", "DIP_SECRET": "s3cret",
           "DIP_AUTHORIZATION": "Bearer t"}
    subprocess.run(["bash", "-c", RECORDER + command], cwd=cwd, env=env, check=True, timeout=10)
    assert not (cwd / "PWNED").exists(), command
    return (cwd / "args").read_bytes().decode().split("\0")[:-1]


pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash to paste the command into")


@pytest.mark.parametrize("canary", CANARIES)
@pytest.mark.parametrize("where", ["method", "url", "header-name", "header-value", "body", "credential-name"])
def test_hostile_evidence_values_are_quoted(tmp_path: Path, canary: str, where: str) -> None:
    method, url = "POST", "https://127.0.0.1:1/dip/IF-061"
    name, value, body = "X-Note", "plain", '[{"a": 1}]'
    if where == "method":
        method = f"POST{canary}"
    elif where == "url":
        url = f"{url}?q={canary}"
    elif where == "header-name":
        name = f"X-Note{canary}"
    elif where == "header-value":
        value = f"v{canary}"
    elif where == "body":
        body = f'[{{"a": "{canary}"}}]'
    headers = [[name, value], ["X-DIP-Signature", f"sig{canary}" if where == "header-value" else "sig"]]
    if where == "credential-name":
        headers.append(["x-API-key", f"[redacted sha256:0123456789abcdef]{canary}"])
    record = {"method": method, "url": url, "request": {"headers": headers}}
    command = curl_command(record, body.encode())
    args = run_in_bash(command, tmp_path)
    assert args[:4] == ["-sS", "-X", method.upper(), url]
    assert args[4:8] == ["-H", f"{name}: {value}", "-H", f"X-DIP-Signature: {headers[1][1]}"]
    if where == "credential-name":  # the credential header is written by dipcert, its value comes from the variable
        assert args[8:10] == ["-H", "X-API-Key: key-1"]
    assert args[-2:] == ["--data-binary", body]


def test_redaction_markers_become_variables_and_nothing_else_does(tmp_path: Path) -> None:
    record = {"method": "POST", "url": "https://h/x", "request": {"headers": [
        ["X-Note", "[redacted sha256:0123456789abcdef] and ${DIP_API_KEY} and ${HOME}"]]}}
    command = curl_command(record, None)
    args = run_in_bash(command, tmp_path)
    assert args[4:6] == ["-H", "X-Note: s3cret and ${DIP_API_KEY} and ${HOME}"]  # only the marker is substituted
    assert variables(command) == ["DIP_SECRET"]  # what looks like a variable inside quotes is not one


@pytest.mark.parametrize("canary", CANARIES)
def test_the_replay_line_pasted_into_bash_runs_nothing_whatever_the_evidence_holds(tmp_path: Path, canary: str) -> None:
    from harness.report.replay import replay_command

    for run_id, target in ((f"run{canary}", "#12"), ("run", f"MDR-5.2a/IF-006{canary}")):
        command = replay_command(run_id, target, "hub-inbound")
        recorder = 'dipcert() { for a in "$@"; do printf "%s\\0" "$a"; done > args; }\n'
        subprocess.run(["bash", "-c", recorder + command], cwd=tmp_path, env={"PATH": os.environ.get("PATH", "")},
                       check=True, timeout=10)
        assert not (tmp_path / "PWNED").exists(), command
        args = (tmp_path / "args").read_bytes().decode().split("\0")[:-1]
        assert args == ["replay", f"{run_id}.dipcert.zip", target, "--profile", "PROFILE.toml"]
