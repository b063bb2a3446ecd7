"""Programmes (关爱服务活动): activities a department organises for many children — items 18, 19 and 20 of the
service list (方案 （九）精神文化生活服务, （十）城市融入服务, （十一）法治安全教育服务).

A referral of one child for such an item does not open a task per department: it invites the child to the next
programme of the item in the child's county, or puts the child on the county's waiting list for the item
(:mod:`careflow.programmes`). Departments report their programmes every quarter: a dated duty
``programme_report:<2026Q4>:<unit code>`` (:func:`report_duty_key`), escalated like any task.

Tables (migration 0017_programmes):

* :class:`Programme` — one activity: item, title, date and time, place, organiser (an agency unit: a department, a
  township station, a school, a social-work organisation on contract), the county it is for, capacity, how many seats
  are taken (``invited_count``, changed only by conditional updates) and children who came without a referral.
* :class:`ProgrammeInvitation` — one child's place: on the waiting list (``programme_id`` NULL), invited, attended or
  absent; one per referral (pathway run).

Pure quarter arithmetic (:func:`quarter_of`, :func:`quarter_bounds`) needs no database.
"""
from __future__ import annotations

import datetime as _dt
import enum
import re
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import StrEnumColumn, UTCDateTime, new_id, utcnow
from models.errors import FieldValueError
from models.outcome_fields import OutcomeField

__all__ = [
    "InvitationStatus", "PROGRAMME_MEASURES", "PROGRAMME_REPORT_OUTCOME", "Programme", "ProgrammeInvitation",
    "REPORT_STEP", "quarter_bounds", "quarter_label", "quarter_of", "report_duty_key",
]

#: The measure of 闽民童〔2025〕5号 each programme item carries out (service-list item → measure).
PROGRAMME_MEASURES: dict[int, str] = {18: "（九）加强精神文化生活服务", 19: "（十）开展城市融入服务",
                                      20: "（十一）加强法治安全教育服务"}

#: The ``step_key`` of the quarterly report duty (also its duty key's prefix).
REPORT_STEP = "programme_report"

#: What a department answers when completing its quarterly report duty.
PROGRAMME_REPORT_OUTCOME: tuple[OutcomeField, ...] = (
    OutcomeField(name="reported", type="bool", label_zh="本季度开展的活动已全部登记", label_en="Every programme of the "
                 "quarter is recorded", required=True),
    OutcomeField(name="note", type="text", label_zh="情况说明", label_en="Note"),
)


class InvitationStatus(enum.StrEnum):
    """A child's place: ``waiting`` (候补, no programme yet), ``invited`` (已邀请), ``attended`` (已参加),
    ``absent`` (未参加), ``withdrawn`` (已退出: given back before the programme, :mod:`careflow.programme_seats`)."""

    waiting = "waiting"
    invited = "invited"
    attended = "attended"
    absent = "absent"
    withdrawn = "withdrawn"


class Programme(SQLModel, table=True):
    """One programme (关爱服务活动) of a programme item (18, 19 or 20).

    ``starts_at`` is UTC (entered and shown in Asia/Shanghai). ``county_code`` (6 digits) is the county whose
    children it is for: a referral of a child living there is invited to it. ``capacity`` counts invited children;
    ``invited_count`` the seats taken (never above ``capacity``: taken by a conditional update).
    ``walk_ins``: children who attended without a referral (recorded with the attendance).
    """

    __tablename__ = "programme"
    __table_args__ = (
        sa.Index("ix_programme_next", "county_code", "item", "starts_at"),
        sa.Index("ix_programme_unit_starts", "organiser_unit_code", "starts_at"),
        sa.CheckConstraint("invited_count <= capacity", name="ck_programme_seats"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    item: int = Field(description="service-list item: 18, 19 or 20")
    title: str = Field(max_length=120)
    starts_at: datetime = Field(sa_column=sa.Column(UTCDateTime, nullable=False))
    place: str = Field(max_length=200)
    organiser_unit_code: str = Field(foreign_key="agency_unit.code", max_length=64)
    county_code: str = Field(max_length=6)
    capacity: int = Field(ge=1)
    invited_count: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    walk_ins: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    description: str = Field(default="", max_length=1000)
    recorded_by: str = Field(max_length=64)
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    attendance_by: str = Field(default="", max_length=64)
    attendance_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))


class ProgrammeInvitation(SQLModel, table=True):
    """One child's place for a programme item: one per referral (``pathway_run_id`` unique).

    ``programme_id`` NULL: on the waiting list of (``county_code``, ``item``), invited in order of ``created_at``
    when a programme is recorded.
    """

    __tablename__ = "programme_invitation"
    __table_args__ = (
        sa.UniqueConstraint("pathway_run_id", name="uq_programme_invitation_run"),
        sa.Index("ix_programme_invitation_waiting", "county_code", "item", "created_at",
                 postgresql_where=sa.text("programme_id IS NULL"), sqlite_where=sa.text("programme_id IS NULL")),
        sa.Index("ix_programme_invitation_programme", "programme_id", "status"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    pathway_run_id: uuid.UUID = Field(foreign_key="pathway_run.id")
    case_id: uuid.UUID = Field(foreign_key="case.id", index=True)
    child_id: uuid.UUID = Field(foreign_key="child.id", index=True)
    item: int
    county_code: str = Field(max_length=6)
    programme_id: uuid.UUID | None = Field(default=None, foreign_key="programme.id")
    status: InvitationStatus = Field(default=InvitationStatus.waiting,
                                     sa_column=sa.Column(StrEnumColumn(InvitationStatus), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    invited_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    attendance_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))


_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")


def quarter_of(day: _dt.date) -> str:
    """``2026Q4`` for a day of October-December 2026."""
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def quarter_bounds(label: str) -> tuple[_dt.date, _dt.date]:
    """The first and last day of the quarter ``label`` (``2026Q4`` → 2026-10-01, 2026-12-31).

    Raises:
        ValueError: ``label`` is not ``YYYYQn`` (a FieldValueError of the field ``quarter``, worded in the reader's
            language).
    """
    match = _QUARTER.match(label)
    if not match:
        raise FieldValueError("quarter", "problem.quarter_format", value=label, example="2026Q4")
    year, quarter = int(match[1]), int(match[2])
    first = _dt.date(year, 3 * quarter - 2, 1)
    after = _dt.date(year + (quarter == 4), 1 if quarter == 4 else 3 * quarter + 1, 1)
    return first, after - _dt.timedelta(days=1)


def quarter_label(label: str) -> str:
    """``2026年第四季度`` for ``2026Q4``."""
    first, _ = quarter_bounds(label)
    return f"{first.year}年第{'一二三四'[int(label[-1]) - 1]}季度"


def report_duty_key(unit_code: str, quarter: str) -> str:
    """``programme_report:2026Q4:education-350302``: the unit's duty to report the quarter's programmes (the quarter
    first: a quarter's duties are one range of the unique index on ``duty_key``)."""
    return f"{REPORT_STEP}:{quarter}:{unit_code}"
