"""Deadlines in hours, calendar days and working days (Asia/Shanghai).

Public API
----------
* :class:`DeadlineRule` — ``24h`` / ``3d`` / ``15wd`` as written in policy files.
* :class:`Deadline` — the computed due time (Asia/Shanghai), whether it is provisional, and why.
* :func:`compute_deadline` — start time + rule -> :class:`Deadline`.
* :func:`is_overdue`, :func:`format_local` — small helpers for reminders, escalation and display.

Which days are working days, and whether that is known officially, is :mod:`models.working_days`'s question.

Legal basis for counting periods (中华人民共和国民法典, 总则编 第十章 期间计算):

* 第二百条: periods are counted in calendar years, months, days and hours (公历年、月、日、小时).
* 第二百零一条: a period counted in days does not count the day on which it starts; counting starts the next day.
  A period counted in hours starts at the stated time.
* 第二百零三条: if the last day of a period is a statutory rest day (法定休假日), the period ends on the day after the
  rest days; the period ends at 24:00 of its last day.
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

import pendulum
from pydantic import BaseModel, ConfigDict, Field

from models.working_days import WorkingDayCalendar, default_calendar

_RULE = re.compile(r"^\s*(\d+)\s*(h|d|wd)\s*$")
_UNITS = {"h": "hours", "d": "calendar_days", "wd": "working_days"}
#: Time zone in which local dates (and so working days) are determined.
DEFAULT_TZ = "Asia/Shanghai"


class DeadlineRule(BaseModel):
    """How long an agency has for a step: ``amount`` of ``unit``.

    Written in policy files as ``24h`` (clock hours), ``3d`` (calendar days) or ``15wd`` (working days).
    """

    model_config = ConfigDict(frozen=True)

    amount: int = Field(gt=0)
    unit: Literal["hours", "calendar_days", "working_days"]

    @classmethod
    def parse(cls, text: str) -> "DeadlineRule":
        """Parse ``"24h"``, ``"3d"`` or ``"15wd"``.

        Raises:
            ValueError: naming the value, when it is not one of those forms.
        """
        match = _RULE.match(str(text))
        if not match or int(match.group(1)) == 0:
            raise ValueError(f"{text!r} is not a deadline (write e.g. 24h, 3d or 15wd)")
        return cls(amount=int(match.group(1)), unit=_UNITS[match.group(2)])

    def __str__(self) -> str:
        names = {"hours": "hours", "calendar_days": "days", "working_days": "working days"}
        return f"{self.amount} {names[self.unit]}"

    def describe_zh(self) -> str:
        """The rule in Chinese, e.g. ``3个工作日``, ``24小时``, ``3日``."""
        names = {"hours": "小时", "calendar_days": "日", "working_days": "个工作日"}
        return f"{self.amount}{names[self.unit]}"


def _require_aware(value: object, name: str) -> pendulum.DateTime:
    if not isinstance(value, _dt.datetime):
        raise TypeError(f"{name} must be a timezone-aware datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    if isinstance(value, pendulum.DateTime):
        return value
    return pendulum.instance(value)


@dataclass(frozen=True)
class Deadline:
    """A computed deadline.

    Attributes:
        due_at: the moment the period ends, as a timezone-aware ``pendulum.DateTime`` in the local zone
            (Asia/Shanghai unless ``compute_deadline`` was given another ``tz``). For ``hours`` rules it is the start
            plus N hours; for day rules it is the end of the last day, represented as 23:59:59 local time (the law's
            24:00, 民法典 第二百零三条).
        provisional: True if a day consulted while counting fell in a year without an official holiday arrangement
            and was counted Monday–Friday; the due date may move when that year's arrangement is loaded.
        rule: the :class:`DeadlineRule` that produced it.
        note: why it is provisional (names the year(s)); empty when not provisional.

    Raises:
        ValueError: ``due_at`` is naive.
    """

    due_at: pendulum.DateTime
    provisional: bool
    rule: DeadlineRule
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "due_at", _require_aware(self.due_at, "due_at"))

    def due_at_utc(self) -> pendulum.DateTime:
        """``due_at`` converted to UTC (for storage and schedulers)."""
        return self.due_at.in_timezone("UTC")


def _provisional_note(years: tuple[int, ...]) -> str:
    if not years:
        return ""
    listed = ", ".join(str(y) for y in years)
    files = ", ".join(f"policy/calendar/{y}.yaml" for y in years)
    return (f"Provisional: no official holiday arrangement is loaded for {listed}; days in "
            f"{'that year' if len(years) == 1 else 'those years'} were counted Monday–Friday. "
            f"Load the State Council notice (国务院办公厅关于部分节假日安排的通知) with `careflow calendar load` "
            f"(or add {files}) to confirm.")


def compute_deadline(
    start: _dt.datetime | pendulum.DateTime,
    rule: DeadlineRule,
    calendar: WorkingDayCalendar | None = None,
    tz: str = DEFAULT_TZ,
) -> Deadline:
    """Compute when a period of ``rule`` starting at ``start`` ends.

    Args:
        start: when the period starts (e.g. the referral was received); timezone-aware, any zone — it is
            converted to ``tz`` and the local date in ``tz`` is what counts.
        rule: the period, e.g. ``DeadlineRule.parse("15wd")``.
        calendar: working-day calendar; ``None`` uses :func:`models.working_days.default_calendar`.
        tz: IANA zone for local dates and for ``Deadline.due_at``; default Asia/Shanghai.

    Semantics (民法典 第二百条–第二百零三条):

    * ``hours``: ``start`` + N clock hours, holidays and nights included (第二百零一条第二款: counted from the stated
      time; emergencies do not wait). Never provisional.
    * ``calendar_days``: the start day is not counted, counting starts the next day (第二百零一条第一款); the last
      day is start date + N. If that day is not a working day (weekend or statutory holiday) the last day becomes
      the first working day after it (第二百零三条第一款).
    * ``working_days``: the start day is not counted; the last day is the N-th working day after the start date
      (adjusted working weekends 调休 count, statutory holidays and ordinary weekends do not).
    * For both day units the deadline is the end of the last day, 24:00 (第二百零三条第二款), represented as
      23:59:59 local time on the last day. :func:`is_overdue` treats it as overdue from 24:00.
    * ``provisional`` is True if any day consulted (each counted day, the last day, and any day it was moved across)
      came from the Monday–Friday fallback; ``note`` names the year(s) lacking an official arrangement.

    Results for a given (local start date, rule) are cached in the calendar, so bulk computation is cheap.

    Returns:
        a :class:`Deadline` whose ``due_at`` is in ``tz``.

    Raises:
        ValueError: ``start`` is naive ("start must be timezone-aware, got ..."), or ``tz`` is not a valid zone.
        TypeError: ``start`` is not a datetime (e.g. a plain date).
    """
    local = _require_aware(start, "start").in_timezone(tz)
    if rule.unit == "hours":
        return Deadline(due_at=local.add(hours=rule.amount), provisional=False, rule=rule, note="")
    if calendar is None:
        calendar = default_calendar()
    last, years = calendar.last_day(_dt.date(local.year, local.month, local.day), rule.unit, rule.amount)
    due = pendulum.datetime(last.year, last.month, last.day, 23, 59, 59, tz=tz)
    return Deadline(due_at=due, provisional=bool(years), rule=rule, note=_provisional_note(years))


def is_overdue(deadline_or_due_at: Deadline | _dt.datetime, now: _dt.datetime) -> bool:
    """True if ``now`` is past the deadline.

    Compared at whole-second resolution: ``now`` is overdue once its second is after ``due_at``'s, so a day deadline
    stored as 23:59:59 is overdue from 24:00 (00:00:00 the next day, 民法典 第二百零三条) and a 24h deadline due at
    18:00:00 is overdue from 18:00:01.

    Args:
        deadline_or_due_at: a :class:`Deadline` or its aware ``due_at``.
        now: the current time, timezone-aware (any zone).

    Raises:
        ValueError: either time is naive.
    """
    due = deadline_or_due_at.due_at if isinstance(deadline_or_due_at, Deadline) else deadline_or_due_at
    due = _require_aware(due, "due_at")
    now = _require_aware(now, "now")
    return now.replace(microsecond=0) > due.replace(microsecond=0)


def format_local(dt: Deadline | _dt.datetime, tz: str = DEFAULT_TZ) -> str:
    """``dt`` in ``tz`` as ``"YYYY-MM-DD HH:MM"``, e.g. ``"2026-10-10 23:59"`` (for notices to caseworkers).

    Accepts a :class:`Deadline` (its ``due_at``) or an aware datetime.

    Raises:
        ValueError: ``dt`` is naive.
    """
    value = dt.due_at if isinstance(dt, Deadline) else dt
    if isinstance(value, _dt.datetime) and value.utcoffset() is not None:  # the common case, without pendulum
        return value.astimezone(_zone(tz)).strftime("%Y-%m-%d %H:%M")
    return _require_aware(value, "dt").in_timezone(tz).strftime("%Y-%m-%d %H:%M")


@lru_cache(maxsize=None)
def _zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)
