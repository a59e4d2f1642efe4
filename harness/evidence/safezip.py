"""Opening a bundle that may have been crafted to attack the verifier.

The DIP Manager runs `dipcert verify` on files sent by others. A zip can write outside its folder
(`../`, absolute paths), plant symlinks, or expand to fill the disk; a folder can hold symlinks to
files the verifier should never read. Each is refused with one line naming the member.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from harness.core.errors import InputError

_CHUNK = 1 << 16


@dataclass(frozen=True)
class Limits:
    """What a bundle may hold before it is refused unread. Member counts scale with the bundle: a
    bundle written before body segments holds two body files per message (and its Allure results
    two more), so a fixed cap refused the harness's own large bundles. A zip may hold as many members
    as its manifest can list (its size over the fewest bytes one entry takes), a folder's manifest may
    list as many files as the
    folder holds, and the manifest may be as large as its members need; `max_members_ceiling`
    bounds all of it whatever a hostile bundle claims."""

    max_members: int = 20_000  # members (files) any bundle may hold, whatever its manifest says
    max_member_bytes: int = 256 * 1024 * 1024
    max_total_bytes: int = 1024 * 1024 * 1024
    max_ratio: float = 200.0  # uncompressed / compressed, checked on members above ratio_floor
    ratio_floor: int = 1024 * 1024
    # manifest.json: refused above this size (or what its members need, see manifest_limit) before it is
    # extracted or parsed, the cheap check before the heavy work
    max_manifest_bytes: int = 8 * 1024 * 1024
    max_members_ceiling: int = 2_000_000  # ~500,000 messages: no scaling goes past it
    manifest_entry_bytes: int = 70  # the fewest bytes one manifest entry takes: "<name>":"<64 hex>",
    manifest_bytes_per_member: int = 256  # room for one entry of the indented manifest with a long name

    def member_limit(self, manifest_bytes: int) -> int:
        """Members a zip may hold with a manifest of `manifest_bytes`: as many as it can list, plus the
        manifest and its signature; never fewer than `max_members`, never more than the ceiling."""
        return min(self.max_members_ceiling,
                   max(self.max_members, manifest_bytes // self.manifest_entry_bytes + 2))

    def listed_limit(self, present: int) -> int:
        """Files a folder's manifest may list when the folder holds `present` files."""
        return min(self.max_members_ceiling, max(self.max_members, present))

    def manifest_limit(self, members: int) -> int:
        """The largest manifest.json a bundle of `members` files may carry."""
        return max(self.max_manifest_bytes, min(members, self.max_members_ceiling) * self.manifest_bytes_per_member)


DEFAULT_LIMITS = Limits()


def open_bundle(path: Path | str, *, into: Path | str | None = None, limits: Limits = DEFAULT_LIMITS) -> Path:
    """The bundle's folder: `path` itself if a folder (checked), else a zip extracted safely.

    A zip is extracted into `into` (or a new temporary folder the caller removes). If the zip holds
    a single top-level folder (``<run-id>/...``, as `finalise_bundle` writes), that folder is returned.
    """
    source = Path(path)
    if not source.exists():
        raise InputError(f"{source}: no such bundle (expected a folder or a .dipcert.zip)")
    if source.is_dir():
        check_folder(source)
        return source
    if not zipfile.is_zipfile(source):
        raise InputError(f"{source}: not a zip file or folder (expected a .dipcert.zip)")
    target = Path(into) if into is not None else Path(tempfile.mkdtemp(prefix="dipcert-verify-"))
    try:
        extract_zip(source, target, limits=limits)
    except BaseException:
        if into is None:
            shutil.rmtree(target, ignore_errors=True)
        raise
    entries = [p for p in target.iterdir()]
    if len(entries) == 1 and entries[0].is_dir() and not (target / "manifest.json").exists():
        return entries[0]
    return target


def check_folder(folder: Path) -> None:
    """Refuses symlinks and special files anywhere inside a bundle folder.

    os.scandir's entries know their type without a stat of each file: a bundle holds several files
    per message, and this walk runs before every verify of a folder."""
    stack = [os.fspath(folder)]
    root = len(stack[0]) + 1
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_symlink():
                    raise InputError(f"{folder}: member {_rel(entry.path, root)!r} is a symbolic link; bundles hold "
                                     f"regular files only")
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif not entry.is_file(follow_symlinks=False):
                    raise InputError(f"{folder}: member {_rel(entry.path, root)!r} is not a regular file")


def count_files(folder: Path) -> int:
    """The regular files under `folder` (after `check_folder`), counted without listing them."""
    count, stack = 0, [os.fspath(folder)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    count += 1
    return count


def _rel(path: str, root: int) -> str:
    return path[root:].replace(os.sep, "/")


def _safe_name(zip_path: Path, name: str) -> PurePosixPath:
    if "\\" in name or "\x00" in name:
        raise InputError(f"{zip_path}: member {name!r} has a backslash or NUL in its name; refused")
    pure = PurePosixPath(name)
    if pure.is_absolute() or re.match(r"^[A-Za-z]:", name):
        raise InputError(f"{zip_path}: member {name!r} has an absolute path; refused (zip-slip)")
    if any(part == ".." for part in pure.parts):
        raise InputError(f"{zip_path}: member {name!r} climbs out of the bundle with '..'; refused (zip-slip)")
    if not pure.parts or any(part in ("", ".") for part in pure.parts):
        raise InputError(f"{zip_path}: member {name!r} has an empty or '.' path component; refused")
    return pure


def check_headers(archive: zipfile.ZipFile, zip_path: Path, *,
                  limits: Limits = DEFAULT_LIMITS) -> list[zipfile.ZipInfo]:
    """Every member's header checked before a byte is read (names, types, sizes, ratios, count):
    the members, in the archive's order. Headers can lie about sizes: `read_member` counts bytes."""
    infos = archive.infolist()
    manifest_limit = limits.manifest_limit(len(infos))
    manifests = [i for i in infos if PurePosixPath(i.filename).name == "manifest.json" and
                 len(PurePosixPath(i.filename).parts) <= 2]
    manifest_bytes = max((i.file_size for i in manifests), default=0)
    member_limit = limits.member_limit(min(manifest_bytes, manifest_limit))
    if len(infos) > member_limit:
        raise InputError(f"{zip_path}: {len(infos)} members, more than the limit of {member_limit} "
                         f"(what its manifest.json can list)")
    seen: set[str] = set()
    declared_total = 0
    for info in infos:
        pure = _safe_name(zip_path, info.filename)
        key = pure.as_posix().lower()
        if key in seen:
            raise InputError(f"{zip_path}: member {info.filename!r} appears twice; refused")
        seen.add(key)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise InputError(f"{zip_path}: member {info.filename!r} is a symbolic link; refused")
        if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise InputError(f"{zip_path}: member {info.filename!r} is not a regular file; refused")
        if info.flag_bits & 0x1:
            raise InputError(f"{zip_path}: member {info.filename!r} is encrypted; refused")
        if PurePosixPath(info.filename).name == "manifest.json" and len(pure.parts) <= 2 and \
                info.file_size > manifest_limit:
            raise InputError(f"{zip_path}: member {info.filename!r} is {info.file_size} bytes, over the "
                             f"manifest limit of {manifest_limit}; refused")
        if info.file_size > limits.max_member_bytes:
            raise InputError(f"{zip_path}: member {info.filename!r} is {info.file_size} bytes, over the "
                             f"limit of {limits.max_member_bytes}")
        if info.file_size > limits.ratio_floor and \
                info.file_size > limits.max_ratio * max(info.compress_size, 1):
            fold = info.file_size // max(info.compress_size, 1)
            raise InputError(f"{zip_path}: member {info.filename!r} expands {fold}"
                             f"-fold; refused as a zip bomb")
        declared_total += info.file_size
        if declared_total > limits.max_total_bytes:
            raise InputError(f"{zip_path}: members total over {limits.max_total_bytes} bytes; refused as a zip bomb")
    return infos


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, zip_path: Path, *,
                limits: Limits = DEFAULT_LIMITS) -> Iterator[bytes]:
    """A member's bytes in chunks, refused (InputError) as soon as it expands past its declared size
    (which `check_headers` bounded, one by one and in total) or is corrupt: a bomb is never inflated
    beyond what its header admitted, whether it is extracted or read in place."""
    written = 0
    try:
        with archive.open(info) as src:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                if written > info.file_size or written > limits.max_member_bytes:
                    raise InputError(f"{zip_path}: member {info.filename!r} expands beyond its declared "
                                     f"size; refused as a zip bomb")
                yield chunk
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise InputError(f"{zip_path}: member {info.filename!r} is corrupt ({exc})") from None


def extract_zip(zip_path: Path, target: Path, *, limits: Limits = DEFAULT_LIMITS,
                keep: Callable[[zipfile.ZipInfo], bool] | None = None) -> None:
    """Checks every member's header first, then streams bytes while counting them (headers can lie).
    `keep`: extracts only the members it accepts (verify reads the message bodies in place)."""
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{zip_path}: unreadable zip ({exc})") from None
    with archive:
        _extract(archive, zip_path, target, check_headers(archive, zip_path, limits=limits), limits=limits, keep=keep)


def _extract(archive: zipfile.ZipFile, zip_path: Path, target: Path, infos: list[zipfile.ZipInfo], *,
             limits: Limits, keep: Callable[[zipfile.ZipInfo], bool] | None = None) -> None:
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    total = 0
    for info in infos:
        if keep is not None and not keep(info):
            continue
        pure = PurePosixPath(info.filename)
        dest = (root / pure).resolve()
        if root != dest and root not in dest.parents:  # belt and braces after _safe_name
            raise InputError(f"{zip_path}: member {info.filename!r} would land outside the bundle; refused")
        try:
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            raise InputError(f"{zip_path}: member {info.filename!r} clashes with another member; refused") from None
        try:
            with open(dest, "xb") as out:
                for chunk in read_member(archive, info, zip_path, limits=limits):
                    total += len(chunk)
                    if total > limits.max_total_bytes:
                        raise InputError(f"{zip_path}: members total over {limits.max_total_bytes} bytes; "
                                         f"refused as a zip bomb")
                    out.write(chunk)
        except FileExistsError:
            raise InputError(f"{zip_path}: member {info.filename!r} appears twice; refused") from None
        except OSError as exc:
            raise InputError(f"{zip_path}: member {info.filename!r} cannot be extracted ({exc.strerror})") from None
