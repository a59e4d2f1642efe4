"""Recorded message bodies and headers as the report shows them: read once, pretty-printed, the
failing JSON path marked, the long signature headers abridged.

Why pretty-print here rather than show the bytes: a participant fixes a message by reading it, and
minified JSON with a pointer beside it is unreadable. The exact bytes stay in the bundle
(`messages/`), which is what `verify` and `dipcert replay` use; the page only has to point at the
right line. Everything here is participant-controlled input, so every text is escaped and nothing
deep or huge is trusted (recursion, size and line counts are bounded).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from markupsafe import Markup

from harness.transport.signing import SIGNATURE_CERTIFICATE, certificate_fingerprint

MAX_BODY_BYTES = 400_000  # larger bodies are shown cut; the bundle holds them whole
MAX_LINES = 160  # lines shown of a body without marks
SHORT_LINES = 60  # a body with marks longer than this is shortened around them
HEAD_LINES = 12  # lines kept from the start of a shortened body (its envelope)
CONTEXT_LINES = 6  # lines kept either side of a marked region
REGION_LINES = 40  # first lines of a marked region kept (a 47-item array shows its start and its end)
MAX_DEPTH = 64  # deeper JSON is shown as text, not walked
MAX_LINE_CHARS = 2_000  # a longer line (minified text, a huge string value) is cut on the page


class Bodies:
    """Reads recorded message bodies from a run folder, once each: the one way the reports and replay
    read a body, whichever layout wrote it (a segment's `offset` and `size`, or a whole file)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: dict[tuple[int, str], bytes | None] = {}

    def get(self, record: Mapping[str, Any], side: str) -> bytes | None:
        key = (int(record.get("seq") or 0), side)
        if key not in self._cache:
            part = record.get(side)
            body = part.get("body") if isinstance(part, Mapping) else None
            self._cache[key] = read_body(self.folder, body) if isinstance(body, Mapping) else None
        return self._cache[key]


def read_body(folder: Path, body: Mapping[str, Any]) -> bytes | None:
    """A record's body bytes: `size` bytes at `offset` in its segment file, or its whole file (bundles
    written before segments); None when the file is absent, outside the bundle or too short."""
    name = body.get("file")
    if not isinstance(name, str) or name.startswith("/") or ".." in name.split("/"):
        return None
    path = folder / name
    if not path.is_file():
        return None
    offset, size = body.get("offset"), body.get("size")
    if offset is None:
        return path.read_bytes()
    if not isinstance(offset, int) or not isinstance(size, int) or offset < 0 or size < 0:
        return None
    with open(path, "rb") as handle:
        handle.seek(offset)
        data = handle.read(size)
    return data if len(data) == size else None


def file_of(record: Mapping[str, Any], side: str) -> str | None:
    """Where a recorded body is in the bundle: `messages/bodies-0001.bin, offset 5120` (its segment and
    offset), or the file of a bundle written before segments (`messages/45-request.bin`); None if none."""
    part = record.get(side)
    body = part.get("body") if isinstance(part, Mapping) else None
    name = body.get("file") if isinstance(body, Mapping) else None
    if not isinstance(name, str) or not isinstance(body, Mapping):
        return None
    offset = body.get("offset")
    return f"{name}, offset {offset}" if isinstance(offset, int) else name


# -- JSON pointers -------------------------------------------------------------------------------------
def pointer_parts(pointer: str) -> list[str] | None:
    """RFC 6901 reference tokens of `pointer`; None when it is not a JSON pointer ("header:X", "")."""
    if not isinstance(pointer, str) or not pointer.startswith("/"):
        return None
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]


def resolve(value: Any, pointer: str) -> tuple[str, bool]:
    """(the deepest existing prefix of `pointer` in `value`, whether all of it exists).

    A finding about a missing property points below an object that exists (S1 lacks senderRoleID):
    the object is what the page marks.
    """
    parts = pointer_parts(pointer)
    if parts is None:
        return "", False
    found, node = "", value
    for part in parts:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return found, False
        found += "/" + part.replace("~", "~0").replace("/", "~1")
    return found, True


def parse_json(data: bytes | None) -> tuple[bool, Any]:
    """(parsed, value) for a body; (False, None) when it is not JSON or too deep to walk."""
    if not data or len(data) > MAX_BODY_BYTES:
        return False, None
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return False, None
    return (True, value) if _depth_ok(value) else (False, None)


def _depth_ok(value: Any) -> bool:
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        if isinstance(node, Mapping):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return True


# -- pretty bodies -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Shown:
    """A body as the page shows it: escaped HTML lines, whether it was shortened, what was marked."""

    html: Markup
    lines: int
    shortened: bool
    marked: tuple[str, ...]
    is_json: bool


def _lines(value: Any, path: str, depth: int, prefix: str, comma: str, marks: frozenset[str],
           inherited: bool, out: list[tuple[str, bool, str | None]]) -> None:
    """Appends (text, marked, anchor pointer) lines of `value` as json.dumps(indent=2) lays it out."""
    marked = inherited or path in marks
    anchor = path if path in marks else None
    pad = "  " * depth
    if isinstance(value, Mapping) and value:
        out.append((f"{pad}{prefix}{{", marked, anchor))
        items = list(value.items())
        for i, (key, item) in enumerate(items):
            token = str(key).replace("~", "~0").replace("/", "~1")
            _lines(item, f"{path}/{token}", depth + 1, json.dumps(str(key), ensure_ascii=False) + ": ",
                   "," if i < len(items) - 1 else "", marks, marked, out)
        out.append((f"{pad}}}{comma}", marked, None))
    elif isinstance(value, list) and value:
        out.append((f"{pad}{prefix}[", marked, anchor))
        for i, item in enumerate(value):
            _lines(item, f"{path}/{i}", depth + 1, "", "," if i < len(value) - 1 else "", marks, marked, out)
        out.append((f"{pad}]{comma}", marked, None))
    else:
        out.append((f"{pad}{prefix}{json.dumps(value, ensure_ascii=False)}{comma}", marked, anchor))


def _keep(lines: Sequence[tuple[str, bool, str | None]]) -> list[int | None]:
    """Line indexes to show (None: an elision). A body with marks keeps its start and, for each marked
    region, the lines before it, its first lines and its last; a body without marks up to MAX_LINES."""
    regions: list[tuple[int, int]] = []  # [start, end) of each run of marked lines
    for i, (_text, marked, _anchor) in enumerate(lines):
        if marked and regions and regions[-1][1] == i:
            regions[-1] = (regions[-1][0], i + 1)
        elif marked:
            regions.append((i, i + 1))
    if len(lines) <= (SHORT_LINES if regions else MAX_LINES):
        return list(range(len(lines)))
    wanted = set(range(HEAD_LINES if regions else MAX_LINES // 2))
    for start, end in regions:
        wanted.update(range(max(0, start - CONTEXT_LINES), min(end, start + REGION_LINES)))
        wanted.update(range(max(start, end - 1), min(len(lines), end + CONTEXT_LINES)))
    wanted.update(range(max(0, len(lines) - 2), len(lines)))
    shown: list[int | None] = []
    last = -1
    for i in sorted(wanted):
        if i != last + 1:
            shown.append(None)
        shown.append(i)
        last = i
    return shown


def show_body(data: bytes | None, marks: Iterable[str] = (), *, anchor: str = "") -> Shown | None:
    """`data` pretty-printed (JSON) or as text, with the values at `marks` (JSON pointers) marked.

    The first line of each marked value gets the id `{anchor}{pointer}` sanitised, so the findings
    table can link to it. Bodies longer than MAX_LINES keep their start, their end and the lines
    around each mark, and say how much was left out.
    """
    if data is None:
        return None
    ok, value = parse_json(data)
    rows: list[tuple[str, bool, str | None]]
    if not ok:
        text = data[:MAX_BODY_BYTES].decode("utf-8", "replace")
        rows = [(line, False, None) for line in text.splitlines() or [""]]
        is_json = False
    else:
        rows = []
        _lines(value, "", 0, "", "", frozenset(m for m in marks if m), False, rows)  # "": the whole message
        is_json = True
    pieces: list[str] = []
    marked: list[str] = []
    long_lines = False
    indexes = _keep(rows)
    for position, index in enumerate(indexes):
        if index is None:
            following = next((i for i in indexes[position + 1:] if i is not None), len(rows))
            previous = next((i for i in reversed(indexes[:position]) if i is not None), -1)
            pieces.append(f'<span class="gap">… {following - previous - 1} lines not shown …</span>')
            continue
        text, is_marked, pointer = rows[index]
        if len(text) > MAX_LINE_CHARS:
            text = f"{text[:MAX_LINE_CHARS]}… ({len(text):,} characters)"
            long_lines = True
        escaped = _escape(text)
        if is_marked:
            ident = f' id="{anchor_id(anchor, pointer)}"' if pointer is not None and anchor else ""
            if pointer is not None:
                marked.append(pointer)
            pieces.append(f"<mark{ident}>{escaped}</mark>")
        else:
            pieces.append(escaped)
    cut = len(data) > MAX_BODY_BYTES
    shortened = cut or long_lines or len(indexes) < len(rows) or None in indexes
    return Shown(Markup("\n".join(pieces)), len(rows), shortened, tuple(marked), is_json)


def anchor_id(prefix: str, pointer: str | None) -> str:
    """An HTML id for a marked path of one body: `{prefix}-p-<hash of the pointer>` (pointers hold any text)."""
    digest = hashlib.sha256(str(pointer).encode("utf-8")).hexdigest()[:10]
    return f"{prefix}-p{digest}"


def _escape(text: str) -> str:
    """Element content needs only &, < and > escaped: quotes stay quotes (JSON is full of them)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- headers ---------------------------------------------------------------------------------------------
LONG_HEADER = 96  # longer header values are abridged on the page (whole in evidence.jsonl)


def show_headers(headers: Any, marks: Iterable[str] = ()) -> list[tuple[str, str, bool]]:
    """(name, value as shown, marked) for recorded header pairs; `marks` are "header:NAME" finding paths.

    The signature certificate is named by its subject and fingerprint instead of 1,700 characters of
    base64; other long values keep their start and say how long they were.
    """
    wanted = {m.split(":", 1)[1].strip().lower() for m in marks
              if isinstance(m, str) and m.lower().startswith("header:")}
    out = []
    for pair in headers if isinstance(headers, (list, tuple)) else ():
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            continue
        name, value = str(pair[0]), str(pair[1])
        lower = name.lower()
        if lower == SIGNATURE_CERTIFICATE.lower():
            value = _certificate_summary(value)
        elif len(value) > LONG_HEADER:
            value = f"{value[:40]}… ({len(value):,} characters; whole in evidence.jsonl)"
        out.append((name, value, lower in wanted))
    return out


def _certificate_summary(value: str) -> str:
    try:
        raw = base64.b64decode("".join(value.split()), validate=True)
        cert = (x509.load_pem_x509_certificates(raw)[0] if b"-----BEGIN" in raw
                else x509.load_der_x509_certificate(raw))
        return f"certificate {cert.subject.rfc4514_string()} {certificate_fingerprint(cert)} (base64 PEM abridged)"
    except Exception:  # noqa: BLE001 - a participant's header: anything at all; shown abridged instead
        return f"{value[:40]}… ({len(value):,} characters, not a readable certificate; whole in evidence.jsonl)"
