"""Loopback ports picked before a server starts: the URLs go into a profile before anything listens."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A free loopback port (the hub's and the participant's URLs go into the profile before they start)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
