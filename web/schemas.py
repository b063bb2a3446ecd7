"""What comes in and what goes out: the shapes of forms and of the JSON API (``/api``).

Inputs are validated before anything touches the database: text is length-bounded and may not hold
control characters or lone surrogates (PostgreSQL refuses NUL; neither database stores a lone surrogate),
codes have patterns, dates a plausible range. Outputs never carry a full resident ID (masked, GB 11643) and
a task as an agency sees it (:class:`TaskOut`) carries no child's name or ID at all (DOMAIN.md §8).
"""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from models.areas import find_area, resolve_area
from models.eligibility import KeyCareCriterion
from models.user import UserRole


#: Control characters a single-line text may not hold: C0 (tab, newline and carriage return included), DEL, C1.
_CONTROL = frozenset(chr(c) for c in [*range(32), *range(127, 160)])
#: What multi-line text (a report, a reason, a note) may hold besides: tab and line breaks.
_LINE_BREAKS = frozenset("\t\n\r")


def control_character_problem(value: str, *, multiline: bool = True) -> str | None:
    """A Chinese message naming the first control character (or lone surrogate) of ``value``, or None.

    PostgreSQL refuses NUL in text and neither database stores a lone surrogate; the other control characters
    are refused so that what is stored is what a person sees. ``multiline`` allows tab, newline and carriage
    return.
    """
    for position, ch in enumerate(value, start=1):
        code = ord(ch)
        if (ch in _CONTROL and not (multiline and ch in _LINE_BREAKS)) or 0xD800 <= code <= 0xDFFF:
            kind = "代理字符" if 0xD800 <= code <= 0xDFFF else "控制字符"
            return f"第 {position} 个字符是{kind} U+{code:04X}，不能提交；请删除后重新提交"
    return None


def _printable(value: str) -> str:
    problem = control_character_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _one_line(value: str) -> str:
    problem = control_character_problem(value, multiline=False)
    if problem:
        raise ValueError(problem)
    return value


def Text(max_length: int, min_length: int = 0, *, multiline: bool = False):  # noqa: N802 - a type factory
    """A stripped string of ``min_length``..``max_length`` characters without control characters (with
    ``multiline``, tab and line breaks are allowed). The error names the character and its position; the
    field is named by the error's location."""
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
                     AfterValidator(_printable if multiline else _one_line)]


CASE_REFERENCE = r"^[A-Za-z0-9-]{1,40}$"
UNIT_CODE = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
AREA_CODE = r"^\d{6}(\d{3}(\d{3})?)?$"
FIELD_NAME = r"^[a-z][a-z0-9_]{0,47}$"
EARLIEST = dt.date(1990, 1, 1)
LATEST = dt.date(2100, 12, 31)
PlausibleDate = Annotated[dt.date, Field(ge=EARLIEST, le=LATEST)]
#: A number in an answer (an amount in yuan): JSON numbers are accepted as well as digits in text.
Number = Annotated[Decimal, Field(allow_inf_nan=False, ge=-1e12, le=1e12)]
#: Service-list items as a list (an onward referral): numbers, or the services' names.
ItemList = Annotated[list[Annotated[int, Field(ge=0, le=999)] | Text(60)], Field(max_length=40)]
FieldValue = bool | Number | Text(1000, multiline=True) | ItemList


def _any_area(value):
    """A jurisdiction typed by name (``莆田市``, ``城厢区``, ``城厢区龙桥街道``) or code, as its code
    (:func:`models.areas.resolve_area`); anything else is left for the pattern to refuse."""
    return (resolve_area(value) or value.strip()) if isinstance(value, str) and value.strip() else value


#: A jurisdiction (province, city, county, township or village): a code or a name.
Jurisdiction = Annotated[str, BeforeValidator(_any_area), Field(pattern=r"^(\d{6}(\d{3}(\d{3})?)?)?$")]
AreaCode = Annotated[str, BeforeValidator(_any_area), Field(pattern=AREA_CODE)]


def _area_code(value):
    """A township/village typed by name (``城厢区龙桥街道凤山社区``) or code, as its code (:func:`models.areas.find_area`);
    text naming no listed area is left as typed, for the pattern to refuse naming the field."""
    return (find_area(value) or value.strip()) if isinstance(value, str) else value


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------------------------- inputs


class GuardianIn(_In):
    full_name: Text(64, 1)
    relation: Text(32, 1) = Field(description="e.g. 父亲, 母亲, 祖母")
    phone: Text(32) = ""


class ChildCreate(_In):
    """A child to register (方案 一: the migrant-child test is run on these facts)."""

    resident_id: Text(32, 1) = Field(description="18-character resident ID (GB 11643)")
    full_name: Text(64, 1)
    sex: Literal["", "男", "女"] = ""
    hukou_county: Text(40, 1) = Field(description="household-registration county: GB/T 2260 code or name")
    residence_county: Text(40, 1) = Field(description="residence county: code or name")
    residence_area_code: Annotated[str, BeforeValidator(_area_code), Field(pattern=r"^(\d{9}|\d{12})?$")] = Field(
        "", description="township (9) or village/community (12 digit) code inside the residence county, or its "
                        "name (e.g. 城厢区龙桥街道凤山社区, policy/areas.yaml)")
    residence_address: Text(200, multiline=True) = ""
    arrival_date: PlausibleDate = Field(description="when the child came to live in the residence county")
    key_care_criteria: list[KeyCareCriterion] = Field(default_factory=list, max_length=6)
    guardians: list[GuardianIn] = Field(default_factory=list, max_length=4)


class ReportCreate(_In):
    """A report about a child (报告): recorded by opening a case whose summary it becomes."""

    summary: Text(400, 1, multiline=True) = Field(description="what was reported")
    reported_by: Text(60) = ""
    mandatory_report: bool = Field(False, description="made by a mandatory reporter (强制报告)")


class PathwayStart(_In):
    """Start a pathway (a key of ``careflow.deployments.PATHWAY_DEPLOYMENTS``) with its policy start parameters."""

    pathway: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    parameters: dict[Annotated[str, Field(pattern=FIELD_NAME)], FieldValue] = Field(default_factory=dict,
                                                                                   max_length=20)


class RejectIn(_In):
    reason: Text(1000, 1, multiline=True)
    rejection_kind: str = Field("", max_length=40, description="not_ours | wrong_area | need_more_information | "
                                                               "other ('' not given): careflow.reroute")
    reroute_unit: str = Field("", max_length=64, description="not_ours/wrong_area: the unit code the step belongs to")


class CompleteIn(_In):
    """The step's outcome: field name → value (``true``/``false`` or text: yes/no, 是/否 accepted)."""

    outcome: dict[Annotated[str, Field(pattern=FIELD_NAME)], FieldValue] = Field(default_factory=dict, max_length=20)


#: A work phone: digits, spaces, +, - and parentheses (e.g. ``0594-2288123`` or ``138 0000 0000``).
PHONE = r"^[0-9+()\- ]*$"


class UserCreate(_In):
    username: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,62}[a-z0-9]$")]
    display_name: Text(64) = ""
    phone: Annotated[str, Field(max_length=32, pattern=PHONE)] = ""
    role: UserRole
    jurisdiction_code: Jurisdiction = ""
    unit_code: Annotated[str, Field(pattern=r"^([a-z0-9][a-z0-9_.-]{0,63})?$")] | None = None
    password: Annotated[str, Field(min_length=10, max_length=200), AfterValidator(_printable)]


class UserUpdate(_In):
    display_name: Text(64) | None = None
    phone: Annotated[str, Field(max_length=32, pattern=PHONE)] | None = None
    role: UserRole | None = None
    jurisdiction_code: Jurisdiction | None = None
    unit_code: Annotated[str, Field(pattern=r"^([a-z0-9][a-z0-9_.-]{0,63})?$")] | None = None
    active: bool | None = None
    password: Annotated[str, Field(min_length=10, max_length=200), AfterValidator(_printable)] | None = None


class TokenCreate(_In):
    name: Text(64) = Field("", description="what the token is for")


class UnitCreate(_In):
    code: Annotated[str, Field(pattern=UNIT_CODE)]
    agency_type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    jurisdiction_code: AreaCode
    name: Text(120, 1)
    active: bool = True
    answers_by_command: bool = False


class UnitUpdate(_In):
    agency_type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")] | None = None
    jurisdiction_code: AreaCode | None = None
    name: Text(120, 1) | None = None
    active: bool | None = None
    answers_by_command: bool | None = None


# --------------------------------------------------------------------------------------------- outputs


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
    outcome: str
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
    ``["none"]``: no onward referral); ``area`` a township or village by name or code. ``option_labels`` are the options as people read them (same order)."""

    name: str
    type: Literal["bool", "text", "choice", "amount", "service_item", "service_items", "area"]
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
    answered_at: dt.datetime | None
    answered_by: str
    unit_name: str = Field("", description="the unit's name (on one task's detail and in managers' lists)")
    answered_by_name: str = Field("", description="the answering person's name (one task's detail; '' unknown)")
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
    outcome: str
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
