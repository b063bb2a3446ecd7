"""Agency tasks: opening a pathway step's task, and an agency's answers to it (DOMAIN.md §5).

This module is the one writer of ``agency_task.state`` (issue #15; ``tests/test_one_writer.py`` fails on any
other): one task at a time through :func:`transition_task`, many at once through :func:`move_tasks`.

Every function here takes the caller's session and leaves committing to it (``session_scope``),
so a change and its audit event are written together or not at all.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

import pendulum
import sqlalchemy as sa
from sqlmodel import Session, select

from careflow.answer_text import ACTOR_MAX_CHARS, REASON_MAX_CHARS, check_answer_text, validate_answer
from core.audit import record_audit, record_audits
from careflow.ladder import initial_next_rung_at
from careflow.reroute import next_attempt_unit, previous_attempt
from careflow.routing import resolve_unit
from models.agency import AgencyUnit
from models.base import utcnow
from models.case import Case, PathwayRun
from models.child import Child
from models.audit import AuditEvent
from models.deadlines import compute_deadline, format_local
from models.pathways import PathwayStep
from models.policy import load_policy
from models.task import OPEN_STATE_VALUES, TRANSITIONS, AgencyTask, InvalidTransition, TaskState, check_transition


class TaskNotFound(LookupError):
    """No task matches the reference (or, for a unit, none of that unit's tasks)."""


def step_of(pathway: str, step_key: str) -> PathwayStep:
    """The policy's definition of a pathway step (raises KeyError naming both)."""
    return load_policy().pathways[pathway].step(step_key)


def open_step_task(
    session: Session,
    *,
    pathway_run_id: uuid.UUID,
    step_key: str,
    agency_type: str | None = None,
    attempt: int = 1,
    urgent: bool = False,
    now: datetime | None = None,
) -> AgencyTask:
    """The task for one step of a pathway run, created on first call and found on every later one.

    The unit is resolved from the child's residence area (:func:`careflow.routing.resolve_unit`), unless the
    previous attempt was rejected naming a unit, or asking for more information (:mod:`careflow.reroute`);
    the deadline comes from the policy step (``urgent`` uses its ``urgent_deadline``, e.g. the 24 h
    medical referral of a high-risk screening). ``now`` defaults to the current time (UTC-aware).

    Raises:
        KeyError: unknown pathway or step. NoUnitForAgency: no unit covers the child's area.
    """
    run = session.get(PathwayRun, pathway_run_id)
    if run is None:
        raise LookupError(f"pathway run {pathway_run_id} does not exist")
    step = step_of(run.pathway, step_key)
    agency_type = agency_type or step.agencies[0]
    existing = _find_step_task(session, pathway_run_id, step_key, agency_type, attempt)
    if existing:
        return existing

    case = session.get(Case, run.case_id)
    # after a rejection, the unit it named or the caseworker chose, or the same unit for more information
    rerouted = next_attempt_unit(previous_attempt(session, run.id, step_key, agency_type, attempt)) \
        if attempt > 1 else None
    unit = session.get(AgencyUnit, rerouted) if rerouted else \
        resolve_unit(session, agency_type, routing_area(session, run, step),
                     level=step.level or load_policy().agency(agency_type).level)
    start = pendulum.instance(now or utcnow())
    rule = step.urgent_deadline if urgent and step.urgent_deadline else step.deadline
    deadline = compute_deadline(start, rule)
    ack_due = compute_deadline(start, step.ack_deadline).due_at if step.ack_deadline else None
    task = AgencyTask(
        case_id=case.id, pathway_run_id=run.id, step_key=step_key, attempt=attempt,
        agency_type=agency_type, unit_code=unit.code, jurisdiction_code=unit.jurisdiction_code,
        title=step.title_zh, requested_at=start, ack_due_at=ack_due, due_at=deadline.due_at,
        due_provisional=deadline.provisional, deadline_text=str(rule),
    )
    task.next_rung_at = initial_next_rung_at(task, case.county_code, start)  # the sweeper's index (escalation.py)
    try:
        with session.begin_nested():
            session.add(task)
    except sa.exc.IntegrityError:  # created meanwhile by a concurrent run of the same step
        return _find_step_task(session, pathway_run_id, step_key, agency_type, attempt)
    record_audit(
        session, actor="careflow", action="task.requested", entity_type="task", entity_id=task.id,
        case_id=case.id, reason=f"{run.pathway}: {step.title_zh}",
        detail={"unit": unit.code, "due_at": deadline.due_at.isoformat(), "provisional": deadline.provisional,
                "rule": str(rule), "attempt": attempt},
    )
    return task


def routing_area(session: Session, run: PathwayRun, step: PathwayStep) -> str:
    """The area code a step is routed by: the child's residence (village, township or county code), or
    for ``jurisdiction_basis: emergency_place`` the ``emergency_area_code`` the pathway was started with
    (临时救助 is given where the emergency happens, 方案 六).

    Raises:
        ValueError: an emergency-place step on a run started without ``emergency_area_code``.
    """
    if step.jurisdiction_basis == "emergency_place":
        code = str(run.parameters.get("emergency_area_code", "")).strip()
        if not code:
            raise ValueError("field 'emergency_area_code': the place of the emergency is needed to route "
                             f"step {step.key!r}")
        return code
    child = session.get(Child, session.get(Case, run.case_id).child_id)
    if step.jurisdiction_basis == "registration_place":
        return child.hukou_county_code
    return child.residence_area_code or child.residence_county_code


def _find_step_task(session, pathway_run_id, step_key, agency_type, attempt) -> AgencyTask | None:
    return session.exec(
        select(AgencyTask).where(
            AgencyTask.pathway_run_id == pathway_run_id, AgencyTask.step_key == step_key,
            AgencyTask.agency_type == agency_type, AgencyTask.attempt == attempt,
        )
    ).first()


def find_task(session: Session, ref: str, unit_code: str | None = None) -> AgencyTask:
    """The task whose id starts with ``ref`` (at least 4 hex characters), optionally within a unit.

    Raises:
        TaskNotFound: no match, or several (the message lists them).
    """
    ref = ref.strip().lower().replace("-", "")
    if len(ref) < 4 or any(c not in "0123456789abcdef" for c in ref):
        raise TaskNotFound(f"task reference {ref!r}: give at least 4 hex characters of the task id")
    query = select(AgencyTask)
    if unit_code:
        query = query.where(AgencyTask.unit_code == unit_code)
    if len(ref) == 32:
        query = query.where(AgencyTask.id == uuid.UUID(ref))
    matches = [t for t in session.exec(query).all() if t.id.hex.startswith(ref)]
    if not matches:
        scope = f" for unit {unit_code!r}" if unit_code else ""
        raise TaskNotFound(f"no task {ref!r}{scope}")
    if len(matches) > 1:
        raise TaskNotFound(f"task reference {ref!r} is ambiguous: {', '.join(t.short_ref for t in matches)}")
    return matches[0]


def _open_of(unit_code: str):
    return (AgencyTask.unit_code == unit_code, AgencyTask.state.in_(OPEN_STATE_VALUES))


def list_open_tasks(session: Session, unit_code: str, *, limit: int | None = None,
                    after: AgencyTask | None = None) -> list[AgencyTask]:
    """A unit's open tasks (requested, acknowledged, in progress), soonest deadline first (ties by id).

    ``limit`` rows at most; ``after``: only the tasks that come after this one in that order (the next page,
    by keyset on ``(due_at, id)`` through the partial index ``ix_agency_task_open_unit_due``).
    """
    query = select(AgencyTask).where(*_open_of(unit_code))
    if after is not None:
        query = query.where(sa.tuple_(AgencyTask.due_at, AgencyTask.id)
                            > sa.tuple_(sa.literal(after.due_at, AgencyTask.due_at.type),
                                        sa.literal(after.id, AgencyTask.id.type)))
    query = query.order_by(AgencyTask.due_at, AgencyTask.id)
    return list(session.exec(query.limit(limit) if limit else query).all())


def count_open_tasks(session: Session, unit_code: str) -> int:
    """How many open tasks the unit holds (one ``COUNT`` on the partial index)."""
    return session.exec(select(sa.func.count()).select_from(AgencyTask).where(*_open_of(unit_code))).one()


#: What an answer did, as the "already … by X at T" message says it (DOMAIN.md §5).
STATE_VERB_ZH = {
    TaskState.acknowledged: "签收", TaskState.in_progress: "开始办理", TaskState.completed: "办结",
    TaskState.rejected: "退回", TaskState.cancelled: "撤销", TaskState.expired: "标记为逾期失效",
}



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
        who_when = " ".join(filter(None, [f"由 {by}" if by else "",
                                          f"于 {format_local(at)}（北京时间）" if at is not None else ""]))
        super().__init__(f"该任务已{who_when}{STATE_VERB_ZH.get(self.state, self.state.value)}，"
                         "您的答复未保存，请刷新后查看")


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
    actor = actor.strip()
    reason = reason.strip()
    if not actor:
        raise ValueError("答复人（actor）必填：请写明由谁答复")
    if len(actor) > ACTOR_MAX_CHARS:
        raise ValueError(f"答复人（actor）不能超过{ACTOR_MAX_CHARS}个字（现有{len(actor)}个字）")
    if target == TaskState.rejected and not reason:
        raise ValueError("退回原因（reason）必填：退回任务须说明原因")
    if len(reason) > REASON_MAX_CHARS:
        raise ValueError(f"原因（reason）不能超过{REASON_MAX_CHARS}个字（现有{len(reason)}个字）")
    if target == TaskState.completed:
        outcome = validate_answer(session, task, outcome or {})
    if target.is_answer:
        check_answer_text(session, task, reason=reason if target == TaskState.rejected else "",
                          outcome=outcome if target == TaskState.completed else None)
    if task not in session:
        session.add(task)
    for _ in range(len(TaskState) + 1):  # each lost round means the state moved on; it cannot move forever
        current = TaskState(task.state)
        if target not in TRANSITIONS.get(current, frozenset()):
            if _is_replay(task, target, reason, outcome):
                return task
            if current != TaskState.requested:  # someone else's answer is stored
                raise conflict_for(session, task)
            check_transition(current, target)  # raises InvalidTransition naming both states
        values: dict = {"state": target}
        if target in (TaskState.acknowledged, TaskState.in_progress, TaskState.completed) \
                and task.acknowledged_at is None:
            values["acknowledged_at"] = now
        if target == TaskState.completed:
            values["outcome"] = outcome
        if target.is_answer:
            values.update(answered_at=now, answered_by=actor,
                          rejection_reason=reason if target == TaskState.rejected else "")
        changed = session.execute(
            sa.update(AgencyTask).where(AgencyTask.id == task.id, AgencyTask.state == current).values(**values)
            .execution_options(synchronize_session=False)).rowcount
        session.refresh(task)  # what is stored now: this answer, or the one that got there first
        if changed == 1:
            break
    else:  # pragma: no cover - the state only moves forward through a finite graph
        raise RuntimeError(f"task {task.short_ref}: its state kept changing while answering")
    if target.is_answer and task.pathway_run_id is not None:  # a dated duty has no flow run waiting for it
        session.execute(
            sa.update(PathwayRun).where(PathwayRun.id == task.pathway_run_id)
            .values(resume_pending=True, answer_seq=PathwayRun.answer_seq + 1)
            .execution_options(synchronize_session=False))
        run = session.get(PathwayRun, task.pathway_run_id)
        session.expire(run, ["resume_pending", "answer_seq"])
    record_audit(
        session, actor=actor, action=f"task.{target.value}", entity_type="task", entity_id=task.id,
        case_id=task.case_id, reason=reason,
        detail={"from": current.value, "outcome": outcome or {}, "step": task.step_key, "unit": task.unit_code},
    )
    return task


#: Task ids one UPDATE of :func:`move_tasks` names at most (PostgreSQL's driver takes 65,535 parameters).
MOVE_BATCH = 5_000


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
    sources = [TaskState(s) for s in from_states] if from_states is not None else \
        [s for s, targets in TRANSITIONS.items() if to_state in targets]
    for source in sources:
        check_transition(source, to_state)
    states = sorted(s.value for s in sources)
    sets: dict = {"state": to_state.value, **({"outcome": outcome} if outcome is not None else {})}
    if to_state == TaskState.completed:
        sets["acknowledged_at"] = sa.func.coalesce(AgencyTask.acknowledged_at, now)
    if to_state.is_answer:
        sets.update(answered_at=now, answered_by=actor.strip()[:ACTOR_MAX_CHARS])
    sets.update(values or {})
    session.flush()
    columns = (AgencyTask.id, AgencyTask.state, AgencyTask.case_id, AgencyTask.step_key, AgencyTask.duty_key,
               AgencyTask.unit_code)
    if isinstance(tasks, sa.Select):
        found = session.execute(sa.select(*columns).where(AgencyTask.id.in_(tasks), AgencyTask.state.in_(states)))
        rows = [tuple(row) for row in found]
    else:
        ids = list(dict.fromkeys(tasks))
        rows = [tuple(row) for i in range(0, len(ids), MOVE_BATCH) for row in session.execute(
            sa.select(*columns).where(AgencyTask.id.in_(ids[i:i + MOVE_BATCH]), AgencyTask.state.in_(states)))]
    moved: list[uuid.UUID] = []
    for i in range(0, len(rows), MOVE_BATCH):
        before = {row[0]: row[1:] for row in rows[i:i + MOVE_BATCH]}
        changed = session.execute(
            sa.update(AgencyTask).where(AgencyTask.id.in_(list(before)), AgencyTask.state.in_(states))
            .values(**sets).returning(AgencyTask.id).execution_options(synchronize_session=False)).scalars().all()
        record_audits(session, [
            dict(actor=actor, action=f"task.{to_state.value}", entity_type="task", entity_id=task_id,
                 case_id=before[task_id][1], reason=reason,
                 detail={"from": str(before[task_id][0]), "outcome": outcome or {}, "step": before[task_id][2],
                         **({"duty_key": before[task_id][3]} if before[task_id][3] else {}),
                         "unit": before[task_id][4], **(detail or {})})
            for task_id in sorted(changed, key=str)])
        moved += changed
    if moved:
        moved_set = set(moved)
        for obj in list(session.identity_map.values()):
            if isinstance(obj, AgencyTask) and obj.id in moved_set:
                session.expire(obj)
    return moved
