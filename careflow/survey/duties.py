"""The child director's duties to a key care target (方案 一（二）): contact at least monthly, visit the home at
least every three months.

Each duty is an :class:`models.task.AgencyTask` with no case and no pathway run, unique by ``duty_key``, routed to
the ``village_committee`` unit of the child's area (the child director works there; a township station, then the
county civil affairs bureau, when no village committee is in the directory), with a deadline the sweeper escalates
like any other task (reminder, supervisor at the deadline, county manager past it):

* **contact** — one per calendar month: ``contact:<child id>:2026-11``, due on the month's last day at 24:00
  (Asia/Shanghai; stored as 23:59:59). 每个月联系一次 is read as "in every calendar month".
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

import datetime
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session, select

from careflow.audit import record_audit
from careflow.routing import NoUnitForAgency, resolve_unit
from careflow.survey.bulk import bulk_insert
from models.agency import AgencyUnit
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


def duty_title(kind: ContactKind | str, file_id: int, period: str) -> str:
    """The task title: what to do, the file reference and the period (no personal data)."""
    if ContactKind(kind) == ContactKind.contact:
        return f"重点关爱儿童每月联系（{file_reference(file_id)}，{period}）"
    return f"重点关爱儿童入户走访（{file_reference(file_id)}，{period} 前）"


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
    created twice, so calling this again changes nothing. Bulk: one query per 1,000 files, one bulk insert.
    """
    now = now or utcnow()
    today = today or today_local(now)
    units = units or UnitCache(session)
    plan = DutyPlan()
    conn = session.connection()
    # plain rows, not ORM objects: nothing piles up in the session however many files there are
    query = (select(KeyCareFile.id, KeyCareFile.child_id, KeyCareFile.last_contact_on, KeyCareFile.last_visit_on,
                    KeyCareFile.opened_on, KeyCareFile.area_code, KeyCareFile.county_code,
                    Child.residence_area_code, Child.residence_county_code)
             .join(Child, Child.id == KeyCareFile.child_id)
             .where(KeyCareFile.status == FileStatus.active.value))
    if file_ids is None:
        file_ids = session.exec(select(KeyCareFile.id).where(KeyCareFile.status == FileStatus.active.value)).all()
    ids = sorted(set(file_ids))
    batches = [ids[i:i + 1000] for i in range(0, len(ids), 1000)]
    tasks: list[tuple] = []
    links: list[tuple] = []
    audits: list[tuple] = []
    session.flush()
    for batch in batches:
        rows = session.exec(query.where(KeyCareFile.id.in_(batch))).all()
        if not rows:
            continue
        wanted: dict[str, tuple] = {}
        file_batch = [f.id for f in rows]
        open_visits = set(session.exec(
            select(KeyCareDuty.file_id).join(AgencyTask, AgencyTask.id == KeyCareDuty.task_id)
            .where(KeyCareDuty.file_id.in_(file_batch), KeyCareDuty.kind == ContactKind.visit.value,
                   AgencyTask.state.in_(_OPEN))).all())
        for file in rows:
            period = month_period(today)
            if file.last_contact_on and month_period(file.last_contact_on) >= period:
                period = next_period(month_period(file.last_contact_on))
            area_code = file.residence_area_code or file.area_code or file.residence_county_code or file.county_code
            wanted[duty_key(ContactKind.contact, file.child_id, period)] = (
                file, ContactKind.contact, period, contact_due(period), area_code)
            if file.id not in open_visits:
                due_day = add_months(file.last_visit_on or file.opened_on, VISIT_EVERY_MONTHS)
                vperiod = due_day.isoformat()
                wanted[duty_key(ContactKind.visit, file.child_id, vperiod)] = (
                    file, ContactKind.visit, vperiod, end_of_day(due_day), area_code)
        existing: dict[str, TaskState] = {}
        keys = list(wanted)
        for i in range(0, len(keys), 1000):
            existing.update(session.exec(select(AgencyTask.duty_key, AgencyTask.state)
                                         .where(AgencyTask.duty_key.in_(keys[i:i + 1000]))).all())
        for key, (file, kind, period, due_at, area_code) in wanted.items():
            if key in existing:
                key = _free_key(session, key, kind, TaskState(existing[key]))
                if key is None:
                    continue
            unit = units.unit_for(area_code)
            if unit is None:
                plan.unrouted[area_code] = plan.unrouted.get(area_code, 0) + 1
                continue
            task_id = uuid.uuid4()
            tasks.append((task_id, key, STEP_KEYS[kind], 1, unit.agency_type, unit.code, area_code,
                          duty_title(kind, file.id, period), TaskState.requested.value, now, due_at, False,
                          DEADLINE_TEXT[kind], 0, "", {}, ""))
            links.append((task_id, file.id, kind.value, period))
            audits.append((now, actor, "task.requested", "task", str(task_id), f"{file_reference(file.id)} {key}",
                           {"unit": unit.code, "due_at": due_at.isoformat(), "duty_key": key}))
            plan.created_count += 1
            if len(plan.created) < 10_000:
                plan.created.append((task_id, key))
        if tasks:  # written per batch: memory stays flat however many files
            bulk_insert(conn, "agency_task",
                        ("id", "duty_key", "step_key", "attempt", "agency_type", "unit_code", "jurisdiction_code",
                         "title", "state", "requested_at", "due_at", "due_provisional", "deadline_text",
                         "escalation_level", "answered_by", "outcome", "rejection_reason"), tasks)
            bulk_insert(conn, "key_care_duty", ("task_id", "file_id", "kind", "period"), links)
            bulk_insert(conn, "audit_event",
                        ("at", "actor", "action", "entity_type", "entity_id", "reason", "detail"), audits)
            tasks, links, audits = [], [], []
    return plan


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
    return list(session.exec(query.order_by(AgencyTask.due_at)).all())


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
                  now: datetime.datetime | None = None) -> list[AgencyTask]:
    """Cancel every open duty of ``file`` with ``reason`` (kept in the outcome and the audit trail)."""
    now = now or utcnow()
    cancelled = []
    for task, _ in file_duties(session, file.id):
        _close_duty(session, task, TaskState.cancelled, actor=actor, reason=reason,
                    outcome={"cancel_reason": reason}, now=now)
        cancelled.append(task)
    return cancelled


def close_file(session: Session, file: KeyCareFile, reason: str, *, today: datetime.date,
               actor: str = "careflow", now: datetime.datetime | None = None) -> list[AgencyTask]:
    """Close a key care file (the child is no longer a key care target) and cancel its open duties.

    Returns the cancelled duties. A closed file is left as it is.
    """
    if file.status == FileStatus.closed.value:
        return []
    now = now or utcnow()
    file.status, file.closed_on, file.close_reason, file.updated_at = FileStatus.closed.value, today, reason[:300], now
    session.add(file)
    record_audit(session, actor=actor, action="key_care_file.closed", entity_type="key_care_file",
                 entity_id=file.id, reason=reason, detail={"file": file.reference})
    return cancel_duties(session, file, reason, actor=actor, now=now)


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
