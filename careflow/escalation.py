"""The escalation ladder: deadlines that act by themselves (DOMAIN.md §6, ``policy/escalation.yaml``).

:func:`due_rungs` says which rungs a task has reached at a time (pure); :func:`escalate_overdue_tasks`
records each reached rung exactly once — the unique (task, rung) row is inserted in the same transaction
as the rung's messages and audit event, so two overlapping sweeps, or a sweep that crashed halfway,
never fire a rung twice and never lose one.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import pendulum
import sqlalchemy as sa
import yaml
from pydantic import BaseModel, Field, field_validator
from sqlmodel import select

from careflow.audit import record_audit
from careflow.db import session_scope
from careflow.settings import get_settings
from models.base import utcnow
from models.case import Case
from models.deadlines import DeadlineRule, compute_deadline
from models.task import OPEN_STATES, AgencyTask, Escalation, TaskState
from notifications.outbox import caseworker_unit, enqueue_task_message

log = logging.getLogger(__name__)


class Ladder(BaseModel):
    """The ladder's settings (``policy/escalation.yaml``)."""

    reminder_at_fraction: float = Field(0.75, gt=0, lt=1)
    overdue_after: DeadlineRule = DeadlineRule(amount=24, unit="hours")

    @field_validator("overdue_after", mode="before")
    @classmethod
    def _parse_rule(cls, value):
        return DeadlineRule.parse(value) if isinstance(value, str) else value


@lru_cache
def load_ladder(path: Path | None = None) -> Ladder:
    """The ladder from ``policy/escalation.yaml``.

    Raises:
        ValueError: naming the file and the field when a value is malformed.
    """
    path = path or get_settings().policy_dir / "escalation.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    data.pop("source", None)
    try:
        return Ladder(**data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


@dataclass(frozen=True)
class Rung:
    """A reached rung: its name, level (1–3) and recipients as (channel key, role)."""

    name: str
    level: int
    recipients: tuple[tuple[str, str], ...]


def due_rungs(task: AgencyTask, *, now: datetime, county_code: str | None, caseworker: str | None,
              ladder: Ladder) -> list[Rung]:
    """The rungs ``task`` has reached at ``now`` (all times UTC-aware), whether fired already or not.

    Recipients' channel keys: the unit (officer), ``<unit>.supervisor``, ``caseworker.<login>``,
    ``civil_affairs-<county>.manager``. A closed task reaches no rung.
    """
    if TaskState(task.state) not in OPEN_STATES:
        return []
    rungs = []
    allowed = task.due_at - task.requested_at
    if now >= task.requested_at + allowed * ladder.reminder_at_fraction and now < task.due_at:
        rungs.append(Rung("reminder", 1, ((task.unit_code, "officer"),)))
    if task.ack_due_at and now >= task.ack_due_at and TaskState(task.state) == TaskState.requested:
        rungs.append(Rung("ack_overdue", 1, ((f"{task.unit_code}.supervisor", "supervisor"),)))
    if now >= task.due_at:
        recipients = [(f"{task.unit_code}.supervisor", "supervisor")]
        if caseworker:
            recipients.append((caseworker_unit(caseworker), "caseworker"))
        rungs.append(Rung("deadline", 2, tuple(recipients)))
        overdue_at = compute_deadline(pendulum.instance(task.due_at), ladder.overdue_after).due_at
        if now >= overdue_at and county_code:
            rungs.append(Rung("overdue", 3, ((f"civil_affairs-{county_code}.manager", "manager"),)))
    return rungs


def escalate_overdue_tasks(now: datetime | None = None, ladder: Ladder | None = None) -> list[tuple[uuid.UUID, str]]:
    """Fire every reached, not yet fired rung of every open task; returns the (task id, rung) fired.

    Each rung is one transaction: the :class:`Escalation` row, the raised ``escalation_level``, the
    messages (event ``task_reminder`` or ``task_escalated``) and an audit event. Messages are only
    stored here; the sweeper sends them right after.
    """
    now = now or utcnow()
    ladder = ladder or load_ladder()
    with session_scope() as session:
        open_tasks = session.exec(select(AgencyTask).where(AgencyTask.state.in_(list(OPEN_STATES)))).all()
        fired_before = {
            (e.task_id, e.rung) for e in session.exec(
                select(Escalation).where(Escalation.task_id.in_([t.id for t in open_tasks]))).all()
        } if open_tasks else set()
        candidates = []
        for task in open_tasks:
            case = session.get(Case, task.case_id) if task.case_id else None
            for rung in due_rungs(task, now=now, county_code=case.county_code if case else _county_of(task),
                                  caseworker=case.caseworker if case else None, ladder=ladder):
                if (task.id, rung.name) not in fired_before:
                    candidates.append((task.id, rung))
    fired = []
    for task_id, rung in candidates:
        if _fire(task_id, rung, now):
            fired.append((task_id, rung.name))
    return fired


def _county_of(task: AgencyTask) -> str | None:
    code = task.jurisdiction_code
    return code[:6] if len(code) >= 6 and not code[:6].endswith("00") else None


def _fire(task_id: uuid.UUID, rung: Rung, now: datetime) -> bool:
    """Record one rung (exactly once across concurrent sweeps); False if another sweep fired it first."""
    try:
        with session_scope() as session:
            task = session.get(AgencyTask, task_id)
            session.add(Escalation(task_id=task_id, rung=rung.name, level=rung.level, fired_at=now,
                                   recipients=[list(r) for r in rung.recipients]))
            session.flush()  # the unique (task, rung) row: a concurrent sweep fails here and rolls back
            task.escalation_level = max(task.escalation_level, rung.level)
            session.add(task)
            event = "task_reminder" if rung.name == "reminder" else "task_escalated"
            for channel_key, role in rung.recipients:
                enqueue_task_message(session, task=task, event=event, recipient_unit=channel_key, role=role,
                                     occasion=rung.name, outcome_summary=_summary(rung.name))
            record_audit(session, actor="careflow-sweeper", action=f"task.escalated.{rung.name}",
                         entity_type="task", entity_id=task.id, case_id=task.case_id,
                         reason=_summary(rung.name),
                         detail={"level": rung.level, "recipients": [list(r) for r in rung.recipients]})
        return True
    except sa.exc.IntegrityError:
        log.info("rung %s of task %s already fired by another sweep", rung.name, task_id)
        return False


def _summary(rung: str) -> str:
    return {
        "reminder": "任务即将到期，请尽快办理",
        "ack_overdue": "任务超过签收时限仍未签收",
        "deadline": "任务已到办理时限仍未办结",
        "overdue": "任务逾期未办结，请县级民政部门督办",
    }[rung]
