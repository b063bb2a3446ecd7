"""The outbox in bulk, for the deadline sweep's batches: render many task messages, then store them in one go.

Rendering and storing are separate steps, so that a caller can render everything it is about to write first
and set aside a task whose message cannot be rendered (a template error, a policy step that no longer exists,
the privacy check) before anything is written: :func:`render_task_messages` never raises for one message,
it reports the failing tasks; :func:`store_messages` inserts the rendered rows and their audit events.
:func:`enqueue_task_messages` is both at once, raising on the first failure (the bulk variant of
:func:`notifications.messages.enqueue_task_message`).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session, select

from core.audit import record_audits
from core.bulk import insert_rows, new_ids
from models.agency import AgencyUnit
from models.base import utcnow
from models.case import Case, PathwayRun
from models.child import Child
from models.notification import DeliveryStatus, Notification
from models.policy import load_policy
from models.task import AgencyTask
from notifications.messages import describe_outcome, message_key, task_message_context
from notifications.render import assert_no_personal_data, render_message


@dataclass(frozen=True)
class TaskMessage:
    """One message :func:`enqueue_task_messages` is asked to store (the arguments of
    :func:`notifications.messages.enqueue_task_message`)."""

    task: AgencyTask
    event: str
    recipient_unit: str | None = None
    role: str = "officer"
    outcome_summary: str = ""
    occasion: str | None = None


@dataclass
class Rendered:
    """What :func:`render_task_messages` made of a list of :class:`TaskMessage`.

    Attributes:
        rows: by task id, the ``notification`` rows of its messages (dicts of column values, ``id`` new), in the
            order asked, each idempotency key once.
        occasions: by notification row id, the message's ``occasion`` (the sweep's rung name).
        failed: by task id, the exception that rendering one of its messages raised (then none of that task's
            messages is in ``rows``).
    """

    rows: dict[uuid.UUID, list[dict]] = field(default_factory=dict)
    occasions: dict[uuid.UUID, str | None] = field(default_factory=dict)
    failed: dict[uuid.UUID, Exception] = field(default_factory=dict)


def insert_ignoring_conflicts(session: Session, table: sa.Table, rows: list[dict], conflict: list[str],
                              returning: list[str]) -> list[sa.Row]:
    """Insert ``rows`` into ``table`` in bulk (:func:`core.bulk.insert_rows`: one statement on PostgreSQL),
    skipping those that clash with a unique index on ``conflict`` (``ON CONFLICT DO NOTHING``, PostgreSQL and
    SQLite); returns ``returning`` of the rows actually inserted. Concurrent writers of the same key: exactly one
    inserts it, the others get nothing back."""
    return insert_rows(session, table, rows, conflict=conflict, returning=returning)


def render_task_messages(session: Session, messages: list[TaskMessage]) -> Rendered:
    """Render every message (same keys, texts and privacy check as :func:`notifications.messages.enqueue_task_message`)
    without writing anything; a task one of whose messages fails to render is reported in ``failed``, not raised.

    The tasks' pathway runs, cases, children and units are read with one query each for the whole list (the
    caller bounds the list: the sweeper passes one batch).
    """
    result = Rendered()
    if not messages:
        return result
    tasks = {m.task.id: m.task for m in messages}.values()
    # kept referenced while rendering: the session's identity map holds its objects weakly
    runs = _preload(session, PathwayRun, {t.pathway_run_id for t in tasks} - {None})
    cases = _preload(session, Case, {t.case_id for t in tasks} - {None})
    children = _preload(session, Child, {c.child_id for c in cases.values()})
    units = _preload(session, AgencyUnit, {t.unit_code for t in tasks}, AgencyUnit.code)
    children_by_case = {case_id: children.get(c.child_id) for case_id, c in cases.items()}
    seen: set[str] = set()
    now = utcnow()
    ids = iter(new_ids(len(messages)))
    policy = load_policy()
    for m in messages:
        task = m.task
        if task.id in result.failed:
            continue
        recipient = m.recipient_unit or task.unit_code
        key = message_key(task, m.event, recipient, m.occasion)
        if key in seen:
            continue
        try:
            summary = m.outcome_summary
            if m.event == "task_answered" and task.outcome and task.pathway_run_id is not None:
                summary = "；".join(filter(None, [summary, describe_outcome(session, task)]))
            unit = units.get(task.unit_code)
            preloaded = {PathwayRun: runs.get(task.pathway_run_id), Case: cases.get(task.case_id), AgencyUnit: unit}
            message = render_message(task_message_context(session, task, m.event, role=m.role,
                                                          outcome_summary=summary, policy=policy, rows=preloaded))
            child = children_by_case.get(task.case_id)
            if child is not None:
                for text in (message.subject, message.body):
                    assert_no_personal_data(text, child_name=child.full_name, resident_id=child.resident_id)
        except Exception as exc:  # one task's failure is reported, the others' messages are still rendered
            result.failed[task.id] = exc
            for row in result.rows.pop(task.id, []):
                seen.discard(row["idempotency_key"])
                result.occasions.pop(row["id"], None)
            continue
        seen.add(key)
        row = {"id": next(ids), "idempotency_key": key, "event": m.event, "case_id": task.case_id,
               "task_id": task.id, "unit_code": recipient, "recipient_role": m.role,
               "subject": message.subject, "body": message.body, "status": DeliveryStatus.pending,
               "attempts": 0, "last_error": "", "delivery": [], "created_at": now}
        result.rows.setdefault(task.id, []).append(row)
        result.occasions[row["id"]] = m.occasion
    del runs, units
    return result


def store_messages(session: Session, rows: list[dict]) -> list[uuid.UUID]:
    """Insert rendered ``notification`` rows (:attr:`Rendered.rows`) with ``ON CONFLICT DO NOTHING`` on the
    idempotency key (a message another writer stored meanwhile is skipped, not duplicated), and a
    ``notification.queued`` audit event for each row stored; returns the ids stored. Nothing is committed here."""
    if not rows:
        return []
    inserted = insert_ignoring_conflicts(session, Notification.__table__, rows, ["idempotency_key"],
                                         ["id", "idempotency_key"])
    stored = {row.id for row in inserted}
    record_audits(session, [
        {"actor": "careflow", "action": "notification.queued", "entity_type": "notification", "entity_id": row["id"],
         "case_id": row["case_id"], "detail": {"event": row["event"], "unit": row["unit_code"]}}
        for row in rows if row["id"] in stored])
    return [row["id"] for row in rows if row["id"] in stored]


def enqueue_task_messages(session: Session, messages: list[TaskMessage]) -> list[uuid.UUID]:
    """Bulk variant of :func:`notifications.messages.enqueue_task_message` (same keys, texts, privacy check and
    audit event): store each message once; returns the ids of the messages stored by this call (not those
    stored before). Nothing is committed here.

    Raises:
        PersonalDataLeak: a rendered text holds the child's name or ID number (nothing is stored); any other
            rendering error likewise (the first, in the order of ``messages``).
    """
    rendered = render_task_messages(session, messages)
    if rendered.failed:
        first = next(m.task.id for m in messages if m.task.id in rendered.failed)
        raise rendered.failed[first]
    return store_messages(session, [row for rows in rendered.rows.values() for row in rows])


def _preload(session: Session, model, keys: set, column=None) -> dict:
    """Load the rows of ``model`` with these keys into the session in one query (``session.get`` then needs
    no SQL); returns them by key. ``keys`` is bounded by the caller's batch."""
    if not keys:
        return {}
    column = column if column is not None else model.id
    found = session.exec(select(model).where(column.in_(list(keys)))).all()
    return {getattr(row, column.key): row for row in found}
