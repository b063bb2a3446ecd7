"""Programmes (关爱服务活动, service-list items 18-20; 方案 （九）（十）（十一）) as data: the same rules as the pages
(:mod:`web.routes.programmes`): an officer's unit records its programmes and their attendance; caseworkers and managers
read those of their counties. No child's name or ID number is ever part of a programme."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BaseModel, Field, field_validator
from sqlmodel import select

from careflow.programmes import ProgrammeInput, programme_items, record_attendance, record_programme
from models.agency import AgencyUnit
from models.errors import FieldValueError
from models.programmes import InvitationStatus, Programme, ProgrammeInvitation
from web.api_errors import api_invalid
from web.deps import ApiCaller, ApiOfficer, DbDep
from web.i18n import labels_of
from web.inputs import Text, _In
from web.names import county_label
from web.routes.programmes import PAGE_SIZE, programme_scope, visible_programme
from web.scope import NotAllowed
from models.user import UserRole

router = APIRouter(tags=["programmes"])


class ProgrammeIn(_In):
    """A programme to record: ``starts_at`` with its offset (e.g. ``2027-01-16T09:30:00+08:00``), years 2000-2100;
    ``county``: the county whose children it is for (inside the unit's jurisdiction)."""

    item: int = Field(ge=1, le=999, description="service-list item delivered as programmes: 18, 19 or 20")
    title: Text(120, 1)
    starts_at: AwareDatetime
    place: Text(200, 1)
    county: str = Field(pattern=r"^\d{6}$")
    capacity: int = Field(ge=1, le=10000, description="children who can be invited")
    description: Text(1000, multiline=True) = ""

    @field_validator("starts_at")
    @classmethod
    def _plausible(cls, value: dt.datetime) -> dt.datetime:
        if not 2000 <= value.year <= 2100:
            raise FieldValueError("starts_at", "problem.year_between", first=2000, last=2100,
                                  labels=labels_of("programme.starts_at"))
        return value.astimezone(dt.timezone.utc)


class AttendanceIn(_In):
    """Who came: the invitations (ids) whose children attended — the others invited are absent — and the children
    who came without a referral."""

    attended: list[uuid.UUID] = Field(default_factory=list, max_length=10000)
    walk_ins: int = Field(0, ge=0, le=100000)


class ProgrammeOut(BaseModel):
    """A programme: what, when (UTC), where, for which county, by whom; seats taken of ``capacity``; once attendance
    is recorded (``attendance_at``), invited children who ``attended`` or were ``absent`` and ``walk_ins``."""

    id: uuid.UUID
    item: int
    service: str
    title: str
    starts_at: dt.datetime
    place: str
    county_code: str
    county_name: str
    organiser_unit_code: str
    organiser_name: str
    capacity: int
    invited_count: int
    attended: int
    absent: int
    walk_ins: int
    attendance_at: dt.datetime | None


def _out(db, programme: Programme) -> ProgrammeOut:
    counts = {str(getattr(k, "value", k)): v for k, v in db.exec(
        select(ProgrammeInvitation.status, sa.func.count()).where(ProgrammeInvitation.programme_id == programme.id)
        .group_by(ProgrammeInvitation.status)).all()}
    unit = db.get(AgencyUnit, programme.organiser_unit_code)
    return ProgrammeOut(
        id=programme.id, item=programme.item, service=programme_items().get(programme.item, ""),
        title=programme.title, starts_at=programme.starts_at, place=programme.place,
        county_code=programme.county_code, county_name=county_label(programme.county_code),
        organiser_unit_code=programme.organiser_unit_code, organiser_name=unit.name if unit else "",
        capacity=programme.capacity, invited_count=programme.invited_count,
        attended=counts.get(InvitationStatus.attended.value, 0), absent=counts.get(InvitationStatus.absent.value, 0),
        walk_ins=programme.walk_ins, attendance_at=programme.attendance_at)


def _reader(caller) -> None:
    if UserRole(caller.user.role) not in (UserRole.agency_officer, UserRole.caseworker, UserRole.manager):
        raise NotAllowed("only officers, caseworkers and managers read programmes")


@router.get("/programmes", response_model=list[ProgrammeOut])
def list_programmes(db: DbDep, caller: ApiCaller,
                    page: Annotated[int, Query(ge=1, le=10_000, description="page, from 1")] = 1) -> list[ProgrammeOut]:
    """The programmes the caller may see (an officer: their unit's; others: their counties'), latest first,
    50 a page."""
    _reader(caller)
    rows = db.exec(select(Programme).where(programme_scope(caller.user))
                   .order_by(Programme.starts_at.desc(), Programme.id)
                   .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    return [_out(db, p) for p in rows]


@router.post("/programmes", response_model=ProgrammeOut, status_code=201)
def create_programme(request: Request, db: DbDep, user: ApiOfficer, data: ProgrammeIn) -> ProgrammeOut:
    """Record a programme organised by the officer's unit; the children waiting for its item in its county are
    invited at once (oldest referral first, up to ``capacity``). 422 names a wrong field and its value."""
    unit = db.get(AgencyUnit, user.unit_code) if user.unit_code else None
    try:
        if unit is None:
            raise FieldValueError("", "problem.account_without_unit")
        programme = record_programme(db, unit, ProgrammeInput(
            item=data.item, title=data.title, starts_at=data.starts_at, place=data.place, county_code=data.county,
            capacity=data.capacity, description=data.description), actor=user.username)
    except ValueError as exc:
        db.rollback()
        raise api_invalid(request, exc) from None
    return _out(db, programme)


@router.get("/programmes/{programme_id}", response_model=ProgrammeOut)
def read_programme(db: DbDep, caller: ApiCaller, programme_id: uuid.UUID) -> ProgrammeOut:
    """One programme the caller may see (404 otherwise)."""
    _reader(caller)
    return _out(db, visible_programme(db, caller.user, programme_id))


@router.post("/programmes/{programme_id}/attendance", response_model=ProgrammeOut)
def record_programme_attendance(request: Request, db: DbDep, user: ApiOfficer, programme_id: uuid.UUID,
                                data: AttendanceIn) -> ProgrammeOut:
    """Record who attended (once the programme has begun; 422 before); may be corrected by sending it again."""
    programme = visible_programme(db, user, programme_id)
    try:
        record_attendance(db, programme, set(data.attended), walk_ins=data.walk_ins, actor=user.username)
    except ValueError as exc:
        db.rollback()
        raise api_invalid(request, exc) from None
    return _out(db, programme)
