"""Cases: list, the timeline across pathways (audited), start a pathway."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Request

from web import actions
from web.deps import ApiCaseworker, ApiReader, DbDep
from web.schemas import CASE_REFERENCE, CaseDetail, CaseSummary, PathwayStart, StartOut
from web.scope import cases_of, visible_case
from web.templating import translator
from web.views import case_detail, case_summary, pathway_run_out

router = APIRouter(tags=["cases"])

Reference = Annotated[str, Path(pattern=CASE_REFERENCE, description="e.g. CF-350302-20261129-7F3A")]


@router.get("/cases", response_model=list[CaseSummary])
def list_cases(db: DbDep, user: ApiReader, status: Literal["open", "closed", "all"] = "open") -> list[CaseSummary]:
    """Cases on children in the caller's jurisdiction, newest first."""
    return [case_summary(c) for c, _ in cases_of(db, user, status=None if status == "all" else status)]


@router.get("/cases/{reference}", response_model=CaseDetail)
def read_case(request: Request, db: DbDep, user: ApiReader, reference: Reference) -> CaseDetail:
    """The case with every pathway (and its Prefect flow run link) and every task (audited)."""
    case, _ = visible_case(db, user, reference)
    return case_detail(db, case, actor=user.username, t=translator(request))


@router.post("/cases/{reference}/pathways", response_model=StartOut, status_code=201)
def start_pathway(request: Request, db: DbDep, user: ApiCaseworker, reference: Reference,
                  data: PathwayStart) -> StartOut:
    """Start a pathway (a key of ``GET /api/pathways`` that is ``available``) with its start parameters.

    ``started`` is false when the run was recorded but its flow run could not be created now (the sweeper
    starts it). 422: no such pathway or parameters that do not match the policy.
    """
    case, child = visible_case(db, user, reference)
    try:
        result = actions.start_pathway_as(db, user, case, child, data, request.app.state.pathway_starter)
    except (ValueError, LookupError) as exc:
        raise HTTPException(422, str(exc)) from None
    return StartOut(run=pathway_run_out(result.run, translator(request)), started=result.started)
