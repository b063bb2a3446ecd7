"""The invited officer's own sign-up page (``/invite/<token>``, no sign-in needed): choose a user name and a
password, and the unit's account exists (:mod:`web.invites`). A used, expired or unknown link says so (410)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from pydantic import ValidationError
from starlette.responses import Response

from models.agency import AgencyUnit
from web import forms
from web.deps import DbDep, csrf_protect
from web.form_pages import form_page
from web.invites import InviteInvalid, accept_invite, open_invite
from web.templating import redirect, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])


def _page(request: Request, db, token: str, values: dict, errors=None, status_code: int = 200) -> Response:
    try:
        invite = open_invite(db, token)
    except InviteInvalid:
        return render(request, "invite.html", {"link_invalid": True, "values": {}, "errors": []}, status_code=410)
    unit = db.get(AgencyUnit, invite.unit_code)
    return render(request, "invite.html", {"link_invalid": False, "unit": unit, "invite": invite, "values": values,
                                           "errors": errors or []}, status_code=status_code)


@router.get("/invite/{token}")
def invite_page(request: Request, db: DbDep, token: str) -> Response:
    return _page(request, db, token, {})


@router.post("/invite/{token}")
@form_page("/invite/{token}")
def accept(request: Request, db: DbDep, token: str, username: Annotated[str, Form(max_length=64)] = "",
           password: Annotated[str, Form(max_length=200)] = "",
           display_name: Annotated[str, Form(max_length=64)] = "",
           phone: Annotated[str, Form(max_length=32)] = "") -> Response:
    try:
        accept_invite(db, token, username=username, password=password, display_name=display_name, phone=phone)
    except InviteInvalid:
        db.rollback()
        return _page(request, db, token, {})
    except (ValidationError, ValueError) as exc:
        db.rollback()
        return _page(request, db, token, {"username": username, "display_name": display_name, "phone": phone},
                     forms.error_lines(exc), 400)
    db.commit()
    return redirect("/login?done=invited")
