"""Reading the files a user points dipcert at, with errors that name the file and what it should be."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from harness.core.errors import ConfigError, UsageError


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


def output_folder(path: Path, option: str = "--out") -> Path:
    """`path` as a folder dipcert can write into, created if need be; a UsageError line otherwise.

    Checked before any work starts: finding out after a ten-minute run that the bundle cannot be
    written would lose the run."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path}: {option} must be a folder, and this is a file")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{path}: cannot create the {option} folder ({exc.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"{path}: the {option} folder is not writable")
    return path
