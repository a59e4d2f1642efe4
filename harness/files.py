"""Reading the files a user points dipcert at, with errors that name the file and what it should be."""

from __future__ import annotations

from pathlib import Path

from harness.errors import ConfigError


def read_config_bytes(path: Path, what: str) -> bytes:
    """The bytes of a certificate, key or similar file; a ConfigError line when it cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, expected a {what} file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what} file ({exc.strerror})") from None
