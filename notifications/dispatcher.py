"""Send everything that is due, in parallel across recipients, within each platform's rate limits.

:func:`dispatch_due` is what the sweeper runs (``flows/sweeper.py``, every minute) and ``careflow notify
dispatch`` runs by hand: store the daily digests that are due, merge bursts into digests
(:mod:`notifications.digest`), then hand the due messages to a thread pool keyed by channel key -- one
worker per recipient at a time, so one recipient's messages go out in order while different recipients
(different bots, mailboxes) are served in parallel. A worker claims up to
:data:`notifications.send_batch.CLAIM_BATCH` of its recipient's messages in one conditional UPDATE and commit
(:func:`notifications.claims.claim_many`), sends them, and records their results in one transaction
(:func:`notifications.send_batch.send_claimed`), so two dispatchers (overlapping sweeps, several processes)
still never send one message twice, and a crash costs at most the claim's expiry.

Each worker thread keeps its connections for the whole pass (:mod:`notifications.connections`): one SMTP
connection per mail server and one kept-alive HTTP session, instead of one connection per message.
"""
from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import sqlalchemy as sa

from core.db import session_scope
from models.base import utcnow
from notifications.channels import DigestSettings, channels_in_use
from notifications.claims import claim_many, due_messages
from notifications.connections import ConnectionPool, pooled
from notifications.digest import enqueue_daily_digests, form_burst_digests
from notifications.send_batch import CLAIM_BATCH, send_claimed

log = logging.getLogger(__name__)

#: Threads sending at once (each serves one recipient at a time).
MAX_WORKERS = 8
#: Longest a send may wait for its URL's rate-limit token before the message is deferred (seconds).
MAX_WAIT = 5.0
#: After this many seconds a dispatch stops waiting for tokens: what is left is deferred to the next one.
TIME_BUDGET = 45.0


def due_by_channel(now: datetime | None = None, database_url: str | None = None) -> dict[str, list[uuid.UUID]]:
    """The due messages (:func:`notifications.outbox.due_messages`, page by page) grouped by channel key,
    oldest first."""
    groups: dict[str, list[uuid.UUID]] = defaultdict(list)
    with session_scope(database_url) as session:
        for page in due_messages(session, now):
            for row in page:
                groups[row.unit_code].append(row.id)
    return dict(groups)


def dispatch_due(*, now: datetime | None = None, max_workers: int = MAX_WORKERS, max_wait: float = MAX_WAIT,
                 time_budget: float = TIME_BUDGET, database_url: str | None = None) -> dict[str, int]:
    """Digest what is bursting, then send every due message; returns how many ended in each status.

    Args:
        now: the time to act at (default: the real time, read at each send); tests pass a fixed one.
        max_workers: threads sending in parallel (recipients served at once).
        max_wait: seconds one send may wait for a rate-limit token (longer waits defer the message).
        time_budget: seconds after which no send waits any more (a sweep stays short).
        database_url: default the settings' database.

    Returns:
        ``{status: count}`` over the messages this call handled (``sent``, ``failed``, ``pending`` = deferred
        by a rate limit, ``given_up``), ``deferred`` for those left untouched for the next pass because their
        recipient's channel had no rate-limit token, ``skipped`` for those another dispatcher had taken,
        ``error`` for an exception (logged; the message is retried), plus ``digests`` (burst digests made)
        and ``daily_digests`` (daily digests stored) when non-zero.
    Raises:
        notifications.channels.ChannelConfigError: the channel file is broken (nothing is sent).
    """
    counts = _store_digests(channels_in_use().digest, now or utcnow(), database_url)
    counts.update(send_groups(due_by_channel(now or utcnow(), database_url), now=now, max_workers=max_workers,
                              max_wait=max_wait, time_budget=time_budget, database_url=database_url))
    return {status: count for status, count in counts.items() if count}


def send_groups(groups: dict[str, list[uuid.UUID]], *, now: datetime | None = None, max_workers: int = MAX_WORKERS,
                max_wait: float = MAX_WAIT, time_budget: float = TIME_BUDGET,
                database_url: str | None = None) -> Counter[str]:
    """Send the given messages, grouped by channel key (each group in order, groups in parallel on
    ``max_workers`` threads); counts as :func:`dispatch_due` returns them. Used by :func:`dispatch_due` and by
    the send loop (:mod:`notifications.send_loop`)."""
    counts: Counter[str] = Counter()
    connections = _ThreadConnections()
    serve = functools.partial(_serve_recipient, now=now, max_wait=max_wait, database_url=database_url,
                              send_until=time.monotonic() + time_budget, connections=connections)
    try:
        if groups:
            with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(groups))),
                                    thread_name_prefix="careflow-dispatch") as pool:
                for served in pool.map(serve, groups.values()):
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


def _store_digests(digest_settings: DigestSettings, moment: datetime, database_url: str | None) -> Counter[str]:
    """Store the daily digests that are due and merge bursts into digests; counts ``daily_digests`` and
    ``digests``. Daily digests another dispatcher stored first are not stored twice."""
    counts: Counter[str] = Counter()
    try:
        with session_scope(database_url) as session:
            counts["daily_digests"] += len(enqueue_daily_digests(session, digest_settings, moment))
    except sa.exc.IntegrityError:  # an overlapping sweep stored them first
        log.info("daily digests already stored by another dispatcher")
    with session_scope(database_url) as session:
        counts["digests"] += len(form_burst_digests(session, digest_settings, moment))
    return counts


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
                    claim = claim_many(session, batch, now)
            except Exception:  # e.g. the database is gone for a moment: the next sweep retries
                log.exception("claiming %d notifications failed", len(batch))
                served["error"] += len(batch)
                continue
            served["skipped"] += len(batch) - len(claim.ids)
            sent, stopped = send_claimed(claim, now=now, max_wait=max_wait, send_until=send_until,
                                         database_url=database_url)
            served.update(sent)
            if stopped:  # the recipient's channel has no token now: leave the rest for the next pass
                served["deferred"] += len(ids) - (first + len(batch))
                return served
    return served
