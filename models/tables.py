"""Every careflow table: importing this module registers them all on ``SQLModel.metadata`` (Alembic's target,
``migrations/env.py``, and the schema test). Code that uses a table imports its own module; the package itself
imports nothing, so that a flow-run process loads only the tables it uses.
"""
from models.agency import AgencyUnit
from models.audit import AuditEvent
from models.case import Case, CaseStatus, PathwayRun, PathwayStatus
from models.child import Child, Guardian
from models.notification import DeliveryStatus, Notification
from models.task import AgencyTask, Escalation, TaskState
from models.survey import (  # noqa: F401  (monitoring survey, migration 0003)
    SurveyImport, SurveyRecord, SurveyRound, SurveyRowError,
)
from models.key_care_files import CareContact, KeyCareDuty, KeyCareFile  # noqa: F401  (key care files, migration 0003)
from models.sweep import SweepRun  # noqa: F401  (the deadline sweeper's runs, migration 0006)
from models.user import ApiToken, UserInvite, UserRole, WebUser  # noqa: F401  (sign-in 0004, invites 0014)
from models.dashboard import DashboardFigure  # noqa: F401  (dashboard figures and their indexes, migration 0008)
from models.holidays import HolidayArrangement  # noqa: F401  (official holiday arrangements, migration 0011)
from models.child_facts import ChildFact  # noqa: F401  (facts the target-group rules need, migration 0012_elig)
from models.data_exchange import (  # noqa: F401  (departments' answers and proposals, migration 0022_data_exchange)
    DepartmentAnswer, ExchangeFile, ReferralProposal,
)
from models.city_list_version import CityListVersion  # noqa: F401  (city list versions, migration 0019_city_list)
from models.programmes import Programme, ProgrammeInvitation  # noqa: F401  (programmes of items 18-20, 0017)
from models.key_care_files import GuardianshipAssessment  # noqa: F401  (key care from any door, migration 0020)

__all__ = [
    "AgencyTask", "AgencyUnit", "Escalation", "AuditEvent", "Case", "CaseStatus", "Child", "DeliveryStatus",
    "Guardian", "Notification", "PathwayRun", "PathwayStatus", "TaskState",
]
