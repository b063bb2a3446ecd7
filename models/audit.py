"""The audit trail (审计日志): append-only, one row per read or write of a case's data."""
from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow


class AuditEvent(SQLModel, table=True):
    """Who did what, when and why.

    Rows are never updated or deleted: database triggers (migration ``0001``) refuse it.
    ``action`` is dotted, e.g. ``task.requested``, ``task.rejected``, ``child.registered``.
    """

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False, index=True))
    actor: str = Field(max_length=64)
    # not indexed: always read with entity_id or case_id (indexed); an index here only slowed every write
    action: str = Field(max_length=64)
    entity_type: str = Field(max_length=32)
    entity_id: str = Field(max_length=64, index=True)
    case_id: uuid.UUID | None = Field(default=None, index=True)
    reason: str = Field(default="", max_length=1000)
    detail: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
