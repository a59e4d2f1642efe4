"""A bundle's files as `verify` reads them, from a folder or straight from a .dipcert.zip.

Why not extract the zip: a bundle holds files per message, and writing 200,000 of them to a
temporary folder only to read each once more was most of a zipped verify's time. The zip's
members are read in place instead, with the checks `safezip` makes before any extraction (every
header first: names, types, sizes, ratios, count; every read bounded by the size its header
declared). The few files other modules read by path (manifest, summary, report, transcript,
attachments) are still extracted, small and bounded; the message bodies under messages/ never are.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from harness.core.errors import InputError
from harness.evidence.safezip import DEFAULT_LIMITS, Limits, _extract, check_headers, count_files, read_member

#: not extracted from a zip: read in place (the bodies, the bulk of a bundle)
IN_PLACE = "messages/"


class FolderMembers:
    """A bundle folder's files (already checked by `safezip.check_folder`: no links, no special files)."""

    def __init__(self, folder: Path) -> None:
        self.root = os.fspath(folder)
        self._range: tuple[Any, ...] | None = None  # (name, [position,] open handle) of the segment read last
        self._sizes: dict[str, int] = {}

    def count(self) -> int:
        return count_files(Path(self.root))

    def names(self, under: str | None = None) -> Iterator[str]:
        """Every file (or every file under `under`) as a POSIX path relative to the bundle, unsorted."""
        for current, _dirs, files in os.walk(os.path.join(self.root, under) if under else self.root):
            rel = os.path.relpath(current, self.root)
            prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            for name in files:
                yield prefix + name

    def is_file(self, rel: str) -> bool:
        return os.path.isfile(os.path.join(self.root, rel))

    def chunks(self, rel: str) -> Iterator[bytes]:
        """The file's bytes in chunks; FileNotFoundError (or NotADirectoryError, IsADirectoryError) if absent."""
        with open(os.path.join(self.root, rel), "rb") as handle:
            while chunk := handle.read(1 << 16):
                yield chunk

    def read(self, rel: str) -> bytes:
        with open(os.path.join(self.root, rel), "rb") as handle:
            return handle.read()

    def sha256(self, rel: str) -> str:
        digest = hashlib.sha256()
        for chunk in self.chunks(rel):
            digest.update(chunk)
        return digest.hexdigest()

    def size(self, rel: str) -> int:
        """The file's size in bytes (remembered: a segment is asked once per body it holds)."""
        if rel not in self._sizes:
            self._sizes[rel] = os.path.getsize(os.path.join(self.root, rel))
        return self._sizes[rel]

    def read_range(self, rel: str, offset: int, size: int) -> bytes:
        """`size` bytes at `offset` of a file the caller checked holds them (`size(rel)`). The file
        stays open for the next body: a segment's bodies are read in order."""
        if self._range is None or self._range[0] != rel:
            self.release()
            self._range = (rel, open(os.path.join(self.root, rel), "rb"))
        handle = self._range[1]
        handle.seek(offset)
        return handle.read(size)

    def release(self) -> None:
        """Closes the file `read_range` keeps open."""
        if self._range is not None:
            self._range[1].close()
            self._range = None

    def close(self) -> None:
        self.release()


class ZipMembers(FolderMembers):
    """A .dipcert.zip's members, read in place; its small files extracted to `scratch` (see `open_zip`).

    Names are relative to the bundle: the single top-level `<run-id>/` folder `finalise_bundle`
    writes is taken off, as `safezip.open_bundle` does when it extracts."""

    def __init__(self, zip_path: Path, archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], prefix: str,
                 limits: Limits) -> None:
        super().__init__(Path(zip_path))
        self.zip_path = zip_path
        self.archive = archive
        self.limits = limits
        self.prefix = prefix
        # name -> member; a ZipInfo each is what zipfile holds anyway, this index adds only the keys
        self.members = {info.filename[len(prefix):]: info for info in infos if not info.is_dir()}
        self._digests: dict[str, str] = {}  # member -> SHA-256 of its bytes, when read_range read it all

    def count(self) -> int:
        return len(self.members)

    def names(self, under: str | None = None) -> Iterator[str]:
        start = under.rstrip("/") + "/" if under else ""
        return (name for name in self.members if name.startswith(start))

    def is_file(self, rel: str) -> bool:
        return rel in self.members

    def chunks(self, rel: str) -> Iterator[bytes]:
        info = self.members.get(rel)
        if info is None:
            raise FileNotFoundError(rel)
        return read_member(self.archive, info, self.zip_path, limits=self.limits)

    def read(self, rel: str) -> bytes:
        return b"".join(self.chunks(rel))

    def size(self, rel: str) -> int:
        """The size its header declares: every read of the member stops there (zipfile's, and ours)."""
        return self.members[rel].file_size

    def read_range(self, rel: str, offset: int, size: int) -> bytes:
        """`size` bytes at `offset` of a member whose declared size holds them (the caller checks
        `size(rel)`), decompressed forward from where the last read ended: a segment's bodies are read
        in order, so each member is inflated once; a read behind the last opens the member again.
        The bytes passed on the way are hashed: a member read to its end this way is not inflated a
        second time for the manifest's hash (`sha256`)."""
        state = self._range if self._range is not None and self._range[0] == rel else None
        if state is None or state[1] > offset:
            self.release()
            state = (rel, 0, self.archive.open(self.members[rel]), hashlib.sha256())
        _rel, position, handle, digest = state
        try:
            while position < offset:
                chunk = handle.read(min(offset - position, 1 << 16))
                if not chunk:
                    break
                digest.update(chunk)
                position += len(chunk)
            data = handle.read(size) if position == offset else b""
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise InputError(f"{self.zip_path}: member {self.prefix + rel!r} is corrupt ({exc})") from None
        digest.update(data)
        position += len(data)
        self._range = (rel, position, handle, digest)
        if position == self.members[rel].file_size:
            self._digests[rel] = digest.hexdigest()
        return data

    def sha256(self, rel: str) -> str:
        """The member's SHA-256: remembered from `read_range` when that read it whole, else read now."""
        if rel in self._digests:
            return self._digests.pop(rel)
        return super().sha256(rel)

    def release(self) -> None:
        if self._range is not None:
            self._range[2].close()  # (name, position, handle, digest)
            self._range = None

    def close(self) -> None:
        self.release()
        self.archive.close()


def open_zip(zip_path: Path, scratch: Path, *, limits: Limits = DEFAULT_LIMITS) -> tuple[Path, ZipMembers]:
    """The bundle's folder in `scratch` (every member but the bodies extracted) and its members read in
    place. Every header is checked before anything is extracted or read (`safezip.check_headers`)."""
    if not zipfile.is_zipfile(zip_path):
        raise InputError(f"{zip_path}: not a zip file or folder (expected a .dipcert.zip)")
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{zip_path}: unreadable zip ({exc})") from None
    try:
        infos = check_headers(archive, zip_path, limits=limits)
        tops = {PurePosixPath(info.filename).parts[0] for info in infos}
        top = next(iter(tops)) if len(tops) == 1 else None
        prefix = f"{top}/" if top is not None and all(i.filename.startswith(f"{top}/") for i in infos) else ""
        _extract(archive, zip_path, scratch, infos, limits=limits,
                 keep=lambda info: not info.filename[len(prefix):].startswith(IN_PLACE))
        return scratch / prefix if prefix else scratch, ZipMembers(zip_path, archive, infos, prefix, limits)
    except BaseException:
        archive.close()
        raise
