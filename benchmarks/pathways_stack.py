"""The runners of ``benchmarks.pathways``: careflow's pathways and the raw flow (:mod:`benchmarks.raw_flow`), either
served (``careflow serve`` and ``python -m benchmarks.raw_flow``, each its own process, ``limit=20``) or on one
Prefect process work pool with two ``careflow worker`` processes (``careflow deploy`` for careflow's deployments, the
raw flow deployed beside them with the same job variables and concurrency limit: :func:`flows.pool.pool_deployments`).

Imported only once ``benchmarks.pathways`` has set up its private home, ports and databases (Prefect reads its
settings as it loads). Logs go to ``$CAREFLOW_HOME/logs``.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from prefect import Flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

from benchmarks.raw_flow import DEPLOYMENT, FLOW_NAME
from core.paths import PROJECT_ROOT
from core.settings import get_settings
from entry.stack import LocalStack, deployments_ready

RAW_DEPLOYMENT = f"{FLOW_NAME}/{DEPLOYMENT}"
POOL = "careflow-bench"
WORKERS = ("bench-a", "bench-b")


def _spawn(name: str, args: list[str]) -> subprocess.Popen:
    """Start ``args`` in the project root, in its own process group, with this environment; log to ``logs/name``."""
    logs = get_settings().home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(args, cwd=PROJECT_ROOT, env=os.environ.copy(), start_new_session=True,
                            stdout=open(logs / f"{name}.log", "ab"), stderr=subprocess.STDOUT)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``, read from /proc (a worker starts its flow-run processes in their own sessions)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        children = [p for p, parent in parents.items() if parent == current]
        found += children
        frontier += children
    return found


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group (SIGKILL after 20 s), then SIGKILL whatever it started that is left."""
    below = _descendants(process.pid)
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    for pid in below:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _wait(what: str, ready, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: exited with {process.returncode} (see {get_settings().home / 'logs'})")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not ready within {timeout:.0f} s (see {get_settings().home / 'logs'})")
        time.sleep(0.5)


class Served:
    """``careflow serve`` and the raw flow's own ``serve()`` process, on the benchmark's Prefect server."""

    name = "serve"

    def __init__(self):
        self.careflow: LocalStack | None = None
        self.raw: subprocess.Popen | None = None

    def start(self) -> "Served":
        self.careflow = LocalStack(with_sink=False, with_server=False, serve="always").start()
        since = datetime.now(timezone.utc)
        self.raw = _spawn("raw-serve", [sys.executable, "-m", "benchmarks.raw_flow"])
        _wait("raw flow served", lambda: deployments_ready([RAW_DEPLOYMENT], since), 120, self.raw)
        return self

    def stop(self) -> None:
        try:
            if self.raw is not None:
                _stop(self.raw)
        finally:
            if self.careflow is not None:
                self.careflow.stop()


class Pool:
    """A process work pool holding careflow's deployments (``careflow deploy``) and the raw flow's, and two
    ``careflow worker`` processes polling it; results in ``$CAREFLOW_HOME/results`` (both workers' shared storage)."""

    name = "2 workers"

    def __init__(self):
        self.workers: list[subprocess.Popen] = []

    def start(self) -> "Pool":
        storage = get_settings().home / "results"
        os.environ.update(CAREFLOW_RESULT_STORAGE=str(storage), CAREFLOW_WORK_POOL=POOL)
        get_settings.cache_clear()
        deploying = _spawn("deploy", [sys.executable, "-m", "entry", "deploy"])
        if deploying.wait(timeout=300) != 0:
            raise RuntimeError(f"careflow deploy failed (see {get_settings().home / 'logs' / 'deploy.log'})")
        _deploy_raw(storage)
        self.workers = [_spawn(f"worker-{name}", [sys.executable, "-m", "entry", "worker", "--name", name])
                        for name in WORKERS]
        _wait("both workers online", lambda: asyncio.run(_online_workers()) >= set(WORKERS), 120)
        return self

    def stop(self) -> None:
        for worker in self.workers:
            _stop(worker)


def _deploy_raw(storage: Path) -> None:
    """Deploy the raw flow on :data:`POOL` as :func:`flows.pool.pool_deployments` deploys a pathway: loaded from the
    checkout, ``python -m prefect.engine``, the shared result storage, at most ``CAREFLOW_PATHWAY_CONCURRENCY`` at once."""
    from prefect.deployments.runner import deploy  # start-up: Prefect's deployer, only for the work pool

    env = {"PREFECT_LOCAL_STORAGE_PATH": str(storage), "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
           "CAREFLOW_RESULT_STORAGE": str(storage)}
    limit = ConcurrencyLimitConfig(limit=get_settings().pathway_concurrency,
                                   collision_strategy=ConcurrencyLimitStrategy.ENQUEUE)
    flow = Flow.from_source(source=str(PROJECT_ROOT), entrypoint="benchmarks/raw_flow.py:raw_pathway")
    deployment = flow.to_deployment(name=DEPLOYMENT, concurrency_limit=limit, work_pool_name=POOL,
                                    job_variables={"env": env, "command": f"{sys.executable} -m prefect.engine"})
    deploy(deployment, work_pool_name=POOL, build=False, push=False, print_next_steps_message=False,
           ignore_warnings=True)


async def _online_workers() -> set[str]:
    async with get_client() as client:
        try:
            workers = await client.read_workers_for_work_pool(POOL)
        except Exception:  # noqa: BLE001 -- the pool may not exist yet
            return set()
    return {w.name for w in workers if str(getattr(w.status, "value", w.status)).upper() == "ONLINE"}
