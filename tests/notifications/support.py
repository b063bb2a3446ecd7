"""Helpers for the notification tests: made-up personal data that must never appear in a message, free ports."""
from __future__ import annotations

import socket

#: A child's name that must never appear in a message (made up).
CHILD_NAME = "林小雨"


def resident_id(body17: str = "35030420150315002") -> str:
    """An 18-character resident ID with a correct ISO 7064 MOD 11-2 check character."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body17, weights)) % 11]
    return body17 + check


#: The same child's resident ID (made up, valid check character).
CHILD_ID = resident_id()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
