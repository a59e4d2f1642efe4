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
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from harness.core.errors import InputError

_CHUNK = 1 << 16


@dataclass(frozen=True)
class Limits:
    max_members: int = 20_000
    max_member_bytes: int = 256 * 1024 * 1024
    max_total_bytes: int = 1024 * 1024 * 1024
    max_ratio: float = 200.0  # uncompressed / compressed, checked on members above ratio_floor
    ratio_floor: int = 1024 * 1024
    # manifest.json lists at most max_members files (~150 bytes each): a larger one is refused before it
    # is extracted or parsed, the cheap check before the heavy work
    max_manifest_bytes: int = 8 * 1024 * 1024


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
    """Refuses symlinks and special files anywhere inside a bundle folder."""
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs + files:
            full = Path(root) / name
            rel = full.relative_to(folder).as_posix()
            mode = os.lstat(full).st_mode
            if stat.S_ISLNK(mode):
                raise InputError(f"{folder}: member {rel!r} is a symbolic link; bundles hold regular files only")
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise InputError(f"{folder}: member {rel!r} is not a regular file")


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


def extract_zip(zip_path: Path, target: Path, *, limits: Limits = DEFAULT_LIMITS) -> None:
    """Checks every member's header first, then streams bytes while counting them (headers can lie)."""
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{zip_path}: unreadable zip ({exc})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_members:
            raise InputError(f"{zip_path}: {len(infos)} members, more than the limit of {limits.max_members}")
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
                    info.file_size > limits.max_manifest_bytes:
                raise InputError(f"{zip_path}: member {info.filename!r} is {info.file_size} bytes, over the "
                                 f"manifest limit of {limits.max_manifest_bytes}; refused")
            if info.file_size > limits.max_member_bytes:
                raise InputError(f"{zip_path}: member {info.filename!r} is {info.file_size} bytes, over the "
                                 f"limit of {limits.max_member_bytes}")
            if info.file_size > limits.ratio_floor and \
                    info.file_size > limits.max_ratio * max(info.compress_size, 1):
                raise InputError(f"{zip_path}: member {info.filename!r} expands "
                                 f"{info.file_size // max(info.compress_size, 1)}"
                                 f"-fold; refused as a zip bomb")
            declared_total += info.file_size
            if declared_total > limits.max_total_bytes:
                raise InputError(f"{zip_path}: members total over {limits.max_total_bytes} bytes; "
                                 "refused as a zip bomb")
        target.mkdir(parents=True, exist_ok=True)
        root = target.resolve()
        total = 0
        for info in infos:
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
            written = 0
            try:
                with archive.open(info) as src, open(dest, "xb") as out:
                    while chunk := src.read(_CHUNK):
                        written += len(chunk)
                        total += len(chunk)
                        if written > info.file_size or written > limits.max_member_bytes:
                            raise InputError(f"{zip_path}: member {info.filename!r} expands beyond its declared "
                                             f"size; refused as a zip bomb")
                        if total > limits.max_total_bytes:
                            raise InputError(f"{zip_path}: members total over {limits.max_total_bytes} bytes; "
                                             f"refused as a zip bomb")
                        out.write(chunk)
            except FileExistsError:
                raise InputError(f"{zip_path}: member {info.filename!r} appears twice; refused") from None
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise InputError(f"{zip_path}: member {info.filename!r} is corrupt ({exc})") from None
            except OSError as exc:
                raise InputError(f"{zip_path}: member {info.filename!r} cannot be extracted ({exc.strerror})") from None
