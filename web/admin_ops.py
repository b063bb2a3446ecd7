"""Agency units (承办单位) as the admin manages them: create and update, audited (``unit.created``/``unit.updated``).

A unit is never deleted (tasks refer to it): it is deactivated, and routing then skips it.
"""
from __future__ import annotations

from sqlmodel import Session

from careflow.audit import record_audit
from models.agency import AgencyUnit
from models.policy import load_policy
from web.schemas import UnitCreate, UnitUpdate


def _check_type(agency_type: str) -> None:
    if agency_type not in load_policy().agencies:
        raise ValueError(f"field 'agency_type': {agency_type!r} is not an agency of policy/agencies.yaml")


def create_unit(session: Session, data: UnitCreate, *, actor: str) -> AgencyUnit:
    """Add an agency unit.

    Raises:
        ValueError: the code is taken or the agency type unknown (naming the field).
    """
    if session.get(AgencyUnit, data.code) is not None:
        raise ValueError(f"field 'code': unit {data.code!r} exists")
    _check_type(data.agency_type)
    unit = AgencyUnit(**data.model_dump())
    session.add(unit)
    record_audit(session, actor=actor, action="unit.created", entity_type="agency_unit", entity_id=unit.code,
                 detail=data.model_dump())
    return unit


def update_unit(session: Session, unit: AgencyUnit, data: UnitUpdate, *, actor: str) -> AgencyUnit:
    """Change a unit's type, jurisdiction, name or active flag (``None`` leaves a field alone)."""
    changes = data.model_dump(exclude_none=True)
    if "agency_type" in changes:
        _check_type(changes["agency_type"])
    for field, value in changes.items():
        setattr(unit, field, value)
    session.add(unit)
    record_audit(session, actor=actor, action="unit.updated", entity_type="agency_unit", entity_id=unit.code,
                 detail=changes)
    return unit
