"""Errors a user can cause. The CLI turns each into one line on stderr and exit code 2."""

from __future__ import annotations

from harness.core.outcomes import ExitCode


class DipcertError(Exception):
    """Base class: a problem with the user's input or configuration, not a bug in dipcert."""

    exit_code = ExitCode.USAGE


class UsageError(DipcertError):
    """Bad command-line arguments or an unknown interface/event name."""


class ConfigError(DipcertError):
    """A profile, certificate, key or schema folder that cannot be used. Names the file and key."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C so that every cleanup runs (scratch keys
    removed, ports closed, an incomplete bundle written); the command then exits 143."""


class InputError(DipcertError):
    """A message file or bundle that cannot be read at all (missing, not JSON, too large)."""
