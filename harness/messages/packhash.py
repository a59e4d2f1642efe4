"""A schema pack's fingerprint: one definition for dipcert's own pack and Elexon's specification.

Its own module so that `official` (Elexon's files) and `schemapack` (dipcert's pack, which loads
`official` only when `--spec` is given) both use it without importing each other.
"""

from __future__ import annotations

import hashlib


def fingerprint_files(files: dict[str, bytes]) -> str:
    """`sha256:<hex>` over files in sorted relative-name order: name, NUL, byte count, NUL, bytes.

    The names are part of the hash so that moving a schema changes the fingerprint; the count
    keeps the byte stream unambiguous.
    """
    digest = hashlib.sha256()
    for name in sorted(files):
        data = files[name]
        digest.update(name.encode("utf-8") + b"\0" + str(len(data)).encode("ascii") + b"\0")
        digest.update(data)
    return "sha256:" + digest.hexdigest()
