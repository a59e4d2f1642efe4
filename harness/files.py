"""Reading the files a user points dipcert at, with errors that name the file and what it should be."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from harness.errors import ConfigError


def read_config_bytes(path: Path, what: str, *, where: str | None = None) -> bytes:
    """The bytes of a certificate, key or similar file; a ConfigError line when it cannot be read.

    `where` (e.g. "my.toml: partner.signing_certificate") names the setting that points at the file.
    """
    lead = f"{where}: {path}" if where else f"{path}"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{lead}: {what} file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{lead}: is a folder, expected a {what} file") from None
    except OSError as exc:
        raise ConfigError(f"{lead}: cannot read {what} file ({exc.strerror})") from None


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML data file (catalogue, fault list, code table) parsed; a ConfigError line otherwise."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
