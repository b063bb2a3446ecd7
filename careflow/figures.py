"""The manager dashboard's figures, computed set-based in the database for every jurisdiction at once.

A task belongs to a jurisdiction when its case's child lives there (residence village/township code, else the
residence county: :func:`web.scope.child_in`); a dated duty without a case, by its own jurisdiction code. A
jurisdiction is a county, a city or the province (GB/T 2260): every task lies in at most three of them. Per
jurisdiction, the figures are grouped three ways: ``total``, ``county`` (the case's county; a duty's jurisdiction
county) and ``unit`` (the agency unit):

* ``open``: requested, acknowledged or in progress; ``overdue``: open and past its deadline; ``escalated``: open
  with at least one rung of the escalation ladder fired (``escalation_level > 0``);
* over the response-time window (:data:`WINDOW_DAYS` days before now): ``completed``, ``completed_on_time``
  (answered by the deadline), ``median_ack_hours`` (acknowledged − requested, tasks acknowledged in the window),
  ``median_complete_hours`` (answered − requested, tasks completed in the window), each duration rounded as
  the page shows it (minutes under an hour, tenths of an hour under two days, tenths of a day beyond);
* ``due`` = completed + overdue; the on-time share is completed_on_time ÷ due. Rejected tasks are left out: a
  rejected step is re-issued as a new attempt, which counts.

The window bounds the work by time, not by the history of the province (before: every task ever, loaded into
Python). :func:`refresh_figures` runs two aggregate queries (counts, then medians from hashed histograms, the
same SQL on PostgreSQL and SQLite) and replaces the rows of :class:`models.dashboard.DashboardFigure` in one
transaction; on PostgreSQL one refresh at a time (an advisory lock; a second caller skips).
"""
from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session

from models.base import UTCDateTime, utcnow
from models.dashboard import DashboardFigure
from models.task import OPEN_STATES

#: Days of answered and acknowledged tasks the response times and the on-time share are computed over.
WINDOW_DAYS = 90
#: Freshness (:func:`is_stale`): the figures are recomputed once older than ``max(FRESH_SECONDS, STALE_FACTOR × the
#: last refresh's duration)`` — at most every 15 s for a county or a small deployment, and a province whose refresh
#: takes 36 s (1,000,000 open tasks on a saturated 2-core machine) at most every 6 minutes, so that refreshing
#: never takes more than a tenth of the database's time.
FRESH_SECONDS = 15
STALE_FACTOR = 10
META = ("", "meta", "")

_OPEN = ", ".join(f"'{s.value}'" for s in sorted(OPEN_STATES))
_AREA = ("CASE WHEN t.case_id IS NULL THEN t.jurisdiction_code "
         "ELSE COALESCE(NULLIF(ch.residence_area_code, ''), ch.residence_county_code) END")
_FROM = ('FROM agency_task t LEFT JOIN "case" c ON c.id = t.case_id LEFT JOIN child ch ON ch.id = c.child_id')
_COUNTY = "COALESCE(c.county_code, SUBSTR(t.jurisdiction_code, 1, 6))"

_COUNTS = f"""
SELECT SUBSTR({_AREA}, 1, 6) AS area6, {_COUNTY} AS county, t.unit_code AS unit,
  SUM(CASE WHEN t.state IN ({_OPEN}) THEN 1 ELSE 0 END) AS open,
  SUM(CASE WHEN t.state IN ({_OPEN}) AND t.due_at < :now THEN 1 ELSE 0 END) AS overdue,
  SUM(CASE WHEN t.state IN ({_OPEN}) AND t.escalation_level > 0 THEN 1 ELSE 0 END) AS escalated,
  SUM(CASE WHEN t.state = 'completed' THEN 1 ELSE 0 END) AS completed,
  SUM(CASE WHEN t.state = 'completed' AND t.answered_at <= t.due_at THEN 1 ELSE 0 END) AS on_time
{_FROM}
WHERE t.state IN ({_OPEN}) OR (t.state = 'completed' AND t.answered_at >= :since)
GROUP BY SUBSTR({_AREA}, 1, 6), {_COUNTY}, t.unit_code
"""


def _medians_sql(hours) -> str:
    """Medians per (measure, scope, kind, key), from histograms.

    Each duration is first rounded to what the page shows (:data:`_SHOWN`): whole minutes under an hour, tenths
    of an hour under two days, tenths of a day beyond. Rounding keeps the order, so the median of the rounded
    values is the page's rounded median (for an even count, the mean of the two middle rounded values). The
    durations are counted per (county area, county, unit, rounded value) by hashing — no sort of the tasks —;
    those counts are added up for every jurisdiction the area lies in (its county, city and province, each
    once) and every grouping; the median is read off the running count of each histogram.
    """
    ack, done = hours("t.acknowledged_at", "t.requested_at"), hours("t.answered_at", "t.requested_at")
    city, prov = "SUBSTR(area6, 1, 4) || '00'", "SUBSTR(area6, 1, 2) || '0000'"
    return f"""
WITH base AS (
  SELECT m, area6, county, unit, {_SHOWN} AS b, COUNT(*) AS cnt FROM (
    SELECT 'ack' AS m, SUBSTR({_AREA}, 1, 6) AS area6, {_COUNTY} AS county, t.unit_code AS unit, {ack} AS x
    {_FROM} WHERE t.acknowledged_at >= :since
    UNION ALL
    SELECT 'done', SUBSTR({_AREA}, 1, 6), {_COUNTY}, t.unit_code, {done}
    {_FROM} WHERE t.state = 'completed' AND t.answered_at >= :since
  ) d GROUP BY m, area6, county, unit, {_SHOWN}
), scoped AS (
  SELECT m, area6 AS scope, county, unit, b, cnt FROM base
  UNION ALL SELECT m, {city}, county, unit, b, cnt FROM base WHERE {city} <> area6
  UNION ALL SELECT m, {prov}, county, unit, b, cnt FROM base WHERE {prov} <> {city} AND {prov} <> area6
), hist AS (
  SELECT m, scope, kind, gkey, b, SUM(cnt) AS cnt FROM (
    SELECT m, scope, 'total' AS kind, '' AS gkey, b, cnt FROM scoped
    UNION ALL SELECT m, scope, 'county', county, b, cnt FROM scoped
    UNION ALL SELECT m, scope, 'unit', unit, b, cnt FROM scoped
  ) g GROUP BY m, scope, kind, gkey, b
), ranked AS (
  SELECT m, scope, kind, gkey, b, cnt,
    SUM(cnt) OVER (PARTITION BY m, scope, kind, gkey ORDER BY b ROWS UNBOUNDED PRECEDING) AS cum,
    SUM(cnt) OVER (PARTITION BY m, scope, kind, gkey) AS n
  FROM hist
)
SELECT m, scope, kind, gkey, AVG(b) FROM ranked
WHERE (cum - cnt < FLOOR((n + 1) / 2.0) AND cum >= FLOOR((n + 1) / 2.0))
   OR (cum - cnt < FLOOR(n / 2.0) + 1 AND cum >= FLOOR(n / 2.0) + 1)
GROUP BY m, scope, kind, gkey
"""


#: A duration ``x`` (hours) rounded as the page shows it (``web.templating.duration``).
_SHOWN = ("CASE WHEN x < 1 THEN ROUND(x * 60) / 60.0 WHEN x < 48 THEN ROUND(x * 10) / 10.0 "
          "ELSE ROUND(x / 2.4) * 2.4 END")


def _hours(dialect: str):
    if dialect == "postgresql":
        return lambda a, b: f"CAST(EXTRACT(EPOCH FROM ({a} - {b})) AS double precision) / 3600.0"
    return lambda a, b: f"(julianday({a}) - julianday({b})) * 24.0"


def scopes_of(area6: str) -> list[str]:
    """The jurisdictions (county, city, province codes) an area lies in, each once: ``350302`` → ``350302``,
    ``350300``, ``350000``; ``350300`` (a city unit's own duty) → ``350300``, ``350000``."""
    found = []
    for code in (area6, area6[:4] + "00", area6[:2] + "0000"):
        if len(code) == 6 and code not in found:
            found.append(code)
    return found


@dataclass
class Refresh:
    """What a refresh did: when it computed, how long it took (seconds), and how many rows it wrote."""

    computed_at: dt.datetime
    seconds: float
    rows: int


def compute_figures(session: Session, now: dt.datetime | None = None,
                    window_days: int = WINDOW_DAYS) -> dict[tuple[str, str, str], dict]:
    """Every jurisdiction's figures at ``now`` (UTC, default now): ``{(scope, kind, key): figures}`` as described
    in the module's docstring (``median_*`` in hours, rounded to 3 decimals, None when nothing to measure)."""
    now = now or utcnow()
    since = now - dt.timedelta(days=window_days)
    params = [sa.bindparam("now", now, type_=UTCDateTime), sa.bindparam("since", since, type_=UTCDateTime)]
    figures: dict[tuple[str, str, str], dict] = defaultdict(lambda: {
        "open": 0, "overdue": 0, "escalated": 0, "completed": 0, "completed_on_time": 0,
        "median_ack_hours": None, "median_complete_hours": None})
    for area6, county, unit, open_, overdue, escalated, completed, on_time in session.execute(
            sa.text(_COUNTS).bindparams(*params)):
        for scope in scopes_of(area6 or ""):
            for key in ((scope, "total", ""), (scope, "county", county or ""), (scope, "unit", unit)):
                f = figures[key]
                f["open"] += open_ or 0
                f["overdue"] += overdue or 0
                f["escalated"] += escalated or 0
                f["completed"] += completed or 0
                f["completed_on_time"] += on_time or 0
    medians = sa.text(_medians_sql(_hours(session.get_bind().dialect.name))).bindparams(params[1])
    for measure, scope, kind, key, value in session.execute(medians):
        field = "median_ack_hours" if measure == "ack" else "median_complete_hours"
        figures[(scope, kind, key or "")][field] = round(float(value), 3) if value is not None else None
    for f in figures.values():
        f["due"] = f["completed"] + f["overdue"]
    return dict(figures)


def refresh_figures(session: Session, now: dt.datetime | None = None, window_days: int = WINDOW_DAYS) -> Refresh | None:
    """Recompute every jurisdiction's figures and replace the rows of ``dashboard_figure`` (flushed in the
    session's transaction; the caller commits). Returns None when another refresh holds the PostgreSQL advisory
    lock (its result will do)."""
    started = time.perf_counter()
    if session.get_bind().dialect.name == "postgresql":
        if not session.execute(sa.text("SELECT pg_try_advisory_xact_lock(hashtext('careflow-dashboard'))")).scalar():
            return None
    now = now or utcnow()
    figures = compute_figures(session, now, window_days)
    seconds = time.perf_counter() - started
    table = DashboardFigure.__table__
    session.execute(sa.delete(table))
    rows = [{"scope_code": scope, "kind": kind, "key": key, **f, "window_days": window_days, "duration_ms": 0,
             "computed_at": now} for (scope, kind, key), f in figures.items()]
    rows.append({"scope_code": META[0], "kind": META[1], "key": META[2], "open": 0, "overdue": 0, "escalated": 0,
                 "completed": 0, "completed_on_time": 0, "due": 0, "median_ack_hours": None,
                 "median_complete_hours": None, "window_days": window_days,
                 "duration_ms": int(seconds * 1000), "computed_at": now})
    for start in range(0, len(rows), 2000):
        session.execute(sa.insert(table), rows[start:start + 2000])
    return Refresh(computed_at=now, seconds=time.perf_counter() - started, rows=len(rows))


def is_stale(meta: DashboardFigure | None, now: dt.datetime | None = None) -> bool:
    """Whether figures whose meta row is ``meta`` (None: never computed) should be recomputed at ``now`` (UTC):
    older than ``max(FRESH_SECONDS, STALE_FACTOR × duration of the refresh that made them)`` seconds."""
    if meta is None:
        return True
    age = ((now or utcnow()) - meta.computed_at).total_seconds()
    return age > max(FRESH_SECONDS, STALE_FACTOR * meta.duration_ms / 1000)


def refresh_if_stale(bind, now: dt.datetime | None = None) -> Refresh | None:
    """Recompute the figures (:func:`refresh_figures`, committed) when :func:`is_stale` says so; ``bind`` an
    engine. Returns what the refresh did, or None when the figures were fresh enough or another refresh was
    running. The sweeper calls it after each sweep (``flows.sweeper.refresh_dashboard``): pages only read."""
    with Session(bind) as session:
        if not is_stale(session.get(DashboardFigure, META), now):
            return None
    with Session(bind) as session:
        result = refresh_figures(session, now)
        session.commit()
    return result


__all__ = ["FRESH_SECONDS", "META", "STALE_FACTOR", "WINDOW_DAYS", "Refresh", "compute_figures", "is_stale",
           "refresh_figures", "refresh_if_stale", "scopes_of"]
