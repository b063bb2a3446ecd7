"""What is late and what waits for a decision, as the case page and the case list show it (issue 12).

* :func:`late_text` / :func:`escalated_text` — the marks beside a task's state: 已逾期 N 个工作日/小时
  (:func:`careflow.lateness.lateness`) and 已升级至…（rung's label） (:func:`careflow.lateness.escalation_rung`).
* :func:`escalation_levels` — for a case page, the highest level fired above the assignee per open task of the
  case (one statement; reminders are not escalations).
* :func:`mark_timeline` — sets ``late`` and ``escalated`` on a :class:`web.outputs.CaseDetail`'s open tasks.
* :func:`with_progress` / :func:`case_progress` — the cases list's columns: current step, next deadline, marks,
  what waits (added to the list's one page query, presented without SQL).
* :func:`closing_view` — the case page's closing section: awaiting decision, review needed and why, the pending
  request, and the closure history (:func:`closure_rows`; :mod:`careflow.closing`).
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session

from careflow.closing import (
    REVIEW_REASON_KEYS, closed_by_manager, closure_history, has_open_pathway, programme_place_to_come,
    review_reasons,
)
from careflow.lateness import escalation_rung, lateness
from models.case import OPEN_PATHWAY_STATUSES, Case, CaseStatus, PathwayRun
from models.task import OPEN_STATE_VALUES, AgencyTask, Escalation
from web.i18n import Translator
from web.names import people_names
from web.outputs import CaseDetail
from web.views import step_definition


def late_text(due_at: dt.datetime | None, deadline_text: str, now: dt.datetime, t: Translator) -> str:
    """「已逾期 2 个工作日」/「已逾期 5 小时」, or "" when not late."""
    if due_at is None:
        return ""
    found = lateness(due_at, deadline_text, now)
    if found is None:
        return ""
    n, unit = found
    return t(f"late.{unit}", n=n)


def escalated_text(level: int | None, t: Translator) -> str:
    """「已升级至县级民政部门（逾期督办）」 for an escalation level above the assignee, or ""."""
    rung = escalation_rung(level)
    if rung is None:
        return ""
    return t("escalated.to", who=t(f"escalated.who.{rung}"), rung=t.label(rung, "rung"))


def escalation_level_sql(task_id_column):
    """A correlated scalar subquery: the highest escalation level fired above the assignee for the task whose id is
    ``task_id_column`` (NULL when none)."""
    return (sa.select(sa.func.max(Escalation.level)).where(Escalation.task_id == task_id_column,
                                                           Escalation.rung != "reminder").scalar_subquery())


def escalation_levels(session: Session, case_id: uuid.UUID) -> dict[uuid.UUID, int]:
    """``{task id: level}`` for the case's open tasks escalated above their assignee (one statement)."""
    rows = session.execute(
        sa.select(Escalation.task_id, sa.func.max(Escalation.level))
        .join(AgencyTask, AgencyTask.id == Escalation.task_id)
        .where(AgencyTask.case_id == case_id, AgencyTask.state.in_(OPEN_STATE_VALUES), Escalation.rung != "reminder")
        .group_by(Escalation.task_id)).all()
    return {task_id: level for task_id, level in rows}


def mark_timeline(session: Session, detail: CaseDetail, case_id: uuid.UUID, now: dt.datetime,
                  t: Translator) -> CaseDetail:
    """Set ``late`` and ``escalated`` on the open tasks of ``detail``'s timeline."""
    levels = escalation_levels(session, case_id)
    for row in detail.timeline:
        if row.state in OPEN_STATE_VALUES:
            row.late = late_text(row.due_at, _rule_of(row.deadline_text), now, t)
            row.escalated = escalated_text(levels.get(row.task_id), t)
    return detail


def _rule_of(shown: str) -> str:
    """The timeline's deadline text is already in the reader's language (``3个工作日``): what :func:`lateness`
    needs is only whether it counts hours or days."""
    return "hours" if ("小时" in shown or "hour" in shown) else "days"


@dataclass
class ClosingView:
    """The closing section of a case page."""

    awaiting_decision: bool = False
    open_pathway: bool = False
    review: list[str] = field(default_factory=list)
    programme_place: bool = False  # the child waits for a programme place, which closing gives up
    requested_at: dt.datetime | None = None
    requested_by: str = ""
    request_reason: str = ""
    history: list[dict] = field(default_factory=list)  # :func:`closure_rows`, oldest first
    by_manager: bool = False  # the county manager closes it (a misconduct notice's case)


def awaiting_decision_sql():
    """SQL condition on ``Case``: open, no close request waiting, no pathway running, no programme place still to come
    (:func:`careflow.closing.programme_place_to_come`), and a pathway that ended since the case was opened or last
    reopened — "路径已结束，待决定是否结案"."""
    since = sa.func.coalesce(Case.reopened_at, Case.opened_at)
    return sa.and_(
        Case.status == CaseStatus.open.value, Case.close_requested_at.is_(None),
        ~sa.exists().where(PathwayRun.case_id == Case.id, PathwayRun.status.in_(OPEN_PATHWAY_STATUSES)),
        ~programme_place_to_come(Case.id),
        sa.exists().where(PathwayRun.case_id == Case.id, PathwayRun.ended_at.is_not(None),
                          PathwayRun.ended_at >= since))


def case_flag(flag: str, now: dt.datetime):
    """SQL condition on ``Case`` for the cases list's ``flag`` filter: ``overdue`` (an open task past its deadline),
    ``escalated`` (an open task escalated above its assignee) or ``awaiting`` (:func:`awaiting_decision_sql`)."""
    if flag == "awaiting":
        return awaiting_decision_sql()
    task = aliased(AgencyTask, name="flagged_task")
    if flag == "overdue":
        return sa.exists().where(task.case_id == Case.id, task.state.in_(OPEN_STATE_VALUES), task.due_at < now)
    return sa.exists().where(task.case_id == Case.id, task.state.in_(OPEN_STATE_VALUES),
                             Escalation.task_id == task.id, Escalation.rung != "reminder")


def closing_view(session: Session, case: Case, t: Translator) -> ClosingView:
    """What the case page says about closing ``case`` (a few statements, for one case), its review reasons worded by
    ``t`` (the page's language), and the closure history whatever the case's state (:func:`closure_rows`)."""
    history = closure_rows(session, case.id, t)
    if case.status != CaseStatus.open:
        return ClosingView(history=history)
    awaiting = session.execute(sa.select(sa.literal(1)).select_from(Case)
                               .where(Case.id == case.id, awaiting_decision_sql())).first() is not None
    by_manager = closed_by_manager(session, case.id)  # the manager closes it, asking nobody's review
    return ClosingView(awaiting_decision=awaiting, open_pathway=has_open_pathway(session, case.id),
                       review=[] if by_manager else [t(REVIEW_REASON_KEYS.get(r, r))
                                                     for r in review_reasons(session, case.id)],
                       by_manager=by_manager,
                       programme_place=session.execute(
                           sa.select(sa.literal(1)).where(programme_place_to_come(case.id))).first() is not None,
                       requested_at=case.close_requested_at,
                       requested_by=people_names(session, [case.close_requested_by]).get(
                           case.close_requested_by, case.close_requested_by) if case.close_requested_by else "",
                       request_reason=case.close_request_reason, history=history)


def closure_rows(session: Session, case_id: uuid.UUID, t: Translator) -> list[dict]:
    """The case's closing decisions (:func:`careflow.closing.closure_history`) as a person reads them, oldest
    first: when, what (申请结案, 同意结案 …), who (by name) and the reason or note under its own label (审核意见 for a
    manager's approval). A reopening no longer hides the closure before it."""
    events = closure_history(session, case_id)
    names = people_names(session, [e.actor for e in events])
    return [{"at": e.at, "action": e.action, "what": t(f"closing.history.{e.action}"),
             "who": names.get(e.actor, e.actor), "reason": e.reason,
             "reason_label": t(f"closing.history_reason.{e.action}")} for e in events]


def with_progress(query, now: dt.datetime):
    """``query`` (cases with their child) with each case's next open task, its pathway, the number of overdue open
    tasks, the highest escalation level of its open tasks, its latest pathway run and whether a programme place of it
    is still to come (see :func:`web.lists.list_cases`)."""
    open_task = aliased(AgencyTask, name="next_task")
    next_run = aliased(PathwayRun, name="next_run")
    latest_run = aliased(PathwayRun, name="latest_run")
    inner = aliased(AgencyTask, name="open_task")
    next_id = (sa.select(inner.id).where(inner.case_id == Case.id, inner.state.in_(OPEN_STATE_VALUES))
               .order_by(inner.due_at, inner.id).limit(1).scalar_subquery())
    latest_id = (sa.select(PathwayRun.id).where(PathwayRun.case_id == Case.id)
                 .order_by(PathwayRun.started_at.desc(), PathwayRun.id.desc()).limit(1).scalar_subquery())
    overdue = (sa.select(sa.func.count()).select_from(inner)
               .where(inner.case_id == Case.id, inner.state.in_(OPEN_STATE_VALUES), inner.due_at < now)
               .scalar_subquery())
    level = (sa.select(sa.func.max(Escalation.level)).select_from(inner).join(Escalation, Escalation.task_id == inner.id)
             .where(inner.case_id == Case.id, inner.state.in_(OPEN_STATE_VALUES), Escalation.rung != "reminder")
             .scalar_subquery())
    return (query.add_columns(open_task, next_run.pathway, overdue.label("overdue"), level.label("level"), latest_run,
                              programme_place_to_come(Case.id).label("place_to_come"))
            .outerjoin(open_task, open_task.id == next_id)
            .outerjoin(next_run, next_run.id == open_task.pathway_run_id)
            .outerjoin(latest_run, latest_run.id == latest_id))


@dataclass
class CaseProgress:
    """Where a case of the list stands: its next step and deadline, how late, escalated to whom, what waits."""

    step: str = ""
    due_at: dt.datetime | None = None
    late: str = ""
    overdue_tasks: int = 0
    escalated: str = ""
    waiting: str = ""  # 路径已结束，待决定是否结案 / 结案申请待审核 / …


def case_progress(case: Case, next_task: AgencyTask | None, pathway: str | None, overdue: int | None,
                  level: int | None, latest_run: PathwayRun | None, now: dt.datetime, t: Translator,
                  place_to_come: bool = False) -> CaseProgress:
    """A row of :func:`web.lists.list_cases` with ``progress`` as the cases page shows it (no SQL)."""
    progress = CaseProgress(overdue_tasks=overdue or 0, escalated=escalated_text(level, t))
    if next_task is not None:
        step = step_definition(pathway or "", next_task.step_key) if pathway else None
        progress.step = t.pick(step, "title") if step else next_task.title
        progress.due_at = next_task.due_at
        progress.late = late_text(next_task.due_at, next_task.deadline_text, now, t)
    if case.status != CaseStatus.open:
        return progress
    if case.close_requested_at is not None:
        progress.waiting = t("closing.requested_short")
    elif (latest_run is not None and latest_run.ended_at is not None and next_task is None and not place_to_come
          and str(latest_run.status) not in OPEN_PATHWAY_STATUSES
          and latest_run.ended_at >= (case.reopened_at or case.opened_at)):
        progress.waiting = t("closing.awaiting")
    return progress


__all__ = ["CaseProgress", "ClosingView", "awaiting_decision_sql", "case_flag", "case_progress", "closing_view", "escalated_text",
           "escalation_level_sql", "escalation_levels", "late_text", "mark_timeline", "with_progress"]
