"""The county needs list (issue 13, item 2): the children who qualify for a service-list item and were never
referred for it (符合服务对象条件但尚未转介), as one set-based SQL condition on :class:`models.child.Child`.

Policy: the annex of 闽民童〔2025〕5号, each item's 服务对象 (``policy/service_list.yaml`` ``eligibility``), whose
meaning is :mod:`models.eligibility_rules` (and :func:`models.eligibility.assess_migrant_child` for 流动儿童, section
一). Each rule is compiled here to the SQL that holds exactly when :func:`models.eligibility_rules.evaluate_rule`
says ``met`` on the date ``on`` (a calendar date, Asia/Shanghai) — one function per rule below, its date bounds
computed in Python by the functions beside the rule's meaning (:func:`~models.eligibility_rules.age_birth_bounds`,
:func:`~models.eligibility_rules.school_stage_births`, :func:`~models.eligibility.migrant_date_bounds`). A rule that
is merely unknown (a fact not recorded, or recorded 待核实) is not met: the list is of children who qualify.

A referral of item N is a ``service_referral`` pathway run on one of the child's cases whose parameter ``item`` is
N — the rule of :func:`web.eligibility_view.child_referrals` (:func:`referred_item`), whatever the run's status.

Everything is SQL (SQLite and PostgreSQL alike): the list is one statement per page whatever the county's size
(:func:`unreferred_children`). What SQL does not do: a county code that :func:`models.regions.get_county` cannot
resolve makes the Python rule raise; here it is compared as it stands (registration and the survey store only
resolved codes).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from careflow.referral_eligibility import PATHWAY
from models.case import OPEN_PATHWAY_STATUSES, Case, PathwayRun
from models.child import Child
from models.child_facts import ChildFact
from models.eligibility import migrant_date_bounds
from models.eligibility_rules import FACT_RULES, SCHOOL_STAGES, Rule, age_birth_bounds, school_stage_births
from models.policy import load_policy
from models.regions import load_regions

__all__ = ["age_sql", "fact_sql", "item_rules", "latest_fact_in", "migrant_sql", "qualifies", "referred_item",
           "referred_sql", "rule_sql", "school_stage_sql", "unreferred_children"]


# --------------------------------------------------------------------------------------------- facts


def latest_fact_in(keys: str | Iterable[str], values: Iterable[str]):
    """SQL on :class:`Child`: the latest record of fact ``keys`` (of one of them, given several) has one of ``values``.

    The latest record of a fact is the one with the greatest ``(established_on, recorded_at, id)`` — the order of
    :func:`careflow.child_facts.fact_history`, whose last row :func:`~careflow.child_facts.latest_facts` keeps: the
    child's id is among those of a record with the value and ``NOT EXISTS`` a later record of the same fact
    (``ix_child_fact_child_key``). Written as ``child.id IN (…)`` so that the database may start from the facts
    (few children have a given one) rather than test every child of the county.
    """
    keys = [keys] if isinstance(keys, str) else list(keys)
    newer, latest = aliased(ChildFact), aliased(ChildFact)
    later = sa.or_(newer.established_on > latest.established_on,
                   sa.and_(newer.established_on == latest.established_on, sa.or_(
                       newer.recorded_at > latest.recorded_at,
                       sa.and_(newer.recorded_at == latest.recorded_at, newer.id > latest.id))))
    return Child.id.in_(sa.select(latest.child_id).where(
        latest.fact_key.in_(keys), latest.value.in_(list(values)),
        ~sa.exists().where(newer.child_id == latest.child_id, newer.fact_key == latest.fact_key, later)))


def fact_sql(key: str):
    """A yes/no fact rule (:func:`models.eligibility_rules._fact`): met when the latest record is ``yes``; ``no``
    is not met and ``unknown`` or no record unknown (both left out). For ``disability`` a child without any record
    of it who has the key care ground 自身残疾 counts as recorded ``yes`` (:meth:`ChildProfile.fact`)."""
    recorded_yes = latest_fact_in(key, ("yes",))
    if key != "disability":
        return recorded_yes
    key_care = sa.cast(Child.key_care_criteria, sa.String).contains('"disability"', autoescape=True)
    never_recorded = Child.id.not_in(sa.select(ChildFact.child_id).where(ChildFact.fact_key == key))
    return sa.or_(recorded_yes, sa.and_(key_care, never_recorded))


# --------------------------------------------------------------------------------------------- dates


def age_sql(rule: Rule, on: dt.date):
    """An ``age`` rule (:func:`models.eligibility_rules._age`: 已满 ``min`` 周岁, 未满 ``under`` 周岁, 周岁 from the day
    after the birthday): ``born_after < birth_date <= born_by`` from
    :func:`~models.eligibility_rules.age_birth_bounds`."""
    born_after, born_by = age_birth_bounds(rule, on)
    conditions = ([Child.birth_date > born_after] if born_after is not None else []) + \
                 ([Child.birth_date <= born_by] if born_by is not None else [])
    return sa.and_(sa.true(), *conditions)


def school_stage_sql(rule: Rule, on: dt.date):
    """A ``school_stage`` rule (:func:`models.eligibility_rules._school_stage`): a recorded enrolment in a school
    stage (latest ``school_enrolment`` record) decides — met when it is the rule's stage —; otherwise (no record, or
    未入学/幼儿园) the birth date by the 1 September rule, :func:`~models.eligibility_rules.school_stage_births`
    (义务教育: school years 1-9; 普通高中 and 中等职业教育: 10-12)."""
    first, last = school_stage_births(rule.stage, on)
    return sa.or_(latest_fact_in("school_enrolment", (rule.stage,)),
                  sa.and_(~latest_fact_in("school_enrolment", SCHOOL_STAGES), Child.birth_date.between(first, last)))


def _place_key(column) -> Any:
    """What the place test compares of a county code ``column``: the code as :func:`models.regions.get_county`
    resolves it (a former code → its successor), except that every central district of a city (中心城区的市辖区,
    ``policy/regions.yaml``) is the key ``centre-<city>``. Two counties pass the test (:func:`models.eligibility.
    _place_test`: not the same county, and not two central districts of one city) exactly when their keys differ;
    one ``CASE`` a column."""
    regions = load_regions()
    keys = {code: f"centre-{city}" for city, codes in regions.central_districts().items() for code in codes}
    keys |= {former: keys.get(successor, successor) for former, successor in regions.former_successors().items()}
    return sa.case(keys, value=column, else_=column)


def migrant_sql(on: dt.date):
    """流动儿童 (:func:`models.eligibility.assess_migrant_child`, 方案 一): under 16 on ``on`` (still on the 16th
    birthday), registration and residence in different counties that are not two central districts of one city
    (城市中心城区的市辖区之间的除外; :func:`_place_key`), six months of residence by ``on`` (from arrival, or from birth
    when later): the dates by :func:`~models.eligibility.migrant_date_bounds`."""
    bounds = migrant_date_bounds(on)
    return sa.and_(Child.birth_date > bounds.born_after, Child.birth_date <= bounds.resident_by,
                   Child.arrival_date <= bounds.resident_by,
                   _place_key(Child.hukou_county_code) != _place_key(Child.residence_county_code))


# --------------------------------------------------------------------------------------------- items


def rule_sql(rule: Rule, on: dt.date):
    """SQL on :class:`Child` that holds exactly when ``rule`` is met on ``on`` (``any_of``: one of them met)."""
    if rule.name == "migrant_child":
        return migrant_sql(on)
    if rule.name == "age":
        return age_sql(rule, on)
    if rule.name == "school_stage":
        return school_stage_sql(rule, on)
    if rule.name == "any_of":  # yes/no facts besides disability: one look-up of the latest records of them all
        facts = [r.name for r in rule.any_of if r.name in FACT_RULES and r.name != "disability"]
        others = [rule_sql(r, on) for r in rule.any_of if r.name not in facts]
        return sa.or_(*([latest_fact_in(facts, ("yes",))] if facts else []), *others)
    return fact_sql(rule.name)


def item_rules(number: int) -> tuple[Rule, ...]:
    """Item ``number``'s rules, the migrant-child rule first (as :func:`models.eligibility_rules.evaluate_item`).

    Raises:
        KeyError: not an item of the provincial list (the callers check the number first).
    """
    rules = load_policy().service_items[number].eligibility
    return tuple(rules) if any(r.name == "migrant_child" for r in rules) else (Rule("migrant_child"), *rules)


def qualifies(number: int, on: dt.date):
    """SQL on :class:`Child`: every rule of item ``number`` is met on ``on``."""
    return sa.and_(*(rule_sql(r, on) for r in item_rules(number)))


def referred_item(parameters: Mapping[str, Any] | None) -> int | None:
    """The item a ``service_referral`` run's ``parameters`` refer (``item``: digits or a whole number), else None."""
    number = str((parameters or {}).get("item", ""))
    return int(number) if number.isdigit() else None


def referred_sql(number: int, *, open_only: bool = False):
    """SQL on :class:`Child`: a ``service_referral`` run of item ``number`` exists on one of the child's cases (any
    status; ``open_only``: one still open, starting or running) — :func:`referred_item` in SQL: ``item`` as text,
    leading zeros dropped (``"11"``, ``11``, ``"011"``)."""
    item_text = sa.func.ltrim(sa.cast(PathwayRun.parameters["item"].as_string(), sa.String), "0")
    conditions = [Case.child_id == Child.id, PathwayRun.case_id == Case.id, PathwayRun.pathway == PATHWAY,
                  item_text == str(number)]
    if open_only:
        conditions.append(PathwayRun.status.in_(OPEN_PATHWAY_STATUSES))
    return sa.exists().where(*conditions)


def unreferred_children(number: int, on: dt.date, scope) -> sa.Select:
    """``SELECT child`` of the children inside ``scope`` (an SQL condition on :class:`Child`, e.g.
    :func:`web.scope.child_in`) who meet every rule of item ``number`` on ``on`` and were never referred for it.
    Without order or limit: the caller pages it (``web.paging.fetch_page``: one statement for the page, one for the
    bounded count)."""
    return sa.select(Child).where(scope, qualifies(number, on), ~referred_sql(number))
