"""Registering children, opening cases and starting pathways (caseworker actions)."""
from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import pendulum
from sqlmodel import Session, select

from careflow.audit import record_audit
from careflow.settings import get_settings
from models.base import utcnow
from models.case import Case, CaseStatus, PathwayRun, PathwayStatus
from models.child import Child, Guardian
from models.eligibility import KeyCareCriterion, MigrantAssessment, assess_migrant_child
from models.policy import load_policy
from models.regions import UnknownRegion, get_county
from models.resident_id import birth_date_of, normalize_resident_id


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
    route village-committee and township tasks. The birth date is read from the resident ID.

    Raises:
        InvalidResidentID: bad ID (names the field and value). UnknownRegion: unknown county.
        ValueError: an area code outside the residence county, an empty name, a duplicate ID.
    """
    rid = normalize_resident_id(resident_id)
    if not full_name.strip():
        raise ValueError("field 'full_name': must not be empty")
    hukou = get_county(hukou_county)
    residence = get_county(residence_county)
    if residence_area_code and not residence_area_code.startswith(residence.code):
        raise ValueError(
            f"field 'residence_area_code': {residence_area_code!r} is not inside county {residence.code}"
        )
    if session.exec(select(Child).where(Child.resident_id == rid)).first():
        raise ValueError(f"field 'resident_id': a child with ID ending {rid[-4:]} is already registered")
    birth = birth_date_of(rid)
    on = on or pendulum.now(get_settings().timezone).date()
    assessment = assess_migrant_child(
        birth_date=birth, hukou_county=hukou.code, residence_county=residence.code,
        arrival_date=arrival_date, on=on,
    )
    child = Child(
        resident_id=rid, full_name=full_name.strip(), sex=sex, birth_date=birth,
        hukou_county_code=hukou.code, residence_county_code=residence.code,
        residence_area_code=residence_area_code, residence_address=residence_address,
        arrival_date=arrival_date, key_care_criteria=sorted(c.value for c in (key_care_criteria or set())),
        created_by=actor,
    )
    session.add(child)
    for g in guardians or []:
        session.add(Guardian(child_id=child.id, **g))
    record_audit(
        session, actor=actor, action="child.registered", entity_type="child", entity_id=child.id,
        detail={"is_migrant": assessment.is_migrant, "reasons": [r.code for r in assessment.reasons if not r.passed]},
    )
    return Registration(child=child, assessment=assessment)


def open_case(session: Session, *, child_id: uuid.UUID, caseworker: str, summary: str = "") -> Case:
    """Open a case on a registered child, held by ``caseworker`` in the child's residence county."""
    child = session.get(Child, child_id)
    if child is None:
        raise LookupError(f"field 'child_id': no child {child_id}")
    today = pendulum.now(get_settings().timezone).format("YYYYMMDD")
    while True:  # 24 random bits per county and day; the unique column is the final guard
        reference = f"CF-{child.residence_county_code}-{today}-{secrets.token_hex(3).upper()}"
        if not session.exec(select(Case.id).where(Case.reference == reference)).first():
            break
    case = Case(
        reference=reference,
        child_id=child.id, county_code=child.residence_county_code, caseworker=caseworker, summary=summary,
    )
    session.add(case)
    record_audit(session, actor=caseworker, action="case.opened", entity_type="case", entity_id=case.id,
                 case_id=case.id, reason=summary)
    return case


def create_pathway_run(
    session: Session, *, case_id: uuid.UUID, pathway: str, actor: str, parameters: dict | None = None
) -> PathwayRun:
    """Record that a pathway starts on a case (the flow run is created by :func:`start_pathway`).

    ``parameters`` are checked by :func:`validate_start_parameters` and stored normalised (e.g. a
    temporary-assistance run needs ``emergency_area_code``; a psychological screening its
    ``screening_result``); nothing is stored when they are wrong.

    Raises:
        KeyError: ``pathway`` is not one of the policy's pathways.
        ValueError: a missing, unknown or ill-typed start parameter (the message names the field).
    """
    if pathway not in load_policy().pathways:
        raise KeyError(f"field 'pathway': {pathway!r} is not a pathway; known: {sorted(load_policy().pathways)}")
    parameters = validate_start_parameters(pathway, parameters or {})
    case = session.get(Case, case_id)
    if case is None:
        raise LookupError(f"field 'case_id': no case {case_id}")
    if case.status == CaseStatus.closed:
        case.status, case.closed_at, case.close_reason = CaseStatus.open, None, ""
        session.add(case)
        record_audit(session, actor=actor, action="case.reopened", entity_type="case", entity_id=case.id,
                     case_id=case.id, reason=f"pathway {pathway} started")
    run = PathwayRun(case_id=case.id, pathway=pathway, parameters=parameters or {}, started_by=actor,
                     started_at=utcnow())
    session.add(run)
    record_audit(session, actor=actor, action="pathway.started", entity_type="pathway_run", entity_id=run.id,
                 case_id=case.id, detail={"pathway": pathway, "parameters": parameters or {}})
    return run


def validate_start_parameters(pathway: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The start parameters of ``pathway`` checked against the policy and normalised.

    The pathway's declared ``start_parameters`` are checked by
    :meth:`models.policy.PathwayDefinition.validate_parameters` (required fields, choices, ``yes``/``no``
    → bool). A pathway with a step routed by the place of the emergency (``jurisdiction_basis:
    emergency_place``, 临时救助 in 急难发生地, 方案 六) also needs ``emergency_area_code``: the GB/T 2260
    township (9 digits) or village/community (12 digits) code of that place, inside a known county.

    Raises:
        ValueError: naming the pathway and the field.
    """
    definition = load_policy().pathway(pathway)
    values = dict(parameters)
    routing: dict[str, str] = {}
    if any(step.jurisdiction_basis == "emergency_place" for step in definition.steps):
        code = str(values.pop("emergency_area_code", "") or "").strip()
        if not code:
            raise ValueError(f"pathway {pathway!r} parameters: field 'emergency_area_code' (急难发生地区划代码) "
                             "is required: the township (9 digits) or village (12 digits) code of the place "
                             "where the emergency happened")
        if not code.isdigit() or len(code) not in (9, 12):
            raise ValueError(f"pathway {pathway!r} parameters: field 'emergency_area_code': {code!r} is not a "
                             "township (9 digits) or village (12 digits) area code")
        try:
            get_county(code[:6])
        except UnknownRegion as exc:
            raise ValueError(f"pathway {pathway!r} parameters: field 'emergency_area_code': {code!r} is not "
                             f"inside a known county ({exc})") from exc
        routing["emergency_area_code"] = code
    validated = {**definition.validate_parameters(values), **routing}
    if definition.item_steps or pathway == "service_referral":
        from models.service_list import referral_item

        try:
            referral_item(validated)  # refuse an item outside the provincial list before anything is stored
        except (KeyError, ValueError) as exc:
            raise ValueError(f"pathway {pathway!r} parameters: {exc}") from None
    return validated


def close_case_if_done(session: Session, case_id: uuid.UUID, reason: str) -> bool:
    """Close the case when none of its pathways is still running; returns whether it closed.

    A case closes with the outcome of its last pathway; starting a new pathway reopens it.
    """
    case = session.get(Case, case_id)
    active = session.exec(select(PathwayRun).where(
        PathwayRun.case_id == case_id,
        PathwayRun.status.in_([PathwayStatus.starting, PathwayStatus.running]))).first()
    if active or case.status == CaseStatus.closed:
        return False
    case.status, case.closed_at, case.close_reason = CaseStatus.closed, utcnow(), reason[:500]
    session.add(case)
    record_audit(session, actor="careflow", action="case.closed", entity_type="case", entity_id=case.id,
                 case_id=case.id, reason=reason)
    return True
