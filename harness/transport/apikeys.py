"""API keys: the `X-API-Key` a DIP ID presents, two per DIP ID (primary and secondary).

The DIP issues keys per DIP ID at onboarding; both keys are valid at once so that a party can
rotate one without downtime (guidance section 4.1). Keys are secrets: they are compared in
constant time, never logged, and only a short fingerprint may appear in evidence.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from threading import Lock

from harness.core.errors import ConfigError

API_KEY_HEADER = "X-API-Key"
MIN_KEY_LENGTH = 16


def generate_api_key() -> str:
    """A fresh random key (for the simulated DIP and the reference participants)."""
    return secrets.token_urlsafe(32)


def key_fingerprint(key: str) -> str:
    """A short, non-reversible label for a key, safe to show ("key:1a2b3c4d")."""
    return "key:" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]


def read_api_key(*, env: str | None = None, file: Path | str | None = None, what: str = "API key") -> str:
    """A key referenced by environment variable or file (profiles never inline secrets)."""
    if env:
        value = os.environ.get(env)
        if not value:
            raise ConfigError(f"{what}: environment variable {env} is not set or empty")
        return _checked(value.strip(), f"environment variable {env}", what)
    if file:
        path = Path(file)
        try:
            value = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise ConfigError(f"{path}: {what} file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read {what} ({exc.__class__.__name__})") from None
        return _checked(value, str(path), what)
    raise ConfigError(f"{what}: give either an environment variable or a file")


def _checked(value: str, where: str, what: str) -> str:
    if len(value) < MIN_KEY_LENGTH or any(c.isspace() for c in value):
        raise ConfigError(f"{where}: {what} should be at least {MIN_KEY_LENGTH} characters without spaces")
    return value


@dataclass(frozen=True)
class KeyMatch:
    dip_id: str
    slot: str  # "primary" or "secondary"


class ApiKeyRegistry:
    """Which DIP ID a presented key belongs to. Thread-safe; compares every key in constant time."""

    def __init__(self) -> None:
        self._keys: list[tuple[bytes, str, str]] = []  # (key, dip_id, slot)
        self._lock = Lock()

    def register(self, dip_id: str, keys: tuple[str, str]) -> None:
        if len(keys) != 2 or not all(isinstance(k, str) and k for k in keys):
            raise ConfigError(f"DIP ID {dip_id}: api_keys should be (primary, secondary), two non-empty strings")
        with self._lock:
            others = [k for k, d, _ in self._keys if d != dip_id]
            for key in keys:
                if any(hmac.compare_digest(key.encode(), other) for other in others):
                    raise ConfigError(f"DIP ID {dip_id}: an API key is already registered to another DIP ID")
            self._keys = [entry for entry in self._keys if entry[1] != dip_id]
            self._keys += [(keys[0].encode(), dip_id, "primary"), (keys[1].encode(), dip_id, "secondary")]

    def lookup(self, presented: str | None) -> KeyMatch | None:
        """The owner of `presented`, or None. Checks every entry so timing does not leak which."""
        if not presented:
            return None
        candidate = presented.encode("utf-8", "replace")
        found: KeyMatch | None = None
        with self._lock:
            entries = list(self._keys)
        for key, dip_id, slot in entries:
            if hmac.compare_digest(candidate, key) and found is None:
                found = KeyMatch(dip_id, slot)
        return found
