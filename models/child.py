"""The child and guardians (儿童、监护人): who the case is about."""
from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, new_id, utcnow


class Child(SQLModel, table=True):
    """A registered child.

    ``resident_id`` is the 18-character GB 11643 number, validated before it is stored and
    masked wherever a list shows it. County codes are GB/T 2260 six-digit codes.
    ``key_care_criteria`` lists :class:`models.eligibility.KeyCareCriterion` values (重点关爱服务对象, 方案 一（二）).
    """

    __tablename__ = "child"
    __table_args__ = (
        # the children list: a county's (or, by the county range, a city's) children newest first; migration 0007
        sa.Index("ix_child_county_created", "residence_county_code", "created_at", "id"),
        # a township's (or, filtered by its code, a village's) children newest first, in index order;
        # ``substr(…, 1, 9)`` is what web.scope.child_in compares; migration 0015. The area code is carried in the
        # entries (PostgreSQL), so a village's filter and capped count read the index only; migration 0024, which
        # dropped the area code index of 0007 (a village's page through it sorted all the village's children, and it
        # cost every survey import a few seconds a million rows)
        sa.Index("ix_child_township_created", sa.text("substr(residence_area_code, 1, 9)"), "created_at", "id",
                 postgresql_include=["residence_area_code"]),
        # search by a part of the name: a trigram (pg_trgm) GIN index on PostgreSQL, which serves ``LIKE '%…%'``;
        # a plain index on SQLite (which has no trigrams); migration 0011. The last digits of the ID: below.
        sa.Index("ix_child_full_name_trgm", "full_name", postgresql_using="gin",
                 postgresql_ops={"full_name": "gin_trgm_ops"}),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    # unique: on PostgreSQL by its reversed form, on SQLite as it is (below: one index serves both the ID and its end)
    resident_id: str = Field(sa_column=sa.Column(sa.String(18), nullable=False))
    full_name: str = Field(max_length=64)
    sex: str = Field(default="", max_length=8)
    birth_date: date
    hukou_county_code: str = Field(max_length=6, description="户籍地 county, GB/T 2260")
    residence_county_code: str = Field(max_length=6, description="居住地 county, GB/T 2260")
    residence_area_code: str = Field(
        default="", max_length=12,
        description="居住地 township (9 digits) or village/community (12 digits) statistical code, when known",
    )
    residence_address: str = Field(default="", max_length=200)
    arrival_date: date = Field(description="date the child came to live in the residence county")
    key_care_criteria: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    created_by: str = Field(max_length=64)


# The ID number is unique, and lists search it by its last digits (web.list_search.id_ends_with): on PostgreSQL one
# unique index on the reversed ID serves both, an equality (resident_id_is) and a prefix of the reversed ID; migration
# 0028, which dropped the plain unique index beside it (two indexes taking a million survey children's keys in no
# order cost a county's first survey about 4 s of the database's CPU more). SQLite has no reverse(): its unique
# constraint is on the ID as it is, and it searches its (small) lists by scanning.
sa.Index("uq_child_resident_id_reversed", sa.func.reverse(Child.__table__.c.resident_id).label("reversed_id"),
         unique=True, postgresql_ops={"reversed_id": "text_pattern_ops"}).ddl_if(dialect="postgresql")
Child.__table__.append_constraint(sa.UniqueConstraint("resident_id").ddl_if(dialect="sqlite"))


class resident_id_is(sa.sql.expression.ColumnElement):
    """SQL: ``column`` (``child.resident_id``, or a column holding the same kind of value) equals ``value`` (an ID
    number or a column), written so that the ID's unique index serves it: ``reverse(column) = reverse(value)`` on
    PostgreSQL (``uq_child_resident_id_reversed``), ``column = value`` elsewhere."""

    inherit_cache = True

    def __init__(self, column, value) -> None:
        self.column = sa.sql.coercions.expect(sa.sql.roles.ExpressionElementRole, column)
        self.value = sa.sql.coercions.expect(sa.sql.roles.ExpressionElementRole, value, type_=sa.String(18))

    _traverse_internals = [("column", sa.sql.visitors.InternalTraversal.dp_clauseelement),
                           ("value", sa.sql.visitors.InternalTraversal.dp_clauseelement)]


@compiles(resident_id_is)
def _resident_id_is(element: resident_id_is, compiler, **kw) -> str:
    return compiler.process(element.column == element.value, **kw)


@compiles(resident_id_is, "postgresql")
def _resident_id_is_postgresql(element: resident_id_is, compiler, **kw) -> str:
    return compiler.process(sa.func.reverse(element.column) == sa.func.reverse(element.value), **kw)


class Guardian(SQLModel, table=True):
    """A parent or other guardian (父母或者其他监护人) of a child."""

    __tablename__ = "guardian"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    child_id: uuid.UUID = Field(foreign_key="child.id", index=True)
    full_name: str = Field(max_length=64)
    relation: str = Field(max_length=32, description="e.g. 父亲, 母亲, 祖母")
    phone: str = Field(default="", max_length=32)
