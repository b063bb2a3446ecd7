"""Opening the joint-meeting duties (定期会商, 闽民童〔2025〕5号 measure 十一) of every county.

Each period (``policy/joint_meeting.yaml``: quarterly by default, :mod:`models.joint_meeting`) every Fujian county
whose convener (the procuratorate, *default*) has its own county unit in the agency directory gets one dated duty,
``joint_meeting:<county>:<YYYY-MM>``: an :class:`models.task.AgencyTask` with no case, due on the period's last day
at 24:00 (Asia/Shanghai), its ``task_requested`` message stored in the outbox. The sweeper escalates it like every
task (reminder, supervisor at the deadline, the county manager after); the unit completes it on its task page or with
``careflow task complete`` and the meeting's date, participants, minutes and agreed measures
(:data:`models.joint_meeting.MEETING_OUTCOME`, checked like any duty's answer). Opening is idempotent (the unique
``duty_key``): the daily scheduled flow (:mod:`flows.joint_meeting`) opens each period's duties on its first day.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session, select

from core.audit import record_audit
from careflow.survey.duty_calendar import end_of_day, today_local
from models.agency import AgencyUnit
from models.base import utcnow
from models.joint_meeting import KIND, load_joint_meeting_policy, meeting_key, meeting_period
from models.regions import load_regions
from models.task import AgencyTask
from notifications.messages import enqueue_task_message

__all__ = ["MeetingDuties", "open_meeting_duties"]


@dataclass
class MeetingDuties:
    """What :func:`open_meeting_duties` did: the period (``YYYY-MM`` of its first month), its due day, the duty keys
    opened now, and the counties without a convener unit of their own (no duty: add the unit to the directory)."""

    period: str
    due_on: dt.date
    opened: list[str] = field(default_factory=list)
    notifications: list = field(default_factory=list)
    no_unit: list[str] = field(default_factory=list)


def open_meeting_duties(session: Session, *, today: dt.date | None = None,
                        now: dt.datetime | None = None) -> MeetingDuties:
    """Open this period's joint-meeting duty for every county that has none yet (one query for the units, one for
    the keys already taken: about 90 counties, not growing with the children); returns what was opened.

    ``today`` (Asia/Shanghai) chooses the period; ``now`` (UTC) is the request time. The caller commits, then sends
    the stored messages (``result.notifications``) or leaves them to the sweeper.
    """
    now = now or utcnow()
    today = today or today_local(now)
    policy = load_joint_meeting_policy()
    period = meeting_period(today, policy.every_months)
    result = MeetingDuties(period=period.label, due_on=period.last)
    counties = {c.code: c for c in load_regions().counties}
    units = {u.jurisdiction_code: u for u in session.exec(select(AgencyUnit).where(
        AgencyUnit.agency_type == policy.convener, AgencyUnit.active == True,  # noqa: E712
        AgencyUnit.jurisdiction_code.in_(list(counties)))).all()}
    keys = {meeting_key(code, period): code for code in counties if code in units}
    taken = set(session.exec(select(AgencyTask.duty_key).where(AgencyTask.duty_key.in_(list(keys)))).all())
    result.no_unit = sorted(code for code in counties if code not in units)
    for key, code in keys.items():
        if key in taken:
            continue
        unit = units[code]
        task = AgencyTask(duty_key=key, step_key=KIND, agency_type=unit.agency_type, unit_code=unit.code,
                          jurisdiction_code=code, requested_at=now, due_at=end_of_day(period.last),
                          title=f"流动儿童涉罪和严重不良行为防范定期会商（{counties[code].name}，{period.label}起）"[:120],
                          deadline_text=f"by {period.last.isoformat()}")
        try:
            with session.begin_nested():
                session.add(task)
        except sa.exc.IntegrityError:  # opened meanwhile by another run of the same day
            continue
        record_audit(session, actor="careflow-scheduler", action="task.requested", entity_type="task",
                     entity_id=task.id, reason=policy.source,
                     detail={"unit": unit.code, "duty_key": key, "due_at": task.due_at.isoformat()})
        result.notifications.append(enqueue_task_message(session, task=task, event="task_requested"))
        result.opened.append(key)
    return result
