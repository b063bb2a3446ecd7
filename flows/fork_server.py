"""Served flow runs start as forks of a pre-loaded process instead of fresh interpreters (issue 17).

Every start, resume and restart of a pathway is a new flow-run process. Prefect's ``serve()`` gives its runner
deployments only, and the runner starts their runs as ``python -m prefect.engine``: a fresh interpreter that imports
Prefect, SQLAlchemy, SQLModel, careflow's tables, the policy and the message templates before the flow's first line,
every step (about 2 s of CPU on a 2-core machine, a third of it careflow's; ``python -m benchmarks.served_start``).
:func:`serve` here is Prefect's ``serve()``, except that it also gives the runner each deployment's flow, as
``Runner.add_flow`` does; the runner then starts the flow's runs with Prefect's ``run_flow_in_subprocess``, which
builds the process (its environment, settings, signal handling and control channel) and starts it with
multiprocessing. Only the start method changes: the runner calls a copy of that function whose ``multiprocessing``
is :class:`_ForkServer`, through ``prefect.runner._starter_direct``, the place Prefect's docstring there names for
overriding it. The fork server, started with the runner, imports all of that once (:mod:`flows.preload`), and each
flow run is a fork of it that begins with it loaded.

The fork server holds no thread, connection or engine (the preloaded modules open none as they load), so a fork of
it is safe; the runner starts it as it starts serving, and it exits when the runner does. Its forks are in the
runner's process group (a ``python -m prefect.engine`` run had a session of its own): a signal to the group reaches
them, and the sweeper restarts what it ends. ``careflow worker`` starts its careflow flow runs the same way
(:mod:`flows.fork_worker`); Prefect's own worker starts ``python -m prefect.engine``, which loads :mod:`flows.steps`
afresh. Linux and macOS only (Windows has no fork server): elsewhere, or with the setting ``fork_server`` off,
:func:`serve` is Prefect's.
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import importlib
import logging
import multiprocessing
import multiprocessing.forkserver
import types

import prefect
import prefect.flow_engine
import prefect.runner._starter_direct
from prefect.exceptions import TerminationSignal
from prefect.runner import Runner

from core.settings import get_settings
from flows.preload import start_in_flow_run_process

#: The module the fork server imports before its first fork: every module a pathway's flow run uses.
PRELOAD_MODULE = "flows.preload"

_flow_run_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("flow_run_id", default=None)
_job_env: contextvars.ContextVar[dict | None] = contextvars.ContextVar("job_env", default=None)


@contextlib.contextmanager
def job_environment(env: dict | None):
    """Within this block, flow runs started (in this context) get ``env`` (a work-pool job's variables, name →
    value or None to unset) over the starting process's environment."""
    token = _job_env.set(dict(env or {}))
    try:
        yield
    finally:
        _job_env.reset(token)


class _ForkServer:
    """Stands for the ``multiprocessing`` module inside Prefect's ``run_flow_in_subprocess``: whatever context it asks
    for, it gets the fork server's, and its processes start at :func:`start_in_flow_run_process`."""

    def __init__(self, context: multiprocessing.context.BaseContext) -> None:
        self._context = context

    def get_context(self, method: str | None = None) -> _ForkServer:
        return self

    def Process(self, target, args=(), **kwargs):  # noqa: N802 -- multiprocessing's name
        return self._context.Process(target=start_in_flow_run_process,
                                     args=(target, _flow_run_id.get(), _job_env.get() or {}, *args), **kwargs)


def use_fork_server() -> bool:
    """Make this process's Prefect runner start served flow runs from a fork server that preloads
    :data:`PRELOAD_MODULE`. Call before the runner starts (``serve``). Returns False (and changes nothing) where the
    platform has no fork server, or when the setting ``fork_server`` is off (``CAREFLOW_FORK_SERVER=0``)."""
    if not get_settings().fork_server or "forkserver" not in multiprocessing.get_all_start_methods():
        return False
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([PRELOAD_MODULE])
    multiprocessing.forkserver.ensure_running()  # it loads now, in the background, not in the first step's time
    original = prefect.flow_engine.run_flow_in_subprocess
    forked = types.FunctionType(original.__code__, {**original.__globals__, "multiprocessing": _ForkServer(context)},
                                original.__name__, original.__defaults__, original.__closure__)
    forked.__kwdefaults__, forked.__doc__ = original.__kwdefaults__, original.__doc__

    def run_flow_in_subprocess(flow, flow_run=None, parameters=None, wait_for=None, context=None, env=None):
        token = _flow_run_id.set(str(flow_run.id) if flow_run is not None else None)
        try:
            return forked(flow, flow_run, parameters, wait_for, context, {**(_job_env.get() or {}), **(env or {})})
        finally:
            _flow_run_id.reset(token)

    prefect.runner._starter_direct.run_flow_in_subprocess = run_flow_in_subprocess
    return True


def serve(*deployments, limit: int) -> None:
    """Serve ``deployments`` (``RunnerDeployment`` s made by ``flow.to_deployment`` from careflow's flows) from this
    process until interrupted (blocks), at most ``limit`` flow runs at once, each a fork of the pre-loaded fork
    server (:func:`use_fork_server`). Where there is none (or the setting is off), this is Prefect's ``serve()``."""
    if not use_fork_server():
        prefect.serve(*deployments, limit=limit)
        return
    runner = Runner(pause_on_shutdown=True, limit=limit)
    for deployment in deployments:
        deployment_id = runner.add_deployment(deployment)
        # what Runner.add_flow does: a deployment whose flow the runner holds is run in a subprocess of it
        runner._deployment_registry.register_flow(deployment_id, flow_of(deployment))
    try:
        asyncio.run(runner.start())
    except (KeyboardInterrupt, TerminationSignal) as exc:
        logging.getLogger(__name__).info("%s received, the runner stops", type(exc).__name__)


def flow_of(deployment):
    """The flow object of a deployment made by ``flow.to_deployment`` in the project root, from its entrypoint
    (``flows/guardianship.py:guardianship_intervention`` → :mod:`flows.guardianship`'s ``guardianship_intervention``).

    Raises:
        ImportError, AttributeError: the entrypoint names no flow of careflow's modules.
    """
    path, _, name = deployment.entrypoint.rpartition(":")
    return getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), name)
