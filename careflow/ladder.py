"""The escalation ladder's rule: which rungs an open task has reached, and when it reaches the next one
(DOMAIN.md §6, ``policy/escalation.yaml``).

Pure functions of a task's times and state, the ladder's settings and the holiday calendar: :func:`due_rungs`
says which rungs a task has reached at a time, :func:`next_rung_time` when the next one not yet fired is reached
(both read the ladder from :func:`_windows`, the one statement of it). All times are UTC-aware; the ``overdue``
rung counts working days with the State Council's holiday arrangement (:mod:`models.deadlines`). The sweep that
fires them is :mod:`careflow.escalation`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import pendulum
import yaml
from pydantic import BaseModel, Field, field_validator

from core.settings import get_settings
from models.areas import overdue_area
from models.deadlines import DeadlineRule, compute_deadline
from models.task import OPEN_STATES, AgencyTask, TaskState
from models.working_days import WorkingDayCalendar, default_calendar
from notifications.routing import caseworker_unit
from notifications.routing import manager_channel


class Ladder(BaseModel):
    """The ladder's settings (``policy/escalation.yaml``)."""

    reminder_at_fraction: float = Field(0.75, gt=0, lt=1)
    overdue_after: DeadlineRule = DeadlineRule(amount=24, unit="hours")

    @field_validator("overdue_after", mode="before")
    @classmethod
    def _parse_rule(cls, value):
        return DeadlineRule.parse(value) if isinstance(value, str) else value


@lru_cache
def load_ladder(path: Path | None = None) -> Ladder:
    """The ladder from ``policy/escalation.yaml``.

    Raises:
        ValueError: naming the file and the field when a value is malformed.
    """
    path = path or get_settings().policy_dir / "escalation.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    data.pop("source", None)
    try:
        return Ladder(**data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


#: ``next_rung_at`` of an open task whose every reachable rung has fired (or can no longer be reached).
NO_MORE_RUNGS = datetime(9999, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Rung:
    """A reached rung: its name, level (1–3) and recipients as (channel key, role)."""

    name: str
    level: int
    recipients: tuple[tuple[str, str], ...]


LEVELS = {"reminder": 1, "ack_overdue": 1, "deadline": 2, "overdue": 3}


def _windows(task: AgencyTask, ladder: Ladder, county_code: str | None) -> list[tuple[str, datetime, datetime | None]]:
    """The ladder's rule for one open task: ``(rung, reached from, reached until or None)`` in firing order.

    ``reminder`` is reached from ``reminder_at_fraction`` of the time allowed until the deadline (not after it);
    ``ack_overdue`` from ``ack_due_at`` while the task is still ``requested``; ``deadline`` from ``due_at``;
    ``overdue`` from ``due_at`` + ``overdue_after`` (working days counted with the holiday calendar), only
    for a task with an area above it (:func:`task_county`: whose manager it goes to). All times UTC-aware.
    """
    windows: list[tuple[str, datetime, datetime | None]] = [
        ("reminder", task.requested_at + (task.due_at - task.requested_at) * ladder.reminder_at_fraction, task.due_at)]
    if task.ack_due_at and TaskState(task.state) == TaskState.requested:
        windows.append(("ack_overdue", task.ack_due_at, None))
    windows.append(("deadline", task.due_at, None))
    if county_code:
        windows.append(("overdue", _overdue_at(task.due_at, ladder.overdue_after, default_calendar()), None))
    return windows


@lru_cache(maxsize=65_536)
def _overdue_at(due_at: datetime, rule: DeadlineRule, calendar: WorkingDayCalendar) -> datetime:
    """``due_at`` + ``rule`` (``calendar`` for day rules), UTC; cached: many tasks share a deadline. The calendar is
    part of the key: a newly loaded holiday arrangement makes a new default calendar, so nothing stale is reused."""
    return compute_deadline(pendulum.instance(due_at), rule, calendar).due_at.astimezone(timezone.utc)


def due_rungs(task: AgencyTask, *, now: datetime, county_code: str | None, caseworker: str | None,
              ladder: Ladder) -> list[Rung]:
    """The rungs ``task`` has reached at ``now`` (all times UTC-aware), whether fired already or not.

    Recipients' channel keys: the unit (officer), ``<unit>.supervisor``, ``caseworker.<login>``,
    ``civil_affairs-<county>.manager``; at the ``deadline`` rung also the unit following a task handled at the
    registration place (``follower_unit_code``, role ``follower``: :mod:`careflow.registration_place`). A closed task reaches no rung.
    """
    if TaskState(task.state) not in OPEN_STATES:
        return []
    return [_rung(name, task, county_code, caseworker) for name, start, until in _windows(task, ladder, county_code)
            if now >= start and (until is None or now < until)]


def _rung(name: str, task: AgencyTask, county_code: str | None, caseworker: str | None) -> Rung:
    supervisor = (f"{task.unit_code}.supervisor", "supervisor")
    if name == "reminder":
        recipients: tuple[tuple[str, str], ...] = ((task.unit_code, "officer"),)
    elif name == "ack_overdue":
        recipients = (supervisor,)
    elif name == "deadline":
        recipients = (supervisor, (caseworker_unit(caseworker), "caseworker")) if caseworker else (supervisor,)
        if task.follower_unit_code:  # handled at the registration place: the residence unit follows it
            recipients += ((task.follower_unit_code, "follower"),)
    else:
        recipients = ((manager_channel(county_code), "manager"),)
    return Rung(name, LEVELS[name], recipients)


def next_rung_time(task: AgencyTask, ladder: Ladder, fired, *, county_code: str | None,
                   now: datetime | None = None) -> datetime:
    """When ``task`` next reaches a rung not in ``fired`` (UTC-aware): what ``next_rung_at`` holds.

    Args:
        task: the task (its state, ``requested_at``, ``ack_due_at``, ``due_at``).
        ladder: the ladder (:func:`load_ladder`).
        fired: names of the rungs already fired (or being fired now).
        county_code: the task's county (its case's, else its jurisdiction's), None if it has none: then the
            ``overdue`` rung is never reached.
        now: the time of computing (default ``task.requested_at``); a ``reminder`` whose window closed before
            it (the deadline passed) is never reached.

    Returns:
        the earliest start of an unfired rung's window that can still be reached (it may be ``<= now`` when a
        reached rung is not in ``fired``), or :data:`NO_MORE_RUNGS` for a closed task or one with none left.
        Rung by rung it is the same rule as :func:`due_rungs`, so for any later time ``t`` a rung not in
        ``fired`` is in ``due_rungs(task, now=t)`` only if ``t >= next_rung_time(...)``.
    """
    if TaskState(task.state) not in OPEN_STATES:
        return NO_MORE_RUNGS
    now = now or task.requested_at
    starts = [start for name, start, until in _windows(task, ladder, county_code)
              if name not in fired and (until is None or now < until)]
    return min(starts, default=NO_MORE_RUNGS)


def task_county(task: AgencyTask, case_county: str | None) -> str | None:
    """The area whose civil affairs manager gets a task's ``overdue`` rung: :func:`models.areas.overdue_area` of its
    jurisdiction and its case's county (a city-level duty: the province; a province-level one: None, no rung)."""
    return overdue_area(task.jurisdiction_code, case_county)


def initial_next_rung_at(task: AgencyTask, county_code: str | None, now: datetime | None = None) -> datetime:
    """``next_rung_at`` of a task just opened (no rung fired), with the configured ladder."""
    return next_rung_time(task, load_ladder(), (), county_code=task_county(task, county_code), now=now)
