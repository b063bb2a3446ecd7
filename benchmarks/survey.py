"""Benchmark of the survey import: rows per second, peak memory, and the ratio to a bare bulk insert.

``python -m benchmarks.survey --rows 1000000 --backend postgresql`` (``sqlite`` or ``both``; ``--format xlsx``)

For each backend it makes a fresh careflow database (migrated, agency directory loaded), a realistic survey of
``--rows`` rows (:mod:`benchmarks.generate_survey`, kept in ``--workdir`` for the next run), and then, each in a
fresh Python process so that its peak memory is its own:

1. **bare** — the same file's rows streamed with ``csv`` and bulk-inserted as text into a table with no constraint
   and no index (COPY on PostgreSQL, ``executemany`` in 20,000-row batches on SQLite), in one transaction: the
   floor of what any import of this file costs on this machine;
2. **import** — :func:`careflow.survey.importer.import_survey`: validation, classification, dedupe, fates,
   children, round records, key care files and their duties, in one transaction.

Printed: rows/s of both, the import's rows/s as a share of the bare insert's, the import's peak RSS
(``resource.getrusage``; ``--tracemalloc`` adds the peak of Python allocations, at a cost in speed) and where the
import's time went. Not a test: pytest never collects it (``benchmarks/`` is outside ``testpaths``).
"""
from __future__ import annotations

import argparse
import csv
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

from core.db import get_engine, migrate, session_scope
from core.prefect_env import configure_prefect_env
from core.settings import get_settings

PG_ADMIN_URL = os.environ.get("CAREFLOW_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
COUNTY, ROUND, NEXT_ROUND = "350302", "2026-10", "2027-04"


def _peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # kB on Linux; for RUSAGE_CHILDREN the largest child's


# ---------------------------------------------------------------------------------------------------------------------
# phases (run in a child process)
# ---------------------------------------------------------------------------------------------------------------------

def phase_bare(url: str, path: Path) -> dict:
    """Stream the CSV and bulk-insert its rows as text, no checks, one transaction."""
    engine = get_engine(url)
    started = time.perf_counter()
    rows = 0
    with engine.connect() as conn, conn.begin():
        raw = conn.connection.driver_connection
        conn.exec_driver_sql("DROP TABLE IF EXISTS bench_bare")
        conn.exec_driver_sql("CREATE TABLE bench_bare (" + ", ".join(f"c{i} TEXT" for i in range(13)) + ")")
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            next(reader), next(reader)  # title and header
            if conn.dialect.name == "postgresql":
                with raw.cursor() as cursor, cursor.copy("COPY bench_bare FROM STDIN") as copy:
                    for record in reader:
                        if len(record) == 13:
                            copy.write_row(record)
                            rows += 1
            else:
                cursor = raw.cursor()
                sql = f"INSERT INTO bench_bare VALUES ({', '.join('?' for _ in range(13))})"
                batch = []
                for record in reader:
                    if len(record) == 13:
                        batch.append(record)
                        if len(batch) == 20_000:
                            cursor.executemany(sql, batch)
                            rows += len(batch)
                            batch.clear()
                cursor.executemany(sql, batch)
                rows += len(batch)
    seconds = time.perf_counter() - started
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE bench_bare"))
    return {"rows": rows, "seconds": seconds, "peak_rss_mb": _peak_rss_mb()}


def phase_import(url: str, path: Path, use_tracemalloc: bool, second_round: bool) -> dict:
    """The real import of the file; with ``second_round`` the same file again into the next round (every child
    now known to careflow: the merge path, as every round after a county's first)."""
    os.environ["CAREFLOW_DATABASE_URL"] = url
    get_settings.cache_clear()
    # start-up: the bare phase's process reports its peak RSS, so this module loads only what a bare insert needs
    from careflow.survey.importer import import_survey

    if use_tracemalloc:
        tracemalloc.start()
    rss_before = _peak_rss_mb()
    report = import_survey(path, county=COUNTY, round_label=ROUND, actor="benchmark")
    result = {"rows": report.counts["read"], "seconds": report.seconds, "counts": report.counts,
              "files": report.files, "duties": report.duties, "timings": report.timings,
              "peak_rss_mb": _peak_rss_mb(), "rss_before_mb": rss_before,
              "parser_peak_rss_mb": _peak_rss_mb(resource.RUSAGE_CHILDREN)}
    if second_round:
        now = datetime(2027, 4, 15, 10, 0, tzinfo=timezone(timedelta(hours=8)))
        again = import_survey(path, county=COUNTY, round_label=NEXT_ROUND, actor="benchmark", now=now)
        result["second"] = {"rows": again.counts["read"], "seconds": again.seconds, "counts": again.counts,
                            "files": again.files, "duties": again.duties, "timings": again.timings}
    if use_tracemalloc:
        result["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    return result


# ---------------------------------------------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------------------------------------------

def _create_database(backend: str, workdir: Path) -> tuple[str, callable]:
    if backend == "sqlite":
        db = workdir / f"bench-{uuid.uuid4().hex[:8]}.db"
        url = f"sqlite:///{db}"

        def drop() -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(str(db) + suffix).unlink(missing_ok=True)
    else:
        name = f"careflow_bench_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"

        def drop() -> None:
            get_engine(url).dispose()
            admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    from careflow.routing import load_agency_units  # start-up: as phase_import says (the driver only)

    migrate(url)
    with session_scope(url) as session:
        load_agency_units(session, get_settings().policy_dir / "agency_units.yaml")
    return url, drop


def _child(phase: str, url: str, path: Path, use_tracemalloc: bool, second_round: bool = False) -> dict:
    command = [sys.executable, "-m", "benchmarks.survey", "--phase", phase, "--url", url, "--file", str(path)]
    if use_tracemalloc:
        command.append("--tracemalloc")
    if second_round:
        command.append("--second-round")
    done = subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    if done.returncode != 0:
        raise RuntimeError(f"{phase} phase failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(rows: int, backends: list[str], fmt: str, workdir: Path, use_tracemalloc: bool, keep: bool,
        repeat: int = 1, second_round: bool = False) -> None:
    from benchmarks.generate_survey import write_survey  # start-up: the regions and ID rules, as phase_import says

    path = workdir / f"survey-{COUNTY}-{rows}.{fmt}"
    if not path.exists():
        started = time.perf_counter()
        write_survey(path, rows, county=COUNTY, round_label=ROUND)
        print(f"generated {path} ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s")
    print(f"file: {path.name}, {rows} data rows, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    for backend in backends:
        rates, ratios = [], []
        for attempt in range(1, repeat + 1):
            url, drop = _create_database(backend, workdir)
            try:
                bare = _child("bare", url, path, False) if fmt == "csv" else None
                imported = _child("import", url, path, use_tracemalloc, second_round)
            finally:
                if not keep:
                    drop()
            rate = imported["rows"] / imported["seconds"]
            rates.append(rate)
            print(f"\n== {backend}, run {attempt} of {repeat} ==")
            print(f"import: {imported['rows']} rows in {imported['seconds']:.1f} s = {rate:,.0f} rows/s; "
                  f"peak RSS {imported['peak_rss_mb']:.0f} MB (after imports, before the import: "
                  f"{imported['rss_before_mb']:.0f} MB), parser process {imported['parser_peak_rss_mb']:.0f} MB"
                  + (f"; tracemalloc peak {imported['tracemalloc_peak_mb']:.1f} MB"
                     if "tracemalloc_peak_mb" in imported else ""))
            if bare:
                bare_rate = bare["rows"] / bare["seconds"]
                ratios.append(rate / bare_rate)
                print(f"bare bulk insert: {bare['rows']} rows in {bare['seconds']:.1f} s = {bare_rate:,.0f} rows/s; "
                      f"peak RSS {bare['peak_rss_mb']:.0f} MB")
                print(f"ratio: the import runs at {rate / bare_rate:.2f} × the bare insert's rate "
                      f"({imported['seconds'] / bare['seconds']:.1f} × its time)")
            counts = imported["counts"]
            print(f"rows: {counts['inserted']} inserted, {counts['invalid']} invalid, {counts['duplicate']} "
                  f"duplicate, {counts['blank']} blank; {counts['migrant']} migrant, {counts['key_care']} key care; "
                  f"files {imported['files']}; duties {imported['duties']}")
            print("time: " + ", ".join(f"{k} {v:.1f} s" for k, v in imported["timings"].items()))
            if "second" in imported:
                second = imported["second"]
                c = second["counts"]
                print(f"second round ({NEXT_ROUND}, every child known): {second['rows']} rows in "
                      f"{second['seconds']:.1f} s = {second['rows'] / second['seconds']:,.0f} rows/s; "
                      f"{c['inserted']} inserted, {c['updated']} updated, {c['unchanged']} unchanged; "
                      f"files {second['files']}; duties {second['duties']}")
                print("time: " + ", ".join(f"{k} {v:.1f} s" for k, v in second["timings"].items()))
        if repeat > 1:
            print(f"\n{backend}: median of {repeat} runs {statistics.median(rates):,.0f} rows/s "
                  f"(runs: {', '.join(f'{r:,.0f}' for r in rates)})"
                  + (f"; median ratio to the bare insert {statistics.median(ratios):.2f}" if ratios else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "careflow-bench")
    parser.add_argument("--tracemalloc", action="store_true", help="also measure the peak of Python allocations")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    parser.add_argument("--repeat", type=int, default=1, help="runs per backend (a fresh database each); the "
                        "median is printed")
    parser.add_argument("--second-round", action="store_true",
                        help=f"also import the file again into round {NEXT_ROUND} (every child known)")
    parser.add_argument("--phase", choices=("bare", "import"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        configure_prefect_env()
        result = phase_bare(args.url, args.file) if args.phase == "bare" else phase_import(
            args.url, args.file, args.tracemalloc, args.second_round)
        print(json.dumps(result))
        return 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    run(args.rows, backends, args.format, args.workdir, args.tracemalloc, args.keep, args.repeat, args.second_round)
    return 0


if __name__ == "__main__":
    sys.exit(main())
