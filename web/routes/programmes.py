"""Programmes (关爱服务活动, service-list items 18-20; 方案 （九）（十）（十一）): the organiser records a programme and, after
it, who attended; caseworkers and managers read the programmes of their jurisdiction.

* An agency officer's unit is the organiser (a department, a township station, a school, a social-work organisation
  on contract): it records programmes for the counties inside its jurisdiction, sees its own programmes and the
  children invited by their invitation code and case reference — never a child's name or ID number — and records
  attendance.
* Caseworkers and managers see the programmes of the counties their jurisdiction lies in or contains, with the
  figures, not the children (a caseworker sees each of their children's invitation on the case page).
"""
from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from sqlmodel import Session, select
from starlette.responses import Response

from core.settings import get_settings
from careflow.programmes import (ProgrammeInput, programme_items, programme_problems, record_attendance,
                                 record_programme)
from careflow.routing import jurisdiction_prefix
from models.agency import AgencyUnit
from models.base import utcnow
from models.case import Case
from models.errors import FieldValueError, raise_problems
from models.programmes import PROGRAMME_MEASURES, InvitationStatus, Programme, ProgrammeInvitation
from models.regions import load_regions
from models.user import UserRole, WebUser
from web import forms
from web.deps import DbDep, FormDep, OfficerPage, PageUser, csrf_protect
from web.form_pages import form_page
from web.i18n import labels_of
from web.names import county_label, people_names
from web.scope import NotAllowed, NotVisible
from web.templating import redirect, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

#: Programmes per page of the list.
PAGE_SIZE = 50
ProgrammePage = Annotated[int, Query(ge=1, le=10_000)]


def _readers(user: WebUser) -> WebUser:
    if UserRole(user.role) not in (UserRole.agency_officer, UserRole.caseworker, UserRole.manager):
        raise NotAllowed(f"role {UserRole(user.role).value!r} may not read programmes")
    return user


def programme_scope(user: WebUser):
    """SQL condition on :class:`Programme`: an officer's unit's own programmes; for a caseworker or manager, those of
    the counties inside their jurisdiction (the jurisdiction's county, for a township or village)."""
    if UserRole(user.role) == UserRole.agency_officer:
        return Programme.organiser_unit_code == (user.unit_code or "")
    county = jurisdiction_prefix(user.jurisdiction_code)[:6]
    if len(county) == 6:
        return Programme.county_code == county
    return Programme.county_code.between(county.ljust(6, "0"), county.ljust(6, "9"))


def visible_programme(db: Session, user: WebUser, programme_id: uuid.UUID) -> Programme:
    """The programme if the user may see it (:func:`programme_scope`); NotVisible (404) otherwise."""
    programme = db.exec(select(Programme).where(Programme.id == programme_id, programme_scope(user))).first()
    if programme is None:
        raise NotVisible(f"programme {programme_id} not found")
    return programme


def _counties_of(unit: AgencyUnit) -> list[tuple[str, str]]:
    """(code, name) of the counties a unit may hold programmes for: those inside its jurisdiction, or the county
    its township or village lies in."""
    prefix = jurisdiction_prefix(unit.jurisdiction_code)
    return [(c.code, c.full_name) for c in load_regions().counties
            if c.code.startswith(prefix[:6]) or unit.jurisdiction_code.startswith(c.code)]


@router.get("/programmes")
def programmes_page(request: Request, db: DbDep, user: PageUser, page: ProgrammePage = 1) -> Response:
    """The programmes the user may see, latest first, :data:`PAGE_SIZE` a page, each with seats taken and
    attendance."""
    _readers(user)
    scope = programme_scope(user)
    total = db.exec(select(sa.func.count()).select_from(Programme).where(scope)).one()
    rows = db.exec(select(Programme, AgencyUnit.name).join(AgencyUnit, AgencyUnit.code == Programme.organiser_unit_code)
                   .where(scope).order_by(Programme.starts_at.desc(), Programme.id)
                   .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    attended = _attended(db, [p.id for p, _ in rows])
    return render(request, "programmes_list.html", {
        "rows": [(p, name, county_label(p.county_code), attended.get(p.id, 0)) for p, name in rows],
        "items": programme_items(), "measures": PROGRAMME_MEASURES, "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)), "total": total, "done": request.query_params.get("done")})


def _attended(db: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    if not ids:
        return {}
    return dict(db.exec(select(ProgrammeInvitation.programme_id, sa.func.count()).where(
        ProgrammeInvitation.programme_id.in_(ids), ProgrammeInvitation.status == InvitationStatus.attended.value)
        .group_by(ProgrammeInvitation.programme_id)).all())


def _new_page(request: Request, db: Session, user: WebUser, *, errors=(), values=None, status: int = 200):
    unit = db.get(AgencyUnit, user.unit_code)
    counties = _counties_of(unit) if unit else []
    return render(request, "programme_new.html", {
        "items": programme_items(), "measures": PROGRAMME_MEASURES, "counties": counties, "unit": unit,
        "errors": errors, "values": values or {"county": counties[0][0] if len(counties) == 1 else ""}}, status)


@router.get("/programmes/new")
def new_programme_page(request: Request, db: DbDep, user: OfficerPage) -> Response:
    """The form an organiser fills in: item, title, date and time (Beijing time), place, county, capacity."""
    return _new_page(request, db, user)


def _whole(form, name: str, label_key: str, *, least: int = 1) -> int:
    """The whole number typed in ``name``, at least ``least`` (1: a positive whole number; 0: not negative).

    Raises:
        FieldValueError: not a whole number (「“很多”不是整数」), or a whole number below ``least``
            (「“-3”须为正整数」, 「“-3”不能为负数」), naming the field by ``label_key`` and quoting the value.
    """
    text = str(form.get(name) or "").strip()
    if not re.fullmatch(r"[+-]?\d+", text):
        raise FieldValueError(name, "problem.not_whole_number", value=text[:20], labels=labels_of(label_key))
    number = int(text)
    if number < least:
        raise FieldValueError(name, "problem.not_positive_whole" if least >= 1 else "problem.negative_whole",
                              value=text[:20], labels=labels_of(label_key))
    return number


def _text(form, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _starts_at(text: str) -> dt.datetime:
    """A ``datetime-local`` value (Beijing time) as UTC-aware; ValueError naming the field ``starts_at``."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise FieldValueError("starts_at", "problem.not_datetime", value=text[:30], example="2027-01-16 09:30",
                              labels=labels_of("programme.starts_at")) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(get_settings().timezone))
    return value.astimezone(dt.timezone.utc)


@router.post("/programmes")
@form_page("/programmes/new")
def record_programme_form(request: Request, db: DbDep, user: OfficerPage, form: FormDep) -> Response:
    """Record the programme; errors (naming the field and the value) are shown on the form, nothing is stored.
    Waiting children of the county and item are invited at once."""
    unit = db.get(AgencyUnit, user.unit_code)
    values = {k: v for k, v in form.items() if k != "csrf_token" and isinstance(v, str)}
    try:
        if unit is None:
            raise FieldValueError("", "problem.account_without_unit")
        problems: list[FieldValueError] = []  # every field's problem at once, beside its field

        def typed(read, fallback):
            try:
                return read()
            except FieldValueError as exc:
                problems.append(exc)
                return fallback

        starts_at = typed(lambda: _starts_at(_text(form, "starts_at")), None)
        data = ProgrammeInput(item=typed(lambda: _whole(form, "item", "programme.item"), 0),
                              title=_text(form, "title"), starts_at=starts_at, place=_text(form, "place"),
                              county_code=_text(form, "county"),
                              capacity=typed(lambda: _whole(form, "capacity", "programme.capacity"), 1),
                              description=_text(form, "description"))
        if problems:  # what the form refused, and what the programme's own checks say of the other fields
            raise_problems(problems + programme_problems(data, unit, skip=frozenset(p.field for p in problems)))
        programme = record_programme(db, unit, data, actor=user.username)
    except ValueError as exc:
        db.rollback()
        return _new_page(request, db, user, errors=forms.error_lines(exc), values=values, status=400)
    db.commit()
    return redirect(f"/programmes/{programme.id}?done=recorded")


def _detail(request: Request, db: Session, user: WebUser, programme: Programme, *, errors=(), status: int = 200):
    organiser = UserRole(user.role) == UserRole.agency_officer
    counts = dict(db.exec(select(ProgrammeInvitation.status, sa.func.count()).where(
        ProgrammeInvitation.programme_id == programme.id).group_by(ProgrammeInvitation.status)).all())
    invited = []
    if organiser:  # the organiser takes attendance by invitation code and case reference: no child's name
        rows = db.exec(select(ProgrammeInvitation, Case.reference, Case.caseworker)
                       .join(Case, Case.id == ProgrammeInvitation.case_id)
                       .where(ProgrammeInvitation.programme_id == programme.id)
                       .order_by(ProgrammeInvitation.invited_at, ProgrammeInvitation.id)).all()
        names = people_names(db, [cw for _, _, cw in rows])
        invited = [(i, ref, names.get(cw, cw)) for i, ref, cw in rows]
    unit = db.get(AgencyUnit, programme.organiser_unit_code)
    return render(request, "programme_detail.html", {
        "p": programme, "unit_name": unit.name if unit else programme.organiser_unit_code,
        "county": county_label(programme.county_code), "items": programme_items(), "measures": PROGRAMME_MEASURES,
        "counts": {str(getattr(k, "value", k)): v for k, v in counts.items()}, "invited": invited,
        "organiser": organiser, "started": programme.starts_at <= utcnow(), "errors": errors,
        "done": request.query_params.get("done")}, status)


@router.get("/programmes/{programme_id}")
def programme_page(request: Request, db: DbDep, user: PageUser, programme_id: uuid.UUID) -> Response:
    """One programme: what, when, where, who organises it, seats and attendance; the organiser also sees the invited
    children (invitation code, case reference, caseworker) and the attendance form once the programme began."""
    programme = visible_programme(db, _readers(user), programme_id)
    return _detail(request, db, user, programme)


@router.post("/programmes/{programme_id}/attendance")
@form_page("/programmes/{programme_id}")
def attendance_form(request: Request, db: DbDep, user: OfficerPage, programme_id: uuid.UUID, form: FormDep
                    ) -> Response:
    """The organiser records who attended (checked invitations; the others are absent) and how many children came
    without a referral; may be corrected later."""
    programme = visible_programme(db, user, programme_id)
    try:
        attended = {uuid.UUID(v) for v in form.getlist("attended") if isinstance(v, str)}
        walk_ins = _whole(form, "walk_ins", "programme.walk_ins", least=0) if _text(form, "walk_ins") else 0
        record_attendance(db, programme, attended, walk_ins=walk_ins, actor=user.username)
    except ValueError as exc:
        db.rollback()
        return _detail(request, db, user, programme, errors=forms.error_lines(exc), status=400)
    db.commit()
    return redirect(f"/programmes/{programme.id}?done=attendance")


def case_invitations(db: Session, case_id: uuid.UUID) -> list[dict]:
    """The case's programme invitations for the case page: item, status, and the programme's title, time, place and
    organiser (none while waiting), the invitation's code, and whether its place can still be given back
    (``withdrawable``: waiting, or invited to a programme that has not begun; :mod:`careflow.programme_seats`)."""
    rows = db.exec(select(ProgrammeInvitation, Programme, AgencyUnit.name)
                   .outerjoin(Programme, Programme.id == ProgrammeInvitation.programme_id)
                   .outerjoin(AgencyUnit, AgencyUnit.code == Programme.organiser_unit_code)
                   .where(ProgrammeInvitation.case_id == case_id).order_by(ProgrammeInvitation.created_at)).all()
    now = utcnow()
    held = (InvitationStatus.waiting.value, InvitationStatus.invited.value)
    return [{"item": i.item, "status": str(getattr(i.status, "value", i.status)), "programme": p, "unit_name": name,
             "code": i.id.hex[:8],
             "withdrawable": str(getattr(i.status, "value", i.status)) in held and (p is None or p.starts_at > now)}
            for i, p, name in rows]
