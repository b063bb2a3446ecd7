"""Children: list (IDs masked), register (the migrant-child test of 方案 一 in the answer), read one record
(audited), record a report (opens a case). Caseworkers and managers read inside their jurisdiction; only
caseworkers write."""
from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from web import actions
from web.deps import ApiCaseworker, ApiReader, DbDep
from web.schemas import CaseSummary, ChildCreate, ChildDetail, ChildSummary, RegistrationOut, ReportCreate
from web.scope import children_of, visible_child
from web.views import case_summary, child_detail, list_children_audited

router = APIRouter(tags=["children"])


@router.get("/children", response_model=list[ChildSummary])
def list_children(db: DbDep, user: ApiReader,
                  limit: Annotated[int, Query(ge=1, le=500)] = 200) -> list[ChildSummary]:
    """Children living in the caller's jurisdiction, newest first; ID numbers masked (audited)."""
    return list_children_audited(db, children_of(db, user, limit=limit), actor=user.username)


@router.post("/children", response_model=RegistrationOut, status_code=201)
def register_child(db: DbDep, user: ApiCaseworker, data: ChildCreate) -> RegistrationOut:
    """Register a child living in the caseworker's jurisdiction; the answer holds the migrant-child test.

    422: a bad ID, an unknown county, an area outside the jurisdiction, a duplicate ID (naming the field).
    """
    try:
        registration = actions.register_child_as(db, user, data)
        db.flush()
    except (ValueError, LookupError) as exc:
        raise HTTPException(422, str(exc)) from None
    return RegistrationOut(child=child_detail(db, registration.child, actor=user.username))


@router.get("/children/{child_id}", response_model=ChildDetail)
def read_child(db: DbDep, user: ApiReader, child_id: uuid.UUID) -> ChildDetail:
    """A child's record (audited ``child.viewed``); the ID number stays masked."""
    return child_detail(db, visible_child(db, user, child_id), actor=user.username)


@router.post("/children/{child_id}/cases", response_model=CaseSummary, status_code=201)
def record_report(db: DbDep, user: ApiCaseworker, child_id: uuid.UUID, data: ReportCreate) -> CaseSummary:
    """Record a report about the child: opens a case whose summary is the report."""
    case = actions.record_report_as(db, user, visible_child(db, user, child_id), data)
    return case_summary(case)
