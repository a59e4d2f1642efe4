"""Secret redaction, applied when evidence is written, never afterwards.

Evidence is handed to a third party (the DIP Manager), so an API key, a private key or a password
must never reach disk, not even for a moment. Each secret is replaced by a marker carrying a
salted hash, ``[redacted sha256:<16 hex>]``: a reviewer can see that two requests used two
different keys (or the same key twice) without seeing either key.

The salt is random per run and recorded in the evidence (run-start record) and in the manifest,
so whoever already holds a key (the party, the DIP Manager who issued it) can confirm which key
was used. Caveat, by design: with the salt in hand, a *short or guessable* secret (a password,
say) can be brute-forced from its marker. Long random API keys and PEM private keys cannot.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: Headers whose whole value is a credential, whatever it contains.
SENSITIVE_HEADERS = frozenset(
    {"x-api-key", "authorization", "proxy-authorization", "cookie", "set-cookie"}
)
#: Keys in event data whose string value is treated as a secret even when not declared.
SENSITIVE_KEYS = re.compile(r"(pass(word|phrase)?|secret|api[_-]?key|private[_-]?key|token)$", re.I)
MARKER_SCHEME = "sha256(salt || value), first 16 hex digits"
_MARKER_TEXT = re.compile(r"^\[redacted sha256:[0-9a-f]{16}\]$")
_PEM_PRIVATE = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.S
)
_PEM_PRIVATE_TEXT = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.S
)
# A private key cut off mid-block (truncated log line, partial body) is still a private key.
_PEM_PRIVATE_OPEN = re.compile(rb"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[A-Za-z0-9+/=\s:,-]*")
_PEM_PRIVATE_OPEN_TEXT = re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[A-Za-z0-9+/=\s:,-]*")


# What every private key block (whole or cut off) contains: a cheap test before the regexes.
_PEM_LITERAL, _PEM_LITERAL_TEXT = b"PRIVATE KEY-----", "PRIVATE KEY-----"


class Redactor:
    """Replaces known secrets and private key blocks by salted-hash markers."""

    def __init__(self, secrets: Iterable[str | bytes] = (), salt: bytes | None = None) -> None:
        self.salt = salt if salt is not None else os.urandom(16)
        self._forms: tuple[tuple[bytes, bytes], ...] = ()
        self.add(secrets)

    def add(self, secrets: Iterable[str | bytes]) -> None:
        """More secrets to redact from now on (e.g. API keys a DIP session hands out after the log began)."""
        forms: dict[bytes, bytes] = dict(self._forms)  # form as it may appear -> the plain secret it stands for
        for secret in secrets:
            raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
            if not raw:
                continue
            forms.setdefault(raw, raw)
            # The same secret inside a JSON string may appear escaped ("\/", "\u00e9"...).
            text = raw.decode("utf-8", "replace")
            for ascii_only in (True, False):
                forms.setdefault(json.dumps(text, ensure_ascii=ascii_only)[1:-1].encode("utf-8"), raw)
        # Longest first, so a secret that contains another is replaced whole.
        self._forms = tuple(
            sorted(forms.items(), key=lambda item: (-len(item[0]), item[0])))
        # The same forms as text, decoded once (every string of every record is searched for them).
        self._text_forms = tuple((form.decode("utf-8", "replace"), plain) for form, plain in self._forms)

    @property
    def salt_hex(self) -> str:
        return self.salt.hex()

    def marker(self, value: str | bytes) -> str:
        raw = value.encode("utf-8") if isinstance(value, str) else value
        return f"[redacted sha256:{hashlib.sha256(self.salt + raw).hexdigest()[:16]}]"

    # -- bytes ------------------------------------------------------------------------------
    def bytes(self, data: bytes) -> tuple[bytes, bool]:
        """(redacted bytes, whether anything changed). Bodies are stored as returned."""
        out = data
        if _PEM_LITERAL in out:  # both patterns need it: most bodies skip two regex scans
            out = _PEM_PRIVATE.sub(lambda m: self.marker(m.group(0)).encode(), out)
            out = _PEM_PRIVATE_OPEN.sub(lambda m: self.marker(m.group(0)).encode(), out)
        for form, plain in self._forms:  # escaped forms hash like the plain secret: one key, one marker
            if form in out:
                out = out.replace(form, self.marker(plain).encode())
        return out, out != data

    # -- text and structures ----------------------------------------------------------------
    def text(self, value: str) -> str:
        if _MARKER_TEXT.match(value):
            return value
        out = value
        if _PEM_LITERAL_TEXT in out:
            out = _PEM_PRIVATE_TEXT.sub(lambda m: self.marker(m.group(0)), out)
            out = _PEM_PRIVATE_OPEN_TEXT.sub(lambda m: self.marker(m.group(0)), out)
        for piece, plain in self._text_forms:
            if piece in out:
                out = out.replace(piece, self.marker(plain))
        return out

    def headers(self, headers: Any) -> list[list[str]]:
        """Headers as ordered [name, value] pairs (duplicates kept), credentials replaced."""
        pairs: list[list[str]] = []
        for name, value in _header_pairs(headers):
            name, value = str(name), str(value)
            if name.lower() in SENSITIVE_HEADERS:
                value = value if _MARKER_TEXT.match(value) else self.marker(value)
            else:
                value = self.text(value)
            pairs.append([self.text(name), value])
        return pairs

    def data(self, value: Any, key: str | None = None) -> Any:
        """Redacts any JSON-able structure; values under secret-looking keys are always masked."""
        if isinstance(value, str):
            if key is not None and SENSITIVE_KEYS.search(key) and value:
                return value if _MARKER_TEXT.match(value) else self.marker(value)
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(str(k)): self.data(v, str(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.data(v) for v in value]
        if isinstance(value, (bytes, bytearray)):
            return self.text(bytes(value).decode("utf-8", "replace"))
        return value


def _header_pairs(headers: Any) -> Sequence[tuple[Any, Any]]:
    if headers is None:
        return ()
    if hasattr(headers, "multi_items"):  # httpx.Headers
        return list(headers.multi_items())
    if hasattr(headers, "to_wsgi_list"):  # werkzeug Headers
        return list(headers.to_wsgi_list())
    if isinstance(headers, Mapping):
        return list(headers.items())
    return [tuple(pair) for pair in headers]
