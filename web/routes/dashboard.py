"""The manager's dashboard (督办看板): open and overdue tasks, response times, on-time share per county,
escalations and pathways of the manager's jurisdiction (or an area inside it), with CSV and Excel export."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from careflow.audit import record_audit
from models.base import utcnow
from models.user import WebUser
from web.charts import horizontal_bars
from web.deps import DbDep, ManagerPage, csrf_protect
from web.exports import dashboard_xlsx, task_rows, tasks_csv
from web.metrics import build_dashboard
from web.scope import NotVisible, inside
from web.templating import render, translator

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

Area = Annotated[str | None, Query(pattern=r"^\d{6}$")]


def dashboard_area(user: WebUser, area: str | None) -> str:
    """The area to show: ``area`` (a county or city code) if it lies inside the manager's jurisdiction.

    Raises:
        NotVisible: ``area`` is outside it.
    """
    if not area or area == user.jurisdiction_code:
        return user.jurisdiction_code
    if not inside(area, user.jurisdiction_code):
        raise NotVisible(f"area {area} is outside your jurisdiction")
    return area


def charts(dashboard, t):
    units = horizontal_bars(
        t("dash.chart_units"),
        [(g.name, [(g.open, "bar-open", str(g.open)), (g.overdue, "bar-overdue", str(g.overdue))])
         for g in dashboard.by_unit if g.open or g.overdue],
        legend=[("bar-open", t("dash.open")), ("bar-overdue", t("dash.overdue"))])
    on_time = horizontal_bars(
        t("dash.chart_on_time"),
        [(g.name, [((g.on_time_share or 0) * 100, "bar-share",
                    f"{g.on_time_share:.0%}" if g.on_time_share is not None else "—")]) for g in dashboard.by_county],
        legend=[("bar-share", t("dash.on_time_share"))], max_value=100)
    return [units, on_time]


@router.get("/dashboard")
def dashboard_page(request: Request, db: DbDep, user: ManagerPage, area: Area = None) -> Response:
    t = translator(request)
    dashboard = build_dashboard(db, dashboard_area(user, area), t=t)
    return render(request, "dashboard.html", {"d": dashboard, "charts": charts(dashboard, t)})


def _export(db, user, area, kind: str):
    jurisdiction = dashboard_area(user, area)
    now = utcnow()
    record_audit(db, actor=user.username, action="dashboard.exported", entity_type="jurisdiction",
                 entity_id=jurisdiction, detail={"format": kind})
    return jurisdiction, now, task_rows(db, jurisdiction, now)


@router.get("/dashboard/export.csv")
def export_csv(db: DbDep, user: ManagerPage, area: Area = None) -> Response:
    jurisdiction, now, rows = _export(db, user, area, "csv")
    return Response(tasks_csv(rows), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="careflow-{jurisdiction}-{now:%Y%m%d}.csv"'})


@router.get("/dashboard/export.xlsx")
def export_xlsx(request: Request, db: DbDep, user: ManagerPage, area: Area = None) -> Response:
    jurisdiction, now, rows = _export(db, user, area, "xlsx")
    t = translator(request)
    content = dashboard_xlsx(build_dashboard(db, jurisdiction, t=t, now=now), rows, t)
    return Response(content, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", headers={
        "Content-Disposition": f'attachment; filename="careflow-{jurisdiction}-{now:%Y%m%d}.xlsx"'})
