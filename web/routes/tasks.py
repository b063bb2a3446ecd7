"""The agency inbox (待办任务): a unit's tasks by deadline; acknowledge, reject with a reason, complete with
the step's outcome — a final answer resumes the pathway at once (DOMAIN.md §5).

An officer sees only their own unit's tasks, and of each what the step needs to act: the case reference, the
step, the deadline (Asia/Shanghai), the instructions and the outcome fields, and on the task's own page and its
printable notice (``/tasks/<id>/letter``) the facts of the child and the case the step ``shows``
(:mod:`careflow.facts`, audited ``task.child_facts_viewed``) with the caseworker to call. Lists never show them.
"""
from __future__ import annotations

import re
import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from pydantic import ValidationError
from starlette.responses import Response

from careflow.facts import unit_names
from careflow.tasks import AnswerConflict
from models.base import utcnow
from careflow.misconduct import may_start_notice
from models.agency import AgencyUnit
from models.dated_duties import is_contact_duty_key
from models.task import TaskState
from models.user import UserRole
from web import actions, forms
from web.deps import DbDep, FormDep, ManagerPage, OfficerPage, csrf_protect
from web.form_pages import form_page
from web.list_pages import render_list
from web.task_list import MANAGER_TASK_FILTERS, OFFICER_TASK_FILTERS, list_tasks, task_spec
from web.inputs import RejectIn
from web.scope import NotVisible, answers_task
from web.reroute_views import TaskPageUser, case_page_of_task, reroute_view
from models.task import AgencyTask
from web.facts_view import task_with_facts
from web.templating import redirect, render, translator
from web.views import local_time, task_out

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])


def _task_rows(db, rows, t, now):
    names = unit_names(db, [row.task.unit_code for row in rows])  # one statement for the page
    return [task_out(db, row.task, t, now, case_reference=row.case_reference, pathway=row.pathway,
                     unit_name=names.get(row.task.unit_code, "")) for row in rows]


@router.get("/inbox")
def inbox(request: Request, db: DbDep, user: OfficerPage) -> Response:
    """The unit's tasks, a page at a time (open ones by deadline unless asked otherwise): filter by state,
    overdue/escalated, pathway and deadline; search by case or task reference. A fixed handful of SQL statements
    per page (see :mod:`web.task_list`)."""
    t, now = translator(request), utcnow()

    may_notify = may_start_notice(db.get(AgencyUnit, user.unit_code) if user.unit_code else None)  # 方案 十一

    def run(params):
        page = list_tasks(db, user, params, now=now)
        return page, {"tasks": _task_rows(db, page.items, t, now), "may_notify": may_notify,
                      "bulk_results": bulk_results(request.query_params.get("r", ""))}

    return render_list(request, "inbox.html", task_spec(), run, allowed=OFFICER_TASK_FILTERS)


@router.get("/tasks")
def tasks_page(request: Request, db: DbDep, user: ManagerPage) -> Response:
    """The tasks of the manager's jurisdiction (on children living there, and its dated duties), a page at a
    time: filter by state, overdue/escalated, pathway, unit, county/township and deadline; search by reference,
    child's name or last digits of the ID."""
    t, now = translator(request), utcnow()

    def run(params):
        page = list_tasks(db, user, params, now=now)
        return page, {"tasks": _task_rows(db, page.items, t, now)}

    return render_list(request, "inbox.html", task_spec(), run, allowed=MANAGER_TASK_FILTERS,
                       hint_key="list.search_tasks_manager",
                       context={"manager_view": True})


def _task_page(request: Request, db, user, task_id: uuid.UUID, errors: list[str], status_code: int = 200,
               values: dict | None = None) -> Response:
    task = task_with_facts(db, user, task_id, translator(request))
    rr = reroute_view(db, user, db.get(AgencyTask, task_id))  # rejections, redirects (web.routes.manage)
    return render(request, "task_detail.html", {"task": task, "errors": errors, "values": values or {}, "rr": rr},
                  status_code=status_code)


@router.get("/tasks/{task_id}")
def task_page(request: Request, db: DbDep, user: TaskPageUser, task_id: uuid.UUID) -> Response:
    """The task with what the unit needs to act (the child's facts its step shows, the caseworker to call). A
    caseworker is sent to the task on its case's page (:func:`web.reroute_views.case_page_of_task`)."""
    if UserRole(user.role) == UserRole.caseworker:
        return redirect(case_page_of_task(db, user, task_id, request.url.query))
    return _task_page(request, db, user, task_id, [])


@router.get("/tasks/{task_id}/letter")
def task_letter(request: Request, db: DbDep, user: OfficerPage, task_id: uuid.UUID) -> Response:
    """The task as a printable A4 notice for the unit (转介通知单; a dated duty's 工作任务通知单; print stylesheet), in
    Chinese unless asked."""
    task = task_with_facts(db, user, task_id, translator(request), purpose="letter")
    return render(request, "task_letter.html", {"task": task, "issuer": issuer_name(db, task),
                                                "printed_at": local_time(utcnow())})


@router.get("/tasks/{task_id}/letter.pdf")
def task_letter_pdf(request: Request, db: DbDep, user: OfficerPage, task_id: uuid.UUID) -> Response:
    """The same notice as an A4 PDF (:mod:`web.letter_pdf`), to file or forward as a document."""
    # start-up: ReportLab and the embedded Chinese font take about 1.5 s to load; only the PDF letter needs them
    from web.letter_pdf import letter_pdf

    t = translator(request)
    task = task_with_facts(db, user, task_id, t, purpose="letter")
    body = letter_pdf(task, issuer=issuer_name(db, task), printed_at=local_time(utcnow()), t=t, local_time=local_time)
    name = "-".join(filter(None, (task.case_reference, task.short_ref))) + ".pdf"  # a dated duty has no case
    return Response(body, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "no-store"})


def issuer_name(db, task) -> str:
    """Who sends the notice: the county civil affairs bureau of the case (its unit's name when known)."""
    county = task.case_reference.split("-")[1] if task.case_reference.count("-") >= 2 else ""
    code = f"civil_affairs-{county}"
    return unit_names(db, [code]).get(code, "") if county else ""


def _done(result) -> str:
    if result.resume == "pending":
        return "pending"
    task = result.task
    if task.state == TaskState.completed and task.pathway_run_id is None:  # a dated duty: no pathway moves on
        return "contact_recorded" if is_contact_duty_key(task.duty_key or "") else "duty_completed"
    return TaskState(task.state).value


def _conflict(request: Request, db, user, task_id: uuid.UUID, exc: AnswerConflict) -> Response:
    """Someone else answered first (issue #16): the page shows the stored answer, and who gave it when (409)."""
    db.expire_all()  # the answer was read in a session of its own
    return _task_page(request, db, user, task_id, [exc.text(translator(request).lang)], 409)


@router.post("/tasks/{task_id}/acknowledge")
@form_page("/tasks/{task_id}")
def acknowledge(request: Request, db: DbDep, user: OfficerPage, task_id: uuid.UUID) -> Response:
    try:
        result = actions.answer_as(db, user, task_id, TaskState.acknowledged)
    except AnswerConflict as exc:
        return _conflict(request, db, user, task_id, exc)
    except ValueError as exc:
        return _task_page(request, db, user, task_id, forms.error_lines(exc), 400)
    return redirect(f"/tasks/{task_id}?done={_done(result)}")


#: At most this many tasks are acknowledged by one bulk request (one page of the inbox at most).
BULK_LIMIT = 200
#: What became of one ticked task (catalogue ``task.bulk.<result>``): acknowledged now, already acknowledged (a
#: colleague's, a replay), answered otherwise meanwhile, followed by the unit (answered at the registration place),
#: not the unit's, refused in its state, or not a task id at all.
BULK_RESULTS = ("acknowledged", "already", "answered", "followed", "not_yours", "refused", "invalid")
_BULK_RESULT = re.compile(r"^([0-9a-f]{8}|-)\.([a-z_]+)$")


@router.post("/inbox/acknowledge")
@form_page("/inbox")
def acknowledge_many(request: Request, db: DbDep, user: OfficerPage, form: FormDep) -> Response:
    """Bulk acknowledge (批量签收): every ticked task of the unit's inbox, each as its own conditional answer
    through the one writer of task states (:func:`web.actions.answer_as`); one already acknowledged by a colleague
    is a replay, one answered otherwise, followed only (跟进: answered at the registration place) or not the
    unit's is skipped. Back to the inbox with the counts (``done=bulk``, ``n``, ``skipped``) and each task's
    result (``r``: ``<short ref>.<result>`` of :data:`BULK_RESULTS`, comma-separated)."""
    ids, results = [], []
    for raw in form.getlist("task")[:BULK_LIMIT]:
        try:
            ids.append(uuid.UUID(str(raw)))
        except ValueError:
            results.append("-.invalid")
    for task_id in dict.fromkeys(ids):
        results.append(f"{task_id.hex[:8]}.{_acknowledge_one(db, user, task_id)}")
    done = sum(r.endswith((".acknowledged", ".already")) for r in results)
    query = urlencode({"done": "bulk", "n": done, "skipped": len(results) - done, "r": ",".join(results)})
    return redirect(f"/inbox?{query}")


def _acknowledge_one(db, user, task_id: uuid.UUID) -> str:
    """Acknowledge one ticked task; what became of it (one of :data:`BULK_RESULTS`)."""
    task = db.get(AgencyTask, task_id)
    if task is not None and user.unit_code and task.follower_unit_code == user.unit_code \
            and not answers_task(user, task):
        return "followed"
    before = task.state if task is not None else None
    try:
        actions.answer_as(db, user, task_id, TaskState.acknowledged)
    except AnswerConflict:
        db.rollback()
        return "answered"
    except NotVisible:
        db.rollback()
        return "not_yours"
    except ValueError:
        db.rollback()
        return "refused"
    return "already" if before == TaskState.acknowledged else "acknowledged"


def bulk_results(text: str) -> list[tuple[str, str]]:
    """The per-task results of a bulk acknowledgement from the inbox's ``r`` parameter: ``(short ref, result)``
    pairs, anything else in it left out (it is a URL a person may edit)."""
    pairs = [_BULK_RESULT.match(part) for part in (text or "").split(",")[:BULK_LIMIT]]
    return [(m.group(1), m.group(2)) for m in pairs if m and m.group(2) in BULK_RESULTS]


@router.post("/tasks/{task_id}/reject")
@form_page("/tasks/{task_id}")
def reject(request: Request, db: DbDep, user: OfficerPage, task_id: uuid.UUID,
           reason: Annotated[str, Form(max_length=1000)] = "",
           rejection_kind: Annotated[str, Form(max_length=40)] = "",
           reroute_unit: Annotated[str, Form(max_length=64)] = "") -> Response:
    """Reject with a reason, why (``rejection_kind``) and, if not ours or not our area, the right unit."""
    try:
        data = RejectIn(reason=reason)
        result = actions.answer_as(db, user, task_id, TaskState.rejected, reason=data.reason,
                                   rejection_kind=rejection_kind, reroute_unit=reroute_unit)
    except AnswerConflict as exc:
        return _conflict(request, db, user, task_id, exc)
    except (ValidationError, ValueError) as exc:
        db.rollback()
        return _task_page(request, db, user, task_id, forms.error_lines(exc), 400,
                          {"reason": reason, "rejection_kind": rejection_kind, "reroute_unit": reroute_unit})
    return redirect(f"/inbox?done={_done(result)}")


@router.post("/tasks/{task_id}/complete")
@form_page("/tasks/{task_id}")
def complete(request: Request, db: DbDep, user: OfficerPage, task_id: uuid.UUID, form: FormDep) -> Response:
    try:
        data = forms.complete_in(form)
        result = actions.answer_as(db, user, task_id, TaskState.completed, outcome=data.outcome)
    except AnswerConflict as exc:
        return _conflict(request, db, user, task_id, exc)
    except (ValidationError, ValueError) as exc:
        return _task_page(request, db, user, task_id, forms.error_lines(exc), 400,
                          forms.prefixed_values(form, "o_"))
    return redirect(f"/inbox?done={_done(result)}")
