"""Giving a programme place back from the case page (the rules are :mod:`careflow.programme_seats`).

``POST /cases/<ref>/invitations/<code>/withdraw`` (the caseworker, ``reason`` required; ``code``: the invitation
code the case page shows): the child cannot attend the programme they were invited to, or no longer waits for one;
the seat goes to the next child on the county's waiting list. A refusal (no reason, no such invitation on the case,
the programme has begun, the place given back meanwhile) shows the case page again with the message and the text
typed (400; 409 for a place no longer held).
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from starlette.responses import Response

from careflow.programme_seats import find_invitation, withdraw_invitation
from models.errors import error_text
from web.deps import CaseworkerPage, DbDep, csrf_protect
from web.form_pages import form_page
from web.routes.cases import Reference, render_case
from web.scope import visible_case
from web.templating import redirect, translator

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

Code = Annotated[str, Path(pattern=r"^[0-9a-fA-F]{8}$")]


@router.post("/cases/{reference}/invitations/{invitation}/withdraw")
@form_page("/cases/{reference}")
def withdraw(request: Request, db: DbDep, user: CaseworkerPage, reference: Reference, invitation: Code,
             reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    case, _child = visible_case(db, user, reference)
    code = invitation.lower()
    try:
        done = withdraw_invitation(db, find_invitation(db, case.id, code), actor=user.username, reason=reason)
    except (ValueError, LookupError) as exc:
        db.rollback()
        conflict = getattr(exc, "key", "") == "problem.invitation_not_held"
        return render_case(request, db, user, case, errors=[error_text(exc, translator(request).lang)],
                           form=f"withdraw-{code}" if isinstance(exc, ValueError) else "withdraw",
                           values={"withdraw_reason": reason}, status_code=409 if conflict else 400)
    db.commit()
    return redirect(f"/cases/{reference}?done={'withdrawn_next' if done.next_invited else 'withdrawn'}")
