"""Agency tasks' states: an agency's answer to one task, and many tasks moved at once (DOMAIN.md §5).

This module is the one writer of ``agency_task.state`` (issue #15; ``tests/test_one_writer.py`` fails on any
other): one task at a time through :func:`transition_task`, many at once through :func:`move_tasks`. Every change is
conditional on the state read (the expected state is in the ``UPDATE``'s ``WHERE``), so of two concurrent answers
exactly one is stored (issue #16), and each is audited as ``task.<state>``. Opening a step's task is
:mod:`careflow.step_tasks`'s; finding tasks, :mod:`careflow.task_lookup`'s.

Every function here takes the caller's session and leaves committing to it (``session_scope``),
so a change and its audit event are written together or not at all.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from core.i18n import LANGUAGES, gettext
from careflow.answer_text import ACTOR_MAX_CHARS, REASON_MAX_CHARS, check_answer_text, validate_answer
from core.audit import record_audit, record_audits
from models.audit import AuditEvent
from models.base import utcnow
from models.case import PathwayRun
from models.deadlines import format_local
from models.errors import FieldValueError
from models.task import TRANSITIONS, AgencyTask, InvalidTransition, TaskState, check_transition


class AnswerConflict(InvalidTransition):
    """Someone else answered the task first, with a different answer (issue #16: exactly one answer).

    A subclass of :class:`models.task.InvalidTransition` (a ``ValueError``), so every caller that maps the
    transition errors keeps working; entry points map this one to "conflict" (CLI exit 1, HTTP 409). The
    message is Chinese and says who and when, in Beijing time, e.g.
    ``该任务已由 民警陈强 于 2026-12-04 18:20（北京时间）办结，您的答复未保存``.

    Attributes: ``task`` (as stored now), ``by`` (who), ``at`` (UTC-aware, or None), ``state`` (stored state).
    """

    def __init__(self, task: AgencyTask, by: str, at: datetime | None):
        self.task, self.by, self.at, self.state = task, by, at, TaskState(task.state)
        super().__init__(self.text("zh"))

    def text(self, lang: str) -> str:
        """The message in ``lang`` (``zh``, ``en``: "This task has already been completed by … on … (Beijing
        time) …"), from the catalogues' ``task.conflict.*``."""
        parts = [gettext("task.conflict.by", lang, by=self.by) if self.by else "",
                 gettext("task.conflict.at", lang, at=format_local(self.at)) if self.at is not None else ""]
        who_when = " ".join(filter(None, parts))
        if who_when and lang == "en":  # "… been completed by X on T": after the verb, a space before it
            who_when = f" {who_when}"
        return gettext("task.conflict.answered", lang, who_when=who_when,
                       verb=gettext(f"task.conflict.verb.{self.state.value}", lang))


def _who_and_when(session: Session, task: AgencyTask) -> tuple[str, datetime | None]:
    """Who moved ``task`` to its stored state, and when: the answer's own fields, else its audit event."""
    state = TaskState(task.state)
    if state.is_answer and task.answered_by:
        return task.answered_by, task.answered_at
    event = session.exec(
        select(AuditEvent).where(AuditEvent.entity_id == str(task.id), AuditEvent.entity_type == "task",
                                 AuditEvent.action == f"task.{state.value}")
        .order_by(AuditEvent.id.desc()).limit(1)).first()
    if event is None:
        return "", task.answered_at
    return ("系统" if event.actor == "careflow" else event.actor), event.at


def conflict_for(session: Session, task: AgencyTask) -> AnswerConflict:
    """The :class:`AnswerConflict` for ``task`` as stored now (who moved it to its state, and when)."""
    by, at = _who_and_when(session, task)
    return AnswerConflict(task, by, at)


def _is_replay(task: AgencyTask, target: TaskState, reason: str, outcome: dict | None) -> bool:
    """The stored answer is this one: same state, and the same outcome (completed) or reason (rejected)."""
    if TaskState(task.state) != target:
        return False
    if target == TaskState.completed:
        return (task.outcome or {}) == (outcome or {})
    if target == TaskState.rejected:
        return task.rejection_reason == reason
    return True


def transition_task(
    session: Session,
    task: AgencyTask,
    target: TaskState,
    *,
    actor: str,
    reason: str = "",
    outcome: dict | None = None,
    now: datetime | None = None,
) -> AgencyTask:
    """Move ``task`` to ``target``, recording who, when and why as an audit event.

    The change is conditional: ``UPDATE agency_task … WHERE id = :id AND state = :expected`` (the state
    read), so of two concurrent answers exactly one is stored (issue #16). The other then reads what is
    stored: the very same answer again (same state, same outcome or reason — a double click, a retried
    request) is a replay and returns the stored task, writing nothing and no second audit row; a different
    one raises :class:`AnswerConflict` saying who answered and when. A move that is still allowed from the
    new state (an acknowledgement arrived between reading and completing) is simply made from there.

    A final answer (completed or rejected) also marks the pathway run ``resume_pending`` and bumps its
    ``answer_seq`` in SQL (``answer_seq = answer_seq + 1``, safe under concurrency) in the same
    transaction, so the answer is never lost if resuming the flow fails afterwards.

    Texts are checked before anything is written (:func:`check_answer_text`: lengths, control characters,
    no child's name or ID number) and ``actor`` must be 1-64 characters.

    Raises:
        AnswerConflict (an InvalidTransition): someone else answered differently first (Chinese, who and when).
        InvalidTransition: the move is not allowed from the task's state.
        ValueError: no actor, a rejection without a reason (field ``reason``), an outcome that does not match
            the step's outcome fields, a text refused by :func:`check_answer_text` (the message names the field).
    """
    now = now or utcnow()
    actor, reason = _checked_answerer(target, actor, reason)
    outcome = _checked_answer(session, task, target, reason, outcome)
    if task not in session:
        session.add(task)
    moved_from = _move_from_stored_state(session, task, target, actor=actor, reason=reason, outcome=outcome, now=now)
    if moved_from is None:  # this very answer was stored already: a replay writes nothing
        return task
    if target.is_answer and task.pathway_run_id is not None:  # a dated duty has no flow run waiting for it
        _mark_resume_pending(session, task.pathway_run_id)
    record_audit(
        session, actor=actor, action=f"task.{target.value}", entity_type="task", entity_id=task.id,
        case_id=task.case_id, reason=reason,
        detail={"from": moved_from.value, "outcome": outcome or {}, "step": task.step_key, "unit": task.unit_code},
    )
    return task


def _checked_answerer(target: TaskState, actor: str, reason: str) -> tuple[str, str]:
    """``actor`` and ``reason`` stripped: who answers is named (1-64 characters), a rejection says why, a reason is at
    most :data:`REASON_MAX_CHARS` characters.

    Raises:
        models.errors.FieldValueError (a ValueError) naming the field (答复人, 退回原因), in the reader's language.
    """
    actor, reason = actor.strip(), reason.strip()
    answerer = {lang: gettext("task.answered_by", lang) for lang in LANGUAGES}
    if not actor:
        raise FieldValueError("actor", "problem.answerer_missing", labels=answerer)
    if len(actor) > ACTOR_MAX_CHARS:
        raise FieldValueError("actor", "problem.too_long", labels=answerer, n=ACTOR_MAX_CHARS, have=len(actor))
    rejecting = {lang: gettext("task.reject_reason", lang) for lang in LANGUAGES} \
        if target == TaskState.rejected else None
    if target == TaskState.rejected and not reason:
        raise FieldValueError("reason", "problem.reject_reason_missing", labels=rejecting)
    if len(reason) > REASON_MAX_CHARS:
        raise FieldValueError("reason", "problem.too_long", labels=rejecting, n=REASON_MAX_CHARS, have=len(reason))
    return actor, reason


def _checked_answer(session: Session, task: AgencyTask, target: TaskState, reason: str,
                    outcome: dict | None) -> dict | None:
    """The outcome as stored: a completion's checked against its step's fields (:func:`validate_answer`); an answer's
    texts checked (:func:`check_answer_text`: the rejection's reason, the completion's outcome).

    Raises:
        ValueError: naming the field.
    """
    if target == TaskState.completed:
        outcome = validate_answer(session, task, outcome or {})
    if target.is_answer:
        check_answer_text(session, task, reason=reason if target == TaskState.rejected else "",
                          outcome=outcome if target == TaskState.completed else None)
    return outcome


def _move_from_stored_state(session: Session, task: AgencyTask, target: TaskState, *, actor: str, reason: str,
                            outcome: dict | None, now: datetime) -> TaskState | None:
    """Move ``task`` to ``target`` from the state stored now, by a conditional ``UPDATE`` (the state read in its
    ``WHERE``); ``task`` is refreshed to what is stored afterwards. Returns the state it moved from, or None when
    the stored answer is this very one (a replay).

    A round lost to a concurrent writer is tried again from the new state while the move is still allowed from it.

    Raises:
        AnswerConflict: someone else's different answer is stored. InvalidTransition: not allowed from the state.
    """
    for _ in range(len(TaskState) + 1):  # each lost round means the state moved on; it cannot move forever
        current = TaskState(task.state)
        if target not in TRANSITIONS.get(current, frozenset()):
            if _is_replay(task, target, reason, outcome):
                return None
            if current != TaskState.requested:  # someone else's answer is stored
                raise conflict_for(session, task)
            check_transition(current, target)  # raises InvalidTransition naming both states
        values = _answer_values(task, target, actor=actor, reason=reason, outcome=outcome, now=now)
        changed = session.execute(
            sa.update(AgencyTask).where(AgencyTask.id == task.id, AgencyTask.state == current).values(**values)
            .execution_options(synchronize_session=False)).rowcount
        session.refresh(task)  # what is stored now: this answer, or the one that got there first
        if changed == 1:
            return current
    raise RuntimeError(  # pragma: no cover - the state only moves forward through a finite graph
        f"task {task.short_ref}: its state kept changing while answering")


def _answer_values(task: AgencyTask, target: TaskState, *, actor: str, reason: str, outcome: dict | None,
                   now: datetime) -> dict:
    """The columns a move to ``target`` sets: the state; ``acknowledged_at`` the first time the agency takes the
    task up (acknowledging, starting or completing it); a completion's outcome; an answer's who, when and
    rejection reason."""
    values: dict = {"state": target}
    if target in (TaskState.acknowledged, TaskState.in_progress, TaskState.completed) \
            and task.acknowledged_at is None:
        values["acknowledged_at"] = now
    if target == TaskState.completed:
        values["outcome"] = outcome
    if target.is_answer:
        values.update(answered_at=now, answered_by=actor,
                      rejection_reason=reason if target == TaskState.rejected else "")
    return values


def _mark_resume_pending(session: Session, pathway_run_id: uuid.UUID) -> None:
    """The pathway run waits to be resumed with one answer more (``answer_seq + 1`` in SQL: safe under concurrency);
    the sweeper resumes it should resuming now fail (:mod:`careflow.resume`)."""
    session.execute(
        sa.update(PathwayRun).where(PathwayRun.id == pathway_run_id)
        .values(resume_pending=True, answer_seq=PathwayRun.answer_seq + 1)
        .execution_options(synchronize_session=False))
    session.expire(session.get(PathwayRun, pathway_run_id), ["resume_pending", "answer_seq"])


#: Task ids one UPDATE of :func:`move_tasks` names at most (PostgreSQL's driver takes 65,535 parameters).
MOVE_BATCH = 5_000

#: What :func:`move_tasks` reads of each task before moving it: its id, state, case, step, duty and unit.
_MOVE_COLUMNS = (AgencyTask.id, AgencyTask.state, AgencyTask.case_id, AgencyTask.step_key, AgencyTask.duty_key,
                 AgencyTask.unit_code)


def move_tasks(
    session: Session,
    tasks: Iterable[uuid.UUID] | sa.Select,
    to_state: TaskState,
    *,
    actor: str,
    reason: str = "",
    from_states: Iterable[TaskState] | None = None,
    outcome: dict | None = None,
    values: dict | None = None,
    detail: dict | None = None,
    now: datetime | None = None,
) -> list[uuid.UUID]:
    """Move many tasks to ``to_state`` at once, each only if it is still in one of ``from_states``; returns the ids
    of the tasks moved (the bulk variant of :func:`transition_task`, for the survey: cancelling a closed file's
    duties, an aged-out child's case tasks, completing a county's round duty).

    ``tasks``: task ids, or a ``SELECT`` of task ids. ``from_states`` default: every state the policy lets move to
    ``to_state`` (:data:`models.task.TRANSITIONS`); each given one is checked (:func:`models.task.check_transition`).
    Per :data:`MOVE_BATCH` tasks: ``UPDATE agency_task SET state = … WHERE id IN (…) AND state IN (…) RETURNING id``
    and one multi-row insert of the ``task.<to_state>`` audit events of the tasks it changed (detail: ``from``,
    ``outcome``, ``step``, ``duty_key``, ``unit``, ``detail``'s keys): a task answered meanwhile keeps its answer.

    ``outcome`` is stored as the tasks' outcome; ``values`` sets more columns (SQL expressions allowed, e.g.
    ``{"acknowledged_at": sa.func.coalesce(AgencyTask.acknowledged_at, now)}``). A final answer (completed or
    rejected) also sets ``answered_at`` (``now``, default the current time) and ``answered_by`` (``actor``, cut to 64
    characters); completing sets ``acknowledged_at`` where it is empty. Pathway runs waiting for the tasks are not
    resumed (survey duties have none). ORM objects of the moved tasks loaded in ``session`` are expired.

    Raises:
        InvalidTransition: a ``from_states`` state cannot move to ``to_state``.
    """
    to_state = TaskState(to_state)
    now = now or utcnow()
    states = _states_that_move(to_state, from_states)
    sets = _move_values(to_state, actor=actor, outcome=outcome, values=values, now=now)
    session.flush()
    rows = _tasks_still_in(session, tasks, states)
    moved: list[uuid.UUID] = []
    for i in range(0, len(rows), MOVE_BATCH):
        before = {row[0]: row[1:] for row in rows[i:i + MOVE_BATCH]}
        changed = session.execute(
            sa.update(AgencyTask).where(AgencyTask.id.in_(list(before)), AgencyTask.state.in_(states))
            .values(**sets).returning(AgencyTask.id).execution_options(synchronize_session=False)).scalars().all()
        record_audits(session, [_move_audit(task_id, before[task_id], to_state, actor=actor, reason=reason,
                                            outcome=outcome, detail=detail)
                                for task_id in sorted(changed, key=str)])
        moved += changed
    _expire_moved(session, moved)
    return moved


def _states_that_move(to_state: TaskState, from_states: Iterable[TaskState] | None) -> list[str]:
    """The state values a task may be in to be moved to ``to_state``: ``from_states``, each checked, or every state
    the policy lets move there.

    Raises:
        InvalidTransition: a given state cannot move to ``to_state``.
    """
    sources = [TaskState(s) for s in from_states] if from_states is not None else \
        [s for s, targets in TRANSITIONS.items() if to_state in targets]
    for source in sources:
        check_transition(source, to_state)
    return sorted(s.value for s in sources)


def _move_values(to_state: TaskState, *, actor: str, outcome: dict | None, values: dict | None,
                 now: datetime) -> dict:
    """The columns :func:`move_tasks` sets: the state, the outcome given, a completion's ``acknowledged_at`` where
    empty, an answer's who and when, then the caller's ``values``."""
    sets: dict = {"state": to_state.value, **({"outcome": outcome} if outcome is not None else {})}
    if to_state == TaskState.completed:
        sets["acknowledged_at"] = sa.func.coalesce(AgencyTask.acknowledged_at, now)
    if to_state.is_answer:
        sets.update(answered_at=now, answered_by=actor.strip()[:ACTOR_MAX_CHARS])
    sets.update(values or {})
    return sets


def _tasks_still_in(session: Session, tasks: Iterable[uuid.UUID] | sa.Select, states: list[str]) -> list[tuple]:
    """The :data:`_MOVE_COLUMNS` of the ``tasks`` (ids, or a ``SELECT`` of ids) now in one of ``states``."""
    if isinstance(tasks, sa.Select):
        found = session.execute(sa.select(*_MOVE_COLUMNS).where(AgencyTask.id.in_(tasks),
                                                                AgencyTask.state.in_(states)))
        return [tuple(row) for row in found]
    ids = list(dict.fromkeys(tasks))
    return [tuple(row) for i in range(0, len(ids), MOVE_BATCH) for row in session.execute(
        sa.select(*_MOVE_COLUMNS).where(AgencyTask.id.in_(ids[i:i + MOVE_BATCH]), AgencyTask.state.in_(states)))]


def _move_audit(task_id: uuid.UUID, before: tuple, to_state: TaskState, *, actor: str, reason: str,
                outcome: dict | None, detail: dict | None) -> dict:
    """The ``task.<to_state>`` audit event of one moved task; ``before``: its state, case, step, duty and unit."""
    state, case_id, step_key, duty_key, unit_code = before
    return dict(actor=actor, action=f"task.{to_state.value}", entity_type="task", entity_id=task_id,
                case_id=case_id, reason=reason,
                detail={"from": str(state), "outcome": outcome or {}, "step": step_key,
                        **({"duty_key": duty_key} if duty_key else {}), "unit": unit_code, **(detail or {})})


def _expire_moved(session: Session, moved: list[uuid.UUID]) -> None:
    """Expire the moved tasks' ORM objects loaded in ``session`` (their rows changed under them)."""
    if not moved:
        return
    moved_set = set(moved)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, AgencyTask) and obj.id in moved_set:
            session.expire(obj)
