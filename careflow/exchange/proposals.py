"""Referrals a department's answer proposes to the caseworker (方案 一（三）：及时掌握流动儿童情况，及时跟进提供服务).

An answer that reveals a gap (``policy/data_exchange.yaml`` ``gaps``: 未参保 → item 7, 未入学 → item 3, 免疫规划
未完成 → item 1, 未享受康复救助 → item 11) proposes its service-list item when the child is in the item's target group
on the answer's date — the item's own rules (``policy/service_list.yaml`` ``eligibility``), evaluated as SQL by
:func:`careflow.unreferred.qualifies` (the same rules :func:`models.eligibility_rules.evaluate_item` reads; a rule
still unknown proposes nothing) — and no referral of the item is open for the child.

A proposal (:class:`models.data_exchange.ReferralProposal`) is made once per (child, item, answer): a rerun of the
import stores no answer twice, and the unique key refuses a second proposal. It is shown on the child's page and in
the caseworker's inbox (待我处理 → 数据比对建议) with a one-click start of the referral (:mod:`careflow.exchange.start`)
and is closed (``referred``) when the item is referred for the child, however it is started
(:func:`mark_referred`, called by :func:`careflow.cases.create_pathway_run`).
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session

from careflow.survey.sharing import DEPARTMENTS
from careflow.unreferred import qualifies, referred_sql
from models.base import UTCDateTime
from models.child import Child
from models.data_exchange import (
    DepartmentAnswer, ProposalStatus, ReferralProposal, gap_text, load_exchange_policy,
)
from models.policy import load_policy

__all__ = ["BATCH", "ProposalView", "gap_field", "mark_referred", "open_proposals", "open_proposals_query", "propose",
           "proposal_views"]

#: Answers per ``INSERT … SELECT`` (bounded parameters: PostgreSQL refuses more than 65,535 in one statement).
BATCH = 500


def propose(session: Session, gaps: list[tuple[int, int]], *, on: dt.date, now: dt.datetime) -> int:
    """Make the proposals ``gaps`` call for: ``(answer id, item)`` each, the child checked against the item's target
    group on ``on`` (Asia/Shanghai date). Set-based: one ``INSERT … SELECT`` per item and :data:`BATCH` answers,
    skipping children outside the target group, with an open referral of the item, or already proposed for that
    answer. Returns how many were made."""
    by_item: dict[int, list[int]] = defaultdict(list)
    for answer_id, item in gaps:
        by_item[item].append(answer_id)
    made = 0
    columns = ["child_id", "item", "answer_id", "department", "status", "created_at"]
    for item, answer_ids in sorted(by_item.items()):
        for start in range(0, len(answer_ids), BATCH):
            chunk = answer_ids[start:start + BATCH]
            already = sa.exists().where(ReferralProposal.child_id == DepartmentAnswer.child_id,
                                        ReferralProposal.item == item, ReferralProposal.answer_id == DepartmentAnswer.id)
            rows = (sa.select(DepartmentAnswer.child_id, sa.literal(item, sa.Integer), DepartmentAnswer.id,
                              DepartmentAnswer.department, sa.literal(ProposalStatus.open.value, sa.String),
                              sa.literal(now, UTCDateTime()))
                    .join(Child, Child.id == DepartmentAnswer.child_id)
                    .where(DepartmentAnswer.id.in_(chunk), qualifies(item, on),
                           ~referred_sql(item, open_only=True), ~already))
            insert = sa.insert(ReferralProposal).from_select(columns, rows).returning(ReferralProposal.id)
            made += len(session.execute(insert).all())
    return made


def mark_referred(session: Session, *, child_id: uuid.UUID, item: int, run_id: uuid.UUID, actor: str,
                  now: dt.datetime) -> int:
    """Close the child's open proposals of ``item``: the item was referred by pathway run ``run_id``. A conditional
    ``UPDATE`` (only ``open`` ones); returns how many were closed."""
    result = session.execute(
        sa.update(ReferralProposal)
        .where(ReferralProposal.child_id == child_id, ReferralProposal.item == item,
               ReferralProposal.status == ProposalStatus.open.value)
        .values(status=ProposalStatus.referred.value, pathway_run_id=run_id, referred_at=now, referred_by=actor)
        .execution_options(synchronize_session=False))
    return result.rowcount or 0


@dataclass(frozen=True)
class ProposalView:
    """A proposal as the caseworker reads it: the child, the item (number and service), the department, the answer
    that revealed the gap (``field`` and ``value`` as written, the file, its line, the date received, Asia/Shanghai),
    ``reason`` the same in Chinese (:func:`models.data_exchange.gap_text`), and when it was made (UTC)."""

    id: int
    child_id: uuid.UUID
    child_name: str
    item: int
    service: str
    department: str
    department_name: str
    field: str
    value: str
    received_on: dt.date
    file_name: str
    line: int
    reason: str
    created_at: dt.datetime


def gap_field(department: str, item: int, answers: dict) -> str:
    """The answer field whose gap proposed ``item`` (``policy/data_exchange.yaml``), or "" when none matches now."""
    for gap in load_exchange_policy().gaps_of(department):
        if gap.item == item and gap.matches((answers or {}).get(gap.field, "")):
            return gap.field
    return ""


def proposal_views(rows) -> list[ProposalView]:
    """``(proposal, answer, child's name)`` rows as :class:`ProposalView`."""
    items = load_policy().service_items
    out = []
    for proposal, answer, name in rows:
        dept = DEPARTMENTS.get(proposal.department)
        field = gap_field(answer.department, proposal.item, answer.answers)
        value = (answer.answers or {}).get(field, "")
        header = dept.answers[field][0] if dept and field in dept.answers else field
        dept_name = dept.name_zh if dept else proposal.department
        out.append(ProposalView(
            id=proposal.id, child_id=proposal.child_id, child_name=name, item=proposal.item,
            service=items[proposal.item].service if proposal.item in items else "", department=proposal.department,
            department_name=dept_name, field=field, value=value, received_on=answer.received_on,
            file_name=answer.file_name, line=answer.line,
            reason=gap_text(dept_name, header, value, answer.received_on, answer.file_name, answer.line),
            created_at=proposal.created_at))
    return out


def open_proposals_query(*conditions) -> tuple[sa.Select, sa.Select]:
    """``(rows, count)``: the open proposals with their answer and child's name, narrowed by ``conditions`` (SQL on
    :class:`ReferralProposal` and :class:`Child`, e.g. the caseworker's jurisdiction), unordered (the caller pages)."""
    where = [ReferralProposal.status == ProposalStatus.open.value, *conditions]
    rows = (sa.select(ReferralProposal, DepartmentAnswer, Child.full_name)
            .join(DepartmentAnswer, DepartmentAnswer.id == ReferralProposal.answer_id)
            .join(Child, Child.id == ReferralProposal.child_id).where(*where))
    count = (sa.select(sa.func.count()).select_from(ReferralProposal)
             .join(Child, Child.id == ReferralProposal.child_id).where(*where))
    return rows, count


def open_proposals(session: Session, child_id: uuid.UUID) -> list[ProposalView]:
    """The child's open proposals, one per item (the latest answer's), newest first."""
    rows, _ = open_proposals_query(ReferralProposal.child_id == child_id)
    found = session.execute(rows.order_by(ReferralProposal.created_at.desc(), ReferralProposal.id.desc())).all()
    seen, kept = set(), []
    for row in found:
        if row[0].item not in seen:
            seen.add(row[0].item)
            kept.append(row)
    return proposal_views(kept)

