"""Messages to units that are about no single pathway step: a child transferred in, a round reminder, the weekly
list of contacts and visits due, a duty handed to another village.

They go through the same outbox as every other message (:class:`models.notification.Notification`, sent and
retried by the sweeper), once per ``idempotency_key``. Like every careflow message they carry references
(file ``KF-…``, case ``CF-…``, task refs), dates and commands — never a child's name or ID number
(:func:`notifications.render.assert_no_personal_data` is run on the text with every child it concerns).
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlmodel import Session, select

from core.audit import record_audit
from models.child import Child
from models.notification import Notification
from notifications.render import assert_no_personal_data


def enqueue_message(
    session: Session,
    *,
    key: str,
    event: str,
    unit_code: str,
    subject: str,
    body: str,
    role: str = "officer",
    task_id: uuid.UUID | None = None,
    case_id: uuid.UUID | None = None,
    children: Iterable[Child] = (),
) -> Notification:
    """Store one message for ``unit_code`` once (a second call with the same ``key`` returns the first).

    ``event`` is at most 32 characters (e.g. ``survey_transfer``); ``key`` at most 200.

    Raises:
        notifications.render.PersonalDataLeak: the text names one of ``children`` or holds their ID number.
    """
    existing = session.exec(select(Notification).where(Notification.idempotency_key == key)).first()
    if existing:
        return existing
    for child in children:
        for text in (subject, body):
            assert_no_personal_data(text, child_name=child.full_name, resident_id=child.resident_id)
    notification = Notification(idempotency_key=key[:200], event=event[:32], case_id=case_id, task_id=task_id,
                                unit_code=unit_code, recipient_role=role, subject=subject[:200], body=body)
    session.add(notification)
    record_audit(session, actor="careflow", action="notification.queued", entity_type="notification",
                 entity_id=notification.id, case_id=case_id, detail={"event": event, "unit": unit_code})
    return notification
