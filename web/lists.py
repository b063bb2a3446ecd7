"""The lists of children, cases, key care files (一人一档) and users — of the web app and the JSON API — with what
each is filtered, searched and sorted by, and its two SQL statements (page and count). The task lists are
:mod:`web.task_list`.

Every list applies the scope rules of :mod:`web.scope` in SQL: caseworkers and managers list the children, cases
and files inside their jurisdiction and may search by the child's name or the last digits of the ID number
(:mod:`web.list_search`); admins list users. The names a row shows (the case's child) are joined into the list
query, never looked up row by row, so that a page costs the same few statements whatever its size. Dates are
local days in Asia/Shanghai (``CAREFLOW_TIMEZONE``), both ends included.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session

from core.audit import record_audit
from core.settings import get_settings
from models.base import utcnow
from models.case import Case, CaseStatus, PathwayRun
from models.child import Child
from models.resident_id import mask_resident_id
from models.key_care_files import FileStatus, KeyCareFile, file_reference
from models.user import UserRole, WebUser
from web.case_marks import case_flag, with_progress
from web.list_params import Choice, Filter, ListParams, ListSpec, date_range, pathway_choices, yes_no
from web.list_search import Search, case_search, child_search
from web.paging import Order, Page, fetch_page
from web.scope import child_in, confidential_case, require_role

# --------------------------------------------------------------------------------------------- children


CHILD_SPEC = ListSpec(filters=(
    Filter("area", "list.area", kind="area", description="county, township or village code of residence"),
    yes_no("key_care", "child.key_care"),
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
    conditions += date_range(Child.created_at, params, "from", "to", get_settings().timezone)
    if params.q:
        conditions.append(child_search(Search.of(params.q)))
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
    Filter("pathway", "case.pathways", choices=pathway_choices()[:-1], description="has a run of this pathway"),
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


def case_state_conditions(status: str) -> list:
    """The SQL conditions of the cases list's status filter: ``open``, ``closed``, ``close_requested`` (open, a
    closure awaiting the manager's review) or ``all`` (none)."""
    if status == "close_requested":
        return [Case.status == CaseStatus.open.value, Case.close_requested_at.is_not(None)]
    return [] if status == "all" else [Case.status == CaseStatus(status).value]


def in_state_filter(case: Case, status: str) -> bool:
    """Whether ``case`` is one the status filter ``status`` lists (the Python twin of :func:`case_state_conditions`):
    a case found by its whole reference outside the filter is shown with a note."""
    if status == "close_requested":
        return case.status == CaseStatus.open and case.close_requested_at is not None
    return status == "all" or case.status == CaseStatus(status)


def list_cases(session: Session, user: WebUser, params: ListParams, *, progress: bool = False,
               now: dt.datetime | None = None) -> Page[tuple]:
    """A page of the cases on children living in the user's jurisdiction, each with its child. A search for a
    whole case reference finds that case whatever the status filter (a fresh user searched for a closed case's
    reference under the default 办理中 and read 「无记录」).

    ``progress`` (the cases page, issue 12): each row also carries where the case stands — ``(case, child, next task,
    its pathway, overdue open tasks, escalation level, latest pathway run, a programme place still to come)`` — in the
    same one statement: the open task with the soonest deadline and the latest pathway run joined by correlated
    subqueries (primary key look-ups), the count of overdue open tasks and the highest escalation level above the
    assignee (reminders left out, open tasks only) as scalar subqueries on ``agency_task.case_id``'s index, the
    place by an ``EXISTS`` on ``programme_invitation.case_id``'s: evaluated for the page's rows only, never a per-row
    round trip."""
    require_role(user, UserRole.caseworker, UserRole.manager)
    f = params.filters
    conditions = [child_in(user.jurisdiction_code)]
    if UserRole(user.role) == UserRole.caseworker:
        conditions.append(~confidential_case())  # the misconduct notice's case: agencies and managers only
    state = case_state_conditions(f.get("status", "open"))
    search = Search.of(params.q) if params.q else None
    if state and search is not None and search.kind == "case_ref":  # a whole reference finds its case in any state
        conditions.append(sa.or_(sa.and_(*state), Case.reference == search.text))
    else:
        conditions += state
    if "pathway" in f:
        conditions.append(sa.exists().where(PathwayRun.case_id == Case.id, PathwayRun.pathway == f["pathway"]))
    if "flag" in f:
        conditions.append(case_flag(f["flag"], now or utcnow()))
    if "area" in f:
        conditions.append(child_in(f["area"]))
    conditions += date_range(Case.opened_at, params, "from", "to", get_settings().timezone)
    if search is not None:
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
    yes_no("no_contact", "file.no_contact"),
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
                          else child_search(search))
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
    yes_no("active", "admin.active"),
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
    "CASE_SPEC", "CHILD_SPEC", "FILE_SPEC", "FileSummary", "USER_SPEC",
    "audit_names_shown", "case_state_conditions", "in_state_filter", "list_cases", "list_children", "list_files",
    "list_users",
]
