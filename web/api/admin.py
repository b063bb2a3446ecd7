"""Users and agency units (admin only). Changes are audited; nothing is deleted (deactivate instead)."""
from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Request
from sqlmodel import select

from models.agency import AgencyUnit
from models.user import WebUser
from web.admin_ops import create_unit, update_unit
from web import lists
from web.api_errors import api_invalid
from web.deps import ApiAdmin, DbDep
from web.list_pages import api_params
from web.paging import PageOut
from web.inputs import UNIT_CODE, UnitCreate, UnitUpdate, UserCreate, UserUpdate
from web.outputs import UnitOut, UserOut
from web.scope import NotVisible
from web.users import create_user, update_user

router = APIRouter(prefix="/admin", tags=["admin"])
USER_PARAMS = lists.USER_SPEC.openapi_parameters()


def _user_out(user: WebUser) -> UserOut:
    return UserOut.model_validate(user, from_attributes=True)


@router.get("/users", response_model=PageOut[UserOut], openapi_extra={"parameters": USER_PARAMS})
def list_users(request: Request, db: DbDep, admin: ApiAdmin) -> PageOut[UserOut]:
    """Users a page at a time, by user name (``sort=newest``: newest first). Filters: ``role``, ``active``
    (yes/no); ``q``: a part of the user name or name, a jurisdiction or unit code. Follow ``next`` until null."""
    page = lists.list_users(db, admin, api_params(request, lists.USER_SPEC)).with_links(request.url)
    return PageOut.of(page.map(_user_out))


@router.post("/users", response_model=UserOut, status_code=201)
def add_user(request: Request, db: DbDep, admin: ApiAdmin, data: UserCreate) -> UserOut:
    """Create a user. 422: a taken user name, a missing jurisdiction (caseworker, manager) or unit (officer)."""
    try:
        user = create_user(db, actor=admin.username, **data.model_dump())
        db.flush()
    except ValueError as exc:
        raise api_invalid(request, exc) from None
    return _user_out(user)


@router.patch("/users/{user_id}", response_model=UserOut)
def change_user(request: Request, db: DbDep, admin: ApiAdmin, user_id: uuid.UUID, data: UserUpdate) -> UserOut:
    """Change a user; a new role, scope, password or deactivation signs them out everywhere."""
    user = db.get(WebUser, user_id)
    if user is None:
        raise NotVisible(f"no user {user_id}")
    try:
        update_user(db, user, actor=admin.username, **data.model_dump())
        db.flush()
    except ValueError as exc:
        raise api_invalid(request, exc) from None
    return _user_out(user)


@router.get("/units", response_model=list[UnitOut])
def list_units(db: DbDep, admin: ApiAdmin) -> list[UnitOut]:
    return [UnitOut.model_validate(u, from_attributes=True)
            for u in db.exec(select(AgencyUnit).order_by(AgencyUnit.code)).all()]


@router.post("/units", response_model=UnitOut, status_code=201)
def add_unit(request: Request, db: DbDep, admin: ApiAdmin, data: UnitCreate) -> UnitOut:
    try:
        unit = create_unit(db, data, actor=admin.username)
        db.flush()
    except ValueError as exc:
        raise api_invalid(request, exc) from None
    return UnitOut.model_validate(unit, from_attributes=True)


@router.patch("/units/{code}", response_model=UnitOut)
def change_unit(request: Request, db: DbDep, admin: ApiAdmin, code: Annotated[str, Path(pattern=UNIT_CODE)],
                data: UnitUpdate) -> UnitOut:
    unit = db.get(AgencyUnit, code)
    if unit is None:
        raise NotVisible(f"no unit {code}")
    try:
        update_unit(db, unit, data, actor=admin.username)
        db.flush()
    except ValueError as exc:
        raise api_invalid(request, exc) from None
    return UnitOut.model_validate(unit, from_attributes=True)
