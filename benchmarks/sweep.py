"""Benchmark of the deadline sweep: steady state, first firing, and the ratio to one bare SQL query.

``python -m benchmarks.sweep`` runs the issue's plan: N = 10,000, 100,000 and 1,000,000 open tasks on PostgreSQL
and 100,000 on SQLite (``--backend``, ``--sizes 10000,100000`` to choose; ``--keep`` keeps the databases).

For each backend and N, a fresh careflow database (migrated, agency directory loaded) gets, with bulk SQL
(``INSERT … SELECT`` over ``generate_series`` / a recursive CTE), N open tasks and 3×N closed ones; half of each
are key care duties without a case, half steps of 2,000 cases' pathway runs. Every open task carries the
``next_rung_at`` the sweep would have given it (its reminder, days away), except two groups of 1 % each whose
reminder falls 30 and 90 minutes after the benchmark's "now". Then, in a fresh Python process (its peak memory
is its own):

1. **steady state** — :func:`careflow.escalation.sweep_deadlines` at "now", nothing due: median of 5 sweeps,
   SQL statements per sweep (a SQLAlchemy ``before_cursor_execute`` counter);
2. **bare query** — the same selection as one hand-written SQL query (open tasks due or never computed, joined
   to their case and fired rungs), median of 5: the ratio is steady-state / bare;
3. **first sweep, 1 % due** — the sweep one hour later: the first group's reminders fire (N / 100 rungs, their
   messages and audit events), timed, statements counted;
4. **memory** — the second group fired under ``tracemalloc`` (peak of Python allocations), plus the process's
   peak RSS, and the steady-state sweep's tracemalloc peak.

Targets (issue #11): at 1,000,000 open tasks on PostgreSQL the steady state ≤ 1 s and ≤ 5× the bare query,
firing 10,000 rungs ≤ 15 s, memory flat from 10,000 to 1,000,000; SQLite 100,000 open tasks ≤ 2 s.
Not a test: pytest never collects it.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

from careflow.escalation import BATCH_SIZE, sweep_deadlines
from careflow.ladder import load_ladder, next_rung_time, task_county
from careflow.routing import load_agency_units
from core.db import get_engine, migrate, session_scope
from core.prefect_env import configure_prefect_env
from core.settings import get_settings
from models.case import Case, PathwayRun
from models.child import Child
from models.task import AgencyTask

PG_ADMIN_URL = os.environ.get("CAREFLOW_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SHANGHAI = timezone(timedelta(hours=8))
#: The benchmark's "now": steady state here; the 1 % groups' reminders 30 and 90 minutes later.
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=SHANGHAI)
T1, T2 = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
CASES = 2000
DEFAULT_PLAN = {"postgresql": [10_000, 100_000, 1_000_000], "sqlite": [100_000]}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------------------------------------------------
# build (bulk SQL)
# ---------------------------------------------------------------------------------------------------------------------

def _cases(url: str) -> None:
    """2,000 children, cases and guardianship runs (the ORM: few rows)."""
    with session_scope(url) as session:
        children = [Child(resident_id=f"35030220150101{k:04d}", full_name=f"基准儿童{k}", birth_date=T0.date().replace(year=2015), hukou_county_code="511321",
                          residence_county_code="350302", residence_area_code="350302001001",
                          arrival_date=T0.date() - timedelta(days=400), created_by="benchmark") for k in range(CASES)]
        session.add_all(children)
        session.flush()
        cases = [Case(reference=f"BENCH-{k:05d}", child_id=child.id, county_code="350302",
                      caseworker=f"bench.cw{k % 50}") for k, child in enumerate(children)]
        session.add_all(cases)
        session.flush()
        session.add_all([PathwayRun(case_id=case.id, pathway="guardianship", started_by="benchmark") for case in cases])


def _task_sql(pg: bool) -> str:
    """One INSERT … SELECT of 4×N tasks: i % 4 = 0 open (j = i / 4 numbers them), else closed; (i / 4) % 2 = 0 a
    step of a case's run (run i % 2000, attempt i / 2000 + 1), else a key care duty without a case. Times in
    seconds after T0 (:t0)."""
    i, j = "s.n", "(s.n / 4)"
    opened = f"mod({i}, 4) = 0"
    # reminder (= next_rung_at) of an open task, in seconds after T0: days away, or 30 / 90 minutes for 1 % each
    rem = (f"CASE WHEN mod({j}, 100) = 0 THEN 1800 + mod({j}, 600) WHEN mod({j}, 100) = 1 THEN 5400 + mod({j}, 600) "
           f"ELSE 561600 + mod({j}, 86400) END")
    # requested = reminder - 7.5 days, due = requested + 10 days (reminder at 3/4 of the time)
    req = f"CASE WHEN {opened} THEN {rem} - 648000 ELSE -2592000 + mod({i}, 86400) END"
    if pg:
        ts = "(CAST(:t0 AS timestamptz) + ({x}) * interval '1 second')"
        uid, text = "gen_random_uuid()", "CAST({x} AS text)"
        series = "generate_series(1, :total) AS s(n)"
        with_ = ""
    else:
        ts = "(strftime('%Y-%m-%d %H:%M:%S', :t0, ({x}) || ' seconds') || '.000000')"
        uid, text = "lower(hex(randomblob(16)))", "CAST({x} AS TEXT)"
        series = "s"
        with_ = "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :total) "
    is_case = f"mod({j}, 2) = 0"
    return (
        f"{with_}INSERT INTO agency_task (id, case_id, pathway_run_id, duty_key, step_key, attempt, agency_type, "
        "unit_code, jurisdiction_code, title, state, requested_at, ack_due_at, due_at, due_provisional, deadline_text, "
        "escalation_level, acknowledged_at, answered_at, answered_by, outcome, rejection_reason, next_rung_at) "
        f"SELECT {uid}, CASE WHEN {is_case} THEN r.case_id END, CASE WHEN {is_case} THEN r.id END, "
        f"CASE WHEN {is_case} THEN NULL ELSE 'bench:' || {text.format(x=i)} END, "
        f"CASE WHEN {is_case} THEN 'police_reprimand' ELSE 'key_care_contact' END, {i} / {CASES} + 1, "
        f"CASE WHEN {is_case} THEN 'police' ELSE 'civil_affairs' END, "
        f"CASE WHEN {is_case} THEN 'police-350302' ELSE 'civil_affairs-350302001' END, "
        f"CASE WHEN {is_case} THEN '350302' ELSE '350302001' END, '基准任务', "
        f"CASE WHEN NOT ({opened}) THEN (CASE WHEN mod({i}, 3) = 0 THEN 'cancelled' ELSE 'completed' END) "
        f"WHEN mod({j}, 3) = 0 THEN 'requested' WHEN mod({j}, 3) = 1 THEN 'acknowledged' ELSE 'in_progress' END, "
        f"{ts.format(x=req)}, NULL, {ts.format(x=f'({req}) + 864000')}, {'false' if pg else '0'}, '10 days', 0, "
        f"NULL, CASE WHEN {opened} THEN NULL ELSE {ts.format(x=f'({req}) + 86400')} END, '', '{{}}', '', "
        f"CASE WHEN {opened} THEN {ts.format(x=rem)} END "
        f"FROM {series} LEFT JOIN bench_run r ON r.k = mod({i}, {CASES})")


def phase_build(url: str, n: int) -> dict:
    started = time.perf_counter()
    _cases(url)
    engine = get_engine(url)
    pg = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TEMPORARY TABLE bench_run AS SELECT row_number() OVER (ORDER BY id) - 1 AS k, "
                             "id, case_id FROM pathway_run WHERE started_by = 'benchmark'")
        t0 = T0.astimezone(timezone.utc)
        conn.execute(sa.text(_task_sql(pg)), {"t0": t0 if pg else t0.strftime("%Y-%m-%d %H:%M:%S"), "total": 4 * n})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE" if pg else "ANALYZE")
    return {"build_s": time.perf_counter() - started}


# ---------------------------------------------------------------------------------------------------------------------
# measure (a fresh process)
# ---------------------------------------------------------------------------------------------------------------------

#: The selection as one hand-written query over the deadlines themselves (as issue #11 measured it, 1.2 ms at
#: 10,000 and ~35 ms at 1,000,000 open tasks): open tasks whose reminder, acknowledgement time or deadline is
#: reached at :now, joined to their case and fired rungs (the overdue rung is the deadline + 24 h here).
BARE_DEADLINES = {
    "postgresql": """SELECT t.id, c.county_code, c.caseworker, e.rung FROM agency_task t
LEFT JOIN "case" c ON c.id = t.case_id LEFT JOIN escalation e ON e.task_id = t.id
WHERE t.state IN ('requested', 'acknowledged', 'in_progress') AND (
  t.requested_at + (t.due_at - t.requested_at) * 0.75 <= :now OR t.due_at <= :now
  OR (t.state = 'requested' AND t.ack_due_at <= :now))""",
    "sqlite": """SELECT t.id, c.county_code, c.caseworker, e.rung FROM agency_task t
LEFT JOIN "case" c ON c.id = t.case_id LEFT JOIN escalation e ON e.task_id = t.id
WHERE t.state IN ('requested', 'acknowledged', 'in_progress') AND (
  julianday(t.requested_at) + (julianday(t.due_at) - julianday(t.requested_at)) * 0.75 <= julianday(:now)
  OR t.due_at <= :now OR (t.state = 'requested' AND t.ack_due_at <= :now))""",
}
#: The same selection through the sweep's own index (next_rung_at), as the sweep reads it (ordered as the index, one
#: batch): the floor of any sweep. Without ORDER BY and LIMIT, PostgreSQL's estimate (closed tasks' NULLs) picks a
#: sequential scan for the NULL branch.
_BRANCH = """SELECT * FROM (SELECT t.id, c.county_code, c.caseworker, e.rung FROM agency_task t{hint}
LEFT JOIN "case" c ON c.id = t.case_id LEFT JOIN escalation e ON e.task_id = t.id
WHERE t.state IN ('requested', 'acknowledged', 'in_progress') AND {where}
ORDER BY t.next_rung_at, t.id LIMIT 20000) AS {name}"""
BARE_INDEX = {
    dialect: _BRANCH.format(hint=hint, where="t.next_rung_at <= :now", name="due") + "\nUNION ALL\n"
    + _BRANCH.format(hint=hint, where="t.next_rung_at IS NULL", name="uncomputed")
    for dialect, hint in (("postgresql", ""), ("sqlite", " INDEXED BY ix_agency_task_next_rung_open"))
}


def phase_measure(url: str, n: int) -> dict:
    """Steady state, bare queries, first firing and memory on the built database (a fresh process: see the module)."""
    os.environ["CAREFLOW_DATABASE_URL"] = url
    get_settings.cache_clear()
    meter = _Meter(url)
    _check_next_rung_sample(url)
    dialect = meter.engine.dialect.name
    load_before = os.getloadavg()[0]
    meter.sweep(T0)  # warm-up: connections, imports, caches
    steady = [meter.sweep(T0) for _ in range(5)]
    assert all(not r.fired_count and not r.backlog for _, _, r in steady), "something was due in the steady state"
    bares = [meter.bare(T0, BARE_DEADLINES[dialect]) for _ in range(5)]
    bares_index = [meter.bare(T0, BARE_INDEX[dialect]) for _ in range(5)]
    _, steady_peak = _traced_peak(lambda: meter.sweep(T0))
    bare_due, due_rows = meter.bare(T1, BARE_INDEX[dialect])
    rss_before = _peak_rss_mb()
    fire_s, fire_statements, first = meter.sweep(T1)
    rss_after = _peak_rss_mb()
    (fire2_s, _, second), fire_peak = _traced_peak(lambda: meter.sweep(T2))
    after = [meter.sweep(T2 + timedelta(minutes=1)) for _ in range(3)]
    return {
        "n": n, "backend": dialect,
        "steady_s": statistics.median(s for s, _, _ in steady), "steady_statements": steady[-1][1],
        "bare_s": statistics.median(s for s, _ in bares),
        "bare_index_s": statistics.median(s for s, _ in bares_index), "bare_due_s": bare_due, "bare_due_rows": due_rows,
        "fire_s": fire_s, "fire_cpu_s": first.cpu_s, "fired": first.fired_count,
        "load": (load_before, os.getloadavg()[0]), "fire_statements": fire_statements, "fire_batches": first.batches,
        "fire2_s_tracemalloc": fire2_s, "fired2": second.fired_count,
        "steady_after_s": statistics.median(s for s, _, _ in after),
        "steady_peak_mb": steady_peak / 2**20, "fire_peak_mb": fire_peak / 2**20,
        "rss_before_fire_mb": rss_before, "rss_after_fire_mb": rss_after, "peak_rss_mb": _peak_rss_mb(),
    }


class _Meter:
    """The measure phase's instruments on one database: the SQL statements run (a ``before_cursor_execute``
    counter), a bare query timed (seconds, rows), a sweep timed (seconds, statements, its report with ``cpu_s``)."""

    def __init__(self, url: str):
        self.engine = get_engine(url)
        self.pg = self.engine.dialect.name == "postgresql"
        self.statements = 0
        event.listen(self.engine, "before_cursor_execute", self._count)

    def _count(self, *_args, **_kw) -> None:
        self.statements += 1

    def bare(self, now: datetime, sql: str) -> tuple[float, int]:
        value = now.astimezone(timezone.utc)
        with self.engine.connect() as conn:
            started = time.perf_counter()
            rows = conn.execute(sa.text(sql), {"now": value if self.pg else value.replace(tzinfo=None).isoformat(
                sep=" ", timespec="microseconds")}).all()
            return time.perf_counter() - started, len(rows)

    def sweep(self, now: datetime):
        before = self.statements
        started, cpu = time.perf_counter(), time.process_time()
        report = sweep_deadlines(now, time_budget=3600)
        report.cpu_s = time.process_time() - cpu
        return time.perf_counter() - started, self.statements - before, report


def _check_next_rung_sample(url: str) -> None:
    """The bulk SQL's ``next_rung_at`` agrees with the rule (:func:`careflow.ladder.next_rung_time`) for a sample of
    50 open tasks (AssertionError naming the task otherwise)."""
    ladder = load_ladder()
    with session_scope(url) as session:
        for task in session.exec(sa.select(AgencyTask).where(AgencyTask.next_rung_at.is_not(None)).limit(50)).scalars():
            expected = next_rung_time(task, ladder, (), county_code=task_county(task, "350302"), now=T0)
            assert abs((expected - task.next_rung_at).total_seconds()) < 1, (task.id, expected, task.next_rung_at)


def _traced_peak(measure):
    """``measure()``'s result and the peak of Python allocations while it ran (tracemalloc, bytes)."""
    tracemalloc.start()
    result = measure()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, peak


# ---------------------------------------------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------------------------------------------

def _create_database(backend: str, workdir: Path) -> tuple[str, callable]:
    if backend == "sqlite":
        db = workdir / f"sweep-{uuid.uuid4().hex[:8]}.db"
        url = f"sqlite:///{db}"

        def drop() -> None:
            for suffix in ("", "-wal", "-shm", ".sweep-lock"):
                Path(str(db) + suffix).unlink(missing_ok=True)
    else:
        name = f"careflow_bench_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"

        def drop() -> None:
            admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    migrate(url)
    with session_scope(url) as session:
        load_agency_units(session, get_settings().policy_dir / "agency_units.yaml")
    return url, drop


def _child(phase: str, url: str, n: int) -> dict:
    command = [sys.executable, "-m", "benchmarks.sweep", "--phase", phase, "--url", url, "--sizes", str(n)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    if done.returncode != 0:
        raise RuntimeError(f"{phase} phase failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def run(plan: dict[str, list[int]], workdir: Path, keep: bool) -> None:
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; N open tasks + 3×N closed, "
          f"half key care duties without a case; batch {BATCH_SIZE}")
    results = []
    for backend, sizes in plan.items():
        for n in sizes:
            url, drop = _create_database(backend, workdir)
            try:
                built = _child("build", url, n)
                m = _child("measure", url, n)
            finally:
                if not keep:
                    drop()
            results.append(m)
            print(f"\n== {backend}, N = {n:,} open tasks ({4 * n:,} in all; built in {built['build_s']:.0f} s) ==")
            print(f"steady state (nothing due): {_ms(m['steady_s'])} median of 5, {m['steady_statements']} SQL "
                  f"statements; after firing: {_ms(m['steady_after_s'])}")
            print(f"bare query over the deadlines (the issue's): {_ms(m['bare_s'])}; ratio steady/bare "
                  f"{m['steady_s'] / m['bare_s']:.1f}×")
            print(f"bare query through the next_rung_at index (the floor): {_ms(m['bare_index_s'])}; ratio "
                  f"{m['steady_s'] / m['bare_index_s']:.1f}×")
            print(f"first sweep, 1 % due: {m['fired']:,} rungs fired in {_ms(m['fire_s'])} "
                  f"(CPU of this process {_ms(m['fire_cpu_s'])}; load average {m['load'][0]:.1f} → {m['load'][1]:.1f}) "
                  f"({m['fire_batches']} batches, {m['fire_statements']} SQL statements); the bare query returning "
                  f"those {m['bare_due_rows']:,} rows: {_ms(m['bare_due_s'])}")
            print(f"memory: tracemalloc peak {m['steady_peak_mb']:.2f} MB steady, {m['fire_peak_mb']:.1f} MB firing "
                  f"{m['fired2']:,} rungs (that sweep {_ms(m['fire2_s_tracemalloc'])} under tracemalloc); "
                  f"peak RSS {m['peak_rss_mb']:.0f} MB (before firing {m['rss_before_fire_mb']:.0f} MB)")
    print("\nsummary: backend, N, steady, bare over deadlines, ratio, bare by index, ratio, fired, firing time, statements steady/firing, "
          "tracemalloc peak steady/firing, peak RSS")
    for m in results:
        print(f"  {m['backend']:<10} {m['n']:>9,}  {_ms(m['steady_s']):>9}  {_ms(m['bare_s']):>9}  "
              f"{m['steady_s'] / m['bare_s']:5.1f}×  {_ms(m['bare_index_s']):>9}  {m['steady_s'] / m['bare_index_s']:5.1f}×  "
              f"{m['fired']:>6,}  {_ms(m['fire_s']):>9}  "
              f"{m['steady_statements']}/{m['fire_statements']}  {m['steady_peak_mb']:.2f}/{m['fire_peak_mb']:.1f} MB  "
              f"{m['peak_rss_mb']:.0f} MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--sizes", help="comma-separated N (open tasks); default: the issue's plan "
                        "(PostgreSQL 10,000, 100,000, 1,000,000; SQLite 100,000)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "careflow-bench")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    parser.add_argument("--phase", choices=("build", "measure"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "").replace(",", "")) for s in args.sizes.split(",")] if args.sizes else None
    if args.phase:
        configure_prefect_env()
        result = phase_build(args.url, sizes[0]) if args.phase == "build" else phase_measure(args.url, sizes[0])
        print(json.dumps(result))
        return 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("CAREFLOW_HOME", str(args.workdir / "home"))
    backends = ["postgresql", "sqlite"] if args.backend == "both" else [args.backend]
    plan = {b: sizes or DEFAULT_PLAN[b] for b in backends}
    run(plan, args.workdir, args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
