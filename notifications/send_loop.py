"""The send loop: what a pathway flow queued reaches the agency within a second, sent outside the flow (issue 17).

A pathway flow never sends over SMTP or HTTP itself: it stores each message with ``send_now``
(:func:`notifications.messages.enqueue_task_message`) and goes on to its wait. The processes that run flow runs,
``careflow serve`` (:func:`flows.serve.serve_deployments`) and ``careflow worker`` (:func:`flows.pool.run_worker`),
run this loop in a thread beside the runner: every :data:`POLL` seconds one read through the small partial index
``ix_notification_send_now`` finds the messages queued to go at once and not yet tried, and the dispatcher's
threads claim, send and record them (:func:`notifications.dispatch_threads.serve_recipients`). On PostgreSQL the
loop also LISTENs on :data:`models.notification.SEND_NOW_CHANNEL`, which storing such a message NOTIFYs at its
commit: the scan runs at once instead of up to :data:`POLL` seconds later (a lost connection falls back to the
timer and is opened again). Claims are conditional, so
several loops (several runners or workers) and the sweeper's dispatch never send one message twice.

A runner killed while sending leaves its claims behind: the loop that starts next on the same host gives them back
(:func:`notifications.claims.release_dead_claims`) and sends them in its first pass.

A message that fails leaves the loop's scan (``failed``): the sweeper's dispatch retries it on its schedule, gives
it up with an alert like any other. A message the loop never reaches (no runner up) is sent by the next sweep.
"""
from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime

import sqlalchemy as sa

from core.db import get_engine, session_scope
from models.base import utcnow
from notifications.claims import release_dead_claims
from models.notification import _SEND_NOW_SQL, SEND_NOW_CHANNEL, Notification

log = logging.getLogger(__name__)

#: Seconds between two scans for messages to send now (``CAREFLOW_SEND_POLL``); on SQLite a flow's message waits
#: half of it on average (on PostgreSQL its NOTIFY wakes the loop at once). ``0``: no send loop in this process (a
#: host that cannot reach the mail server; the sweeper sends).
POLL = 0.2
#: Messages taken per scan, oldest first (the rest are taken by the next scans).
SCAN_LIMIT = 500
#: Threads sending at once (each serves one recipient at a time), as the dispatcher's.
WORKERS = 8
#: Seconds a send may wait for a rate-limit token before its message is left for a later pass.
MAX_WAIT = 1.0
#: A failing scan (the database is away) is logged at most this often (seconds).
LOG_EVERY = 60.0


def send_now_groups(database_url: str | None = None, limit: int = SCAN_LIMIT,
                    now: datetime | None = None) -> dict[str, list[uuid.UUID]]:
    """The messages queued to send at once and not yet tried (a rate limit's later ``next_attempt_at`` waits until
    ``now``, default the current time), oldest first, at most ``limit``, grouped by channel key."""
    n = Notification.__table__.c
    now = sa.bindparam("now", now or utcnow(), type_=n.created_at.type)
    query = (sa.select(n.id, n.unit_code)
             .where(sa.text(_SEND_NOW_SQL), sa.or_(n.next_attempt_at.is_(None), n.next_attempt_at <= now))
             .order_by(n.created_at, n.id).limit(limit))
    groups: dict[str, list[uuid.UUID]] = defaultdict(list)
    with session_scope(database_url) as session:
        for row in session.execute(query):
            groups[row.unit_code].append(row.id)
    return dict(groups)


def send_pass(database_url: str | None = None, now: datetime | None = None) -> dict[str, int]:
    """One scan and the sends it finds, at ``now`` (default the current time); the non-zero counts, as
    :func:`notifications.dispatcher.dispatch_due` returns them (``sent``, ``failed``, ``skipped`` = taken by another
    dispatcher, …)."""
    groups = send_now_groups(database_url, now=now)
    if not groups:
        return {}
    # start-up: Apprise's plugins (about 0.9 s), loaded by the first pass that has something to send
    from notifications.dispatch_threads import serve_recipients

    counts = serve_recipients(list(groups.values()), now=now, max_workers=WORKERS, max_wait=MAX_WAIT,
                              send_until=time.monotonic() + POLL * 10, database_url=database_url)
    return {status: count for status, count in counts.items() if count}


class _WakeUps:
    """What the send loop waits on between passes: PostgreSQL's NOTIFY on :data:`SEND_NOW_CHANNEL` (a connection of
    its own, in autocommit, LISTENing), else the timer alone (SQLite, or the connection lost: opened again at the
    next wait, at most every :data:`LOG_EVERY` seconds)."""

    def __init__(self, database_url: str | None) -> None:
        self.database_url = database_url
        self._connection = None  # the pool's connection, kept out of the pool while listening
        self._next_try = 0.0

    def __enter__(self) -> _WakeUps:
        return self

    def __exit__(self, *_exc) -> None:
        self._close()

    def wait(self, poll: float, stopping: threading.Event) -> None:
        """Return after ``poll`` seconds, at a NOTIFY, or when ``stopping`` is set, whichever comes first."""
        listener = self._listener()
        if listener is None:
            stopping.wait(poll)
            return
        try:
            for _notice in listener.driver_connection.notifies(timeout=poll, stop_after=1):
                pass
        except Exception:  # noqa: BLE001 -- the database went away: the timer until it is back
            log.warning("the send loop stopped listening for new messages; it scans every %.1f s", poll)
            self._close(invalidate=True)
            stopping.wait(poll)

    def _listener(self):
        if self._connection is not None or time.monotonic() < self._next_try:
            return self._connection
        self._next_try = time.monotonic() + LOG_EVERY
        engine = get_engine(self.database_url)
        if engine.dialect.name != "postgresql":
            self._next_try = float("inf")
            return None
        try:
            connection = engine.raw_connection()
            connection.driver_connection.autocommit = True
            connection.driver_connection.execute(f"LISTEN {SEND_NOW_CHANNEL}")
        except Exception:  # noqa: BLE001 -- no database yet: the timer, and another try later
            log.warning("the send loop cannot listen for new messages yet; it scans every pass")
            return None
        self._connection = connection
        return connection

    def _close(self, invalidate: bool = False) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        with contextlib.suppress(Exception):
            if invalidate:
                connection.invalidate()
            else:
                connection.driver_connection.execute(f"UNLISTEN {SEND_NOW_CHANNEL}")
                connection.driver_connection.autocommit = False
                connection.close()


class SendLoop(threading.Thread):
    """A daemon thread running :func:`send_pass` every ``poll`` seconds until :meth:`stop`."""

    def __init__(self, poll: float = POLL, database_url: str | None = None) -> None:
        super().__init__(name="careflow-send-loop", daemon=True)
        self.poll = poll
        self.database_url = database_url
        self._stopping = threading.Event()
        self._last_error_logged = 0.0

    def run(self) -> None:
        import notifications.dispatch_threads  # noqa: F401 -- start-up: Apprise's plugins now, not in a message's latency

        self._release_dead_claims()
        with _WakeUps(self.database_url) as wake_ups:
            self._loop(wake_ups)

    def _release_dead_claims(self) -> None:
        """Messages a killed runner of this host was sending (the one this process replaces) are sent now."""
        try:
            with session_scope(self.database_url) as session:
                released = release_dead_claims(session)
        except Exception:  # noqa: BLE001 -- no database yet: the sweeper's dispatch gives them back later
            log.warning("the send loop could not give back the claims of killed senders; the sweeper will")
            return
        if released:
            log.warning("gave back %d messages claimed by killed senders of this host; sending them now", released)

    def _loop(self, wake_ups: _WakeUps) -> None:
        while not self._stopping.is_set():
            wake_ups.wait(self.poll, self._stopping)
            if self._stopping.is_set():
                return
            try:
                counts = send_pass(self.database_url)
            except Exception:  # noqa: BLE001 -- the loop outlives a database or channel-file hiccup
                if time.monotonic() - self._last_error_logged > LOG_EVERY:
                    self._last_error_logged = time.monotonic()
                    log.exception("the send loop's pass failed; messages wait for the next pass or the sweeper")
                continue
            if counts:
                log.info("send loop: %s", dict(counts))

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current pass or wait (waits at most ``timeout`` seconds for it)."""
        self._stopping.set()
        self.join(timeout)


@contextlib.contextmanager
def send_loop(poll: float | None = None, database_url: str | None = None) -> Iterator[SendLoop | None]:
    """Run a :class:`SendLoop` for the duration of the ``with`` block (a runner's or worker's life); none when
    ``poll`` (default ``CAREFLOW_SEND_POLL``, read now) is 0."""
    poll = float(os.environ.get("CAREFLOW_SEND_POLL", POLL)) if poll is None else poll
    if poll <= 0:
        yield None
        return
    loop = SendLoop(poll, database_url)
    loop.start()
    try:
        yield loop
    finally:
        loop.stop()
