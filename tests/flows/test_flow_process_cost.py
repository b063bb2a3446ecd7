"""What a flow-run process pays before its pathway moves: every restart and every resume is a new process.

Checked in a fresh interpreter, as the runner starts one: loading a pathway's flow module loads no sending stack
(Apprise, the message templates, Babel) and no table it does not use, storing a step's message loads no duty
wording, the policy files are parsed by the C YAML loader, and Prefect's per-task-run clients share one TLS context.
``python -m benchmarks.flow_process`` measures what such a process costs against the raw Prefect flow's.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.paths import PROJECT_ROOT

FLOW_MODULES = ["flows.guardianship", "flows.psychological_screening", "flows.temporary_assistance",
                "flows.service_referral"]
#: Loaded only by the tasks that send or word a message, or by other layers.
NOT_AT_LOAD = ["apprise", "jinja2", "babel", "markdown", "requests", "notifications.outbox", "notifications.channels",
               "notifications.messages", "models.survey", "models.key_care_files", "models.user", "web"]


def _in_fresh_process(code: str, env: dict | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
                         env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", FLOW_MODULES)
def test_a_flow_module_loads_no_sending_stack(module):
    loaded = _in_fresh_process(
        f"import json, sys, importlib; importlib.import_module({module!r}); "
        f"print(json.dumps([m for m in {NOT_AT_LOAD!r} if m in sys.modules]))")
    assert loaded == [], f"{module} loads {loaded} before any task runs"


#: Loaded by a dated duty's message only (models.dated_duties), never for a pathway step's.
NOT_FOR_A_STEP_MESSAGE = ["models.dated_duties", "models.programmes", "models.joint_meeting"]


def test_a_step_message_loads_no_duty_wording():
    loaded = _in_fresh_process(
        "import json, sys, flows.guardianship, notifications.messages; "
        f"print(json.dumps([m for m in {NOT_FOR_A_STEP_MESSAGE!r} if m in sys.modules]))")
    assert loaded == []


def test_the_policy_files_are_parsed_by_the_c_yaml_loader():
    """The pure-Python loader cost a flow-run process about 0.1 s of CPU on every start and resume."""
    import yaml

    from models.policy_files import SAFE_LOADER

    assert yaml.__with_libyaml__ and SAFE_LOADER is yaml.CSafeLoader
    assert issubclass(SAFE_LOADER, yaml.constructor.SafeConstructor)  # never the unsafe constructor


def test_prefect_clients_of_a_flow_process_share_one_tls_context():
    shared = _in_fresh_process(
        "import json, flows.steps\n"
        "from prefect.client.orchestration import PrefectClient, SyncPrefectClient\n"
        "clients = [PrefectClient('http://127.0.0.1:9/api') for _ in range(3)]"
        " + [SyncPrefectClient('http://127.0.0.1:9/api') for _ in range(2)]\n"
        "contexts = {id(c._client._transport._pool._ssl_context) for c in clients}\n"
        "print(json.dumps(len(contexts)))")
    assert shared == 1


def test_a_flow_run_process_records_itself_as_it_loads(session, register, database_url):
    """So that a runner killed before the flow's first task is told apart from a live run (careflow.resume)."""
    import os
    import uuid

    from careflow.cases import create_pathway_run, open_case
    from core.processes import this_host
    from core.db import session_scope
    from models.case import PathwayRun

    case = open_case(session, child_id=register().child.id, caseworker="test.caseworker")
    run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="test.caseworker")
    flow_run_id = uuid.uuid4()
    run.flow_run_id = flow_run_id
    session.add(run)
    session.commit()
    env = {**os.environ, "PREFECT__FLOW_RUN_ID": str(flow_run_id), "CAREFLOW_DATABASE_URL": database_url}
    env.pop("CAREFLOW_FAULT_POINT", None)
    out = subprocess.run([sys.executable, "-c", "import os, flows.guardianship; print(os.getpid())"], env=env,
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    with session_scope() as s:
        recorded = s.get(PathwayRun, run.id).flow_process
    host, pid, _at = recorded.rsplit(":", 2)
    assert (host, pid) == (this_host(), out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("started_as", ["careflow script", "python -m entry"])
def test_a_served_flow_run_process_does_not_load_the_command_line(started_as):
    """A served start or resume is a *spawn* child of ``careflow serve``, which first re-imports the runner's main
    module (multiprocessing.spawn.prepare): the command's typer and command groups cost every step 0.24 s of CPU."""
    script = str(Path(sys.executable).parent / "careflow")
    data = ({"init_main_from_path": script} if started_as == "careflow script"
            else {"init_main_from_name": "entry.__main__"})
    loaded = _in_fresh_process(
        f"import json, sys, multiprocessing.spawn; multiprocessing.spawn.prepare({data!r}); "
        "print(json.dumps([m for m in ('typer', 'click', 'entry.cli', 'entry.run_cli') if m in sys.modules]))")
    assert loaded == []


def test_a_flow_run_process_reads_careflow_as_bytecode_once_the_runner_compiled_it():
    """Where bytecode is not written as modules load (PYTHONDONTWRITEBYTECODE, a read-only checkout), each flow-run
    process compiled careflow's sources again (0.01-0.06 s of CPU a step); ``careflow serve`` and ``worker``
    compile them first."""
    from entry.bytecode import compile_project

    assert compile_project()
    compiled = _in_fresh_process(
        "import json, importlib._bootstrap_external as loading\n"
        "seen = []\n"
        "original = loading.SourceLoader.source_to_code\n"
        "def counting(self, data, path, *args, **kwargs):\n"
        "    seen.append(path)\n"
        "    return original(self, data, path, *args, **kwargs)\n"
        "loading.SourceLoader.source_to_code = counting\n"
        "import flows.guardianship, flows.sweeper, careflow.reroute, notifications.messages\n"
        f"print(json.dumps([p for p in seen if p.startswith({str(PROJECT_ROOT)!r})]))",
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert compiled == []
