"""Finding agency tasks: one by the short reference people type, and a unit's open tasks (its inbox), paged.

A reference is the start of the task's id in hex (at least 4 characters, dashes ignored: what ``AgencyTask.short_ref``
shows); a unit's open tasks are those requested, acknowledged or in progress, soonest deadline first.
"""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlmodel import Session, select

from models.errors import FieldLookupError
from models.task import OPEN_STATE_VALUES, AgencyTask


class TaskNotFound(FieldLookupError):
    """No task matches the reference (or, for a unit, none of that unit's tasks)."""


#: An ambiguous reference's error lists at most this many tasks.
_AMBIGUOUS_SHOWN = 10


def id_starts_with(prefix: str):
    """SQL: the task's id begins with ``prefix`` (1–32 lower-case hex digits): a range of ids, which the primary key
    serves (casting every id to text to compare its beginning reads the whole table)."""
    return AgencyTask.id.between(uuid.UUID(prefix.ljust(32, "0")), uuid.UUID(prefix.ljust(32, "f")))


def find_task(session: Session, ref: str, unit_code: str | None = None) -> AgencyTask:
    """The task whose id starts with ``ref`` (at least 4 hex characters), optionally within a unit; one read of
    the primary key's range (:func:`id_starts_with`).

    Raises:
        TaskNotFound: no match, or several (the message lists them).
    """
    ref = ref.strip().lower().replace("-", "")
    if len(ref) < 4 or any(c not in "0123456789abcdef" for c in ref):
        raise TaskNotFound("task", "problem.task_ref_short", ref=ref)
    query = select(AgencyTask).where(id_starts_with(ref)).order_by(AgencyTask.id).limit(_AMBIGUOUS_SHOWN)
    if unit_code:
        query = query.where(AgencyTask.unit_code == unit_code)
    matches = session.exec(query).all()
    if not matches:
        if unit_code:
            raise TaskNotFound("task", "problem.no_task_of_unit", ref=ref, unit=unit_code)
        raise TaskNotFound("task", "problem.no_task", ref=ref)
    if len(matches) > 1:
        raise TaskNotFound("task", "problem.task_ref_ambiguous", ref=ref, matches=", ".join(t.short_ref for t in matches))
    return matches[0]


def _open_of(unit_code: str, followed: bool = False):
    unit = AgencyTask.follower_unit_code if followed else AgencyTask.unit_code
    return (unit == unit_code, AgencyTask.state.in_(OPEN_STATE_VALUES))


def list_open_tasks(session: Session, unit_code: str, *, limit: int | None = None,
                    after: AgencyTask | None = None, followed: bool = False) -> list[AgencyTask]:
    """A unit's open tasks (requested, acknowledged, in progress), soonest deadline first (ties by id); with
    ``followed``, the open tasks the unit follows at a child's registration place instead
    (``follower_unit_code``, :mod:`careflow.registration_place`).

    ``limit`` rows at most; ``after``: only the tasks that come after this one in that order (the next page,
    by keyset on ``(due_at, id)`` through the partial index ``ix_agency_task_open_unit_due``).
    """
    query = select(AgencyTask).where(*_open_of(unit_code, followed))
    if after is not None:
        query = query.where(sa.tuple_(AgencyTask.due_at, AgencyTask.id)
                            > sa.tuple_(sa.literal(after.due_at, AgencyTask.due_at.type),
                                        sa.literal(after.id, AgencyTask.id.type)))
    query = query.order_by(AgencyTask.due_at, AgencyTask.id)
    return list(session.exec(query.limit(limit) if limit else query).all())


def count_open_tasks(session: Session, unit_code: str, followed: bool = False) -> int:
    """How many open tasks the unit holds, or follows (``followed``; one ``COUNT`` on a partial index)."""
    return session.exec(select(sa.func.count()).select_from(AgencyTask).where(*_open_of(unit_code, followed))).one()
