"""Reporting programmes (关爱服务活动): the departments' quarterly duty to report them, and the dashboard's figures
that make measures （九）（十）（十一） of 闽民童〔2025〕5号 evidence rather than a claim.

* :func:`open_report_duties` — at the start of each quarter (the daily scheduled flow ``programme-report-duties``,
  :mod:`flows.programmes`; it does nothing once the quarter's duties exist) every active county-level unit of a department responsible for a programme item
  (``delivery: programme`` in ``policy/service_list.yaml``: 18 names seven bodies, 19 five, 20 six) gets the dated
  duty ``programme_report:<2026Q4>:<unit code>`` (:func:`models.programmes.report_duty_key`): record the quarter's
  programmes with their attendance and confirm, due ``programme_report_days`` (*default* 10) calendar days after the
  quarter ends (the last day moved to the next working day when it is a rest day, 民法典 第二百零三条). It is a task
  like any other: the sweeper reminds the unit, tells its supervisor at the deadline and the county manager past it.
* :func:`programme_figures` — programmes, seats, invited, attended, absent, children who came without a referral and
  children waiting, by county and item, for a jurisdiction.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import pendulum
import sqlalchemy as sa
from sqlmodel import Session, select

from core.audit import record_audits
from core.settings import get_settings
from careflow.routing import jurisdiction_prefix
from models.agency import AgencyUnit
from models.base import utcnow
from models.deadlines import DeadlineRule, compute_deadline
from models.policy import load_policy
from models.programmes import (
    REPORT_STEP, InvitationStatus, Programme, ProgrammeInvitation, quarter_bounds, quarter_label, quarter_of,
    report_duty_key,
)
from models.task import AgencyTask
from notifications.outbox_batch import TaskMessage, enqueue_task_messages

__all__ = ["ProgrammeFigure", "open_report_duties", "programme_figures",
           "report_departments"]

SOURCE = "闽民童〔2025〕5号 （九）（十）（十一）：各有关部门按照职责分工组织开展流动儿童关爱服务活动（每季度报告，期限为默认值）"


def report_departments() -> list[str]:
    """The agency types responsible for a programme item, in the list's order, each once."""
    seen: dict[str, None] = {}
    for item in load_policy().service_items.values():
        if item.delivery == "programme":
            seen.update(dict.fromkeys(item.departments))
    return list(seen)


def report_deadline(quarter: str):
    """The :class:`models.deadlines.Deadline` of the quarter's report: ``programme_report_days`` calendar days after
    the quarter's last day (Asia/Shanghai)."""
    settings = get_settings()
    _, last = quarter_bounds(quarter)
    start = pendulum.datetime(last.year, last.month, last.day, tz=settings.timezone)
    return compute_deadline(start, DeadlineRule(amount=settings.programme_report_days, unit="calendar_days"),
                            tz=settings.timezone)


def _county_level(column) -> sa.ColumnElement:
    return sa.and_(sa.func.length(column) == 6, sa.not_(column.endswith("00")))


def open_report_duties(session: Session, *, now: datetime | None = None, only: Collection[str] | None = None
                       ) -> list[AgencyTask]:
    """Open this quarter's report duty for every responsible county-level unit that lacks it (or only for the units
    whose codes are in ``only``); return those opened.

    Two reads (the units; the quarter's keys already taken, one range of the unique index) and, when some are
    missing, the tasks, their ``task.requested`` audit events and their ``task_requested`` messages in bulk, in one
    savepoint: a concurrent call that opened them first makes this one open none (the unique ``duty_key``).
    """
    now = now or utcnow()
    quarter = quarter_of(pendulum.instance(now).in_timezone(get_settings().timezone).date())
    units = session.exec(select(AgencyUnit).where(
        AgencyUnit.active, AgencyUnit.agency_type.in_(report_departments()),
        _county_level(AgencyUnit.jurisdiction_code)).order_by(AgencyUnit.code)).all()
    if only is not None:
        units = [u for u in units if u.code in set(only)]
    prefix = f"{REPORT_STEP}:{quarter}:"
    taken = set(session.exec(select(AgencyTask.duty_key).where(
        AgencyTask.duty_key >= prefix, AgencyTask.duty_key < prefix[:-1] + ";")).all())
    missing = [u for u in units if report_duty_key(u.code, quarter) not in taken]
    if not missing:
        return []
    deadline = report_deadline(quarter)
    period = quarter_label(quarter)
    tasks = [AgencyTask(
        duty_key=report_duty_key(u.code, quarter), step_key=REPORT_STEP, agency_type=u.agency_type,
        unit_code=u.code, jurisdiction_code=u.jurisdiction_code, title=f"{period}关爱服务活动报告",
        requested_at=now, due_at=deadline.due_at, due_provisional=deadline.provisional,
        deadline_text=str(deadline.rule)) for u in missing]
    try:
        with session.begin_nested():
            session.add_all(tasks)
            session.flush()
    except sa.exc.IntegrityError:  # another sweep opened them meanwhile
        return []
    record_audits(session, [
        {"actor": "careflow", "action": "task.requested", "entity_type": "task", "entity_id": t.id, "reason": SOURCE,
         "detail": {"unit": t.unit_code, "duty_key": t.duty_key, "due_at": t.due_at.isoformat(),
                    "provisional": t.due_provisional}} for t in tasks])
    enqueue_task_messages(session, [TaskMessage(task=t, event="task_requested") for t in tasks])
    return tasks


@dataclass(frozen=True)
class ProgrammeFigure:
    """Programmes of one item in one county: ``programmes`` recorded, of which ``held`` (attendance recorded);
    ``seats`` offered; children ``invited`` (every seated referral), ``attended``, ``absent``; ``walk_ins`` (came
    without a referral); ``waiting`` (referred, no programme yet)."""

    county_code: str
    item: int
    programmes: int = 0
    held: int = 0
    seats: int = 0
    invited: int = 0
    attended: int = 0
    absent: int = 0
    walk_ins: int = 0
    waiting: int = 0


def _in(column, jurisdiction: str) -> sa.ColumnElement:
    county = jurisdiction_prefix(jurisdiction)[:6]
    if len(county) == 6:
        return column == county
    return column.between(county.ljust(6, "0"), county.ljust(6, "9"))


def programme_figures(session: Session, jurisdiction: str, *, since: _dt.date | None = None) -> list[ProgrammeFigure]:
    """The figures by county and item for the counties inside ``jurisdiction`` (a county, city or the province),
    programmes starting on or after ``since`` (default all); two grouped queries, sorted by county and item."""
    where = [_in(Programme.county_code, jurisdiction)]
    if since is not None:
        where.append(Programme.starts_at >= datetime(since.year, since.month, since.day, tzinfo=_dt.timezone.utc))
    rows: dict[tuple[str, int], dict] = {}
    for county, item, count, held, seats, walk_ins in session.execute(
            sa.select(Programme.county_code, Programme.item, sa.func.count(), sa.func.count(Programme.attendance_at),
                      sa.func.sum(Programme.capacity), sa.func.sum(Programme.walk_ins))
            .where(*where).group_by(Programme.county_code, Programme.item)):
        rows[(county, item)] = {"programmes": count, "held": held, "seats": int(seats or 0),
                                "walk_ins": int(walk_ins or 0)}
    invitation = ProgrammeInvitation
    joined = sa.select(invitation.county_code, invitation.item, invitation.status, sa.func.count()).select_from(
        invitation).outerjoin(Programme, Programme.id == invitation.programme_id).where(
        _in(invitation.county_code, jurisdiction))
    if since is not None:
        joined = joined.where(sa.or_(invitation.programme_id.is_(None), *where[1:]))
    for county, item, status, count in session.execute(
            joined.group_by(invitation.county_code, invitation.item, invitation.status)):
        row = rows.setdefault((county, item), {})
        status = InvitationStatus(status)
        if status == InvitationStatus.withdrawn:  # a place given back holds no seat and waits for none
            continue
        if status == InvitationStatus.waiting:
            row["waiting"] = count
        else:
            row["invited"] = row.get("invited", 0) + count
            if status != InvitationStatus.invited:
                row[status.value] = count
    return [ProgrammeFigure(county_code=county, item=item, **values) for (county, item), values in sorted(rows.items())]
