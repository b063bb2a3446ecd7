"""The task lists: the agency officer's inbox (their unit's tasks) and the manager's task list (``/tasks``, the
tasks of their jurisdiction), with what they are filtered, searched and sorted by, and their SQL statements.

An agency officer lists only their unit's tasks and can search them only by case or task reference, never by a
child's name or ID (they see neither, DOMAIN.md §8); a manager lists the dated duties of their jurisdiction and the
tasks on children living in it, and may also search by the child's name or the last digits of the ID number. The
case reference and the pathway a row shows are joined into the list query, never looked up row by row, so that a
page costs the same few statements whatever its size. Deadlines filter by local days in Asia/Shanghai
(``CAREFLOW_TIMEZONE``), both ends included.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session

from careflow.routing import jurisdiction_prefix
from core.settings import get_settings
from models.base import utcnow
from models.case import Case, PathwayRun
from models.child import Child
from models.task import OPEN_STATE_VALUES, AgencyTask, TaskState
from models.user import UserRole, WebUser
from web.list_params import Choice, Filter, ListParams, ListSpec, date_range, pathway_choices
from web.list_search import Search, case_ref_search, child_search, task_ref_search
from web.paging import Order, Page, fetch_page
from web.scope import child_in, require_role

STATE_CHOICES = (
    Choice("open", "list.state_open"), Choice("closed", "list.state_closed"),
    *(Choice(s.value, f"state.{s.value}") for s in TaskState), Choice("all", "list.all"),
)

#: open tasks by deadline (the inbox: the partial index ``ix_agency_task_open_unit_due``), or newest first
TASK_ORDERS = (
    Order("due", "list.sort_due", ((AgencyTask.due_at, False), (AgencyTask.id, False))),
    Order("requested", "list.sort_requested", ((AgencyTask.requested_at, True), (AgencyTask.id, True))),
)


def task_spec() -> ListSpec:
    """Officer inbox and manager task list: state, overdue/escalated, pathway, unit and area (managers), deadline
    range, search."""
    return ListSpec(filters=(
        Filter("state", "list.state", choices=STATE_CHOICES, default="open",
               description="open (default), closed, all or one task state"),
        Filter("flag", "list.flag", choices=(Choice("overdue", "task.overdue"), Choice("ack_overdue",
                                                                                       "task.ack_overdue"),
                                             Choice("escalated", "list.escalated")),
               description="overdue, ack_overdue (acknowledgement time passed) or escalated"),
        Filter("pathway", "case.pathways", choices=pathway_choices(),
               description="a pathway key, or duty (dated duties outside any case)"),
        Filter("unit", "task.unit", kind="unit", description="agency unit code (managers)"),
        Filter("area", "list.area", kind="area",
               description="county or township code: the child's residence (managers)"),
        Filter("due_from", "list.due_from", kind="date", description="deadline on or after (local day)"),
        Filter("due_to", "list.due_to", kind="date", description="deadline on or before (local day)"),
        Filter("follow", "list.follow", choices=(Choice("yes", "list.follow_yes"),),
               description="yes: the tasks the officer's unit follows at the child's registration place (跟进)"),
    ), orders=TASK_ORDERS, search_hint_key="list.search_tasks")


#: filters an agency officer may use (their unit is fixed; they never look up where a child lives)
OFFICER_TASK_FILTERS = {"state", "flag", "pathway", "due_from", "due_to", "follow"}
#: filters a manager may use (they see every task of their jurisdiction: nothing to follow)
MANAGER_TASK_FILTERS = {"state", "flag", "pathway", "unit", "area", "due_from", "due_to"}


@dataclass
class TaskRow:
    """A listed task with the names joined in: its case reference and pathway key ('' for a dated duty)."""

    task: AgencyTask
    case_reference: str
    pathway: str


def task_scope(user: WebUser, params: ListParams) -> list[list]:
    """Who sees which tasks, as disjoint alternatives (each a list of SQL conditions, ANDed): an officer, one — their
    unit (with ``follow=yes``, the tasks their unit follows at a child's registration place,
    ``ix_agency_task_follower_due``); a manager, two — the dated duties of their jurisdiction (``case_id IS NULL``, by the duty's own
    jurisdiction code) and the tasks on children living in it (``Child`` joined), narrowed by ``unit`` and ``area``.

    Kept apart so that each can be counted from its own index (a county's children, then their cases' tasks) instead
    of testing an ``OR`` across joined tables on every open task of the province."""
    f = params.filters
    if UserRole(user.role) == UserRole.agency_officer:
        if f.get("follow") == "yes":  # 跟进: handled at the registration place, followed by the residence unit
            return [[AgencyTask.follower_unit_code == (user.unit_code or "")]]
        return [[AgencyTask.unit_code == (user.unit_code or "")]]
    require_role(user, UserRole.manager)
    if not user.jurisdiction_code:
        return [[sa.false()]]
    duties = [AgencyTask.case_id.is_(None),
              AgencyTask.jurisdiction_code.startswith(jurisdiction_prefix(user.jurisdiction_code), autoescape=True)]
    children = [child_in(user.jurisdiction_code)]
    if "area" in f:
        duties.append(AgencyTask.jurisdiction_code.startswith(jurisdiction_prefix(f["area"]), autoescape=True))
        children.append(child_in(f["area"]))
    if "unit" in f:
        duties.append(AgencyTask.unit_code == f["unit"])
        children.append(AgencyTask.unit_code == f["unit"])
    return [duties, children]


def task_conditions(user: WebUser, params: ListParams, now: dt.datetime, *, scope: bool = True) -> list:
    """SQL conditions of a task list for ``user`` (needs ``Case``, ``PathwayRun`` and, for managers, ``Child``
    outer-joined): the scope of :func:`task_scope` (one ``OR`` of its alternatives; left out with ``scope=False``)
    and the filters."""
    f = params.filters
    role = UserRole(user.role)
    conditions = []
    if scope:
        branches = task_scope(user, params)
        conditions.append(sa.and_(*branches[0]) if len(branches) == 1
                          else sa.or_(*[sa.and_(*branch) for branch in branches]))
    state = f.get("state", "open")
    if state == "open":
        conditions.append(AgencyTask.state.in_(OPEN_STATE_VALUES))
    elif state == "closed":
        conditions.append(AgencyTask.state.not_in(OPEN_STATE_VALUES))
    elif state != "all":
        conditions.append(AgencyTask.state == state)
    flag = f.get("flag")
    if flag == "overdue":
        conditions += [AgencyTask.state.in_(OPEN_STATE_VALUES), AgencyTask.due_at < now]
    elif flag == "ack_overdue":
        conditions += [AgencyTask.state == TaskState.requested.value, AgencyTask.ack_due_at < now]
    elif flag == "escalated":
        conditions.append(AgencyTask.escalation_level > 0)
    if "pathway" in f:
        conditions.append(AgencyTask.pathway_run_id.is_(None) if f["pathway"] == "duty"
                          else PathwayRun.pathway == f["pathway"])
    conditions += date_range(AgencyTask.due_at, params, "due_from", "due_to", get_settings().timezone)
    if params.q:
        search = Search.of(params.q)
        by_ref = [case_ref_search(search)] if search.kind == "case_ref" else []
        if search.kind in ("task_ref", "id_tail") and re.fullmatch(r"[0-9a-f]{8}", search.text.lower()):
            by_ref.append(task_ref_search(search.text.lower()))
        if role == UserRole.manager and search.kind in ("id_tail", "name"):
            by_ref.append(child_search(search))
        conditions.append(sa.or_(*by_ref) if by_ref else sa.false())
    return conditions


def list_tasks(session: Session, user: WebUser, params: ListParams, *, now: dt.datetime | None = None
               ) -> Page[TaskRow]:
    """A page of tasks for an agency officer (their unit) or a manager (their jurisdiction): two statements,
    the case reference and pathway joined in."""
    now = now or utcnow()
    conditions = task_conditions(user, params, now)
    manager = UserRole(user.role) == UserRole.manager

    def joined(query):
        query = (query.outerjoin(Case, Case.id == AgencyTask.case_id)
                 .outerjoin(PathwayRun, PathwayRun.id == AgencyTask.pathway_run_id))
        return query.outerjoin(Child, Child.id == Case.child_id) if manager else query

    query = joined(sa.select(AgencyTask, Case.reference, PathwayRun.pathway)).where(*conditions)
    needs_joins = manager or "pathway" in params.filters or params.q
    count = sa.select(sa.func.count()).select_from(AgencyTask)
    count = joined(count) if needs_joins else count
    filters = task_conditions(user, params, now, scope=False)
    counts = [count.where(*branch, *filters) for branch in task_scope(user, params)]  # disjoint: summed
    page = fetch_page(session, query, counts, params.page)
    return page.map(lambda row: TaskRow(row[0], row[1] or "", row[2] or ""))
