"""Findings: the one shape every check in dipcert reports in.

A finding says which rule was broken, where (a JSON pointer into the wire body, or `header:NAME`),
what was expected and what was seen, so a participant can fix the cause without reading our code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Finding:
    rule: str  # stable, dotted id, e.g. "schema.required", "mpan.check-digit", "signature.hash"
    path: str  # JSON pointer ("/0/payload/CommonBlock/M0/MPANCore") or "header:X-DIP-Signature"
    expected: str
    actual: str
    message: str  # one human line
    severity: str = "error"  # "error" fails a requirement; "warning" is reported only
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. {"seq": 12} evidence sequence number

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if not data["extra"]:
            data.pop("extra")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Finding":
        return cls(**{k: data[k] for k in ("rule", "path", "expected", "actual", "message")},
                   severity=data.get("severity", "error"), extra=dict(data.get("extra", {})))

    def __str__(self) -> str:
        return f"{self.rule} at {self.path or '/'}: {self.message}"


def errors(findings: list[Finding]) -> list[Finding]:
    """Only the findings that fail a requirement."""
    return [f for f in findings if f.severity == "error"]


def short(value: Any, limit: int = 80) -> str:
    """A value as it should appear in a finding: repr-like, one line, bounded."""
    text = value if isinstance(value, str) else repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
