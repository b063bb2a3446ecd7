"""The notification outbox (通知发件箱): every message is stored before it is sent."""
from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import StrEnumColumn, UTCDateTime, new_id, utcnow


class DeliveryStatus(enum.StrEnum):
    pending = "pending"
    sent = "sent"
    sending = "sending"      # claimed by one dispatcher until ``claimed_until``
    failed = "failed"        # failed at least once, will be retried
    given_up = "given_up"    # retries exhausted; a manager was alerted


_UNSENT_SQL = "status IN ('pending', 'failed', 'sending')"
#: Messages a pathway flow queued for sending at once, not yet tried (the send loop's scan, ix_notification_send_now).
_SEND_NOW_SQL = "status = 'pending' AND send_now"
#: PostgreSQL's LISTEN/NOTIFY channel on which storing such a message wakes the send loops (delivered at commit).
SEND_NOW_CHANNEL = "careflow_send_now"


class Notification(SQLModel, table=True):
    """One message to one agency unit (or role) about one event.

    ``idempotency_key`` is unique: the same event (task, event type, recipient) is stored once however
    often a flow replays. Bodies never hold a child's name or resident ID (checked before storing).
    """

    __tablename__ = "notification"
    __table_args__ = (
        # The outbox's due-message scan (notifications.outbox.due_notifications): only unsent messages, by age.
        sa.Index("ix_notification_unsent", "created_at", "id",
                 postgresql_where=sa.text(_UNSENT_SQL), sqlite_where=sa.text(_UNSENT_SQL)),
        # The send loop's scan (notifications.send_loop): messages flows queued to go at once, not yet tried.
        sa.Index("ix_notification_send_now", "created_at", "id",
                 postgresql_where=sa.text(_SEND_NOW_SQL), sqlite_where=sa.text(_SEND_NOW_SQL)),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    idempotency_key: str = Field(sa_column=sa.Column(sa.String(200), unique=True, nullable=False))
    event: str = Field(max_length=32)
    case_id: uuid.UUID | None = Field(default=None, foreign_key="case.id", index=True)
    task_id: uuid.UUID | None = Field(default=None, foreign_key="agency_task.id", index=True)
    unit_code: str = Field(max_length=64)
    recipient_role: str = Field(default="officer", max_length=24)
    subject: str = Field(max_length=200)
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    status: DeliveryStatus = Field(default=DeliveryStatus.pending, sa_column=sa.Column(StrEnumColumn(DeliveryStatus), nullable=False, index=True))
    attempts: int = 0
    last_error: str = Field(default="", max_length=1000)
    delivery: list = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False),
                           description="latest delivery result per channel URL (redacted URLs, stable ids)")
    created_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    next_attempt_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    sent_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    claimed_until: datetime | None = Field(
        default=None, sa_column=sa.Column(UTCDateTime),
        description="a dispatcher holds the message until then; a crashed dispatcher's claim expires",
    )
    claimed_by: str | None = Field(
        default=None, max_length=120,
        description="the process that claimed it last (`<host>:<pid>:<unix time>`, core.processes): a claim of a "
                    "process killed on this host is given back at once, not when it expires",
    )
    send_now: bool = Field(
        default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false()),
        description="queued by a pathway flow: the send loop of `careflow serve`/`careflow worker` sends it within "
                    "a second; every other message waits for the sweeper's dispatch (and its burst digests)",
    )
