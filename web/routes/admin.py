"""Administration: users (roles, jurisdictions, units, passwords), agency units, and messages given up after their
last retry (re-sent on request). Admin only; audited."""
from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import ValidationError
from sqlmodel import select
from starlette.responses import Response

from careflow.facts import unit_names
from models.agency import AgencyUnit
from models.policy import load_policy
from models.user import UserRole, WebUser
from web import forms
from web.admin_ops import create_unit, given_up_messages, resend_given_up, update_unit
from web.deps import AdminPage, DbDep, FormDep, csrf_protect
from web.form_pages import form_page
from web.invites import INVITE_DAYS, create_invite
from web.list_pages import render_list
from web.lists import USER_SPEC, list_users
from web.inputs import UNIT_CODE, UnitCreate, UnitUpdate, UserCreate, UserUpdate
from web.scope import NotVisible
from web.templating import redirect, render
from web.users import create_user, update_user

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

UnitCode = Annotated[str, Path(pattern=UNIT_CODE)]


def _text(form, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def _choices(db) -> dict:
    return {
        "roles": [r.value for r in UserRole],
        "units": db.exec(select(AgencyUnit).order_by(AgencyUnit.code)).all(),
        "agency_types": sorted(load_policy().agencies.values(), key=lambda a: a.code),
        "invite_days": INVITE_DAYS,
    }


@router.get("/admin/users")
def users_page(request: Request, db: DbDep, user: AdminPage) -> Response:
    """Users a page at a time, by user name: filter by role and active; search by name, jurisdiction or unit."""
    def run(params):
        page = list_users(db, user, params)
        return page, {"users": page.items,
                      "unit_names": unit_names(db, sorted({u.unit_code for u in page.items if u.unit_code}))}

    return render_list(request, "admin_users.html", USER_SPEC, run)


@router.get("/admin/users/new")
def new_user_page(request: Request, db: DbDep, user: AdminPage) -> Response:
    return render(request, "admin_user_form.html", {"edit": None, "values": {"active": True}, "errors": [],
                                                    **_choices(db)})


@router.post("/admin/users")
@form_page("/admin/users/new")
def create_user_form(request: Request, db: DbDep, user: AdminPage, form: FormDep) -> Response:
    try:
        data = UserCreate.model_validate({
            "username": _text(form, "username").strip().lower(), "display_name": _text(form, "display_name"),
            "phone": _text(form, "phone").strip(), "role": _text(form, "role"), "jurisdiction_code": _text(form, "jurisdiction_code").strip(),
            "unit_code": _text(form, "unit_code").strip() or None, "password": _text(form, "password")})
        create_user(db, actor=user.username, **data.model_dump())
    except (ValidationError, ValueError) as exc:
        db.rollback()
        values = {k: v for k, v in form.items() if k not in ("password", "csrf_token") and isinstance(v, str)}
        return render(request, "admin_user_form.html", {"edit": None, "values": values,
                                                        "errors": forms.error_lines(exc), **_choices(db)}, 400)
    db.commit()
    return redirect("/admin/users?done=saved")


def _user(db, user_id: uuid.UUID) -> WebUser:
    found = db.get(WebUser, user_id)
    if found is None:
        raise NotVisible(f"no user {user_id}")
    return found


@router.get("/admin/users/{user_id}")
def edit_user_page(request: Request, db: DbDep, user: AdminPage, user_id: uuid.UUID) -> Response:
    target = _user(db, user_id)
    return render(request, "admin_user_form.html", {"edit": target, "values": target.model_dump(), "errors": [],
                                                    **_choices(db)})


@router.post("/admin/users/{user_id}")
@form_page("/admin/users/{user_id}")
def update_user_form(request: Request, db: DbDep, user: AdminPage, user_id: uuid.UUID, form: FormDep) -> Response:
    target = _user(db, user_id)
    try:
        data = UserUpdate.model_validate({
            "display_name": _text(form, "display_name"), "phone": _text(form, "phone").strip(),
            "role": _text(form, "role"),
            "jurisdiction_code": _text(form, "jurisdiction_code").strip(),
            "unit_code": _text(form, "unit_code").strip(), "active": _text(form, "active") == "yes",
            "password": _text(form, "password") or None})
        update_user(db, target, actor=user.username, **data.model_dump())
    except (ValidationError, ValueError) as exc:
        db.rollback()
        values = {k: v for k, v in form.items() if k not in ("password", "csrf_token") and isinstance(v, str)}
        values["active"] = values.get("active") == "yes"
        return render(request, "admin_user_form.html", {"edit": _user(db, user_id), "values": values,
                                                        "errors": forms.error_lines(exc), **_choices(db)}, 400)
    db.commit()
    return redirect("/admin/users?done=saved")


@router.get("/admin/units")
def units_page(request: Request, db: DbDep, user: AdminPage) -> Response:
    return render(request, "admin_units.html", {"units": db.exec(select(AgencyUnit).order_by(AgencyUnit.code)).all()})


@router.get("/admin/units/new")
def new_unit_page(request: Request, db: DbDep, user: AdminPage) -> Response:
    return render(request, "admin_unit_form.html", {"edit": None, "values": {"active": True}, "errors": [],
                                                    **_choices(db)})


@router.post("/admin/units")
@form_page("/admin/units/new")
def create_unit_form(request: Request, db: DbDep, user: AdminPage, form: FormDep) -> Response:
    try:
        data = UnitCreate.model_validate({
            "code": _text(form, "code").strip(), "agency_type": _text(form, "agency_type"),
            "jurisdiction_code": _text(form, "jurisdiction_code").strip(), "name": _text(form, "name"),
            "active": _text(form, "active") == "yes",
            "answers_by_command": _text(form, "answers_by_command") == "yes"})
        create_unit(db, data, actor=user.username)
    except (ValidationError, ValueError) as exc:
        db.rollback()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        values["active"] = values.get("active") == "yes"
        values["answers_by_command"] = values.get("answers_by_command") == "yes"
        return render(request, "admin_unit_form.html", {"edit": None, "values": values,
                                                        "errors": forms.error_lines(exc), **_choices(db)}, 400)
    db.commit()
    return redirect("/admin/units?done=saved")


@router.get("/admin/units/{code}")
def edit_unit_page(request: Request, db: DbDep, user: AdminPage, code: UnitCode) -> Response:
    unit = db.get(AgencyUnit, code)
    if unit is None:
        raise NotVisible(f"no unit {code}")
    return render(request, "admin_unit_form.html", {"edit": unit, "values": unit.model_dump(), "errors": [],
                                                    **_choices(db)})


@router.post("/admin/units/{code}")
@form_page("/admin/units/{code}")
def update_unit_form(request: Request, db: DbDep, user: AdminPage, code: UnitCode, form: FormDep) -> Response:
    unit = db.get(AgencyUnit, code)
    if unit is None:
        raise NotVisible(f"no unit {code}")
    try:
        data = UnitUpdate.model_validate({
            "agency_type": _text(form, "agency_type"), "jurisdiction_code": _text(form, "jurisdiction_code").strip(),
            "name": _text(form, "name"), "active": _text(form, "active") == "yes",
            "answers_by_command": _text(form, "answers_by_command") == "yes"})
        update_unit(db, unit, data, actor=user.username)
    except (ValidationError, ValueError) as exc:
        db.rollback()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        values["active"] = values.get("active") == "yes"
        values["answers_by_command"] = values.get("answers_by_command") == "yes"
        return render(request, "admin_unit_form.html", {"edit": db.get(AgencyUnit, code), "values": values,
                                                        "errors": forms.error_lines(exc), **_choices(db)}, 400)
    db.commit()
    return redirect("/admin/units?done=saved")


@router.post("/admin/units/{code}/invite")
@form_page("/admin/units/{code}")
def invite_officer(request: Request, db: DbDep, user: AdminPage, code: UnitCode, form: FormDep) -> Response:
    """A one-time link for an officer of the unit to make their own account (:mod:`web.invites`), shown once."""
    unit = db.get(AgencyUnit, code)
    if unit is None:
        raise NotVisible(f"no unit {code}")
    try:
        issued = create_invite(db, unit_code=code, actor=user.username, display_name=_text(form, "invite_name"))
    except ValueError as exc:
        db.rollback()
        return render(request, "admin_unit_form.html", {"edit": unit, "values": unit.model_dump(),
                                                        "errors": forms.error_lines(exc), **_choices(db)}, 400)
    db.commit()
    return render(request, "admin_unit_form.html", {"edit": unit, "values": unit.model_dump(), "errors": [],
                                                    "invite_url": issued.url, "invite": issued.record,
                                                    **_choices(db)})


# --------------------------------------------------------------------------------------------- given-up messages


@router.get("/admin/notifications")
def given_up_page(request: Request, db: DbDep, user: AdminPage,
                  page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    """Messages given up after their last retry, newest first, a page at a time, each with a 重新发送 button."""
    return render(request, "admin_notifications.html", {"listing": given_up_messages(db, page=page)})


@router.post("/admin/notifications/{notification_id}/resend")
@form_page("/admin/notifications")
def resend_form(request: Request, db: DbDep, user: AdminPage, notification_id: uuid.UUID) -> Response:
    """Queue a given-up message again (audited); the next dispatch sends it."""
    done = "resent" if resend_given_up(db, notification_id, actor=user.username) else "not_given_up"
    db.commit()
    return redirect(f"/admin/notifications?done={done}")
