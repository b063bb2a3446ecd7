"""The agency inbox (待办任务): a unit's tasks by deadline; acknowledge, reject with a reason, complete with
the step's outcome — a final answer resumes the pathway at once (DOMAIN.md §5).

An officer sees only their own unit's tasks, and of each only what the step needs: the case reference, the
step, the deadline (Asia/Shanghai), the instructions and the outcome fields — never the child's name or ID.
"""
from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from pydantic import ValidationError
from starlette.responses import Response

from models.base import utcnow
from models.survey import is_contact_duty_key
from models.task import TaskState
from web import actions, forms
from web.deps import DbDep, FormDep, OfficerPage, csrf_protect
from web.schemas import RejectIn
from web.scope import unit_tasks, visible_task
from web.templating import redirect, render, translator
from web.views import audit_task_view, task_out

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])


@router.get("/inbox")
def inbox(request: Request, db: DbDep, user: OfficerPage) -> Response:
    t, now = translator(request), utcnow()
    return render(request, "inbox.html", {
        "open_tasks": [task_out(db, task, t, now) for task in unit_tasks(db, user.unit_code)],
        "answered": [task_out(db, task, t, now) for task in unit_tasks(db, user.unit_code, open_only=False, limit=20)],
    })


def _task_page(request: Request, db, user, task_id: uuid.UUID, errors: list[str], status_code: int = 200,
               values: dict | None = None) -> Response:
    task = visible_task(db, user, task_id)
    audit_task_view(db, task, actor=user.username)
    return render(request, "task_detail.html", {"task": task_out(db, task, translator(request)), "errors": errors,
                                                "values": values or {}}, status_code=status_code)


@router.get("/tasks/{task_id}")
def task_page(request: Request, db: DbDep, user: OfficerPage, task_id: uuid.UUID) -> Response:
    return _task_page(request, db, user, task_id, [])


def _done(result) -> str:
    if result.resume == "pending":
        return "pending"
    task = result.task
    if task.state == TaskState.completed and task.pathway_run_id is None:  # a dated duty: no pathway moves on
        return "contact_recorded" if is_contact_duty_key(task.duty_key or "") else "duty_completed"
    return TaskState(task.state).value


@router.post("/tasks/{task_id}/acknowledge")
def acknowledge(request: Request, db: DbDep, user: OfficerPage, task_id: uuid.UUID) -> Response:
    try:
        result = actions.answer_as(db, user, task_id, TaskState.acknowledged)
    except ValueError as exc:
        return _task_page(request, db, user, task_id, forms.error_lines(exc), 400)
    return redirect(f"/tasks/{task_id}?done={_done(result)}")


@router.post("/tasks/{task_id}/reject")
def reject(request: Request, db: DbDep, user: OfficerPage, task_id: uuid.UUID,
           reason: Annotated[str, Form(max_length=1000)] = "") -> Response:
    try:
        data = RejectIn(reason=reason)
        result = actions.answer_as(db, user, task_id, TaskState.rejected, reason=data.reason)
    except (ValidationError, ValueError) as exc:
        return _task_page(request, db, user, task_id, forms.error_lines(exc), 400, {"reason": reason})
    return redirect(f"/inbox?done={_done(result)}")


@router.post("/tasks/{task_id}/complete")
def complete(request: Request, db: DbDep, user: OfficerPage, task_id: uuid.UUID, form: FormDep) -> Response:
    try:
        data = forms.complete_in(form)
        result = actions.answer_as(db, user, task_id, TaskState.completed, outcome=data.outcome)
    except (ValidationError, ValueError) as exc:
        return _task_page(request, db, user, task_id, forms.error_lines(exc), 400,
                          forms.prefixed_values(form, "o_"))
    return redirect(f"/inbox?done={_done(result)}")
