"""'Reproduce with' commands: a failing exchange as one curl command a developer can paste.

Why curl and the exact bytes: a participant's developer should be able to replay what the harness
sent without installing dipcert. Credentials never appear: the recorder already replaced them with
salted-hash markers, and here every credential header and every marker becomes a shell variable
(`$DIP_API_KEY`, `$DIP_SECRET`) the developer sets from their own vault.

Everything taken from the evidence (method, URL, header names and values, body) is participant-
controlled and is pasted into someone's shell: each is one `shlex.quote`d word, so no value can
run a command, however it is written.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

MARKER = re.compile(r"\[redacted sha256:[0-9a-f]{16}\]")
#: Credential headers -> the variable that stands for their value.
PLACEHOLDERS = {"x-api-key": "DIP_API_KEY", "authorization": "DIP_AUTHORIZATION",
                "proxy-authorization": "DIP_PROXY_AUTHORIZATION", "cookie": "DIP_COOKIE"}
CANONICAL = {"x-api-key": "X-API-Key", "authorization": "Authorization",
             "proxy-authorization": "Proxy-Authorization", "cookie": "Cookie"}
SECRET_VARIABLE = "DIP_SECRET"
#: Headers curl sets itself (or that would be wrong on replay).
SKIPPED = frozenset({"content-length", "host", "connection", "transfer-encoding", "accept-encoding",
                     "user-agent"})
SIGNATURE_NOTE = ("# X-DIP-Signature* headers are as recorded; the DIP rejects a stale "
                  "X-DIP-Signature-Date, so re-sign before replaying against it")


def shell_word(text: str) -> str:
    """One shell word for `text`, with each redaction marker replaced by "${DIP_SECRET}"."""
    pieces = MARKER.split(text)
    if len(pieces) == 1:
        return shlex.quote(text)
    out = []
    for i, piece in enumerate(pieces):
        if piece:
            out.append(shlex.quote(piece))
        if i < len(pieces) - 1:
            out.append(f'"${{{SECRET_VARIABLE}}}"')
    return "".join(out)


def curl_command(record: Mapping[str, Any], body: bytes | None) -> str:
    """The curl command that sends `record`'s request again: method, URL, headers, exact body."""
    method = str(record.get("method") or "POST").upper()
    lines = [f"curl -sS -X {shell_word(method)} {shell_word(str(record.get('url') or ''))}"]
    signed = False
    headers = ((record.get("request") or {}).get("headers")) or []
    for pair in headers:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            continue
        name, value = str(pair[0]), str(pair[1])
        lower = name.lower()
        if lower in SKIPPED:
            continue
        signed = signed or lower.startswith("x-dip-signature")
        if lower in PLACEHOLDERS:  # the header's name as written here, not as recorded: nothing from evidence
            lines.append(f'-H "{CANONICAL[lower]}: ${{{PLACEHOLDERS[lower]}}}"')
        else:
            lines.append(f"-H {shell_word(f'{name}: {value}')}")
    if body is not None:
        lines.append(f"--data-binary {shell_word(body.decode('utf-8', 'replace'))}")
    command = " \\\n  ".join(lines)
    return f"{SIGNATURE_NOTE}\n{command}" if signed else command


def variables(command: str) -> list[str]:
    """The shell variables a command needs set, sorted (shown next to it in the report).

    Only `${NAME}` the shell expands counts: text from the evidence that merely looks like one sits
    inside single quotes, where it stays literal.
    """
    found, quote, i = set(), "", 0
    while i < len(command):
        char = command[i]
        if quote == "'":
            quote = "" if char == "'" else quote
        elif char in "'\"" and quote in ("", char):
            quote = "" if quote == char else char
        elif command.startswith("${", i) and (match := _VARIABLE.match(command, i)):
            found.add(match.group(1))
            i = match.end()
            continue
        i += 1
    return sorted(found)


_VARIABLE = re.compile(r"\$\{([A-Z_]+)\}")
