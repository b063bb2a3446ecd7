"""The needs list (需求清单, issue 13 item 2) as JSON: the children of the caller's jurisdiction who qualify for a
service-list item today and were never referred for it (:mod:`web.needs_list`)."""
from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from web.deps import ApiReader, DbDep
from web.list_pages import api_params
from web.lists import audit_names_shown
from web.needs_list import NEEDS_SPEC, NeedOut, list_needs, missing_item
from web.paging import PageOut
from web.templating import translator
from web.views import today

router = APIRouter(tags=["children"])
NEEDS_PARAMS = NEEDS_SPEC.openapi_parameters()


@router.get("/needs", response_model=PageOut[NeedOut], openapi_extra={"parameters": NEEDS_PARAMS})
def list_needs_api(request: Request, db: DbDep, user: ApiReader) -> PageOut[NeedOut]:
    """Children living in the caller's jurisdiction who meet every condition of service-list item ``item`` (1-20,
    required) today (Asia/Shanghai) and have no referral of it — a condition still unknown leaves a child out —; a
    page at a time (newest first, or ``sort=name``), ID numbers masked (audited ``child.list_read``). ``area`` and ``q``
    as for ``/api/children``. 400 names a missing or bad parameter and its value. Follow ``next`` until null."""
    params = api_params(request, NEEDS_SPEC)
    if "item" not in params.filters:
        raise HTTPException(400, str(missing_item(translator(request))))
    page = list_needs(db, user, params, today()).with_links(request.url)
    audit_names_shown(db, [row.id for row in page.items], actor=user.username, params=params)
    return PageOut.of(page)
