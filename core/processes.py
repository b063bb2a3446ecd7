"""Which process of which host did something: ``<host>:<pid>:<unix time>`` records, and whether that process lives.

A flow-run process records itself on its pathway run (``PathwayRun.flow_process``) and a sender on the messages it
claims (``Notification.claimed_by``), so that whoever finds the work unfinished can tell a process that is still at
it from one that was killed (SIGKILL, a host's restart) and act at once instead of waiting for a time-out. Only
processes of this host can be judged (another host's record is "unknown"); a pid reused by another process counts
as alive, the safe direction: work waits for its time-out, it is never done twice. Assumes one host name is one
process namespace: containers that share the host's name (``network_mode: host``) must each get a host name of their
own (``hostname:``), or a process of one would be judged dead by another.
"""
from __future__ import annotations

import os
import socket
import time


def this_host() -> str:
    """This host's name as careflow records it (at most 80 characters, as in ``PathwayRun.flow_process``)."""
    return socket.gethostname()[:80]


def process_record(pid: int | None = None, at: float | None = None) -> str:
    """``<host>:<pid>:<unix time>`` for process ``pid`` at ``at`` (default this process, now); at most 120
    characters."""
    return f"{this_host()}:{os.getpid() if pid is None else pid}:{time.time() if at is None else at:.3f}"


def process_exists(pid: int) -> bool:
    """Whether a process with this id is alive on this host (one owned by another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def dead_process_recorded_at(record: str) -> float | None:
    """When ``record`` (:func:`process_record`) was written (unix time), if it names a process of this host that no
    longer exists; ``None`` otherwise (alive, another host, unreadable)."""
    try:
        host, pid, at = record.rsplit(":", 2)
        pid, at = int(pid), float(at)
    except ValueError:
        return None
    if host != this_host():
        return None
    return None if process_exists(pid) else at
