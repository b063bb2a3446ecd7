"""Writing a batch of new duties fast: the task, its link to the key care file and its ``task.requested`` audit event,
rows formatted directly as the database reads them (COPY text on PostgreSQL, driver values on SQLite). Used by
:func:`careflow.survey.duties.ensure_duties` and the survey import's fast path.
"""
from __future__ import annotations

import datetime
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa

from careflow.survey.bulk import driver_connection, is_postgresql
from careflow.survey.duty_calendar import DEADLINE_TEXT, STEP_KEYS, TITLES, contact_due, end_of_day
from models.agency import AgencyUnit
from models.dated_duties import ContactKind
from models.key_care_files import file_reference
from models.task import TaskState


@dataclass
class DutyPlan:
    """Duties :func:`ensure_duties` created, and areas no unit covers (those duties wait for the directory)."""

    created: list[tuple[uuid.UUID, str]] = field(default_factory=list)  # (task id, duty key), the first 10,000
    unrouted: dict[str, int] = field(default_factory=dict)  # area code → number of duties not created
    created_count: int = 0


def _copy_text(value: str) -> str:
    """``value`` as a field of PostgreSQL's COPY text format."""
    return (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r"))


_UUID_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
_TASK_COLUMNS = ("id", "duty_key", "title", "due_at", "step_key", "agency_type", "unit_code", "jurisdiction_code",
                 "attempt", "state", "requested_at", "due_provisional", "deadline_text", "escalation_level",
                 "answered_by", "outcome", "rejection_reason")
_LINK_COLUMNS = ("task_id", "file_id", "kind", "period")
_AUDIT_COLUMNS = ("at", "actor", "action", "entity_type", "entity_id", "reason", "detail")


class DutyWriter:
    """Writes duties (the task, its link to the file, its ``task.requested`` audit event) as
    :func:`careflow.survey.bulk.bulk_insert` would, rows formatted directly as the database reads them: COPY text on PostgreSQL, driver values on SQLite.

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
        created, actor, titles = plan.created, self.actor, TITLES
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
    """An aware time as SQLite stores it (UTC, no offset, microseconds), as :func:`careflow.survey.bulk.bulk_insert`
    writes it."""
    return value.astimezone(datetime.timezone.utc).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
