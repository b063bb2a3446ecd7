"""The child's recorded facts and each service-list item's target-group check, as pages and the API show them.

In the reader's language: fact, value and source by their catalogue labels (``child_fact.…``, the facts of
:mod:`models.child_facts`), an item's check as 符合/不符合/待核实 (met …) with the reasons
(:mod:`careflow.referral_eligibility`, Chinese only). Reads one child's facts (one statement).
"""
from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field
from sqlmodel import Session, select

from core.audit import record_audit
from careflow.child_facts import fact_history, record_child_fact
from careflow.referral_eligibility import PATHWAY, items_eligibility
from careflow.unreferred import referred_item
from models.case import Case, PathwayRun
from models.child import Child
from models.child_facts import FACT_SOURCES, FACTS
from models.eligibility_rules import ItemEligibility
from models.policy import load_policy
from models.user import UserRole, WebUser
from web.i18n import Translator
from web.scope import NotVisible, can_read_child, require_role

__all__ = ["FactIn", "FactRowOut", "ItemCheckOut", "ReferralOut", "audit_read", "child_referrals", "eligibility_out",
           "fact_choices", "facts_out", "migrant_line", "record_fact_as"]


class FactIn(BaseModel):
    """A fact a caseworker records: which (``fact``), its value code, the source, the date it was established
    (default today) and optional detail (which department or document) and note."""

    fact: str = Field(max_length=40)
    value: str = Field(max_length=40)
    source: str = Field(default="caseworker", max_length=20)
    established_on: dt.date | None = None
    source_detail: str = Field(default="", max_length=200)
    note: str = Field(default="", max_length=500)


class FactRowOut(BaseModel):
    """A fact of the child's file: its label, the latest value and where it came from (empty when never recorded);
    ``history``: earlier records, newest first, as one line each."""

    key: str
    label: str
    value: str = ""
    value_label: str = ""
    source: str = ""
    source_label: str = ""
    established_on: dt.date | None = None
    recorded_by: str = ""
    note: str = ""
    history: list[str] = Field(default_factory=list)


class ReferralOut(BaseModel):
    """One referral of the item for the child (a ``service_referral`` pathway run): its case, status and start."""

    case_reference: str
    status: str
    started_at: dt.datetime


class ItemCheckOut(BaseModel):
    """An item's target-group check on the child: ``status`` met | not_met | unknown, its label, the reasons;
    the item's referrals of this child, newest first; ``unoffered``: met and never referred — the needs view's
    符合服务对象条件但尚未转介 (issue 13, item 2)."""

    item: int
    service: str
    target_group: str
    status: str
    status_label: str
    reasons: list[str]
    referrals: list[ReferralOut] = Field(default_factory=list)
    unoffered: bool = False


def facts_out(session: Session, child: Child, t: Translator) -> list[FactRowOut]:
    """Every fact of :data:`models.child_facts.FACTS`, in order, with its latest record and the earlier ones,
    worded in ``t``'s language."""
    by_key: dict[str, list] = {}
    for row in fact_history(session, child.id):
        by_key.setdefault(row.fact_key, []).append(row)
    out = []
    for key in FACTS:
        rows = by_key.get(key, [])
        entry = FactRowOut(key=key, label=t(f"child_fact.{key}"))
        if rows:
            last = rows[-1]
            source = t.label(last.source, "child_fact.source")
            entry = FactRowOut(
                key=key, label=entry.label, value=last.value, value_label=t.label(last.value, "child_fact.value"),
                source=last.source, source_label=source + (t.colon + last.source_detail if last.source_detail else ""),
                established_on=last.established_on, recorded_by=last.recorded_by, note=last.note,
                history=[f"{r.established_on} {t.label(r.value, 'child_fact.value')}"
                         + t.paren(t.label(r.source, "child_fact.source") + t.comma + r.recorded_by)
                         for r in reversed(rows[:-1])])
        out.append(entry)
    return out


def _check_out(result: ItemEligibility, referrals: list[ReferralOut], t: Translator) -> ItemCheckOut:
    item = load_policy().service_item(result.item)
    return ItemCheckOut(item=result.item, service=item.service_in(t.lang), target_group=item.target_group_in(t.lang), status=result.status,
                        status_label=t(f"elig.status.{result.status}"), reasons=[r.text for r in result.results],
                        referrals=referrals, unoffered=result.status == "met" and not referrals)


def child_referrals(session: Session, child: Child) -> dict[int, list[ReferralOut]]:
    """The child's service-list referrals by item number, newest first (one statement over the child's cases)."""
    rows = session.exec(select(PathwayRun, Case.reference).join(Case, Case.id == PathwayRun.case_id).where(
        Case.child_id == child.id, PathwayRun.pathway == PATHWAY).order_by(PathwayRun.started_at.desc())).all()
    by_item: dict[int, list[ReferralOut]] = {}
    for run, reference in rows:
        number = referred_item(run.parameters)  # the needs list's SQL says the same (careflow.unreferred)
        if number is not None:
            by_item.setdefault(number, []).append(ReferralOut(
                case_reference=reference, status=str(run.status), started_at=run.started_at))
    return by_item


def migrant_line(checks: list[ItemCheckOut]) -> str:
    """The migrant-child rule's result (the same for every item), e.g. ``流动儿童：符合。…``."""
    return next((r for c in checks for r in c.reasons if r.startswith("流动儿童：")), "")


def eligibility_out(session: Session, child: Child, t: Translator, item: int | None = None) -> list[ItemCheckOut]:
    """Each item's check on ``child`` today (only ``item`` when given), with the child's referrals of it."""
    referrals = child_referrals(session, child)
    return [_check_out(r, referrals.get(r.item, []), t) for r in items_eligibility(session, child)
            if item is None or r.item == item]


def audit_read(session: Session, child: Child, actor: str, what: str) -> None:
    """Audit a read of the child's facts or checks (DOMAIN.md §8): ``child.facts_read`` with ``what`` (page, API)."""
    record_audit(session, actor=actor, action="child.facts_read", entity_type="child", entity_id=child.id,
                 detail={"what": what})


def fact_choices(t: Translator) -> dict:
    """What the fact form offers: facts, each fact's values, the sources (code → label in ``t``'s language)."""
    return {"facts": {k: t(f"child_fact.{k}") for k in FACTS},
            "values": {k: {v: t.label(v, "child_fact.value") for v in f.options} for k, f in FACTS.items()},
            "sources": {k: t.label(k, "child_fact.source") for k in FACT_SOURCES}}


def record_fact_as(session: Session, user: WebUser, child: Child, data: FactIn):
    """A caseworker records a fact on a child of their jurisdiction (audited ``child.fact_recorded``).

    Raises:
        NotAllowed: not a caseworker. NotVisible: outside the jurisdiction. ValueError: in Chinese, naming the field.
    """
    require_role(user, UserRole.caseworker)
    if not can_read_child(user, child):
        raise NotVisible(f"no child {child.id}")
    return record_child_fact(session, child_id=child.id, key=data.fact, value=data.value, source=data.source,
                             actor=user.username, established_on=data.established_on,
                             source_detail=data.source_detail, note=data.note)
