"""Facts about a child that the service list's target groups need (服务对象条件), recorded with source and date.

Policy: the annex of 闽民童〔2025〕5号 names each item's 服务对象: disabled children (items 11-12), orphans, children
with HIV and de-facto unsupported children (事实无人抚养儿童, item 10), children meeting the 低保 (item 13) or the
registration place's 特困 conditions (item 14), diagnosed severe mental disorders living at home (item 8), housing
hardship (item 9), a local temporary-assistance situation (item 15), and school stages (items 3-5). careflow cannot
derive these from the register: a person records them (a caseworker, the monitoring survey, a department's answer),
each with its source and the date it was established. The latest record of a fact wins
(:func:`careflow.child_facts.latest_facts`).

Values are codes: a yes/no fact stores ``yes`` | ``no`` | ``unknown`` (待核实：the sources disagree or nobody
knows); ``school_enrolment`` stores one of :data:`ENROLMENT_OPTIONS`. The table keeps every record (nothing is
overwritten), so the child's file shows who said what when.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, new_id, utcnow
from models.errors import FieldValueError, Labels, wording

__all__ = ["BOOL_VALUES", "ChildFact", "ENROLMENT_OPTIONS", "FACTS", "FactDefinition", "FACT_SOURCES",
           "check_fact_value"]


@dataclass(frozen=True)
class FactDefinition:
    """A fact the target-group rules read: its key, Chinese label, and the values it takes (code → Chinese)."""

    key: str
    label_zh: str
    options: dict[str, str]


#: A yes/no fact's values. ``unknown`` (待核实) records that the fact is disputed or could not be established.
BOOL_VALUES: dict[str, str] = {"yes": "是", "no": "否", "unknown": "待核实（有争议或无法确认）"}

#: Recorded school enrolment (在读学段). A school stage decides the school-stage rules; ``not_enrolled`` and
#: ``preschool`` leave them to the birth date and the 1 September cut-off.
ENROLMENT_OPTIONS: dict[str, str] = {
    "not_enrolled": "未入学", "preschool": "幼儿园（学前）", "compulsory": "义务教育阶段在读",
    "senior_high": "普通高中在读", "secondary_vocational": "中等职业学校在读",
}

#: Every fact, in the order the child's page lists them.
FACTS: dict[str, FactDefinition] = {f.key: f for f in (
    FactDefinition("disability", "残疾儿童", BOOL_VALUES),
    FactDefinition("orphan", "孤儿", BOOL_VALUES),
    FactDefinition("de_facto_unsupported", "事实无人抚养儿童", BOOL_VALUES),
    FactDefinition("hiv_affected", "艾滋病病毒感染儿童", BOOL_VALUES),
    FactDefinition("minimum_living_allowance", "符合最低生活保障条件（低保）", BOOL_VALUES),
    FactDefinition("extreme_poverty", "符合户籍地特困救助供养条件（特困）", BOOL_VALUES),
    FactDefinition("severe_mental_disorder", "诊断明确、在家居住的严重精神障碍患者", BOOL_VALUES),
    FactDefinition("housing_hardship", "家庭住房困难", BOOL_VALUES),
    FactDefinition("temporary_assistance", "符合本地临时救助情形", BOOL_VALUES),
    FactDefinition("school_enrolment", "在读学段", ENROLMENT_OPTIONS),
)}

#: Who established a fact (来源).
FACT_SOURCES: dict[str, str] = {"caseworker": "工作人员核实", "survey": "监测摸排", "department": "部门答复"}


def check_fact_value(key: str, value: str, source: str) -> FieldValueError | None:
    """The problem with recording ``value`` for fact ``key`` from ``source`` (a :class:`FieldValueError` of the
    field ``fact``, ``value`` or ``source``, worded in the reader's language: the fact, its values and the sources
    by their labels, ``child_fact.…``); None if fine."""
    fact = FACTS.get(key)
    if fact is None:
        return FieldValueError("fact", "problem.fact_unknown", value=key)
    if value not in fact.options:
        return FieldValueError("value", "problem.fact_value", value=value, labels=_fact_labels(fact),
                               choices=Labels(list(fact.options), "child_fact.value"))
    if source not in FACT_SOURCES:
        return FieldValueError("source", "problem.fact_source", value=source,
                               choices=Labels(list(FACT_SOURCES), "child_fact.source"))
    return None


def _fact_labels(fact: FactDefinition) -> dict[str, str]:
    """The fact's label by language (``child_fact.<key>``), naming the field its value is refused in."""
    word = wording("option")
    return {lang: word(fact.key, "child_fact", lang) if word else fact.label_zh for lang in ("zh", "en")}


class ChildFact(SQLModel, table=True):
    """One record of a fact about a child: what, which value, who established it (source) and when.

    ``established_on`` is the date the source established the fact (a calendar date, Asia/Shanghai); the latest
    record (by ``established_on``, then ``recorded_at``) is the fact's value. Migration 0012_elig.
    """

    __tablename__ = "child_fact"
    __table_args__ = (
        sa.Index("ix_child_fact_child_key", "child_id", "fact_key", "established_on", "recorded_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    child_id: uuid.UUID = Field(foreign_key="child.id")
    fact_key: str = Field(max_length=40)
    value: str = Field(max_length=40)
    source: str = Field(max_length=20, description="caseworker | survey | department")
    source_detail: str = Field(default="", max_length=200, description="e.g. the department or document")
    established_on: date
    note: str = Field(default="", max_length=500)
    recorded_by: str = Field(max_length=64)
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
