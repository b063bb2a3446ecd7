"""The monitoring survey (监测摸排), key care files (一人一档) and their contact log: tables and pure rules.

Policy: 福建省加强流动儿童关爱保护行动实施方案 (闽民童〔2025〕5号), section 一:

* 一（一）: counties (县（市、区）) survey their migrant children; from 2025 the data is refreshed every April and
  October. A :class:`SurveyRound` is one county's April or October round (label ``"2026-10"``); every import
  (:class:`SurveyImport`) belongs to one round, and each child found in it gets one :class:`SurveyRecord`.
* 一（二）: a key care target (重点关爱服务对象) gets a file at the township of residence (:class:`KeyCareFile`,
  一人一档); the child director (儿童主任) contacts them at least monthly and visits the home at least every three
  months (:class:`CareContact` is the log; the duties themselves are :class:`models.task.AgencyTask` rows with a
  ``duty_key``, see :mod:`careflow.survey.duties`).
* 一（三）: departments share data back (school enrolment, medical insurance, rehabilitation…), stored on the file
  (:attr:`KeyCareFile.department_data`, see :mod:`careflow.survey.sharing`).

The pure rule here, :func:`classify`, is :func:`models.eligibility.assess_migrant_child` without the explanatory
texts: the same tests in the same order giving the same reason codes, cheap enough for a million-row survey
(tests check the two agree). Dates are calendar dates in Asia/Shanghai.
"""
from __future__ import annotations

import calendar
import datetime
import enum
import re
import uuid
from functools import lru_cache
from typing import NamedTuple

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow
from models.eligibility import KeyCareCriterion, add_months, aged_16_from
from models.regions import Region

__all__ = [
    "CareContact", "Classification", "ContactKind", "FileStatus", "ImportStatus", "KeyCareDuty", "KeyCareFile",
    "RoundLabel",
    "SurveyImport", "SurveyRecord", "SurveyRound", "SurveyRowError", "classify", "file_reference",
    "is_contact_duty_key", "parse_file_reference", "round_as_of",
]

#: First year of the April/October rhythm (一（一）: 2025 年起，于每年 4 月和 10 月更新).
FIRST_ROUND_YEAR = 2025
#: Months of a round.
ROUND_MONTHS = (4, 10)


# ---------------------------------------------------------------------------------------------------------------------
# Rounds
# ---------------------------------------------------------------------------------------------------------------------

class RoundLabel(NamedTuple):
    """A survey round's label: ``year`` and ``month`` (4 or 10); ``str()`` gives ``"2026-10"``."""

    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @classmethod
    def parse(cls, text: str) -> "RoundLabel":
        """Parse ``"2026-10"`` (also ``2026-4``, ``2026/10``, ``202610``, ``2026年10月``).

        Raises:
            ValueError: naming the value — not a year and month, a month other than April or October, or a year
                before 2025 (the policy's rounds start in 2025).
        """
        raw = str(text).strip()
        match = re.fullmatch(r"(\d{4})\s*(?:[-/.年]\s*)?(\d{1,2})\s*月?", raw)
        if not match:
            raise ValueError(f"field 'round': {text!r} is not a round label such as 2026-10")
        year, month = int(match.group(1)), int(match.group(2))
        if month not in ROUND_MONTHS:
            raise ValueError(f"field 'round': {text!r}: survey rounds are in April and October (方案 一（一）)")
        if year < FIRST_ROUND_YEAR:
            raise ValueError(f"field 'round': {text!r}: survey rounds start in {FIRST_ROUND_YEAR} (方案 一（一）)")
        return cls(year, month)

    @property
    def as_of(self) -> datetime.date:
        """The date the round describes: the last day of its month (see :func:`round_as_of`)."""
        return round_as_of(self)

    def next(self) -> "RoundLabel":
        """The following round (April → October of the same year → April of the next)."""
        return RoundLabel(self.year, 10) if self.month == 4 else RoundLabel(self.year + 1, 4)

    @classmethod
    def following(cls, day: datetime.date) -> "RoundLabel":
        """The first round whose month has not ended on ``day`` (the round in progress or the next one)."""
        for year in (day.year, day.year + 1):
            for month in ROUND_MONTHS:
                label = cls(max(year, FIRST_ROUND_YEAR), month)
                if label.as_of >= day:
                    return label
        raise AssertionError("unreachable")  # pragma: no cover


def round_as_of(label: RoundLabel) -> datetime.date:
    """The assessment date of a round: the last day of its month (e.g. 2026-10 → 2026-10-31).

    *Default*: no text fixes the day a round describes; the end of the round month is used so that a re-import
    of the same file classifies every child the same way whenever it runs. It is also the default deadline
    by which a county finishes the round (``SurveyRound.deadline``).
    """
    return datetime.date(label.year, label.month, calendar.monthrange(label.year, label.month)[1])


class SurveyRound(SQLModel, table=True):
    """One county's survey round (监测摸排轮次), April or October of a year from 2025 (方案 一（一）).

    ``as_of`` is the date every child of the round is assessed on (:func:`round_as_of`); ``deadline`` is the
    date by which the county completes the round (*default*: the same day).
    """

    __tablename__ = "survey_round"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", name="pk_survey_round"),
        sa.UniqueConstraint("county_code", "label", name="uq_survey_round_county_label"),
    )

    id: int | None = Field(default=None, primary_key=True)
    county_code: str = Field(max_length=6, description="GB/T 2260 county code")
    label: str = Field(max_length=7, description="e.g. 2026-10")
    as_of: datetime.date
    deadline: datetime.date
    created_at: datetime.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class ImportStatus(enum.StrEnum):
    running = "running"
    completed = "completed"
    failed = "failed"


class SurveyImport(SQLModel, table=True):
    """One import of one survey file into a round, with the fate of its rows.

    Counts: ``rows_read`` data rows (blank rows not counted, they are in ``rows_blank``), of which
    ``rows_invalid`` were rejected (see :class:`SurveyRowError`), ``rows_duplicate`` repeated an earlier line's
    ID number with the same data, and the rest were ``rows_inserted`` (a child new to careflow),
    ``rows_updated`` (a known child whose data changed) or ``rows_unchanged``. ``detail`` holds the column
    mapping, ignored columns, notes (e.g. recovered X) and what happened to files, duties and moves.
    """

    __tablename__ = "survey_import"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", name="pk_survey_import"),
        sa.Index("ix_survey_import_round_id", "round_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("survey_round.id", name="fk_survey_import_round_id"), nullable=False))
    file_name: str = Field(max_length=255)
    file_sha256: str = Field(max_length=64)
    file_format: str = Field(max_length=8, description="csv or xlsx")
    actor: str = Field(max_length=64)
    status: str = Field(default=ImportStatus.running.value, max_length=16)
    started_at: datetime.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    finished_at: datetime.datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    rows_read: int = 0
    rows_blank: int = 0
    rows_invalid: int = 0
    rows_duplicate: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    detail: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))


class SurveyRowError(SQLModel, table=True):
    """A rejected row of an import: its line (as the county's spreadsheet numbers it), field and value.

    ``field`` is careflow's name (``resident_id``, ``arrival_date``…), ``column`` the header as written in the
    file, ``code`` a machine-readable reason and ``message`` the explanation (Chinese).
    """

    __tablename__ = "survey_row_error"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", name="pk_survey_row_error"),
        sa.Index("ix_survey_row_error_import_id_line", "import_id", "line"),
    )

    id: int | None = Field(default=None, primary_key=True)
    import_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("survey_import.id", name="fk_survey_row_error_import_id"), nullable=False))
    line: int
    field: str = Field(max_length=32)
    column: str = Field(default="", max_length=64)
    value: str = Field(default="", max_length=200)
    code: str = Field(max_length=32)
    message: str = Field(max_length=300)


class SurveyRecord(SQLModel, table=True):
    """A child as found by one round of a county: what the county reported and how careflow classified it.

    One row per (round, child) — and so per (round, ID number), ``child.resident_id`` being unique; look a record up
    by ID number through the child. Keyed by child, not by ID number: the ids of the children an import creates grow
    with the line, so a county's first survey appends to the key's index where ID numbers, in no order, wrote all over
    it (measured: 1.5 s instead of 4.3 s for a million records). ``key_care_criteria`` is the comma-joined sorted criterion codes
    (:class:`models.eligibility.KeyCareCriterion`); ``not_migrant_reasons`` the comma-joined failed reason codes of
    the migrant-child test (empty for a migrant child); ``row_hash`` a digest of the normalised row, which is how a
    re-import recognises an unchanged row.

    ``round_id``, ``child_id`` and ``import_id`` name a :class:`SurveyRound`, a :class:`models.child.Child` and a
    :class:`SurveyImport` but carry no foreign-key constraint: this is the one table a survey writes a row to for
    every child (a million in a large round), PostgreSQL checks a foreign key row by row (measured: 7 times the
    cost of the insert), and only the import writes it, in the transaction that creates the child, the round and
    the import first. Rounds, imports and children are never deleted.
    """

    __tablename__ = "survey_record"
    __table_args__ = (sa.PrimaryKeyConstraint("round_id", "child_id", name="pk_survey_record"),)

    round_id: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    resident_id: str = Field(sa_column=sa.Column(sa.String(18), nullable=False))
    child_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    import_id: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    line: int
    full_name: str = Field(max_length=64)
    sex: str = Field(default="", max_length=8)
    birth_date: datetime.date
    hukou_county_code: str = Field(max_length=6)
    residence_county_code: str = Field(max_length=6)
    residence_area_code: str = Field(default="", max_length=12)
    residence_address: str = Field(default="", max_length=200)
    arrival_date: datetime.date
    key_care_criteria: str = Field(default="", max_length=200)
    guardian_name: str = Field(default="", max_length=64)
    guardian_relation: str = Field(default="", max_length=32)
    guardian_phone: str = Field(default="", max_length=32)
    is_migrant: bool
    not_migrant_reasons: str = Field(default="", max_length=100)
    is_key_care: bool
    moved_from_county: str = Field(
        default="", max_length=6,
        description="the county careflow had the child in when this round found them elsewhere (a move in)")
    row_hash: str = Field(max_length=16)


class FileStatus(enum.StrEnum):
    active = "active"
    closed = "closed"


class KeyCareFile(SQLModel, table=True):
    """The file (一人一档) of a key care target (重点关爱服务对象), kept at the township of residence (方案 一（二）).

    One per child (a child who stops being a key care target has the file closed with the reason; becoming one
    again reopens it). :func:`file_reference` (``KF-0000123``) is what messages and lists show instead of the
    child's name. ``department_data`` holds the departments' answers (方案 一（三）), keyed by department::

        {"education": {"school": "城厢区第一实验小学", "stage": "小学", "status": "在读",
                       "received_at": "2026-11-02T09:00:00+00:00", "source": "education-answers.xlsx", "line": 3}}
    """

    __tablename__ = "key_care_file"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", name="pk_key_care_file"),
        sa.UniqueConstraint("child_id", name="uq_key_care_file_child_id"),
        sa.Index("ix_key_care_file_county_code_status", "county_code", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    child_id: uuid.UUID = Field(sa_column=sa.Column(
        sa.Uuid, sa.ForeignKey("child.id", name="fk_key_care_file_child_id"), nullable=False))
    county_code: str = Field(max_length=6)
    area_code: str = Field(default="", max_length=12, description="township or village/community of residence")
    criteria: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    status: str = Field(default=FileStatus.active.value, max_length=16)
    opened_on: datetime.date
    opened_round_id: int | None = Field(default=None, sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("survey_round.id", name="fk_key_care_file_opened_round_id"), nullable=True))
    closed_on: datetime.date | None = None
    close_reason: str = Field(default="", max_length=300)
    last_contact_on: datetime.date | None = None
    last_visit_on: datetime.date | None = None
    department_data: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    updated_at: datetime.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))

    @property
    def reference(self) -> str:
        """``KF-0000123``: the file's reference, carrying no personal data."""
        return file_reference(self.id)


def file_reference(file_id: int | None) -> str:
    """``KF-`` and the file id on 7 digits (``file_reference(123)`` → ``"KF-0000123"``)."""
    return f"KF-{int(file_id or 0):07d}"


def parse_file_reference(text: str) -> int | None:
    """The file id of ``"KF-0000123"`` (case and spaces tolerated), or None when ``text`` is not one."""
    match = re.fullmatch(r"\s*KF-?(\d{1,12})\s*", str(text), flags=re.IGNORECASE)
    return int(match.group(1)) if match else None


class ContactKind(enum.StrEnum):
    """``contact``: the monthly contact (每个月联系一次); ``visit``: the home visit (每三个月入户走访一次)."""

    contact = "contact"
    visit = "visit"


def is_contact_duty_key(key: str) -> bool:
    """Whether ``key`` is the duty key of a child director's contact or visit (``contact:<child id>:2026-11``)."""
    return key.partition(":")[0] in ContactKind._value2member_map_


class CareContact(SQLModel, table=True):
    """One contact or home visit a child director made with a key care target (the log of 方案 一（二）'s duties).

    ``task_id`` is the duty it completed, when one was open.
    """

    __tablename__ = "key_care_contact"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", name="pk_key_care_contact"),
        sa.Index("ix_key_care_contact_file_id", "file_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    file_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("key_care_file.id", name="fk_key_care_contact_file_id"), nullable=False))
    kind: str = Field(max_length=8)
    contact_on: datetime.date
    recorded_by: str = Field(max_length=64)
    note: str = Field(default="", max_length=500)
    recorded_at: datetime.datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    task_id: uuid.UUID | None = Field(default=None, sa_column=sa.Column(
        sa.Uuid, sa.ForeignKey("agency_task.id", name="fk_key_care_contact_task_id"), nullable=True))


class KeyCareDuty(SQLModel, table=True):
    """Links a child director's duty (an :class:`models.task.AgencyTask` with a ``duty_key``) to its file.

    ``kind`` is a :class:`ContactKind`; ``period`` the month of a contact (``2026-11``) or the due date of a
    visit (``2027-02-20``), as in the task's ``duty_key`` (``contact:<child id>:2026-11``).
    """

    __tablename__ = "key_care_duty"
    __table_args__ = (
        sa.PrimaryKeyConstraint("task_id", name="pk_key_care_duty"),
        sa.Index("ix_key_care_duty_file_id", "file_id"),
    )

    task_id: uuid.UUID = Field(sa_column=sa.Column(
        sa.Uuid, sa.ForeignKey("agency_task.id", name="fk_key_care_duty_task_id"), nullable=False))
    file_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("key_care_file.id", name="fk_key_care_duty_file_id"), nullable=False))
    kind: str = Field(max_length=8)
    period: str = Field(max_length=10)


# ---------------------------------------------------------------------------------------------------------------------
# Classification (pure)
# ---------------------------------------------------------------------------------------------------------------------

class Classification(NamedTuple):
    """The migrant-child test of one row: ``is_migrant`` and the failed reason codes, in the order
    age, place, residence (codes of :class:`models.eligibility.Reason`); ``is_key_care`` per 一（二）."""

    is_migrant: bool
    failed: tuple[str, ...]
    is_key_care: bool


@lru_cache(maxsize=65536)
def _aged_16_from(birth: datetime.date) -> datetime.date:
    return aged_16_from(birth)


@lru_cache(maxsize=65536)
def _six_months_on(start: datetime.date) -> datetime.date:
    return add_months(start, 6)


def classify(
    *,
    birth_date: datetime.date,
    hukou: Region,
    residence: Region,
    arrival_date: datetime.date,
    on: datetime.date,
    criteria: tuple[str, ...] | frozenset[str] = (),
) -> Classification:
    """The migrant-child test of 方案 一 on ``on``, as :func:`models.eligibility.assess_migrant_child` makes it,
    and the key care test of 一（二）.

    Same three tests and reason codes: age (``birth_date_in_future`` | ``aged_out``), place (``same_county`` |
    ``central_districts_same_city``), residence (``arrival_in_future`` | ``resided_under_6_months``); only the
    failed ones are returned. Key care: a migrant child meeting at least one criterion
    (:func:`models.eligibility.assess_key_care`). Never raises for valid dates and regions.
    """
    failed: list[str] = []
    if birth_date > on:
        failed.append("birth_date_in_future")
    elif on >= _aged_16_from(birth_date):
        failed.append("aged_out")
    if hukou.code == residence.code:
        failed.append("same_county")
    elif hukou.central and residence.central and hukou.city_code == residence.city_code:
        failed.append("central_districts_same_city")
    start = birth_date if arrival_date < birth_date <= on else arrival_date
    if arrival_date > on:
        failed.append("arrival_in_future")
    elif _six_months_on(start) > on:
        failed.append("resided_under_6_months")
    is_migrant = not failed
    return Classification(is_migrant, tuple(failed), is_migrant and bool(criteria))


#: Criterion codes accepted in a survey's 重点关爱情形 column, by their Chinese wording and common variants.
CRITERION_WORDS: dict[str, KeyCareCriterion] = {
    **{c.value: c for c in KeyCareCriterion},
    **{c.zh: c for c in KeyCareCriterion},
    "家庭困难": KeyCareCriterion.family_hardship,
    "生活困难": KeyCareCriterion.family_hardship,
    "家庭经济困难": KeyCareCriterion.family_hardship,
    "困难家庭": KeyCareCriterion.family_hardship,
    "残疾": KeyCareCriterion.disability,
    "残疾儿童": KeyCareCriterion.disability,
    "缺乏监护": KeyCareCriterion.missing_guardianship,
    "监护人缺失": KeyCareCriterion.missing_guardianship,
    "无人监护": KeyCareCriterion.missing_guardianship,
    "流浪儿童": KeyCareCriterion.vagrancy,
    "心理行为异常": KeyCareCriterion.psychological_behavioural,
    "心理异常": KeyCareCriterion.psychological_behavioural,
    "行为异常": KeyCareCriterion.psychological_behavioural,
    "心理或行为异常": KeyCareCriterion.psychological_behavioural,
    "主动求助": KeyCareCriterion.cross_township_help_request,
    "主动提出救助帮扶需求": KeyCareCriterion.cross_township_help_request,
    "救助帮扶需求": KeyCareCriterion.cross_township_help_request,
    "跨乡镇求助": KeyCareCriterion.cross_township_help_request,
}

#: Values of the 重点关爱情形 column meaning "none".
NO_CRITERION_WORDS = frozenset({"", "无", "否", "没有", "无此情形", "不属于", "/", "-", "--", "—", "——", "n/a", "none"})
