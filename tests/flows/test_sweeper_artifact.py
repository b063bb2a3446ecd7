"""The sweeper's escalate task publishes each sweep's figures as the ``deadline-sweep`` artifact (real Prefect server)."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid


def test_the_escalate_task_publishes_the_sweeps_figures(database_url, prefect_server):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    # in a process of its own, as the served sweeper runs it
    script = ("import json; from core.prefect_env import configure_prefect_env; configure_prefect_env(); "
              "from prefect import flow; from flows.sweeper import escalate\n"
              "@flow(name='sweep-artifact-test')\n"
              "def only_escalate():\n    return escalate()\n"
              "state = only_escalate(return_state=True)\n"
              "print(json.dumps({'run': str(state.state_details.flow_run_id), 'result': state.result()}))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CAREFLOW_DATABASE_URL": database_url})
    assert done.returncode == 0, done.stderr[-3000:]
    output = json.loads(done.stdout.strip().splitlines()[-1])
    figures, flow_run_id = output["result"], uuid.UUID(output["run"])
    assert set(figures) == {"fired", "backlog", "duration_s", "computed", "failed", "skipped"} and not figures["skipped"]

    async def artifacts():
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))

    [artifact] = [a for a in asyncio.run(artifacts()) if a.key == "deadline-sweep"]
    assert artifact.type == "table"
    assert artifact.description.startswith("期限引擎巡检：用时")
    [row] = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    assert row["触发提醒或升级"] == figures["fired"] and row["积压待处理任务"] == figures["backlog"]
    assert row["升级失败（已暂缓）"] == figures["failed"]
