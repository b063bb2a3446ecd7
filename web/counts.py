"""Totals of lists that never cost a full scan: counted exactly up to :data:`COUNT_LIMIT` rows, estimated beyond.

``SELECT count(*) FROM (SELECT 1 FROM … WHERE … LIMIT 1001)`` reads at most 1,001 matching rows through whatever
index serves the filters, so a list of a million open tasks is counted as fast as one of a thousand. Beyond the
limit, PostgreSQL's planner estimate of the unbounded query (``EXPLAIN``: planned, not run) stands in, shown as
「约 N 条（估计数）」; SQLite has no such estimate and says 「超过 1000 条」.
"""
from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable
from sqlmodel import Session

#: A list's total is counted exactly up to this many rows; beyond, it is estimated (PostgreSQL) or "more than".
COUNT_LIMIT = 1000


class _Explain(Executable, ClauseElement):
    """``EXPLAIN (FORMAT JSON) <select>`` on PostgreSQL (the statement is planned, not run)."""

    inherit_cache = False

    def __init__(self, statement):
        self.statement = statement


@compiles(_Explain, "postgresql")
def _explain_pg(element, compiler, **kw):
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


def _round_estimate(rows: float) -> int:
    """A planner estimate to two significant digits (126,432 → 130,000): it is no more precise than that."""
    rows = int(rows)
    digits = len(str(rows))
    return rows if digits <= 2 else round(rows, 2 - digits)


def count_rows(session: Session, count_query, *, limit: int = COUNT_LIMIT) -> tuple[int, bool, bool]:
    """The total of a list: ``(total, exact, estimated)``, reading at most ``limit + 1`` rows.

    ``count_query`` is the list's ``SELECT count(*) FROM … WHERE …``, or a list of them over disjoint sets of rows
    (counted as one ``UNION ALL``, each part planned on its own). Its rows are counted under ``LIMIT limit + 1``;
    when that many exist, PostgreSQL's planner estimate of the unbounded query (EXPLAIN, no rows read) is the total
    if it is above ``limit`` (``estimated``), otherwise ``limit + 1`` stands for "more".
    """
    parts = [q.with_only_columns(sa.literal(1)) for q in
             (count_query if isinstance(count_query, (list, tuple)) else [count_query])]
    rows = parts[0] if len(parts) == 1 else sa.union_all(*parts)
    counted = session.execute(sa.select(sa.func.count()).select_from(rows.limit(limit + 1).subquery())).scalar_one()
    if counted <= limit:
        return counted, True, False
    if session.get_bind().dialect.name == "postgresql":
        plan = session.execute(_Explain(rows)).scalar_one()
        if isinstance(plan, str):
            plan = json.loads(plan)
        estimate = _round_estimate(plan[0]["Plan"]["Plan Rows"])
        if estimate > limit:
            return estimate, False, True
    return limit + 1, False, False


__all__ = ["COUNT_LIMIT", "count_rows"]
