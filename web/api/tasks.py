"""Agency tasks: an officer's inbox and answers; managers may read a task inside their jurisdiction.

A task shows only what its step needs — case reference, step, deadline, instructions, outcome fields —
never the child's name or ID number (DOMAIN.md §8).
"""
from __future__ import annotations

import uuid
from fastapi import APIRouter, HTTPException, Request

from careflow.facts import unit_names
from careflow.tasks import AnswerConflict
from models.base import utcnow
from models.case import PathwayRun
from models.task import AgencyTask, TaskState
from models.user import UserRole
from web import actions, task_list
from web.deps import ApiCaller, ApiOfficer, DbDep
from web.api_errors import api_invalid
from web.inputs import CompleteIn, RejectIn
from web.outputs import AnswerOut, TaskOut
from web.list_pages import api_params
from web.paging import PageOut
from web.scope import NotAllowed
from web.templating import translator
from web.facts_view import task_with_facts
from web.views import outcome_labels, step_definition, task_out

router = APIRouter(tags=["tasks"])
TASK_PARAMS = task_list.task_spec().openapi_parameters()


@router.get("/tasks", response_model=PageOut[TaskOut], openapi_extra={"parameters": TASK_PARAMS})
def list_tasks(request: Request, db: DbDep, caller: ApiCaller) -> PageOut[TaskOut]:
    """An officer's unit's tasks, or (manager) the tasks of the jurisdiction, a page at a time: open ones by
    deadline unless asked otherwise (``sort=requested``: newest first).

    Filters: ``state`` (open, the default; closed; all; or one state), ``flag`` (overdue, ack_overdue,
    escalated), ``pathway`` (a pathway key or ``duty``), ``due_from``/``due_to`` (local days); managers also
    ``unit`` and ``area`` (county/township of the child). ``q``: a case reference (``CF-…``) or a task's short
    reference; managers also a part of the child's name or the last digits of the ID. 400 names a bad parameter
    (or one the role may not use) and its value. Follow ``next`` until it is null.
    """
    user = caller.user
    role = UserRole(user.role)
    if role not in (UserRole.agency_officer, UserRole.manager):
        raise NotAllowed("only agency officers and managers list tasks")
    allowed = task_list.OFFICER_TASK_FILTERS if role == UserRole.agency_officer else task_list.MANAGER_TASK_FILTERS
    params = api_params(request, task_list.task_spec(), allowed=allowed)
    t, now = translator(request), utcnow()
    page = task_list.list_tasks(db, user, params, now=now).with_links(request.url)
    names = unit_names(db, [row.task.unit_code for row in page.items])  # one statement for the page
    return PageOut.of(page.map(lambda row: task_out(db, row.task, t, now, case_reference=row.case_reference,
                                                    pathway=row.pathway,
                                                    unit_name=names.get(row.task.unit_code, ""))))


@router.get("/tasks/{task_id}", response_model=TaskOut)
def read_task(request: Request, db: DbDep, caller: ApiCaller, task_id: uuid.UUID) -> TaskOut:
    """One task: the officer's own unit's, or (manager) one inside the jurisdiction (audited ``task.viewed``),
    with ``facts``: what the unit needs to act — the child's facts the step shows (policy ``shows``), earlier
    answers that matter and the caseworker to call, labelled in the reader's language (audited
    ``task.child_facts_viewed``)."""
    if UserRole(caller.user.role) not in (UserRole.agency_officer, UserRole.manager):
        raise NotAllowed("only agency officers and managers read tasks")
    return task_with_facts(db, caller.user, task_id, translator(request))


#: The refusal of an answer because another one is stored (issue #16: exactly one answer per task).
CONFLICT = {409: {"description": "Someone else answered the task first, differently; the detail says who and "
                                 "when (Chinese, Beijing time). An identical answer again is a replay: 200."}}


def _outcome_labels(db, task_id: uuid.UUID, t) -> dict[str, str]:
    """The task's outcome fields by input name (``o_amount_yuan`` → ``救助金额（元）``), to name them in errors."""
    task = db.get(AgencyTask, task_id)
    run = db.get(PathwayRun, task.pathway_run_id) if task and task.pathway_run_id else None
    step = step_definition(run.pathway, task.step_key) if run else None
    return {f"o_{name}": text for name, text in outcome_labels(step, t).items()}


def _answer(request, db, user, task_id, action, **kwargs) -> AnswerOut:
    try:
        result = actions.answer_as(db, user, task_id, action, **kwargs)
    except AnswerConflict as exc:
        raise HTTPException(409, exc.text(translator(request).lang)) from None
    except ValueError as exc:
        raise api_invalid(request, exc, _outcome_labels(db, task_id, translator(request))) from None
    db.expire_all()  # the answer was written in a session of its own
    return AnswerOut(task=task_out(db, db.get(AgencyTask, task_id), translator(request)), resume=result.resume)


@router.post("/tasks/{task_id}/acknowledge", response_model=AnswerOut, responses=CONFLICT)
def acknowledge(request: Request, db: DbDep, user: ApiOfficer, task_id: uuid.UUID) -> AnswerOut:
    """Acknowledge (签收) the task. 409 when someone else already answered it (the detail says who and when);
    acknowledging it again is a replay (200)."""
    return _answer(request, db, user, task_id, TaskState.acknowledged)


@router.post("/tasks/{task_id}/reject", response_model=AnswerOut, responses=CONFLICT)
def reject(request: Request, db: DbDep, user: ApiOfficer, task_id: uuid.UUID, data: RejectIn) -> AnswerOut:
    """Reject (退回) the task with a reason: it goes back to the caseworker and up to the county."""
    return _answer(request, db, user, task_id, TaskState.rejected, reason=data.reason,
                   rejection_kind=data.rejection_kind, reroute_unit=data.reroute_unit)


@router.post("/tasks/{task_id}/complete", response_model=AnswerOut, responses=CONFLICT)
def complete(request: Request, db: DbDep, user: ApiOfficer, task_id: uuid.UUID, data: CompleteIn) -> AnswerOut:
    """Complete the task with the step's outcome (``outcome_fields`` of the task); the pathway resumes at once.

    422: a missing required field, an unknown field or a value of the wrong type (naming the field).
    """
    return _answer(request, db, user, task_id, TaskState.completed, outcome=data.outcome)
