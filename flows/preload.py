"""What the fork server of served flow runs loads once, so that no flow run loads it again (:mod:`flows.fork_server`).

Every pathway flow and the sweeper, the modules their tasks import only when they run (the message templates,
routing, Babel's catalogues, the dispatcher's Apprise plugins), and the parsed policy. Nothing here opens a file
for good, a connection or a thread: each flow run is a fork of the process that imported this module. A policy
file edited since is read again by the flow run (:func:`reload_edited_policy`), as a freshly started process would.
"""
from __future__ import annotations

import os

import prefect.flow_engine  # noqa: F401 -- Prefect's engine: what every flow run runs
import prefect.runner._starter_direct  # noqa: F401

import careflow.cases  # noqa: F401 -- the modules below are imported inside tasks (see their "start-up" comments)
import careflow.escalation  # noqa: F401
import careflow.programmes  # noqa: F401
import careflow.registration_place  # noqa: F401
import careflow.reroute  # noqa: F401
import careflow.resume  # noqa: F401
import careflow.step_tasks  # noqa: F401
import careflow.tasks  # noqa: F401
import core.i18n  # noqa: F401
import models.programmes  # noqa: F401
import notifications.dispatcher  # noqa: F401
import notifications.messages  # noqa: F401
from careflow.deployments import PATHWAY_DEPLOYMENTS, SWEEPER
from core.paths import PROJECT_ROOT
from flows.steps import flow_run_process_loaded
from models.policy import load_policy
from models.policy_files import default_policy_dir


def policy_stamp() -> tuple[tuple[str, int, int], ...]:
    """Path, modification time (ns) and size of every file in the policy folder, sorted: changes with any edit."""
    return tuple(sorted((str(path), stat.st_mtime_ns, stat.st_size)
                        for path in default_policy_dir().rglob("*") if path.is_file() for stat in [path.stat()]))


def reload_edited_policy() -> bool:
    """In a fork: forget the preloaded policy if a file of it changed since the fork server parsed it (the next
    ``load_policy()`` reads the folder again). Returns whether it did."""
    if policy_stamp() == POLICY_STAMP:
        return False
    load_policy.cache_clear()
    return True


def start_in_flow_run_process(target, flow_run_id: str | None, job_env: dict, *args) -> None:
    """A flow-run process's entry, in a fork of the fork server (:mod:`flows.fork_server`): take a work-pool job's
    variables ``job_env`` (name → value, None to unset) into the environment before careflow reads its settings,
    work in the project root (as a served run, and as a pool deployment's pull step puts a ``python -m
    prefect.engine`` run), read the policy again if a file of it was edited since the fork server parsed it, tell
    careflow that it is loaded (:func:`flows.steps.flow_run_process_loaded`: the process record, the pending fault
    point), then run Prefect's ``target(*args)`` (which sets the flow run's environment and runs the flow)."""
    for name, value in job_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = str(value)
    os.chdir(PROJECT_ROOT)
    reload_edited_policy()
    if flow_run_id is not None:
        flow_run_process_loaded(flow_run_id)
    target(*args)


for _deployment in (*PATHWAY_DEPLOYMENTS.values(), SWEEPER):
    _deployment.load_flow()
POLICY_STAMP = policy_stamp()
load_policy()  # parsed once (cached per folder): each step reads it
