"""Cases: list, the timeline across pathways (audited), start a pathway."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request

from careflow.cases import CaseClosed, PathwayAlreadyRunning, PathwayNotRoutable
from web import actions, lists
from web.deps import ApiCaseworker, ApiReader, DbDep
from web.api_errors import api_invalid
from web.inputs import CASE_REFERENCE, PathwayStart
from web.outputs import CaseDetail, CaseSummary, StartOut
from web.list_pages import api_params
from web.paging import PageOut
from web.scope import visible_case
from web.templating import translator
from web.views import case_detail, case_summary, pathway_run_out, start_labels

router = APIRouter(tags=["cases"])
CASE_PARAMS = lists.CASE_SPEC.openapi_parameters()

Reference = Annotated[str, Path(pattern=CASE_REFERENCE, description="e.g. CF-350302-20261129-7F3A")]


@router.get("/cases", response_model=PageOut[CaseSummary], openapi_extra={"parameters": CASE_PARAMS})
def list_cases(request: Request, db: DbDep, user: ApiReader) -> PageOut[CaseSummary]:
    """Cases on children in the caller's jurisdiction, a page at a time (newest first, or ``sort=reference``).
    Filters: ``status`` (open, the default; closed; close_requested; all), ``pathway`` (a pathway key), ``flag``
    (overdue, escalated, awaiting: pathways ended awaiting the closing decision), ``area``, ``from``/``to``
    (day opened); ``q``: a case reference (``CF-…``), a part of the child's name or the last digits of the ID.
    400 names a bad parameter and its value. Follow ``next`` until it is null."""
    page = lists.list_cases(db, user, api_params(request, lists.CASE_SPEC)).with_links(request.url)
    return PageOut.of(page.map(lambda row: case_summary(row[0])))


@router.get("/cases/{reference}", response_model=CaseDetail)
def read_case(request: Request, db: DbDep, user: ApiReader, reference: Reference) -> CaseDetail:
    """The case with every pathway (and its Prefect flow run link) and every task (audited)."""
    case, _ = visible_case(db, user, reference)
    return case_detail(db, case, actor=user.username, t=translator(request))


@router.post("/cases/{reference}/pathways", response_model=StartOut, status_code=201,
             responses={409: {"description": "The pathway (for a service-list referral: the item) is already open "
                                             "on the case (the detail names the open run), or the case is closed "
                                             "(reopen it with a reason first), or its first step has no unit for "
                                             "the child's area (the detail names the agency and the area, and what "
                                             "to do); in Chinese, English on request."}})
def start_pathway(request: Request, db: DbDep, user: ApiCaseworker, reference: Reference,
                  data: PathwayStart) -> StartOut:
    """Start a pathway (a key of ``GET /api/pathways`` that is ``available``) with its start parameters.

    ``started`` is false when the run was recorded but its flow run could not be created now (the sweeper
    starts it). 422: no such pathway or parameters that do not match the policy. 409: the same pathway is
    still open on the case (it may be started again once that run ended), or the case is closed (案件已结案，请先重新开案
    并说明理由: a closed case is reopened only explicitly, on its page), or the pathway's first step has no unit for the
    child's area (e.g. a village committee's step for a child registered only down to the township; nothing is
    recorded).
    """
    case, child = visible_case(db, user, reference)
    try:
        result = actions.start_pathway_as(db, user, case, child, data, request.app.state.pathway_starter)
    except (PathwayAlreadyRunning, CaseClosed, PathwayNotRoutable) as exc:
        raise HTTPException(409, exc.text(translator(request).lang)) from None
    except (ValueError, LookupError) as exc:
        raise api_invalid(request, exc, start_labels(data.pathway, translator(request))) from None
    return StartOut(run=pathway_run_out(result.run, translator(request)), started=result.started)
