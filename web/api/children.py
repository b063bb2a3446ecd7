"""Children: list (IDs masked), register (the migrant-child test of 方案 一 in the answer), read one record
(audited), record a report (opens a case). Caseworkers and managers read inside their jurisdiction; only
caseworkers write."""
from __future__ import annotations

import uuid
from dataclasses import replace
from fastapi import APIRouter, Request

from models.user import UserRole
from web import actions, lists
from web.api_errors import api_invalid
from web.deps import ApiCaseworker, ApiReader, DbDep
from web.list_pages import api_params
from web.paging import PageOut
from web.inputs import ChildCreate, ReportCreate
from web.outputs import CaseSummary, ChildDetail, ChildSummary, RegistrationOut
from web.scope import visible_child
from web.views import case_summary, child_detail, list_children_audited, today

router = APIRouter(tags=["children"])
CHILD_PARAMS = lists.CHILD_SPEC.openapi_parameters()
FILE_PARAMS = lists.FILE_SPEC.openapi_parameters()


@router.get("/children", response_model=PageOut[ChildSummary], openapi_extra={"parameters": CHILD_PARAMS})
def list_children(request: Request, db: DbDep, user: ApiReader) -> PageOut[ChildSummary]:
    """Children living in the caller's jurisdiction, a page at a time (newest first, or ``sort=name``); ID
    numbers masked (audited ``child.list_read``). Filters: ``area`` (county/township/village code), ``key_care``
    (yes/no), ``from``/``to`` (registration day); ``q``: a part of the name or the last 4+ digits of the ID.
    400 names a bad parameter and its value. Follow ``next`` until it is null."""
    page = lists.list_children(db, user, api_params(request, lists.CHILD_SPEC)).with_links(request.url)
    return PageOut.of(replace(page, items=list_children_audited(db, page.items, actor=user.username)))


@router.get("/files", response_model=PageOut[lists.FileSummary], openapi_extra={"parameters": FILE_PARAMS})
def list_files(request: Request, db: DbDep, user: ApiReader) -> PageOut[lists.FileSummary]:
    """Key care files (一人一档) of children living in the caller's jurisdiction, a page at a time; ID numbers
    masked (audited). Filters: ``status`` (active/closed/all), ``area``, ``no_contact`` (yes: no contact this
    month), ``from``/``to`` (day opened); ``q``: ``KF-…``, a part of the name or the last digits of the ID."""
    params = api_params(request, lists.FILE_SPEC)
    page = lists.list_files(db, user, params, today=today()).with_links(request.url)
    lists.audit_names_shown(db, [f.child_id for f in page.items], actor=user.username, params=params)
    return PageOut.of(page)


@router.post("/children", response_model=RegistrationOut, status_code=201)
def register_child(request: Request, db: DbDep, user: ApiCaseworker, data: ChildCreate) -> RegistrationOut:
    """Register a child living in the caseworker's jurisdiction; the answer holds the migrant-child test.

    422: a bad ID, an unknown county, an area outside the jurisdiction, a duplicate ID (naming the field).
    """
    try:
        registration = actions.register_child_as(db, user, data)
        db.flush()
    except (ValueError, LookupError) as exc:
        raise api_invalid(request, exc) from None
    return RegistrationOut(child=child_detail(db, registration.child, actor=user.username))  # a new child: no notice


@router.get("/children/{child_id}", response_model=ChildDetail)
def read_child(db: DbDep, user: ApiReader, child_id: uuid.UUID) -> ChildDetail:
    """A child's record (audited ``child.viewed``); the ID number stays masked."""
    return child_detail(db, visible_child(db, user, child_id), actor=user.username,
                        hide_confidential=user.role == UserRole.caseworker)


@router.post("/children/{child_id}/cases", response_model=CaseSummary, status_code=201)
def record_report(db: DbDep, user: ApiCaseworker, child_id: uuid.UUID, data: ReportCreate) -> CaseSummary:
    """Record a report about the child: opens a case whose summary is the report."""
    case = actions.record_report_as(db, user, visible_child(db, user, child_id), data)
    return case_summary(case)
