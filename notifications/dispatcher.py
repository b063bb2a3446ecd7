"""Send everything that is due, in parallel across recipients, within each platform's rate limits.

:func:`dispatch_due` is what the sweeper runs (``flows/sweeper.py``, every minute) and ``careflow notify
dispatch`` runs by hand: store the daily digests that are due, merge bursts into digests
(:mod:`notifications.digest`), then hand the due messages to a thread pool keyed by channel key
(:mod:`notifications.dispatch_threads`) -- one worker per recipient at a time, so one recipient's messages go
out in order while different recipients (different bots, mailboxes) are served in parallel -- or share the
recipients out among several processes each running such a pool (:mod:`notifications.dispatch_processes`).
Claims are conditional, so two dispatchers (overlapping sweeps, several processes) never send one message
twice, and a crash costs at most the claim's expiry.
"""
from __future__ import annotations

import logging
import time
import uuid
from collections import Counter, defaultdict
from datetime import datetime

import sqlalchemy as sa

from core.db import session_scope
from core.settings import get_settings
from models.base import utcnow
from notifications.channels import DigestSettings, channels_in_use
from notifications.claims import due_messages, release_dead_claims
from notifications.digest import enqueue_daily_digests, form_burst_digests
from notifications.dispatch_processes import serve_in_processes
from notifications.dispatch_threads import serve_recipients

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
                 time_budget: float = TIME_BUDGET, database_url: str | None = None,
                 processes: int | None = None) -> dict[str, int]:
    """Digest what is bursting, then send every due message; returns how many ended in each status.

    Args:
        now: the time to act at (default: the real time, read at each send); tests pass a fixed one.
        max_workers: threads sending in parallel (recipients served at once).
        max_wait: seconds one send may wait for a rate-limit token (longer waits defer the message).
        time_budget: seconds after which no send waits any more (a sweep stays short).
        database_url: default the settings' database.
        processes: default the ``dispatch_processes`` setting (``CAREFLOW_DISPATCH_PROCESSES``, 1); with more
            than one, the recipients are shared out among that many processes (each with
            ``max_workers`` threads: :func:`notifications.dispatch_processes.serve_in_processes`), for a
            pass whose sending is bound by one interpreter's CPU; every recipient, and every rate-limited URL,
            is still served by one thread of one process.

    Returns:
        ``{status: count}`` over the messages this call handled (``sent``, ``failed``, ``pending`` = deferred
        by a rate limit, ``given_up``), ``deferred`` for those left untouched for the next pass because their
        recipient's channel had no rate-limit token, ``skipped`` for those another dispatcher had taken,
        ``error`` for an exception (logged; the message is retried), plus ``digests`` (burst digests made)
        and ``daily_digests`` (daily digests stored) when non-zero.
    Raises:
        notifications.channels.ChannelConfigError: the channel file is broken (nothing is sent).
    """
    with session_scope(database_url) as session:
        release_dead_claims(session)
    counts = _store_digests(channels_in_use().digest, now or utcnow(), database_url)
    groups = due_by_channel(now or utcnow(), database_url)
    processes = processes or get_settings().dispatch_processes
    if processes > 1 and len(groups) > 1:
        counts.update(serve_in_processes(groups, processes, now=now, max_workers=max_workers, max_wait=max_wait,
                                         time_budget=time_budget, database_url=database_url))
    else:
        counts.update(serve_recipients(list(groups.values()), now=now, max_workers=max_workers, max_wait=max_wait,
                                       send_until=time.monotonic() + time_budget, database_url=database_url))
    return {status: count for status, count in counts.items() if count}


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
