"""The lists of the web app and the JSON API — officer inbox and task lists, children, cases, key care files,
users — with what each is filtered, searched and sorted by, and its two SQL statements (page and count).

Every list applies the scope rules of :mod:`web.scope` in SQL: an agency officer lists only their unit's tasks
and can search them only by case or task reference (never by a child's name or ID: they see neither, DOMAIN.md §8);
caseworkers and managers list inside their jurisdiction and may search by the child's name or the last digits of
the ID number; admins list users. The names a row shows (case reference, pathway, child) are joined into the list
query, never looked up row by row, so that a page costs the same few statements whatever its size.

Search (``q``): ``CF-…`` a case reference (or its beginning), ``KF-…`` a key care file, 8 hex characters a task
(its short reference), 4–18 digits (or ending in X) the end of a resident ID, anything else a part of the name.
Dates are local days in Asia/Shanghai (``CAREFLOW_TIMEZONE``), both ends included.
"""
from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session

from core.audit import record_audit
from careflow.routing import jurisdiction_prefix
from core.settings import get_settings
from models.base import utcnow
from models.case import Case, CaseStatus, PathwayRun
from models.child import Child
from models.key_care_files import FileStatus, KeyCareFile, file_reference, parse_file_reference
from models.policy import load_policy
from models.resident_id import mask_resident_id
from models.task import OPEN_STATE_VALUES, AgencyTask, TaskState
from models.user import UserRole, WebUser
from web.paging import (
    Choice, Filter, ListParams, ListSpec, Order, Page, date_range, fetch_page, parse_list_params,
)
from web.case_marks import case_flag, with_progress
from web.scope import child_in, require_role

# --------------------------------------------------------------------------------------------- search


_TASK_REF = re.compile(r"^[0-9a-f]{8}$")
_ID_TAIL = re.compile(r"^\d{3,17}[\dX]$")


@dataclass(frozen=True)
class Search:
    """What a search text ``q`` asks for (see the module docstring); ``text`` normalised."""

    kind: str  # case_ref | file_ref | task_ref | id_tail | name
    text: str

    @classmethod
    def of(cls, q: str) -> "Search":
        text = q.strip()
        upper = text.upper()
        if upper.startswith("CF-"):
            return cls("case_ref", upper)
        if parse_file_reference(text) is not None and upper.startswith("KF"):
            return cls("file_ref", str(parse_file_reference(text)))
        if _TASK_REF.match(text.lower()) and not text.isdigit():
            return cls("task_ref", text.lower())
        if _ID_TAIL.match(upper):
            return cls("id_tail", upper)
        return cls("name", text)


def _child_search(search: Search):
    if search.kind == "id_tail":
        return Child.resident_id.endswith(search.text, autoescape=True)
    return Child.full_name.contains(search.text, autoescape=True)


def case_search(q: str):
    """The condition of the case list's search box ``q``: a case reference prefix (CF-…), else the child's name or
    the last digits of the ID number (caseworkers and managers only: they see the child)."""
    search = Search.of(q)
    return _case_ref(search) if search.kind == "case_ref" else _child_search(search)


def _case_ref(search: Search):
    """The case reference begins with the text (the whole reference included): ``ix_case_reference_prefix``."""
    return Case.reference.startswith(search.text, autoescape=True)


def _task_ref(short: str):
    """The task's id begins with the 8 hex characters ``short`` (its short reference): a range of ids, which the
    primary key serves (casting every id to text to compare its beginning read the whole table)."""
    return AgencyTask.id.between(uuid.UUID(short + "0" * 24), uuid.UUID(short + "f" * 24))


def _timezone() -> str:
    return get_settings().timezone


def _yes_no(name: str, label_key: str) -> Filter:
    return Filter(name, label_key, choices=(Choice("yes", "common.yes"), Choice("no", "common.no")))


# --------------------------------------------------------------------------------------------- tasks


def _pathway_choices() -> tuple[Choice, ...]:
    pathways = tuple(Choice(key, labels=(p.title_zh, p.title_en or p.title_zh))
                     for key, p in load_policy().pathways.items())
    return pathways + (Choice("duty", "list.duty"),)


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
        Filter("pathway", "case.pathways", choices=_pathway_choices(),
               description="a pathway key, or duty (dated duties outside any case)"),
        Filter("unit", "task.unit", kind="unit", description="agency unit code (managers)"),
        Filter("area", "list.area", kind="area",
               description="county or township code: the child's residence (managers)"),
        Filter("due_from", "list.due_from", kind="date", description="deadline on or after (local day)"),
        Filter("due_to", "list.due_to", kind="date", description="deadline on or before (local day)"),
    ), orders=TASK_ORDERS, search_hint_key="list.search_tasks")


#: filters an agency officer may use (their unit is fixed; they never look up where a child lives)
OFFICER_TASK_FILTERS = {"state", "flag", "pathway", "due_from", "due_to"}


@dataclass
class TaskRow:
    """A listed task with the names joined in: its case reference and pathway key ('' for a dated duty)."""

    task: AgencyTask
    case_reference: str
    pathway: str


def task_scope(user: WebUser, params: ListParams) -> list[list]:
    """Who sees which tasks, as disjoint alternatives (each a list of SQL conditions, ANDed): an officer, one — their
    unit; a manager, two — the dated duties of their jurisdiction (``case_id IS NULL``, by the duty's own
    jurisdiction code) and the tasks on children living in it (``Child`` joined), narrowed by ``unit`` and ``area``.

    Kept apart so that each can be counted from its own index (a county's children, then their cases' tasks) instead
    of testing an ``OR`` across joined tables on every open task of the province."""
    f = params.filters
    if UserRole(user.role) == UserRole.agency_officer:
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
    conditions += date_range(AgencyTask.due_at, params, "due_from", "due_to", _timezone())
    if params.q:
        search = Search.of(params.q)
        by_ref = [_case_ref(search)] if search.kind == "case_ref" else []
        if search.kind in ("task_ref", "id_tail") and re.fullmatch(r"[0-9a-f]{8}", search.text.lower()):
            by_ref.append(_task_ref(search.text.lower()))
        if role == UserRole.manager and search.kind in ("id_tail", "name"):
            by_ref.append(_child_search(search))
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


# --------------------------------------------------------------------------------------------- children


CHILD_SPEC = ListSpec(filters=(
    Filter("area", "list.area", kind="area", description="county, township or village code of residence"),
    _yes_no("key_care", "child.key_care"),
    Filter("from", "list.registered_from", kind="date", description="registered on or after (local day)"),
    Filter("to", "list.registered_to", kind="date", description="registered on or before (local day)"),
), orders=(
    Order("newest", "list.sort_newest", ((Child.created_at, True), (Child.id, True))),
    Order("name", "list.sort_name", ((Child.full_name, False), (Child.id, False))),
), search_hint_key="list.search_children")


def list_children(session: Session, user: WebUser, params: ListParams) -> Page[Child]:
    """A page of the children living in the user's jurisdiction (caseworkers and managers)."""
    require_role(user, UserRole.caseworker, UserRole.manager)
    f = params.filters
    conditions = [child_in(user.jurisdiction_code)]
    if "area" in f:
        conditions.append(child_in(f["area"]))
    if "key_care" in f:
        has = sa.cast(Child.key_care_criteria, sa.String) != "[]"
        conditions.append(has if f["key_care"] == "yes" else sa.not_(has))
    conditions += date_range(Child.created_at, params, "from", "to", _timezone())
    if params.q:
        conditions.append(_child_search(Search.of(params.q)))
    query = sa.select(Child).where(*conditions)
    count = sa.select(sa.func.count()).select_from(Child).where(*conditions)
    return fetch_page(session, query, count, params.page)


def audit_names_shown(session: Session, child_ids: list, *, actor: str, params: ListParams) -> None:
    """Record which children's names a list page showed ``actor`` (``child.list_read``; DOMAIN.md §8)."""
    if child_ids:
        record_audit(session, actor=actor, action="child.list_read", entity_type="child", entity_id="list",
                     detail={"count": len(child_ids), "ids": [getattr(i, "hex", i) for i in child_ids],
                             "filters": params.raw})


# --------------------------------------------------------------------------------------------- cases


CASE_SPEC = ListSpec(filters=(
    Filter("status", "common.status", choices=(Choice("open", "case.open_cases"), Choice("closed", "common.closed"),
                                               Choice("close_requested", "case.close_requested"),
                                               Choice("all", "case.all")), default="open",
           description="open (default), closed, close_requested (a closure awaiting the manager's review) or all"),
    Filter("pathway", "case.pathways", choices=_pathway_choices()[:-1], description="has a run of this pathway"),
    Filter("flag", "list.flag", choices=(Choice("overdue", "task.overdue"), Choice("escalated", "list.escalated"),
                                         Choice("awaiting", "closing.awaiting")),
           description="overdue (an open task past its deadline), escalated (an open task escalated above its "
                       "assignee) or awaiting (pathways ended, awaiting the closing decision)"),
    Filter("area", "list.area", kind="area", description="county, township or village code of the child's residence"),
    Filter("from", "list.opened_from", kind="date", description="opened on or after (local day)"),
    Filter("to", "list.opened_to", kind="date", description="opened on or before (local day)"),
), orders=(
    Order("newest", "list.sort_newest", ((Case.opened_at, True), (Case.id, True))),
    Order("reference", "list.sort_reference", ((Case.reference, False), (Case.id, False))),
), search_hint_key="list.search_cases")


def list_cases(session: Session, user: WebUser, params: ListParams, *, progress: bool = False,
               now: dt.datetime | None = None) -> Page[tuple]:
    """A page of the cases on children living in the user's jurisdiction, each with its child.

    ``progress`` (the cases page, issue 12): each row also carries where the case stands — ``(case, child, next task,
    its pathway, overdue open tasks, escalation level, latest pathway run)`` — in the same one statement: the open
    task with the soonest deadline and the latest pathway run joined by correlated subqueries (primary key
    look-ups), the count of overdue open tasks and the highest escalation level above the assignee
    (reminders left out, open tasks only) as scalar subqueries on ``agency_task.case_id``'s
    index: evaluated for the page's rows only, never a per-row round trip."""
    require_role(user, UserRole.caseworker, UserRole.manager)
    f = params.filters
    conditions = [child_in(user.jurisdiction_code)]
    status = f.get("status", "open")
    if status == "close_requested":
        conditions += [Case.status == CaseStatus.open.value, Case.close_requested_at.is_not(None)]
    elif status != "all":
        conditions.append(Case.status == CaseStatus(status).value)
    if "pathway" in f:
        conditions.append(sa.exists().where(PathwayRun.case_id == Case.id, PathwayRun.pathway == f["pathway"]))
    if "flag" in f:
        conditions.append(case_flag(f["flag"], now or utcnow()))
    if "area" in f:
        conditions.append(child_in(f["area"]))
    conditions += date_range(Case.opened_at, params, "from", "to", _timezone())
    if params.q:
        conditions.append(case_search(params.q))
    query = sa.select(Case, Child).join(Child, Child.id == Case.child_id).where(*conditions)
    if progress:
        query = with_progress(query, now or utcnow())
    count = sa.select(sa.func.count()).select_from(Case).join(Child, Child.id == Case.child_id).where(*conditions)
    return fetch_page(session, query, count, params.page).map(tuple)


# --------------------------------------------------------------------------------------------- key care files


class FileSummary(BaseModel):
    """A key care file (一人一档) in a list: its reference, the child (ID masked), where, since when, last contacts."""

    reference: str
    child_id: str
    full_name: str
    resident_id_masked: str
    county_code: str
    area_code: str
    criteria: list[str]
    status: str
    opened_on: dt.date
    closed_on: dt.date | None
    last_contact_on: dt.date | None
    last_visit_on: dt.date | None


FILE_SPEC = ListSpec(filters=(
    Filter("status", "common.status", choices=(Choice("active", "file.active"), Choice("closed", "file.closed"),
                                               Choice("all", "list.all")), default="active",
           description="active (default), closed or all"),
    Filter("area", "list.area", kind="area", description="county, township or village code of the child's residence"),
    _yes_no("no_contact", "file.no_contact"),
    Filter("from", "list.file_from", kind="date", description="opened on or after"),
    Filter("to", "list.file_to", kind="date", description="opened on or before"),
), orders=(
    Order("newest", "list.sort_newest", ((KeyCareFile.id, True),)),
    Order("contact", "list.sort_contact", ((sa.func.coalesce(KeyCareFile.last_contact_on, KeyCareFile.opened_on),
                                            False), (KeyCareFile.id, False))),
), search_hint_key="list.search_files")


def list_files(session: Session, user: WebUser, params: ListParams, *, today: dt.date) -> Page[FileSummary]:
    """A page of the key care files of children living in the user's jurisdiction. ``no_contact=yes``: no contact
    recorded this month (before the 1st of ``today``'s month, or never)."""
    require_role(user, UserRole.caseworker, UserRole.manager)
    f = params.filters
    conditions = [child_in(user.jurisdiction_code)]
    if f.get("status", "active") != "all":
        conditions.append(KeyCareFile.status == FileStatus(f.get("status", "active")).value)
    if "area" in f:
        conditions.append(child_in(f["area"]))
    if "no_contact" in f:
        stale = sa.or_(KeyCareFile.last_contact_on.is_(None), KeyCareFile.last_contact_on < today.replace(day=1))
        conditions.append(stale if f["no_contact"] == "yes" else sa.not_(stale))
    if "from" in f:
        conditions.append(KeyCareFile.opened_on >= f["from"])
    if "to" in f:
        conditions.append(KeyCareFile.opened_on <= f["to"])
    if params.q:
        search = Search.of(params.q)
        conditions.append(KeyCareFile.id == int(search.text) if search.kind == "file_ref"
                          else _child_search(search))
    query = sa.select(KeyCareFile, Child).join(Child, Child.id == KeyCareFile.child_id).where(*conditions)
    count = (sa.select(sa.func.count()).select_from(KeyCareFile).join(Child, Child.id == KeyCareFile.child_id)
             .where(*conditions))
    page = fetch_page(session, query, count, params.page)
    return page.map(lambda row: FileSummary(
        reference=file_reference(row[0].id), child_id=row[1].id.hex, full_name=row[1].full_name,
        resident_id_masked=mask_resident_id(row[1].resident_id), county_code=row[0].county_code,
        area_code=row[0].area_code, criteria=list(row[0].criteria), status=row[0].status,
        opened_on=row[0].opened_on, closed_on=row[0].closed_on, last_contact_on=row[0].last_contact_on,
        last_visit_on=row[0].last_visit_on))


# --------------------------------------------------------------------------------------------- users


USER_SPEC = ListSpec(filters=(
    Filter("role", "admin.role", choices=tuple(Choice(r.value, f"role.{r.value}") for r in UserRole),
           description="caseworker, agency_officer, manager or admin"),
    _yes_no("active", "admin.active"),
), orders=(
    Order("username", "list.sort_username", ((WebUser.username, False), (WebUser.id, False))),
    Order("newest", "list.sort_newest", ((WebUser.created_at, True), (WebUser.id, True))),
), search_hint_key="list.search_users")


def list_users(session: Session, user: WebUser, params: ListParams) -> Page[WebUser]:
    """A page of users (admins only), searched by user name, display name, jurisdiction or unit code."""
    require_role(user, UserRole.admin)
    f = params.filters
    conditions = []
    if "role" in f:
        conditions.append(WebUser.role == f["role"])
    if "active" in f:
        conditions.append(WebUser.active.is_(f["active"] == "yes"))
    if params.q:
        q = params.q
        conditions.append(sa.or_(WebUser.username.contains(q.lower(), autoescape=True),
                                 WebUser.display_name.contains(q, autoescape=True),
                                 WebUser.jurisdiction_code.startswith(q, autoescape=True),
                                 WebUser.unit_code.contains(q, autoescape=True)))
    query = sa.select(WebUser).where(*conditions)
    count = sa.select(sa.func.count()).select_from(WebUser).where(*conditions)
    return fetch_page(session, query, count, params.page)


__all__ = [
    "CASE_SPEC", "CHILD_SPEC", "FILE_SPEC", "FileSummary", "OFFICER_TASK_FILTERS", "Search", "TaskRow", "USER_SPEC",
    "audit_names_shown", "list_cases", "list_children", "list_files", "list_tasks", "list_users",
    "parse_list_params", "task_spec",
]
