"""Writing the audit trail: one call per read or write of a case's data."""
from __future__ import annotations

import uuid

from sqlmodel import Session

from core.bulk import insert_rows
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


def record_audits(session: Session, events: list[dict]) -> int:
    """Bulk variant of :func:`record_audit`: insert many events in one statement (:func:`core.bulk.insert_rows`:
    an ``unnest`` of arrays on PostgreSQL, executemany on SQLite); returns how many.

    Each item holds :func:`record_audit`'s keyword arguments (``actor``, ``action``, ``entity_type``,
    ``entity_id``, optional ``case_id``, ``reason``, ``detail``); all get the same ``at`` (now, UTC). Executed at
    once (not on flush), in the caller's transaction. The same rule on ``detail`` holds: no child's name or ID.
    """
    if not events:
        return 0
    at = utcnow()
    rows = [{"at": at, "actor": e["actor"], "action": e["action"], "entity_type": e["entity_type"],
             "entity_id": str(e["entity_id"]), "case_id": e.get("case_id"), "reason": e.get("reason", ""),
             "detail": e.get("detail") or {}} for e in events]
    insert_rows(session, AuditEvent.__table__, rows)
    return len(rows)
