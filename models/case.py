"""Cases (个案) and the pathway runs (转介路径) opened on them."""
from __future__ import annotations

import enum
import unicodedata
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
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


#: The states of a pathway run that still needs a live flow run.
OPEN_PATHWAY_STATUSES: tuple[str, ...] = (PathwayStatus.starting.value, PathwayStatus.running.value)

#: Length of ``PathwayRun.outcome`` and ``PathwayRun.last_failure`` (characters).
PATHWAY_TEXT_MAX = 500


def clip_text(text: str, limit: int = PATHWAY_TEXT_MAX) -> str:
    """``text`` cut to at most ``limit`` characters, ending in "…" when it was cut (never raises)."""
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def case_reference(text: str) -> str:
    """A case reference as stored (``CF-350302-20261129-7F3A0C``) from what a person typed: spaces around it and
    full-width characters dropped, letters upper-cased, so ``cf-350302-20261129-7f3a0c`` finds the case. Every
    lookup of a typed reference (command line, pages, API) goes through it."""
    return unicodedata.normalize("NFKC", str(text or "")).strip().upper()


class ClippedString(TypeDecorator):
    """A ``VARCHAR(length)`` that cuts what is written to it with :func:`clip_text`: a long text (a rejection
    reason quoted in an outcome, an engine's error) is stored shortened, never refused by PostgreSQL."""

    impl = sa.String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else clip_text(value, self.impl.length)


class Case(SQLModel, table=True):
    """A case about one child, held by a caseworker (儿童主任/儿童督导员/社会工作者).

    ``reference`` is what every message and page shows instead of the child's name,
    e.g. ``CF-350302-20261129-7F3A0C``. ``county_code`` is the county responsible for the case.
    """

    __tablename__ = "case"
    __table_args__ = (
        sa.Index("ix_case_opened_at_id", "opened_at", "id"),  # the cases list, newest first; migration 0007
        # search by the beginning of a reference (``LIKE 'CF-3503%'``) under any collation; migration 0011
        sa.Index("ix_case_reference_prefix", "reference", postgresql_ops={"reference": "varchar_pattern_ops"}),
    )

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
    # closing is the caseworker's decision (issue 12; careflow/closing.py): when it needs the county manager's
    # review, the request waits here until approved or refused; ``reopened_at`` is the last explicit reopening
    reopened_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    close_requested_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    close_requested_by: str = Field(default="", sa_column=sa.Column(sa.String(64), nullable=False, server_default=""))
    close_request_reason: str = Field(default="", sa_column=sa.Column(sa.String(500), nullable=False,
                                                                        server_default=""))


class PathwayRun(SQLModel, table=True):
    """One run of a pathway (e.g. ``guardianship``) on a case, linked to its Prefect flow run.

    ``resume_pending`` is set when an agency's answer is stored and cleared once the flow run
    has been resumed; the sweeper retries the resume while it stays set, so no answer is lost.

    ``dedupe_key`` says which runs are "the same pathway" on a case: the pathway key, plus the service-list
    item for a pathway that refers one item (``service_referral:18``; several items may run side by side on a
    case). At most one run per (case, dedupe_key) is open (``starting``/``running``): a partial unique index,
    so two concurrent starts cannot both win (:func:`careflow.cases.create_pathway_run`, issue #16).
    Recovery (:func:`careflow.reconcile.recover_pathway_runs`): ``restart_count`` counts the new flow runs the
    sweeper created after one crashed, failed or stopped reporting; ``last_failure`` says why the last one
    ended (Chinese or the engine's words, at most 500 characters); ``down_since`` is when the pathway was
    last found without a live flow run (UTC; cleared when a new flow run begins).
    ``outcome``, ``last_failure`` and ``last_resume_error`` are cut to 500 characters with "…" when written
    (:class:`ClippedString`). ``outcome`` is Chinese (the audit's words); ``outcome_phrases`` says the same as
    catalogue phrases, worded in each reader's language (:mod:`core.outcome`; migration 0027; None on older rows and
    on outcomes a person typed).
    """

    __tablename__ = "pathway_run"
    __table_args__ = (
        sa.Index("uq_pathway_run_open_per_case", "case_id", "dedupe_key", unique=True,
                 postgresql_where=sa.text("status IN ('starting', 'running')"),
                 sqlite_where=sa.text("status IN ('starting', 'running')")),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="case.id", index=True)
    pathway: str = Field(max_length=40, description="a pathway key of policy/pathways/")
    parameters: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    dedupe_key: str = Field(default="", sa_column=sa.Column(sa.String(100), nullable=False, server_default=""),
                            description="pathway (and item) key: one open run per case and key")
    status: PathwayStatus = Field(
        default=PathwayStatus.starting, sa_column=sa.Column(StrEnumColumn(PathwayStatus), nullable=False)
    )
    flow_run_id: uuid.UUID | None = Field(default=None, index=True)
    started_by: str = Field(max_length=64)
    started_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    outcome: str = Field(default="", sa_column=sa.Column(ClippedString(PATHWAY_TEXT_MAX), nullable=False),
                         description="how the pathway ended, in the policy's words")
    outcome_phrases: list | None = Field(default=None,
                                         sa_column=sa.Column(sa.JSON(none_as_null=True), nullable=True),
                                         description="the outcome as catalogue phrases (core.outcome)")
    resume_pending: bool = Field(default=False, index=True)
    answer_seq: int = Field(default=0, description="bumped by every stored answer; clears resume_pending safely")
    suspend_seq: int = Field(default=0, description="bumped before every suspend: each suspend gets a new key")
    resume_attempts: int = 0
    last_resume_error: str = Field(default="", sa_column=sa.Column(ClippedString(PATHWAY_TEXT_MAX), nullable=False))
    restart_count: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    last_failure: str = Field(default="", sa_column=sa.Column(ClippedString(PATHWAY_TEXT_MAX), nullable=False,
                                                            server_default=""))
    down_since: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    flow_process: str = Field(default="", sa_column=sa.Column(sa.String(120), nullable=False, server_default=""),
                              description="<host>:<pid>:<unix time> of the process that last began running the flow")


# The sweeper's candidates (open pathway runs) without reading closed ones: partial, so it stays small.
sa.Index("ix_pathway_run_open", PathwayRun.__table__.c.id,
         postgresql_where=PathwayRun.__table__.c.status.in_(OPEN_PATHWAY_STATUSES),
         sqlite_where=PathwayRun.__table__.c.status.in_(OPEN_PATHWAY_STATUSES))

# The dashboard's stalled pathways (careflow.recovery.stalled_pathway_runs): open runs without a live flow run —
# a handful in a healthy deployment, read without scanning every open run; migration 0011.
_STALLED_CANDIDATE = sa.and_(PathwayRun.__table__.c.status.in_(OPEN_PATHWAY_STATUSES),
                             sa.or_(PathwayRun.__table__.c.down_since.is_not(None),
                                    PathwayRun.__table__.c.flow_run_id.is_(None)))
sa.Index("ix_pathway_run_stalled", PathwayRun.__table__.c.started_at,
         postgresql_where=_STALLED_CANDIDATE, sqlite_where=_STALLED_CANDIDATE)
