"""The manager dashboard's figures as a table, and the indexes the dashboard and its exports read through.

:class:`DashboardFigure` holds one row per (scope, kind, key): ``scope`` a jurisdiction code (county, city or
province, GB/T 2260), ``kind`` ``total`` (key ``""``), ``county`` (key: the case's county) or ``unit`` (key: the
agency unit's code). One extra row ``("", "meta", "")`` says when the figures were computed and how long that
took. The rows are replaced as a whole by :func:`careflow.figures.refresh_figures` (set-based SQL), so that a
province's dashboard reads a few hundred rows instead of aggregating millions of tasks per request.

Indexes (migration 0008) are declared here, beside the table, rather than in the task and pathway modules:
they exist for the dashboard's reads (escalations and pathways newest first, tasks answered or acknowledged in
the response-time window, the export's oldest-first walk).
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime
from models.case import PathwayRun
from models.task import AgencyTask, Escalation


class DashboardFigure(SQLModel, table=True):
    """The figures of one group of tasks inside one jurisdiction (see the module's docstring).

    ``open``, ``overdue`` (open and past ``due_at``), ``escalated`` (open with an escalation fired) are counted
    at ``computed_at``; ``completed`` and ``completed_on_time`` over tasks completed in the response-time window
    (``window_days`` before ``computed_at``), ``due`` = completed + overdue; medians in hours over the same window
    (acknowledged − requested over tasks acknowledged in it, answered − requested over tasks completed in it).
    """

    __tablename__ = "dashboard_figure"

    scope_code: str = Field(primary_key=True, max_length=12)
    kind: str = Field(primary_key=True, max_length=8)
    key: str = Field(primary_key=True, max_length=64)
    open: int = 0
    overdue: int = 0
    escalated: int = 0
    completed: int = 0
    completed_on_time: int = 0
    due: int = 0
    median_ack_hours: float | None = None
    median_complete_hours: float | None = None
    window_days: int = 0
    duration_ms: int = Field(default=0, description="meta row: how long the last refresh took")
    computed_at: datetime = Field(sa_column=sa.Column(UTCDateTime, nullable=False))


_COMPLETED = sa.text("state = 'completed'")

#: Tasks completed in the response-time window (median time to complete, on-time share).
ix_agency_task_completed_answered_at = sa.Index(
    "ix_agency_task_completed_answered_at", AgencyTask.__table__.c.answered_at,
    postgresql_where=_COMPLETED, sqlite_where=_COMPLETED)
#: Tasks acknowledged in the window (median time to acknowledge).
ix_agency_task_acknowledged_at = sa.Index(
    "ix_agency_task_acknowledged_at", AgencyTask.__table__.c.acknowledged_at,
    postgresql_where=sa.text("acknowledged_at IS NOT NULL"), sqlite_where=sa.text("acknowledged_at IS NOT NULL"))
#: The export walks the tasks oldest first in keyset batches (requested_at, id) and starts sending at once.
ix_agency_task_requested_at = sa.Index("ix_agency_task_requested_at", AgencyTask.__table__.c.requested_at,
                                       AgencyTask.__table__.c.id)
#: The dashboard's latest escalations and latest pathways.
ix_escalation_fired_at = sa.Index("ix_escalation_fired_at", Escalation.__table__.c.fired_at, Escalation.__table__.c.id)
ix_pathway_run_started_at = sa.Index("ix_pathway_run_started_at", PathwayRun.__table__.c.started_at,
                                     PathwayRun.__table__.c.id)
