"""Benchmark the notification layer: 5,000 new tasks across 200 agency units, delivered to local receivers.

Run ``python -m benchmarks.notifications`` (``--help`` for sizes). Everything happens in a temporary
CAREFLOW_HOME with its own SQLite database (or ``--database-url postgresql+psycopg://…``: a database is
created there and dropped afterwards), against receivers on 127.0.0.1 only: the SMTP mail sink and the
DingTalk/WeCom/Feishu look-alike (:class:`notifications.receiver.HttpReceiver`, enforcing the DingTalk and
WeCom-bot limit of 20 messages a minute per bot, as the platforms do). The receivers run in a process of their
own (:mod:`benchmarks.receiver_process`), as real platforms and mail servers are other machines: in the
dispatcher's process their parsing and answering would count as the dispatcher's CPU, under its interpreter
lock. ``--processes N`` shares each pass out among N dispatcher processes (``dispatch_due(processes=N)``).

Set-up (timed, once): units, children, cases, pathway runs and tasks are bulk-inserted; then the real
outbox stores one ``task_requested`` message per task (:func:`notifications.messages.enqueue_task_message`:
render, personal-data check, insert, audit). Each scenario starts from a copy of that database:

- ``no digest, no rate limit``: every message on its own, chat bots unlimited: raw throughput (the
  DingTalk/WeCom look-alike then refuses, as the platforms do, what goes over 20 a minute per bot).
- ``no digest, platform limits``: one dispatch pass within the platforms' limits (dingtalk/wecombot
  20/min, feishu 100/min): what goes at once and what waits (and how long the rest needs).
- ``digest, platform limits``: each unit's burst merged into one digest message.

Printed per scenario and channel: messages delivered (counted at the receivers), wall time, messages per
second, plus the outbox's own counts and the dispatcher's CPU (its process, not the receivers'). The raw
scenario runs ``--runs`` times (default 3) and its median is shown with every run; the digest scenario is
repeated while the time bound allows.
"""
from __future__ import annotations

import argparse
import logging
import os
import resource
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
import yaml
from sqlmodel import Session, select

from benchmarks.receiver_process import ReceiverProcess
from core.db import get_engine, migrate, session_scope
from core.settings import get_settings
from models.agency import AgencyUnit
from models.case import Case, PathwayRun, PathwayStatus
from models.child import Child
from models.notification import Notification
from models.policy import load_policy
from models.resident_id import check_character
from models.task import AgencyTask
from notifications.dispatcher import dispatch_due
from notifications.limits import LIMITER
from notifications.messages import enqueue_task_message

SCHEMAS = ("dingtalk", "wecombot", "feishu", "mailto")
TIME_LIMIT = 105.0  # seconds: past it, the scenarios after the raw one are not repeated
PROCESSES = 1  # dispatcher processes (dispatch_due(processes=...))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _environment(home: Path, database_url: str | None) -> str:
    """Point careflow at a private home before anything reads the settings; returns the database URL."""
    os.environ["CAREFLOW_HOME"] = str(home)
    os.environ["CAREFLOW_SMTP_PORT"] = str(_free_port())
    os.environ["CAREFLOW_CHANNELS_FILE"] = str(home / "channels.yaml")
    url = database_url or f"sqlite:///{home / 'template.db'}"
    os.environ["CAREFLOW_DATABASE_URL"] = url
    get_settings.cache_clear()
    return url


def _resident_id(n: int) -> str:
    first17 = f"350302{date(2014, 1, 1) + timedelta(days=n // 999):%Y%m%d}{n % 999 + 1:03d}"  # unique per n
    return first17 + check_character(first17)


def populate(url: str, tasks: int, units: int) -> dict[str, float]:
    """Bulk-insert ``units`` units and ``tasks`` tasks (5 steps on each of tasks/5 pathway runs), then store one
    ``task_requested`` message per task through the real outbox. Returns timings in seconds."""
    timings = {}
    started = time.perf_counter()
    migrate(url)
    timings["migrate"] = time.perf_counter() - started
    steps = [step.key for step in load_policy().pathways["guardianship"].steps][:5]
    opened = datetime.now(timezone.utc)
    started = time.perf_counter()
    with session_scope(url) as session:
        unit_codes = _units(session, units)
        runs = _pathway_runs(session, -(-tasks // len(steps)))
        made = []
        for n in range(tasks):
            case, run = runs[n // len(steps)]
            made.append(AgencyTask(case_id=case.id, pathway_run_id=run.id, step_key=steps[n % len(steps)],
                                   agency_type="police", unit_code=unit_codes[n % units], jurisdiction_code="350302",
                                   title="基准测试任务", requested_at=opened, ack_due_at=opened + timedelta(hours=2),
                                   due_at=opened + timedelta(days=3), deadline_text="3 working days"))
        session.add_all(made)
    timings["bulk insert"] = time.perf_counter() - started
    started = time.perf_counter()
    _enqueue_requests(url, tasks)
    timings["enqueue (render, check, store)"] = time.perf_counter() - started
    return timings


def _units(session: Session, units: int) -> list[str]:
    """``units`` police units of county 350302 (``bench_unit-000`` …); returns their codes."""
    unit_codes = [f"bench_unit-{i:03d}" for i in range(units)]
    session.add_all([AgencyUnit(code=code, agency_type="police", jurisdiction_code="350302",
                                name=f"基准测试承办单位{i:03d}") for i, code in enumerate(unit_codes)])
    session.flush()
    return unit_codes


def _pathway_runs(session: Session, runs: int) -> list[tuple[Case, PathwayRun]]:
    """``runs`` children (Chinese names: the messages' personal-data check has something to look for), each with a
    case and a running guardianship pathway run."""
    surnames, given = "林陈黄张吴王李郑刘蔡", "小雨晨曦子涵梓萱浩然一诺欣怡宇轩"
    children, cases, pathway_runs = [], [], []
    for i in range(runs):
        name = surnames[i % 10] + given[(i * 7) % 16:(i * 7) % 16 + 2]
        child = Child(resident_id=_resident_id(i), full_name=name,
                      birth_date=date(2015, 3, 15), hukou_county_code="511321", residence_county_code="350302",
                      residence_area_code="350302001001", arrival_date=date(2023, 8, 20), created_by="bench")
        case = Case(reference=f"CF-350302-BENCH-{i:05d}", child_id=child.id, county_code="350302",
                    caseworker="bench.caseworker")
        run = PathwayRun(case_id=case.id, pathway="guardianship", status=PathwayStatus.running,
                         started_by="bench.caseworker", flow_run_id=uuid.uuid4())
        children.append(child), cases.append(case), pathway_runs.append(run)
    for rows in (children, cases, pathway_runs):
        session.add_all(rows)
        session.flush()
    return list(zip(cases, pathway_runs))


def _enqueue_requests(url: str, tasks: int, batch: int = 500) -> None:
    """One ``task_requested`` message per task through the real outbox (render, personal-data check, insert,
    audit), ``batch`` tasks per transaction."""
    for first in range(0, tasks, batch):
        with session_scope(url) as session:
            for task in session.exec(select(AgencyTask).order_by(AgencyTask.id).offset(first).limit(batch)).all():
                enqueue_task_message(session, task=task, event="task_requested")


def schema_of(i: int) -> str:
    """Unit i's channel: every tenth unit email (the mail sink), the others dingtalk, wecombot, feishu in turn."""
    return "mailto" if i % 10 == 9 else ("dingtalk", "wecombot", "feishu")[(i - i // 10) % 3]


def channel_map(units: int, sink_port: int) -> dict[str, list[str]]:
    """Unit code -> its one channel URL (see :func:`schema_of`)."""
    channels = {}
    for i in range(units):
        code, schema = f"bench_unit-{i:03d}", schema_of(i)
        tok = f"bench{schema}{i:03d}tok{uuid.uuid5(uuid.NAMESPACE_DNS, code).hex[:12]}"
        channels[code] = [{
            "dingtalk": f"dingtalk://{tok}/",
            "wecombot": f"wecombot://{tok}",
            "feishu": f"feishu://{tok}/",
            "mailto": (f"mailto://careflow.local:{sink_port}?smtp=127.0.0.1&mode=insecure"
                       "&from=careflow@careflow.local&to={unit}@careflow.local"),
        }[schema]]
    return channels


def write_channels(path: Path, units: dict, endpoints: dict, *, digest: bool, limits: bool) -> None:
    """Write the channel file of a scenario: ``digest`` on (more than 20 in 10 min) or off; ``limits`` False
    lifts every schema's rate limit."""
    data = {"units": units, "endpoints": endpoints,
            "digest": {"more_than": 20, "within_minutes": 10, "max_items": 50} if digest else "off"}
    if not limits:
        data["limits"] = {schema: "none" for schema in SCHEMAS}
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def fresh_database(template_url: str, home: Path, label: str) -> str:
    """A copy of the populated database for one scenario run."""
    if template_url.startswith("sqlite:///"):
        target = home / f"{label}.db"
        shutil.copyfile(template_url.removeprefix("sqlite:///"), target)
        return f"sqlite:///{target}"
    base, template = template_url.rsplit("/", 1)
    name = f"{template}_{label}"[:60]
    admin = sa.create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    admin.dispose()
    return f"{base}/{name}"


def drop_database(url: str) -> None:
    """Drop a scenario's PostgreSQL database (SQLite copies go with the temporary folder)."""
    if url.startswith("sqlite"):
        return
    get_engine(url).dispose()
    base, name = url.rsplit("/", 1)
    admin = sa.create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def run_scenario(template_url: str, home: Path, label: str, *, digest: bool, limits: bool, units: int,
                 workers: int, max_wait: float, processes: int = 1) -> dict:
    """One run: copy the database, start fresh receivers, dispatch once, count what arrived where."""
    url = fresh_database(template_url, home, label)
    settings = get_settings()
    mailbox = home / f"mailbox-{label}"
    LIMITER.clear()
    with ReceiverProcess(mailbox, settings.smtp_port) as receivers:
        write_channels(settings.resolved_channels_file, channel_map(units, settings.smtp_port), receivers.endpoints,
                       digest=digest, limits=limits)
        origin = time.monotonic()
        wall_started, cpu_started = time.perf_counter(), _cpu_seconds()
        counts = dispatch_due(database_url=url, max_workers=workers, max_wait=max_wait, processes=processes)
        wall, cpu = time.perf_counter() - wall_started, _cpu_seconds() - cpu_started
        got = receivers.collect()
    received, smtp_connections = got.messages, got.smtp_connections
    http_connections = len({m.peer for m in received})
    delivered: Counter[str] = Counter()
    last_at: dict[str, float] = {}
    refused = sum(1 for m in received if m.mode != "ok")
    for m in received:
        if m.mode == "ok":
            delivered[m.platform] += 1
            last_at[m.platform] = max(last_at.get(m.platform, 0.0), m.at - origin)
    mails = sorted(mailbox.glob("*.eml"))
    delivered["mailto"] = len(mails)
    if mails:
        last_at["mailto"] = wall  # the sink does not timestamp in the same clock: use the wall time
    with session_scope(url) as session:
        statuses = Counter(str(s) for s in session.exec(select(Notification.status)
                                                          .where(Notification.event == "task_requested")).all())
    drop_database(url)
    return {"wall": wall, "cpu": cpu, "processes": processes, "counts": counts, "delivered": dict(delivered), "last_at": last_at,
            "refused": refused, "task_statuses": dict(statuses),
            "connections": {"smtp": smtp_connections, "http": http_connections}}


def _cpu_seconds() -> float:
    """CPU seconds (user and system) of this process and of its dispatcher processes that have ended
    (``dispatch_due(processes=N)``); the receivers' process is still running, so it is not counted."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _print_run(title: str, results: list[dict], tasks: int, units: int) -> None:
    walls = [r["wall"] for r in results]
    wall = statistics.median(walls)
    first = results[len(results) // 2] if len(results) > 1 else results[0]
    print(f"\n== {title}  ({len(results)} run{'s' if len(results) > 1 else ''}; median wall time {wall:.2f} s"
          + (f", runs {', '.join(f'{w:.2f}' for w in walls)}" if len(results) > 1 else "") + ")")
    total = 0
    print(f"   {'channel':<10}{'messages':>10}{'last at (s)':>13}{'msg/s':>9}")
    for schema in SCHEMAS:
        platform = "feishu" if schema == "feishu" else schema
        counts = [r["delivered"].get(platform, 0) for r in results]
        lasts = [r["last_at"].get(platform, 0.0) for r in results]
        n, last = statistics.median(counts), statistics.median(lasts)
        total += n
        rate = n / last if last else 0.0
        print(f"   {schema:<10}{n:>10.0f}{last:>13.2f}{rate:>9.1f}")
    print(f"   {'all':<10}{total:>10.0f}{wall:>13.2f}{total / wall:>9.1f}")
    if len(results) > 1:
        rates = [sum(r["delivered"].values()) / r["wall"] for r in results]
        print(f"   messages/s by run: {', '.join(f'{x:.0f}' for x in rates)} (median {statistics.median(rates):.0f})")
    cpu = [1000 * r["cpu"] / max(1, sum(r["counts"].get(k, 0) for k in ("sent", "failed", "given_up")))
           for r in results]
    if any(r.get("processes", 1) > 1 for r in results):  # their processes are the forkserver's children, not ours
        print("   dispatcher CPU: not measured with --processes > 1")
    else:
        print(f"   dispatcher CPU: {statistics.median(r['cpu'] for r in results):.2f} s a pass; per message sent "
              f"or failed {', '.join(f'{x:.2f}' for x in cpu)} ms (median {statistics.median(cpu):.2f}; the "
              "receivers' process not counted)")
    notified = first["task_statuses"].get("sent", 0)
    print(f"   tasks notified: {first['task_statuses']}  (of {tasks} tasks for {units} units): "
          f"{notified / wall:.0f} tasks notified per second")
    print(f"   dispatcher counts: {first['counts']}; refused by the platforms: {first['refused']}; connections "
          f"opened: {first['connections']['smtp']} SMTP, {first['connections']['http']} HTTP")


def main(argv: list[str] | None = None) -> int:
    """Set up, run the three scenarios, print the figures; returns the exit code (0)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.notifications", description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3, help="runs of the raw scenario (median shown)")
    parser.add_argument("--workers", type=int, default=8, help="dispatcher threads (per process)")
    parser.add_argument("--processes", type=int, default=PROCESSES, help="dispatcher processes")
    parser.add_argument("--database-url", help="postgresql+psycopg://user@127.0.0.1:5432/postgres to use PostgreSQL")
    args = parser.parse_args(argv)
    if args.tasks < args.units or args.units < 10:
        parser.error("--units must be at least 10 and --tasks at least --units")

    home = Path(tempfile.mkdtemp(prefix="careflow-bench-"))
    template_url = _create_template_database(args.database_url) if args.database_url else None
    started = time.perf_counter()
    try:
        url = _environment(home, template_url)
        logging.basicConfig(level=logging.ERROR)
        mix = Counter(schema_of(i) for i in range(args.units))
        print(f"careflow notification benchmark: {args.tasks} tasks, {args.units} units "
              f"({', '.join(f'{n} on {schema}' for schema, n in mix.items())}), database {url.split(':', 1)[0]}, "
              f"{args.processes} dispatcher process(es) of {args.workers} threads, {os.cpu_count()} CPUs; "
              "receivers on 127.0.0.1 only, in a process of their own")
        _set_up(url, args.tasks, args.units)
        plain, limited, digested = _scenarios(url, home, args, started)
        _print_figures(plain, limited, digested, args.tasks, args.units)
        print(f"\ntotal benchmark time {time.perf_counter() - started:.1f} s")
    finally:
        if template_url:
            drop_database(template_url)
        shutil.rmtree(home, ignore_errors=True)
    return 0


def _create_template_database(database_url: str) -> str:
    """A new PostgreSQL database beside ``database_url``'s, the template each scenario copies; returns its URL."""
    base = database_url.rsplit("/", 1)[0]
    name = f"careflow_notify_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{base}/{name}"


def _set_up(url: str, tasks: int, units: int) -> None:
    """Populate the template database (:func:`populate`) and print the set-up timings."""
    timings = populate(url, tasks, units)
    # Close every connection: SQLite then checkpoints its write-ahead log into the file that is copied,
    # and a PostgreSQL template database must have no connections.
    get_engine(url).dispose()
    for what, seconds in timings.items():
        extra = f" ({tasks / seconds:.0f} messages/s)" if what.startswith("enqueue") else ""
        print(f"set-up: {what}: {seconds:.2f} s{extra}")


def _scenarios(url: str, home: Path, args, started: float) -> tuple[list[dict], list[dict], list[dict]]:
    """Run the scenarios: the raw one ``--runs`` times (its median is the headline figure, and the first run of
    a process also pays apprise's loading of its plugins), the others once, and the digest's repeats only while
    :data:`TIME_LIMIT` (counted from ``started``) allows; returns the runs without digest or limits, with
    limits, and with digest and limits."""
    def left() -> float:
        return TIME_LIMIT - (time.perf_counter() - started)

    def scenario(label: str, *, digest: bool, limits: bool) -> dict:
        return run_scenario(url, home, label, digest=digest, limits=limits, units=args.units,
                            workers=args.workers, max_wait=0.0, processes=args.processes)

    plain = [scenario(f"plain{n}", digest=False, limits=False) for n in range(max(1, args.runs))]
    digested = [scenario("digest0", digest=True, limits=True)]
    limited = [scenario("limited", digest=False, limits=True)]
    for n in range(1, max(1, args.runs)):
        if left() < 2 * max(r["wall"] for r in digested):
            break
        digested.append(scenario(f"digest{n}", digest=True, limits=True))
    return plain, limited, digested


def _print_figures(plain: list[dict], limited: list[dict], digested: list[dict], tasks: int, units: int) -> None:
    _print_run("no digest, no rate limit (every message on its own)", plain, tasks, units)
    _print_run("no digest, platform limits (one pass; the rest waits for tokens)", limited, tasks, units)
    per_unit = tasks / units
    print(f"   each dingtalk/wecombot bot then needs {(per_unit - 5) / 15 * 60:.0f} s more for its other "
          f"{per_unit - 5:.0f} messages at 20/min (burst 5); feishu {max(0, per_unit - 5) / 95 * 60:.0f} s")
    _print_run("digest, platform limits (one digest per unit)", digested, tasks, units)


if __name__ == "__main__":
    sys.exit(main())
