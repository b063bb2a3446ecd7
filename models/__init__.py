"""The system of record (SQLModel tables) and the pure rules that need no database.

Importing this package registers every table on ``SQLModel.metadata`` for Alembic.
"""
from models.agency import AgencyUnit
from models.audit import AuditEvent
from models.case import Case, CaseStatus, PathwayRun, PathwayStatus
from models.child import Child, Guardian
from models.notification import DeliveryStatus, Notification
from models.task import AgencyTask, Escalation, TaskState

__all__ = [
    "AgencyTask", "AgencyUnit", "Escalation", "AuditEvent", "Case", "CaseStatus", "Child", "DeliveryStatus",
    "Guardian", "Notification", "PathwayRun", "PathwayStatus", "TaskState",
]
