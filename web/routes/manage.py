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
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from sqlmodel import Session, select
from starlette.responses import Response

from careflow.facts import unit_names
from careflow.reroute import candidate_units, needs_followup, previous_attempt, settle_reroute
from careflow.resume import resume_pathway
from careflow.task_manage import comment_task, extend_deadline, redirect_task, task_history
from models.case import Case
from models.task import OPEN_STATES, AgencyTask, TaskState
from models.user import UserRole, WebUser
from web import forms
from web.deps import DbDep, csrf_protect, page_role
from web.scope import NotVisible, can_read_child, require_role, visible_case, visible_task
from web.templating import redirect

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

#: The task page's readers: the unit's officers and the area's managers.
TaskReaderPage = Annotated[WebUser, Depends(page_role(UserRole.agency_officer, UserRole.manager))]
SettlerPage = Annotated[WebUser, Depends(page_role(UserRole.caseworker, UserRole.manager))]
ManagerOnly = Annotated[WebUser, Depends(page_role(UserRole.manager))]
SHANGHAI = ZoneInfo("Asia/Shanghai")


def reroute_view(db: Session, user: WebUser, task: AgencyTask) -> dict:
    """What the task page shows and offers about rejections and managers' actions (no codes: unit names)."""
    role = UserRole(user.role)
    names = unit_names(db, [c for c in (task.reroute_unit_code,) if c])
    history = history_rows(db, task_history(db, [task.id]), {task.id: task})
    previous = previous_attempt(db, task.pathway_run_id, task.step_key, task.agency_type, task.attempt) \
        if task.pathway_run_id is not None and task.attempt > 1 else None
    if previous is not None and TaskState(previous.state) != TaskState.rejected:
        previous = None
    open_ = TaskState(task.state) in OPEN_STATES
    wants_units = role == UserRole.agency_officer and open_ or role == UserRole.manager and (
        open_ or needs_followup(task))
    return {
        "kind": task.rejection_kind, "named_unit": names.get(task.reroute_unit_code or "", ""),
        "note": task.reroute_note, "pending": needs_followup(task),
        "units": [(u.code, u.name) for u in candidate_units(db, task)] if wants_units else [],
        "can_manage": role == UserRole.manager and open_,
        "can_settle": role == UserRole.manager and needs_followup(task),
        "can_redirect": role == UserRole.manager and open_ and task.pathway_run_id is not None,
        "redirected_to": task.redirected_to_id, "history": history,
        "previous": {"kind": previous.rejection_kind, "reason": previous.rejection_reason,
                     "note": previous.reroute_note,
                     "unit_name": unit_names(db, [previous.unit_code]).get(previous.unit_code, "")}
        if previous is not None else None,
        "due_value": task.due_at.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M"),
    }


def pending_reroutes(db: Session, case: Case) -> list[dict]:
    """The case's rejected tasks waiting for the caseworker to choose a unit or add information, with the units
    each may go to (by name)."""
    tasks = db.exec(select(AgencyTask).where(AgencyTask.case_id == case.id,
                                             AgencyTask.state == TaskState.rejected.value,
                                             AgencyTask.rerouted_at.is_(None))).all()
    out = []
    for task in tasks:
        if needs_followup(task):
            out.append({"id": task.id, "title": task.title, "kind": task.rejection_kind,
                        "reason": task.rejection_reason, "unit_name": unit_names(db, [task.unit_code]).get(
                            task.unit_code, ""),
                        "units": [(u.code, u.name) for u in candidate_units(db, task)]})
    return out


def case_history(db: Session, case: Case) -> list[dict]:
    """What caseworkers and managers did about the case's tasks (redirects, extensions, comments, units named or
    chosen after a rejection), oldest first, for the case page's timeline: time, step, unit (by name), action,
    who, why."""
    tasks = {t.id: t for t in db.exec(select(AgencyTask).where(AgencyTask.case_id == case.id)).all()}
    return history_rows(db, task_history(db, list(tasks)), tasks)


def history_rows(db: Session, events, tasks: dict) -> list[dict]:
    """Audit events of :func:`careflow.task_manage.task_history` as rows a person reads: time, step, the task's
    unit, the action, who, why, and the unit it went to (by name) for a redirect or a unit named or chosen."""
    targets = {}
    for event in events:
        task = tasks.get(uuid.UUID(event.entity_id))
        if event.action == "task.redirected" and task is not None and task.redirected_to_id:
            successor = db.get(AgencyTask, task.redirected_to_id)
            targets[event.id] = successor.unit_code if successor else ""
        elif event.action in ("task.reroute_named", "task.reroute_chosen"):
            targets[event.id] = (event.detail or {}).get("unit", "")
    names = unit_names(db, [c for c in targets.values() if c] + [t.unit_code for t in tasks.values()])
    rows = []
    for event in events:
        task = tasks.get(uuid.UUID(event.entity_id))
        if task is not None:
            rows.append({"at": event.at, "title": task.title, "unit_name": names.get(task.unit_code, ""),
                         "action": event.action, "actor": event.actor, "reason": event.reason,
                         "target": names.get(targets.get(event.id, ""), "")})
    return rows


def _page(request: Request, db, user, task_id: uuid.UUID, exc: Exception, values: dict) -> Response:
    from web.routes.tasks import _task_page

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
    from web.routes.cases import render_case  # the case page's one renderer (it lists this module's reroutes)

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
        raise ValueError(f"字段 due_at（新截止时间）：“{(text or '')[:30]}”不是日期时间，请按 2026-12-08 17:00 填写") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=SHANGHAI)
    return value.astimezone(dt.timezone.utc)


@router.post("/tasks/{task_id}/extend")
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
