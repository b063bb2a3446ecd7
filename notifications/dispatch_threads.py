"""The thread pool of a dispatch pass: one worker per recipient at a time, its messages claimed, sent and
recorded in batches.

:func:`serve_recipients` is what :func:`notifications.dispatcher.dispatch_due` runs for its due messages (in
its own process, or in each process of :mod:`notifications.dispatch_processes`). A worker claims up to
:data:`notifications.send_batch.CLAIM_BATCH` of its recipient's messages in one conditional UPDATE and commit
(:func:`notifications.claims.claim_rows`, which returns the messages too), sends them, and records their results
in one transaction
(:func:`notifications.send_batch.send_claimed`), so two dispatchers (overlapping sweeps, several processes)
still never send one message twice, and a crash costs at most the claim's expiry.

Each worker thread keeps its connections for the whole pass (:mod:`notifications.connections`): one SMTP
connection per mail server and one kept-alive HTTP session, instead of one connection per message.
"""
from __future__ import annotations

import functools
import logging
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from core.db import session_scope
from notifications.claims import claim_rows
from notifications.connections import ConnectionPool, pooled
from notifications.send_batch import CLAIM_BATCH, send_claimed

log = logging.getLogger(__name__)


def serve_recipients(groups: list[list[uuid.UUID]], *, now: datetime | None, max_workers: int, max_wait: float,
                     send_until: float, database_url: str | None) -> Counter[str]:
    """Send the due messages ``groups`` (one list of ids per recipient, oldest first) on a pool of
    ``max_workers`` threads, one recipient per thread at a time; returns the counts of :func:`dispatch_due`.
    Sends wait for a rate-limit token only until ``send_until`` (``time.monotonic()``)."""
    counts: Counter[str] = Counter()
    if not groups:
        return counts
    connections = _ThreadConnections()
    serve = functools.partial(_serve_recipient, now=now, max_wait=max_wait, database_url=database_url,
                              send_until=send_until, connections=connections)
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(groups))),
                                thread_name_prefix="careflow-dispatch") as pool:
            for served in pool.map(serve, groups):
                counts.update(served)
    finally:
        connections.close()
    return counts


class _ThreadConnections:
    """The :class:`notifications.connections.ConnectionPool` of each worker thread of one pass, all closed at
    its end: a thread serving several recipients of one mail server uses one SMTP connection for them all."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._pools: list[ConnectionPool] = []
        self._lock = threading.Lock()

    def mine(self) -> ConnectionPool:
        """The calling thread's pool (created on first use)."""
        pool = getattr(self._local, "pool", None)
        if pool is None:
            pool = self._local.pool = ConnectionPool()
            with self._lock:
                self._pools.append(pool)
        return pool

    def close(self) -> None:
        """Close every thread's connections (after the threads are done)."""
        with self._lock:
            for pool in self._pools:
                pool.close()


def _serve_recipient(ids: list[uuid.UUID], *, now: datetime | None, max_wait: float, send_until: float,
                     database_url: str | None, connections: _ThreadConnections) -> Counter[str]:
    """Send one recipient's messages in order, :data:`CLAIM_BATCH` claimed, sent and recorded at a time; stop at
    the first one its rate limit defers (the claims on the rest are given back). Sends wait for a token only
    until ``send_until`` (``time.monotonic()``)."""
    served: Counter[str] = Counter()
    with pooled(connections.mine()):
        for first in range(0, len(ids), CLAIM_BATCH):
            batch = ids[first:first + CLAIM_BATCH]
            try:
                with session_scope(database_url) as session:
                    claim, rows = claim_rows(session, batch, now)
            except Exception:  # e.g. the database is gone for a moment: the next sweep retries
                log.exception("claiming %d notifications failed", len(batch))
                served["error"] += len(batch)
                continue
            served["skipped"] += len(batch) - len(claim.ids)
            sent, stopped = send_claimed(claim, now=now, max_wait=max_wait, send_until=send_until,
                                         database_url=database_url, rows=rows)
            served.update(sent)
            if stopped:  # the recipient's channel has no token now: leave the rest for the next pass
                served["deferred"] += len(ids) - (first + len(batch))
                return served
    return served
