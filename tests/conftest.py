"""Test harness: a fresh CAREFLOW_HOME, both database backends, and a real local Prefect stack.

Every database test runs twice, on SQLite and on PostgreSQL (127.0.0.1:5432, user postgres, trust
auth; set CAREFLOW_TEST_BACKENDS=sqlite to skip PostgreSQL on a machine without it).
"""
from __future__ import annotations

import os
import socket
import tempfile
import uuid
from datetime import date
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Before anything imports prefect: a private data directory and ports for this test session.
_HOME = Path(tempfile.mkdtemp(prefix="careflow-test-"))
os.environ["CAREFLOW_HOME"] = str(_HOME)
os.environ["CAREFLOW_PREFECT_PORT"] = str(_free_port())
os.environ["CAREFLOW_SMTP_PORT"] = str(_free_port())
# No scheduled sweeps during tests: a sweep in the served runner would dispatch and escalate other tests'
# data behind their backs; tests call the sweeper's parts (reconcile, escalate, dispatch) themselves.
os.environ["CAREFLOW_SWEEP_CRON"] = ""
for _key in [k for k in os.environ if k.startswith("PREFECT_")]:
    del os.environ[_key]
# Nor any other scheduled flow (the survey's, the exchanges', the joint meeting's, the quarterly programme report
# duties'): the test server's scheduler service is off. Their crons fire at fixed hours of the real clock (the report
# duties' at 01:15 Asia/Shanghai), and a run would open duties for every test's units behind their backs.
os.environ["PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED"] = "false"
from core.prefect_env import configure_prefect_env  # noqa: E402

configure_prefect_env()

# The session's channel file: everything to the local mail sink, one message per task. Burst digests are
# off here because the end-to-end tests send many tasks to the same few units within minutes and assert
# each task's own message; tests/notifications covers digests with their own channel files.
from notifications.default_channels import DEFAULT_MAILTO  # noqa: E402

(_HOME / "channels.yaml").write_text(
    f"default:\n  - {DEFAULT_MAILTO.format(port=int(os.environ['CAREFLOW_SMTP_PORT']))}\ndigest: off\n",
    encoding="utf-8")

import pytest  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from core.db import get_engine, migrate, session_scope  # noqa: E402
from core.settings import get_settings  # noqa: E402
from tests.factories import make_resident_id  # noqa: E402

PG_ADMIN_URL = os.environ.get("CAREFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKENDS = os.environ.get("CAREFLOW_TEST_BACKENDS", "sqlite,postgresql").split(",")


def _create_pg_database() -> str:
    name = f"careflow_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _drop_pg_database(url: str) -> None:
    get_engine(url).dispose()
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (``-n 2 --dist loadgroup``) keep each backend's tests on one worker, so each
    worker sets up one database and one served runner, and the two backends run side by side."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec and "database_url" in callspec.params:
            item.add_marker(pytest.mark.xdist_group(callspec.params["database_url"]))
            only = item.get_closest_marker("only_backend")
            if only and callspec.params["database_url"] != only.args[0]:
                item.add_marker(pytest.mark.skip(reason=f"runs once, on {only.args[0]}: {only.kwargs['why']}"))


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request) -> str:
    """A migrated, empty careflow database on each backend, used by every test of this session."""
    if request.param == "sqlite":
        url = f"sqlite:///{_HOME / f'careflow-{uuid.uuid4().hex[:6]}.db'}"
    else:
        url = _create_pg_database()
    os.environ["CAREFLOW_DATABASE_URL"] = url
    get_settings.cache_clear()
    migrate(url)
    with session_scope() as session:
        from careflow.routing import load_agency_units

        load_agency_units(session, get_settings().policy_dir / "agency_units.yaml")
    yield url
    if request.param != "sqlite":
        _drop_pg_database(url)
    os.environ.pop("CAREFLOW_DATABASE_URL", None)
    get_settings.cache_clear()


@pytest.fixture
def session(database_url):
    """A session on the current backend that commits at the end of the test."""
    with session_scope(database_url) as s:
        yield s


@pytest.fixture
def register(session):
    """Register a migrant child living in 城厢区 凤山社区 (returns the Registration)."""
    from careflow.registration import register_child

    def _register(**overrides):
        fields = dict(
            resident_id=make_resident_id(), full_name="测试儿童" + uuid.uuid4().hex[:4], hukou_county="511321",
            residence_county="350302", residence_area_code="350302001001", arrival_date=date(2023, 8, 20),
            actor="test.caseworker",
        )
        fields.update(overrides)
        registration = register_child(session, **fields)
        session.flush()
        return registration

    return _register


@pytest.fixture
def committee_task(session, register):
    """A committed committee task of a guardianship run: (task id, run id, child)."""
    from careflow.cases import create_pathway_run, open_case
    from careflow.step_tasks import open_step_task

    child = register().child
    case = open_case(session, child_id=child.id, caseworker="test.caseworker")
    run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="test.caseworker")
    session.flush()
    task = open_step_task(session, pathway_run_id=run.id, step_key="committee_admonition")
    session.commit()
    return task.id, run.id, child
