"""The caseworker's inbox (待我处理, issue 12): what needs them on the open cases of their jurisdiction, as three
lists, each paged by keyset and counted at most to :data:`web.counts.COUNT_LIMIT` (:mod:`web.paging`):

* ``late`` — open tasks past their deadline or their acknowledgement time, or escalated above their assignee
  (soonest deadline first; the partial index of open tasks by deadline);
* ``rejected`` — rejected tasks no later attempt of the same step followed (newest answer first): the caseworker
  decides where the step goes next (redirecting is another page's work: this list links to the case);
* ``ended`` — cases whose pathways have all ended since the case was opened or last reopened, with no closure
  requested: 路径已结束，待决定是否结案 (:func:`web.case_marks.awaiting_decision_sql`; newest case first);
* ``proposals`` — referrals a department's answer proposes for a child of the jurisdiction (数据比对建议转介,
  :mod:`careflow.exchange.proposals`; newest first), each with its one-click start.

Each list is two statements (page and bounded count), names joined in; the tabs' counts one bounded count each.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session

from careflow.exchange.proposals import open_proposals_query
from models.case import Case, CaseStatus, PathwayRun
from models.data_exchange import ReferralProposal
from models.child import Child
from models.task import OPEN_STATE_VALUES, AgencyTask, TaskState
from models.user import UserRole, WebUser
from web.case_marks import awaiting_decision_sql, escalation_level_sql
from web.counts import count_rows
from web.list_params import Choice, Filter, ListParams, ListSpec
from web.list_search import case_search
from web.paging import Order, Page, fetch_page
from web.scope import child_in, require_role

#: The inbox's lists, in the order of the tabs.
KINDS = ("late", "rejected", "ended", "proposals")

_SHOW = Filter("show", "todo.show", choices=tuple(Choice(k, f"todo.{k}") for k in KINDS), default="late",
               description="late, rejected, ended or proposals")


def spec(kind: str) -> ListSpec:
    """The list parameters of one tab (each tab has its own order)."""
    if kind == "proposals":
        orders = (Order("newest", "list.sort_newest", ((ReferralProposal.created_at, True),
                                                       (ReferralProposal.id, True))),)
    elif kind == "ended":
        orders = (Order("newest", "list.sort_newest", ((Case.opened_at, True), (Case.id, True))),)
    elif kind == "rejected":
        orders = (Order("newest", "list.sort_newest", ((AgencyTask.answered_at, True), (AgencyTask.id, True))),)
    else:
        orders = (Order("due", "list.sort_due", ((AgencyTask.due_at, False), (AgencyTask.id, False))),)
    return ListSpec(filters=(_SHOW,), orders=orders, search_hint_key="list.search_cases")


def _task_conditions(kind: str, now: dt.datetime) -> list:
    if kind == "late":
        return [AgencyTask.state.in_(OPEN_STATE_VALUES),
                sa.or_(AgencyTask.due_at < now,
                       sa.and_(AgencyTask.state == TaskState.requested.value, AgencyTask.ack_due_at < now),
                       AgencyTask.escalation_level >= 2)]
    later = aliased(AgencyTask, name="later_attempt")
    return [AgencyTask.state == TaskState.rejected.value,
            ~sa.exists().where(later.pathway_run_id == AgencyTask.pathway_run_id,
                               later.step_key == AgencyTask.step_key, later.attempt > AgencyTask.attempt)]


def _scope(user: WebUser, q: str = "") -> list:
    """The caseworker's open cases, narrowed by the search box ``q`` as the case list is (case reference, child's
    name or the last digits of the ID number)."""
    require_role(user, UserRole.caseworker)
    conditions = [child_in(user.jurisdiction_code), Case.status == CaseStatus.open.value]
    if q:
        conditions.append(case_search(q))
    return conditions


def _task_query(user: WebUser, kind: str, now: dt.datetime, q: str = ""):
    conditions = _scope(user, q) + _task_conditions(kind, now)
    query = (sa.select(AgencyTask, Case.reference, PathwayRun.pathway, escalation_level_sql(AgencyTask.id))
             .join(Case, Case.id == AgencyTask.case_id).join(Child, Child.id == Case.child_id)
             .outerjoin(PathwayRun, PathwayRun.id == AgencyTask.pathway_run_id).where(*conditions))
    count = (sa.select(sa.func.count()).select_from(AgencyTask).join(Case, Case.id == AgencyTask.case_id)
             .join(Child, Child.id == Case.child_id).where(*conditions))
    return query, count


def _ended_query(user: WebUser, q: str = ""):
    conditions = _scope(user, q) + [awaiting_decision_sql()]
    latest_id = (sa.select(PathwayRun.id).where(PathwayRun.case_id == Case.id)
                 .order_by(PathwayRun.ended_at.desc(), PathwayRun.id.desc()).limit(1).scalar_subquery())
    latest = aliased(PathwayRun, name="latest_run")
    query = (sa.select(Case, latest).join(Child, Child.id == Case.child_id)
             .outerjoin(latest, latest.id == latest_id).where(*conditions))
    count = sa.select(sa.func.count()).select_from(Case).join(Child, Child.id == Case.child_id).where(*conditions)
    return query, count


def _proposals_query(user: WebUser):
    """The open proposals of children living in the caseworker's jurisdiction (no search: a proposal has no case)."""
    require_role(user, UserRole.caseworker)
    return open_proposals_query(child_in(user.jurisdiction_code))


def _query(user: WebUser, kind: str, now: dt.datetime, q: str = ""):
    if kind == "proposals":
        return _proposals_query(user)
    return _ended_query(user, q) if kind == "ended" else _task_query(user, kind, now, q)


def list_inbox(session: Session, user: WebUser, params: ListParams, *, now: dt.datetime) -> Page[tuple]:
    """One page of the tab ``params.filters['show']``: tasks as ``(task, case reference, pathway, escalation
    level)``, ended cases as ``(case, its pathway run that ended last)``, proposals as ``(proposal, answer, child's
    name)``."""
    kind = params.filters.get("show", "late")
    query, count = _query(user, kind, now, params.q)
    return fetch_page(session, query, count, params.page).map(tuple)


def inbox_counts(session: Session, user: WebUser, *, now: dt.datetime) -> dict[str, tuple[int, bool]]:
    """``{kind: (total, exact)}`` of each tab, counted to at most :data:`web.counts.COUNT_LIMIT` rows each."""
    counts = {}
    for kind in KINDS:
        count = _query(user, kind, now)[1]
        total, exact, _estimated = count_rows(session, count)
        counts[kind] = (total, exact)
    return counts


__all__ = ["KINDS", "inbox_counts", "list_inbox", "spec"]
