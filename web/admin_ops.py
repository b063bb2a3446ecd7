"""Agency units (承办单位) as the admin manages them: create and update, audited (``unit.created``/``unit.updated``);
and messages given up after their last retry: listed a page at a time and re-sent on request.

A unit is never deleted (tasks refer to it): it is deactivated, and routing then skips it.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from core.audit import record_audit
from models.agency import AgencyUnit
from models.errors import FieldValueError
from models.notification import DeliveryStatus, Notification
from models.policy import load_policy
from notifications.outbox import requeue_given_up
from web.inputs import UnitCreate, UnitUpdate

#: Given-up messages per page of the admin's list.
GIVEN_UP_PER_PAGE = 50


def _check_type(agency_type: str) -> None:
    if agency_type not in load_policy().agencies:
        raise FieldValueError("agency_type", "problem.not_an_agency_type", value=agency_type)


def create_unit(session: Session, data: UnitCreate, *, actor: str) -> AgencyUnit:
    """Add an agency unit.

    Raises:
        ValueError: the code is taken or the agency type unknown (naming the field).
    """
    if session.get(AgencyUnit, data.code) is not None:
        raise FieldValueError("code", "problem.unit_exists", value=data.code)
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


@dataclass(frozen=True)
class GivenUpPage:
    """One page of given-up messages, newest first: ``rows``, the 1-based ``page``, ``pages`` and ``total``."""

    rows: list[Notification]
    page: int
    pages: int
    total: int


def given_up_messages(session: Session, *, page: int = 1, per_page: int = GIVEN_UP_PER_PAGE) -> GivenUpPage:
    """The ``page``-th page (1-based; clipped to the last) of messages given up after their last retry.

    Two queries on the status index (a count and one page); given-up messages are few, since any later delivery
    to their channel requeues them (:func:`notifications.outbox.requeue_channel`).
    """
    given_up = Notification.status == DeliveryStatus.given_up
    total = session.exec(select(sa.func.count()).select_from(Notification).where(given_up)).one()
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    rows = session.exec(select(Notification).where(given_up)
                        .order_by(Notification.created_at.desc(), Notification.id)
                        .offset((page - 1) * per_page).limit(per_page)).all()
    return GivenUpPage(list(rows), page, pages, total)


def resend_given_up(session: Session, notification_id: uuid.UUID, *, actor: str) -> bool:
    """Queue a given-up message again (audited ``notification.resend_requested`` by ``actor``); False when it is
    not, or no longer, given up. The next dispatch pass sends it."""
    return requeue_given_up(session, notification_id, actor=actor)
