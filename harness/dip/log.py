"""The standing hub's live log: one readable line per transcript record, as it is written.

    14:02:07.315 s-3f2a91c0 #12 IN   submit IF-061 from 1450000102 (primary) -> 201 accepted T-IF-061-...
    14:02:07.402 s-3f2a91c0 #13 OUT  IF-061 to 1650000101 try 1 -> 201 accepted (final)
    14:02:09.118 hub        #4  EV   party 1650000101 MDR (global)

No secret can appear: records hold none (API keys are never recorded, kept bodies are redacted).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TextIO


def line(chain: str, record: dict[str, Any]) -> str:
    time = str(record.get("time", ""))[11:23]
    head = f"{time} {chain:<18} #{record.get('seq', '?'):<4}"
    kind = record.get("kind")
    if kind == "inbound":
        who = record.get("caller") or "unknown caller"
        slot = f" ({record['key_slot']})" if record.get("key_slot") else ""
        iface = f" {record['interface']}" if record.get("interface") else ""
        codes = " ".join(dict.fromkeys(c for c in record.get("codes") or [] if c))
        tx = " ".join(record.get("transaction_ids") or [])[:80]
        return (f"{head} IN   {record.get('endpoint') or record.get('method')}{iface} from {who}{slot} -> "
                f"{record.get('status')} {record.get('outcome') or ''} {codes} {tx}").rstrip()
    if kind == "delivery":
        probe = f" probe {record['probe']}" if record.get("probe") else ""
        answer = record.get("status") if record.get("status") is not None else (record.get("error") or "no answer")
        final = " (final)" if record.get("final") else ""
        return (f"{head} OUT  {record.get('interface')} to {record.get('recipient')}{probe} try "
                f"{record.get('attempt')} -> {answer} {record.get('outcome')}{final}")
    data = record.get("data") or {}
    detail = " ".join(str(data[k]) for k in ("dip_id", "role", "scope", "interface", "run_id", "reason", "base_url")
                      if data.get(k))
    return f"{head} EV   {record.get('event')} {detail}".rstrip()


def printer(out: TextIO) -> Callable[[str, dict[str, Any]], None]:
    """A transcript listener writing `line(...)` to `out` (flushed: a log is read as it grows)."""
    def listen(chain: str, record: dict[str, Any]) -> None:
        try:
            out.write(line(chain, record) + "\n")
            out.flush()
        except (OSError, ValueError):  # a closed pipe must not break the hub
            pass
    return listen
