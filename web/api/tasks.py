"""Agency tasks: an officer's inbox and answers; managers may read a task inside their jurisdiction.

A task shows only what its step needs — case reference, step, deadline, instructions, outcome fields —
never the child's name or ID number (DOMAIN.md §8).
"""
from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, HTTPException, Request

from models.base import utcnow
from models.task import AgencyTask, TaskState
from models.user import UserRole
from web import actions
from web.deps import ApiCaller, ApiOfficer, DbDep
from web.schemas import AnswerOut, CompleteIn, RejectIn, TaskOut
from web.scope import NotAllowed, unit_tasks, visible_task
from web.templating import translator
from web.views import audit_task_view, task_out

router = APIRouter(tags=["tasks"])


@router.get("/tasks", response_model=list[TaskOut])
def list_tasks(request: Request, db: DbDep, user: ApiOfficer,
               state: Literal["open", "answered"] = "open") -> list[TaskOut]:
    """The officer's unit's open tasks, soonest deadline first (or the 50 latest answered ones)."""
    t, now = translator(request), utcnow()
    tasks = unit_tasks(db, user.unit_code, open_only=state == "open", limit=200 if state == "open" else 50)
    return [task_out(db, task, t, now) for task in tasks]


@router.get("/tasks/{task_id}", response_model=TaskOut)
def read_task(request: Request, db: DbDep, caller: ApiCaller, task_id: uuid.UUID) -> TaskOut:
    """One task: the officer's own unit's, or (manager) one inside the jurisdiction (audited ``task.viewed``)."""
    if UserRole(caller.user.role) not in (UserRole.agency_officer, UserRole.manager):
        raise NotAllowed("only agency officers and managers read tasks")
    task = visible_task(db, caller.user, task_id)
    audit_task_view(db, task, actor=caller.user.username)
    return task_out(db, task, translator(request))


def _answer(request, db, user, task_id, action, **kwargs) -> AnswerOut:
    try:
        result = actions.answer_as(db, user, task_id, action, **kwargs)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    db.expire_all()  # the answer was written in a session of its own
    return AnswerOut(task=task_out(db, db.get(AgencyTask, task_id), translator(request)), resume=result.resume)


@router.post("/tasks/{task_id}/acknowledge", response_model=AnswerOut)
def acknowledge(request: Request, db: DbDep, user: ApiOfficer, task_id: uuid.UUID) -> AnswerOut:
    """Acknowledge (签收) the task. 422 when its state does not allow it."""
    return _answer(request, db, user, task_id, TaskState.acknowledged)


@router.post("/tasks/{task_id}/reject", response_model=AnswerOut)
def reject(request: Request, db: DbDep, user: ApiOfficer, task_id: uuid.UUID, data: RejectIn) -> AnswerOut:
    """Reject (退回) the task with a reason: it goes back to the caseworker and up to the county."""
    return _answer(request, db, user, task_id, TaskState.rejected, reason=data.reason)


@router.post("/tasks/{task_id}/complete", response_model=AnswerOut)
def complete(request: Request, db: DbDep, user: ApiOfficer, task_id: uuid.UUID, data: CompleteIn) -> AnswerOut:
    """Complete the task with the step's outcome (``outcome_fields`` of the task); the pathway resumes at once.

    422: a missing required field, an unknown field or a value of the wrong type (naming the field).
    """
    return _answer(request, db, user, task_id, TaskState.completed, outcome=data.outcome)
