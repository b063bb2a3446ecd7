"""Served flow runs start as forks of a pre-loaded process, not as fresh interpreters (issue 17).

Prefect's runner starts a served flow run through ``prefect.runner._starter_direct.run_flow_in_subprocess``; after
:func:`flows.fork_server.use_fork_server` that process is a fork of the fork server, which imported every pathway
flow and what their tasks use once. Run here against a real Prefect server, as the runner calls it.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import prefect.runner._starter_direct as starter_direct
import pytest
from prefect import flow

from core.settings import get_settings
from flows import fork_server
from tests.flows.support import (
    cmdline_of, forked_by, new_case, parent_of, send_stored, wait_for_file, wait_for_task,
)

pytestmark = pytest.mark.only_backend("sqlite", why="the start of a process; no database is read")


@flow(name="fork-server-probe")
def probe(out: str) -> None:
    """Writes what its process had loaded when the flow began, and who started it."""
    Path(out).write_text(json.dumps({
        "pid": os.getpid(), "parent": os.getppid(), "job_env": os.environ.get("CAREFLOW_FORK_PROBE"),
        "loaded": [m for m in ("flows.guardianship", "flows.service_referral", "notifications.messages", "sqlmodel")
                   if m in sys.modules]}))


def _run(tmp_path: Path, name: str) -> dict:
    out = tmp_path / f"{name}.json"
    process = starter_direct.run_flow_in_subprocess(probe, parameters={"out": str(out)})
    process.join(120)
    assert process.exitcode == 0
    return json.loads(out.read_text())


def test_a_served_flow_run_begins_with_the_pathways_loaded_in_a_fork_of_the_preloaded_server(
        prefect_server, tmp_path, monkeypatch):
    # put Prefect's own function back after the test
    monkeypatch.setattr(starter_direct, "run_flow_in_subprocess", starter_direct.run_flow_in_subprocess)
    spawned = _run(tmp_path, "spawned")  # Prefect's own start: a fresh interpreter, a child of the runner
    assert spawned["parent"] == os.getpid() and "flows.guardianship" not in spawned["loaded"]

    assert fork_server.use_fork_server()
    first, second = _run(tmp_path, "first"), _run(tmp_path, "second")
    server = first["parent"]
    assert server != os.getpid() and second["parent"] == server  # both forks of one server ...
    assert parent_of(server) == os.getpid()  # started by the runner (here, the test)
    assert first["loaded"] == ["flows.guardianship", "flows.service_referral", "notifications.messages",
                               "sqlmodel"]  # ... which loaded the pathways and what their steps use
    assert first["pid"] != second["pid"]
    with fork_server.job_environment({"CAREFLOW_FORK_PROBE": "pool job"}):  # a work-pool job's variables
        in_job = _run(tmp_path, "in-job")
    assert in_job["job_env"] == "pool job" and first["job_env"] is None


@pytest.mark.e2e
@pytest.mark.fault
def test_the_served_runner_runs_a_pathways_step_in_a_fork_of_its_fork_server(runners):
    """Caught in the act: the flow-run process is held (fault point ``while_pending=pause``) before it reports
    Running, and its parent is the runner's fork server, not the runner; then it goes on to the step's wait."""
    runners.start("while_pending=pause", CAREFLOW_FAULT_PAUSE="5")
    runner = runners.process
    _reference, run_id, flow_run_id = new_case()
    paused = get_settings().home / "faults" / "while_pending.paused"
    wait_for_file(paused, timeout=120)
    flow_process = int(paused.read_text())
    assert forked_by(flow_process) == runner.pid, (cmdline_of(flow_process), cmdline_of(parent_of(flow_process)))
    assert "prefect.engine" not in cmdline_of(flow_process)
    assert wait_for_task(run_id, flow_run_id, "committee_admonition").unit_code
    send_stored()  # the armed runner runs no send loop: leave no message waiting for a later test's send pass


def test_a_policy_file_edited_after_the_fork_server_loaded_it_is_read_again_by_the_next_flow_run():
    from flows import preload
    from models.policy import load_policy
    from models.policy_files import default_policy_dir

    preloaded = load_policy()
    assert preload.reload_edited_policy() is False and load_policy() is preloaded  # unchanged: the fork's copy
    edited = default_policy_dir() / "escalation.yaml"
    before = edited.stat()
    try:
        os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))  # as an editor saving it
        assert preload.reload_edited_policy() is True
        assert load_policy() is not preloaded
    finally:
        os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_a_pool_jobs_variables_are_in_the_environment_before_careflow_reads_its_settings(monkeypatch, tmp_path):
    """A fork records its process (careflow's settings, the database) before Prefect's code sets the job's
    environment: the job's variables (``careflow deploy``'s result storage) must be there first."""
    from flows import preload

    monkeypatch.chdir(tmp_path)  # the fork moves to the project root: put the test's back after
    monkeypatch.setenv("CAREFLOW_FORK_PROBE", "the worker's")  # restored after the test, as the one below
    monkeypatch.setenv("CAREFLOW_FORK_GONE", "the worker's")
    seen = {}

    def loaded(flow_run_id):
        seen["loaded"] = (flow_run_id, os.environ.get("CAREFLOW_FORK_PROBE"), os.environ.get("CAREFLOW_FORK_GONE"),
                          os.getcwd())

    monkeypatch.setattr(preload, "flow_run_process_loaded", loaded)
    preload.start_in_flow_run_process(lambda *args: seen.update(target=args), "run-1",
                                      {"CAREFLOW_FORK_PROBE": "the job's", "CAREFLOW_FORK_GONE": None}, "payload")
    assert seen == {"loaded": ("run-1", "the job's", None, str(preload.PROJECT_ROOT)), "target": ("payload",)}
