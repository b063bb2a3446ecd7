"""Served flow runs start from a pre-loaded fork server instead of a fresh interpreter (issue 17).

Prefect's runner starts each served flow run (every start, every resume and restart of a pathway) with
multiprocessing's *spawn*: a new interpreter that imports Prefect, SQLAlchemy, SQLModel, careflow's tables, the
policy and the message templates before the flow's first line — about 1.9 s of CPU a step on a 2-core machine,
0.55 s of it careflow's (``python -m benchmarks.served_start``). Here the runner uses multiprocessing's *forkserver*
instead: one server process, started by the runner at its first flow run, imports all of that once
(:mod:`flows.preload`), and each flow run is a fork of it that begins with everything loaded.

Only the start method changes: Prefect's own ``run_flow_in_subprocess`` still builds the process (its environment,
settings, signal handling and control channel), through a copy of the function whose ``multiprocessing`` is
:class:`_ForkServer`. The runner calls that function through ``prefect.runner._starter_direct``, the place Prefect's
docstring there names for overriding it. A work pool's process worker is not affected (it starts ``python -m
prefect.engine``, which loads :mod:`flows.steps` afresh).

The fork server holds no thread, connection or engine (the preloaded modules open none as they load), so a fork of
it is safe; it exits when the runner does. Linux and macOS only (Windows has no fork server).
"""
from __future__ import annotations

import contextvars
import multiprocessing
import types

import prefect.flow_engine
import prefect.runner._starter_direct

from core.settings import get_settings

#: The module the fork server imports before its first fork: every module a pathway's flow run uses.
PRELOAD_MODULE = "flows.preload"

_flow_run_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("flow_run_id", default=None)


def start_in_flow_run_process(target, flow_run_id: str | None, *args) -> None:
    """The flow-run process's entry (in the fork): read the policy again if a file of it was edited since the fork
    server parsed it, tell careflow that it is loaded (:func:`flows.steps.flow_run_process_loaded`: the process
    record, the pending fault point), then run Prefect's ``target(*args)`` (which sets the flow run's environment
    and runs the flow)."""
    from flows.preload import reload_edited_policy  # loaded already in the fork server, as is flows.steps
    from flows.steps import flow_run_process_loaded

    reload_edited_policy()
    if flow_run_id is not None:
        flow_run_process_loaded(flow_run_id)
    target(*args)


class _ForkServer:
    """Stands for the ``multiprocessing`` module inside Prefect's ``run_flow_in_subprocess``: whatever context it asks
    for, it gets the fork server's, and its processes start at :func:`start_in_flow_run_process`."""

    def __init__(self, context: multiprocessing.context.BaseContext) -> None:
        self._context = context

    def get_context(self, method: str | None = None) -> _ForkServer:
        return self

    def Process(self, target, args=(), **kwargs):  # noqa: N802 -- multiprocessing's name
        return self._context.Process(target=start_in_flow_run_process, args=(target, _flow_run_id.get(), *args),
                                     **kwargs)


def use_fork_server() -> bool:
    """Make this process's Prefect runner start served flow runs from a fork server that preloads
    :data:`PRELOAD_MODULE`. Call before the runner starts (``serve``). Returns False (and changes nothing) where the
    platform has no fork server, or when the setting ``fork_server`` is off (``CAREFLOW_FORK_SERVER=0``)."""
    if not get_settings().fork_server or "forkserver" not in multiprocessing.get_all_start_methods():
        return False
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([PRELOAD_MODULE])
    original = prefect.flow_engine.run_flow_in_subprocess
    forked = types.FunctionType(original.__code__, {**original.__globals__, "multiprocessing": _ForkServer(context)},
                                original.__name__, original.__defaults__, original.__closure__)
    forked.__kwdefaults__, forked.__doc__ = original.__kwdefaults__, original.__doc__

    def run_flow_in_subprocess(flow, flow_run=None, *args, **kwargs):
        token = _flow_run_id.set(str(flow_run.id) if flow_run is not None else None)
        try:
            return forked(flow, flow_run, *args, **kwargs)
        finally:
            _flow_run_id.reset(token)

    prefect.runner._starter_direct.run_flow_in_subprocess = run_flow_in_subprocess
    return True
