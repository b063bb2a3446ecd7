"""Benchmark: loading a year's holiday arrangement recomputes the open provisional deadlines (careflow.holidays).

``python -m benchmarks.calendar_recompute --provisional 10000 --other 100000`` builds a fresh PostgreSQL careflow
database with 200 cases, ``--provisional`` open police steps (3 working days) requested across February 2027
(provisional: 2027 has no arrangement) and ``--other`` open tasks due in 2026 (not provisional: the load must not
read them), then times ``load_arrangement_file`` with the TEST 2027 fixture and reports the tasks moved, the
messages stored, the SQL statements run and the peak RSS. Not a test: pytest never collects it.
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

from careflow.holidays import CalendarLoad, load_arrangement_file
from careflow.routing import load_agency_units
from core.db import get_engine, migrate, session_scope
from core.settings import get_settings
from models.case import Case, PathwayRun
from models.child import Child

PG_ADMIN_URL = os.environ.get("CAREFLOW_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "careflow" / "fixtures" / "TEST_holidays_2027_not_official.yaml"
CASES = 200


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--provisional", type=int, default=10_000)
    parser.add_argument("--other", type=int, default=100_000)
    args = parser.parse_args()
    name = f"careflow_bench_cal_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    os.environ["CAREFLOW_HOME"] = tempfile.mkdtemp(prefix="careflow-bench-")
    os.environ["CAREFLOW_DATABASE_URL"] = url
    get_settings.cache_clear()  # the settings are read from here on, with this home and database
    try:
        run(url, args.provisional, args.other)
    finally:
        get_engine(url).dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def run(url: str, provisional: int, other: int) -> None:
    """Build the database, then time loading the fixture twice (the second finds nothing left to recount)."""
    migrate(url)
    _cases(url)
    engine = get_engine(url)
    started = time.perf_counter()
    _tasks(engine, provisional, other)
    build = time.perf_counter() - started
    statements = 0

    @event.listens_for(engine, "before_cursor_execute")
    def _count(*_):
        nonlocal statements
        statements += 1

    result, took = _timed_load()
    again, again_took = _timed_load()
    print(f"build {build:.1f} s; provisional open {provisional}, other open {other}")
    print(f"load: {took:.1f} s, examined {result.examined}, moved {result.moved}, confirmed {result.confirmed}, "
          f"still provisional {result.still_provisional}, messages {result.messages}, SQL statements {statements}, "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(f"second load of the same file: {again_took:.2f} s, examined {again.examined}, messages {again.messages}")


def _cases(url: str) -> None:
    """The agency directory, and :data:`CASES` children with a case and a guardianship pathway run each (the ORM)."""
    with session_scope(url) as session:
        load_agency_units(session, get_settings().policy_dir / "agency_units.yaml")
        children = [Child(resident_id=f"35030220150101{k:04d}", full_name=f"基准儿童{k}", birth_date=date(2015, 1, 1),
                          hukou_county_code="511321", residence_county_code="350302",
                          residence_area_code="350302001001", arrival_date=date(2023, 1, 1), created_by="benchmark")
                    for k in range(CASES)]
        session.add_all(children)
        session.flush()
        cases = [Case(reference=f"BENCH-{k:05d}", child_id=c.id, county_code="350302", caseworker=f"bench.cw{k % 50}")
                 for k, c in enumerate(children)]
        session.add_all(cases)
        session.flush()
        session.add_all([PathwayRun(case_id=c.id, pathway="guardianship", started_by="benchmark") for c in cases])


def _tasks(engine: sa.Engine, provisional: int, other: int) -> None:
    """``provisional`` open police steps requested across February 2027 (provisional: 2027 has no arrangement) and
    ``other`` due in 2026 (not provisional), by bulk SQL over the cases' runs; then ``VACUUM ANALYZE``."""
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TEMPORARY TABLE bench_run AS SELECT row_number() OVER (ORDER BY id) - 1 AS k, "
                             "id, case_id FROM pathway_run")
        # requested 2027-02-01 .. 2027-02-10 (hour steps), due = requested + 3 weekdays (provisional), or 2026 tasks
        for count, prov, base in ((provisional, True, datetime(2027, 2, 1, 1, tzinfo=timezone.utc)),
                                  (other, False, datetime(2026, 12, 1, 1, tzinfo=timezone.utc))):
            if not count:
                continue
            conn.execute(sa.text(
                "INSERT INTO agency_task (id, case_id, pathway_run_id, duty_key, step_key, attempt, agency_type, "
                "unit_code, jurisdiction_code, title, state, requested_at, due_at, due_provisional, deadline_text, "
                "escalation_level, answered_by, outcome, rejection_reason, next_rung_at) "
                "SELECT gen_random_uuid(), r.case_id, r.id, NULL, 'police_reprimand', s.n / 200 + 1 + :offset, 'police', "
                "'police-350302', '350302', '训诫', 'acknowledged', "
                "CAST(:base AS timestamptz) + mod(s.n, 216) * interval '1 hour', "
                "CAST(:base AS timestamptz) + mod(s.n, 216) * interval '1 hour' + interval '5 days', :prov, "
                "'3 working days', 0, '', '{}', '', CAST(:base AS timestamptz) + interval '3 days' "
                "FROM generate_series(1, :n) AS s(n) JOIN bench_run r ON r.k = mod(s.n, 200)"),
                {"base": base, "prov": prov, "n": count, "offset": 0 if prov else provisional // 200 + 2})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE agency_task")


def _timed_load() -> tuple[CalendarLoad, float]:
    """Load the 2027 fixture (:func:`careflow.holidays.load_arrangement_file`); its result and seconds taken."""
    started = time.perf_counter()
    result = load_arrangement_file(FIXTURE, actor="benchmark")
    return result, time.perf_counter() - started


if __name__ == "__main__":
    main()
