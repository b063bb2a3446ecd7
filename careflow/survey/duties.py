"""The child director's duties to a key care target (方案 一（二）): contact at least monthly, visit the home at
least every three months.

Each duty is an :class:`models.task.AgencyTask` with no case and no pathway run, unique by ``duty_key``, routed to
the ``village_committee`` unit of the child's area (the child director works there; a township station, then the
county civil affairs bureau, when no village committee is in the directory), with a deadline the sweeper escalates
like any other task (reminder, supervisor at the deadline, county manager past it):

* **contact** — one per calendar month: ``contact:<child id>:2026-11``, due on the month's last day at 24:00
  (Asia/Shanghai; stored as 23:59:59). 每个月联系一次 is read as "in every calendar month". A file opened (or
  reopened) with fewer than :data:`FIRST_CONTACT_DAYS` days left in its month has its first contact due the next
  month: counties import at the end of the round month, and a duty due the same evening would only raise alarms.
* **visit** — rolling: due three months after the last home visit (after the file opened, for the first):
  ``visit:<child id>:2027-02-20``, due that day at 24:00.

A key already taken by a duty that does not do the job (a month's contact cancelled when the file closed, then
reopened in the same month; a visit on the very day the file opened, whose next visit falls due on the same day
as the first) gets a suffix: ``visit:<child id>:2027-02-20.2``.

Recording a contact on day *d* (:func:`careflow.survey.care_files.record_contact`) completes every open contact duty
up to *d*'s month (late
ones marked ``late``) and opens the next month's; a home visit also counts as that month's contact, completes the
open visit duty and opens the next, due *d* + 3 months. A child who stops being a key care target has the file
closed and the open duties cancelled with the reason (:func:`careflow.survey.care_files.close_files`).
"""
from __future__ import annotations

import calendar
import datetime
import json
import uuid
from collections.abc import Iterable

import sqlalchemy as sa
from sqlmodel import Session, select

from careflow.routing import NoUnitForAgency, active_units, choose_unit
from careflow.survey.bulk import driver_connection, is_postgresql
from careflow.survey.duty_calendar import (
    DUTY_ROUTING,
    VISIT_EVERY_MONTHS,
    FIRST_CONTACT_DAYS,
    month_period,
    next_period,
    today_local,
)
from careflow.survey.duty_rows import DutyPlan, DutyWriter
from models.agency import AgencyUnit
from models.base import utcnow
from models.dated_duties import ContactKind
from models.eligibility import add_months
from models.key_care_files import FileStatus, KeyCareDuty, KeyCareFile
from models.task import OPEN_STATES, AgencyTask, TaskState

_OPEN = [s.value for s in OPEN_STATES]


class UnitCache:
    """Resolves (and remembers) the unit a child director's duty goes to, per area code (:data:`DUTY_ROUTING`)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._units: dict[str, AgencyUnit | None] = {}
        self._directory: dict[str, list[AgencyUnit]] = {}  # agency type → its active units, read once

    def unit_for(self, area_code: str) -> AgencyUnit | None:
        """The unit for ``area_code`` (village, township or county code), or None when none covers it."""
        if area_code not in self._units:
            found = None
            for agency_type, level in DUTY_ROUTING:
                if agency_type not in self._directory:
                    self._directory[agency_type] = active_units(self.session, agency_type)
                try:
                    found = choose_unit(self._directory[agency_type], agency_type, area_code, level=level)
                    break
                except NoUnitForAgency:
                    continue
            self._units[area_code] = found
        return self._units[area_code]


#: Files read, and their duties written, per round trip of :func:`ensure_duties` (memory stays flat beyond it).
BATCH_FILES = 2000


def ensure_duties(
    session: Session,
    file_ids: Iterable[int] | None = None,
    *,
    today: datetime.date | None = None,
    now: datetime.datetime | None = None,
    actor: str = "careflow",
    units: UnitCache | None = None,
    new_files: bool = False,
) -> DutyPlan:
    """Make sure every active file (or those of ``file_ids``) has its current duties; returns what was created.

    For each active file: the contact duty of the first month from ``today``'s on without a recorded contact
    (this month, or next month when this month's contact is already recorded), and — when no visit duty is open —
    the visit duty due three months after the last visit (or after the file opened). Existing duty keys are never
    created twice, so calling this again changes nothing. Each created duty gets its ``task.requested`` audit event.

    Bulk, per :data:`BATCH_FILES` files: one query for the files (with whether a visit duty is open and whether
    they have any duty), one for the wanted keys already taken (of files with duties: a new file has none), then the
    tasks, their links and their audit events written with COPY (PostgreSQL) or one ``executemany`` each (SQLite),
    rows formatted directly as the database reads them. ``new_files``: the files were all opened in this transaction
    (the survey's fast path), so none has a duty and their duties are not looked up.
    """
    now = now or utcnow()
    today = today or today_local(now)
    units = units or UnitCache(session)
    plan = DutyPlan()
    session.flush()
    conn = session.connection()  # plain rows, not ORM objects: nothing piles up in the session
    if file_ids is None:
        file_ids = conn.execute(sa.select(KeyCareFile.id).where(KeyCareFile.status == FileStatus.active.value)
                                ).scalars().all()
    ids = sorted(set(file_ids))
    writer = DutyWriter(conn, now, actor)
    jit = _pause_jit(conn)
    this_month = month_period(today)
    visit_due: dict[datetime.date, datetime.date] = {}
    for start in range(0, len(ids), BATCH_FILES):
        wanted, maybe_taken = _wanted_duties(_active_files(conn, ids[start:start + BATCH_FILES], new_files),
                                             this_month, visit_due)
        if not wanted:
            continue
        # a contact/visit key is only ever written here, with its file's key_care_duty row (never deleted): a file
        # without any duty has no key taken
        existing = _taken_keys(conn, [w[0] for w in wanted if w[1] in maybe_taken]) if maybe_taken else {}
        duties = _routed_duties(session, wanted, existing, units, plan)
        if duties:
            writer.write(duties, plan)
    _restore_jit(conn, jit)
    return plan


#: A duty a file wants: (key, file id, kind, period, area code of the unit it goes to).
_Wanted = tuple[str, int, ContactKind, str, str]


def _wanted_duties(files: list[tuple], this_month: str,
                   visit_due: dict[datetime.date, datetime.date]) -> tuple[list[_Wanted], set[int]]:
    """The duties the active ``files`` (rows of :func:`_active_files`) want now, and the ids of those files that
    have duties (only their wanted keys can be taken already).

    Each file: the contact of the first month from ``this_month`` without a recorded contact (the next month for a
    file opened too late in this one, :func:`_opened_late`), and a visit due :data:`VISIT_EVERY_MONTHS` after the
    last visit (or the opening) unless one is open; routed by the child's residence area, else the file's area,
    else the county (the child's, else the file's). ``visit_due``: last visit day → due day, kept across batches.
    """
    wanted: list[_Wanted] = []
    maybe_taken: set[int] = set()
    contact, visit = ContactKind.contact, ContactKind.visit
    for (file_id, child, last_contact, last_visit, opened, area, county, residence_area, residence_county,
         open_visit, has_duties) in files:
        period = this_month
        if last_contact:
            last_period = month_period(_day(last_contact))
            if last_period >= period:
                period = next_period(last_period)
        elif _opened_late(_day(opened), period):
            period = next_period(period)
        area_code = residence_area or area or residence_county or county
        wanted.append((f"contact:{child}:{period}", file_id, contact, period, area_code))
        if has_duties:
            maybe_taken.add(file_id)
        if not open_visit:
            base = _day(last_visit or opened)
            due_day = visit_due.get(base)
            if due_day is None:
                due_day = visit_due[base] = add_months(base, VISIT_EVERY_MONTHS)
            vperiod = due_day.isoformat()
            wanted.append((f"visit:{child}:{vperiod}", file_id, visit, vperiod, area_code))
    return wanted, maybe_taken


def _routed_duties(session: Session, wanted: list[_Wanted], existing: dict[str, str], units: UnitCache,
                   plan: DutyPlan) -> list[tuple[str, int, ContactKind, str, str, AgencyUnit]]:
    """The ``wanted`` duties to create, each with the unit it goes to: a key already taken (``existing``: key →
    state) gets a free one (:func:`_free_key`) or is left out when the taken duty does the job; a duty no unit
    covers is counted in ``plan.unrouted`` (per area code) and left out."""
    duties: list[tuple[str, int, ContactKind, str, str, AgencyUnit]] = []
    for key, file_id, kind, period, area_code in wanted:
        if key in existing:
            key = _free_key(session, key, kind, TaskState(existing[key]))
            if key is None:
                continue
        unit = units.unit_for(area_code)
        if unit is None:
            plan.unrouted[area_code] = plan.unrouted.get(area_code, 0) + 1
            continue
        duties.append((key, file_id, kind, period, area_code, unit))
    return duties


def _opened_late(opened: datetime.date, period: str) -> bool:
    """Whether a file opened on ``opened``, in the month ``period``, had fewer than :data:`FIRST_CONTACT_DAYS` days
    of that month left (the opening day counted)."""
    if month_period(opened) != period:
        return False
    days_in_month = calendar.monthrange(opened.year, opened.month)[1]
    return days_in_month - opened.day + 1 < FIRST_CONTACT_DAYS


def _pause_jit(conn: sa.Connection) -> str | None:
    """PostgreSQL: no JIT compilation for the rest of the transaction (until :func:`_restore_jit`); the setting.

    The per-batch queries are cheap index lookups whose estimated cost, with the statistics of a table that was just
    filled, can pass ``jit_above_cost``: compiling them then took 0.3 s each, far longer than running them.
    """
    if not is_postgresql(conn):
        return None
    return conn.exec_driver_sql("SELECT current_setting('jit'), set_config('jit', 'off', true)").first()[0]


def _restore_jit(conn: sa.Connection, setting: str | None) -> None:
    if setting is not None and setting != "off":
        conn.execute(sa.text("SELECT set_config('jit', :setting, true)"), {"setting": setting})


def _day(value) -> datetime.date:
    """A date column's value as a date (SQLite's driver gives the stored ``YYYY-MM-DD`` text)."""
    return value if isinstance(value, datetime.date) else datetime.date.fromisoformat(value)


def _active_files(conn: sa.Connection, ids: list[int], new_files: bool = False) -> list[tuple]:
    """(file id, child id as ``str(uuid)``, last contact, last visit, opened, the file's area and county codes, the
    child's residence area and county codes, whether a visit duty is open, whether the file has any duty) of the
    active files among ``ids``.

    One parameter whatever the number of ids (an array on PostgreSQL, a JSON array on SQLite): no statement with
    thousands of parameters to parse and plan. The ids are joined as a table and nothing else restricts the files
    (closed ones are left out here, in Python), so that the planner has no reason to scan every file per batch: with
    ``id = ANY(…) AND status = 'active'`` and the statistics of a table just filled, it scanned all active files and
    tested each against the list (0.2 s per batch, growing with the table). A file's duties are looked up through
    ``key_care_duty.file_id`` (scalar subqueries: never a hashed scan of every duty, which statistics taken before a
    large import would make the planner choose); with ``new_files`` (files opened in this transaction, none with a
    duty) not at all.
    """
    if is_postgresql(conn):
        child, wanted, param = "CAST(f.child_id AS TEXT)", "unnest(CAST(%(ids)s AS INTEGER[])) AS w (id)", ids
    else:
        child, wanted, param = "f.child_id", "(SELECT value AS id FROM json_each(:ids)) AS w", json.dumps(ids)
    open_states = ", ".join(f"'{s}'" for s in sorted(_OPEN))
    duties = "1 = 0 AS open_visit, 1 = 0 AS has_duties" if new_files else f"""
               (SELECT 1 FROM key_care_duty d JOIN agency_task t ON t.id = d.task_id
                WHERE d.file_id = f.id AND d.kind = '{ContactKind.visit.value}' AND t.state IN ({open_states})
                LIMIT 1) IS NOT NULL AS open_visit,
               (SELECT 1 FROM key_care_duty d WHERE d.file_id = f.id LIMIT 1) IS NOT NULL AS has_duties"""
    sql = f"""
        SELECT f.id, {child}, f.last_contact_on, f.last_visit_on, f.opened_on, f.area_code, f.county_code,
               c.residence_area_code, c.residence_county_code, {duties},
               f.status
        FROM {wanted} JOIN key_care_file f ON f.id = w.id JOIN child c ON c.id = f.child_id
        ORDER BY f.id"""
    active = FileStatus.active.value
    if is_postgresql(conn):
        return [row[:-1] for row in _driver_rows(conn, sql, param) if row[-1] == active]
    # the child id as stored (32 hex digits) → as str(uuid) writes it in the keys
    return [(row[0], str(uuid.UUID(row[1])), *row[2:-1]) for row in _driver_rows(conn, sql, param)
            if row[-1] == active]


def _taken_keys(conn: sa.Connection, keys: list[str]) -> dict[str, str]:
    """duty key → state of the tasks among ``keys`` that exist (one parameter, the unique index per key)."""
    if is_postgresql(conn):
        sql = ("SELECT t.duty_key, t.state FROM unnest(CAST(%(ids)s AS TEXT[])) AS w (duty_key) "
               "JOIN agency_task t ON t.duty_key = w.duty_key")
        return dict(_driver_rows(conn, sql, keys))
    sql = "SELECT duty_key, state FROM agency_task WHERE duty_key IN (SELECT value FROM json_each(:ids))"
    return dict(_driver_rows(conn, sql, json.dumps(keys)))


def _driver_rows(conn: sa.Connection, sql: str, param) -> list[tuple]:
    """Run ``sql`` with its one parameter ``ids`` on the DBAPI connection (same transaction), all rows."""
    cursor = driver_connection(conn).cursor()
    try:
        cursor.execute(sql, {"ids": param})
        return cursor.fetchall()
    finally:
        cursor.close()


def _free_key(session: Session, key: str, kind: ContactKind, state: TaskState) -> str | None:
    """The key a wanted duty gets when ``key`` is taken, or None when the taken one already does the duty.

    A month's contact that is open or done needs nothing more; one that was cancelled (the file closed, then
    reopened in the same month) is opened again as ``<key>.2``. A visit is only wanted when none is open, so a taken
    visit key means a new interval with the same due date (a visit on the day the file opened): ``<key>.2``, ``.3``…
    """
    if kind == ContactKind.contact and state in (*OPEN_STATES, TaskState.completed):
        return None
    for n in range(2, 100):
        candidate = f"{key}.{n}"
        found = session.exec(select(AgencyTask.state).where(AgencyTask.duty_key == candidate)).first()
        if found is None:
            return candidate
        if kind == ContactKind.contact and TaskState(found) in (*OPEN_STATES, TaskState.completed):
            return None
    return None  # pragma: no cover - a hundred cancelled duties for one month


def file_duties(session: Session, file_id: int, *, open_only: bool = True,
                kind: ContactKind | None = None) -> list[tuple[AgencyTask, KeyCareDuty]]:
    """The duties of a file (open ones by default), soonest deadline first."""
    query = (select(AgencyTask, KeyCareDuty).join(KeyCareDuty, KeyCareDuty.task_id == AgencyTask.id)
             .where(KeyCareDuty.file_id == file_id))
    if open_only:
        query = query.where(AgencyTask.state.in_(_OPEN))
    if kind is not None:
        query = query.where(KeyCareDuty.kind == ContactKind(kind).value)
    # sorted here, not by ORDER BY: with statistics that lag behind a big import PostgreSQL walked the whole
    # due_at index of agency_task for each file instead of the file's few duties (22 s for 1,100 closed files)
    return sorted(session.exec(query).all(), key=lambda pair: (pair[0].due_at, str(pair[0].id)))


def duties_due(session: Session, *, until: datetime.datetime,
               unit_code: str | None = None) -> list[tuple[AgencyTask, KeyCareDuty]]:
    """Open contact and visit duties due by ``until`` (overdue ones included), by unit then deadline."""
    query = (select(AgencyTask, KeyCareDuty).join(KeyCareDuty, KeyCareDuty.task_id == AgencyTask.id)
             .where(AgencyTask.state.in_(_OPEN), AgencyTask.due_at <= until))
    if unit_code:
        query = query.where(AgencyTask.unit_code == unit_code)
    return list(session.exec(query.order_by(AgencyTask.unit_code, AgencyTask.due_at)).all())
