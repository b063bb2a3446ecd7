"""A pathway step's task for one agency: opened once, routed to a unit, due by the policy's deadline (DOMAIN.md §5).

:func:`open_step_task` creates the task of a step (``step_key``) of a pathway run for one agency type and attempt, or
finds it when it exists already (unique per run, step, agency type and attempt: a resumed or restarted flow asks
again). The unit is routed by the child's area (:func:`routing_area`, :func:`careflow.routing.resolve_unit`) or, for a
later attempt, taken from the rejection of the one before (:mod:`careflow.reroute`); the deadline and the
acknowledgement deadline are counted from the request by the step's rule in ``policy/pathways/<pathway>.yaml``
(:func:`models.deadlines.compute_deadline`: hours, days or working days), and the audit event ``task.requested``
records unit, deadline and rule.

Takes the caller's session and leaves committing to it. Answers to the task are :mod:`careflow.tasks`'s.
"""
from __future__ import annotations

import uuid
from datetime import datetime

import pendulum
import sqlalchemy as sa
from sqlmodel import Session, select

from careflow.ladder import initial_next_rung_at
from careflow.registration_place import follower_unit, step_level
from careflow.reroute import next_attempt_unit, previous_attempt
from careflow.routing import resolve_unit, step_area
from core.audit import record_audit
from models.agency import AgencyUnit
from models.base import utcnow
from models.case import Case, PathwayRun
from models.child import Child
from models.deadlines import compute_deadline
from models.pathways import PathwayStep
from models.policy import load_policy
from models.task import AgencyTask


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

    The unit is resolved from the child's residence area (:func:`careflow.routing.resolve_unit`; the registration
    county for a ``registration_place`` step, whose residence unit then follows the task:
    :mod:`careflow.registration_place`), unless the previous attempt was rejected naming a unit, or asking for more
    information (:mod:`careflow.reroute`);
    the deadline comes from the policy step (``urgent`` uses its ``urgent_deadline``, e.g. the 24 h
    medical referral of a high-risk screening), counted from the request or, for ``deadline_from: pathway_start``,
    from the pathway run's start (a legal total such as 低保's 30 working days). ``now`` defaults to the current time (UTC-aware).

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
    level = step_level(step, agency_type)
    unit = session.get(AgencyUnit, rerouted) if rerouted else \
        resolve_unit(session, agency_type, routing_area(session, run, step), level=level)
    follower = follower_unit(session, step, agency_type, session.get(Child, case.child_id), level, unit)
    start = pendulum.instance(now or utcnow())
    rule = step.urgent_deadline if urgent and step.urgent_deadline else step.deadline
    counted_from = pendulum.instance(run.started_at) if step.deadline_from == "pathway_start" else start
    deadline = compute_deadline(counted_from, rule)
    ack_due = compute_deadline(start, step.ack_deadline).due_at if step.ack_deadline else None
    task = AgencyTask(
        case_id=case.id, pathway_run_id=run.id, step_key=step_key, attempt=attempt,
        agency_type=agency_type, unit_code=unit.code, jurisdiction_code=unit.jurisdiction_code,
        title=step.title_zh, requested_at=start, ack_due_at=ack_due, due_at=deadline.due_at,
        due_provisional=deadline.provisional, deadline_text=str(rule), follower_unit_code=follower,
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
                "rule": str(rule), "attempt": attempt, **({"follower": follower} if follower else {})},
    )
    return task


def routing_area(session: Session, run: PathwayRun, step: PathwayStep) -> str:
    """The area code a step is routed by: the child's residence (village, township or county code), or
    for ``jurisdiction_basis: emergency_place`` the ``emergency_area_code`` the pathway was started with
    (临时救助 is given where the emergency happens, 方案 六); for ``school_place`` the ``school_area_code`` when
    the run names the child's school's place, else the residence.

    Raises:
        ValueError: an emergency-place step on a run started without ``emergency_area_code``.
    """
    child = None if step.jurisdiction_basis == "emergency_place" else \
        session.get(Child, session.get(Case, run.case_id).child_id)
    return step_area(step, child, run.parameters)


def _find_step_task(session, pathway_run_id, step_key, agency_type, attempt) -> AgencyTask | None:
    return session.exec(
        select(AgencyTask).where(
            AgencyTask.pathway_run_id == pathway_run_id, AgencyTask.step_key == step_key,
            AgencyTask.agency_type == agency_type, AgencyTask.attempt == attempt,
        )
    ).first()
