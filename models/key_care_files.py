"""Key care files (一人一档), their contact log and the child director's duties linked to them: tables.

Policy: 闽民童〔2025〕5号, section 一（二）: a key care target (重点关爱服务对象) gets a file at the township of residence
(:class:`KeyCareFile`, 一人一档); the child director (儿童主任) contacts them at least monthly and visits the home at
least every three months (:class:`CareContact` is the log; the duties themselves are :class:`models.task.AgencyTask`
rows with a ``duty_key``, linked by :class:`KeyCareDuty`; their kinds and keys are :mod:`models.dated_duties`, the
calendar :mod:`careflow.survey.duties`). Section 七: a key care target is put into the family guardianship
assessment (困境儿童家庭监护评估), a civil-affairs task linked by :class:`GuardianshipAssessment`. Section 一（三）:
departments share data back (school enrolment, medical insurance, rehabilitation…), kept on the child since migration
0022 (:class:`models.data_exchange.DepartmentAnswer`, :mod:`careflow.exchange.answers`);
:attr:`KeyCareFile.department_data` holds only answers imported before. Files are opened by any door — a survey round
(:mod:`models.survey`), a registration, a report, a screening — through :mod:`careflow.key_care`, and closed by a
survey round.
"""
from __future__ import annotations

import datetime
import enum
import re
import uuid

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow
from models.survey import SurveyRound  # noqa: F401  (key_care_file.opened_round_id's table: a file written outside
#                                        a survey import, e.g. from a report, needs it known to the ORM)

__all__ = ["CareContact", "FileStatus", "GuardianshipAssessment", "KeyCareDuty", "KeyCareFile", "file_reference",
           "parse_file_reference"]


class FileStatus(enum.StrEnum):
    active = "active"
    closed = "closed"


class KeyCareFile(SQLModel, table=True):
    """The file (一人一档) of a key care target (重点关爱服务对象), kept at the township of residence (方案 一（二）).

    One per child (a child who stops being a key care target has the file closed with the reason; becoming one
    again reopens it). :func:`file_reference` (``KF-0000123``) is what messages and lists show instead of the
    child's name. ``department_data`` holds the departments' answers imported before migration 0022 (方案 一（三）;
no longer written: :class:`models.data_exchange.DepartmentAnswer`), keyed by department::

        {"education": {"school": "城厢区第一实验小学", "stage": "小学", "status": "在读",
                       "received_at": "2026-11-02T09:00:00+00:00", "source": "education-answers.xlsx", "line": 3}}
    """

    __tablename__ = "key_care_file"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", name="pk_key_care_file"),
        sa.UniqueConstraint("child_id", name="uq_key_care_file_child_id"),
        sa.Index("ix_key_care_file_county_code_status", "county_code", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    child_id: uuid.UUID = Field(sa_column=sa.Column(
        sa.Uuid, sa.ForeignKey("child.id", name="fk_key_care_file_child_id"), nullable=False))
    county_code: str = Field(max_length=6)
    area_code: str = Field(default="", max_length=12, description="township or village/community of residence")
    criteria: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    status: str = Field(default=FileStatus.active.value, max_length=16)
    opened_on: datetime.date
    opened_round_id: int | None = Field(default=None, sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("survey_round.id", name="fk_key_care_file_opened_round_id"), nullable=True))
    closed_on: datetime.date | None = None
    close_reason: str = Field(default="", max_length=300)
    last_contact_on: datetime.date | None = None
    last_visit_on: datetime.date | None = None
    department_data: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    updated_at: datetime.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))

    @property
    def reference(self) -> str:
        """``KF-0000123``: the file's reference, carrying no personal data."""
        return file_reference(self.id)


def file_reference(file_id: int | None) -> str:
    """``KF-`` and the file id on 7 digits (``file_reference(123)`` → ``"KF-0000123"``)."""
    return f"KF-{int(file_id or 0):07d}"


def parse_file_reference(text: str) -> int | None:
    """The file id of ``"KF-0000123"`` (case and spaces tolerated), or None when ``text`` is not one."""
    match = re.fullmatch(r"\s*KF-?(\d{1,12})\s*", str(text), flags=re.IGNORECASE)
    return int(match.group(1)) if match else None


class CareContact(SQLModel, table=True):
    """One contact or home visit a child director made with a key care target (the log of 方案 一（二）'s duties).

    ``task_id`` is the duty it completed, when one was open.
    """

    __tablename__ = "key_care_contact"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", name="pk_key_care_contact"),
        sa.Index("ix_key_care_contact_file_id", "file_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    file_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("key_care_file.id", name="fk_key_care_contact_file_id"), nullable=False))
    kind: str = Field(max_length=8)
    contact_on: datetime.date
    recorded_by: str = Field(max_length=64)
    note: str = Field(default="", max_length=500)
    recorded_at: datetime.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    task_id: uuid.UUID | None = Field(default=None, sa_column=sa.Column(
        sa.Uuid, sa.ForeignKey("agency_task.id", name="fk_key_care_contact_task_id"), nullable=True))


class KeyCareDuty(SQLModel, table=True):
    """Links a child director's duty (an :class:`models.task.AgencyTask` with a ``duty_key``) to its file.

    ``kind`` is a :class:`models.dated_duties.ContactKind`; ``period`` the month of a contact (``2026-11``) or the due
    date of a visit (``2027-02-20``), as in the task's ``duty_key`` (``contact:<child id>:2026-11``).
    """

    __tablename__ = "key_care_duty"
    __table_args__ = (
        sa.PrimaryKeyConstraint("task_id", name="pk_key_care_duty"),
        sa.Index("ix_key_care_duty_file_id", "file_id"),
    )

    task_id: uuid.UUID = Field(sa_column=sa.Column(
        sa.Uuid, sa.ForeignKey("agency_task.id", name="fk_key_care_duty_task_id"), nullable=False))
    file_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("key_care_file.id", name="fk_key_care_duty_file_id"), nullable=False))
    kind: str = Field(max_length=8)
    period: str = Field(max_length=10)


class GuardianshipAssessment(SQLModel, table=True):
    """Links a family guardianship assessment (困境儿童家庭监护评估, 方案 七) opened for a key care target to the child
    and the file whose opening asked for it (:mod:`careflow.key_care`).

    The task itself is an :class:`models.task.AgencyTask` with no case, for the county civil affairs bureau
    (``duty_key`` ``guardianship_assessment:<child id>:<YYYY-MM-DD>``, the day it opened, Asia/Shanghai);
    ``child_id`` is indexed so that "one done in the last year?" is an index lookup per child.
    """

    __tablename__ = "guardianship_assessment"
    __table_args__ = (
        sa.PrimaryKeyConstraint("task_id", name="pk_guardianship_assessment"),
        sa.Index("ix_guardianship_assessment_child_id", "child_id"),
    )

    task_id: uuid.UUID = Field(sa_column=sa.Column(
        sa.Uuid, sa.ForeignKey("agency_task.id", name="fk_guardianship_assessment_task_id"), nullable=False))
    child_id: uuid.UUID = Field(sa_column=sa.Column(
        sa.Uuid, sa.ForeignKey("child.id", name="fk_guardianship_assessment_child_id"), nullable=False))
    file_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("key_care_file.id", name="fk_guardianship_assessment_file_id"), nullable=False))
