"""Agency tasks (任务) and their closed-loop states (DOMAIN.md §5).

requested → acknowledged → in_progress → completed (with a structured outcome);
or rejected (a reason is required), cancelled, expired. Every transition is recorded
as an :class:`models.audit.AuditEvent` by :func:`careflow.tasks.transition_task`.
"""
from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import StrEnumColumn, UTCDateTime, new_id, utcnow
from models.errors import Labels, wording


class TaskState(enum.StrEnum):
    requested = "requested"
    acknowledged = "acknowledged"
    in_progress = "in_progress"
    completed = "completed"
    rejected = "rejected"
    cancelled = "cancelled"
    expired = "expired"
    redirected = "redirected"  # a manager sent the open task to another unit (已转办); the new task carries on

    @property
    def is_open(self) -> bool:
        return self in OPEN_STATES

    @property
    def is_answer(self) -> bool:
        """A final answer the pathway waits for: completed or rejected."""
        return self in (TaskState.completed, TaskState.rejected)


OPEN_STATES = frozenset({TaskState.requested, TaskState.acknowledged, TaskState.in_progress})
#: The open states' values in a fixed order: the SQL of ``state IN (...)`` and of the partial indexes on open tasks.
OPEN_STATE_VALUES = ("requested", "acknowledged", "in_progress")
OPEN_STATES_SQL = "state IN ('requested', 'acknowledged', 'in_progress')"
#: Closed tasks: the predicate of ``ix_agency_task_state`` on PostgreSQL (migration 0025).
CLOSED_STATES_SQL = "state NOT IN ('requested', 'acknowledged', 'in_progress')"
#: A case's tasks / a pathway step's tasks: the predicates of ``ix_agency_task_case_id`` and ``uq_task_step_attempt``
#: (migration 0025): the survey's duties and assessments, which have neither, cost these indexes nothing.
CASE_TASK_SQL = "case_id IS NOT NULL"
STEP_TASK_SQL = "pathway_run_id IS NOT NULL"
#: Open tasks whose deadline is provisional: the predicate of ``ix_agency_task_provisional_open`` (migration 0011).
PROVISIONAL_OPEN_SQL = f"due_provisional AND {OPEN_STATES_SQL}"

#: Allowed transitions. Completing a task that was never acknowledged acknowledges it implicitly.
TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    TaskState.requested: frozenset(
        {TaskState.acknowledged, TaskState.in_progress, TaskState.completed, TaskState.rejected,
         TaskState.cancelled, TaskState.expired, TaskState.redirected}
    ),
    TaskState.acknowledged: frozenset(
        {TaskState.in_progress, TaskState.completed, TaskState.rejected, TaskState.cancelled, TaskState.expired,
         TaskState.redirected}
    ),
    TaskState.in_progress: frozenset(
        {TaskState.completed, TaskState.rejected, TaskState.cancelled, TaskState.expired, TaskState.redirected}
    ),
}


class RejectionKind(enum.StrEnum):
    """Why a unit rejected a task (退回原因类别; issue 12 item 5): what decides where the next attempt goes
    (:mod:`careflow.reroute`)."""

    not_ours = "not_ours"  # 非本单位职责
    wrong_area = "wrong_area"  # 不属本辖区
    need_more_information = "need_more_information"  # 需补充信息
    other = "other"  # 其他


class InvalidTransition(ValueError):
    """A task cannot move from its state to the requested one: :meth:`text` names both and the states it may
    move to in the reader's language (``problem.invalid_transition``, the states by their labels: 任务状态「已办结」
    不能改为「待签收」); ``str()`` is the English line for logs."""

    def __init__(self, message: str = "", *, current: "TaskState | None" = None, target: "TaskState | None" = None):
        self.current, self.target = current, target
        super().__init__(message or self.text("en"))

    def text(self, lang: str) -> str:
        """The refusal in ``lang``, worded from the catalogues (lent by core.i18n)."""
        word = wording("message")
        if word is None or self.current is None or self.target is None:
            return self.args[0] if self.args else ""
        allowed = sorted(s.value for s in TRANSITIONS.get(self.current, ()))
        return word("problem.invalid_transition" if allowed else "problem.invalid_transition_closed", lang,
                    current=Labels([self.current.value], "state").text(lang),
                    target=Labels([self.target.value], "state").text(lang),
                    allowed=Labels(allowed, "state").text(lang))


def check_transition(current: TaskState, target: TaskState) -> None:
    """Raise :class:`InvalidTransition` unless ``current → target`` is allowed."""
    if target not in TRANSITIONS.get(current, frozenset()):
        raise InvalidTransition(current=current, target=target)


class AgencyTask(SQLModel, table=True):
    """One step of a pathway, assigned to one agency unit, with a deadline.

    Times are UTC-aware (shown in Asia/Shanghai). ``due_provisional`` is true when the deadline was
    counted on weekdays because the year's official holiday arrangement is not loaded.
    ``ack_due_at`` is set for steps that must be acknowledged quickly (the police report: 2 h by default).
    Unique per (pathway run, step, agency type, attempt): a resumed or retried flow run finds the
    task it already created instead of creating another. A dated duty that belongs to no case (the
    two-yearly republication of a city's service list, its 10-day filing) has no case and no pathway
    run, and is unique by ``duty_key`` instead.
    """

    __tablename__ = "agency_task"
    __table_args__ = (
        # a pathway step's task, once per attempt; dated duties (no pathway run: every survey duty) are not in it
        # (a NULL never conflicts); migration 0025
        sa.Index("uq_task_step_attempt", "pathway_run_id", "step_key", "agency_type", "attempt", unique=True,
                 postgresql_where=sa.text(STEP_TASK_SQL), sqlite_where=sa.text(STEP_TASK_SQL)),
        sa.UniqueConstraint("duty_key", name="uq_agency_task_duty_key"),
        # a case's tasks (timeline, closing, case list marks); duties without a case are not in it; migration 0025
        sa.Index("ix_agency_task_case_id", "case_id",
                 postgresql_where=sa.text(CASE_TASK_SQL), sqlite_where=sa.text(CASE_TASK_SQL)),
        # tasks in one closed state (a manager's list of rejected or cancelled tasks); open tasks are read through
        # the partial indexes below. PostgreSQL only: SQLite cannot tell that ``state = 'rejected'`` implies the
        # predicate, so there the index keeps every task; migration 0025
        sa.Index("ix_agency_task_state", "state", postgresql_where=sa.text(CLOSED_STATES_SQL)),
        # the officer inbox: a unit's open tasks by deadline (keyset on due_at, id); migration 0007
        sa.Index("ix_agency_task_open_unit_due", "unit_code", "due_at", "id",
                 postgresql_where=sa.text(OPEN_STATES_SQL), sqlite_where=sa.text(OPEN_STATES_SQL)),
        # a unit's tasks newest first (answered tasks, the "requested" order); migration 0007
        sa.Index("ix_agency_task_unit_requested", "unit_code", "requested_at", "id"),
        # a manager's task lists and the overdue filter: open tasks by deadline (closed ones, most of the table,
        # are not in it); migration 0011
        sa.Index("ix_agency_task_open_due", "due_at", "id",
                 postgresql_where=sa.text(OPEN_STATES_SQL), sqlite_where=sa.text(OPEN_STATES_SQL)),
        # a manager's open dated duties (no case) by the beginning of their jurisdiction code; migration 0011
        sa.Index("ix_agency_task_open_duty_area", "jurisdiction_code",
                 postgresql_ops={"jurisdiction_code": "varchar_pattern_ops"},
                 postgresql_where=sa.text(f"case_id IS NULL AND {OPEN_STATES_SQL}"),
                 sqlite_where=sa.text(f"case_id IS NULL AND {OPEN_STATES_SQL}")),
        # The sweeper's due-selection (careflow.escalation): open tasks by the time of their next rung, as
        # an index range scan; closed tasks (most of the table) are not in it.
        sa.Index("ix_agency_task_next_rung_open", "next_rung_at", "id",
                 postgresql_where=sa.text(OPEN_STATES_SQL), sqlite_where=sa.text(OPEN_STATES_SQL)),
        # a unit's 跟进 list: the tasks it follows at the child's registration place, by deadline; migration
        # 0021_registration_place (careflow.registration_place)
        sa.Index("ix_agency_task_follower_due", "follower_unit_code", "due_at", "id",
                 postgresql_where=sa.text("follower_unit_code IS NOT NULL"),
                 sqlite_where=sa.text("follower_unit_code IS NOT NULL")),
        # open tasks with a provisional deadline, by due date: what loading a year's holiday arrangement
        # recomputes (careflow.holidays); migration 0011
        sa.Index("ix_agency_task_provisional_open", "due_at", "id",
                 postgresql_where=sa.text(PROVISIONAL_OPEN_SQL), sqlite_where=sa.text(PROVISIONAL_OPEN_SQL)),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    # indexed by ix_agency_task_case_id (partial: tasks of a case)
    case_id: uuid.UUID | None = Field(default=None, foreign_key="case.id")
    # no index of its own: uq_task_step_attempt starts with it (an extra index only slows the sweep's writes); the
    # rows it leaves out have no pathway run
    pathway_run_id: uuid.UUID | None = Field(default=None, foreign_key="pathway_run.id")
    duty_key: str | None = Field(
        default=None, sa_column=sa.Column(sa.String(120)),
        description="set for a dated duty outside any case (e.g. a city list's 10-day filing); unique",
    )
    step_key: str = Field(max_length=48)
    attempt: int = 1
    agency_type: str = Field(max_length=40)
    # no index of its own: ix_agency_task_unit_requested (and, open tasks, ix_agency_task_open_unit_due) start with it
    unit_code: str = Field(foreign_key="agency_unit.code", max_length=64)
    jurisdiction_code: str = Field(max_length=12)
    title: str = Field(max_length=120)
    state: TaskState = Field(default=TaskState.requested, sa_column=sa.Column(StrEnumColumn(TaskState), nullable=False))
    requested_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    ack_due_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    due_at: datetime = Field(sa_column=sa.Column(UTCDateTime, nullable=False, index=True))
    due_provisional: bool = False
    deadline_text: str = Field(max_length=40, description="the rule, e.g. '3 working days'")
    escalation_level: int = 0
    acknowledged_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    answered_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    answered_by: str = Field(default="", max_length=64)
    outcome: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    rejection_reason: str = Field(default="", max_length=1000)
    # Redirect instead of re-issue (careflow.reroute, migration 0012_reroute): why a rejection, where the next
    # attempt goes (named by the rejecting officer or chosen by the caseworker/manager), the information added.
    rejection_kind: str = Field(default="", max_length=24, description="a RejectionKind value, '' if not given")
    reroute_unit_code: str | None = Field(default=None, max_length=64,
                                          description="the unit the next attempt goes to, if named or chosen")
    reroute_note: str = Field(default="", max_length=1000, description="the caseworker's added information")
    rerouted_by: str = Field(default="", max_length=64)
    rerouted_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime),
                                         description="when where the next attempt goes was settled")
    redirected_to_id: uuid.UUID | None = Field(default=None, description="the task a manager's redirect opened")
    follower_unit_code: str | None = Field(
        default=None, max_length=64,
        description="the residence county's unit that follows a task handled at the child's registration place "
                    "(户籍地, careflow.registration_place); NULL otherwise")
    next_rung_at: datetime | None = Field(
        default=None, sa_column=sa.Column(UTCDateTime),
        description="UTC; never later than the next unfired rung of the escalation ladder (earlier only costs "
                    "the sweeper a recomputation); NULL: not computed yet (careflow.ladder.next_rung_time)",
    )

    @property
    def short_ref(self) -> str:
        """The first 8 hex characters of the id: what officers type on the command line."""
        return self.id.hex[:8]


class Escalation(SQLModel, table=True):
    """One rung of the escalation ladder fired for one task (DOMAIN.md §6), recorded exactly once.

    ``rung`` is ``reminder`` (assignee, before the deadline), ``ack_overdue`` (supervisor, the
    acknowledgement time passed), ``deadline`` (supervisor and caseworker, at the deadline) or
    ``overdue`` (county manager, past the deadline by the set time). The unique (task, rung) pair is
    what makes two overlapping sweeps fire a rung once.
    """

    __tablename__ = "escalation"
    __table_args__ = (sa.UniqueConstraint("task_id", "rung", name="uq_escalation_task_rung"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    task_id: uuid.UUID = Field(foreign_key="agency_task.id")  # indexed by uq_escalation_task_rung (task_id, rung)
    rung: str = Field(max_length=24)
    level: int
    fired_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    recipients: list = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
