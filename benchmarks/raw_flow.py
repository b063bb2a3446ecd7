"""The raw Prefect flow ``benchmarks.pathways`` measures careflow against: Prefect alone, no careflow import.

``raw_pathway(steps)`` does, ``steps`` times, a task (``raw-step-<n>``: returns ``n``) and then
``suspend_flow_run(wait_for_input=RawAnswer)``, as a careflow pathway opens and notifies a step and suspends until the
agency answers. A resumed run re-runs from the top, as careflow's flows do: the tasks before the suspend are found in
the persisted results (Prefect's default cache policy: inputs, task source, flow run id) and each suspend with its
default key returns the input it already received.

``python -m benchmarks.raw_flow`` serves it (deployment ``raw-pathway/raw``) from this process with ``limit=20``, as
``careflow serve`` serves the pathways (:func:`flows.serve.serve_deployments`); the Prefect settings come from the
environment the benchmark gives both (``PREFECT_RUNNER_POLL_FREQUENCY=1``, persisted results, heartbeats …).
"""
from __future__ import annotations

from prefect import flow, serve, task
from prefect.flow_runs import suspend_flow_run
from prefect.input import RunInput

FLOW_NAME, DEPLOYMENT = "raw-pathway", "raw"
#: ``careflow serve``'s limit (flows/serve.py).
SERVE_LIMIT = 20


class RawAnswer(RunInput):
    """What a resume carries: the step answered."""

    step: int


@task(name="raw-step", task_run_name="raw-step-{step}")
def raw_step(step: int) -> int:
    """The step's side effect (none): returns ``step``."""
    return step


@flow(name=FLOW_NAME)
async def raw_pathway(steps: int = 4) -> int:
    """``steps`` times: a task, then suspend until resumed with a :class:`RawAnswer`; returns ``steps``."""
    for step in range(1, steps + 1):
        raw_step(step)
        await suspend_flow_run(wait_for_input=RawAnswer)
    return steps


if __name__ == "__main__":
    serve(raw_pathway.to_deployment(name=DEPLOYMENT), limit=SERVE_LIMIT)
