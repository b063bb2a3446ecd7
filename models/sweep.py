"""The deadline sweeper's own record: one row per sweep (巡检), for the dashboard and for operators."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime


class SweepRun(SQLModel, table=True):
    """What one sweep of :func:`careflow.escalation.sweep_deadlines` did.

    ``at`` is the time the sweep acted at (UTC; tests pass a fixed one), ``finished_at`` the real time it
    ended (UTC), ``duration_s`` its wall-clock seconds, ``fired`` the rungs it fired, ``backlog`` the open
    tasks still due when it stopped (0 unless it ran out of time; the next sweep picks them up), ``failed`` the
    tasks it set aside (:mod:`careflow.sweep_guard`: retried an hour later, the county manager told).
    Rows older than :data:`careflow.escalation.KEEP_SWEEP_RUNS` are pruned by the sweep itself.
    """

    __tablename__ = "sweep_run"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=sa.Column(UTCDateTime, nullable=False))
    finished_at: datetime = Field(sa_column=sa.Column(UTCDateTime, nullable=False, index=True))
    duration_s: float
    fired: int
    backlog: int
    computed: int = Field(default=0, description="tasks whose next rung time was (re)computed")
    failed: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"),
                        description="tasks set aside: their rungs could not be fired (careflow.sweep_guard)")
