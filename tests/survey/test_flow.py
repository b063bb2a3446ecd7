"""The ``survey-import`` flow on a real local Prefect server: progress and error artifacts, the same service."""
from __future__ import annotations

import asyncio
import datetime
import json
import os
import subprocess
import sys
import uuid

import pytest

from tests.survey.files import rid, write_csv


@pytest.fixture(scope="module")
def prefect_server():
    from entry.stack import LocalStack, ensure_home

    ensure_home()
    stack = LocalStack(serve="never", with_sink=False).start()
    yield stack
    stack.stop()


def test_the_import_flow_reports_progress_and_the_rejected_rows(database_url, prefect_server, tmp_path):
    from prefect.client.orchestration import get_client

    good, bad = rid("511321", datetime.date(2015, 5, 5)), rid("511321", datetime.date(2015, 5, 6))
    path = write_csv(tmp_path / "flow.csv", [
        ["姓名", "身份证号", "户籍地", "来本地日期", "重点关爱情形"],
        ["好", good, "511321", "2022-01-01", "无"],
        ["坏", bad[:17] + ("1" if bad[17] != "1" else "2"), "511321", "2022-01-01", "无"],
    ])
    # in a process of its own, as a served deployment would run it (and clear of this test session's log capture);
    # a county no other test imports into, and a round that has begun
    script = ("import json, sys; from core.prefect_env import configure_prefect_env; configure_prefect_env(); "
              "from flows.survey import survey_import; "
              "state = survey_import(sys.argv[1], '350303', '2026-04', return_state=True); "
              "print(json.dumps({'run': str(state.state_details.flow_run_id), 'result': state.result()}))")
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CAREFLOW_DATABASE_URL": database_url})
    assert done.returncode == 0, done.stderr[-3000:]
    output = json.loads(done.stdout.strip().splitlines()[-1])
    result, flow_run_id = output["result"], uuid.UUID(output["run"])
    assert result["counts"]["inserted"] == 1 and result["counts"]["invalid"] == 1 and result["errors_total"] == 1

    async def artifacts():
        async with get_client() as client:
            from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))

    found = {a.type: a for a in asyncio.run(artifacts())}
    assert found["progress"].data == 100.0
    assert found["table"].key == "survey-import-errors-350303-2026-04"
    assert "checksum" in str(found["table"].data) and bad[:4] + "**********" in str(found["table"].data)
    assert bad not in str(found["table"].data)
