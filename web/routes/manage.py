"""Redirect instead of re-issue, on the web (issue 12 item 5): what a rejection said and where the step goes next,
the caseworker's (or county manager's) choice of unit or added information after a rejection, and a county
manager's redirect, deadline extension and comment on an open task.

Pages: the task page (``/tasks/<id>``, :mod:`web.routes.tasks`) shows :func:`reroute_view` and the forms; the case
page lists the rejections waiting for the caseworker (:func:`pending_reroutes`). Posts: ``/tasks/<id>/reroute``
(caseworker of the case's area or manager), ``/tasks/<id>/redirect``, ``/tasks/<id>/extend``,
``/tasks/<id>/comment`` (manager of the task's area: :func:`web.scope.visible_task`). The rules and their Chinese
errors are careflow's (:mod:`careflow.reroute`, :mod:`careflow.task_manage`); a refused form comes back with the
error beside its field and the values typed.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from careflow.reroute import settle_reroute
from careflow.resume import resume_pathway
from careflow.task_manage import comment_task, extend_deadline, redirect_task
from models.case import Case
from models.errors import FieldValueError
from models.task import AgencyTask
from models.user import UserRole, WebUser
from web import forms
from web.deps import DbDep, csrf_protect
from web.form_pages import form_page
from web.scope import NotVisible, can_read_child, require_role, visible_case, visible_task
from web.reroute_views import SHANGHAI, ManagerOnly, SettlerPage
from web.routes.cases import render_case
from web.routes.tasks import _task_page
from web.templating import redirect

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

def _page(request: Request, db, user, task_id: uuid.UUID, exc: Exception, values: dict) -> Response:
    db.rollback()
    return _task_page(request, db, user, task_id, forms.error_lines(exc), 400, values)


def _resume(pathway_run_id) -> None:
    """Resume the waiting flow now (best effort: the sweeper resumes it otherwise)."""
    if pathway_run_id is None:
        return
    try:
        asyncio.run(resume_pathway(pathway_run_id, wait_seconds=15.0))
    except Exception:  # noqa: BLE001 -- resume_pending stays set; the sweeper retries
        pass


@router.post("/tasks/{task_id}/reroute")
@form_page("/tasks/{task_id}")
def reroute(request: Request, db: DbDep, user: SettlerPage, task_id: uuid.UUID,
            reroute_unit: Annotated[str, Form(max_length=64)] = "",
            reroute_note: Annotated[str, Form(max_length=1000)] = "",
            back: Annotated[str, Form(max_length=20)] = "") -> Response:
    """After a rejection: the unit the step goes to next, or the information added for the same unit."""
    task = _settleable(db, user, task_id)
    case = db.get(Case, task.case_id)
    try:
        settle_reroute(db, task, actor=user.username, unit_code=reroute_unit, note=reroute_note)
        db.commit()
    except ValueError as exc:
        if UserRole(user.role) == UserRole.caseworker:
            return _case_page(request, db, user, case, exc, {"reroute_unit": reroute_unit, "reroute_note": reroute_note})
        return _page(request, db, user, task_id, exc, {"reroute_unit": reroute_unit, "reroute_note": reroute_note})
    _resume(task.pathway_run_id)
    if UserRole(user.role) == UserRole.caseworker or back == "case":
        return redirect(f"/cases/{case.reference}?done=rerouted")
    return redirect(f"/tasks/{task_id}?done=rerouted")


def _case_page(request: Request, db, user, case: Case, exc: Exception, values: dict) -> Response:
    db.rollback()
    return render_case(request, db, user, case, errors=forms.error_lines(exc), form="reroute", values=values,
                       status_code=400)


def _settleable(db, user: WebUser, task_id: uuid.UUID) -> AgencyTask:
    if UserRole(user.role) == UserRole.manager:
        return visible_task(db, user, task_id)
    require_role(user, UserRole.caseworker)
    task = db.get(AgencyTask, task_id)
    case = db.get(Case, task.case_id) if task is not None and task.case_id else None
    if case is None:
        raise NotVisible(f"no task {task_id}")
    _case, child = visible_case(db, user, case.reference)
    if not can_read_child(user, child):
        raise NotVisible(f"no task {task_id}")
    return task


@router.post("/tasks/{task_id}/redirect")
@form_page("/tasks/{task_id}")
def redirect_page(request: Request, db: DbDep, user: ManagerOnly, task_id: uuid.UUID,
                  reroute_unit: Annotated[str, Form(max_length=64)] = "",
                  redirect_reason: Annotated[str, Form(max_length=1000)] = "") -> Response:
    """A manager sends the open task to another unit: it ends as 已转办, the new unit gets a new task."""
    task = visible_task(db, user, task_id)
    try:
        new = redirect_task(db, task, actor=user.username, unit_code=reroute_unit, reason=redirect_reason)
        db.commit()
    except ValueError as exc:
        return _page(request, db, user, task_id, exc, {"reroute_unit": reroute_unit,
                                                        "redirect_reason": redirect_reason})
    return redirect(f"/tasks/{new.id}?done=redirected")


def parse_local(text: str) -> dt.datetime:
    """A ``datetime-local`` value (Beijing time) as UTC-aware; ValueError naming the field ``due_at``."""
    try:
        value = dt.datetime.fromisoformat((text or "").strip())
    except ValueError:
        raise FieldValueError("due_at", "problem.not_datetime", value=(text or "")[:30],
                              example="2026-12-08 17:00") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=SHANGHAI)
    return value.astimezone(dt.timezone.utc)


@router.post("/tasks/{task_id}/extend")
@form_page("/tasks/{task_id}")
def extend_page(request: Request, db: DbDep, user: ManagerOnly, task_id: uuid.UUID,
                due_at: Annotated[str, Form(max_length=40)] = "",
                extend_reason: Annotated[str, Form(max_length=1000)] = "") -> Response:
    """A manager gives the open task a later deadline, with a reason; the unit and the caseworker are told."""
    task = visible_task(db, user, task_id)
    try:
        extend_deadline(db, task, actor=user.username, due_at=parse_local(due_at), reason=extend_reason)
        db.commit()
    except ValueError as exc:
        return _page(request, db, user, task_id, exc, {"due_at": due_at, "extend_reason": extend_reason})
    return redirect(f"/tasks/{task_id}?done=extended")


@router.post("/tasks/{task_id}/comment")
@form_page("/tasks/{task_id}")
def comment_page(request: Request, db: DbDep, user: ManagerOnly, task_id: uuid.UUID,
                 comment: Annotated[str, Form(max_length=1000)] = "") -> Response:
    """A manager's comment on the task: audited, shown in its history, sent to the unit while it is open."""
    task = visible_task(db, user, task_id)
    try:
        comment_task(db, task, actor=user.username, text=comment)
        db.commit()
    except ValueError as exc:
        return _page(request, db, user, task_id, exc, {"comment": comment})
    return redirect(f"/tasks/{task_id}?done=commented")
