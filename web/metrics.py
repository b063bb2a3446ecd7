"""The manager's dashboard: tasks, response times, on-time share and escalations inside a jurisdiction.

A task belongs to a jurisdiction when its case's child lives there (:func:`web.scope.child_in`); a dated
duty without a case, by its own jurisdiction code. Per group (county of the case, or agency unit):

* ``open``: requested, acknowledged or in progress; ``overdue``: open and past its deadline;
* ``median_ack_hours``: median of acknowledged − requested; ``median_complete_hours``: of answered − requested
  over completed tasks;
* ``on_time_share``: tasks completed by their deadline ÷ (completed tasks + open tasks past their deadline).
  Rejected tasks are left out: a rejected step is re-issued as a new attempt, which counts.
"""
from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict

from sqlmodel import Session, select

from careflow.routing import jurisdiction_prefix
from models.agency import AgencyUnit
from models.base import utcnow
from models.case import Case, PathwayRun
from models.child import Child
from models.regions import get_county
from models.task import OPEN_STATES, AgencyTask, Escalation, TaskState
from web.i18n import Translator
from web.schemas import DashboardOut, EscalationOut, GroupOut, PathwayRowOut
from web.scope import child_in
from web.views import flow_run_url, pathway_title, step_definition


def county_name(code: str) -> str:
    try:
        return get_county(code).name
    except ValueError:
        return code


def _hours(delta: dt.timedelta) -> float:
    return delta.total_seconds() / 3600


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def _group(key: str, name: str, tasks: list[AgencyTask], now: dt.datetime) -> GroupOut:
    open_tasks = [t for t in tasks if TaskState(t.state) in OPEN_STATES]
    overdue = [t for t in open_tasks if t.due_at < now]
    completed = [t for t in tasks if TaskState(t.state) == TaskState.completed]
    on_time = [t for t in completed if t.answered_at and t.answered_at <= t.due_at]
    due = len(completed) + len(overdue)
    return GroupOut(
        key=key, name=name, open=len(open_tasks), overdue=len(overdue),
        median_ack_hours=_median([_hours(t.acknowledged_at - t.requested_at) for t in tasks if t.acknowledged_at]),
        median_complete_hours=_median([_hours(t.answered_at - t.requested_at) for t in completed if t.answered_at]),
        completed=len(completed), completed_on_time=len(on_time), due=due,
        on_time_share=round(len(on_time) / due, 3) if due else None,
    )


def tasks_in(session: Session, jurisdiction: str) -> list[tuple[AgencyTask, Case | None]]:
    """Every task inside ``jurisdiction`` with its case (None for a dated duty)."""
    rows = session.exec(
        select(AgencyTask, Case).join(Case, Case.id == AgencyTask.case_id).join(Child, Child.id == Case.child_id)
        .where(child_in(jurisdiction))
    ).all()
    duties = session.exec(select(AgencyTask).where(
        AgencyTask.case_id == None,  # noqa: E711
        AgencyTask.jurisdiction_code.startswith(jurisdiction_prefix(jurisdiction), autoescape=True))).all()
    return [(t, c) for t, c in rows] + [(t, None) for t in duties]


def build_dashboard(session: Session, jurisdiction: str, *, t: Translator, now: dt.datetime | None = None,
                    pathway_limit: int = 100, escalation_limit: int = 50) -> DashboardOut:
    """The dashboard of ``jurisdiction`` (a county, city or province code) at ``now`` (default: now)."""
    now = now or utcnow()
    rows = tasks_in(session, jurisdiction)
    units = {u.code: u for u in session.exec(select(AgencyUnit)).all()}
    by_county: dict[str, list[AgencyTask]] = defaultdict(list)
    by_unit: dict[str, list[AgencyTask]] = defaultdict(list)
    for task, case in rows:
        by_county[case.county_code if case else task.jurisdiction_code[:6]].append(task)
        by_unit[task.unit_code].append(task)
    all_tasks = [task for task, _ in rows]

    tasks_by_id = {task.id: (task, case) for task, case in rows}
    escalations = []
    if tasks_by_id:
        fired = session.exec(select(Escalation).where(Escalation.task_id.in_(list(tasks_by_id)))
                             .order_by(Escalation.fired_at.desc()).limit(escalation_limit)).all()
        for e in fired:
            task, case = tasks_by_id[e.task_id]
            escalations.append(EscalationOut(
                task_short_ref=task.short_ref, case_reference=case.reference if case else "", unit_code=task.unit_code,
                step_title=task.title, rung=e.rung, level=e.level, fired_at=e.fired_at))

    runs = session.exec(
        select(PathwayRun, Case).join(Case, Case.id == PathwayRun.case_id).join(Child, Child.id == Case.child_id)
        .where(child_in(jurisdiction)).order_by(PathwayRun.started_at.desc()).limit(pathway_limit)
    ).all()
    open_by_run: dict = defaultdict(list)
    for task in all_tasks:
        if TaskState(task.state) in OPEN_STATES and task.pathway_run_id:
            open_by_run[task.pathway_run_id].append(task)
    pathways = []
    for run, case in runs:
        current = []
        for task in sorted(open_by_run.get(run.id, []), key=lambda x: x.requested_at):
            step = step_definition(run.pathway, task.step_key)
            current.append(t.pick(step, "title") if step else task.title)
        pathways.append(PathwayRowOut(
            case_reference=case.reference, case_status=str(case.status), county_code=case.county_code,
            pathway=run.pathway, title=pathway_title(run.pathway, t), status=str(run.status), current_steps=current,
            started_at=run.started_at, ended_at=run.ended_at, outcome=run.outcome,
            flow_run_url=flow_run_url(run.flow_run_id),
        ))

    return DashboardOut(
        jurisdiction=jurisdiction, as_of=now, totals=_group(jurisdiction, t("common.total"), all_tasks, now),
        by_county=[_group(code, county_name(code), tasks, now) for code, tasks in sorted(by_county.items())],
        by_unit=[_group(code, units[code].name if code in units else code, tasks, now)
                 for code, tasks in sorted(by_unit.items())],
        escalations=escalations, pathways=pathways,
    )
