"""Send everything that is due, in parallel across recipients, within each platform's rate limits.

:func:`dispatch_due` is what the sweeper runs (``flows/sweeper.py``, every minute) and ``careflow notify
dispatch`` runs by hand: store the daily digests that are due, merge bursts into digests
(:mod:`notifications.digest`), then hand the due messages to a thread pool keyed by channel key -- one
worker per recipient at a time, so one recipient's messages go out in order while different recipients
(different bots, mailboxes) are served in parallel. A worker claims up to
:data:`CLAIM_BATCH` of its recipient's messages in one commit (:func:`notifications.outbox.claim_many`),
then sends each and records its result in its own transaction
(:func:`notifications.outbox.try_dispatch`), so two dispatchers (overlapping sweeps, several processes)
still never send one message twice, and a crash costs at most the claim's expiry.
"""
from __future__ import annotations

import functools
import logging
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import sqlalchemy as sa

from core.db import session_scope
from models.base import utcnow
from models.notification import DeliveryStatus, Notification
from notifications.channels import DigestSettings, channels_in_use
from notifications.digest import enqueue_daily_digests, form_burst_digests
from notifications.outbox import claim_many, due_messages, release_claims, try_dispatch

log = logging.getLogger(__name__)

#: Threads sending at once (each serves one recipient at a time).
MAX_WORKERS = 8
#: Longest a send may wait for its URL's rate-limit token before the message is deferred (seconds).
MAX_WAIT = 5.0
#: After this many seconds a dispatch stops waiting for tokens: what is left is deferred to the next one.
TIME_BUDGET = 45.0
#: Messages of one recipient claimed in one statement and commit (a claim not used expires, see CLAIM_FOR).
CLAIM_BATCH = 20


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
    groups = due_by_channel(now or utcnow(), database_url)
    serve = functools.partial(_serve_recipient, now=now, max_wait=max_wait, database_url=database_url,
                              send_until=time.monotonic() + time_budget)
    if groups:
        with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(groups))),
                                thread_name_prefix="careflow-dispatch") as pool:
            for served in pool.map(serve, groups.values()):
                counts.update(served)
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


def _serve_recipient(ids: list[uuid.UUID], *, now: datetime | None, max_wait: float, send_until: float,
                     database_url: str | None) -> Counter[str]:
    """Send one recipient's messages in order, :data:`CLAIM_BATCH` claimed at a time; stop at the first one its
    rate limit defers and give back the claims on the rest. Sends wait for a token only until ``send_until``
    (``time.monotonic()``)."""
    served: Counter[str] = Counter()
    for first in range(0, len(ids), CLAIM_BATCH):
        batch = ids[first:first + CLAIM_BATCH]
        try:
            with session_scope(database_url) as session:
                claimed = claim_many(session, batch, now)
        except Exception:  # e.g. the database is gone for a moment: the next sweep retries
            log.exception("claiming %d notifications failed", len(batch))
            served["error"] += len(batch)
            continue
        served["skipped"] += len(batch) - len(claimed)
        mine = [i for i in batch if i in claimed]
        for position, notification_id in enumerate(mine):
            wait = max_wait if time.monotonic() < send_until else 0.0
            status, rate_limited = _send_claimed(notification_id, now=now, max_wait=wait, database_url=database_url)
            served[status] += 1
            if rate_limited:  # the recipient's channel has no token now: leave the rest for the next pass
                rest = mine[position + 1:]
                with session_scope(database_url) as session:
                    release_claims(session, rest)
                served["deferred"] += len(rest) + len(ids) - (first + len(batch))
                return served
    return served


def _send_claimed(notification_id: uuid.UUID, *, now: datetime | None, max_wait: float,
                  database_url: str | None) -> tuple[str, bool]:
    """Send one claimed message in its own transaction: ``(status it ended in, deferred by a rate limit)``;
    ``("error", False)`` when it raised (logged; its claim expires and it is retried)."""
    try:
        with session_scope(database_url) as session:
            claimed = session.get(Notification, notification_id)
            attempts_before = claimed.attempts if claimed is not None else 0
            notification, _acted = try_dispatch(session, notification_id, now=now, max_wait=max_wait,
                                                hold_bursts=False, claimed=True)
            # nothing tried (no attempt counted) and due later: every URL was waiting for its rate limit; a retry
            # of a failed message stays ``failed`` then, so the status alone does not say it
            rate_limited = (notification.status in (DeliveryStatus.pending, DeliveryStatus.failed)
                            and notification.next_attempt_at is not None and notification.attempts == attempts_before)
            return notification.status.value, rate_limited
    except Exception:  # one broken message must not stop the others; its claim expires, it is retried
        log.exception("dispatching notification %s failed", notification_id)
        return "error", False
