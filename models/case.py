"""Cases (个案) and the pathway runs (转介路径) opened on them."""
from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import StrEnumColumn, UTCDateTime, new_id, utcnow


class CaseStatus(enum.StrEnum):
    open = "open"
    closed = "closed"


class PathwayStatus(enum.StrEnum):
    """Where a pathway run stands. ``running`` covers waiting on an agency's answer too."""

    starting = "starting"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


class Case(SQLModel, table=True):
    """A case about one child, held by a caseworker (儿童主任/儿童督导员/社会工作者).

    ``reference`` is what every message and page shows instead of the child's name,
    e.g. ``CF-350302-20261129-7F3A0C``. ``county_code`` is the county responsible for the case.
    """

    __tablename__ = "case"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    reference: str = Field(sa_column=sa.Column(sa.String(40), unique=True, nullable=False))
    child_id: uuid.UUID = Field(foreign_key="child.id", index=True)
    county_code: str = Field(max_length=6, index=True)
    caseworker: str = Field(max_length=64)
    summary: str = Field(default="", max_length=500)
    status: CaseStatus = Field(default=CaseStatus.open, sa_column=sa.Column(StrEnumColumn(CaseStatus), nullable=False))
    opened_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    close_reason: str = Field(default="", max_length=500)


class PathwayRun(SQLModel, table=True):
    """One run of a pathway (e.g. ``guardianship``) on a case, linked to its Prefect flow run.

    ``resume_pending`` is set when an agency's answer is stored and cleared once the flow run
    has been resumed; the sweeper retries the resume while it stays set, so no answer is lost.
    """

    __tablename__ = "pathway_run"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="case.id", index=True)
    pathway: str = Field(max_length=40, description="a pathway key of policy/pathways/")
    parameters: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    status: PathwayStatus = Field(
        default=PathwayStatus.starting, sa_column=sa.Column(StrEnumColumn(PathwayStatus), nullable=False)
    )
    flow_run_id: uuid.UUID | None = Field(default=None, index=True)
    started_by: str = Field(max_length=64)
    started_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    outcome: str = Field(default="", max_length=500, description="how the pathway ended, in the policy's words")
    resume_pending: bool = Field(default=False, index=True)
    answer_seq: int = Field(default=0, description="bumped by every stored answer; clears resume_pending safely")
    suspend_seq: int = Field(default=0, description="bumped before every suspend: each suspend gets a new key")
    resume_attempts: int = 0
    last_resume_error: str = Field(default="", max_length=500)
