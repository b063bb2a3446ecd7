"""Benchmark careflow's pathways against a raw Prefect flow on the same Prefect server (issue #17).

Run ``python -m benchmarks.pathways [--backend sqlite|postgresql|both] [--repeat N] [--concurrent 50] [--workers]``
(``--help`` for the rest). Each backend runs in its own process and temporary CAREFLOW_HOME and prints its table
when done (with ``both``, both tables again at the end): SQLite is a Prefect server on SQLite with careflow on
SQLite; PostgreSQL is both on PostgreSQL (127.0.0.1:5432, fresh databases ``careflow_bench_*`` dropped afterwards).
Messages go to the local mail sink (digests off).

The raw flow (:mod:`benchmarks.raw_flow`, no careflow import) does task → ``suspend_flow_run(wait_for_input=…)`` four
times, served by its own ``serve()`` process with ``careflow serve``'s limit (20) and the same Prefect settings.
Careflow runs the guardianship pathway with serious = yes and family education ordered: four sequential steps
(committee_admonition → police_reprimand → family_education_guidance → guardianship_assessment). The two sides run
alternately (the order flips every repeat), after one untimed warm-up each. Measured, as medians over ``--repeat``:

1. start → first agency notified. Careflow: from just before the pathway run is recorded and its flow run created (as
   ``careflow pathway start`` and the web app do: :func:`careflow.resume.start_pathway_flow`) to the first task's
   message stored as sent (``Notification.sent_at`` of its ``task_requested`` message; whoever sends it, the flow or a
   dispatcher). Raw: from just before ``run_deployment`` to the end of its first task run.
2. answer → next agency notified, at step 1 → 2 and 3 → 4. Careflow: from just before
   :func:`careflow.answers.answer_task` (stores the answer, resumes the flow) to the next task's message sent. Raw: from
   just before ``resume_flow_run`` with input to the end of the next task run. The answer is given once the flow run is
   suspended. Target: the fourth step no slower than the first.
3. ``--concurrent`` pathways started at once (careflow: each recorded, then every flow run created together) until all
   are waiting (their flow runs Suspended, the last state's timestamp): pathways per second. Careflow's time until the
   last first message is sent is printed beside it.
4. With ``--workers``: 1 and 3 again (and 2) with two Prefect process workers (``careflow worker``) on one work pool
   (``careflow deploy``; the raw flow deployed there with the same job variables and concurrency limit) instead of
   ``serve`` (``--no-serve``: only there).

A batch's flow-run creation that the Prefect server refuses with 503 (SQLite under load) is tried again, on both
sides, as careflow's sweeper would start a pathway left ``starting``; a line says so.

Targets of the issue: latency ≤ 1.2 × raw, throughput ≥ 0.8 × raw. Baseline on main d57185d (the flows send their own
messages), shared 2-core machine at load average 10-37, ``--repeat 3 --concurrent 20`` (2 on the pools), careflow/raw:
SQLite served 1.49 / 1.09 / 1.17, throughput 0.80; PostgreSQL served 2.30 / 2.45 / 1.62, 0.63; SQLite pool 0.58 /
1.15 / 1.59, 0.83; PostgreSQL pool 1.04 / 1.17 / 1.94, 0.55 (start / resume 1→2 / resume 3→4, throughput). One
20-pathway batch takes 80-250 s there: ``--concurrent 50`` needs a quiet machine. Runners: :mod:`benchmarks.pathways_stack`; the
measurements: :mod:`benchmarks.pathways_runs`; the table: :mod:`benchmarks.pathways_report`.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import sqlalchemy as sa

from benchmarks.pathways_report import print_tables
from benchmarks.recovery import _drop_database, _free_port
from core.prefect_env import configure_prefect_env
from core.settings import get_settings

PG_ADMIN = os.environ.get("CAREFLOW_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each side (default 5)")
    parser.add_argument("--concurrent", type=int, default=50, help="pathways started at once (default 50)")
    parser.add_argument("--workers", action="store_true", help="also measure on a work pool with two workers")
    parser.add_argument("--no-serve", action="store_true", help="measure only on the work pool (with --workers)")
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)  # one backend, figures to this file
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `timeout` still stops the servers and drops the data
    if args.json:  # one backend in this process: its table now (a later backend may fail), its figures to the file
        figures = _one_backend(args)
        args.json.write_text(json.dumps(figures), encoding="utf-8")
        print_tables({args.backend: figures}, args.concurrent)
        return 0
    sys.stdout.reconfigure(line_buffering=True)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    results = {}
    for backend in backends:
        out = Path(tempfile.mkstemp(prefix="careflow-bench-pathways-", suffix=".json")[1])
        command = [sys.executable, "-m", "benchmarks.pathways", "--backend", backend, "--repeat", str(args.repeat),
                   "--concurrent", str(args.concurrent), "--json", str(out)]
        command += (["--workers"] if args.workers else []) + (["--no-serve"] if args.no_serve else [])
        print(f"== {backend}", flush=True)
        if subprocess.run(command).returncode == 0:
            results[backend] = json.loads(out.read_text(encoding="utf-8"))
        else:
            print(f"{backend}: failed", file=sys.stderr)
        out.unlink()
    if len(backends) > 1 and results:
        print("\n== all backends")
        print_tables(results, args.concurrent)
    return 0 if len(results) == len(backends) else 1


def _environment(home: Path, backend: str) -> list[str]:
    """A private home, ports and databases before anything imports prefect; returns the PostgreSQL databases made."""
    os.environ["CAREFLOW_HOME"] = str(home)
    for name in ("CAREFLOW_PREFECT_PORT", "CAREFLOW_SMTP_PORT", "CAREFLOW_WEB_PORT"):
        os.environ[name] = str(_free_port())
    os.environ["CAREFLOW_SWEEP_CRON"] = ""  # no sweep moving pathways behind the measurement
    for key in [k for k in os.environ if k.startswith("PREFECT_")]:
        del os.environ[key]
    made = []
    if backend == "postgresql":
        suffix = uuid.uuid4().hex[:8]
        made = [f"careflow_bench_{suffix}", f"careflow_bench_prefect_{suffix}"]
        engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            for name in made:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        base = PG_ADMIN.rsplit("/", 1)[0]
        os.environ["CAREFLOW_DATABASE_URL"] = f"{base}/{made[0]}"
        os.environ["PREFECT_API_DATABASE_CONNECTION_URL"] = (
            f"{base}/{made[1]}".replace("postgresql+psycopg://", "postgresql+asyncpg://"))
    else:
        os.environ["CAREFLOW_DATABASE_URL"] = f"sqlite:///{home / 'careflow.db'}"
    get_settings.cache_clear()
    configure_prefect_env()
    (home / "channels.yaml").write_text(
        f"default:\n  - mailto://careflow.local:{os.environ['CAREFLOW_SMTP_PORT']}?smtp=127.0.0.1&mode=insecure"
        "&from=careflow@careflow.local&to={unit}@careflow.local\ndigest: off\n", encoding="utf-8")
    return made


def _one_backend(args) -> dict:
    """Everything on one backend: Prefect server and mail sink, then each runner set-up; returns the figures."""
    home = Path(tempfile.mkdtemp(prefix="careflow-bench-pathways-"))
    made = _environment(home, args.backend)
    # start-up: Prefect reads its settings as it loads, so what imports it comes after _environment()
    from benchmarks.pathways_stack import Pool, Served
    from entry.stack import LocalStack, ensure_home  # start-up: as above

    ensure_home()
    server = LocalStack(serve="never").start()
    figures, done = {}, False
    try:
        for runners in ([] if args.no_serve else [Served()]) + ([Pool()] if args.workers else []):
            try:
                runners.start()
                figures[runners.name] = _measure(runners.name, args.repeat, args.concurrent)
            finally:
                runners.stop()
        done = True
    finally:
        server.stop()
        base = PG_ADMIN.rsplit("/", 1)[0]
        for name in made:
            _drop_database(f"{base}/{name}", PG_ADMIN)
        if done:
            shutil.rmtree(home, ignore_errors=True)
        else:
            print(f"failed: the runners' logs are kept in {home / 'logs'}", file=sys.stderr)
    return figures


def _measure(mode: str, repeat: int, concurrent: int) -> dict:
    """One warm-up each, then ``repeat`` sequences and batches of each side, alternately; figures by side."""
    from benchmarks import pathways_runs as runs  # start-up: Prefect, after _environment() (see _one_backend)

    cases = runs.new_cases(1 + repeat * (1 + concurrent))
    print(f"[{mode}] warm-up", flush=True)
    runs.careflow_sequence(cases.pop())
    runs.raw_sequence()
    sides = {"careflow": {"sequence": [], "batch": [], "opened_to_sent": [], "stored_to_sent": []}, "raw": {"sequence": [], "batch": []}}
    for r in range(repeat):
        order = ("careflow", "raw") if r % 2 == 0 else ("raw", "careflow")
        for side in order:
            if side == "careflow":
                sequence, delays = runs.careflow_sequence(cases.pop())
                sides[side]["opened_to_sent"] += [d[0] for d in delays]
                sides[side]["stored_to_sent"] += [d[1] for d in delays]
            else:
                sequence = runs.raw_sequence()
            sides[side]["sequence"].append(sequence)
        for side in order:
            batch = [cases.pop() for _ in range(concurrent)] if side == "careflow" else None
            sides[side]["batch"].append(runs.careflow_batch(batch) if side == "careflow"
                                        else runs.raw_batch(concurrent))
        print(f"[{mode}] repeat {r + 1}: " + "; ".join(
            f"{side} sequence {', '.join(f'{x:.2f}' for x in sides[side]['sequence'][-1])} s, "
            f"batch {sides[side]['batch'][-1][0]:.1f} s ({sides[side]['batch'][-1][2]} waiting)" for side in order),
            flush=True)
    return sides


if __name__ == "__main__":
    sys.exit(main())
