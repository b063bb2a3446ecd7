"""What one flow-run process costs, careflow's guardianship pathway against the raw flow (issue #17).

Every start and every resume of a pathway is a new Python process (``python -m prefect.engine``, started by the
runner or worker), so its CPU bounds how many pathways two cores move. This runs those processes itself, one at a
time, on a private Prefect server (SQLite) and careflow database, as the runner would (same environment and
``PREFECT__FLOW_RUN_ID``), from process start to the flow run Suspended (the process exits), and reports per pass:

- CPU seconds (user + system, the child's own ``wait4`` rusage) and wall seconds;
- with ``--http``: the HTTP requests it made to the Prefect server (``httpx`` clients counted in the process),
  by method and path;
- with ``--callgrind``: instructions executed (``valgrind --tool=callgrind``: repeatable on a loaded machine, slow);
- with ``--importtime`` or ``--profile``: the process's ``-X importtime`` log or cProfile file kept in ``--keep``.

Passes: 1 = start → first step suspended; 2, 3, 4 = resume after steps 1, 2, 3 (careflow: guardianship with
serious = yes and family education ordered, as :mod:`benchmarks.pathways`; raw: :mod:`benchmarks.raw_flow`).
``python -m benchmarks.flow_process [--repeat N] [--http] [--callgrind] [--importtime] [--side careflow|raw|both]``.

Figures (2-core machine shared with other jobs, niced, ``--repeat 3``, median CPU s of passes 1/2/3/4):
on 595cf3b, careflow 3.05 / 3.22 / 3.13 / 3.26 against raw 2.18 / 2.24 / 2.29 / 2.28 (1.41×); with the C YAML
loader and no duty wording for a step's message, 2.99 / 3.03 / 2.96 / 3.02 against 2.16 / 2.18 / 2.28 / 2.27 (1.34×).
HTTP requests per pass (``--http``): careflow 20-21, raw 19-27 (the raw flow re-reads each earlier suspend's input).
Instructions (callgrind) of loading Prefect's engine plus the flow's modules, the policy and one label, as a pass
does: careflow 8.53 G before, 7.75 G after, raw 5.51 G; of careflow's 2.24 G, SQLAlchemy + SQLModel ~0.8 G, the
tables' models ~0.4 G.
Tried and left out (2026-12-07): ``gc.freeze()`` when the flow package loads. It takes Prefect's ~112,000 objects
out of the collector's full passes and the imports cost 0.25 G fewer instructions (7.03 → 6.78 G), but a whole pass
is unchanged (callgrind, passes 1-4: 9.45 / 9.51 / 9.52 / 9.53 G frozen against 9.45 / 9.52 / 9.53 / 9.51 G): the
next full collection counts only the unfrozen objects, so later full passes come sooner and eat the gain.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks.pathways import _environment
from core.paths import PROJECT_ROOT

#: Run as ``python -c``: counts the process's HTTP requests (httpx) and writes them to ``$FLOW_PROCESS_HTTP`` at exit.
HTTP_COUNTER = r"""
import atexit, collections, json, os, re, runpy, sys
import httpx
seen = collections.Counter()
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
def _count(request):
    seen[f"{request.method} {_ID.sub('{id}', request.url.path)}"] += 1
for cls in (httpx.Client, httpx.AsyncClient):
    original = cls.send
    if cls is httpx.AsyncClient:
        async def send(self, request, *a, _o=original, **k):
            _count(request)
            return await _o(self, request, *a, **k)
    else:
        def send(self, request, *a, _o=original, **k):
            _count(request)
            return _o(self, request, *a, **k)
    cls.send = send
atexit.register(lambda: open(os.environ["FLOW_PROCESS_HTTP"], "w").write(json.dumps(seen)))
sys.argv = ["prefect.engine"]
runpy.run_module("prefect.engine", run_name="__main__", alter_sys=True)
"""


def run_engine(flow_run_id, mode: str, keep: Path, label: str) -> dict:
    """Run ``python -m prefect.engine`` for the flow run until it exits; returns cpu/wall (and mode's figure)."""
    env = {**os.environ, "PREFECT__FLOW_RUN_ID": str(flow_run_id)}
    command = [sys.executable, "-m", "prefect.engine"]
    if mode == "http":
        env["FLOW_PROCESS_HTTP"] = str(keep / f"{label}.http.json")
        command = [sys.executable, "-c", HTTP_COUNTER]
    elif mode == "importtime":
        command = [sys.executable, "-X", "importtime", "-m", "prefect.engine"]
    elif mode == "sample":
        env["FLOW_PROCESS_SAMPLES"] = str(keep / f"{label}.samples.json")
        command = [sys.executable, os.environ["FLOW_PROCESS_SAMPLER"]]
    elif mode == "profile":
        command = [sys.executable, "-m", "cProfile", "-o", str(keep / f"{label}.prof"), "-m", "prefect.engine"]
    elif mode == "callgrind":
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={keep / label}.callgrind",
                   "--trace-children=no"] + command
    began = time.monotonic()
    with open(keep / f"{label}.log", "wb") as log:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        _pid, status, usage = os.wait4(process.pid, 0)
    figures = {"cpu": usage.ru_utime + usage.ru_stime, "wall": time.monotonic() - began,
               "maxrss_mb": usage.ru_maxrss / 1024}
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{label}: engine exited {status} (see {keep / label}.log)")
    if mode == "http":
        figures["http"] = json.loads((keep / f"{label}.http.json").read_text())
    elif mode == "callgrind":
        text = (keep / f"{label}.callgrind").read_text(errors="replace")
        figures["instructions"] = int(re.search(r"^(?:summary|totals): (\d+)", text, re.M).group(1))
    return figures


def _deploy() -> None:
    """The pathway deployments and the raw flow's on the server, as the runners register them (no runner polls)."""
    from benchmarks.raw_flow import DEPLOYMENT, raw_pathway  # start-up: Prefect, after _environment()
    from flows.serve import build_deployments  # start-up: as above

    os.chdir(PROJECT_ROOT)
    for deployment in build_deployments(pathways_only=True) + [raw_pathway.to_deployment(name=DEPLOYMENT)]:
        deployment.apply()


def careflow_passes(case_id, mode: str, keep: Path, n: int) -> list[dict]:
    """One guardianship pathway: its start and three resumes, each process run here."""
    from benchmarks import pathways_runs as runs  # start-up: Prefect, after _environment()
    from careflow.answers import answer_task  # start-up: as above
    from careflow.resume import start_pathway_flow  # start-up: as above
    from models.task import TaskState  # start-up: as above

    run_id = runs._create_run(case_id)
    flow_run_id = asyncio.run(start_pathway_flow(run_id))
    passes = [run_engine(flow_run_id, mode, keep, f"careflow-{n}-1")]
    for number, (step, answer) in enumerate(zip(runs.STEPS[1:], runs.ANSWERS), start=2):
        task = _step_task(run_id, runs.STEPS[number - 2])
        result = answer_task(task.short_ref, TaskState.completed, actor="压测 办理人", unit_code=task.unit_code,
                             outcome=answer)
        if result.resume != "resumed":
            raise RuntimeError(f"answer to {task.step_key}: {result.resume}")
        passes.append(run_engine(flow_run_id, mode, keep, f"careflow-{n}-{number}"))
    return passes


def _step_task(run_id, step: str):
    """The run's first-attempt task of ``step`` (the flow opened it; no send loop runs here)."""
    from sqlmodel import select  # start-up: as careflow_passes

    from core.db import session_scope  # start-up: as above
    from models.task import AgencyTask  # start-up: as above

    with session_scope() as session:
        return session.exec(select(AgencyTask).where(AgencyTask.pathway_run_id == run_id,
                                                     AgencyTask.step_key == step, AgencyTask.attempt == 1)).one()


def raw_passes(mode: str, keep: Path, n: int) -> list[dict]:
    """One raw flow run: its start and three resumes, each process run here."""
    from prefect.deployments import run_deployment  # start-up: Prefect, after _environment()
    from prefect.flow_runs import resume_flow_run  # start-up: as above

    from benchmarks.pathways_stack import RAW_DEPLOYMENT  # start-up: as above

    flow_run = run_deployment(RAW_DEPLOYMENT, parameters={"steps": 4}, timeout=0, as_subflow=False)
    passes = [run_engine(flow_run.id, mode, keep, f"raw-{n}-1")]
    for step in (2, 3, 4):
        resume_flow_run(flow_run.id, run_input={"step": step - 1})
        passes.append(run_engine(flow_run.id, mode, keep, f"raw-{n}-{step}"))
    return passes


def _summary(side: str, rounds: list[list[dict]], mode: str) -> None:
    for number in range(4):
        figures = [r[number] for r in rounds]
        line = (f"{side:8} pass {number + 1}: cpu {statistics.median(f['cpu'] for f in figures):.2f} s, "
                f"wall {statistics.median(f['wall'] for f in figures):.2f} s, "
                f"rss {statistics.median(f['maxrss_mb'] for f in figures):.0f} MB")
        if mode == "callgrind":
            line += f", {statistics.median(f['instructions'] for f in figures) / 1e9:.2f} G instructions"
        if mode == "http":
            calls = figures[0]["http"]
            line += f", {sum(calls.values())} HTTP requests"
            line += "\n" + "\n".join(f"           {count:3} {what}" for what, count in sorted(calls.items()))
        print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--side", choices=("careflow", "raw", "both"), default="both")
    parser.add_argument("--keep", type=Path, help="folder for the processes' logs (default: a temporary one)")
    group = parser.add_mutually_exclusive_group()
    for mode in ("http", "callgrind", "importtime", "profile", "sample"):
        group.add_argument(f"--{mode}", dest="mode", action="store_const", const=mode)
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="careflow-flow-process-"))
    keep = args.keep or home / "passes"
    keep.mkdir(parents=True, exist_ok=True)
    _environment(home, "sqlite")
    from benchmarks import pathways_runs as runs  # start-up: Prefect, after _environment()
    from entry.stack import LocalStack, ensure_home  # start-up: as above

    ensure_home()
    server = LocalStack(serve="never", with_sink=False).start()
    try:
        _deploy()
        sides = ("careflow", "raw") if args.side == "both" else (args.side,)
        cases = runs.new_cases(args.repeat + 1)
        rounds = {side: [] for side in sides}
        for n in range(args.repeat + 1):  # the first round warms the server and the disk cache, not counted
            mode = args.mode if n else None
            for side in sides if n % 2 == 0 else sides[::-1]:
                done = careflow_passes(cases.pop(), mode, keep, n) if side == "careflow" else raw_passes(mode, keep, n)
                if n:
                    rounds[side].append(done)
        for side in sides:
            _summary(side, rounds[side], args.mode)
    finally:
        server.stop()
        if args.keep is None:
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
