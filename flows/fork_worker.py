"""``careflow worker``'s process worker: a careflow flow run starts as a fork of the pre-loaded fork server, as a
served one does (:mod:`flows.fork_server`, issue 17).

Prefect's process worker starts every flow run as the deployment's command (``python -m prefect.engine``): a fresh
interpreter that imports Prefect and careflow again on every step. :class:`ForkingProcessWorker` is that worker,
except that a flow run of one of careflow's deployments (its entrypoint names a careflow flow) is started by Prefect's
``DirectSubprocessStarter``, the runner's start of a flow it holds, with the job's environment (``careflow deploy``'s
result storage) laid over the worker's. Any other flow run on the pool, or every one when the fork server is off,
runs as Prefect's worker runs it.

Imported only by ``careflow worker`` (it loads the worker's machinery).
"""
from __future__ import annotations

import uuid
import warnings

import anyio
import anyio.abc
from prefect.runner._flow_run_executor import FlowRunExecutorContext
from prefect.runner._starter_direct import DirectSubprocessStarter
from prefect.workers.process import ProcessJobConfiguration, ProcessWorker, ProcessWorkerResult

from flows.fork_server import flow_of, job_environment, use_fork_server

#: The entrypoints of careflow's flows (``careflow deploy``: ``flows/<module>.py:<flow>``).
CAREFLOW_FLOWS = "flows/"

with warnings.catch_warnings():  # the same pool type as Prefect's worker: Prefect warns that "process" is taken
    warnings.simplefilter("ignore")

    class ForkingProcessWorker(ProcessWorker):
        """Prefect's process worker whose careflow flow runs start as forks of the fork server. Call
        :func:`flows.fork_server.use_fork_server` first (:meth:`start_forking` does)."""

        def start_forking(self) -> bool:
            """Turn forking on (where the platform and the settings allow it); returns whether it is on."""
            self._flows: dict[uuid.UUID, tuple | None] = {}
            self._forking = use_fork_server()
            return self._forking

        async def _careflow_flow(self, flow_run):
            """The flow object of ``flow_run``'s deployment when it is one of careflow's, else None."""
            if not getattr(self, "_forking", False) or flow_run.deployment_id is None:
                return None
            if flow_run.deployment_id not in self._flows:
                deployment = await self.client.read_deployment(flow_run.deployment_id)
                found = None
                if (deployment.entrypoint or "").startswith(CAREFLOW_FLOWS):
                    try:
                        found = flow_of(deployment), deployment.name
                    except (ImportError, AttributeError, ValueError):
                        pass
                self._flows[flow_run.deployment_id] = found
            return self._flows[flow_run.deployment_id]

        async def run(self, flow_run, configuration: ProcessJobConfiguration,
                      task_status: anyio.abc.TaskStatus[int] | None = None) -> ProcessWorkerResult:
            found = await self._careflow_flow(flow_run)
            if found is None:
                return await super().run(flow_run, configuration, task_status)
            flow, deployment_name = found
            task_status = task_status or anyio.TASK_STATUS_IGNORED
            execution = None

            async def resolve(_flow_run):
                return flow

            with job_environment(configuration.env):
                async with FlowRunExecutorContext() as ctx:
                    starter = DirectSubprocessStarter(flow=flow, deployment_name=deployment_name,
                                                      control_channel=ctx.control_channel)
                    executor = ctx.create_executor(flow_run, starter, resolve_flow=resolve, propose_submitting=False)

                    async def execute(*, task_status=anyio.TASK_STATUS_IGNORED) -> None:
                        nonlocal execution
                        execution = await executor.submit(task_status=task_status)

                    async with anyio.create_task_group() as group:
                        handle = await group.start(execute)
                        if handle.pid is None:
                            raise RuntimeError("Flow run process has no PID")
                        task_status.started(handle.pid)
            if execution is None or execution.status_code is None:
                raise RuntimeError("Failed to start flow run process.")
            return ProcessWorkerResult(status_code=execution.status_code, identifier=str(execution.handle.pid))
