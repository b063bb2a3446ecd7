"""Registering a child (登记): identity, counties, residence area and arrival date checked, the child and guardians
stored, and the migrant-child test of the policy's section 一 made as of the registration date.

:func:`register_child` reports every field's problem at once (:class:`RegistrationProblems` when there are
several; each a ``ValueError`` naming its field), so a form marks them all; nothing is stored then. The resident ID
is normalised and gives the birth date (:mod:`models.resident_id`); counties are GB/T 2260 codes or names
(:func:`models.regions.get_county`); the arrival date is checked against the birth date and today
(:func:`models.eligibility.check_arrival_date`). A child registered with key care criteria who is a key care target
(a migrant child, 方案 一（二）) gets the key care file, its duties and the family guardianship assessment at once
(:func:`careflow.key_care.open_key_care`, the rule every door shares). Opening a case for the child is
:mod:`careflow.cases`'s.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pendulum
from sqlmodel import Session, select

from careflow.key_care import open_key_care
from core.audit import record_audit
from core.settings import get_settings
from models.child import Child, Guardian, resident_id_is
from models.eligibility import KeyCareCriterion, MigrantAssessment, assess_migrant_child, check_arrival_date
from models.errors import FieldProblems, FieldValueError
from models.regions import Region, UnknownRegion, get_county
from models.resident_id import birth_date_of, normalize_resident_id


class RegistrationProblems(FieldProblems, ValueError):
    """More than one field of a registration is wrong: ``problems`` holds each one's error (the form marks them all
    at once; the command line words them all on one line)."""


@dataclass
class Registration:
    """A stored child and the migrant-child test (方案 一) as of the registration date."""

    child: Child
    assessment: MigrantAssessment


def register_child(
    session: Session,
    *,
    resident_id: str,
    full_name: str,
    hukou_county: str,
    residence_county: str,
    arrival_date: date,
    actor: str,
    residence_area_code: str = "",
    residence_address: str = "",
    sex: str = "",
    key_care_criteria: set[KeyCareCriterion] | None = None,
    guardians: list[dict] | None = None,
    on: date | None = None,
) -> Registration:
    """Validate and store a child (and guardians); return it with its migrant-child assessment.

    ``hukou_county`` / ``residence_county``: GB/T 2260 code or name. ``residence_area_code``: the
    township (9 digits) or village/community (12 digits) code under the residence county, used to
    route village-committee and township tasks. The birth date is read from the resident ID. A migrant child
    registered with ``key_care_criteria`` gets their key care file, its contact and visit duties and the family
    guardianship assessment at once (:func:`careflow.key_care.open_key_care`).

    Raises:
        InvalidResidentID: bad ID (names the field and value). UnknownRegion: unknown county.
        ValueError: an area code outside the residence county, an empty name, a duplicate ID, an arrival date
            before the birth date or after today (after ``on`` when that is later; :func:`check_arrival_date`).
        RegistrationProblems: more than one of these at once (each in ``problems``).
    """
    checked = _checked_registration(session, resident_id=resident_id, full_name=full_name,
                                    hukou_county=hukou_county, residence_county=residence_county,
                                    residence_area_code=residence_area_code, arrival_date=arrival_date, on=on)
    assessment = assess_migrant_child(
        birth_date=checked.birth_date, hukou_county=checked.hukou.code, residence_county=checked.residence.code,
        arrival_date=arrival_date, on=checked.on,
    )
    child = Child(
        resident_id=checked.resident_id, full_name=full_name.strip(), sex=sex, birth_date=checked.birth_date,
        hukou_county_code=checked.hukou.code, residence_county_code=checked.residence.code,
        residence_area_code=residence_area_code, residence_address=residence_address,
        arrival_date=arrival_date, key_care_criteria=sorted(c.value for c in (key_care_criteria or set())),
        created_by=actor,
    )
    _store_child(session, child, guardians or [], assessment, actor=actor)
    return Registration(child=child, assessment=assessment)


@dataclass(frozen=True)
class _CheckedRegistration:
    """A registration's checked fields: the normalised resident ID, the birth date it gives, the counties, and the
    date the migrant-child test is made on."""

    resident_id: str
    birth_date: date
    hukou: Region
    residence: Region
    on: date


def _checked_registration(session: Session, *, resident_id: str, full_name: str, hukou_county: str,
                          residence_county: str, residence_area_code: str, arrival_date: date,
                          on: date | None) -> _CheckedRegistration:
    """Check every field of a registration at once (see :func:`register_child`), not one problem per submission.

    Raises:
        ValueError (InvalidResidentID, UnknownRegion): the one problem. RegistrationProblems: several.
    """
    problems: list[ValueError] = []

    def checked(check):
        try:
            return check()
        except ValueError as exc:  # InvalidResidentID and UnknownRegion are ValueErrors too
            problems.append(exc)
            return None

    rid = checked(lambda: normalize_resident_id(resident_id))
    if not full_name.strip():
        problems.append(FieldValueError("full_name", "problem.required"))
    hukou = checked(lambda: _county(hukou_county, "hukou_county"))
    residence = checked(lambda: _county(residence_county, "residence_county"))
    if residence and residence_area_code and not residence_area_code.startswith(residence.code):
        problems.append(FieldValueError("residence_area_code", "problem.area_outside_county",
                                        value=residence_area_code, county=f"{residence.code} {residence.full_name}"))
    if rid and session.exec(select(Child).where(resident_id_is(Child.resident_id, rid))).first():
        problems.append(FieldValueError("resident_id", "problem.id_registered", tail=rid[-4:]))
    today = pendulum.now(get_settings().timezone).date()
    on = on or today
    birth = birth_date_of(rid) if rid else None
    wrong_date = check_arrival_date(arrival_date, birth_date=birth, today=max(today, on)) if birth else None
    if wrong_date is not None:
        problems.append(FieldValueError("arrival_date", f"problem.arrival_{wrong_date.code}",
                                        value=arrival_date.isoformat(), birth=birth.isoformat(),
                                        today=max(today, on).isoformat()))
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise RegistrationProblems(problems)
    return _CheckedRegistration(resident_id=rid, birth_date=birth, hukou=hukou, residence=residence, on=on)


def _county(text: str, field: str) -> Region:
    """The county ``text`` names, or :class:`models.regions.UnknownRegion` said of ``field``."""
    try:
        return get_county(text)
    except UnknownRegion as exc:
        raise exc.for_field(field) from None


def _store_child(session: Session, child: Child, guardians: list[dict], assessment: MigrantAssessment, *,
                 actor: str) -> None:
    """Store the child and its guardians, audited ``child.registered`` with the test's result; a child registered
    with key care criteria gets the key care file, its duties and the assessment now, not at the next survey."""
    session.add(child)
    for g in guardians:
        session.add(Guardian(child_id=child.id, **g))
    record_audit(
        session, actor=actor, action="child.registered", entity_type="child", entity_id=child.id,
        detail={"is_migrant": assessment.is_migrant, "reasons": [r.code for r in assessment.reasons if not r.passed]},
    )
    if child.key_care_criteria:  # key care from any door
        session.flush()
        open_key_care(session, child, actor=actor, reason="登记时列为重点关爱服务对象")
