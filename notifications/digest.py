"""Digests: one message for many tasks of one recipient -- a burst of new tasks, or the daily list of open ones.

Burst digests (``digest:`` in the channel file, :class:`notifications.channels.DigestSettings`): when more
than ``more_than`` messages of a digest event (default ``task_requested``) for one channel key were
created within ``within``, the not-yet-tried ones are merged into one ``daily_digest`` message of kind
``burst`` (at most ``max_items`` tasks each) instead of one message per task.

Nothing is lost or sent twice: the merged messages (the *members*) are claimed atomically, like a
dispatcher claims a message, and then *parked* in the same transaction that stores the digest: status
``sending`` with no claim time (never due, never claimable) and a delivery entry
``{"via_digest": "<digest id>", ...}``. When the digest is sent, every member becomes ``sent`` (its entry
``ok``, the digest's attempt); when the digest is given up, every member is given up too and the county
civil affairs bureau is alerted about each task, as for any message. A dispatcher that crashes between
the claim and the digest leaves claims that expire (``CLAIM_FOR``): the members are then sent one by one.

Daily digests (``daily_at: "HH:MM"``, off by default): once a day after that local time, each unit with
open tasks gets one ``daily_digest`` of kind ``daily`` listing them (stored once per unit and local date).
"""
from __future__ import annotations

import hashlib
import logging
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from core.audit import record_audit
from core.settings import get_settings
from models.agency import AgencyUnit
from models.case import Case, PathwayRun
from models.child import Child
from models.notification import DeliveryStatus, Notification
from models.task import OPEN_STATES, AgencyTask
from notifications.channels import DigestSettings
from notifications.render import (
    DIGEST_EVENT, DigestContext, DigestItem, PersonalDataLeak, RenderedMessage, assert_no_personal_data,
    render_digest,
)
from notifications.messages import alert_given_up, task_message_context, unit_name
from notifications.routing import split_channel_key

log = logging.getLogger(__name__)

_BURST_PREFIX = "digest:"
_DAILY_PREFIX = "daily:"


def route_event(notification: Notification) -> str:
    """The event a message is routed as: a burst digest like the event it merges, anything else as itself."""
    key = notification.idempotency_key or ""
    if notification.event == DIGEST_EVENT and key.startswith(_BURST_PREFIX):
        return key.split(":", 2)[1]
    return notification.event


def recent_count(session: Session, channel_key: str, events: tuple[str, ...], since: datetime,
                 until: datetime) -> int:
    """How many messages of ``events`` for ``channel_key`` were created in ``[since, until]`` (any status)."""
    return session.execute(
        select(sa.func.count()).select_from(Notification).where(
            Notification.unit_code == channel_key, Notification.event.in_(events),
            Notification.created_at >= since, Notification.created_at <= until)
    ).scalar_one()


def in_burst(session: Session, notification: Notification, settings: DigestSettings, now: datetime) -> bool:
    """Whether ``notification`` should wait for a burst digest instead of being sent on its own now.

    True for a never-tried ``pending`` message of a digest event about a task, when its recipient got more
    than ``settings.more_than`` such messages within ``settings.within`` before ``now``.
    """
    if not settings.enabled or notification.event not in settings.events or notification.task_id is None:
        return False
    if notification.status != DeliveryStatus.pending or notification.attempts:
        return False
    count = recent_count(session, notification.unit_code, settings.events, now - settings.within, now)
    return count > settings.more_than


def _claim_members(session: Session, ids: list[uuid.UUID], until: datetime) -> list[uuid.UUID]:
    """Atomically claim those of ``ids`` that are still pending and never tried; commit. Returns the claimed."""
    rows = session.execute(
        sa.update(Notification)
        .where(Notification.id.in_(ids), Notification.status == DeliveryStatus.pending, Notification.attempts == 0)
        .values(status=DeliveryStatus.sending, claimed_until=until)
        .returning(Notification.id)
        .execution_options(synchronize_session=False)
    ).scalars().all()
    session.commit()
    return list(rows)


def _release(session: Session, ids: list[uuid.UUID]) -> None:
    """Give claimed members back (pending, unclaimed) so they are sent one by one; commit."""
    if ids:
        session.execute(sa.update(Notification).where(Notification.id.in_(ids))
                        .values(status=DeliveryStatus.pending, claimed_until=None)
                        .execution_options(synchronize_session=False))
        session.commit()


def _preload(session: Session, tasks: list[AgencyTask]) -> list:
    """Load the tasks' pathway runs, cases, children and units in four queries, so that the per-task lookups
    (``session.get``) of building their message contexts are answered from the session. Returns the loaded
    objects: the caller keeps them referenced (the session's identity map holds objects weakly)."""
    run_ids = {t.pathway_run_id for t in tasks if t.pathway_run_id is not None}
    case_ids = {t.case_id for t in tasks if t.case_id is not None}
    loaded: list = list(session.exec(select(AgencyUnit).where(AgencyUnit.code.in_({t.unit_code for t in tasks}))))
    if run_ids:
        loaded += session.exec(select(PathwayRun).where(PathwayRun.id.in_(run_ids))).all()
    if case_ids:
        cases = session.exec(select(Case).where(Case.id.in_(case_ids))).all()
        loaded += cases
        loaded += session.exec(select(Child).where(Child.id.in_({c.child_id for c in cases}))).all()
    return loaded


def _items_and_children(session: Session, tasks: list[AgencyTask], event: str) -> tuple[list[DigestItem], list[Child]]:

    keep = _preload(session, tasks)  # noqa: F841 (referenced until the contexts are built)
    items, children = [], []
    for task in tasks:
        ctx = task_message_context(session, task, event)
        items.append(DigestItem(case_reference=ctx.case_reference, step_title=ctx.step_title, task_ref=ctx.task_ref,
                                due_at_local=ctx.due_at_local, provisional=ctx.provisional,
                                ack_due_at_local=ctx.ack_due_at_local, state=str(task.state)))
        if task.case_id is not None:
            children.append(session.get(Child, session.get(Case, task.case_id).child_id))
    items.sort(key=lambda item: (item.due_at_local, item.case_reference))
    return items, children


def _check(message: RenderedMessage, children: list[Child]) -> None:
    for child in children:
        for text in message:
            assert_no_personal_data(text, child_name=child.full_name, resident_id=child.resident_id)


def _store_burst(session: Session, channel_key: str, event: str, member_ids: list[uuid.UUID],
                 settings: DigestSettings) -> Notification:
    members = session.exec(select(Notification).where(Notification.id.in_(member_ids))).all()
    by_id = {t.id: t for t in session.exec(select(AgencyTask).where(
        AgencyTask.id.in_({m.task_id for m in members}))).all()}
    tasks = [by_id[m.task_id] for m in members]
    unit, role = split_channel_key(channel_key)
    items, children = _items_and_children(session, tasks, event)
    ctx = DigestContext(kind="burst", agency_unit_name=unit_name(session, unit), unit_code=unit, items=items,
                        window_minutes=int(settings.within.total_seconds() // 60),
                        link=get_settings().resolved_public_url, recipient_role=role)
    message = render_digest(ctx)
    _check(message, children)
    fingerprint = hashlib.sha256("\n".join(sorted(str(i) for i in member_ids)).encode()).hexdigest()[:24]
    digest = Notification(idempotency_key=f"{_BURST_PREFIX}{event}:{channel_key}:{fingerprint}", event=DIGEST_EVENT,
                          unit_code=channel_key, recipient_role=role, subject=message.subject, body=message.body)
    session.add(digest)
    for member in members:
        member.status = DeliveryStatus.sending
        member.claimed_until = None  # parked: carried by the digest
        member.delivery = [{"id": "", "via_digest": str(digest.id), "url": "(digest)", "ok": False, "error": "",
                            "attempt": 0}]
        session.add(member)
        record_audit(session, actor="careflow", action="notification.digested", entity_type="notification",
                     entity_id=member.id, case_id=member.case_id, detail={"digest": str(digest.id)})
    record_audit(session, actor="careflow", action="notification.queued", entity_type="notification",
                 entity_id=digest.id, detail={"event": DIGEST_EVENT, "kind": "burst", "unit": channel_key,
                                              "merges": event, "tasks": len(members)})
    session.commit()
    return digest


def form_burst_digests(session: Session, settings: DigestSettings, now: datetime, *,
                       claim_for: timedelta = timedelta(minutes=10)) -> list[uuid.UUID]:
    """Merge every burst of due, never-tried messages into digests; returns the new digests' ids.

    A recipient is in a burst when more than ``settings.more_than`` messages of the digest events were
    created for it within ``settings.within`` before ``now``; its due pending messages (two or more) are
    then merged, ``settings.max_items`` per digest. Commits as it goes (claims must be seen by other
    dispatchers). A digest that cannot be made (a render error, personal data in the text) releases its
    members, which are then sent one by one.
    """
    if not settings.enabled:
        return []
    rows = session.execute(
        select(Notification.id, Notification.unit_code, Notification.event)
        .where(Notification.status == DeliveryStatus.pending, Notification.attempts == 0,
               Notification.event.in_(settings.events), Notification.task_id.is_not(None),
               sa.or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now))
        .order_by(Notification.created_at)
    ).all()
    session.commit()
    groups: dict[tuple[str, str], list[uuid.UUID]] = defaultdict(list)
    for row in rows:
        groups[(row.unit_code, row.event)].append(row.id)
    made = []
    for (channel_key, event), ids in groups.items():
        recent = recent_count(session, channel_key, settings.events, now - settings.within, now)
        if len(ids) < 2 or recent <= settings.more_than:
            continue
        for start in range(0, len(ids), settings.max_items):
            claimed = _claim_members(session, ids[start:start + settings.max_items], now + claim_for)
            if len(claimed) < 2:
                _release(session, claimed)
                continue
            try:
                made.append(_store_burst(session, channel_key, event, claimed, settings).id)
            except (PersonalDataLeak, ValueError, LookupError) as exc:
                session.rollback()
                log.error("digest for %s not made (%s); its %d messages go one by one", channel_key,
                          type(exc).__name__, len(claimed))
                _release(session, claimed)
    return made


def _members(session: Session, digest: Notification) -> list[Notification]:
    parked = session.exec(select(Notification).where(
        Notification.unit_code == digest.unit_code, Notification.status == DeliveryStatus.sending,
        Notification.claimed_until.is_(None))).all()
    mark = str(digest.id)
    return [n for n in parked if any(isinstance(e, dict) and e.get("via_digest") == mark for e in n.delivery or [])]


def settle_members(session: Session, digest: Notification, now: datetime) -> int:
    """Pass a digest's final status on to the messages it carries; returns how many were settled.

    ``sent``: each member ``sent`` at ``now``, its entry ``ok`` with the digest's attempt. ``given_up``: each
    member ``given_up`` with the digest's error, and the county civil affairs bureau alerted about its task.
    Any other status: nothing yet (the digest is retried).
    """

    if digest.status not in (DeliveryStatus.sent, DeliveryStatus.given_up):
        return 0
    members = _members(session, digest)
    sent = digest.status == DeliveryStatus.sent
    for member in members:
        member.status = digest.status
        member.delivery = [{"id": "", "via_digest": str(digest.id), "url": "(digest)", "ok": sent,
                            "error": "" if sent else digest.last_error[:500], "attempt": digest.attempts}]
        if sent:
            member.sent_at, member.last_error = now, ""
        else:
            member.last_error = f"carried by digest {digest.id}: {digest.last_error}"[:1000]
        member.next_attempt_at = None
        session.add(member)
        record_audit(session, actor="careflow", action=f"notification.{digest.status.value}",
                     entity_type="notification", entity_id=member.id, case_id=member.case_id,
                     detail={"via_digest": str(digest.id), "attempt": digest.attempts, "unit": member.unit_code})
        if not sent:
            alert_given_up(session, member, attempts=digest.attempts)
    return len(members)


def enqueue_daily_digests(session: Session, settings: DigestSettings, now: datetime) -> list[Notification]:
    """Store today's daily digest for every unit with open tasks, once per unit and local date.

    Does nothing unless ``settings.daily_at`` is set and the local time (``Settings.timezone``) has reached
    it. Returns the digests stored by this call.

    Raises:
        PersonalDataLeak: a rendered digest holds a child's name or ID number (nothing is stored for it).
    """
    if not settings.daily_at:
        return []
    local = now.astimezone(ZoneInfo(get_settings().timezone))
    if local.strftime("%H:%M") < settings.daily_at:
        return []
    day = local.date().isoformat()
    open_states = list(OPEN_STATES)
    units = set(session.exec(select(AgencyTask.unit_code).where(AgencyTask.state.in_(open_states)).distinct()).all())
    done = {key.removeprefix(_DAILY_PREFIX).rsplit(":", 1)[0] for key in session.exec(
        select(Notification.idempotency_key).where(Notification.idempotency_key.like(f"{_DAILY_PREFIX}%:{day}"))).all()}
    missing = sorted(units - done)
    if not missing:
        return []
    tasks = session.exec(select(AgencyTask).where(AgencyTask.state.in_(open_states), AgencyTask.unit_code.in_(missing))
                         .order_by(AgencyTask.unit_code, AgencyTask.due_at)).all()
    by_unit: dict[str, list[AgencyTask]] = defaultdict(list)
    for task in tasks:
        by_unit[task.unit_code].append(task)
    stored = []
    for unit, unit_tasks in by_unit.items():
        key = f"{_DAILY_PREFIX}{unit}:{day}"
        items, children = _items_and_children(session, unit_tasks, DIGEST_EVENT)
        ctx = DigestContext(kind="daily", agency_unit_name=unit_name(session, unit), unit_code=unit, items=items,
                            date_local=day, link=get_settings().resolved_public_url)
        message = render_digest(ctx)
        _check(message, children)
        digest = Notification(idempotency_key=key, event=DIGEST_EVENT, unit_code=unit, recipient_role="officer",
                              subject=message.subject, body=message.body)
        session.add(digest)
        record_audit(session, actor="careflow", action="notification.queued", entity_type="notification",
                     entity_id=digest.id, detail={"event": DIGEST_EVENT, "kind": "daily", "unit": unit,
                                                  "tasks": len(items)})
        stored.append(digest)
    return stored
