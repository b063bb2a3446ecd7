"""My account: change my password, create and revoke my API tokens (any signed-in user)."""
from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from sqlmodel import select
from starlette.responses import Response

from models.errors import FieldValueError
from models.user import ApiToken
from web.deps import DbDep, FormDep, PageUser, csrf_protect
from web.form_pages import form_page
from web.forms import error_lines
from web.inputs import TokenCreate
from web.security import SESSION_COOKIE, verify_password
from web.templating import redirect, render
from web.users import create_api_token, revoke_api_token, update_user

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])


def _page(request: Request, db, user, *, new_token: str = "", errors: list[str] | None = None, status_code: int = 200):
    tokens = db.exec(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc())).all()
    return render(request, "account.html", {"tokens": tokens, "new_token": new_token, "errors": errors or []},
                  status_code=status_code)


@router.get("/account")
def account_page(request: Request, db: DbDep, user: PageUser) -> Response:
    return _page(request, db, user)


@router.post("/account/password")
@form_page("/account")
def change_password(request: Request, db: DbDep, user: PageUser, form: FormDep) -> Response:
    current, new = form.get("current_password", ""), form.get("new_password", "")
    if not isinstance(current, str) or not verify_password(current, user.password_hash):
        wrong = FieldValueError("current_password", "problem.wrong_password")
        return _page(request, db, user, errors=error_lines(wrong), status_code=400)
    try:
        if not isinstance(new, str) or not new:
            raise FieldValueError("new_password", "problem.required")
        update_user(db, user, actor=user.username, password=new)
    except ValueError as exc:
        db.rollback()
        return _page(request, db, user, errors=error_lines(exc), status_code=400)
    db.commit()
    response = redirect("/login?done=password_changed")
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.post("/account/tokens")
@form_page("/account")
def new_token(request: Request, db: DbDep, user: PageUser, form: FormDep) -> Response:
    try:
        data = TokenCreate.model_validate({"name": form.get("name", "") if isinstance(form.get("name"), str) else ""})
    except ValidationError as exc:
        return _page(request, db, user, errors=error_lines(exc), status_code=400)
    issued = create_api_token(db, user=user, name=data.name)
    db.commit()
    return _page(request, db, user, new_token=issued.token)


@router.post("/account/tokens/{token_id}/revoke")
@form_page("/account")
def revoke_token(request: Request, db: DbDep, user: PageUser, token_id: uuid.UUID) -> Response:
    revoke_api_token(db, user=user, token_id=token_id)
    db.commit()
    return redirect("/account")
