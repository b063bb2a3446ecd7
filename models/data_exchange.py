"""Scheduled data exchanges with departments and what their answers propose (方案 一（三）加强部门信息数据共享).

Policy: civil affairs shares its lists with education, police, health (卫健), medical insurance (医保) and the
disabled persons' federation, and takes their answers back (school enrolment, residence permits, basic public
health services, basic medical insurance, rehabilitation aid) "及时跟进提供服务". careflow:

* exports each department's list and imports its answer files on a schedule (``policy/data_exchange.yaml``,
  :class:`ExchangePolicy`, :func:`load_exchange_policy`);
* keeps every answer row with its source (:class:`DepartmentAnswer`: department, file, line, date received),
  each answer file once (:class:`ExchangeFile`, unique by department and content);
* turns an answer that reveals a gap into a proposal to the caseworker (:class:`ReferralProposal`): one per
  (child, item, answer), ``open`` until the item is referred (``referred``).

Tables: migration 0022_data_exchange. Integer keys: rows are inserted set-based (``INSERT … SELECT``).
"""
from __future__ import annotations

import enum
import functools
import uuid
from datetime import date, datetime
from pathlib import Path

import sqlalchemy as sa
from pydantic import Field as PField, model_validator
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow
from models.child_facts import FACTS
from models.policy_files import Code, PolicyModel, Text, default_policy_dir, read_yaml, validate_file

__all__ = ["DepartmentAnswer", "DepartmentExchange", "ExchangeFile", "ExchangePolicy", "Gap", "ProposalStatus",
           "ReferralProposal", "gap_text", "load_exchange_policy", "normalise_answer"]


# ----------------------------------------------------------------------------------------------- policy


def normalise_answer(value: str) -> str:
    """An answer as gap values are compared: without any whitespace (``"未 参保 "`` → ``"未参保"``)."""
    return "".join(str(value or "").split())


class Gap(PolicyModel):
    """An answer that reveals a gap: ``field`` holds one of ``values`` → item ``item`` is proposed (when the child
    is in its target group); ``fact``: child facts recorded from that answer before the check."""

    field: Code
    values: list[Text] = PField(min_length=1)
    item: int = PField(ge=1, le=20)
    fact: dict[str, str] = PField(default_factory=dict)

    @model_validator(mode="after")
    def _known_facts(self) -> "Gap":
        for key, value in self.fact.items():
            if key not in FACTS or value not in FACTS[key].options:
                raise ValueError(f"fact {key!r}: {value!r} is not a recorded fact and value "
                                 f"(models/child_facts.py FACTS)")
        return self

    def matches(self, value: str) -> bool:
        """Whether ``value`` (as the department wrote it) is one of the gap values."""
        wanted = normalise_answer(value)
        return bool(wanted) and wanted in {normalise_answer(v) for v in self.values}


class DepartmentExchange(PolicyModel):
    """When a department's list goes out (``export``, cron) and its answers are read (``answers``, cron), and
    which answers reveal a gap."""

    export: str = "0 2 1 * *"
    answers: str = "15 * * * *"
    gaps: list[Gap] = PField(default_factory=list)


class ExchangePolicy(PolicyModel):
    """``policy/data_exchange.yaml``: the departments exchanged with, their schedules and folders."""

    enabled: bool = True
    outbox: Text = "exchange/outbox/{department}"
    inbox: Text = "exchange/inbox/{department}"
    counties: list[str] = PField(default_factory=list)
    departments: dict[Code, DepartmentExchange] = PField(default_factory=dict)

    def folder(self, which: str, department: str, home: Path) -> Path:
        """The ``outbox`` or ``inbox`` folder of ``department`` (relative folders under ``home``)."""
        path = Path((self.outbox if which == "outbox" else self.inbox).replace("{department}", department))
        return path if path.is_absolute() else home / path

    def gaps_of(self, department: str) -> list[Gap]:
        """The gap rules of ``department`` (none for a department not listed)."""
        found = self.departments.get(department)
        return list(found.gaps) if found else []


@functools.lru_cache(maxsize=4)
def load_exchange_policy(path: Path | None = None) -> ExchangePolicy:
    """``policy/data_exchange.yaml`` (or ``path``) validated; PolicyError naming the file, entry and field."""
    base = default_policy_dir()
    data, rel = read_yaml(path or base / "data_exchange.yaml", base)
    return validate_file(ExchangePolicy, data, rel)


def gap_text(department_name: str, header: str, value: str, received_on: date, file_name: str, line: int) -> str:
    """Why a proposal was made, in Chinese: ``医疗保障部门 2026-12-06 答复（文件 ins.csv 第3行）：参保状态为“未参保”``."""
    return f"{department_name} {received_on} 答复（文件 {file_name} 第{line}行）：{header}为“{value}”"


# ----------------------------------------------------------------------------------------------- tables


class ExchangeFile(SQLModel, table=True):
    """An answer file a department sent, imported once: ``sha256`` of its bytes, unique per department (a rerun
    of the scheduled import, or the same file under another name, imports nothing again)."""

    __tablename__ = "exchange_file"
    __table_args__ = (sa.UniqueConstraint("department", "sha256", name="uq_exchange_file_department_sha256"),)

    id: int | None = Field(default=None, primary_key=True)
    department: str = Field(max_length=40)
    file_name: str = Field(max_length=200)
    sha256: str = Field(max_length=64)
    rows: int = 0
    stored: int = 0
    unchanged: int = 0
    problems: int = 0
    imported_by: str = Field(max_length=64)
    imported_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class DepartmentAnswer(SQLModel, table=True):
    """One row of a department's answer file about one child: ``answers`` (answer field → text as written),
    where it came from (``file_id``, ``file_name``, ``line``) and when (``received_on``, Asia/Shanghai date).
    A row equal to the child's latest answer from the department is not stored again."""

    __tablename__ = "department_answer"
    __table_args__ = (
        sa.UniqueConstraint("file_id", "line", name="uq_department_answer_file_line"),
        sa.Index("ix_department_answer_child", "child_id", "department", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    child_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, sa.ForeignKey("child.id"), nullable=False))
    department: str = Field(max_length=40)
    answers: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    file_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("exchange_file.id"), nullable=False))
    file_name: str = Field(max_length=200)
    line: int
    received_on: date
    received_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class ProposalStatus(enum.StrEnum):
    """``open``: shown to the caseworker; ``referred``: the item was referred (the proposal is no longer shown)."""

    open = "open"
    referred = "referred"


class ReferralProposal(SQLModel, table=True):
    """A referral careflow proposes because a department's answer revealed a gap (e.g. 未参保 → item 7): once per
    (child, item, answer); ``referred`` with the pathway run when the item is referred."""

    __tablename__ = "referral_proposal"
    __table_args__ = (
        sa.UniqueConstraint("child_id", "item", "answer_id", name="uq_referral_proposal_child_item_answer"),
        sa.Index("ix_referral_proposal_open", "status", "created_at", "id"),
        sa.Index("ix_referral_proposal_child", "child_id", "item", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    child_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, sa.ForeignKey("child.id"), nullable=False))
    item: int
    answer_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("department_answer.id"), nullable=False))
    department: str = Field(max_length=40)
    status: str = Field(default=ProposalStatus.open.value, max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    pathway_run_id: uuid.UUID | None = Field(default=None, sa_column=sa.Column(
        sa.Uuid, sa.ForeignKey("pathway_run.id"), nullable=True))
    referred_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime, nullable=True))
    referred_by: str = Field(default="", max_length=64)
