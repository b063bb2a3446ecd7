"""Production on a Prefect work pool: ``careflow deploy`` creates the deployments, ``careflow worker`` runs them.

``careflow deploy`` (:func:`deploy_to_pool`) creates, on the Prefect server of ``PREFECT_API_URL``, the process work
pool ``CAREFLOW_WORK_POOL`` (default ``careflow``) when missing, and on it the same deployments ``careflow serve``
serves (:func:`flows.serve.build_deployments`: one per pathway, the sweeper, the survey's), each loaded from the
project's source (``Flow.from_source(<project root>, "flows/<module>.py:<flow>")``: the deployment's pull step sets
the flow-run process's working directory to the checkout, so a worker on another host with the same checkout at the
same path runs them). Stated on each deployment:

- concurrency: a pathway deployment runs at most ``CAREFLOW_PATHWAY_CONCURRENCY`` flow runs at once (default 20;
  more are enqueued; a suspended pathway holds no slot, Prefect releases it when the run leaves Running); the
  sweeper at most 1, and a sweep due while one runs is cancelled (``CANCEL_NEW``): it never runs twice at once;
- the sweeper's schedule: ``CAREFLOW_SWEEP_CRON`` (every minute) in ``CAREFLOW_TIMEZONE``; ``""``: unscheduled;
- result storage: ``CAREFLOW_RESULT_STORAGE`` (required: a folder on a volume every worker mounts at the same path)
  is written into each deployment's job variables as ``PREFECT_LOCAL_STORAGE_PATH``, so every flow run persists and
  finds its results there, whichever worker runs it;
- the command: ``<the checkout's python> -m prefect.engine`` (one process per flow run, in the worker's process group,
  as a served flow run is in its runner's). ``careflow worker`` runs it only for a flow that is not careflow's: it
  starts careflow's as forks of its pre-loaded fork server (:mod:`flows.fork_worker`), with the job's environment.

``careflow worker`` (:func:`run_worker`) starts a Prefect process worker on the pool in this process, with
careflow's settings in its environment (which its flow-run processes inherit: ``CAREFLOW_DATABASE_URL``,
``CAREFLOW_HOME``, ``PREFECT_API_URL``, ``CAREFLOW_RESULT_STORAGE`` …). For recovery it does what ``careflow serve``
does: installs the zombie automation and registers in ``$CAREFLOW_HOME/runners`` (:mod:`careflow.runners`) while it
polls, so the sweeper's rules of :func:`careflow.reconcile.judge_flow_run` apply to its flow runs unchanged.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

from prefect import Flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from sqlalchemy.engine import make_url

from careflow.deployments import SWEEPER
from careflow.runners import registered_runner
from core.paths import PROJECT_ROOT
from core.prefect_env import install_zombie_automation
from core.settings import get_settings
from models.errors import FieldValueError
from notifications.send_loop import send_loop

#: Where the worker's poll interval comes from: core.prefect_env sets PREFECT_WORKER_QUERY_SECONDS=1.
WORK_POOL_TYPE = "process"


def ensure_work_pool(name: str) -> bool:
    """Create the process work pool ``name`` on the current Prefect server unless it exists; True if created."""
    async def ensure() -> bool:
        async with get_client() as client:
            try:
                pool = await client.read_work_pool(name)
            except ObjectNotFound:
                try:
                    await client.create_work_pool(WorkPoolCreate(name=name, type=WORK_POOL_TYPE))
                except ObjectAlreadyExists:  # created meanwhile by another deploy or a worker
                    return False
                return True
            if pool.type != WORK_POOL_TYPE:
                raise FieldValueError("CAREFLOW_WORK_POOL", "problem.work_pool_type", value=name, type=pool.type,
                                      expected=WORK_POOL_TYPE)
            return False

    return asyncio.run(ensure())


def _served_deployments(sweep_cron: str | None) -> list:
    """The served deployments (names, tags, schedules, entrypoints relative to the project root)."""
    # start-up: loads every flow's module; `careflow worker` never builds deployments
    from flows.serve import build_deployments

    with contextlib.chdir(PROJECT_ROOT):  # entrypoints are computed relative to the working directory
        return build_deployments(sweep_cron)


def pool_deployments(*, pool: str, result_storage: Path, pathway_concurrency: int,
                     sweep_cron: str | None = None, source: Path = PROJECT_ROOT) -> list:
    """The work-pool deployments (``RunnerDeployment``), not yet created: one per served deployment, loaded from
    ``source`` by file entrypoint, with the concurrency limits, schedules and result storage of the module doc."""
    env = {"PREFECT_LOCAL_STORAGE_PATH": str(result_storage), "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
           "CAREFLOW_RESULT_STORAGE": str(result_storage)}
    # The engine straight away, not Prefect's workspace supervisor in front of it: one Python process per flow run
    # instead of two (a step starts seconds sooner); the engine runs the pull step itself. The interpreter is the
    # checkout's virtual environment, at the same path on every host (as the checkout is).
    command = f"{sys.executable} -m prefect.engine"
    deployments = []
    for served in _served_deployments(sweep_cron):
        if served.name == SWEEPER.deployment:
            limit = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)
        elif any(tag.startswith("pathway:") for tag in served.tags):
            limit = ConcurrencyLimitConfig(limit=pathway_concurrency,
                                           collision_strategy=ConcurrencyLimitStrategy.ENQUEUE)
        else:  # the survey's: scheduled or on demand, one at a time is enough
            limit = None
        flow = Flow.from_source(source=str(source), entrypoint=served.entrypoint)
        deployment = flow.to_deployment(
            name=served.name, tags=list(served.tags), concurrency_limit=limit, work_pool_name=pool,
            job_variables={"env": env, "command": command}, description=served.description)
        deployment.schedules = list(served.schedules or [])
        deployments.append(deployment)
    return deployments


def deploy_to_pool(*, pool: str | None = None, result_storage: Path | None = None,
                   pathway_concurrency: int | None = None, sweep_cron: str | None = None) -> list[str]:
    """Create the work pool when missing and create or update every deployment on it; returns their full names.

    Arguments default to the settings (``CAREFLOW_WORK_POOL``, ``CAREFLOW_RESULT_STORAGE``,
    ``CAREFLOW_PATHWAY_CONCURRENCY``, ``CAREFLOW_SWEEP_CRON``). Running it again updates the deployments in place.

    Raises:
        ValueError: no result storage (``CAREFLOW_RESULT_STORAGE``) is set, or the pool exists with another type.
    """
    from prefect.deployments.runner import deploy  # start-up: Prefect's deployer (and docker's client), deploy only

    settings = get_settings()
    pool = pool or settings.work_pool
    storage = result_storage or settings.result_storage
    if storage is None:  # worded in the reader's language, the setting named
        raise FieldValueError("CAREFLOW_RESULT_STORAGE", "problem.result_storage_unset")
    storage = Path(storage).absolute()
    storage.mkdir(parents=True, exist_ok=True)
    ensure_work_pool(pool)
    deployments = pool_deployments(pool=pool, result_storage=storage,
                                   pathway_concurrency=pathway_concurrency or settings.pathway_concurrency,
                                   sweep_cron=sweep_cron)
    deploy(*deployments, work_pool_name=pool, build=False, push=False, print_next_steps_message=False,
           ignore_warnings=True)
    return [f"{d.flow_name}/{d.name}" for d in deployments]


def run_worker(*, pool: str | None = None, name: str | None = None, limit: int | None = 20) -> None:
    """Run a Prefect process worker on ``pool`` (default ``CAREFLOW_WORK_POOL``) in this process until SIGTERM or
    Ctrl-C; ``limit``: at most this many flow runs at once on this worker (default 20, as ``careflow serve``).

    The worker is registered as a runner of this host (:func:`careflow.runners.registered_runner`) while it polls,
    and the zombie automation is installed on the server first (:func:`core.prefect_env.install_zombie_automation`);
    beside it runs the send loop (:mod:`notifications.send_loop`), which sends what its flow runs queue.
    """
    pool = pool or get_settings().work_pool
    install_zombie_automation()
    signal.signal(signal.SIGTERM, _stop)
    with registered_runner(), send_loop():
        try:
            asyncio.run(_work(pool, name, limit))
        except KeyboardInterrupt:
            pass


def _stop(*_) -> None:
    raise KeyboardInterrupt  # unwinds the worker (it stops polling; a flow run it started ends with it or is restarted)


async def _work(pool: str, name: str | None, limit: int | None) -> None:
    from flows.fork_worker import ForkingProcessWorker  # start-up: the worker's machinery, `careflow worker` only

    async with ForkingProcessWorker(work_pool_name=pool, name=name, limit=limit) as worker:
        worker.start_forking()
        await worker.start()


def worker_environment_summary() -> dict[str, str]:
    """What a worker passes to its flow runs, for ``careflow worker`` to print (secrets in URLs masked)."""
    settings = get_settings()
    return {
        "PREFECT_API_URL": os.environ.get("PREFECT_API_URL", ""),
        "CAREFLOW_HOME": str(settings.home),
        "CAREFLOW_DATABASE_URL": make_url(settings.resolved_database_url).render_as_string(hide_password=True),
        "PREFECT_LOCAL_STORAGE_PATH": os.environ.get("PREFECT_LOCAL_STORAGE_PATH", ""),
    }
