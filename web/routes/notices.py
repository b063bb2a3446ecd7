"""The police's or procuratorate's notice of a child's suspected offence or serious misconduct (方案 十一).

``GET /notices/new`` shows the form to an officer of a police or procuratorate unit (any other role or unit: 403);
``POST /notices`` records the notice (:func:`careflow.misconduct.start_notice`: the child by ID number, the conduct,
its date, the place of the school) and starts its flow: civil affairs and education are notified at once. The
conduct is read afterwards only on the task pages of the units concerned and by managers (:mod:`careflow.facts`).
"""
from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.responses import Response

from careflow.misconduct import NOTICE_PATHWAY, may_start_notice, start_notice
from models.agency import AgencyUnit
from models.outcome_fields import OutcomeField
from models.policy import load_policy
from web import forms
from web.deps import DbDep, FormDep, OfficerPage, csrf_protect
from web.form_pages import form_page
from web.scope import NotAllowed
from web.templating import redirect, render, translator
from web.views import field_out

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

#: The child, by the ID number the notifying unit holds (the officer sees no list of children).
RESIDENT_ID_FIELD = OutcomeField(name="resident_id", type="text", required=True, label_zh="儿童身份证号",
                                 label_en="Child's resident ID number")


def _notice_unit(db, user) -> AgencyUnit:
    unit = db.get(AgencyUnit, user.unit_code) if user.unit_code else None
    if not may_start_notice(unit):
        raise NotAllowed("only police or procuratorate officers record a misconduct notice")
    return unit


def _fields(t) -> list:
    definition = load_policy().pathway(NOTICE_PATHWAY)
    fields = [RESIDENT_ID_FIELD, *definition.start_parameters]
    return [field_out(f, t) for f in fields]


def _page(request: Request, unit: AgencyUnit, *, errors=None, values=None, done: str = "",
          status_code: int = 200) -> Response:
    t = translator(request)
    return render(request, "notice_new.html", {
        "unit": unit, "fields": _fields(t), "title": t.pick(load_policy().pathway(NOTICE_PATHWAY), "title"),
        "errors": errors or [], "values": values or {}, "done": done}, status_code=status_code)


@router.get("/notices/new")
def notice_form(request: Request, db: DbDep, user: OfficerPage) -> Response:
    """The notice form (police and procuratorate officers); ``?case=`` after a notice was recorded."""
    unit = _notice_unit(db, user)
    return _page(request, unit, done=str(request.query_params.get("case", ""))[:40])


@router.post("/notices")
@form_page("/notices/new")
def notice_submit(request: Request, db: DbDep, user: OfficerPage, form: FormDep) -> Response:
    """Record the notice and start its flow (a failed start is left to the sweeper)."""
    unit = _notice_unit(db, user)
    values = forms.prefixed_values(form, "p_")
    try:
        started = start_notice(db, actor=user.username, unit_code=unit.code, resident_id=values.pop("resident_id", ""),
                               conduct_kind=values.get("conduct_kind", ""), conduct=values.get("conduct", ""),
                               conduct_on=values.get("conduct_on", ""),
                               school_area_code=values.get("school_area_code", ""))
    except (ValidationError, ValueError, LookupError) as exc:
        db.rollback()
        return _page(request, unit, errors=forms.error_lines(exc),
                     values={k: v for k, v in form.items() if isinstance(v, str)}, status_code=400)
    db.commit()
    try:
        request.app.state.pathway_starter(started.run.id)
    except Exception as exc:  # noqa: BLE001 -- the run is stored; the sweeper starts it
        log.warning("starting the flow of pathway run %s failed: %s", started.run.id, exc)
    return redirect(f"/notices/new?case={started.case.reference}")
