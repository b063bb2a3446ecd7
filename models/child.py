"""The child and guardians (儿童、监护人): who the case is about."""
from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
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
    resident_id: str = Field(sa_column=sa.Column(sa.String(18), unique=True, nullable=False))
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


# search by the last digits of the ID: a prefix of the reversed ID (web.list_search.id_ends_with), PostgreSQL only
# (SQLite has no reverse()); migration 0016
sa.Index("ix_child_resident_id_reversed", sa.func.reverse(Child.__table__.c.resident_id).label("reversed_id"),
         postgresql_ops={"reversed_id": "text_pattern_ops"}).ddl_if(dialect="postgresql")


class Guardian(SQLModel, table=True):
    """A parent or other guardian (父母或者其他监护人) of a child."""

    __tablename__ = "guardian"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    child_id: uuid.UUID = Field(foreign_key="child.id", index=True)
    full_name: str = Field(max_length=64)
    relation: str = Field(max_length=32, description="e.g. 父亲, 母亲, 祖母")
    phone: str = Field(default="", max_length=32)
