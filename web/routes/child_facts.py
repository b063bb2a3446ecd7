"""The facts on a child's file (残疾、低保、在读学段 …) a caseworker records, the departments' answers and the referrals
they propose, and the referral check the start form shows: ``POST /children/{id}/facts`` (form),
``POST /children/{id}/proposals/start`` (the one-click start of a proposed referral) and
``GET /cases/{reference}/eligibility`` (the check as HTML)."""
from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from careflow.cases import PathwayAlreadyRunning
from careflow.exchange.start import NoProposal
from models.eligibility import KeyCareCriterion
from models.errors import FieldValueError
from web import forms
from web.deps import CaseworkerPage, DbDep, FormDep, ReaderPage, csrf_protect
from web.form_pages import form_page
from web.eligibility_view import (
    FactIn, audit_read, eligibility_out, fact_choices, facts_out, migrant_line, record_fact_as,
)
from web.exchange_view import exchange_context, start_proposal_as
from web.i18n import Translator
from web.inputs import CASE_REFERENCE
from web.key_care_view import key_care_section
from web.scope import visible_case, visible_child
from web.templating import redirect, render, translator
from web.views import child_detail

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])


def facts_context(db, child, t: Translator) -> dict:
    """What ``child_detail.html`` needs for its facts section (in ``t``'s language), the departments' answers and
    proposals, and its key care section (:func:`web.key_care_view.key_care_section`)."""
    return {"child_facts": facts_out(db, child, t), "fact_choices": fact_choices(t), "fact_values": {},
            "key_care": key_care_section(db, child, t), **exchange_context(db, child)}


def checks_context(db, child, actor: str, t: Translator) -> dict:
    """What ``pathway_start.html`` needs to show each item's target-group check before the caseworker submits
    (audited ``child.facts_read``)."""
    audit_read(db, child, actor, "page.start_form")
    checks = eligibility_out(db, child, t)
    return {"checks": checks, "child_id": child.id, "migrant": migrant_line(checks)}


@router.post("/children/{child_id}/facts")
@form_page("/children/{child_id}")
def record_fact(request: Request, db: DbDep, user: CaseworkerPage, child_id: uuid.UUID, form: FormDep) -> Response:
    child = visible_child(db, user, child_id)
    values = {k: v for k, v in form.items() if k != "csrf_token" and isinstance(v, str)}
    try:
        data = FactIn.model_validate({**values, "established_on": values.get("established_on") or None})
        record_fact_as(db, user, child, data)
    except (ValidationError, ValueError, LookupError) as exc:
        db.rollback()
        return _child_page_with_errors(request, db, user, child, exc, "facts", fact_values=values)
    db.commit()
    return redirect(f"/children/{child.id}?done=fact_recorded#facts")


def _child_page_with_errors(request: Request, db, user, child, exc: Exception, where: str, *, status_code: int = 400,
                            fact_values: dict | None = None) -> Response:
    """The child's page again with ``exc``'s lines shown at the section ``where`` (facts, proposals)."""
    detail = child_detail(db, child, actor=user.username)
    t = translator(request)
    criteria = {c.value: t.label(c, "key_care") for c in KeyCareCriterion}
    return render(request, "child_detail.html", {
        "child": detail, "errors": forms.error_lines(exc), "errors_in": where, "report": {},
        "criteria": criteria, **facts_context(db, child, t), "fact_values": fact_values or {}}, status_code=status_code)


@router.post("/children/{child_id}/proposals/start")
@form_page("/children/{child_id}")
def start_proposal(request: Request, db: DbDep, user: CaseworkerPage, child_id: uuid.UUID, form: FormDep) -> Response:
    """Start the referral a department's answer proposed (form field ``item``): on the child's open case, or a new
    one; then the case page. No open proposal of the item (already referred): back to the child's page."""
    child = visible_child(db, user, child_id)
    item = str(form.get("item", "")).strip()
    try:
        if not item.isdigit():
            raise FieldValueError("item", "problem.item_not_number", value=item)
        started = start_proposal_as(db, user, child, int(item), request.app.state.pathway_starter)
    except NoProposal:
        db.rollback()
        return redirect(f"/children/{child.id}?done=no_proposal#proposals")
    except (ValidationError, ValueError) as exc:
        db.rollback()
        return _child_page_with_errors(request, db, user, child, exc, "proposals",
                                       status_code=409 if isinstance(exc, PathwayAlreadyRunning) else 400)
    return redirect(f"/cases/{started.case.reference}?done=pathway_started")


@router.get("/cases/{reference}/eligibility")
def eligibility_page(request: Request, db: DbDep, user: ReaderPage,
                     reference: Annotated[str, Path(pattern=CASE_REFERENCE)],
                     item: Annotated[int | None, Query(ge=1, le=99)] = None) -> Response:
    """The target-group check of every item (or ``item``) on the case's child, as the start form shows it."""
    _case, child = visible_case(db, user, reference)
    audit_read(db, child, user.username, "page.eligibility")
    checks = eligibility_out(db, child, translator(request), item)
    return render(request, "eligibility.html", {"checks": checks, "reference": reference, "child_id": child.id,
                                                "item": item, "migrant": migrant_line(checks)})


@router.get("/children/{child_id}/eligibility")
def child_eligibility_page(request: Request, db: DbDep, user: ReaderPage, child_id: uuid.UUID,
                           item: Annotated[int | None, Query(ge=1, le=99)] = None) -> Response:
    """The same check on a child with or without a case: where the needs list (/needs) and the child's page send a
    manager or caseworker to see why a child qualifies for an item (officers never: they read no child)."""
    child = visible_child(db, user, child_id)
    audit_read(db, child, user.username, "page.child_eligibility")
    checks = eligibility_out(db, child, translator(request), item)
    return render(request, "eligibility.html", {"checks": checks, "reference": None, "child_id": child.id,
                                                "child_name": child.full_name, "migrant": migrant_line(checks)})
