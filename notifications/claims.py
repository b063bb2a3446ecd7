"""Claiming messages for sending and finding the due ones: how two dispatchers never send one message twice.

A dispatcher first claims a message (``sending``, with ``claimed_until`` = the claim's time, committed) with a
conditional UPDATE; only the dispatcher whose UPDATE changed the row sends it. A claim that is not settled (the
dispatcher crashed) expires after :data:`CLAIM_FOR`, and the message is due again (:func:`due_messages`). A claim
names its process (``claimed_by``): the claims of a process killed on this host are given back at once
(:func:`release_dead_claims`), so a runner killed mid-send delays its agency's message by seconds, not ten minutes.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from core.processes import dead_process_recorded_at, process_record
from models.base import utcnow
from models.notification import _UNSENT_SQL, SEND_NOW_CHANNEL, DeliveryStatus, Notification

#: How long a dispatcher holds a message it is sending.
CLAIM_FOR = timedelta(minutes=10)


def _claimable(now: datetime):
    return sa.or_(
        Notification.status.in_([DeliveryStatus.pending, DeliveryStatus.failed]),
        sa.and_(Notification.status == DeliveryStatus.sending, Notification.claimed_until < now),
    )


def claim_one(session: Session, notification_id: uuid.UUID, now: datetime) -> bool:
    """Atomically mark the message ``sending`` if it is sendable; commit so other dispatchers see it."""
    result = session.execute(
        sa.update(Notification)
        .where(Notification.id == notification_id, _claimable(now))
        .values(status=DeliveryStatus.sending, claimed_until=now + CLAIM_FOR, claimed_by=process_record())
        .execution_options(synchronize_session=False)
    )
    session.commit()
    session.expire_all()
    return result.rowcount == 1


@dataclass(frozen=True)
class Claim:
    """What :func:`claim_rows` claimed: the ``ids`` (in the order asked) and the claim's ``until`` (UTC), which
    the claimed rows carry in ``claimed_until`` until their result is recorded: recording is conditional on it."""

    ids: list[uuid.UUID]
    until: datetime


def claim_rows(session: Session, notification_ids: list[uuid.UUID],
               now: datetime | None = None) -> tuple[Claim, list[Notification]]:
    """Claim, in one conditional UPDATE and one commit, those of ``notification_ids`` that are sendable (as
    :func:`claim_one` would one by one), and return the claimed messages themselves, read by the same UPDATE
    (``RETURNING``), in the order asked and detached from ``session``: a dispatcher's batch costs one statement
    and one commit before its sends. A claim not used expires after :data:`CLAIM_FOR`."""
    now = now or utcnow()
    if not notification_ids:
        return Claim([], now + CLAIM_FOR), []
    rows = session.scalars(
        sa.update(Notification)
        .where(Notification.id.in_(notification_ids), _claimable(now))
        .values(status=DeliveryStatus.sending, claimed_until=now + CLAIM_FOR, claimed_by=process_record())
        .returning(Notification)
        .execution_options(synchronize_session=False)
    ).all()
    session.expunge_all()  # before the commit: the rows keep the values the UPDATE returned
    session.commit()
    by_id = {row.id: row for row in rows}
    ids = [i for i in notification_ids if i in by_id]
    return Claim(ids, now + CLAIM_FOR), [by_id[i] for i in ids]


def _unclaimed_status():
    """The status a claimed message goes back to: ``pending`` if it never failed, else ``failed``."""
    return sa.case((Notification.last_error == "", DeliveryStatus.pending.value), else_=DeliveryStatus.failed.value)


def release_dead_claims(session: Session) -> int:
    """Give back the claims held by processes of this host that no longer exist (a runner, worker or sweep killed
    while sending); their messages are due again at once, as :func:`release_claims` leaves them. Commits; returns
    how many messages were given back.

    Called as a send loop starts (a runner started again after a kill) and by the sweeper's dispatch. Claims of
    other hosts' processes, and of processes still alive, wait for their expiry. A process killed after its send
    but before recording it may have delivered the message: it is sent again, as it would be after the expiry
    (at-least-once, never lost).
    """
    held = sa.and_(Notification.status == DeliveryStatus.sending, Notification.claimed_until.is_not(None),
                   Notification.claimed_by.is_not(None))
    claimants = session.scalars(sa.select(Notification.claimed_by).where(held).distinct()).all()
    dead = [claimant for claimant in claimants if dead_process_recorded_at(claimant) is not None]
    if not dead:
        return 0
    released = session.execute(
        sa.update(Notification).where(held, Notification.claimed_by.in_(dead))
        .values(status=_unclaimed_status(), claimed_until=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return released


def release_claims(session: Session, notification_ids: list[uuid.UUID]) -> None:
    """Give back claims of :func:`claim_rows` that will not be used now; the messages stay due. Commits.

    A claimed message was ``pending`` (never failed: no ``last_error``) or ``failed`` (its retry time had
    come); it goes back to that status, unclaimed.
    """
    if notification_ids:
        session.execute(
            sa.update(Notification)
            .where(Notification.id.in_(notification_ids), Notification.status == DeliveryStatus.sending,
                   Notification.claimed_until.is_not(None))
            .values(status=_unclaimed_status(), claimed_until=None)
            .execution_options(synchronize_session=False)
        )
        session.commit()


def due_notifications(session: Session, now: datetime | None = None) -> list[uuid.UUID]:
    """Ids of messages waiting to be sent, oldest first: pending (once their ``next_attempt_at``, if set,
    has come: a rate limit may have pushed it back), failed with their retry time reached, or claimed by a
    dispatcher whose claim has expired. Messages parked in a digest (``sending``, no claim time) are not due.

    Read page by page with :func:`due_messages` (the partial index of unsent messages): the cost grows with the
    messages not yet sent, not with the outbox."""
    return [row.id for page in due_messages(session, now) for row in page]


#: Due messages read per query by :func:`due_messages`.
DUE_PAGE = 5000


def due_messages(session: Session, now: datetime | None = None, page: int = DUE_PAGE) -> Iterator[list[sa.Row]]:
    """The due messages (see :func:`due_notifications`) as pages of rows ``(id, unit_code, created_at)``,
    oldest first, read by keyset (created_at, id) through ``ix_notification_unsent``: each query reads at
    most ``page`` rows and none of the messages already sent."""
    now = now or utcnow()
    after = None
    while True:
        rows = session.execute(due_messages_query(now, after, page)).all()
        if rows:
            yield rows
        if len(rows) < page:
            return
        after = (rows[-1].created_at, rows[-1].id)


def due_messages_query(now: datetime, after: tuple | None = None, page: int = DUE_PAGE) -> sa.Select:
    """One page of :func:`due_messages`: due messages after the keyset ``after`` = (created_at, id), oldest first."""
    n = Notification.__table__.c
    at = sa.bindparam("now", now, type_=n.created_at.type)
    due = sa.or_(
        sa.and_(n.status == DeliveryStatus.pending, sa.or_(n.next_attempt_at.is_(None), n.next_attempt_at <= at)),
        sa.and_(n.status == DeliveryStatus.failed, n.next_attempt_at <= at),
        sa.and_(n.status == DeliveryStatus.sending, n.claimed_until < at),
    )
    # the index's own predicate as literal SQL, so the planner matches the partial index
    query = sa.select(n.id, n.unit_code, n.created_at).where(sa.text(_UNSENT_SQL), due)
    if after is not None:
        after_at = sa.bindparam("after_at", after[0], type_=n.created_at.type)
        query = query.where(n.created_at >= after_at,
                            sa.or_(n.created_at > after_at, n.id > sa.bindparam("after_id", after[1], type_=n.id.type)))
    return query.order_by(n.created_at, n.id).limit(page)


def send_soon(session: Session, notification_ids: list[uuid.UUID]) -> None:
    """Mark stored messages ``send_now``, for the send loop (:mod:`notifications.send_loop`) to send within a
    second; in the caller's transaction (does not commit)."""
    if notification_ids:
        session.execute(sa.update(Notification).where(Notification.id.in_(notification_ids))
                        .values(send_now=True).execution_options(synchronize_session=False))
        wake_send_loops(session)


def wake_send_loops(session: Session) -> None:
    """On PostgreSQL, NOTIFY the send loops (:mod:`notifications.send_loop`) on :data:`SEND_NOW_CHANNEL`: delivered
    when the caller's transaction commits (none if it rolls back), so their scan runs at once rather than at their
    next timer. Nothing on SQLite (the loops' timer)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_notify(SEND_NOW_CHANNEL, "")))
