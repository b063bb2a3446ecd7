"""Agency tasks: opening a pathway step's task, and an agency's answers to it (DOMAIN.md §5).

Every function here takes the caller's session and leaves committing to it (``session_scope``),
so a change and its audit event are written together or not at all.
"""
from __future__ import annotations

import uuid
from datetime import datetime

import pendulum
import sqlalchemy as sa
from sqlmodel import Session, select

from careflow.audit import record_audit
from careflow.routing import resolve_unit
from models.base import utcnow
from models.case import Case, PathwayRun
from models.child import Child
from models.deadlines import compute_deadline
from models.policy import PathwayStep, load_policy
from models.task import AgencyTask, TaskState, check_transition


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

    The unit is resolved from the child's residence area (:func:`careflow.routing.resolve_unit`);
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
    unit = resolve_unit(session, agency_type, routing_area(session, run, step),
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


def list_open_tasks(session: Session, unit_code: str) -> list[AgencyTask]:
    """A unit's open tasks (requested, acknowledged, in progress), soonest deadline first."""
    return list(
        session.exec(
            select(AgencyTask)
            .where(AgencyTask.unit_code == unit_code, AgencyTask.state.in_([s.value for s in TaskState if s.is_open]))
            .order_by(AgencyTask.due_at)
        ).all()
    )


def _validate_answer(session: Session, task: AgencyTask, outcome: dict) -> dict:
    """The outcome checked against the step's fields, or for a dated duty against the duty's fields."""
    if task.pathway_run_id is not None:
        run = session.get(PathwayRun, task.pathway_run_id)
        return step_of(run.pathway, task.step_key).validate_outcome(outcome)
    from models.policy import _validate_fields
    from models.service_list import describe_duty

    fields = describe_duty(task.duty_key or "", task.title).outcome
    if not fields:  # a duty with free-form notes (e.g. a child director's contact)
        return {k: str(v) for k, v in outcome.items()}
    return _validate_fields(fields, outcome, f"duty {task.step_key!r} outcome")


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

    A final answer (completed or rejected) also marks the pathway run ``resume_pending`` in the same
    transaction, so the answer is never lost if resuming the flow fails afterwards.

    Raises:
        InvalidTransition: the move is not allowed from the task's state.
        ValueError: a rejection without a reason (field ``reason``), or an outcome that does not
            match the step's outcome fields (the message names the field).
    """
    current = TaskState(task.state)
    check_transition(current, target)
    now = now or utcnow()
    actor = actor.strip()
    if not actor:
        raise ValueError("field 'actor': who answers must be named")
    if target == TaskState.rejected and not reason.strip():
        raise ValueError("field 'reason': a rejection needs a reason")
    if target == TaskState.completed:
        outcome = _validate_answer(session, task, outcome or {})
        task.outcome = outcome
    if target in (TaskState.acknowledged, TaskState.in_progress, TaskState.completed) and task.acknowledged_at is None:
        task.acknowledged_at = now
    if target.is_answer:
        task.answered_at = now
        task.answered_by = actor
        task.rejection_reason = reason.strip() if target == TaskState.rejected else ""
        if task.pathway_run_id is not None:  # a dated duty has no flow run waiting for it
            run = session.get(PathwayRun, task.pathway_run_id)
            run.resume_pending = True
            run.answer_seq += 1
            session.add(run)
    task.state = target
    session.add(task)
    record_audit(
        session, actor=actor, action=f"task.{target.value}", entity_type="task", entity_id=task.id,
        case_id=task.case_id, reason=reason.strip(),
        detail={"from": current.value, "outcome": outcome or {}, "step": task.step_key, "unit": task.unit_code},
    )
    return task
