"""The manager's dashboard (督办看板): open and overdue tasks, response times, on-time share per county,
escalations and pathways of the manager's jurisdiction (or an area inside it), with CSV and Excel export."""
from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlmodel import select
from starlette.responses import Response, StreamingResponse

from core.audit import record_audit
from core.settings import get_settings
from careflow.programme_reports import programme_figures
from careflow.sweep_runs import last_sweep
from careflow.recovery import failure_outcome, stalled_pathway_runs
from careflow.routing import jurisdiction_prefix
from models.base import utcnow
from models.case import Case
from models.user import WebUser
from web.charts import horizontal_bars
from web.deps import DbDep, ManagerPage, csrf_protect
from web.exports import task_rows, tasks_csv, workbook_chunks
from web.metrics import UNIT_SORTS, build_dashboard
from web.names import county_label
from web.scope import NotVisible, inside
from web.templating import render, translator
from web.views import pathway_title

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

Area = Annotated[str | None, Query(pattern=r"^\d{6}$")]
UnitPage = Annotated[int, Query(ge=1, le=100_000, description="page of the per-unit table, from 1")]
UnitSort = Annotated[str, Query(pattern="^(" + "|".join(UNIT_SORTS) + ")$",
                                description="order of the per-unit table: code, overdue or open")]


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
    units = horizontal_bars(  # the units of the page shown
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
def dashboard_page(request: Request, db: DbDep, user: ManagerPage, area: Area = None, unit_page: UnitPage = 1,
                   unit_sort: UnitSort = "code") -> Response:
    t = translator(request)
    dashboard = build_dashboard(db, dashboard_area(user, area), t=t, unit_page=unit_page, unit_sort=unit_sort)
    pages = max(1, -(-dashboard.units_total // dashboard.units_page_size))
    return render(request, "dashboard.html", {"d": dashboard, "charts": charts(dashboard, t), "unit_pages": pages,
                                              "unit_sorts": list(UNIT_SORTS), "sweep": last_sweep(db),
                                              "stalled": stalled_rows(db, dashboard.jurisdiction, t),
                                              "stalled_limit": STALLED_LIMIT,
                                              "programmes": programme_rows(db, dashboard.jurisdiction)})


def programme_rows(db, jurisdiction: str) -> list[tuple[str, object]]:
    """(county name, :class:`careflow.programme_reports.ProgrammeFigure`) by county and item: the evidence that
    measures （九）（十）（十一） were carried out (programmes, seats, invited, attended, came without referral, waiting)."""
    return [(county_label(f.county_code), f) for f in programme_figures(db, jurisdiction)]


#: The stalled list shows the longest-stalled this many pathways, and says so when there may be more.
STALLED_LIMIT = 200


def stalled_rows(db, jurisdiction: str, t) -> list[dict]:
    """Pathways of ``jurisdiction`` "running" without a live flow run for longer than ``stall_after_seconds``
    (:func:`careflow.recovery.stalled_pathway_runs`): case reference, pathway, since when, restarts, last failure (worded:
    :func:`careflow.recovery.failure_outcome`, never the engine's exception text)."""
    runs = stalled_pathway_runs(db, timedelta(seconds=get_settings().stall_after_seconds), limit=STALLED_LIMIT,
                                county_prefix=jurisdiction_prefix(jurisdiction)[:6])
    cases = {row.id: row for row in db.exec(select(Case.id, Case.reference, Case.county_code)
                                            .where(Case.id.in_([run.case_id for run in runs])))} if runs else {}
    rows = []  # the cases of the (at most 200) runs in one query, not one query per run
    for run in runs:
        case = cases.get(run.case_id)
        if case is not None and inside(case.county_code, jurisdiction):
            rows.append({"case_reference": case.reference, "title": pathway_title(run.pathway, t),
                         "since": run.down_since or run.started_at, "restarts": run.restart_count,
                         "last_failure": failure_outcome(run.last_failure).text(t.lang) if run.last_failure else ""})
    return rows


def _export(db, user, area, kind: str):
    jurisdiction = dashboard_area(user, area)
    record_audit(db, actor=user.username, action="dashboard.exported", entity_type="jurisdiction",
                 entity_id=jurisdiction, detail={"format": kind})
    return jurisdiction, utcnow()


# The request's session commits (the audit row) before the response starts; the streams read on their own
# connections (server-side cursor), so nothing waits on the request's transaction.

@router.get("/dashboard/export.csv")
def export_csv(request: Request, db: DbDep, user: ManagerPage, area: Area = None) -> Response:
    jurisdiction, now = _export(db, user, area, "csv")
    t = translator(request)
    return StreamingResponse(tasks_csv(task_rows(db.get_bind(), jurisdiction, now, t), t),
                             media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="careflow-{jurisdiction}-{now:%Y%m%d}.csv"'})


@router.get("/dashboard/export.xlsx")
def export_xlsx(request: Request, db: DbDep, user: ManagerPage, area: Area = None) -> Response:
    jurisdiction, now = _export(db, user, area, "xlsx")
    t = translator(request)
    return StreamingResponse(workbook_chunks(db.get_bind(), jurisdiction, now, t),
                             media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", headers={
        "Content-Disposition": f'attachment; filename="careflow-{jurisdiction}-{now:%Y%m%d}.xlsx"'})
