"""The State Council's yearly holiday arrangement in the database: load it, recompute provisional deadlines, and
warn while next year's is missing (DOMAIN.md §6; 国务院办公厅关于<year>年部分节假日安排的通知).

* :func:`load_arrangement_file` (``careflow calendar load FILE``) checks the file
  (:func:`models.holidays.parse_arrangement`: errors naming the field and the value, Chinese unless the reader
  asked for English, nothing written on error) and stores the year in ``holiday_arrangement`` with its source,
  audited (``calendar.arrangement_loaded``).
  From then on :func:`models.working_days.default_calendar` answers that year from the database (database >
  ``policy/calendar`` file > ``chinese_calendar`` > weekday fallback): no code change for a new year.
* :func:`recompute_provisional` then pages through the open tasks whose deadline is provisional
  (``ix_agency_task_provisional_open``, keyset on (due_at, id), :data:`PAGE` tasks per transaction) and counts each
  deadline again from its start with the official calendar: a conditional bulk UPDATE of ``due_at``,
  ``due_provisional`` and the sweeper's ``next_rung_at`` (:func:`careflow.ladder.next_rung_time`), an audit
  event ``task.deadline_recomputed`` (old and new), and, when the deadline moved, one ``deadline_changed`` message
  to the unit and one to the case's caseworker, keyed ``<task>:deadline_changed:<recipient>:calendar<year>``.
  Loading the same file again finds nothing provisional left and tells nobody; an interrupted recomputation is
  finished by loading the file again (``holiday_arrangement.recomputed_at`` stays NULL until then).
* :func:`careflow.holiday_warning.check_next_year_calendar` (called by the sweeper) warns the provincial
  administrator, from 1 November, while next year's arrangement is missing: one keyed message per ISO week.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pendulum
import sqlalchemy as sa
from sqlmodel import Session, select

from careflow.ladder import load_ladder, next_rung_time, task_county
from core.audit import record_audit, record_audits
from core.bulk import update_rows
from core.db import forget_stored_calendar, session_scope
from core.settings import get_settings
from models.base import utcnow
from models.case import Case
from models.deadlines import DeadlineRule, compute_deadline, format_local
from models.working_days import WorkingDayCalendar, default_calendar
from models.holidays import Arrangement, ArrangementError, HolidayArrangement, Phrase, parse_arrangement
from models.dated_duties import ASSESSMENT_DUTY, DUTY_KINDS, split_duty_key
from models.task import PROVISIONAL_OPEN_SQL, AgencyTask, Escalation
from notifications.routing import caseworker_unit
from notifications.outbox_batch import TaskMessage, enqueue_task_messages

log = logging.getLogger(__name__)

#: Open provisional tasks recomputed per transaction.
PAGE = 500
#: The event of the message telling a unit or caseworker that a deadline moved.
EVENT = "deadline_changed"
ACTOR = "careflow"

# ---------------------------------------------------------------------------------------------------------------------
# the stored arrangements, as the default calendar's first source
# ---------------------------------------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------------------------------

@dataclass
class CalendarLoad:
    """What loading an arrangement did.

    ``stored``: the year was new and is now stored (False: the same arrangement was already there).
    ``examined``: open provisional tasks recounted; ``moved``: their deadline changed (each notified);
    ``confirmed``: same date, now official; ``still_provisional``: they also reach a year still without an
    arrangement; ``skipped``: dated duties of an unknown kind whose start is not known (left as they were);
    ``messages``: ``deadline_changed`` messages stored by this load (sent by the sweeper).
    """

    arrangement: Arrangement
    stored: bool = False
    examined: int = 0
    moved: int = 0
    confirmed: int = 0
    still_provisional: int = 0
    skipped: int = 0
    messages: int = 0


class ArrangementMissing(ArrangementError, LookupError):
    """The year's arrangement is not stored (nothing to recompute with): worded as :class:`ArrangementError`."""


class CalendarUnreadable(ArrangementError, RuntimeError):
    """The stored arrangement cannot be read back from the database (nothing recomputed; loading the file again
    finishes the work): worded as :class:`ArrangementError`."""


def load_arrangement_file(path: str | Path, *, actor: str, now: datetime | None = None) -> CalendarLoad:
    """Check the file, store its arrangement (one transaction), then recompute the provisional deadlines.

    Raises:
        ArrangementError: the file is malformed, or the year is stored with a different arrangement (naming the
            field and the value; ``.text(lang)`` in the reader's language, ``str()`` Chinese); nothing is written.
        OSError: the file cannot be read.
    """
    path = Path(path)
    return load_arrangement_text(path.read_text(encoding="utf-8"), where=Phrase("holidays.where.file", path=str(path)),
                                 actor=actor, now=now)


def load_arrangement_text(text: str, *, where: object, actor: str, now: datetime | None = None) -> CalendarLoad:
    """:func:`load_arrangement_file` for a file's text (the admin page's form); ``where`` names it in errors (a
    :class:`models.holidays.Phrase`, worded in the reader's language, or text as written).

    Raises:
        ArrangementError: as :func:`load_arrangement_file`; nothing is written.
    """
    arrangement = parse_arrangement(text, where=where)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    with session_scope() as session:
        stored = store_arrangement(session, arrangement, actor=actor, sha256=digest, now=now)
    result = CalendarLoad(arrangement=arrangement, stored=stored)
    recompute_provisional(arrangement.year, result=result, now=now)
    return result


def store_arrangement(session: Session, arrangement: Arrangement, *, actor: str, sha256: str = "",
                      now: datetime | None = None) -> bool:
    """Store ``arrangement`` (audited ``calendar.arrangement_loaded``); False if the same one is already stored.

    Raises:
        ArrangementError: the year is stored with other dates or another source (a correction is not loaded over
            it silently: the tasks counted with the stored one would not be recounted).
    """
    existing = session.get(HolidayArrangement, arrangement.year)
    if existing is not None:
        old = Arrangement.from_row(existing)
        if (old.holidays, old.working_days, old.source) == (arrangement.holidays, arrangement.working_days,
                                                              arrangement.source):
            return False
        raise ArrangementError("holidays.problem.stored_differs", year=arrangement.year,
                               at=format_local(existing.loaded_at), by=existing.loaded_by, source=existing.source)
    _check_neighbours(session, arrangement)
    row = HolidayArrangement(**arrangement.as_row(), sha256=sha256, loaded_at=now or utcnow(), loaded_by=actor[:64])
    session.add(row)
    try:
        session.flush()
    except sa.exc.IntegrityError:  # loaded meanwhile by another process
        session.rollback()
        return store_arrangement(session, arrangement, actor=actor, sha256=sha256, now=now)
    record_audit(session, actor=actor, action="calendar.arrangement_loaded", entity_type="holiday_arrangement",
                 entity_id=arrangement.year, reason=arrangement.source,
                 detail={"year": arrangement.year, "source": arrangement.source, "note": arrangement.note,
                         "holidays": len(arrangement.holidays), "working_days": len(arrangement.working_days),
                         "sha256": sha256})
    return True


def _check_neighbours(session: Session, arrangement: Arrangement) -> None:
    """Refuse an arrangement that lists a date the stored arrangement of the year before or after lists the other
    way (a day off in one, an adjusted working day in the other: e.g. 31 December around New Year).

    Raises:
        ArrangementError: naming the field, the date and the other year's notice.
    """
    for other in session.exec(select(HolidayArrangement).where(
            HolidayArrangement.year.in_([arrangement.year - 1, arrangement.year + 1]))).all():
        theirs = Arrangement.from_row(other)
        for field, mine, opposite in (("holidays", arrangement.holidays, theirs.working_days),
                                      ("working_days", arrangement.working_days, theirs.holidays)):
            clash = sorted(mine & opposite)
            if clash:
                raise ArrangementError("holidays.problem.neighbour", field=field, value=clash[0].isoformat(),
                                       year=other.year, source=other.source,
                                       kind=Phrase("holidays.kind.working" if field == "holidays" else
                                                   "holidays.kind.off"))


# ---------------------------------------------------------------------------------------------------------------------
# recomputing provisional deadlines
# ---------------------------------------------------------------------------------------------------------------------

_UNITS = {"hours": "hours", "days": "calendar_days", "working days": "working_days"}


def deadline_basis(task: AgencyTask, tz: str) -> tuple[pendulum.DateTime, DeadlineRule] | None:
    """Where a task's deadline is counted from, and its rule; None when unknown.

    A pathway step (``careflow.step_tasks``) counts ``deadline_text`` from ``requested_at``; a city list's dated duty
    (``careflow.city_list``) counts it from 00:00 of the publication date in its ``duty_key`` (the province's
    confirmation of receipt, and a city's filing again, from ``requested_at``). Other dated
    duties are not recounted (their start is their own module's business).
    """
    try:
        amount, unit = task.deadline_text.split(" ", 1)
        rule = DeadlineRule(amount=int(amount), unit=_UNITS[unit])
    except (ValueError, KeyError):
        return None
    if task.duty_key is None:
        return pendulum.instance(task.requested_at), rule
    kind, _, published, attempt = split_duty_key(task.duty_key)
    if kind == ASSESSMENT_DUTY:  # a key care file's assessment (careflow.key_care): counted from its request
        return pendulum.instance(task.requested_at), rule
    if kind not in DUTY_KINDS:
        return None
    if not DUTY_KINDS[kind].counted_from_publication or attempt > 1:  # the province's confirmation, a filing again
        return pendulum.instance(task.requested_at), rule
    try:
        day = _dt.date.fromisoformat(published)
    except ValueError:
        return None
    return pendulum.datetime(day.year, day.month, day.day, tz=tz), rule


def provisional_page(lo: datetime, *, dialect: str, after: tuple | None = None, limit: int = PAGE,
                     lock_rows: bool = False) -> sa.TextualSelect:
    """The next page (``id``, ``due_at``) of open provisional tasks due from ``lo`` on, by (due_at, id) after the
    keyset ``after``: an index range scan of ``ix_agency_task_provisional_open`` (its predicate as literal SQL, so the
    planner matches the partial index; named on SQLite, whose planner has no statistics). ``lock_rows`` adds
    ``FOR UPDATE`` (PostgreSQL only)."""
    t = AgencyTask.__table__.c
    params = [sa.bindparam("lo", lo, type_=t.due_at.type)]
    where = "due_at >= :lo"
    if after is not None:
        where += " AND due_at >= :after_at AND (due_at > :after_at OR id > :after_id)"
        params += [sa.bindparam("after_at", after[0], type_=t.due_at.type),
                   sa.bindparam("after_id", after[1], type_=t.id.type)]
    hint = " INDEXED BY ix_agency_task_provisional_open" if dialect == "sqlite" else ""
    sql = (f"SELECT id, due_at FROM agency_task{hint} WHERE {PROVISIONAL_OPEN_SQL} AND {where} "
           f"ORDER BY due_at, id LIMIT {int(limit)}" + (" FOR UPDATE" if lock_rows and dialect == "postgresql" else ""))
    return sa.text(sql).bindparams(*params).columns(sa.column("id", t.id.type), sa.column("due_at", t.due_at.type))


def recompute_provisional(year: int, *, result: CalendarLoad | None = None, calendar: WorkingDayCalendar | None = None,
                          now: datetime | None = None, page: int = PAGE) -> CalendarLoad:
    """Recount every open provisional deadline that may reach into ``year``'s arrangement (due on or after 1 December
    of the year before: a notice may list days off from then),
    one transaction per page; then mark the year recomputed. See the module docstring.

    Args:
        calendar: the calendar to count with (default: the default calendar, re-read from the database).
        result: a :class:`CalendarLoad` to add the figures to.

    Raises:
        CalendarUnreadable: (a RuntimeError) the stored arrangement of ``year`` cannot be read back; nothing
            recomputed. ArrangementMissing: (a LookupError) ``year`` is not stored. Both worded as
            :class:`models.holidays.ArrangementError` (``text(lang)``, ``str()`` Chinese).
    """
    forget_stored_calendar()
    calendar = calendar or default_calendar()
    if year not in calendar.official_years:  # the stored arrangement could not be read: recount nothing
        raise CalendarUnreadable("holidays.problem.unreadable", year=year)
    now = now or utcnow()
    settings = get_settings()
    tz = settings.timezone
    if result is None:
        stored = None
        with session_scope() as session:
            row = session.get(HolidayArrangement, year)
            stored = Arrangement.from_row(row) if row is not None else None
        if stored is None:
            raise ArrangementMissing("holidays.problem.not_loaded", year=year)
        result = CalendarLoad(arrangement=stored)
    lo = pendulum.datetime(year - 1, 12, 1, tz=tz).in_timezone("UTC")  # a notice may list days from 1 December before
    after = None
    while True:
        with session_scope() as session:
            rows = session.execute(provisional_page(lo, dialect=session.get_bind().dialect.name, after=after,
                                                    limit=page, lock_rows=True)).all()
            if rows:
                _recompute_page(session, [r.id for r in rows], result, calendar, now, tz)
        if len(rows) < page:
            break
        after = (rows[-1].due_at, rows[-1].id)
    with session_scope() as session:
        session.execute(sa.update(HolidayArrangement).where(HolidayArrangement.year == year)
                        .values(recomputed_at=now))
    return result


def _recompute_page(session: Session, ids: list[uuid.UUID], result: CalendarLoad, calendar: WorkingDayCalendar,
                    now: datetime, tz: str) -> None:
    """Recount the deadlines of one page of open provisional tasks (``ids``) and write what changed: the conditional
    bulk UPDATE, the audit events and the ``deadline_changed`` messages; the figures are added to ``result``."""
    rows = session.execute(select(AgencyTask, Case.county_code, Case.caseworker)
                           .outerjoin(Case, Case.id == AgencyTask.case_id).where(AgencyTask.id.in_(ids))).all()
    fired = _fired_rungs(session, ids)
    ladder = load_ladder()
    arrangement = result.arrangement
    updates, audits, messages = [], [], []
    for task, county, caseworker in rows:
        result.examined += 1
        basis = deadline_basis(task, tz)
        if basis is None:
            result.skipped += 1
            continue
        new = compute_deadline(basis[0], basis[1], calendar=calendar, tz=tz)
        old_due, new_due = task.due_at, new.due_at.astimezone(timezone.utc)
        moved = new_due != old_due
        if not moved and new.provisional:
            result.still_provisional += 1
            continue
        session.expunge(task)  # plain values from here on: written by the bulk UPDATE below
        task.due_at, task.due_provisional = new_due, new.provisional
        task.next_rung_at = next_rung_time(task, ladder, fired.get(task.id, set()),
                                           county_code=task_county(task, county), now=now)
        updates.append({"id": task.id, "due_at": new_due, "due_provisional": new.provisional,
                        "next_rung_at": task.next_rung_at})
        audits.append(_recount_audit(task, old_due, str(basis[1]), arrangement))
        if new.provisional:
            result.still_provisional += 1
        if not moved:
            result.confirmed += 1
            continue
        result.moved += 1
        messages += _deadline_changed_messages(task, caseworker, old_due, arrangement, tz)
    _write_recounted(session, updates, audits)
    result.messages += len(enqueue_task_messages(session, messages))


def _fired_rungs(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, set[str]]:
    """The escalation rungs already fired for each of the tasks ``ids`` (their next rung is counted after them)."""
    fired: dict[uuid.UUID, set[str]] = {}
    for task_id, rung in session.execute(select(Escalation.task_id, Escalation.rung)
                                         .where(Escalation.task_id.in_(ids))).all():
        fired.setdefault(task_id, set()).add(rung)
    return fired


def _recount_audit(task: AgencyTask, old_due: datetime, rule: str, arrangement: Arrangement) -> dict:
    """The ``task.deadline_recomputed`` audit event of ``task`` (already holding its new deadline)."""
    return {"actor": ACTOR, "action": "task.deadline_recomputed", "entity_type": "task", "entity_id": task.id,
            "case_id": task.case_id, "reason": f"载入{arrangement.year}年节假日安排：{arrangement.source}",
            "detail": {"old_due_at": old_due.isoformat(), "new_due_at": task.due_at.isoformat(),
                       "provisional": task.due_provisional, "rule": rule, "year": arrangement.year}}


def _deadline_changed_messages(task: AgencyTask, caseworker: str | None, old_due: datetime,
                               arrangement: Arrangement, tz: str) -> list[TaskMessage]:
    """The ``deadline_changed`` messages of a task whose deadline moved: to its unit and to the case's caseworker
    (when it has one), keyed by the arrangement's year (``calendar<year>``): a reload tells nobody twice."""
    summary = (f"原截止时间 {format_local(old_due, tz)}（暂定）调整为 {format_local(task.due_at, tz)}"
               f"{'（仍为暂定）' if task.due_provisional else ''}；依据：{arrangement.source}")
    occasion = f"calendar{arrangement.year}"
    messages = [TaskMessage(task=task, event=EVENT, role="officer", outcome_summary=summary, occasion=occasion)]
    if caseworker:
        messages.append(TaskMessage(task=task, event=EVENT, recipient_unit=caseworker_unit(caseworker),
                                    role="caseworker", outcome_summary=summary, occasion=occasion))
    return messages


def _write_recounted(session: Session, updates: list[dict], audits: list[dict]) -> None:
    """The new deadlines in one conditional bulk UPDATE (only tasks still open and provisional: the page's rows are
    locked on PostgreSQL), and their audit events."""
    update_rows(session, AgencyTask.__table__, updates, key="id",
                assignments={"due_at": "v.due_at", "due_provisional": "v.due_provisional",
                             "next_rung_at": "v.next_rung_at"},
                where=f"t.{PROVISIONAL_OPEN_SQL.replace('state IN', 't.state IN')}")
    record_audits(session, audits)
