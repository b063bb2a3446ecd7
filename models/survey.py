"""The monitoring survey (监测摸排): its rounds, each import of a county's file, the rejected rows and the records.

Policy: 福建省加强流动儿童关爱保护行动实施方案 (闽民童〔2025〕5号), section 一（一）: counties (县（市、区）) survey
their migrant children; from 2025 the data is refreshed every April and October. A :class:`SurveyRound` is one
county's April or October round (label ``"2026-10"``, :class:`RoundLabel`); every import (:class:`SurveyImport`)
belongs to one round, and each child found in it gets one :class:`SurveyRecord`; a rejected row is a
:class:`SurveyRowError`.

Elsewhere: the key care files a round opens (一（二）, 一（三）) are :mod:`models.key_care_files`; the migrant-child
test of a row and the words of the 重点关爱情形 column are :mod:`models.survey_rules`. Dates are calendar dates in
Asia/Shanghai.
"""
from __future__ import annotations

import calendar
import datetime
import enum
import re
import uuid
from typing import NamedTuple

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow
from models.errors import FieldValueError

__all__ = [
    "ImportStatus", "RoundLabel", "SurveyImport", "SurveyRecord", "SurveyRound", "SurveyRowError", "round_as_of",
]

#: First year of the April/October rhythm (一（一）: 2025 年起，于每年 4 月和 10 月更新).
FIRST_ROUND_YEAR = 2025
#: Months of a round.
ROUND_MONTHS = (4, 10)


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
            raise FieldValueError("round", "problem.round_label", value=text)
        year, month = int(match.group(1)), int(match.group(2))
        if month not in ROUND_MONTHS:
            raise FieldValueError("round", "problem.round_month", value=text)
        if year < FIRST_ROUND_YEAR:
            raise FieldValueError("round", "problem.round_year", value=text, first=FIRST_ROUND_YEAR)
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
