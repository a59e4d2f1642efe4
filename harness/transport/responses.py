"""StandardResponse: the DIP's answer to a submission and a participant's answer to a delivery.

Both directions use the same shape (`{"messageArray": [StandardResponseBodyType…], "timestamp"}`),
so building and checking it lives here once. The MSG/RCP code table and the webhook retry table
are data (`schemas/response-codes.toml`), not code, so a newer code list is an edit, not a patch.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from harness.core.errors import ConfigError
from harness.core.files import read_toml
from harness.core.findings import Finding, short
from harness.core.paths import schemas_dir
from harness.messages.ids import dip_timestamp, parse_dip_timestamp

# StandardResponseBodyType: all ten keys are required; nullable ones are present as null (DIN-1031).
STANDARD_RESPONSE_KEYS = (
    "transactionID", "senderUniqueReference", "correlationID", "sentTimestamp", "senderID",
    "recipientID", "DIPConnectionProviderID", "message", "help", "serviceTicketURL",
)
SUCCESS_CODES = frozenset({"MSG0000", "RCP0000"})
CODE_PATTERN = re.compile(r"^\s*([A-Z]{2,3}\d{3,4})\b")
HELP_MAX = 500  # DT-019N
MESSAGE_MAX = 200  # DT-005N


@dataclass(frozen=True)
class CodeTable:
    codes: dict[str, str]  # "MSG1001" -> "Schema Failure"
    template: str
    success: frozenset[int]
    partial: frozenset[int]
    rejected: frozenset[int]
    retry: frozenset[int]
    no_retry: frozenset[int]
    source: Path

    def text(self, code: str) -> str:
        return self.codes.get(code, "Unknown Code")

    def message(self, code: str, text: str | None = None) -> str:
        """`"MSG1001 - Schema Failure"`: how the code appears in a StandardResponse `message`."""
        return self.template.format(code=code, text=text or self.text(code))[:MESSAGE_MAX]

    def is_known(self, code: str) -> bool:
        return code in self.codes


def load_code_table(path: Path | str | None = None) -> CodeTable:
    """The bundled code table, or the one at `path`; errors name the file and key."""
    if path is None:
        return _default_table()
    return _load(Path(path))


@lru_cache(maxsize=1)
def _default_table() -> CodeTable:
    return _load(schemas_dir() / "response-codes.toml")


def _load(path: Path) -> CodeTable:
    data = read_toml(path, "response code table")
    codes: dict[str, str] = {}
    for section in ("msg", "rcp"):
        table = data.get(section)
        if not isinstance(table, dict) or not table:
            raise ConfigError(f"{path}: missing table [{section}] of CODE = \"text\" entries")
        for code, text in table.items():
            if not CODE_PATTERN.match(code) or not isinstance(text, str):
                raise ConfigError(f"{path}: [{section}] {code!r} should be CODE = \"text\"")
            codes[code] = text
    delivery = data.get("delivery", {})

    def statuses(key: str) -> frozenset[int]:
        value = delivery.get(key)
        if not isinstance(value, list) or not all(isinstance(v, int) for v in value):
            raise ConfigError(f"{path}: [delivery] {key} should be a list of HTTP status codes")
        return frozenset(value)

    return CodeTable(codes, str(data.get("format", "{code} - {text}")), statuses("success"),
                     statuses("partial"), statuses("rejected"), statuses("retry"),
                     statuses("no_retry"), path)


def parse_code(message: object) -> str | None:
    """The code at the start of a `message` ("MSG1001 -Schema Failure" -> "MSG1001"), if any."""
    if not isinstance(message, str):
        return None
    match = CODE_PATTERN.match(message)
    return match.group(1) if match else None


def response_entry(code: str, *, transaction_id: str | None = None,
                   sender_unique_reference: str | None = None, correlation_id: str | None = None,
                   sent_timestamp: str | None = None, sender_id: str, recipient_id: str | None = None,
                   dcp_id: str | None = None, help: str | None = None,
                   service_ticket_url: str | None = None, table: CodeTable | None = None) -> dict:
    """One StandardResponseBodyType with all ten keys (absent values are null, never missing)."""
    table = table or load_code_table()
    return {
        "transactionID": transaction_id,
        "senderUniqueReference": sender_unique_reference,
        "correlationID": correlation_id,
        "sentTimestamp": sent_timestamp or dip_timestamp(),
        "senderID": sender_id,
        "recipientID": recipient_id,
        "DIPConnectionProviderID": dcp_id,
        "message": table.message(code),
        "help": help[:HELP_MAX] if help else None,
        "serviceTicketURL": service_ticket_url,
    }


def standard_response(entries: list[dict], *, timestamp: datetime | None = None) -> dict:
    return {"messageArray": entries, "timestamp": dip_timestamp(timestamp)}


@dataclass(frozen=True)
class ParsedResponse:
    entries: list[dict]
    codes: list[str | None]  # one per entry, None when the message carries no code
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)


def parse_standard_response(body: bytes | str | Any, *, expected_count: int | None = None,
                            prefix: str = "response", array_only: bool = False,
                            table: CodeTable | None = None) -> ParsedResponse:
    """Check a StandardResponse (or, with `array_only`, a bare StandardResponseArray).

    Rules: `<prefix>.json`, `<prefix>.shape`, `<prefix>.missing-key`, `<prefix>.count`,
    `<prefix>.code` (no code / unknown code), `<prefix>.timestamp`. Everything wrong is
    reported, not just the first problem, so a participant can fix its answer in one go.
    """
    table = table or load_code_table()
    findings: list[Finding] = []
    data = body
    if isinstance(body, (bytes, str)):
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return ParsedResponse([], [], [Finding(f"{prefix}.json", "/", "a JSON StandardResponse",
                                                   short(body if isinstance(body, str) else body[:80]),
                                                   f"the response body is not JSON ({exc})")])
    if array_only:
        array, base = data, ""
    else:
        if not isinstance(data, dict):
            return ParsedResponse([], [], [Finding(f"{prefix}.shape", "/", "an object with messageArray and timestamp",
                                                   type(data).__name__,
                                                   "the response is not a StandardResponse object")])
        array, base = data.get("messageArray"), "/messageArray"
        stamp = data.get("timestamp")
        try:
            parse_dip_timestamp(stamp)
        except ValueError:
            findings.append(Finding(f"{prefix}.timestamp", "/timestamp", "a 25-character DT-003 timestamp",
                                    short(stamp), "timestamp is missing or not DT-003"))
        extra = sorted(set(data) - {"messageArray", "timestamp"})
        if extra:
            findings.append(Finding(f"{prefix}.shape", "/", "only messageArray and timestamp",
                                    ", ".join(extra), "unexpected keys in the StandardResponse",
                                    severity="warning"))
    if not isinstance(array, list) or not array:
        findings.append(Finding(f"{prefix}.shape", base or "/", "a non-empty array of StandardResponseBodyType",
                                short(array), "messageArray is missing, empty or not an array"))
        return ParsedResponse([], [], findings)
    entries: list[dict] = []
    codes: list[str | None] = []
    for i, entry in enumerate(array):
        where = f"{base}/{i}"
        if not isinstance(entry, dict):
            findings.append(Finding(f"{prefix}.shape", where, "an object", type(entry).__name__,
                                    "a messageArray entry is not an object"))
            codes.append(None)
            continue
        entries.append(entry)
        missing = [k for k in STANDARD_RESPONSE_KEYS if k not in entry]
        for key in missing:
            findings.append(Finding(f"{prefix}.missing-key", f"{where}/{key}", f"key {key!r} (null if no value)",
                                    "absent", f"StandardResponseBodyType requires {key!r}, even when null"))
        code = parse_code(entry.get("message"))
        codes.append(code)
        if code is None:
            findings.append(Finding(f"{prefix}.code", f"{where}/message",
                                    "'<CODE> - <text>' e.g. 'RCP0000 - Message Success'",
                                    short(entry.get("message")), "message does not start with a response code"))
        elif not table.is_known(code) and not code.startswith(("REG", "ECS", "SP", "DS")):
            findings.append(Finding(f"{prefix}.code", f"{where}/message", "a DI-999 response code",
                                    code, f"{code} is not in the response code list", severity="warning"))
    if expected_count is not None and len(array) != expected_count:
        findings.append(Finding(f"{prefix}.count", base or "/", f"{expected_count} entries (one per message)",
                                str(len(array)), "the response does not have one entry per message"))
    return ParsedResponse(entries, codes, findings)
