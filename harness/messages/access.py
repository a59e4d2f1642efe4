"""Reading nested message fields without trusting the message's shape.

Checks and reference participants run on messages that may be schema-invalid; a missing or
non-object level gives None instead of an exception.
"""

from __future__ import annotations

from typing import Any


def dig(node: Any, *keys: str) -> Any:
    """`node[k1][k2]...`, or None as soon as a level is missing or not an object."""
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node
