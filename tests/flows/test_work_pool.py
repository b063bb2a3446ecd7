"""Production on a work pool, proven with two workers: a Prefect server on PostgreSQL, ``careflow deploy`` onto a
process work pool, two ``careflow worker`` processes each in its own temporary working directory and
``CAREFLOW_HOME`` (only the result storage folder and the databases are shared), three guardianship pathways whose
steps resume on either worker, one worker killed with SIGKILL (its process group and its flow-run processes) while a
flow run of it is in the middle of a step, and every pathway completing on the other worker, each task and message once.

Which worker picks a flow run up is Prefect's choice; to make the story deterministic the test freezes worker B
(SIGSTOP) while A must take the first flow runs, and thaws it after (SIGCONT): A starts the three pathways and resumes
the third, and is killed inside that resume (fault point ``during_resume=pause``: the flow has read the answer, not yet
acted on it); B then runs the rest. The restart comes from careflow's sweeper, run as the pool's sweeper deployment
(on B): the flow run is Running and the process recorded for it on this host is gone
(:func:`careflow.reconcile.judge_flow_run`), well before the default stall time (300 s).

PostgreSQL only (careflow's database and Prefect's). Measured on the shared 2-core machine: 111-145 s for the test body
(load average 5-7 from other jobs), 125-165 s with the session's fixtures.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from careflow.answers import answer_task
from core.db import session_scope
from core.settings import get_settings
from models.case import PathwayRun, PathwayStatus
from models.notification import DeliveryStatus
from models.task import TaskState
from tests.flows.support import (
    cmdline_of, forked_by, new_case, notifications_of, read_flow_run, tasks_of, wait_for_end, wait_for_file,
    wait_for_task,
)

pytestmark = [pytest.mark.e2e, pytest.mark.fault]

PG_ADMIN_URL = os.environ.get("CAREFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
POOL = "careflow-test-pool"
SERIOUS = {"serious": "yes", "child_in_danger": "no"}
POLICE = {"reprimanded": "yes", "family_education_ordered": "no", "child_unsafe": "no"}
ASSESSMENT = {"guardianship_missing_or_unsafe": "no", "long_term_guardianship_needed": "no"}
STEPS = ["committee_admonition", "police_reprimand", "guardianship_assessment"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _base_env(**extra: str) -> dict[str, str]:
    """This process's environment without its Prefect settings and home (each process here has its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") and k != "CAREFLOW_HOME"}
    env.update(extra)
    return env


def _spawn(args: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    out = open(log, "ab")
    return subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children in their own sessions included), read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        children = [p for p, parent in parents.items() if parent == current]
        found.extend(children)
        frontier.extend(children)
    return found


def _signal(pids, sig) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _kill_worker(process: subprocess.Popen) -> list[int]:
    """SIGKILL a worker, its process group and every flow-run process it started (Prefect starts those in their
    own sessions). Frozen first, so that nothing new is started meanwhile. Returns the flow-run processes' pids."""
    _signal([process.pid], signal.SIGSTOP)
    below = _descendants(process.pid)
    _signal(below, signal.SIGSTOP)
    below = _descendants(process.pid)
    _signal(below, signal.SIGKILL)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)
    return below


def _stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    below = _descendants(process.pid)
    _signal([process.pid], signal.SIGCONT)
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)
    _signal(below, signal.SIGKILL)


def _wait(what: str, ready, timeout: float, process: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while not (value := ready()):
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what}: exited {process.returncode}\n{log.read_text()[-3000:] if log else ''}")
        tail = log.read_text()[-3000:] if log else ""
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s\n{tail}"
        time.sleep(0.5)
    return value


def _healthy(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


async def _online_workers() -> set[str]:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        workers = await client.read_workers_for_work_pool(POOL)
    return {w.name for w in workers if str(getattr(w.status, "value", w.status)).upper() == "ONLINE"}


def _sweep_until_restarted(run_id: uuid.UUID, timeout: float = 120) -> None:
    """Run the pool's sweeper deployment (one flow run at a time) until the pathway run was restarted."""
    from prefect.deployments import run_deployment

    deadline = time.monotonic() + timeout
    while True:
        sweep = run_deployment("careflow-sweeper/sweeper", timeout=0, as_subflow=False)
        while not (state := asyncio.run(read_flow_run(sweep.id)).state).is_final():
            assert time.monotonic() < deadline, f"the sweeper's flow run stayed {state.name}"
            time.sleep(0.5)
        with session_scope() as session:
            run = session.get(PathwayRun, run_id)
            if run.restart_count == 1 and run.flow_run_id is not None:
                return
        assert time.monotonic() < deadline, f"not restarted by the sweeper: {run.status} {run.last_failure!r}"


def _answer_as_tasks_come(runs, answers: list[tuple[str, dict]], timeout: float = 240) -> None:
    """Answer, as an agency would, each open task of ``runs`` ((pathway run id, flow run id)) whose flow run is
    suspended waiting for it, with the outcome ``answers`` gives for its step, until every answer is used."""
    from sqlmodel import select

    from models.task import AgencyTask

    left = Counter(step for step, _ in answers)
    outcomes = dict(answers)
    deadline = time.monotonic() + timeout
    while +left:
        assert time.monotonic() < deadline, f"tasks never came: {dict(+left)}"
        for run_id, flow_run_id in runs:
            with session_scope() as session:
                task = session.exec(select(AgencyTask).where(
                    AgencyTask.pathway_run_id == run_id, AgencyTask.state == TaskState.requested,
                    AgencyTask.step_key.in_(list(+left)))).first()
            if task is None or not asyncio.run(read_flow_run(flow_run_id)).state.is_paused():
                continue
            result = answer_task(task.short_ref, TaskState.completed, actor="承办人", unit_code=task.unit_code,
                                 outcome=outcomes[task.step_key])
            assert result.resume == "resumed", (task.step_key, result.resume)
            left[task.step_key] -= 1
        time.sleep(0.5)


@pytest.fixture
def pool_server(database_url):
    """A Prefect server on its own fresh PostgreSQL database (dropped afterwards); yields its API URL."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the work-pool test runs on PostgreSQL (careflow's database and the Prefect server's)")
    name = f"prefect_pool_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    folder = Path(tempfile.mkdtemp(prefix="careflow-pool-"))
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    pg = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{name}"
    log = folder / "prefect-server.log"
    server = _spawn([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                    cwd=folder, log=log, env=_base_env(
                        PREFECT_HOME=str(folder / "server-home"), PREFECT_API_DATABASE_CONNECTION_URL=pg,
                        PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_API_URL=url))
    try:
        _wait("the Prefect server (PostgreSQL)", lambda: _healthy(url), 120, server, log)
        yield url, folder
    finally:
        _stop(server)
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        if not os.environ.get("CAREFLOW_KEEP_POOL_TEST"):  # set it to keep the workers' logs for a look
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def mailbox():
    """The session's mail sink when one runs, else one for this test; yields its folder."""
    from entry.stack import _port_open
    from notifications.sink import MailSink

    settings = get_settings()
    if _port_open(settings.smtp_port):
        yield settings.mailbox_dir
        return
    sink = MailSink(settings.home / "pool-mailbox", port=settings.smtp_port)
    sink.start()
    try:
        yield sink.directory
    finally:
        sink.stop()


def test_two_workers_one_killed_mid_step_every_pathway_completes_once_on_the_other(
        database_url, pool_server, mailbox):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.pool import ensure_work_pool
    from notifications.sink import read_mailbox

    began = time.monotonic()
    url, folder = pool_server
    results = folder / "shared-results"  # the one folder both "hosts" share
    common = dict(PREFECT_API_URL=url, CAREFLOW_DATABASE_URL=database_url, CAREFLOW_RESULT_STORAGE=str(results),
                  CAREFLOW_WORK_POOL=POOL)
    workers: dict[str, subprocess.Popen] = {}
    logs: dict[str, Path] = {}
    with temporary_settings(updates={PREFECT_API_URL: url}):
        try:
            ensure_work_pool(POOL)
            deploy_log = folder / "deploy.log"
            (folder / "deploy").mkdir()
            deploying = _spawn([sys.executable, "-m", "entry.cli", "deploy"], cwd=folder / "deploy", log=deploy_log,
                               env=_base_env(CAREFLOW_HOME=str(folder / "deploy" / "home"), CAREFLOW_SWEEP_CRON="",
                                             **common))
            # A is killed mid-step: it runs no send loop (a SIGKILL mid-send would hold a claim for 10 minutes); B's
            # sends every pathway's messages, whichever worker stored them.
            for name, fault in (("a", {"CAREFLOW_FAULT_POINT": "during_resume=pause", "CAREFLOW_FAULT_PAUSE": "600",
                                       "CAREFLOW_SEND_POLL": "0"}),
                                ("b", {})):
                workdir = folder / f"worker-{name}"
                (workdir / "home").mkdir(parents=True)
                shutil.copy(get_settings().resolved_channels_file, workdir / "home" / "channels.yaml")
                logs[name] = folder / f"worker-{name}.log"
                workers[name] = _spawn([sys.executable, "-m", "entry.cli", "worker", "--name", f"pool-{name}"],
                                       cwd=workdir, log=logs[name],
                                       env=_base_env(CAREFLOW_HOME=str(workdir / "home"), **common, **fault))
            assert deploying.wait(timeout=180) == 0, deploy_log.read_text()[-3000:]
            _wait("both workers online", lambda: asyncio.run(_online_workers()) >= {"pool-a", "pool-b"}, 120)
            a, b = workers["a"], workers["b"]
            print(f"\nserver, deployments and two workers up: {time.monotonic() - began:.1f} s")

            # A alone: it starts the three pathways (their first step, the committee's task) ...
            _signal([b.pid], signal.SIGSTOP)
            cases = [new_case() for _ in range(3)]
            first = [wait_for_task(run_id, flow_run_id, STEPS[0]) for _, run_id, flow_run_id in cases]
            # ... resumes the third with the committee's answer, and is killed inside that resume
            reference, run_id, flow_run_id = cases[2]
            result = answer_task(first[2].short_ref, TaskState.completed, actor="社区 王丽",
                                 unit_code=first[2].unit_code, outcome=SERIOUS)
            assert result.resume == "resumed"
            paused = folder / "worker-a" / "home" / "faults" / "during_resume.paused"
            wait_for_file(paused, timeout=120)
            # the step A is in runs in a fork of A's pre-loaded fork server, not as `python -m prefect.engine`
            assert forked_by(int(paused.read_text())) == a.pid, cmdline_of(int(paused.read_text()))
            killed = _kill_worker(a)
            assert killed, "worker A had no flow-run process to kill"
            print(f"worker A killed mid-step: {time.monotonic() - began:.1f} s")
            assert asyncio.run(read_flow_run(flow_run_id)).state.is_running()  # as the dead worker left it
            # B alone from here on: careflow's sweeper (the pool's deployment) restarts the third ...
            _signal([b.pid], signal.SIGCONT)
            _sweep_until_restarted(run_id)
            with session_scope() as session:
                restarted = session.get(PathwayRun, run_id).flow_run_id
            assert restarted != flow_run_id and asyncio.run(read_flow_run(flow_run_id)).state.is_final()
            print(f"restarted by the sweeper: {time.monotonic() - began:.1f} s")
            # ... and every pathway goes on there: each agency answers as soon as its task is there
            runs = [(c[1], c[2]) for c in cases[:2]] + [(run_id, restarted)]
            _answer_as_tasks_come(runs, [(STEPS[0], SERIOUS)] * 2 + [(STEPS[1], POLICE)] * 3
                                  + [(STEPS[2], ASSESSMENT)] * 3)
            ended = [wait_for_end(r) for r, _ in runs]
            print(f"every pathway ended: {time.monotonic() - began:.1f} s")
        finally:
            for process in workers.values():
                _stop(process)

    assert [run.status for run in ended] == [PathwayStatus.completed] * 3, [run.outcome for run in ended]
    assert [run.restart_count for run in ended] == [0, 0, 1]
    log_a, log_b = logs["a"].read_text(), logs["b"].read_text()
    for _, first_flow_run, _ in [(c[0], c[2], None) for c in cases[:2]]:  # started on A, resumed on B
        assert f"submitting flow run '{first_flow_run}'" in log_a and f"submitting flow run '{first_flow_run}'" in log_b
    assert f"submitting flow run '{flow_run_id}'" in log_a and f"submitting flow run '{flow_run_id}'" not in log_b
    assert f"submitting flow run '{restarted}'" in log_b
    deadline = time.monotonic() + 60  # the closing messages are sent just after the flow recorded the end
    while any(n.status != DeliveryStatus.sent for c in cases for n in notifications_of(c[0])):
        assert time.monotonic() < deadline, "messages left unsent"
        time.sleep(0.5)
    mails = read_mailbox(mailbox)
    for (reference, run_id, _), _run in zip(cases, ended):
        assert [(t.step_key, t.attempt, t.state) for t in tasks_of(run_id)] == [
            (step, 1, TaskState.completed) for step in STEPS]
        keys = [n.idempotency_key for n in notifications_of(reference)]
        assert keys and Counter(keys).most_common(1)[0][1] == 1, keys
        delivered = Counter((m.to, m.subject) for m in mails if reference in m.subject)
        assert sum(delivered.values()) == len(keys) and set(delivered.values()) == {1}, delivered
    print(f"\ntwo-worker test: {time.monotonic() - began:.1f} s")
