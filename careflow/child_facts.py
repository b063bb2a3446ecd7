"""Recording and reading the facts of a child's file that the service list's target groups need.

A caseworker (the child's page), the survey or a department's answer records a fact (:mod:`models.child_facts`)
with its source and the date it was established; every record is kept and audited (``child.fact_recorded``),
and the latest one is the fact's value (:func:`latest_facts`). :func:`child_profile` gives the rules of
:mod:`models.eligibility_rules` what they read. One statement per read, bounded by one child's records.
"""
from __future__ import annotations

import datetime as dt
import uuid

import pendulum
from sqlmodel import Session, select

from core.audit import record_audit
from core.i18n import LANGUAGES, gettext
from core.settings import get_settings
from models.child import Child
from models.child_facts import ChildFact, check_fact_value
from models.errors import FieldLookupError, FieldValueError
from models.eligibility_rules import ChildProfile, KnownFact

__all__ = ["child_profile", "fact_history", "latest_facts", "record_child_fact", "today"]


def today() -> dt.date:
    """Today's calendar date in the configured time zone (Asia/Shanghai)."""
    return pendulum.now(get_settings().timezone).date()


def record_child_fact(session: Session, *, child_id: uuid.UUID, key: str, value: str, source: str, actor: str,
                      established_on: dt.date | None = None, source_detail: str = "", note: str = "") -> ChildFact:
    """Record that ``key`` is ``value`` for the child, as ``source`` established on ``established_on`` (default
    today); audited ``child.fact_recorded`` (fact, value and source; never the child's name).

    Raises:
        ValueError: an unknown fact, value or source, a date in the future, a text too long (a FieldValueError
            naming the field, worded in the reader's language). LookupError: no such child (FieldLookupError).
    """
    problem = check_fact_value(key, value, source)
    if problem:
        raise problem
    if session.get(Child, child_id) is None:
        raise FieldLookupError("child_id", "problem.no_child", child_id=child_id)
    established_on = established_on or today()
    if established_on > today():
        raise FieldValueError("established_on", "problem.date_in_future", value=established_on)
    if len(source_detail) > 200:
        raise FieldValueError("source_detail", "problem.too_long", n=200, have=len(source_detail))
    if len(note) > 500:  # the form's 备注, not the catalogues' field.note (情况说明)
        raise FieldValueError("note", "problem.too_long", n=500, have=len(note),
                              labels={lang: gettext("facts.note", lang) for lang in LANGUAGES})
    fact = ChildFact(child_id=child_id, fact_key=key, value=value, source=source, source_detail=source_detail.strip(),
                     established_on=established_on, note=note.strip(), recorded_by=actor)
    session.add(fact)
    record_audit(session, actor=actor, action="child.fact_recorded", entity_type="child", entity_id=child_id,
                 detail={"fact": key, "value": value, "source": source, "established_on": established_on.isoformat()})
    return fact


def fact_history(session: Session, child_id: uuid.UUID) -> list[ChildFact]:
    """Every fact recorded on the child, oldest first (by date established, then time recorded)."""
    session.flush()
    return list(session.exec(select(ChildFact).where(ChildFact.child_id == child_id).order_by(
        ChildFact.fact_key, ChildFact.established_on, ChildFact.recorded_at, ChildFact.id)).all())


def latest_facts(session: Session, child_id: uuid.UUID) -> dict[str, KnownFact]:
    """The latest record of each fact of the child: fact key → :class:`KnownFact`."""
    latest: dict[str, ChildFact] = {}
    for row in fact_history(session, child_id):
        latest[row.fact_key] = row  # ordered oldest first: the last one wins
    return {key: KnownFact(row.value, row.source, row.established_on, row.source_detail)
            for key, row in latest.items()}


def child_profile(session: Session, child: Child) -> ChildProfile:
    """What the target-group rules read of ``child``: birth date, counties, arrival, key care grounds, facts."""
    return ChildProfile(birth_date=child.birth_date, hukou_county_code=child.hukou_county_code,
                        residence_county_code=child.residence_county_code, arrival_date=child.arrival_date,
                        key_care_criteria=tuple(child.key_care_criteria or ()),
                        facts=latest_facts(session, child.id))
