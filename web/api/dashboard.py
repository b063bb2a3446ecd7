"""The manager's dashboard as data."""
from __future__ import annotations

from fastapi import APIRouter, Request

from web.deps import ApiManager, DbDep
from web.metrics import build_dashboard
from web.routes.dashboard import Area, UnitPage, UnitSort, dashboard_area
from web.outputs import DashboardOut
from web.templating import translator

router = APIRouter(tags=["dashboard"])


@router.get("/dashboard", response_model=DashboardOut)
def dashboard(request: Request, db: DbDep, user: ApiManager, area: Area = None, unit_page: UnitPage = 1,
              unit_sort: UnitSort = "code") -> DashboardOut:
    """Open, overdue and escalated tasks, median response times and on-time share by county and by agency unit
    (one page of units: ``unit_page``, ``unit_sort``), the latest escalations and pathways, for the manager's
    jurisdiction or a county/city code inside it (404 outside). Response times and the on-time share cover the
    last ``window_days`` days; ``as_of`` is when the figures were computed."""
    return build_dashboard(db, dashboard_area(user, area), t=translator(request), unit_page=unit_page,
                           unit_sort=unit_sort)
