"""Which dipcert a bench measured: the `harness` package it imported, and that tree's commit.

A bench imports `harness` from wherever the environment's install points, and an editable install
can point at another checkout than the one the bench script sits in: figures mean something only
with the tree they came from, so every bench prints this line under its table.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import harness


def measured() -> str:
    """`measured: harness from DIR (COMMIT[-dirty])`; the commit is `git describe --always --dirty`."""
    tree = Path(harness.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(tree), "describe", "--always", "--dirty"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "not a git checkout"
    return f"measured: harness from {tree} ({commit})"
