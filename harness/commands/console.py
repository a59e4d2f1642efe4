"""The rich Console every command prints with.

Piped into a file, `less` or CI logs, rich would wrap at 80 columns and split requirement ids
and paths across lines; there, lines are as wide as they need to be (up to 240 columns) unless
`COLUMNS` says otherwise. Colour follows rich's rules, which honour `NO_COLOR`.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from rich.console import Console

PIPED_WIDTH = 240


def make_console(**options: Any) -> Console:
    """A Console for stdout (or `file=`) that does not wrap at 80 columns when not a terminal."""
    stream = options.get("file") or sys.stdout
    if "width" not in options and not os.environ.get("COLUMNS") and not stream.isatty():
        options["width"] = PIPED_WIDTH
    options.setdefault("highlight", False)
    return Console(**options)
