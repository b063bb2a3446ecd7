"""The search box of the lists (``q``): what a text asks for, and the SQL condition of each kind.

``CF-…`` a case reference (or its beginning), ``KF-…`` a key care file, 8 hex characters a task (its short
reference), 4–18 digits (or ending in X) the end of a resident ID, anything else a part of the child's name.
Which kinds a list honours, and for whom, is the list's own business (:mod:`web.lists`,
:mod:`web.task_list`): an agency officer never searches by a child's name or ID (DOMAIN.md §8).

Each condition is served by an index on PostgreSQL: the beginning of a case reference by
``ix_case_reference_prefix`` and a part of the name by a pg_trgm GIN index (migration 0011), the end of the ID by a
unique btree on the reversed ID (migrations 0016, 0028), a task's short reference by the primary key (a range of ids).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles

from careflow.task_lookup import id_starts_with
from models.case import Case, case_reference
from models.child import Child
from models.key_care_files import parse_file_reference
from models.task import AgencyTask

_TASK_REF = re.compile(r"^[0-9a-f]{8}$")
_ID_TAIL = re.compile(r"^\d{3,17}[\dX]$")


@dataclass(frozen=True)
class Search:
    """What a search text ``q`` asks for (see the module docstring); ``text`` normalised."""

    kind: str  # case_ref | file_ref | task_ref | id_tail | name
    text: str

    @classmethod
    def of(cls, q: str) -> "Search":
        """A reference, task or ID end as :func:`models.case.case_reference` normalises it (full-width typing, any
        case); a name as typed."""
        text, upper = q.strip(), case_reference(q)
        if upper.startswith("CF-"):
            return cls("case_ref", upper)
        if parse_file_reference(upper) is not None and upper.startswith("KF"):
            return cls("file_ref", str(parse_file_reference(upper)))
        if _TASK_REF.match(upper.lower()) and not upper.isdigit():
            return cls("task_ref", upper.lower())
        if _ID_TAIL.match(upper):
            return cls("id_tail", upper)
        return cls("name", text)


class id_ends_with(sa.sql.expression.ColumnElement):
    """SQL: the child's resident ID ends with ``digits`` (4–18 digits, the last may be X, as ``id_tail``). On
    PostgreSQL ``reverse(resident_id) LIKE '<digits reversed>%'``, a prefix that ``uq_child_resident_id_reversed``
    serves; elsewhere ``resident_id LIKE '%<digits>'``."""

    _traverse_internals = [("digits", sa.sql.visitors.InternalTraversal.dp_string)]

    def __init__(self, digits: str) -> None:
        if not _ID_TAIL.match(digits):
            raise ValueError(f"field 'q': {digits!r} is not the end of an ID number (4–18 digits, the last may be X)")
        self.digits = digits


@compiles(id_ends_with)
def _id_ends_with(element: id_ends_with, compiler, **kw) -> str:
    return compiler.process(Child.resident_id.like(sa.literal("%" + element.digits)), **kw)


@compiles(id_ends_with, "postgresql")
def _id_ends_with_postgresql(element: id_ends_with, compiler, **kw) -> str:
    return compiler.process(sa.func.reverse(Child.resident_id).like(sa.literal(element.digits[::-1] + "%")), **kw)


def child_search(search: Search):
    """The child's resident ID ends with the text (``id_tail``), else the child's name contains it."""
    if search.kind == "id_tail":
        return id_ends_with(search.text)
    return Child.full_name.contains(search.text, autoescape=True)


def case_ref_search(search: Search):
    """The case reference begins with the text (the whole reference included): ``ix_case_reference_prefix``."""
    return Case.reference.startswith(search.text, autoescape=True)


def case_search(q: str):
    """The condition of the case list's search box ``q``: a case reference prefix (CF-…), else the child's name or
    the last digits of the ID number (caseworkers and managers only: they see the child)."""
    search = Search.of(q)
    return case_ref_search(search) if search.kind == "case_ref" else child_search(search)


def task_ref_search(short: str):
    """The task's id begins with the 8 hex characters ``short`` (its short reference): :func:`id_starts_with`."""
    return id_starts_with(short)
