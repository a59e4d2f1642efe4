"""Asking a participant to produce an outgoing flow (ARCHITECTURE.md, "Triggering outgoing flows"):
`http`, `command`, `manual`.

A trigger only *asks*; whether the participant really sent the message is judged by watching the
hub, never by believing the trigger's answer. Every trigger call is bounded by its timeout and
recorded as evidence (channel `trigger`), so a reviewer sees exactly what the harness asked for.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx

from harness.config.profile import Trigger
from harness.transport.tls import system_context

UTC = timezone.utc
MAX_OUTPUT = 4096  # bytes of a command's output kept as evidence


@dataclass
class SendResult:
    """What the trigger call itself returned: `ok` says the participant was asked, not that it sent."""

    ok: bool
    detail: str
    seq: int | None = None


def trigger_spec(interface_id: str, event: str | None, *, mpan: str | None = None,
                 correlation_id: str | None = None, fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON a `http` trigger receives (and a `command` trigger's placeholders)."""
    spec: dict[str, Any] = {"interface": interface_id}
    if event:
        spec["event"] = event
    if mpan:
        spec["mpan"] = mpan
    if correlation_id:
        spec["correlation_id"] = correlation_id
    if fields:
        spec["fields"] = dict(fields)
    return spec


def fire(trigger: Trigger, spec: Mapping[str, Any], *, recorder: Any = None,
         context: Mapping[str, Any] | None = None, announce: Callable[[str], None] | None = None,
         wait_manual: Callable[[float], bool] | None = None) -> SendResult:
    """Ask once; never raises for what the participant does. `wait_manual(seconds)` -> True when it arrived."""
    if trigger.kind == "http":
        return _http(trigger, spec, recorder, context)
    if trigger.kind == "command":
        return _command(trigger, spec, recorder, context)
    return _manual(trigger, spec, recorder, context, announce, wait_manual)


def _http(trigger: Trigger, spec: Mapping[str, Any], recorder: Any, context: Mapping[str, Any] | None) -> SendResult:
    body = json.dumps(spec, separators=(",", ":")).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    started, clock = datetime.now(UTC), time.monotonic()
    status, reply, error = None, b"", None
    try:
        with httpx.Client(timeout=trigger.timeout, trust_env=False, follow_redirects=False,
                          verify=system_context()) as client:
            response = client.post(str(trigger.url), content=body, headers=headers)
        status, reply = response.status_code, response.content[:MAX_OUTPUT]
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    seq = None
    if recorder is not None:
        seq = recorder.http(channel="trigger", method="POST", url=str(trigger.url), request_headers=headers,
                            request_body=body, status=status, response_headers=None, response_body=reply or None,
                            started=started, elapsed_ms=(time.monotonic() - clock) * 1000, error=error,
                            context=dict(context or {}))
    if error is not None:
        return SendResult(False, f"trigger {trigger.url} did not answer ({error})", seq)
    ok = status is not None and 200 <= status < 300
    return SendResult(ok, f"trigger {trigger.url} answered HTTP {status}", seq)


def _command(trigger: Trigger, spec: Mapping[str, Any], recorder: Any, context: Mapping[str, Any] | None) -> SendResult:
    """The command runs without a shell; `{interface}`, `{event}`, `{mpan}`, `{correlation_id}` are filled in."""
    values = {k: str(spec.get(k) or "") for k in ("interface", "event", "mpan", "correlation_id")}
    try:
        argv = [part.format(**values) for part in shlex.split(str(trigger.command))]
    except (ValueError, KeyError, IndexError) as exc:
        return _note(recorder, context, f"trigger command {trigger.command!r} is not usable ({exc})", False)
    env_spec = json.dumps(spec, separators=(",", ":"))
    started = time.monotonic()
    try:
        done = subprocess.run(argv, input=env_spec.encode("utf-8"), capture_output=True, timeout=trigger.timeout,
                              check=False)
    except FileNotFoundError:
        return _note(recorder, context, f"trigger command {argv[0]!r} not found", False)
    except subprocess.TimeoutExpired:
        return _note(recorder, context,
                     f"trigger command {argv[0]!r} did not finish within {trigger.timeout:g} s", False)
    elapsed = time.monotonic() - started
    ok = done.returncode == 0
    detail = f"trigger command {argv[0]!r} exited {done.returncode} after {elapsed:.1f} s"
    seq = None
    if recorder is not None:
        seq = recorder.event("trigger", trigger_kind="command", argv=argv, spec=dict(spec), returncode=done.returncode,
                             stdout=done.stdout[:MAX_OUTPUT].decode("utf-8", "replace"),
                             stderr=done.stderr[:MAX_OUTPUT].decode("utf-8", "replace"), **dict(context or {}))
    return SendResult(ok, detail, seq)


def _manual(trigger: Trigger, spec: Mapping[str, Any], recorder: Any, context: Mapping[str, Any] | None,
            announce: Callable[[str], None] | None, wait_manual: Callable[[float], bool] | None) -> SendResult:
    what = f"{spec['interface']}" + (f" [{spec['event']}]" if spec.get("event") else "")
    if spec.get("mpan"):
        what += f" for MPAN {spec['mpan']}"
    text = (trigger.instructions or "Make your system send {what} to the DIP now.").format(
        what=what, **{k: spec.get(k) or "" for k in ("interface", "event", "mpan", "correlation_id")})
    seq = recorder.event("trigger", trigger_kind="manual", spec=dict(spec), instructions=text, **dict(context or {})) \
        if recorder is not None else None
    (announce or (lambda line: print(line, file=sys.stderr, flush=True)))(
        f"ACTION NEEDED ({trigger.timeout:g} s): {text}")
    if wait_manual is not None and not wait_manual(trigger.timeout):
        return SendResult(False, f"nothing arrived within {trigger.timeout:g} s of asking", seq)
    return SendResult(True, "asked the operator", seq)


def _note(recorder: Any, context: Mapping[str, Any] | None, detail: str, ok: bool) -> SendResult:
    seq = (recorder.event("trigger", trigger_kind="command", error=detail, **dict(context or {}))
           if recorder is not None else None)
    return SendResult(ok, detail, seq)
