"""Children (儿童): the caseworker registers a child and records reports; caseworkers and managers read records.

Every read of a child's record is audited (``child.viewed``, ``child.id_revealed``, ``child.list_read``).
ID numbers are masked in lists and on the record unless the caseworker asks to see the full number.
"""
from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.responses import Response

from models.eligibility import KeyCareCriterion
from models.user import UserRole
from web import actions, forms
from web.deps import FormDep, CaseworkerPage, DbDep, ReaderPage, csrf_protect
from web.form_pages import form_page
from web.inputs import SEXES
from web.list_pages import render_list
from web.routes.child_facts import facts_context
from web.lists import CHILD_SPEC, FILE_SPEC, audit_names_shown, list_children, list_files
from web.scope import NotAllowed, visible_child
from web.names import area_input, county_label
from web.templating import redirect, render, translator
from web.views import child_detail, list_children_audited, today

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])


def _criteria(t) -> list[tuple[str, str]]:
    return [(c.value, t.label(c, "key_care")) for c in KeyCareCriterion]


@router.get("/children")
def children_page(request: Request, db: DbDep, user: ReaderPage) -> Response:
    """The children living in the user's jurisdiction, a page at a time: filter by area, key care and registration
    date; search by name or the last digits of the ID number (see :mod:`web.lists`)."""
    def run(params):
        page = list_children(db, user, params)
        return page, {"children": list_children_audited(db, page.items, actor=user.username)}

    return render_list(request, "children_list.html", CHILD_SPEC, run)


@router.get("/files")
def files_page(request: Request, db: DbDep, user: ReaderPage) -> Response:
    """Key care files (一人一档) of children living in the user's jurisdiction, a page at a time."""
    def run(params):
        page = list_files(db, user, params, today=today())
        audit_names_shown(db, [f.child_id for f in page.items], actor=user.username, params=params)
        return page, {"criteria": dict(_criteria(translator(request)))}

    return render_list(request, "files_list.html", FILE_SPEC, run)


@router.get("/children/new")
def register_page(request: Request, user: CaseworkerPage) -> Response:
    # a village caseworker's own village; never a township: the pathways' village committee needs the child's village
    default_area = user.jurisdiction_code if len(user.jurisdiction_code) == 12 else ""
    return render(request, "child_new.html", {
        "errors": [], "values": {"residence_county": county_label(user.jurisdiction_code[:6]),
                                 "residence_area_code": area_input(default_area)},
        "criteria": _criteria(translator(request)), "sexes": SEXES,
    })


@router.post("/children")
@form_page("/children/new")
def register(request: Request, db: DbDep, user: CaseworkerPage, form: FormDep) -> Response:
    try:
        data = forms.child_create(form)
        registration = actions.register_child_as(db, user, data)
    except (ValidationError, ValueError, LookupError) as exc:
        db.rollback()
        values = {k: v for k, v in form.items() if k != "csrf_token" and isinstance(v, str)}
        return render(request, "child_new.html", {"errors": forms.error_lines(exc), "values": values,
                                                  "checked": form.getlist("key_care"),
                                                  "criteria": _criteria(translator(request)), "sexes": SEXES},
                      status_code=400)
    db.commit()
    return redirect(f"/children/{registration.child.id}?done=registered")


@router.get("/children/{child_id}")
def child_page(request: Request, db: DbDep, user: ReaderPage, child_id: uuid.UUID, reveal: bool = False) -> Response:
    child = visible_child(db, user, child_id)
    if reveal and UserRole(user.role) != UserRole.caseworker:
        raise NotAllowed("only the caseworker may see the full ID number")
    detail = child_detail(db, child, actor=user.username, reveal_id=reveal,
                          hide_confidential=user.role == UserRole.caseworker)
    return render(request, "child_detail.html", {"child": detail, "errors": [], "report": {},
                                                 "criteria": dict(_criteria(translator(request))),
                                                 **facts_context(db, child, translator(request))})


@router.post("/children/{child_id}/reports")
@form_page("/children/{child_id}")
def record_report(request: Request, db: DbDep, user: CaseworkerPage, child_id: uuid.UUID, form: FormDep) -> Response:
    child = visible_child(db, user, child_id)
    try:
        report = forms.report_create(form)
        case = actions.record_report_as(db, user, child, report)
    except (ValidationError, ValueError) as exc:
        db.rollback()
        detail = child_detail(db, child, actor=user.username,
                              hide_confidential=user.role == UserRole.caseworker)
        return render(request, "child_detail.html", {
            "child": detail, "errors": forms.error_lines(exc), "criteria": dict(_criteria(translator(request))),
            **facts_context(db, child, translator(request)), "report_checked": form.getlist("key_care"),
            "report": {k: v for k, v in form.items() if isinstance(v, str)}}, status_code=400)
    db.commit()
    # the start form is filled in with what the report already said (its 报告人 and 强制报告: web.actions.report_values)
    return redirect(f"/cases/{case.reference}/pathways/new?done=case_opened")
