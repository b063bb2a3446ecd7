"""The manager's dashboard: tasks, response times, on-time share and escalations inside a jurisdiction.

The figures (open, overdue, escalated, completed, on time, median times to acknowledge and complete, per county
and per agency unit) are computed set-based by :mod:`careflow.figures` for every jurisdiction at once and read
from ``dashboard_figure``: a province's page reads a few hundred rows, whatever the number of tasks. Response
times and the on-time share cover the last :data:`careflow.figures.WINDOW_DAYS` days (stated on the page).

Freshness: the sweeper (``flows.sweeper``, every minute) recomputes the figures once they are older than
``max(FRESH_SECONDS, STALE_FACTOR × the last refresh's duration)`` (:func:`careflow.figures.refresh_if_stale`);
a page only reads them and shows their time ("截至"), computing them itself only as a fallback
(:func:`ensure_figures`). A province of 1,000,000 open tasks (4,000,000 in all) took 36 s to refresh on a
saturated 2-core machine, so it refreshes at most every ~6 minutes there. The latest escalations and pathways
are read live, one bounded indexed query each (:func:`_newest_inside`).
"""
from __future__ import annotations

import datetime as dt
import functools
import logging
from collections import defaultdict

import sqlalchemy as sa
from sqlmodel import Session, select

from careflow.figures import META, WINDOW_DAYS, is_stale, refresh_figures
from careflow.routing import jurisdiction_prefix
from core.outcome import shown_outcome
from models.agency import AgencyUnit
from models.base import UTCDateTime, utcnow
from models.case import Case, PathwayRun
from models.child import Child
from models.dashboard import DashboardFigure
from models.regions import get_county
from models.task import OPEN_STATES, AgencyTask, Escalation
from web.i18n import Translator
from web.outputs import DashboardOut, EscalationOut, GroupOut, PathwayRowOut
from web.scope import child_in
from web.views import flow_run_url, pathway_title, step_definition

log = logging.getLogger(__name__)

SYNC_LIMIT_S = 0.5
UNIT_PAGE_SIZE = 50
#: Orders of the per-unit table: by code (as before), most overdue first, most open first.
UNIT_SORTS = {
    "code": (DashboardFigure.key,),
    "overdue": (DashboardFigure.overdue.desc(), DashboardFigure.open.desc(), DashboardFigure.key),
    "open": (DashboardFigure.open.desc(), DashboardFigure.overdue.desc(), DashboardFigure.key),
}

@functools.lru_cache(maxsize=512)
def county_name(code: str) -> str:
    """The county's name (GB/T 2260), or the code itself when unknown (cached: the regions never change in a run)."""
    try:
        return get_county(code).name
    except ValueError:
        return code


def task_in_jurisdiction(jurisdiction: str):
    """SQL condition on :class:`AgencyTask` outer-joined to its case and child: the task lies in ``jurisdiction``
    (its case's child lives there; a duty without a case, by its own jurisdiction code)."""
    prefix = jurisdiction_prefix(jurisdiction)
    return sa.or_(
        sa.and_(AgencyTask.case_id.is_(None), AgencyTask.jurisdiction_code.startswith(prefix, autoescape=True)),
        sa.and_(AgencyTask.case_id.is_not(None), child_in(jurisdiction)),
    )


def _refresh_in(bind, now: dt.datetime | None = None) -> None:
    with Session(bind, expire_on_commit=False) as session:
        result = refresh_figures(session, now)
        session.commit()
    if result:
        log.info("dashboard figures refreshed: %d rows in %.2f s", result.rows, result.seconds)


def ensure_figures(bind, *, now: dt.datetime | None = None, force: bool = False, jurisdiction: str = "") -> None:
    """Make sure there are figures to read: the sweeper keeps ``dashboard_figure`` fresh
    (:func:`careflow.figures.refresh_if_stale`), a page only reads it — except as a fallback, computing them in
    the request when they were never computed (a fresh install), or when ``jurisdiction`` has no figures yet,
    they are stale and a refresh is cheap (at most :data:`SYNC_LIMIT_S`: a small deployment, e.g. just after its
    first tasks). ``force``: recompute now, at ``now``."""
    with Session(bind) as session:
        meta = session.get(DashboardFigure, META)
        missing = bool(jurisdiction) and meta is not None and session.get(
            DashboardFigure, (jurisdiction, "total", "")) is None
    if force or meta is None or (missing and meta.duration_ms <= SYNC_LIMIT_S * 1000 and is_stale(meta)):
        try:
            _refresh_in(bind, now)
        except sa.exc.OperationalError:  # SQLite busy with another writer: the figures we have will do
            if meta is None or force:
                raise
            log.warning("dashboard figures: refresh skipped (database busy)", exc_info=True)


def _group(f: DashboardFigure | None, key: str, name: str) -> GroupOut:
    if f is None:
        return GroupOut(key=key, name=name, open=0, overdue=0, escalated=0, median_ack_hours=None,
                        median_complete_hours=None, completed=0, completed_on_time=0, due=0, on_time_share=None)
    return GroupOut(key=key, name=name, open=f.open, overdue=f.overdue, escalated=f.escalated,
                    median_ack_hours=f.median_ack_hours, median_complete_hours=f.median_complete_hours,
                    completed=f.completed, completed_on_time=f.completed_on_time, due=f.due,
                    on_time_share=round(f.completed_on_time / f.due, 3) if f.due else None)


def unit_names(session: Session, codes: list[str]) -> dict[str, str]:
    """Names of at most a page of units (the list is bounded by the page size)."""
    if not codes:
        return {}
    return dict(session.exec(select(AgencyUnit.code, AgencyUnit.name).where(AgencyUnit.code.in_(codes))).all())


#: ``dashboard_figure`` read as plain rows (same attribute names as :class:`DashboardFigure`): a province's page reads
#: a few hundred, and ORM objects cost more to build than the query takes.
_FIGURE_ROW = sa.select(DashboardFigure.__table__)


def unit_figures(session: Session, jurisdiction: str, *, sort: str = "code", offset: int = 0,
                 limit: int | None = None) -> list:
    """The per-unit figures of ``jurisdiction`` (rows with :class:`DashboardFigure`'s columns) in the order ``sort``
    (one of :data:`UNIT_SORTS`), paged."""
    query = (_FIGURE_ROW.where(DashboardFigure.scope_code == jurisdiction, DashboardFigure.kind == "unit")
             .order_by(*UNIT_SORTS.get(sort, UNIT_SORTS["code"])).offset(offset))
    return list(session.execute(query.limit(limit) if limit else query).all())


def build_dashboard(session: Session, jurisdiction: str, *, t: Translator, now: dt.datetime | None = None,
                    unit_page: int = 1, unit_page_size: int = UNIT_PAGE_SIZE, unit_sort: str = "code",
                    pathway_limit: int = 100, escalation_limit: int = 50, fresh: bool = False) -> DashboardOut:
    """The dashboard of ``jurisdiction`` (a county, city or province code).

    ``as_of`` is when its figures were computed (``fresh``: recompute them now, at ``now``); the per-unit table
    is one page (``unit_page`` from 1, ``unit_page_size`` rows, ordered by ``unit_sort``), ``units_total`` the
    number of units; the latest ``escalation_limit`` escalations and ``pathway_limit`` pathways are live.
    """
    bind = session.get_bind()
    ensure_figures(bind, now=now, force=fresh, jurisdiction=jurisdiction)
    unit_page = max(unit_page, 1)
    with Session(bind) as figures:  # its own session: it sees a refresh just committed (SQLite keeps snapshots)
        meta = figures.get(DashboardFigure, META)
        rows = figures.execute(_FIGURE_ROW.where(DashboardFigure.scope_code == jurisdiction,
                                                 DashboardFigure.kind.in_(("total", "county")))).all()
        units_total = figures.exec(select(sa.func.count()).select_from(DashboardFigure).where(
            DashboardFigure.scope_code == jurisdiction, DashboardFigure.kind == "unit")).one()
        units = unit_figures(figures, jurisdiction, sort=unit_sort, offset=(unit_page - 1) * unit_page_size,
                             limit=unit_page_size)
    total = next((r for r in rows if r.kind == "total"), None)
    counties = sorted((r for r in rows if r.kind == "county"), key=lambda r: r.key)
    names = unit_names(session, [u.key for u in units])
    escalations, escalations_complete = latest_escalations(session, jurisdiction, escalation_limit)
    pathways, pathways_complete = latest_pathways(session, jurisdiction, t, pathway_limit)
    return DashboardOut(
        jurisdiction=jurisdiction, as_of=meta.computed_at if meta else (now or utcnow()),
        window_days=meta.window_days if meta else WINDOW_DAYS,
        totals=_group(total, jurisdiction, t("common.total")),
        by_county=[_group(r, r.key, county_name(r.key)) for r in counties],
        by_unit=[_group(u, u.key, names.get(u.key, u.key)) for u in units],
        units_total=units_total, units_page=unit_page, units_page_size=unit_page_size,
        units_sort=unit_sort if unit_sort in UNIT_SORTS else "code",
        escalations=escalations, escalations_complete=escalations_complete,
        pathways=pathways, pathways_complete=pathways_complete, scan_limit=SCAN_LIMIT,
    )


#: The latest escalations and pathways are the newest of the last :data:`SCAN_LIMIT` (by time) that lie inside the
#: jurisdiction: one query each, ``ORDER BY time DESC, id DESC LIMIT n`` with the jurisdiction tested in SQL, read
#: backwards through the (time, id) index and bounded below by the SCAN_LIMIT-th newest key (found in the index
#: alone). A bounded cost per page whatever the province holds: a province's or a large county's list fills within
#: a few hundred rows. The page says when the bound was reached before the list was full.
SCAN_LIMIT = 2000
_FLOOR = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _newest_inside(session: Session, query, key, limit: int) -> tuple[list, bool]:
    """Run ``query`` (rows inside the jurisdiction, ordered by ``key`` newest first) with ``LIMIT limit``, over the
    rows whose time is at least that of the :data:`SCAN_LIMIT`-th newest key of ``key`` (the (time, id) columns of
    an index; found in the index alone, in the same statement). Returns the rows and whether they are all there is
    (False: fewer than ``limit`` found and older rows were not looked at)."""
    time_column, id_column = key.clauses
    bound = (select(time_column).order_by(time_column.desc(), id_column.desc())
             .offset(SCAN_LIMIT - 1).limit(1).scalar_subquery())
    rows = list(session.exec(query.where(time_column >= sa.func.coalesce(bound, sa.bindparam(
        "scan_floor", _FLOOR, type_=UTCDateTime))).limit(limit)).all())
    return rows, len(rows) >= limit or session.exec(select(bound)).one() is None


def latest_escalations(session: Session, jurisdiction: str, limit: int) -> tuple[list[EscalationOut], bool]:
    """The latest ``limit`` escalations of tasks inside ``jurisdiction``, newest first (one query through
    ``ix_escalation_fired_at``, see :func:`_newest_inside`; the columns shown, not whole rows), and whether the
    list is complete."""
    query = (select(Escalation.rung, Escalation.level, Escalation.fired_at, AgencyTask.id, AgencyTask.unit_code,
                    AgencyTask.title, Case.reference)
             .join(AgencyTask, AgencyTask.id == Escalation.task_id)
             .outerjoin(Case, Case.id == AgencyTask.case_id).outerjoin(Child, Child.id == Case.child_id)
             .where(task_in_jurisdiction(jurisdiction))
             .order_by(Escalation.fired_at.desc(), Escalation.id.desc()))
    rows, complete = _newest_inside(session, query, sa.tuple_(Escalation.fired_at, Escalation.id), limit)
    names = unit_names(session, sorted({row[4] for row in rows}))  # at most `limit` units
    return [EscalationOut(task_short_ref=task_id.hex[:8], case_reference=reference or "", unit_code=unit_code,
                          unit_name=names.get(unit_code, unit_code), step_title=title, rung=rung, level=level,
                          fired_at=fired_at)
            for rung, level, fired_at, task_id, unit_code, title, reference in rows], complete


def latest_pathways(session: Session, jurisdiction: str, t: Translator,
                    limit: int) -> tuple[list[PathwayRowOut], bool]:
    """The latest ``limit`` pathway runs inside ``jurisdiction``, newest first (one query through
    ``ix_pathway_run_started_at``, see :func:`_newest_inside`), with their open steps (one query for the steps
    of at most ``limit`` runs; the columns shown, not whole rows), and whether the list is complete."""
    query = (select(PathwayRun.id, PathwayRun.pathway, PathwayRun.status, PathwayRun.started_at, PathwayRun.ended_at,
                    PathwayRun.outcome, PathwayRun.outcome_phrases, PathwayRun.flow_run_id, Case.reference,
                    Case.status, Case.county_code)
             .join(Case, Case.id == PathwayRun.case_id).join(Child, Child.id == Case.child_id)
             .where(child_in(jurisdiction)).order_by(PathwayRun.started_at.desc(), PathwayRun.id.desc()))
    runs, complete = _newest_inside(session, query, sa.tuple_(PathwayRun.started_at, PathwayRun.id), limit)
    open_by_run: dict = defaultdict(list)
    if runs:
        for run_id, step_key, title in session.exec(
                select(AgencyTask.pathway_run_id, AgencyTask.step_key, AgencyTask.title).where(
                    AgencyTask.pathway_run_id.in_([run[0] for run in runs]),
                    AgencyTask.state.in_([s.value for s in OPEN_STATES])).order_by(AgencyTask.requested_at)).all():
            open_by_run[run_id].append((step_key, title))
    pathways = []
    for (run_id, pathway, status, started_at, ended_at, outcome, phrases, flow_run_id, reference, case_status,
         county) in runs:
        current = []
        for step_key, title in open_by_run.get(run_id, []):
            step = step_definition(pathway, step_key)
            current.append(t.pick(step, "title") if step else title)
        pathways.append(PathwayRowOut(
            case_reference=reference, case_status=str(case_status), county_code=county, pathway=pathway,
            title=pathway_title(pathway, t), status=str(status), current_steps=current, started_at=started_at,
            ended_at=ended_at, outcome=shown_outcome(outcome, phrases, t.lang),
            flow_run_url=flow_run_url(flow_run_id),
        ))
    return pathways, complete
