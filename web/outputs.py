"""What goes out: the shapes of the JSON API's answers (``/api``), which the pages render too.

Outputs never carry a full resident ID (masked, GB 11643) and a task as an agency sees it (:class:`TaskOut`)
carries no child's name or ID at all (DOMAIN.md §8). Times are UTC (ISO 8601); ``due_local`` is the deadline in
Asia/Shanghai. Labels (``*_label``, ``title``) are in the caller's language. What comes in is :mod:`web.inputs`.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, Field

from models.user import UserRole


class MeOut(BaseModel):
    username: str
    display_name: str
    role: UserRole
    jurisdiction_code: str
    unit_code: str | None
    auth: Literal["session", "token"]


class ReasonOut(BaseModel):
    code: str
    passed: bool
    text_zh: str
    text_en: str


class AssessmentOut(BaseModel):
    """The migrant-child test (方案 一) as of ``on``: every reason, passed or not."""

    on: dt.date
    is_migrant: bool
    reasons: list[ReasonOut]
    turns_16_on: dt.date
    six_months_on: dt.date


class ChildSummary(BaseModel):
    """A child in a list: the ID number masked (e.g. ``511321********123X``)."""

    id: uuid.UUID
    full_name: str
    resident_id_masked: str
    sex: str
    residence_county_code: str
    residence_area_code: str
    key_care_criteria: list[str]
    created_at: dt.datetime


class GuardianOut(BaseModel):
    full_name: str
    relation: str
    phone: str


class CaseSummary(BaseModel):
    reference: str
    status: str
    county_code: str
    caseworker: str
    caseworker_name: str = Field("", description="the caseworker's display name ('' when not looked up)")
    summary: str
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    close_reason: str


class ChildDetail(ChildSummary):
    birth_date: dt.date
    hukou_county_code: str
    residence_address: str
    arrival_date: dt.date
    guardians: list[GuardianOut]
    assessment: AssessmentOut
    cases: list[CaseSummary]


class RegistrationOut(BaseModel):
    child: ChildDetail


class PathwayRunOut(BaseModel):
    id: uuid.UUID
    pathway: str
    title: str
    status: str
    status_label: str = Field("", description="the status as people read it (办理中 …), in the caller's language")
    started_at: dt.datetime
    ended_at: dt.datetime | None
    outcome: str = Field(description="how the pathway ended, in the caller's language (as recorded, in Chinese, "
                                     "for older runs and for what a person typed)")
    flow_run_id: uuid.UUID | None
    flow_run_url: str | None = Field(description="the run in the Prefect UI")


class TimelineRowOut(BaseModel):
    pathway: str
    step_key: str
    title: str
    attempt: int
    unit_code: str
    unit_name: str
    requested_at: dt.datetime
    due_at: dt.datetime
    due_provisional: bool
    deadline_text: str
    state: str
    state_label: str = Field("", description="the state as people read it (待签收 …), in the caller's language")
    answered_at: dt.datetime | None
    answered_by: str
    answered_by_name: str = Field("", description="who answered, by display name")
    outcome: dict
    outcome_labels: dict[str, str] = Field(default_factory=dict, description="field name → label of the step's outcome")
    rejection_reason: str
    rejection_kind: str = Field("", description="why the unit rejected it: not_ours, wrong_area, need_more_information, "
                                                "other ('' when not given or not rejected)")
    rejection_kind_label: str = Field("", description="that kind as people read it (需补充信息 …), in the caller's "
                                                      "language ('' when none)")
    on_time: bool | None
    task_id: uuid.UUID | None = None
    late: str = Field(default="", description="how late an open task is, e.g. 已逾期 2 个工作日 (issue 12)")
    escalated: str = Field(default="", description="whom an open task was escalated to, e.g. 已升级至县级民政部门（逾期督办）")


class CaseDetail(CaseSummary):
    child_id: uuid.UUID
    child_name: str = ""  # read by caseworkers and managers of the child's area (who may see the child's record)
    pathways: list[PathwayRunOut]
    timeline: list[TimelineRowOut]


class OutcomeFieldOut(BaseModel):
    """A field of an answer or of a pathway's start: ``amount`` is yuan in digits (a JSON number or text);
    ``service_item`` one item number of the service list; ``service_items`` a list of item numbers (or
    ``["none"]``: no onward referral); ``area`` a township or village by name or code; ``date`` a day written
    ``2026-04-01`` (not after today). ``option_labels`` are the options as people read them (same order)."""

    name: str
    type: Literal["bool", "text", "choice", "amount", "service_item", "service_items", "area", "date"]
    label: str
    required: bool
    options: list[str]
    option_labels: list[str] = Field(default_factory=list)


class PathwayInfo(BaseModel):
    key: str
    title: str
    source: str
    available: bool = Field(description="a flow serves it (careflow.deployments.PATHWAY_DEPLOYMENTS)")
    start_parameters: list[OutcomeFieldOut]


class StartOut(BaseModel):
    run: PathwayRunOut
    started: bool = Field(description="false: recorded, and the sweeper will start its flow run")


class FactRowOut(BaseModel):
    """One labelled fact, in the reader's language (no raw codes): e.g. ``儿童姓名`` / ``林小明``."""

    key: str = Field(description="child_name, sex, age, address, hukou, key_care, report, or a field name")
    label: str
    value: str


class AnswerFactOut(BaseModel):
    """An earlier step's answer shown to the acting unit (the step's ``shows_answers``)."""

    step_key: str
    step_title: str
    unit_name: str
    answered_at: dt.datetime | None
    items: list[FactRowOut]


class CaseworkerOut(BaseModel):
    name: str
    phone: str


class TaskFactsOut(BaseModel):
    """What the unit the task is routed to needs to act (the step's ``shows`` in policy/pathways/*.yaml),
    plus the caseworker to call. Only on one task's detail, only for its unit, the managers of the child's area
    and the case's caseworker; each read is audited ``task.child_facts_viewed``."""

    items: list[FactRowOut]
    guardians: list[GuardianOut]
    shows_guardians: bool
    answers: list[AnswerFactOut]
    caseworker: CaseworkerOut


class TaskOut(BaseModel):
    """A task as its agency sees it: what the step needs. ``facts`` (the child and the case, need to know) only
    on one task's detail for those who may see them, never in lists or messages."""

    id: uuid.UUID
    short_ref: str
    case_reference: str
    pathway: str
    step_key: str
    step_title: str
    attempt: int
    state: str
    state_label: str = Field("", description="the state as people read it (待签收 …), in the caller's language")
    unit_code: str
    requested_at: dt.datetime
    ack_due_at: dt.datetime | None
    due_at: dt.datetime
    due_local: str = Field(description="deadline in Asia/Shanghai, YYYY-MM-DD HH:MM")
    due_provisional: bool
    deadline_text: str
    deadline_for: str = Field(description="completion, or start: the action must start within the deadline")
    overdue: bool
    ack_overdue: bool
    instructions: str
    note: str
    outcome_fields: list[OutcomeFieldOut]
    outcome: dict
    outcome_labels: dict[str, str] = Field(default_factory=dict, description="field name → label")
    rejection_reason: str
    rejection_kind: str = Field("", description="why the unit rejected it: not_ours, wrong_area, need_more_information, "
                                                "other ('' when not given or not rejected)")
    rejection_kind_label: str = Field("", description="that kind as people read it (需补充信息 …), in the caller's "
                                                      "language ('' when none)")
    answered_at: dt.datetime | None
    answered_by: str
    unit_name: str = Field("", description="the unit's name (on one task's detail and in managers' lists)")
    answered_by_name: str = Field("", description="the answering person's name (one task's detail; '' unknown)")
    follower_unit_code: str | None = Field(None, description="the residence county's unit following a task "
                                                             "handled at the child's registration place (户籍地)")
    follower_name: str = Field("", description="that unit's name ('' when none)")
    facts: TaskFactsOut | None = None


class AnswerOut(BaseModel):
    task: TaskOut
    resume: str = Field(description="resumed | not_needed | pending (the sweeper resumes it) | '' (not a final answer)")


class GroupOut(BaseModel):
    key: str
    name: str
    open: int
    overdue: int
    escalated: int = Field(default=0, description="open tasks with at least one escalation rung fired")
    median_ack_hours: float | None
    median_complete_hours: float | None
    completed: int
    completed_on_time: int
    due: int = Field(description="completed tasks plus open tasks past their deadline")
    on_time_share: float | None = Field(description="completed_on_time / due")


class EscalationOut(BaseModel):
    task_short_ref: str
    case_reference: str
    unit_code: str
    unit_name: str = Field("", description="the unit's name from the agency directory")
    step_title: str
    rung: str
    level: int
    fired_at: dt.datetime


class PathwayRowOut(BaseModel):
    case_reference: str
    case_status: str
    county_code: str
    pathway: str
    title: str
    status: str
    current_steps: list[str]
    started_at: dt.datetime
    ended_at: dt.datetime | None
    outcome: str = Field(description="how the pathway ended, in the caller's language")
    flow_run_url: str | None


class DashboardOut(BaseModel):
    jurisdiction: str
    as_of: dt.datetime = Field(description="when the figures were computed (UTC)")
    window_days: int = Field(default=90, description="response times and on-time share cover tasks answered "
                                                     "(acknowledged) in this many days before as_of")
    totals: GroupOut
    by_county: list[GroupOut]
    by_unit: list[GroupOut] = Field(description="one page of the units (units_page, units_page_size, units_sort)")
    units_total: int = 0
    units_page: int = 1
    units_page_size: int = 50
    units_sort: str = "code"
    escalations_complete: bool = Field(default=True, description="false: the latest scan_limit escalations of the "
                                                                 "province held fewer than asked inside this area")
    pathways_complete: bool = Field(default=True, description="the same for the pathways")
    scan_limit: int = 0
    escalations: list[EscalationOut]
    pathways: list[PathwayRowOut]


class UserOut(BaseModel):
    id: uuid.UUID
    username: str
    display_name: str
    role: UserRole
    jurisdiction_code: str
    unit_code: str | None
    active: bool
    created_at: dt.datetime
    last_login_at: dt.datetime | None


class UnitOut(BaseModel):
    code: str
    agency_type: str
    jurisdiction_code: str
    name: str
    active: bool
    answers_by_command: bool = False
