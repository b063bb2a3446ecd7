"""Cases (个案): the timeline across pathways (audited), and starting a pathway (caseworker)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from careflow.cases import CaseClosed, PathwayAlreadyRunning, PathwayNotRoutable
from web import actions, forms
from web.deps import FormDep, CaseworkerPage, DbDep, ReaderPage, csrf_protect
from web.form_pages import form_page
from web.inputs import CASE_REFERENCE
from models.base import utcnow
from web.case_marks import case_progress, closing_view, mark_timeline
from web.list_pages import render_list
from web.routes.child_facts import checks_context
from web.lists import CASE_SPEC, in_state_filter, list_cases
from web.reroute_views import case_history, pending_reroutes
from web.routes.programmes import case_invitations
from web.scope import visible_case
from web.templating import redirect, render, translator
from web.views import case_detail, case_summary, pathway_infos

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

Reference = Annotated[str, Path(pattern=CASE_REFERENCE)]


@router.get("/cases")
def cases_page(request: Request, db: DbDep, user: ReaderPage) -> Response:
    """The cases on children living in the user's jurisdiction, a page at a time: filter by status, pathway, area
    and date opened; search by case reference, child's name or last digits of the ID (see :mod:`web.lists`)."""
    t, now = translator(request), utcnow()

    def run(params):
        page = list_cases(db, user, params, progress=True, now=now)
        status = params.filters.get("status", "open")
        return page, {"cases": [(case_summary(c), child.residence_area_code or child.residence_county_code,
                                 case_progress(c, task, pathway, overdue, level, latest, now, t, bool(to_come)))
                                for c, child, task, pathway, overdue, level, latest, to_come in page.items],
                      # found by its whole reference though the status filter leaves it out: said, and linked
                      "outside_filter": [row[0] for row in page.items if not in_state_filter(row[0], status)]}

    return render_list(request, "cases_list.html", CASE_SPEC, run)


@router.get("/cases/{reference}")
def case_page(request: Request, db: DbDep, user: ReaderPage, reference: Reference) -> Response:
    case, _child = visible_case(db, user, reference)
    return render_case(request, db, user, case)


def render_case(request: Request, db, user, case, *, errors: list[str] | None = None, form: str = "",
                values: dict | None = None, status_code: int = 200) -> Response:
    """The case page: the timeline with each open task's overdue and escalation marks, and the closing section
    (:mod:`web.case_marks`); ``errors`` shown at the form ``form`` (close, reopen, approve, refuse, reroute) with the
    values typed. Whichever POST shows it (a caseworker's refused reroute of a task too), it is the case's page
    (``page_url``: its language switch goes there)."""
    t = translator(request)
    detail = mark_timeline(db, case_detail(db, case, actor=user.username, t=t), case.id, utcnow(), t)
    return render(request, "case_detail.html", {
        "case": detail, "closing": closing_view(db, case, t), "reroutes": pending_reroutes(db, case),
        "history": case_history(db, case), "invitations": case_invitations(db, case.id),
        "errors": errors or [], "error_form": form,
        "values": values or {}, "page_url": f"/cases/{case.reference}"}, status_code=status_code)


@router.get("/cases/{reference}/pathways/new")
def start_page(request: Request, db: DbDep, user: CaseworkerPage, reference: Reference,
               item: Annotated[int | None, Query(ge=1, le=99)] = None) -> Response:
    """The start form; the case's report fills the guardianship form's 报告人 and 强制报告, and ``item`` (from the
    needs list or an item's check) chooses the service referral's item."""
    case, child = visible_case(db, user, reference)
    values = actions.report_values(case)
    if item is not None:
        values["p_item"] = str(item)
    return render(request, "pathway_start.html", {
        "case": case_summary(case), "pathways": pathway_infos(translator(request)), "errors": [], "values": values,
        **checks_context(db, child, user.username, translator(request))})


@router.post("/cases/{reference}/pathways")
@form_page("/cases/{reference}/pathways/new")
def start_pathway(request: Request, db: DbDep, user: CaseworkerPage, reference: Reference, form: FormDep) -> Response:
    case, child = visible_case(db, user, reference)
    try:
        result = actions.start_pathway_as(db, user, case, child, forms.pathway_start(form),
                                          request.app.state.pathway_starter)
    except (ValidationError, ValueError, LookupError) as exc:
        db.rollback()
        return render(request, "pathway_start.html", {
            "case": case_summary(case), "pathways": pathway_infos(translator(request)),
            "errors": forms.error_lines(exc), "values": {k: v for k, v in form.items() if isinstance(v, str)},
            **checks_context(db, child, user.username, translator(request))},
            status_code=409 if isinstance(exc, (PathwayAlreadyRunning, CaseClosed, PathwayNotRoutable)) else 400)
    done = "pathway_started" if result.started else "pathway_pending"
    return redirect(f"/cases/{case.reference}?done={done}")


