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

Recording a contact on day *d* (:func:`record_contact`) completes every open contact duty up to *d*'s month (late
ones marked ``late``) and opens the next month's; a home visit also counts as that month's contact, completes the
open visit duty and opens the next, due *d* + 3 months. A child who stops being a key care target has the file
closed and the open duties cancelled with the reason (:func:`close_file`).
"""
from __future__ import annotations

import calendar
import datetime
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session, select

from careflow.audit import record_audit
from careflow.routing import NoUnitForAgency, resolve_unit
from careflow.survey.bulk import driver_connection, is_postgresql
from models.agency import AgencyUnit
from models.audit import AuditEvent
from models.base import utcnow
from models.child import Child
from models.eligibility import add_months
from models.resident_id import normalize_resident_id, InvalidResidentID
from models.survey import (
    CareContact,
    ContactKind,
    FileStatus,
    KeyCareDuty,
    KeyCareFile,
    file_reference,
    parse_file_reference,
)
from models.task import OPEN_STATES, AgencyTask, TaskState, check_transition

SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))

#: Where a duty goes, in order: the child director's village/residents' committee, the township's minor
#: protection station (儿童督导员), the county civil affairs bureau. (type, finest level or None)
DUTY_ROUTING: tuple[tuple[str, str | None], ...] = (
    ("village_committee", None), ("township_station", None), ("civil_affairs", "county"))

STEP_KEYS = {ContactKind.contact: "key_care_contact", ContactKind.visit: "key_care_visit"}
DEADLINE_TEXT = {ContactKind.contact: "monthly (每月联系)", ContactKind.visit: "every 3 months (每三个月入户走访)"}
#: Months between home visits (每三个月入户走访一次).
VISIT_EVERY_MONTHS = 3
#: A file opened with fewer days than this left in the month has its first contact due the next month.
FIRST_CONTACT_DAYS = 7

_OPEN = [s.value for s in OPEN_STATES]


def today_local(now: datetime.datetime | None = None) -> datetime.date:
    """Today's date in Asia/Shanghai."""
    return (now or utcnow()).astimezone(SHANGHAI).date()


def month_period(day: datetime.date) -> str:
    """``2026-11`` for any day of November 2026."""
    return f"{day.year:04d}-{day.month:02d}"


def next_period(period: str) -> str:
    """The month after ``period`` (``2026-12`` → ``2027-01``)."""
    year, month = int(period[:4]), int(period[5:7])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def end_of_day(day: datetime.date) -> datetime.datetime:
    """23:59:59 of ``day`` in Asia/Shanghai (a deadline "by the end of the day"), UTC-aware."""
    return datetime.datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=SHANGHAI).astimezone(datetime.timezone.utc)


def contact_due(period: str) -> datetime.datetime:
    """The end of the month ``period``."""
    year, month = int(period[:4]), int(period[5:7])
    first_next = datetime.date(year + month // 12, month % 12 + 1, 1)
    return end_of_day(first_next - datetime.timedelta(days=1))


def duty_key(kind: ContactKind | str, child_id: uuid.UUID, period: str) -> str:
    """``contact:<child id>:2026-11`` or ``visit:<child id>:2027-02-20``."""
    return f"{ContactKind(kind).value}:{child_id}:{period}"


#: Task titles, from the file reference and the period.
_TITLES = {ContactKind.contact: "重点关爱儿童每月联系（{}，{}）", ContactKind.visit: "重点关爱儿童入户走访（{}，{} 前）"}


def duty_title(kind: ContactKind | str, file_id: int, period: str) -> str:
    """The task title: what to do, the file reference and the period (no personal data)."""
    return _TITLES[ContactKind(kind)].format(file_reference(file_id), period)


class UnitCache:
    """Resolves (and remembers) the unit a child director's duty goes to, per area code (:data:`DUTY_ROUTING`)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._units: dict[str, AgencyUnit | None] = {}

    def unit_for(self, area_code: str) -> AgencyUnit | None:
        """The unit for ``area_code`` (village, township or county code), or None when none covers it."""
        if area_code not in self._units:
            found = None
            for agency_type, level in DUTY_ROUTING:
                try:
                    found = resolve_unit(self.session, agency_type, area_code, level=level)
                    break
                except NoUnitForAgency:
                    continue
            self._units[area_code] = found
        return self._units[area_code]


@dataclass
class DutyPlan:
    """Duties :func:`ensure_duties` created, and areas no unit covers (those duties wait for the directory)."""

    created: list[tuple[uuid.UUID, str]] = field(default_factory=list)  # (task id, duty key), the first 10,000
    unrouted: dict[str, int] = field(default_factory=dict)  # area code → number of duties not created
    created_count: int = 0


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
) -> DutyPlan:
    """Make sure every active file (or those of ``file_ids``) has its current duties; returns what was created.

    For each active file: the contact duty of the first month from ``today``'s on without a recorded contact
    (this month, or next month when this month's contact is already recorded), and — when no visit duty is open —
    the visit duty due three months after the last visit (or after the file opened). Existing duty keys are never
    created twice, so calling this again changes nothing. Each created duty gets its ``task.requested`` audit event.

    Bulk, per :data:`BATCH_FILES` files: one query for the files (with whether a visit duty is open and whether
    they have any duty), one for the wanted keys already taken (of files with duties: a new file has none), then the
    tasks, their links and their audit events written with COPY (PostgreSQL) or one ``executemany`` each (SQLite),
    rows formatted directly as the database reads them.
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
    writer = _DutyWriter(conn, now, actor)
    jit = _pause_jit(conn)
    this_month = month_period(today)
    visit_due: dict[datetime.date, datetime.date] = {}
    contact, visit = ContactKind.contact, ContactKind.visit
    for start in range(0, len(ids), BATCH_FILES):
        wanted: list[tuple[str, int, ContactKind, str, str]] = []  # key, file id, kind, period, area code
        maybe_taken: set[int] = set()  # files with duties: only their wanted keys can be taken
        for (file_id, child, last_contact, last_visit, opened, area, county, residence_area, residence_county,
             open_visit, has_duties) in _active_files(conn, ids[start:start + BATCH_FILES]):
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
        if not wanted:
            continue
        # a contact/visit key is only ever written here, with its file's key_care_duty row (never deleted): a file
        # without any duty has no key taken
        existing = _taken_keys(conn, [w[0] for w in wanted if w[1] in maybe_taken]) if maybe_taken else {}
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
        if duties:
            writer.write(duties, plan)
    _restore_jit(conn, jit)
    return plan


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


def _active_files(conn: sa.Connection, ids: list[int]) -> list[tuple]:
    """(file id, child id as ``str(uuid)``, last contact, last visit, opened, the file's area and county codes, the
    child's residence area and county codes, whether a visit duty is open, whether the file has any duty) of the
    active files among ``ids``.

    One parameter whatever the number of ids (an array on PostgreSQL, a JSON array on SQLite): no statement with
    thousands of parameters to parse and plan. The ids are joined as a table and nothing else restricts the files
    (closed ones are left out here, in Python), so that the planner has no reason to scan every file per batch: with
    ``id = ANY(…) AND status = 'active'`` and the statistics of a table just filled, it scanned all active files and
    tested each against the list (0.2 s per batch, growing with the table). A file's duties are looked up through
    ``key_care_duty.file_id`` (scalar subqueries: never a hashed scan of every duty, which statistics taken before a
    large import would make the planner choose).
    """
    if is_postgresql(conn):
        child, wanted, param = "CAST(f.child_id AS TEXT)", "unnest(CAST(%(ids)s AS INTEGER[])) AS w (id)", ids
    else:
        child, wanted, param = "f.child_id", "(SELECT value AS id FROM json_each(:ids)) AS w", json.dumps(ids)
    open_states = ", ".join(f"'{s}'" for s in sorted(_OPEN))
    sql = f"""
        SELECT f.id, {child}, f.last_contact_on, f.last_visit_on, f.opened_on, f.area_code, f.county_code,
               c.residence_area_code, c.residence_county_code,
               (SELECT 1 FROM key_care_duty d JOIN agency_task t ON t.id = d.task_id
                WHERE d.file_id = f.id AND d.kind = '{ContactKind.visit.value}' AND t.state IN ({open_states})
                LIMIT 1) IS NOT NULL AS open_visit,
               (SELECT 1 FROM key_care_duty d WHERE d.file_id = f.id LIMIT 1) IS NOT NULL AS has_duties,
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


def _copy_text(value: str) -> str:
    """``value`` as a field of PostgreSQL's COPY text format."""
    return (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r"))


_UUID_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
_TASK_COLUMNS = ("id", "duty_key", "title", "due_at", "step_key", "agency_type", "unit_code", "jurisdiction_code",
                 "attempt", "state", "requested_at", "due_provisional", "deadline_text", "escalation_level",
                 "answered_by", "outcome", "rejection_reason")
_LINK_COLUMNS = ("task_id", "file_id", "kind", "period")
_AUDIT_COLUMNS = ("at", "actor", "action", "entity_type", "entity_id", "reason", "detail")


class _DutyWriter:
    """Writes duties (the task, its link to the file, its ``task.requested`` audit event) as :func:`bulk_insert`
    would, rows formatted directly as the database reads them: COPY text on PostgreSQL, driver values on SQLite.

    Values that repeat (a unit's columns, a due date, the time and actor) are formatted once. The variable parts (the
    duty key: kind, child UUID, date; the title: fixed text, file reference, date) hold no character COPY escapes.
    Task ids are random version 4 UUIDs as :func:`uuid.uuid4` makes them (16 random bytes, version and variant bits
    set). A batch's duties are written in the order of their keys, their ids drawn then sorted: each index of
    ``agency_task`` is filled in order, not at random (on SQLite, with its small page cache, a third faster). On
    PostgreSQL the tasks are formatted while their COPY runs, so the server works as Python formats.
    """

    def __init__(self, conn: sa.Connection, now: datetime.datetime, actor: str) -> None:
        if now.tzinfo is None:
            raise ValueError(f"naive datetime {now!r}: careflow stores only timezone-aware times")
        self.conn = conn
        self.pg = is_postgresql(conn)
        self.actor = actor
        # (kind, unit code, area code) → (the unit code as JSON text, the task's columns after due_at)
        self._fixed: dict[tuple[ContactKind, str, str], tuple[str, str | tuple]] = {}
        self._due: dict[tuple[ContactKind, str], tuple[str, str]] = {}  # → (due_at as written, due_at.isoformat())
        self._now = now.isoformat() if self.pg else _sqlite_time(now)
        self._audit_head = "\t".join((self._now, _copy_text(actor), "task.requested", "task", "")) if self.pg else ""

    def _due_of(self, kind: ContactKind, period: str) -> tuple[str, str]:
        found = self._due.get((kind, period))
        if found is None:
            due_at = contact_due(period) if kind == ContactKind.contact else \
                end_of_day(datetime.date.fromisoformat(period))
            found = self._due[(kind, period)] = (due_at.isoformat() if self.pg else _sqlite_time(due_at),
                                                 due_at.isoformat())
        return found

    def _fixed_of(self, kind: ContactKind, unit: AgencyUnit, area_code: str) -> tuple[str, str | tuple]:
        """(the unit's code as JSON text, the task's columns after ``due_at``) for this kind, unit and area."""
        found = self._fixed.get((kind, unit.code, area_code))
        if found is None:
            values = (STEP_KEYS[kind], unit.agency_type, unit.code, area_code, 1, TaskState.requested.value,
                      self._now, False, DEADLINE_TEXT[kind], 0, "", "{}", "")
            if self.pg:
                values = "\t".join("f" if v is False else _copy_text(str(v)) for v in values)
            unit_json = json.dumps(unit.code, ensure_ascii=False)
            found = self._fixed[(kind, unit.code, area_code)] = (_copy_text(unit_json) if self.pg else unit_json,
                                                                 values)
        return found

    def _rows(self, duties: list[tuple[str, int, ContactKind, str, str, AgencyUnit]], plan: DutyPlan,
              links: list, audits: list) -> Iterator:
        """The task rows of ``duties``, appending their links and audit events to ``links`` and ``audits``."""
        # random ids, ascending in the order of the duty keys: both unique indexes are then filled in order
        random_hex = os.urandom(16 * len(duties)).hex()
        random_hex = "".join(sorted(random_hex[i:i + 32] for i in range(0, len(random_hex), 32)))
        duties = sorted(duties, key=lambda duty: duty[0])
        pg, variant, audit_head, now = self.pg, _UUID_VARIANT, self._audit_head, self._now
        created, actor, titles = plan.created, self.actor, _TITLES
        for i, (key, file_id, kind, period, area_code, unit) in enumerate(duties):
            h = random_hex[32 * i:32 * i + 32]
            task_id = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant[h[16]]}{h[17:20]}-{h[20:]}"
            due_at, due_iso = self._due_of(kind, period)
            unit_json, fixed = self._fixed_of(kind, unit, area_code)
            reference = file_reference(file_id)
            title = titles[kind].format(reference, period)
            reason = f"{reference} {key}"
            detail = f'{{"unit": {unit_json}, "due_at": "{due_iso}", "duty_key": "{key}"}}'
            if pg:
                links.append(f"{task_id}\t{file_id}\t{kind.value}\t{period}\n")
                audits.append(f"{audit_head}{task_id}\t{reason}\t{detail}\n")
                yield f"{task_id}\t{key}\t{title}\t{due_at}\t{fixed}\n"
            else:
                hex_id = task_id.replace("-", "")
                links.append((hex_id, file_id, kind.value, period))
                audits.append((now, actor, "task.requested", "task", task_id, reason, detail))
                yield (hex_id, key, title, due_at, *fixed)
            if len(created) < 10_000:
                created.append((uuid.UUID(task_id), key))
        plan.created_count += len(duties)

    def write(self, duties: list[tuple[str, int, ContactKind, str, str, AgencyUnit]], plan: DutyPlan) -> None:
        links: list = []
        audits: list = []
        self._insert("agency_task", _TASK_COLUMNS, self._rows(duties, plan, links, audits))
        self._insert("key_care_duty", _LINK_COLUMNS, links)
        self._insert("audit_event", _AUDIT_COLUMNS, audits)

    def _insert(self, table: str, columns: tuple[str, ...], rows: Iterable) -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        raw = driver_connection(self.conn)
        if self.pg:
            with raw.cursor() as cursor, cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
                chunk: list[str] = []
                for line in rows:
                    chunk.append(line)
                    if len(chunk) == 500:
                        copy.write("".join(chunk))
                        chunk.clear()
                if chunk:
                    copy.write("".join(chunk))
            return
        cursor = raw.cursor()
        try:
            cursor.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" for _ in columns)})', rows)
        finally:
            cursor.close()


def _sqlite_time(value: datetime.datetime) -> str:
    """An aware time as SQLite stores it (UTC, no offset, microseconds), as :func:`bulk_insert` writes it."""
    return value.astimezone(datetime.timezone.utc).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


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


def _close_duty(session: Session, task: AgencyTask, target: TaskState, *, actor: str, reason: str,
                outcome: dict, now: datetime.datetime) -> None:
    current = TaskState(task.state)
    check_transition(current, target)
    if target == TaskState.completed:
        task.acknowledged_at = task.acknowledged_at or now
        task.answered_at = now
        task.answered_by = actor[:64]
    task.outcome = outcome
    task.state = target
    session.add(task)
    record_audit(session, actor=actor, action=f"task.{target.value}", entity_type="task", entity_id=task.id,
                 reason=reason, detail={"from": current.value, "outcome": outcome, "duty_key": task.duty_key,
                                        "unit": task.unit_code})


def cancel_duties(session: Session, file: KeyCareFile, reason: str, *, actor: str = "careflow",
                  now: datetime.datetime | None = None) -> int:
    """Cancel every open duty of ``file`` with ``reason`` (kept in the outcome and the audit trail), leaving the file
    as it is; returns how many. ORM objects loaded in ``session`` are expired."""
    session.flush()
    cancelled = _cancel_open_duties(session.connection(), {file.id: reason}, actor=actor)
    session.expire_all()
    return cancelled


def close_file(session: Session, file: KeyCareFile, reason: str, *, today: datetime.date,
               actor: str = "careflow", now: datetime.datetime | None = None) -> int:
    """Close a key care file (the child is no longer a key care target) and cancel its open duties
    (:func:`close_files`); returns how many duties were cancelled. A closed file is left as it is."""
    session.flush()  # a file just added gets its id
    return close_files(session, {file.id: reason}, today=today, actor=actor, now=now)


#: Rows one UPDATE names at most (PostgreSQL's driver takes 65,535 parameters).
_UPDATE_ROWS = 5_000


def close_files(session: Session, reasons: dict[int, str], *, today: datetime.date, actor: str = "careflow",
                now: datetime.datetime | None = None) -> int:
    """Close the key care files of ``reasons`` (file id → why: the child is no longer a key care target) and cancel
    their open duties; returns how many duties were cancelled. Files already closed are left as they are.

    The reason is the file's ``close_reason``, each cancelled duty's outcome ``{"cancel_reason": …}``, and the
    reason of the audit events (``key_care_file.closed`` per file, ``task.cancelled`` per duty). Set-based, per
    :data:`BATCH_FILES` files: a later survey round closes hundreds of files at once (one by one through the ORM
    that took 5 ms a file). Each UPDATE names the state it expects (an active file, an open duty) and only the rows it
    changed are audited, so a duty completed meanwhile by another transaction stays completed. ORM objects already
    loaded in ``session`` are expired, so they are read afresh.
    """
    now = now or utcnow()
    session.flush()
    conn = session.connection()
    ids = sorted(reasons)
    cancelled = 0
    for start in range(0, len(ids), BATCH_FILES):
        groups: dict[str, list[int]] = {}
        for file_id in ids[start:start + BATCH_FILES]:
            groups.setdefault(reasons[file_id], []).append(file_id)
        closed: list[int] = []
        for reason, file_ids in groups.items():
            closed += conn.execute(
                sa.update(KeyCareFile)
                .where(KeyCareFile.id.in_(file_ids), KeyCareFile.status == FileStatus.active.value)
                .values(status=FileStatus.closed.value, closed_on=today, close_reason=reason[:300], updated_at=now)
                .returning(KeyCareFile.id)).scalars().all()
        if not closed:
            continue
        conn.execute(sa.insert(AuditEvent.__table__), [
            dict(at=utcnow(), actor=actor, action="key_care_file.closed", entity_type="key_care_file",
                 entity_id=str(file_id), case_id=None, reason=reasons[file_id],
                 detail={"file": file_reference(file_id)}) for file_id in sorted(closed)])
        cancelled += _cancel_open_duties(conn, {file_id: reasons[file_id] for file_id in closed}, actor=actor)
    session.expire_all()
    return cancelled


def _cancel_open_duties(conn: sa.Connection, reasons: dict[int, str], *, actor: str) -> int:
    """Cancel the open duties of the files of ``reasons`` (file id → why; at most :data:`BATCH_FILES`), each with
    the outcome ``{"cancel_reason": why}`` and a ``task.cancelled`` audit event; returns how many."""
    duties = conn.execute(
        sa.select(AgencyTask.id, AgencyTask.state, AgencyTask.duty_key, AgencyTask.unit_code, KeyCareDuty.file_id)
        .join(KeyCareDuty, KeyCareDuty.task_id == AgencyTask.id)
        .where(KeyCareDuty.file_id.in_(list(reasons)), AgencyTask.state.in_(_OPEN))).all()
    groups: dict[str, list[uuid.UUID]] = {}
    for task_id, state, _key, _unit, file_id in duties:
        check_transition(TaskState(state), TaskState.cancelled)
        groups.setdefault(reasons[file_id], []).append(task_id)
    changed: set[uuid.UUID] = set()
    for reason, task_ids in groups.items():
        for start in range(0, len(task_ids), _UPDATE_ROWS):
            changed.update(conn.execute(
                sa.update(AgencyTask)
                .where(AgencyTask.id.in_(task_ids[start:start + _UPDATE_ROWS]), AgencyTask.state.in_(_OPEN))
                .values(state=TaskState.cancelled.value, outcome={"cancel_reason": reason})
                .returning(AgencyTask.id)).scalars().all())
    events = [dict(at=utcnow(), actor=actor, action="task.cancelled", entity_type="task", entity_id=str(task_id),
                   case_id=None, reason=reasons[file_id],
                   detail={"from": state, "outcome": {"cancel_reason": reasons[file_id]}, "duty_key": key,
                           "unit": unit})
              for task_id, state, key, unit, file_id in duties if task_id in changed]
    if events:
        conn.execute(sa.insert(AuditEvent.__table__), events)
    return len(events)


def reopen_file(session: Session, file: KeyCareFile, criteria: list[str], *, today: datetime.date,
                actor: str = "careflow", now: datetime.datetime | None = None, reason: str = "") -> None:
    """Reopen a closed file for a child who is a key care target again (its duties start afresh)."""
    now = now or utcnow()
    file.status, file.closed_on, file.close_reason = FileStatus.active.value, None, ""
    file.criteria, file.opened_on, file.updated_at = sorted(criteria), today, now
    file.last_visit_on = None  # the visit rhythm restarts from the reopening
    session.add(file)
    record_audit(session, actor=actor, action="key_care_file.reopened", entity_type="key_care_file",
                 entity_id=file.id, reason=reason, detail={"file": file.reference, "criteria": sorted(criteria)})


class FileNotFound(LookupError):
    """No key care file matches (the message names what was looked for, with an ID number masked)."""


def find_file(session: Session, ref: str) -> KeyCareFile:
    """The file of ``ref``: a file reference (``KF-0000123``), a child id (UUID) or the child's ID number.

    Raises:
        FileNotFound: nothing matches.
    """
    from models.resident_id import mask_resident_id

    text = str(ref).strip()
    file_id = parse_file_reference(text)
    if file_id is not None:
        found = session.get(KeyCareFile, file_id)
        if found:
            return found
        raise FileNotFound(f"field 'child': no key care file {text!r}")
    try:
        child_id = uuid.UUID(text)
    except ValueError:
        child_id = None
    if child_id is None:
        try:
            rid = normalize_resident_id(text)
        except InvalidResidentID:
            raise FileNotFound(f"field 'child': {text!r} is neither a file reference (KF-…), a child id nor an "
                               "ID number") from None
        child = session.exec(select(Child).where(Child.resident_id == rid)).first()
        if child is None:
            raise FileNotFound(f"field 'child': no child with ID number {mask_resident_id(rid)}")
        child_id = child.id
    found = session.exec(select(KeyCareFile).where(KeyCareFile.child_id == child_id)).first()
    if found is None:
        raise FileNotFound(f"field 'child': child {child_id} has no key care file (not a key care target)")
    return found


@dataclass
class ContactResult:
    """What :func:`record_contact` did: the log entry, the duties completed and the duties opened next."""

    file: KeyCareFile
    contact: CareContact
    completed: list[AgencyTask]
    opened: list[tuple[uuid.UUID, str]]
    unrouted: dict[str, int]


def record_contact(
    session: Session,
    ref: str,
    kind: ContactKind | str,
    *,
    actor: str,
    on: datetime.date | None = None,
    note: str = "",
    now: datetime.datetime | None = None,
) -> ContactResult:
    """Record a contact or home visit by the child director and move the duties on (module docstring).

    Args:
        ref: the file reference, child id or ID number (:func:`find_file`).
        kind: ``contact`` or ``visit``.
        actor: who made it (the child director's login); required.
        on: the day it happened (default today, Asia/Shanghai); not in the future.
        note: free text (kept in the log, never sent in messages).

    Raises:
        FileNotFound: no file. ValueError: a closed file, an unknown kind, no actor, a date in the future or
        before the file opened (the message names the field).
    """
    now = now or utcnow()
    today = today_local(now)
    kind = ContactKind(kind) if kind in ContactKind._value2member_map_ else None
    if kind is None:
        raise ValueError("field 'kind': must be contact or visit")
    actor = actor.strip()
    if not actor:
        raise ValueError("field 'actor': who made the contact must be named")
    on = on or today
    if on > today:
        raise ValueError(f"field 'on': {on} is in the future")
    file = find_file(session, ref)
    if file.status != FileStatus.active.value:
        raise ValueError(f"field 'child': file {file.reference} is closed ({file.close_reason})")
    if on < file.opened_on:
        raise ValueError(f"field 'on': {on} is before the file was opened ({file.opened_on})")
    contact = CareContact(file_id=file.id, kind=kind.value, contact_on=on, recorded_by=actor[:64], note=note[:500],
                          recorded_at=now)
    completed: list[AgencyTask] = []
    month = month_period(on)
    for task, duty in file_duties(session, file.id):
        if duty.kind == ContactKind.contact.value and duty.period <= month:
            late = duty.period < month
        elif duty.kind == ContactKind.visit.value and kind == ContactKind.visit:
            late = on > datetime.date.fromisoformat(duty.period)
        else:
            continue
        _close_duty(session, task, TaskState.completed, actor=actor, reason=f"{kind.value} on {on}",
                    outcome={"contact_on": on.isoformat(), "kind": kind.value, "late": late}, now=now)
        completed.append(task)
        if contact.task_id is None or duty.kind == kind.value:
            contact.task_id = task.id
    if file.last_contact_on is None or on > file.last_contact_on:
        file.last_contact_on = on  # a home visit is also that month's contact
    if kind == ContactKind.visit and (file.last_visit_on is None or on > file.last_visit_on):
        file.last_visit_on = on
    file.updated_at = now
    session.add(file)
    session.add(contact)
    record_audit(session, actor=actor, action=f"key_care_file.{kind.value}", entity_type="key_care_file",
                 entity_id=file.id, reason=f"{kind.value} on {on}",
                 detail={"file": file.reference, "completed": [t.duty_key for t in completed]})
    session.flush()
    plan = ensure_duties(session, [file.id], today=max(on, today), now=now, actor=actor)
    return ContactResult(file=file, contact=contact, completed=completed, opened=plan.created,
                         unrouted=plan.unrouted)


def complete_duty(session: Session, task: AgencyTask, *, actor: str, outcome: dict | None = None,
                  now: datetime.datetime | None = None) -> ContactResult:
    """A contact or visit duty completed as a task (the web inbox, ``careflow task complete``) is the contact or
    visit it asks for: recorded as :func:`record_contact` records it, so the duties it settles are completed and the
    next one is scheduled — never a completed duty with no next one.

    ``outcome`` (:data:`models.service_list.KEY_CARE_DUTY_OUTCOME`): ``contact_on``, the day it happened as
    ``YYYY-MM-DD`` (default today, Asia/Shanghai), and ``note``.

    Raises:
        LookupError: ``task`` is no contact or visit duty. InvalidTransition: the task is no longer open.
        ValueError (naming the field): a date that is not one, in the future, before the file opened, or — for a
        month's contact — before that month; a closed file. Nothing is written then.
    """
    duty = session.get(KeyCareDuty, task.id)
    if duty is None:
        raise LookupError(f"task {task.short_ref} is no contact or visit duty of a key care file")
    check_transition(TaskState(task.state), TaskState.completed)
    outcome = outcome or {}
    for name in outcome:
        if name not in ("contact_on", "note"):
            raise ValueError(f"field {name!r}: not an answer field of a contact or visit duty (contact_on, note)")
    on_text = str(outcome.get("contact_on") or "").strip()
    on = None
    if on_text:
        try:
            on = datetime.date.fromisoformat(on_text)
        except ValueError:
            raise ValueError(f"field 'contact_on': {on_text!r} is not a date (YYYY-MM-DD)") from None
    day = on or today_local(now or utcnow())
    if duty.kind == ContactKind.contact.value and month_period(day) < duty.period:
        raise ValueError(f"field 'contact_on': a contact on {day} does not count for the month {duty.period}")
    try:
        result = record_contact(session, file_reference(duty.file_id), duty.kind, actor=actor, on=on,
                                note=str(outcome.get("note") or ""), now=now)
    except ValueError as exc:  # the day is this answer's contact_on
        message = str(exc)
        raise ValueError(message.replace("field 'on'", "field 'contact_on'", 1)) from None
    if task not in result.completed:  # record_contact's rule and this one disagree: write nothing
        raise RuntimeError(f"recording the {duty.kind} on {day} did not complete duty {task.duty_key}")
    return result


def duties_due(session: Session, *, until: datetime.datetime,
               unit_code: str | None = None) -> list[tuple[AgencyTask, KeyCareDuty]]:
    """Open contact and visit duties due by ``until`` (overdue ones included), by unit then deadline."""
    query = (select(AgencyTask, KeyCareDuty).join(KeyCareDuty, KeyCareDuty.task_id == AgencyTask.id)
             .where(AgencyTask.state.in_(_OPEN), AgencyTask.due_at <= until))
    if unit_code:
        query = query.where(AgencyTask.unit_code == unit_code)
    return list(session.exec(query.order_by(AgencyTask.unit_code, AgencyTask.due_at)).all())


def count_open_duties(session: Session) -> int:
    """How many contact/visit duties are open (for reports)."""
    return session.exec(select(sa.func.count()).select_from(KeyCareDuty)
                        .join(AgencyTask, AgencyTask.id == KeyCareDuty.task_id)
                        .where(AgencyTask.state.in_(_OPEN))).one()
