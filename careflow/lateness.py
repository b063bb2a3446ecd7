"""What is late, as a caseworker reads it (issue 12): how long a task is past its deadline, and whom it was
escalated to.

* :func:`lateness` — ``(n, unit)``: a task due in working or calendar days is late by the working days after its
  deadline's last day up to today (Asia/Shanghai, the holiday calendar of :mod:`models.working_days`; the deadline's
  own day is not counted); one due in hours, or late by less than a working day, by whole clock hours (at least 1).
  ``unit`` is ``working_days`` or ``hours``.
* :func:`escalation_rung` — the highest rung of the escalation ladder (``policy/escalation.yaml``) that went
  above the assignee, by the level :mod:`careflow.escalation` records: 1 ``ack_overdue`` (the unit's supervisor),
  2 ``deadline`` (supervisor and caseworker), 3 ``overdue`` (the county manager). The reminder (level 1 too, to
  the assignee only) is not an escalation: callers pass the level of fired rungs other than ``reminder``.
"""
from __future__ import annotations

import datetime as dt

import pendulum

from core.settings import get_settings
from models.working_days import default_calendar

#: The rung above the assignee reached at each escalation level (reminders excluded).
RUNG_OF_LEVEL = {1: "ack_overdue", 2: "deadline", 3: "overdue"}


def lateness(due_at: dt.datetime, deadline_text: str, now: dt.datetime) -> tuple[int, str] | None:
    """How late a task due at ``due_at`` (UTC-aware) with the rule ``deadline_text`` (``"3 working days"``) is at
    ``now``: ``(n, "working_days")`` or ``(n, "hours")``; None when it is not late."""
    if due_at >= now:
        return None
    hours = max(1, int((now - due_at).total_seconds() // 3600))
    if not str(deadline_text or "").endswith("days"):  # stored as str(DeadlineRule): "24 hours", "3 working days"
        return hours, "hours"
    tz = get_settings().timezone
    last_day = (pendulum.instance(due_at).in_timezone(tz) - dt.timedelta(seconds=1)).date()
    today = pendulum.instance(now).in_timezone(tz).date()
    calendar = default_calendar()
    days, day = 0, last_day + dt.timedelta(days=1)
    while day <= today and days < 1000:
        days += calendar.day(day).working
        day += dt.timedelta(days=1)
    return (days, "working_days") if days else (hours, "hours")


def escalation_rung(level: int | None) -> str | None:
    """The rung name for an escalation ``level`` above the assignee (see the module), or None."""
    if not level:
        return None
    return RUNG_OF_LEVEL.get(min(int(level), 3))


__all__ = ["RUNG_OF_LEVEL", "escalation_rung", "lateness"]
