"""What the task and case pages show of rejections, redirects and the manager's actions (the pages'
readers and settlers, the pending reroutes, the history); the forms that change them are :mod:`web.routes.manage`."""
from __future__ import annotations

import uuid
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends
from sqlmodel import Session, select

from careflow.facts import unit_names
from careflow.reroute import candidate_units, needs_followup, previous_attempt
from careflow.task_manage import task_history
from models.case import Case
from models.task import OPEN_STATES, AgencyTask, TaskState
from models.user import UserRole, WebUser
from web.deps import page_role
from web.names import people_names
from web.scope import NotVisible, visible_case


#: The task page's visitors: its readers (the unit's officers, the area's managers), and caseworkers, whom it sends
#: to the task on its case's page.
TaskPageUser = Annotated[WebUser, Depends(page_role(UserRole.agency_officer, UserRole.manager, UserRole.caseworker))]
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


def case_page_of_task(db: Session, user: WebUser, task_id: uuid.UUID, query: str = "") -> str:
    """Where a caseworker reads the task ``task_id``: its row on its case's page (``/cases/<ref>#task-<id>``, the
    query ``?lang=`` kept), where they also choose the unit after a rejection. A caseworker who reloaded a refused
    reroute form's address (``/tasks/<id>/reroute``, sent on to ``/tasks/<id>``) read a bare 403 there.

    Raises:
        NotVisible: no such task, a dated duty outside any case, or a case the caseworker may not read.
    """
    task = db.get(AgencyTask, task_id)
    case = db.get(Case, task.case_id) if task is not None and task.case_id else None
    if case is None:
        raise NotVisible(f"no task {task_id}")
    visible_case(db, user, case.reference)
    return f"/cases/{case.reference}" + (f"?{query}" if query else "") + f"#task-{task_id}"


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
    people = people_names(db, sorted({event.actor for event in events}))
    rows = []
    for event in events:
        task = tasks.get(uuid.UUID(event.entity_id))
        if task is not None:
            rows.append({"at": event.at, "title": task.title, "unit_name": names.get(task.unit_code, ""),
                         "action": event.action, "actor": people.get(event.actor, event.actor), "reason": event.reason,
                         "target": names.get(targets.get(event.id, ""), "")})
    return rows


