"""Writing the audit trail: one call per read or write of a case's data."""
from __future__ import annotations

import uuid

from sqlmodel import Session

from models.audit import AuditEvent
from models.base import utcnow


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: object,
    case_id: uuid.UUID | None = None,
    reason: str = "",
    detail: dict | None = None,
) -> AuditEvent:
    """Add an :class:`AuditEvent` to ``session`` (committed with the change it describes).

    ``detail`` must be JSON-serialisable and must not hold a child's name or ID number.
    """
    event = AuditEvent(
        at=utcnow(), actor=actor, action=action, entity_type=entity_type, entity_id=str(entity_id),
        case_id=case_id, reason=reason, detail=detail or {},
    )
    session.add(event)
    return event
