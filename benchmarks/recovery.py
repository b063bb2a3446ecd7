"""Benchmark crash recovery: guardianship pathways while the runner is killed with SIGKILL at random write points.

Run ``python -m benchmarks.recovery`` (``--help`` for sizes). Everything happens in a temporary CAREFLOW_HOME: a
Prefect server (SQLite), careflow's database (SQLite, or ``--database-url postgresql+psycopg://…/postgres``: a
database is created there and dropped afterwards), the local mail sink and a runner (``careflow serve``).

``--pathways`` (20) guardianship pathways run at once (committee → police → assessment: three tasks each); a
thread answers every task as its agency would, and a sweeper thread calls the sweeper's reconcile every
``--sweep-interval`` seconds with the default stall time (5 minutes): a killed flow run is found dead because its
process, recorded on this host, is gone, or (a flow run still Pending) because every live runner started after it
was claimed (:mod:`careflow.runners`). ``--kills`` times, the runner is armed with a random fault point
(``CAREFLOW_FAULT_POINT=file`` and ``$CAREFLOW_HOME/faults/armed``: one of :data:`flows.faults.FAULT_POINTS` or
:data:`flows.faults.PENDING_FAULT_POINT`, at a random hit), its flow run kills the runner's process group with
SIGKILL, and the runner is started again, unarmed until every pathway it killed moves again (or 180 s passed), so
that no kill falls inside the measurement of the last.

Printed: per kill, the point, the pathways whose flow run died, and for them the time from the kill to the pathway
restarted by the sweeper and to moving again (its new flow run begun), also counted from the runner being back;
then median and max over all, and the counts lost (a pathway not completed, a completed answer not acted on) and
duplicated (a task, a message or a delivered mail twice). Targets: 0 lost, 0 duplicated, max ≤ 2 sweep intervals after the runner is back.

The actors (runner, agencies, sweeper) are in :mod:`benchmarks.recovery_actors`, what is measured and checked in
:mod:`benchmarks.recovery_checks`; both are imported once the private environment is set (Prefect reads its settings
as it loads).
"""
from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from core.db import get_engine
from core.prefect_env import configure_prefect_env
from core.settings import get_settings
from entry.stack import LocalStack, ensure_home
from flows.faults import FAULT_POINTS, PENDING_FAULT_POINT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _environment(home: Path, database_url: str | None) -> tuple[str, str | None]:
    """A private home, ports and database before anything imports prefect; returns (url, admin url to drop)."""
    os.environ["CAREFLOW_HOME"] = str(home)
    os.environ["CAREFLOW_PREFECT_PORT"] = str(_free_port())
    os.environ["CAREFLOW_SMTP_PORT"] = str(_free_port())
    os.environ["CAREFLOW_WEB_PORT"] = str(_free_port())
    os.environ["CAREFLOW_SWEEP_CRON"] = ""  # this benchmark sweeps itself, at its own interval
    for key in [k for k in os.environ if k.startswith("PREFECT_")]:
        del os.environ[key]
    admin = None
    if database_url:
        admin, name = database_url, f"careflow_bench_{uuid.uuid4().hex[:8]}"
        engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        url = admin.rsplit("/", 1)[0] + f"/{name}"
    else:
        url = f"sqlite:///{home / 'careflow.db'}"
    os.environ["CAREFLOW_DATABASE_URL"] = url
    get_settings.cache_clear()
    configure_prefect_env()
    (home / "channels.yaml").write_text(
        f"default:\n  - mailto://careflow.local:{os.environ['CAREFLOW_SMTP_PORT']}?smtp=127.0.0.1&mode=insecure"
        "&from=careflow@careflow.local&to={unit}@careflow.local\ndigest: off\n", encoding="utf-8")
    return url, admin


def _drop_database(url: str, admin: str) -> None:
    """Drop the benchmark's PostgreSQL database (created by :func:`_environment`)."""
    get_engine(url).dispose()
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pathways", type=int, default=20)
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--sweep-interval", type=float, default=60.0,
                        help="seconds between sweeps (default 60: careflow's own schedule, every minute)")
    parser.add_argument("--database-url", help="postgresql+psycopg://…/postgres: run careflow's database there")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--points", help="comma-separated fault points to arm (default: every point)")
    args = parser.parse_args(argv)
    random.seed(args.seed)
    logging.getLogger("careflow.resume").setLevel(logging.ERROR)  # one line per restart would drown the figures
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `timeout` still stops the server and drops the data

    home = Path(tempfile.mkdtemp(prefix="careflow-bench-recovery-"))
    url, admin = _environment(home, args.database_url)
    # start-up: Prefect reads its settings as it loads, so what imports it comes after _environment()
    from benchmarks.recovery_actors import Runner

    ensure_home()
    server = LocalStack(serve="never").start()
    runner = Runner()
    try:
        points = (*FAULT_POINTS, PENDING_FAULT_POINT)
        if args.points:
            unknown = set(args.points.split(",")) - set(points)
            if unknown:
                parser.error(f"unknown fault points: {', '.join(sorted(unknown))}")
            points = tuple(args.points.split(","))
        return _run(args, runner, points)
    finally:
        runner.stop()
        server.stop()
        if admin:
            _drop_database(url, admin)
        shutil.rmtree(home, ignore_errors=True)


@dataclass
class _Lags:
    """Seconds from a kill (``after_kill``) and from the runner being back (``after_back``) to a pathway moving again,
    and from the runner being back to the sweeper restarting it (``restarted_back``), over every kill."""

    after_kill: list[float] = field(default_factory=list)
    after_back: list[float] = field(default_factory=list)
    restarted_back: list[float] = field(default_factory=list)


def _run(args, runner, points) -> int:
    """Start the pathways, kill the runner ``args.kills`` times measuring each recovery, then check the end."""
    # start-up: these load Prefect, after _environment() (see main)
    from benchmarks.recovery_actors import Agencies, Sweeper, start_pathways
    from benchmarks.recovery_checks import audit, wait_all  # start-up: as above

    def arm() -> str:
        """A random point at a random hit (counted from now: the hit counts went with the last runner)."""
        fault = f"{random.choice(points)}:{random.randint(1, 3)}"
        runner.arm(fault)
        return fault

    runner.start()
    fault = arm()
    started = time.monotonic()
    run_ids = start_pathways(args.pathways)
    agencies, sweeper = Agencies(run_ids), Sweeper(args.sweep_interval)
    agencies.start()
    sweeper.start()
    lags, kills = _Lags(), 0
    sys.stdout.reconfigure(line_buffering=True)
    print(f"{args.pathways} guardianship pathways, {args.kills} runner kills, sweep every {args.sweep_interval:.0f} s")
    while kills < args.kills:
        try:
            runner.process.wait(timeout=600)
        except Exception:  # the point was not reached (every pathway past it): stop measuring
            print("  the armed point was not reached within 600 s; no further kills")
            break
        kills += 1
        _measure_kill(kills, fault, runner, set(run_ids), lags)
        if kills < args.kills:
            fault = arm()
    lost_runs = wait_all(run_ids, timeout=600)
    agencies.stop.set()
    sweeper.stop.set()
    lost, duplicated = audit(run_ids, agencies, lost_runs)
    print(f"\nall pathways: {time.monotonic() - started:.0f} s wall; {sweeper.restarted} restarts by the sweeper")
    return _report(lags, lost, duplicated, args.sweep_interval)


def _measure_kill(kills: int, fault: str, runner, run_ids: set[uuid.UUID], lags: _Lags) -> None:
    """After the runner died at ``fault``: find the pathways that died with it, start the runner again, wait until
    they move again (180 s at most); add their lags to ``lags`` and print them."""
    from benchmarks.recovery_checks import moving_again, running_victims  # start-up: Prefect, as in _run

    killed_file = get_settings().home / "faults" / f"{fault.split(':')[0]}.killed"
    t_kill = time.monotonic() - (time.time() - killed_file.stat().st_mtime) if killed_file.exists() else time.monotonic()
    victims = running_victims(run_ids)
    t_back = runner.start()
    restarted, moved = moving_again(victims, timeout=180)
    lag_kill = [moved[v] - t_kill for v in moved]
    lag_back = [max(0.0, moved[v] - t_back) for v in moved]
    restart_back = [max(0.0, restarted[v] - t_back) for v in restarted]
    lags.after_kill += lag_kill
    lags.after_back += lag_back
    lags.restarted_back += restart_back
    print(f"kill {kills}: at {killed_file.stem}, {len(victims)} flow run(s) died; runner back after "
          f"{t_back - t_kill:.1f} s; restarted by the sweeper "
          + (f"{max(restart_back):.1f} s (max) after the runner was back" if restarted else "—")
          + "; new flow run begun " + (f"{max(lag_kill):.1f} s after the kill, {max(lag_back):.1f} s after the "
                                       "runner was back (max)" if moved else "—"))
    if len(moved) < len(victims):
        print(f"  {len(victims) - len(moved)} pathway(s) did not move again within 180 s")


def _report(lags: _Lags, lost: int, duplicated: int, sweep_interval: float) -> int:
    """Print the medians, maxima and targets; 0 when every target is met, else 1."""
    if lags.after_kill:
        print(f"kill → moving again: median {statistics.median(lags.after_kill):.1f} s, "
              f"max {max(lags.after_kill):.1f} s ({len(lags.after_kill)} pathway restarts)")
        print(f"runner back → moving again: median {statistics.median(lags.after_back):.1f} s, "
              f"max {max(lags.after_back):.1f} s")
    if lags.restarted_back:
        print(f"runner back → restarted by the sweeper: median {statistics.median(lags.restarted_back):.1f} s, "
              f"max {max(lags.restarted_back):.1f} s (target ≤ 2 sweep intervals = {2 * sweep_interval:.0f} s)")
    print(f"lost: {lost} (target 0); duplicated: {duplicated} (target 0)")
    if lags.after_back:
        print(f"target: runner back → moving again ≤ 2 sweep intervals = {2 * sweep_interval:.0f} s: "
              + ("met" if max(lags.after_back) <= 2 * sweep_interval else "missed"))
    ok = lost == 0 and duplicated == 0 and (not lags.after_back or max(lags.after_back) <= 2 * sweep_interval)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
