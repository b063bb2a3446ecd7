"""A key care file's life after it is opened (方案 一（二）): the child director's contacts and home visits recorded
(:func:`record_contact`, :func:`complete_duty`), files closed with their open duties cancelled (:func:`close_files`),
reopened (:func:`reopen_file`), and found by reference, child id or ID number (:func:`find_file`). Files are opened
by :mod:`careflow.key_care` (any door) and the survey (:mod:`careflow.survey.round_consequences`). The duties they
settle or open are scheduled by :mod:`careflow.survey.duties`; task states are written by
:func:`careflow.tasks.move_tasks`.
"""
from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from core.audit import record_audit
from careflow.survey.duties import BATCH_FILES, ensure_duties, file_duties
from careflow.survey.duty_calendar import month_period, today_local
from careflow.tasks import conflict_for, move_tasks
from models.audit import AuditEvent
from models.base import utcnow
from models.child import Child, resident_id_is
from models.dated_duties import ContactKind
from models.errors import FieldLookupError, FieldProblem, FieldValueError
from models.key_care_files import (
    CareContact, FileStatus, KeyCareDuty, KeyCareFile, file_reference, parse_file_reference,
)
from models.resident_id import InvalidResidentID, mask_resident_id, normalize_resident_id
from models.task import OPEN_STATES, AgencyTask, InvalidTransition, TaskState


def cancel_duties(session: Session, file: KeyCareFile, reason: str, *, actor: str = "careflow",
                  now: datetime.datetime | None = None) -> int:
    """Cancel every open duty of ``file`` with ``reason`` (kept in the outcome and the audit trail), leaving the file
    as it is; returns how many. ORM objects loaded in ``session`` are expired."""
    session.flush()
    cancelled = _cancel_open_duties(session, {file.id: reason}, actor=actor)
    session.expire_all()
    return cancelled


def close_file(session: Session, file: KeyCareFile, reason: str, *, today: datetime.date,
               actor: str = "careflow", now: datetime.datetime | None = None) -> int:
    """Close a key care file (the child is no longer a key care target) and cancel its open duties
    (:func:`close_files`); returns how many duties were cancelled. A closed file is left as it is."""
    session.flush()  # a file just added gets its id
    return close_files(session, {file.id: reason}, today=today, actor=actor, now=now)


def close_files(session: Session, reasons: dict[int, str], *, today: datetime.date, actor: str = "careflow",
                now: datetime.datetime | None = None) -> int:
    """Close the key care files of ``reasons`` (file id → why: the child is no longer a key care target) and cancel
    their open duties; returns how many duties were cancelled. Files already closed are left as they are.

    The reason is the file's ``close_reason``, each cancelled duty's outcome ``{"cancel_reason": …}``, and the
    reason of the audit events (``key_care_file.closed`` per file, ``task.cancelled`` per duty). Set-based, per
    :data:`BATCH_FILES` files: a later survey round closes hundreds of files at once (one by one through the ORM
    that took 5 ms a file). Each UPDATE names the state it expects (an active file, an open duty) and only the rows it
    changed are audited, so a duty completed meanwhile by another transaction stays completed. ORM objects already
    loaded in ``session`` are expired, so they are read afresh.
    """
    now = now or utcnow()
    session.flush()
    conn = session.connection()
    ids = sorted(reasons)
    cancelled = 0
    for start in range(0, len(ids), BATCH_FILES):
        groups: dict[str, list[int]] = {}
        for file_id in ids[start:start + BATCH_FILES]:
            groups.setdefault(reasons[file_id], []).append(file_id)
        closed: list[int] = []
        for reason, file_ids in groups.items():
            closed += conn.execute(
                sa.update(KeyCareFile)
                .where(KeyCareFile.id.in_(file_ids), KeyCareFile.status == FileStatus.active.value)
                .values(status=FileStatus.closed.value, closed_on=today, close_reason=reason[:300], updated_at=now)
                .returning(KeyCareFile.id)).scalars().all()
        if not closed:
            continue
        conn.execute(sa.insert(AuditEvent.__table__), [
            dict(at=utcnow(), actor=actor, action="key_care_file.closed", entity_type="key_care_file",
                 entity_id=str(file_id), case_id=None, reason=reasons[file_id],
                 detail={"file": file_reference(file_id)}) for file_id in sorted(closed)])
        cancelled += _cancel_open_duties(session, {file_id: reasons[file_id] for file_id in closed}, actor=actor)
    session.expire_all()
    return cancelled


def _cancel_open_duties(session: Session, reasons: dict[int, str], *, actor: str) -> int:
    """Cancel the open duties of the files of ``reasons`` (file id → why; at most :data:`BATCH_FILES`), each with
    the outcome ``{"cancel_reason": why}`` and a ``task.cancelled`` audit event (:func:`careflow.tasks.move_tasks`,
    one UPDATE per reason); returns how many."""
    groups: dict[str, list[int]] = {}
    for file_id, reason in reasons.items():
        groups.setdefault(reason, []).append(file_id)
    cancelled = 0
    for reason, file_ids in groups.items():
        duties = sa.select(KeyCareDuty.task_id).where(KeyCareDuty.file_id.in_(file_ids))
        cancelled += len(move_tasks(session, duties, TaskState.cancelled, actor=actor, reason=reason,
                                    outcome={"cancel_reason": reason}))
    return cancelled


def reopen_file(session: Session, file: KeyCareFile, criteria: list[str], *, today: datetime.date,
                actor: str = "careflow", now: datetime.datetime | None = None, reason: str = "") -> None:
    """Reopen a closed file for a child who is a key care target again (its duties start afresh)."""
    now = now or utcnow()
    file.status, file.closed_on, file.close_reason = FileStatus.active.value, None, ""
    file.criteria, file.opened_on, file.updated_at = sorted(criteria), today, now
    file.last_visit_on = None  # the visit rhythm restarts from the reopening
    session.add(file)
    record_audit(session, actor=actor, action="key_care_file.reopened", entity_type="key_care_file",
                 entity_id=file.id, reason=reason, detail={"file": file.reference, "criteria": sorted(criteria)})


class FileNotFound(FieldLookupError):
    """No key care file matches (the message names what was looked for, with an ID number masked)."""


def find_file(session: Session, ref: str) -> KeyCareFile:
    """The file of ``ref``: a file reference (``KF-0000123``), a child id (UUID) or the child's ID number.

    Raises:
        FileNotFound: nothing matches.
    """
    text = str(ref).strip()
    file_id = parse_file_reference(text)
    if file_id is not None:
        found = session.get(KeyCareFile, file_id)
        if found:
            return found
        raise FileNotFound("child", "problem.no_care_file", ref=text)
    try:
        child_id = uuid.UUID(text)
    except ValueError:
        child_id = None
    if child_id is None:
        try:
            rid = normalize_resident_id(text)
        except InvalidResidentID:
            raise FileNotFound("child", "problem.not_file_child_or_id", value=text) from None
        child = session.exec(select(Child).where(resident_id_is(Child.resident_id, rid))).first()
        if child is None:
            raise FileNotFound("child", "problem.no_child_with_id", masked=mask_resident_id(rid))
        child_id = child.id
    found = session.exec(select(KeyCareFile).where(KeyCareFile.child_id == child_id)).first()
    if found is None:
        raise FileNotFound("child", "problem.child_not_key_care", child_id=child_id)
    return found


@dataclass
class ContactResult:
    """What :func:`record_contact` did: the log entry, the duties completed and the duties opened next."""

    file: KeyCareFile
    contact: CareContact
    completed: list[AgencyTask]
    opened: list[tuple[uuid.UUID, str]]
    unrouted: dict[str, int]


def record_contact(
    session: Session,
    ref: str,
    kind: ContactKind | str,
    *,
    actor: str,
    on: datetime.date | None = None,
    note: str = "",
    now: datetime.datetime | None = None,
) -> ContactResult:
    """Record a contact or home visit by the child director and move the duties on (module docstring).

    Args:
        ref: the file reference, child id or ID number (:func:`find_file`).
        kind: ``contact`` or ``visit``.
        actor: who made it (the child director's login); required.
        on: the day it happened (default today, Asia/Shanghai); not in the future.
        note: free text (kept in the log, never sent in messages).

    Raises:
        FileNotFound: no file. ValueError: a closed file, an unknown kind, no actor, a date in the future or
        before the file opened (the message names the field).
    """
    now = now or utcnow()
    today = today_local(now)
    kind = ContactKind(kind) if kind in ContactKind._value2member_map_ else None
    if kind is None:
        raise FieldValueError("kind", "problem.contact_kind")
    actor = actor.strip()
    if not actor:
        raise FieldValueError("actor", "problem.actor_missing")
    on = on or today
    if on > today:
        raise FieldValueError("on", "problem.date_in_future", value=on)
    file = find_file(session, ref)
    if file.status != FileStatus.active.value:
        raise FieldValueError("child", "problem.care_file_closed", file=file.reference, reason=file.close_reason)
    if on < file.opened_on:
        raise FieldValueError("on", "problem.before_file_opened", value=on, opened=file.opened_on)
    contact = CareContact(file_id=file.id, kind=kind.value, contact_on=on, recorded_by=actor[:64], note=note[:500],
                          recorded_at=now)
    completed = _settle_duties(session, file, contact, kind, on, actor=actor, now=now)
    _log_contact(session, file, contact, kind, on, completed, actor=actor, now=now)
    plan = ensure_duties(session, [file.id], today=max(on, today), now=now, actor=actor)
    return ContactResult(file=file, contact=contact, completed=completed, opened=plan.created,
                         unrouted=plan.unrouted)


def _settle_duties(session: Session, file: KeyCareFile, contact: CareContact, kind: ContactKind,
                   on: datetime.date, *, actor: str, now: datetime.datetime) -> list[AgencyTask]:
    """Complete the open duties a contact or visit on ``on`` settles (every contact due up to ``on``'s month — a
    visit is also that month's contact — and, for a visit, the open visit duty), each marked ``late`` or not;
    ``contact`` is linked to the duty of its own kind (else the first settled). Returns the duties completed.

    Raises:
        AnswerConflict: a duty was completed meanwhile by another transaction (issue #16).
    """
    completed: list[AgencyTask] = []
    month = month_period(on)
    settled: dict[bool, list[AgencyTask]] = {}  # late or not → the duties this contact completes
    for task, duty in file_duties(session, file.id):
        if duty.kind == ContactKind.contact.value and duty.period <= month:
            late = duty.period < month
        elif duty.kind == ContactKind.visit.value and kind == ContactKind.visit:
            late = on > datetime.date.fromisoformat(duty.period)
        else:
            continue
        settled.setdefault(late, []).append(task)
        completed.append(task)
        if contact.task_id is None or duty.kind == kind.value:
            contact.task_id = task.id
    for late, tasks in settled.items():  # conditional (issue #16): of two concurrent completions, one is stored
        moved = set(move_tasks(session, [t.id for t in tasks], TaskState.completed, actor=actor,
                               reason=f"{kind.value} on {on}", from_states=OPEN_STATES, now=now,
                               outcome={"contact_on": on.isoformat(), "kind": kind.value, "late": late}))
        for task in tasks:
            session.refresh(task)
            if task.id not in moved:
                raise conflict_for(session, task)
    return completed


def _log_contact(session: Session, file: KeyCareFile, contact: CareContact, kind: ContactKind, on: datetime.date,
                 completed: list[AgencyTask], *, actor: str, now: datetime.datetime) -> None:
    """The file's last contact (and, for a visit, last visit) moved to ``on`` if later, the contact kept in the log,
    audited ``key_care_file.contact`` / ``.visit`` naming the duties it completed."""
    if file.last_contact_on is None or on > file.last_contact_on:
        file.last_contact_on = on  # a home visit is also that month's contact
    if kind == ContactKind.visit and (file.last_visit_on is None or on > file.last_visit_on):
        file.last_visit_on = on
    file.updated_at = now
    session.add(file)
    session.add(contact)
    record_audit(session, actor=actor, action=f"key_care_file.{kind.value}", entity_type="key_care_file",
                 entity_id=file.id, reason=f"{kind.value} on {on}",
                 detail={"file": file.reference, "completed": [t.duty_key for t in completed]})
    session.flush()


def complete_duty(session: Session, task: AgencyTask, *, actor: str, outcome: dict | None = None,
                  now: datetime.datetime | None = None) -> ContactResult:
    """A contact or visit duty completed as a task (the web inbox, ``careflow task complete``) is the contact or
    visit it asks for: recorded as :func:`record_contact` records it, so the duties it settles are completed and the
    next one is scheduled — never a completed duty with no next one.

    ``outcome`` (:data:`models.dated_duties.KEY_CARE_DUTY_OUTCOME`): ``contact_on``, the day it happened as
    ``YYYY-MM-DD`` (default today, Asia/Shanghai), and ``note``.

    Raises:
        LookupError: ``task`` is no contact or visit duty. AnswerConflict (an InvalidTransition): the task is no
            longer open, or was completed meanwhile by someone else (the message says who and when).
        ValueError (naming the field): a date that is not one, in the future, before the file opened, or — for a
        month's contact — before that month; a closed file. Nothing is written then.
    """
    duty = session.get(KeyCareDuty, task.id)
    if duty is None:
        raise FieldLookupError("task", "problem.not_care_duty", task=task.short_ref)
    if not TaskState(task.state).is_open:  # answered before: say by whom and when (AnswerConflict)
        raise conflict_for(session, task)
    outcome = outcome or {}
    for name in outcome:
        if name not in ("contact_on", "note"):
            raise FieldValueError(name, "problem.not_duty_answer_field")
    on_text = str(outcome.get("contact_on") or "").strip()
    on = None
    if on_text:
        try:
            on = datetime.date.fromisoformat(on_text)
        except ValueError:
            raise FieldValueError("contact_on", "problem.not_a_date", value=on_text) from None
    day = on or today_local(now or utcnow())
    if duty.kind == ContactKind.contact.value and month_period(day) < duty.period:
        raise FieldValueError("contact_on", "problem.contact_outside_month", value=day, period=duty.period)
    try:
        result = record_contact(session, file_reference(duty.file_id), duty.kind, actor=actor, on=on,
                                note=str(outcome.get("note") or ""), now=now)
    except ValueError as exc:  # the day is this answer's contact_on
        if isinstance(exc, InvalidTransition):  # completed meanwhile by someone else: said as it is
            raise
        if isinstance(exc, FieldProblem) and exc.field == "on":
            raise FieldValueError("contact_on", exc.key, **exc.values) from None
        raise
    if task not in result.completed:
        session.refresh(task)
        if not TaskState(task.state).is_open:  # completed by someone else before this answer read the file's duties
            raise conflict_for(session, task)
        # record_contact's rule and this one disagree: write nothing
        raise RuntimeError(f"recording the {duty.kind} on {day} did not complete duty {task.duty_key}")
    return result
