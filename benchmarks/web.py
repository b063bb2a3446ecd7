"""Benchmark of the web app at provincial scale: p50/p95 of the pages people open, with N open tasks.

``python -m benchmarks.web --open 1000000`` (PostgreSQL at ``CAREFLOW_BENCH_PG_URL``, default the local server)

It makes a fresh careflow database (migrated, agency directory loaded) and loads, with bulk SQL
(``INSERT … SELECT generate_series``), ``--open`` open tasks plus three times as many closed ones (completed over
the past year, some rejected): half of them steps of a case (a child, its case and a pathway run per four tasks),
half dated duties without a case, like the survey's key care duties; each pathway run has a flow run (a healthy
deployment: none is listed as stalled on the dashboard). One county (城厢区 350302) holds an eighth
of everything (the size of a 1,000,000-row county survey); the rest is spread over every county of Fujian, a
dozen units each. One unit (police-350302) has ``--inbox`` open tasks. Then it computes the dashboard figures once
(:func:`careflow.figures.refresh_figures`, timed: the cost of each background refresh), starts the web app with
uvicorn on a loopback port in a process of its own, signs in an officer, a county manager and a province manager,
and prints p50/p95 (ms) of ``--requests`` requests for each page of :data:`PAGES`, and the time to the first byte
of the streamed exports. Target (issue #11): p95 ≤ 100 ms for every page.

Adjust a page's URL with ``--path NAME=/path?query`` (e.g. once the lists have filters:
``--path search=/tasks?state=open&overdue=1``). ``--keep`` keeps the database (``--url`` reuses one) so that a
second run skips the load. Not a test: pytest never collects it.
"""
from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlmodel import Session

from careflow.figures import refresh_figures
from careflow.routing import load_agency_units
from core.db import get_engine, migrate, session_scope
from core.settings import get_settings
from models.regions import load_regions
from models.user import UserRole
from web.users import create_api_token, create_user

PG_ADMIN_URL = os.environ.get("CAREFLOW_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BIG_COUNTY = "350302"
INBOX_UNIT = "police-350302"
PASSWORD = "bench-password-123"
ROOT = Path(__file__).resolve().parent.parent
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
UNIT_TYPES = ["police", "civil_affairs", "education", "health", "womens_federation", "justice", "procuratorate",
              "court", "human_resources", "disabled_federation", "youth_league", "village_committee"]

#: (name, who asks, how, path): "who" is officer, county (manager of 350302), province (manager of 350000) or
#: township (caseworker of 350302101, where the children of 350302 live);
#: "how" is page (session cookie), api (bearer token) or ttfb (time to the first byte of a streamed body).
PAGES = [
    ("healthz (baseline)", "officer", "page", "/healthz"),  # no database: what the machine's load alone costs
    ("inbox", "officer", "page", "/inbox"),  # the unit's open tasks by deadline, first page (web/routes/tasks.py)
    ("inbox_overdue", "officer", "page", "/inbox?flag=overdue"),  # a filtered inbox
    ("api_tasks", "officer", "api", "/api/tasks"),  # the envelope {items, total, next, ...} (web/api/tasks.py)
    ("county_dashboard", "county", "page", "/dashboard"),
    ("province_dashboard", "province", "page", "/dashboard"),
    ("api_province_dashboard", "province", "api", "/api/dashboard"),
    ("province_units_page_3", "province", "page", "/dashboard?unit_page=3&unit_sort=overdue"),
    ("search", "county", "page", "/cases?status=open"),
    ("county_tasks", "county", "page", "/tasks"),  # a county manager's open tasks by deadline (web/task_list.py)
    ("county_tasks_overdue", "county", "page", "/tasks?flag=overdue"),  # a manager's filtered task list
    ("county_tasks_case_ref", "county", "page", "/tasks?q=CF-BENCH-800"),  # search by case reference prefix
    ("county_children", "county", "page", "/children"),  # a county's children, newest first
    ("township_children", "township", "page", "/children"),  # a township caseworker's children
    ("township_child_name", "township", "page", "/children?q=儿童1234"),  # a part of the name (pg_trgm)
    ("township_child_id_tail", "township", "page", "/children?q=00012344"),  # last digits of the ID (reversed-ID btree)
    ("county_csv_ttfb", "county", "ttfb", "/dashboard/export.csv"),
    ("province_csv_ttfb", "province", "ttfb", "/dashboard/export.csv"),
]


# ---------------------------------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------------------------------

def _create_database() -> tuple[str, callable]:
    name = f"careflow_bench_web_{uuid.uuid4().hex[:8]}"
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

    migrate(url)
    with session_scope(url) as session:
        load_agency_units(session, get_settings().policy_dir / "agency_units.yaml")
    return url, drop


# j = i / 4 numbers a group of four tasks (k = i % 4: 0 open, 1-3 closed); j odd: the four steps of case j / 2,
# j even: four duties. With c = j / 2 (= i / 8): county 350302 when c % 8 = 0, else counties[(c / 8) % n], so that
# a case's child and its tasks lie in one county. Times in hours before now.
_TASKS = """
INSERT INTO agency_task (id, case_id, pathway_run_id, duty_key, step_key, attempt, agency_type, unit_code,
  jurisdiction_code, title, state, requested_at, ack_due_at, due_at, due_provisional, deadline_text,
  escalation_level, acknowledged_at, answered_at, answered_by, outcome, rejection_reason)
SELECT md5('t' || i)::uuid,
  CASE WHEN j % 2 = 1 THEN md5('c' || (j / 2))::uuid END,
  CASE WHEN j % 2 = 1 THEN md5('r' || (j / 2))::uuid END,
  CASE WHEN j % 2 = 0 THEN 'bench-' || i END,
  's' || k, 1, (CAST(:types AS text[]))[1 + i % CAST(:ntypes AS int)], 'bench-' || (CAST(:types AS text[]))[1 + i % CAST(:ntypes AS int)] || '-' || county,
  county || '101001', '环节' || k,
  CASE WHEN k > 0 THEN CASE WHEN j % 10 = 0 THEN 'rejected' ELSE 'completed' END
       WHEN j % 3 = 0 THEN 'requested' WHEN j % 3 = 1 THEN 'acknowledged' ELSE 'in_progress' END,
  requested, NULL, requested + (CASE WHEN k = 0 THEN 24 * (1 + j % 20) ELSE 120 END) * interval '1 hour', false,
  '3 working days',
  CASE WHEN k = 0 AND requested + (24 * (1 + j % 20)) * interval '1 hour' < now() AND i % 5 = 0 THEN 1 ELSE 0 END,
  CASE WHEN k > 0 OR j % 3 <> 0 THEN requested + (1 + i % 48) * interval '1 hour' END,
  CASE WHEN k > 0 THEN requested + (2 + i % 240) * interval '1 hour' END,
  '', '{}', CASE WHEN k > 0 AND j % 10 = 0 THEN '不属本单位职责' ELSE '' END
FROM (
  SELECT i, i / 4 AS j, i % 4 AS k,
    CASE WHEN (i / 8) % 8 = 0 THEN :big ELSE (CAST(:counties AS text[]))[1 + ((i / 8) / 8) % CAST(:ncounties AS int)] END
      AS county,
    now() - (CASE WHEN i % 4 = 0 THEN (i * 7) % 720 ELSE (i * 7) % 8760 END) * interval '1 hour' AS requested
  FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS i
) s
"""

_CHILDREN = """
INSERT INTO child (id, resident_id, full_name, sex, birth_date, hukou_county_code, residence_county_code,
  residence_area_code, residence_address, arrival_date, key_care_criteria, created_at, created_by)
SELECT md5('h' || c)::uuid, lpad(c::text, 18, '0'), '儿童' || c, '男', date '2015-03-15', '511321', county,
  county || '101001', '', date '2023-08-20', '[]', now(), 'bench'
FROM (SELECT c, CASE WHEN c % 8 = 0 THEN :big
                     ELSE (CAST(:counties AS text[]))[1 + (c / 8) % CAST(:ncounties AS int)] END AS county
      FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS c) s;
INSERT INTO "case" (id, reference, child_id, county_code, caseworker, summary, status, opened_at, closed_at,
  close_reason)
SELECT md5('c' || c)::uuid, 'CF-BENCH-' || c, md5('h' || c)::uuid, ch.residence_county_code, 'bench', '', 'open',
  now() - interval '1 year', NULL, ''
FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS c JOIN child ch ON ch.id = md5('h' || c)::uuid;
INSERT INTO pathway_run (id, case_id, pathway, parameters, status, flow_run_id, started_by, started_at, ended_at,
  outcome, resume_pending, answer_seq, suspend_seq, resume_attempts, last_resume_error)
SELECT md5('r' || c)::uuid, md5('c' || c)::uuid, 'guardianship', '{}', 'running', md5('f' || c)::uuid, 'bench',
  now() - ((c * 13) % 8760) * interval '1 hour', NULL, '', false, 0, 0, 0, ''
FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS c;
"""


def load(url: str, open_tasks: int, inbox: int, batch: int = 500_000) -> None:
    """Units, children, cases, pathway runs and ``4 × open_tasks`` tasks, by bulk SQL; then ANALYZE."""
    counties = [r.code for r in load_regions().counties if r.code != BIG_COUNTY]
    engine = get_engine(url)
    total = 4 * open_tasks
    cases = total // 8  # j odd: j / 2 runs over 0 … total / 8
    common = {"big": BIG_COUNTY, "counties": counties, "ncounties": len(counties)}
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO agency_unit (code, agency_type, jurisdiction_code, name, active) "
                             "VALUES (:code, :type, :county, :name, true) ON CONFLICT DO NOTHING"),
                     [{"code": f"bench-{t}-{c}", "type": t, "county": c, "name": f"{c} {t} 单位"}
                      for c in counties + [BIG_COUNTY] for t in UNIT_TYPES])
    for lo in range(0, cases + 1, batch):
        with engine.begin() as conn:
            for statement in _CHILDREN.strip().split(";\n"):
                conn.execute(sa.text(statement), {**common, "lo": lo, "hi": min(lo + batch - 1, cases)})
    print(f"  {cases + 1:,} children, cases and pathway runs in {time.perf_counter() - started:.0f} s", flush=True)
    for lo in range(4, total + 4, batch):
        with engine.begin() as conn:
            conn.execute(sa.text(_TASKS), {**common, "types": UNIT_TYPES, "ntypes": len(UNIT_TYPES), "lo": lo,
                                           "hi": min(lo + batch - 1, total + 3)})
        print(f"  tasks {min(lo + batch - 1, total + 3):,} of {total:,} ({time.perf_counter() - started:.0f} s)",
              flush=True)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "UPDATE agency_task SET unit_code = :unit, agency_type = 'police' WHERE id IN (SELECT id FROM agency_task "
            "WHERE state IN ('requested', 'acknowledged', 'in_progress') AND jurisdiction_code LIKE :area "
            "ORDER BY id LIMIT :n)"), {"unit": INBOX_UNIT, "area": f"{BIG_COUNTY}%", "n": inbox})
        conn.execute(sa.text(
            "INSERT INTO escalation (id, task_id, rung, level, fired_at, recipients) "
            "SELECT md5('e' || id::text)::uuid, id, 'deadline', 1, due_at, '[]' FROM agency_task "
            "WHERE escalation_level = 1"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    print(f"loaded in {time.perf_counter() - started:.0f} s", flush=True)


def make_people(url: str) -> dict[str, tuple[str, str]]:
    """An officer of the inbox unit, a county and a province manager, a township caseworker:
    {who: (username, API token)}."""
    people = {}
    suffix = uuid.uuid4().hex[:6]
    with session_scope(url) as session:
        for who, role, jurisdiction, unit in (("officer", UserRole.agency_officer, "", INBOX_UNIT),
                                               ("county", UserRole.manager, BIG_COUNTY, None),
                                               ("province", UserRole.manager, "350000", None),
                                               ("township", UserRole.caseworker, BIG_COUNTY + "101", None)):
            user = create_user(session, username=f"bench.{who}.{suffix}", password=PASSWORD, role=role,
                               actor="bench", jurisdiction_code=jurisdiction, unit_code=unit)
            people[who] = (user.username, create_api_token(session, user=user, name="bench").token)
    return people


# ---------------------------------------------------------------------------------------------------------------------
# measuring
# ---------------------------------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(url: str, home: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "CAREFLOW_DATABASE_URL": url, "CAREFLOW_HOME": str(home)}
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", "web.app:create_app", "--factory", "--host",
                                "127.0.0.1", "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the web app did not start")


def sign_in(base: str, username: str):
    client = httpx.Client(base_url=base, timeout=600)
    page = client.get("/login")
    response = client.post("/login", data={"username": username, "password": PASSWORD,
                                           "csrf_token": CSRF.search(page.text).group(1)})
    assert response.status_code == 303, response.text
    return client


def measure(client, how: str, path: str, token: str) -> tuple[float, int]:
    """Seconds for one request (whole body; for ``ttfb`` until the first body chunk) and the status code."""
    headers = {"Authorization": f"Bearer {token}"} if how == "api" else {}
    started = time.perf_counter()
    if how == "ttfb":
        with client.stream("GET", path) as response:
            for _ in response.iter_raw():
                break
            return time.perf_counter() - started, response.status_code
    response = client.get(path, headers=headers)
    return time.perf_counter() - started, response.status_code


def run(url: str, requests: int, paths: dict[str, str], xlsx: bool) -> None:
    engine = get_engine(url)
    with engine.connect() as conn:
        counts = dict(conn.execute(sa.text(
            "SELECT state IN ('requested', 'acknowledged', 'in_progress'), count(*) FROM agency_task GROUP BY 1")).all())
        inbox = conn.execute(sa.text("SELECT count(*) FROM agency_task WHERE unit_code = :u AND state IN "
                                     "('requested', 'acknowledged', 'in_progress')"), {"u": INBOX_UNIT}).scalar()
    print(f"tasks: {counts.get(True, 0):,} open, {counts.get(False, 0):,} closed; {INBOX_UNIT}: {inbox:,} open; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    with Session(engine) as session:
        started = time.perf_counter()
        result = refresh_figures(session)
        session.commit()
    print(f"dashboard figures (every jurisdiction, set-based SQL): {result.rows:,} rows in "
          f"{time.perf_counter() - started:.1f} s — the cost of each refresh, run in the background at most every "
          f"max(15 s, 10 × that)")
    people = make_people(url)
    with tempfile.TemporaryDirectory() as home:
        process, base = start_server(url, Path(home))
        try:
            clients = {who: sign_in(base, username) for who, (username, _) in people.items()}
            print(f"\nload average {os.getloadavg()[0]:.2f}\n{'page':<26} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  path")
            for name, who, how, path in PAGES:
                path = paths.get(name, path)
                client, token = clients[who], people[who][1]
                took, status = measure(client, how, path, token)  # warm-up
                if status != 200:
                    print(f"{name:<26} HTTP {status} (skipped)  {path}")
                    continue
                times = sorted(measure(client, how, path, token)[0] * 1000 for _ in range(requests))
                p95 = times[min(len(times) - 1, round(0.95 * len(times)) - 1)]
                target = "ok" if p95 <= 100 else "MISSED (target p95 ≤ 100 ms)"
                if name == "healthz (baseline)":
                    target = ""
                print(f"{name:<26} {statistics.median(times):8.1f} {p95:8.1f} {times[-1]:8.1f}  {path}  {target}",
                      flush=True)
            print(f"load average {os.getloadavg()[0]:.2f} (1 min) at the end, {os.cpu_count()} cores")
            if xlsx:
                started = time.perf_counter()
                response = clients["county"].get("/dashboard/export.xlsx")
                print(f"\ncounty workbook ({BIG_COUNTY}): {len(response.content) / 1e6:.1f} MB in "
                      f"{time.perf_counter() - started:.1f} s (an XLSX is complete before its first byte)")
        finally:
            process.terminate()
            process.wait(30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--open", type=int, default=1_000_000, help="open tasks (plus 3 × as many closed)")
    parser.add_argument("--inbox", type=int, default=2000, help=f"open tasks of {INBOX_UNIT}")
    parser.add_argument("--requests", type=int, default=30, help="requests per page")
    parser.add_argument("--path", action="append", default=[], metavar="NAME=PATH",
                        help="another path for a page of PAGES: " + ", ".join(p[0] for p in PAGES))
    parser.add_argument("--url", help="reuse this (loaded) database instead of making one")
    parser.add_argument("--keep", action="store_true", help="keep the database (printed) for another run")
    parser.add_argument("--xlsx", action="store_true", help="also time the county's whole workbook")
    args = parser.parse_args(argv)
    paths = dict(item.split("=", 1) for item in args.path)
    unknown = set(paths) - {p[0] for p in PAGES}
    if unknown:
        parser.error(f"--path: unknown page {', '.join(sorted(unknown))}")
    if args.url:
        url, drop = args.url, lambda: None
    else:
        url, drop = _create_database()
    try:
        if not args.url:
            print(f"database {url}: loading {args.open:,} open and {3 * args.open:,} closed tasks", flush=True)
            load(url, args.open, args.inbox)
        run(url, args.requests, paths, args.xlsx)
    finally:
        if args.keep or args.url:
            print(f"kept: --url {url}")
        else:
            drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
