"""Closing and reopening a case on its page (issue 12; the rules are :mod:`careflow.closing`).

* ``POST /cases/<ref>/close`` (caseworker, ``reason`` required): closes the case, or — while the child is in
  temporary guardianship or at high risk — asks the county manager to review the closure. The county manager closes
  a misconduct notice's case this way (no caseworker holds it: :func:`careflow.closing.closed_by_manager`).
* ``POST /cases/<ref>/close/approve`` (manager, optional ``note``) and ``POST /cases/<ref>/close/refuse`` (manager,
  ``reason`` required): decide a pending request.
* ``POST /cases/<ref>/reopen`` (caseworker, ``reason`` required): reopens a closed case.

A refusal (empty reason, nothing to decide, a pathway still running) shows the case page again with the message in
Chinese beside the form and the text typed (400 for what was typed, 409 for the case's state).
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from careflow.cases import reopen_case
from careflow.closing import ClosingRefused, approve_close, closed_by_manager, decide_close, refuse_close
from models.errors import error_text
from models.user import UserRole
from web.deps import CaseworkerPage, DbDep, ManagerPage, ReaderPage, csrf_protect
from web.form_pages import form_page
from web.routes.cases import Reference, render_case
from web.scope import NotAllowed, NotVisible, visible_case
from web.templating import redirect, translator

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

Text = Annotated[str, Form(max_length=2000)]


def _refused(request: Request, db, user, reference: str, exc: ValueError, form: str, values: dict) -> Response:
    """The case page again with why: a reason's problem beside its form (400); a refusal by the case's state (409,
    e.g. a pathway still running, the case reopened meanwhile) at the top of the closing card, whose form the
    page may no longer show."""
    db.rollback()
    case, _child = visible_case(db, user, reference)
    by_state = isinstance(exc, ClosingRefused)
    return render_case(request, db, user, case, errors=[error_text(exc, translator(request).lang)],
                       form="state" if by_state else form, values=values, status_code=409 if by_state else 400)


@router.post("/cases/{reference}/close")
@form_page("/cases/{reference}")
def close(request: Request, db: DbDep, user: ReaderPage, reference: Reference, reason: Text = "") -> Response:
    by_manager = UserRole(user.role) == UserRole.manager
    try:
        case, _child = visible_case(db, user, reference)
    except NotVisible:
        if not by_manager:
            raise
        case = None  # a manager's answer is the same whatever the case: closing is the caseworker's
    if by_manager and (case is None or not closed_by_manager(db, case.id)):
        raise NotAllowed("a manager closes only a case no caseworker holds (a misconduct notice's)")
    try:
        done = decide_close(db, case, actor=user.username, reason=reason, by_manager=by_manager)
    except ValueError as exc:
        return _refused(request, db, user, reference, exc, "close", {"reason": reason})
    db.commit()
    return redirect(f"/cases/{reference}?done=case_{done}")


@router.post("/cases/{reference}/close/approve")
@form_page("/cases/{reference}")
def approve(request: Request, db: DbDep, user: ManagerPage, reference: Reference, note: Text = "") -> Response:
    case, _child = visible_case(db, user, reference)
    try:
        approve_close(db, case, actor=user.username, note=note)
    except ValueError as exc:
        return _refused(request, db, user, reference, exc, "approve", {"note": note})
    db.commit()
    return redirect(f"/cases/{reference}?done=case_close_approved")


@router.post("/cases/{reference}/close/refuse")
@form_page("/cases/{reference}")
def refuse(request: Request, db: DbDep, user: ManagerPage, reference: Reference, reason: Text = "") -> Response:
    case, _child = visible_case(db, user, reference)
    try:
        refuse_close(db, case, actor=user.username, reason=reason)
    except ValueError as exc:
        return _refused(request, db, user, reference, exc, "refuse", {"refuse_reason": reason})
    db.commit()
    return redirect(f"/cases/{reference}?done=case_close_refused")


@router.post("/cases/{reference}/reopen")
@form_page("/cases/{reference}")
def reopen(request: Request, db: DbDep, user: CaseworkerPage, reference: Reference, reason: Text = "") -> Response:
    case, _child = visible_case(db, user, reference)
    try:
        if not reopen_case(db, case.id, actor=user.username, reason=reason):
            raise ClosingRefused("case.refused.not_closed")
    except ValueError as exc:
        return _refused(request, db, user, reference, exc, "reopen", {"reopen_reason": reason})
    db.commit()
    return redirect(f"/cases/{reference}?done=case_reopened")
