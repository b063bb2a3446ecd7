"""Migration 0009 on a database that already holds pathway runs, duplicates made by the old bug among them:
every run gets its key, the duplicates are kept (nothing cancelled behind the caseworker's back), and new starts
of a pathway still open on the case are refused afterwards."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlmodel import select

from core.paths import PROJECT_ROOT
from careflow.cases import PathwayAlreadyRunning, create_pathway_run, open_case
from careflow.registration import register_child
from core.db import get_engine, session_scope
from models.base import UTCDateTime
from models.case import PathwayRun
from tests.factories import make_resident_id


def _alembic(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@pytest.fixture
def own_database(database_url):
    """A migrated database of this test's own (it downgrades and upgrades the schema)."""
    from core.db import migrate
    from tests.conftest import _HOME, _create_pg_database, _drop_pg_database

    if database_url.startswith("sqlite"):
        url = f"sqlite:///{_HOME / f'migration-{uuid.uuid4().hex[:6]}.db'}"
    else:
        url = _create_pg_database()
    migrate(url)
    yield url
    if not url.startswith("sqlite"):
        _drop_pg_database(url)
    else:
        get_engine(url).dispose()


def test_existing_runs_get_keys_and_old_duplicates_are_kept(own_database):
    url = own_database
    with session_scope(url) as session:
        from datetime import date

        child = register_child(session, resident_id=make_resident_id(), full_name="迁移测试", hukou_county="511321",
                               residence_county="350302", residence_area_code="350302001001",
                               arrival_date=date(2023, 8, 20), actor="t").child
        session.flush()
        case_id = open_case(session, child_id=child.id, caseworker="t").id
    command.downgrade(_alembic(url), "0009-1")  # the schema before this migration
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    rows = [  # (pathway, parameters, status): two open guardianship runs (the bug), a closed one, two items
        ("guardianship", {}, "running"), ("guardianship", {}, "starting"), ("guardianship", {}, "completed"),
        ("service_referral", {"item": "18"}, "running"), ("service_referral", {"item": "013"}, "running"),
    ]
    ids = [uuid.uuid4() for _ in rows]
    table = sa.Table(  # the columns of migration 0001, typed as the models type them
        "pathway_run", sa.MetaData(), sa.Column("id", sa.Uuid), sa.Column("case_id", sa.Uuid),
        *(sa.Column(name, sa.String) for name in ("pathway", "status", "started_by", "outcome", "last_resume_error")),
        sa.Column("parameters", sa.JSON), sa.Column("started_at", UTCDateTime), sa.Column("resume_pending", sa.Boolean),
        *(sa.Column(name, sa.Integer) for name in ("answer_seq", "suspend_seq", "resume_attempts")))
    with get_engine(url).begin() as conn:
        for i, ((pathway, parameters, status), run_id) in enumerate(zip(rows, ids)):
            conn.execute(table.insert().values(
                id=run_id, case_id=case_id, pathway=pathway, parameters=parameters,
                status=status, started_by="t", started_at=start + timedelta(minutes=i), outcome="",
                resume_pending=False, answer_seq=0, suspend_seq=0, resume_attempts=0, last_resume_error=""))
    command.upgrade(_alembic(url), "heads")

    with session_scope(url) as session:
        keys = {run.id: run.dedupe_key for run in session.exec(select(PathwayRun)).all()}
    assert keys[ids[0]] == "guardianship"  # the earliest open run keeps the key
    assert keys[ids[1]].startswith("guardianship#")  # the later duplicate is kept, its key made unique
    assert keys[ids[2]] == "guardianship"
    assert (keys[ids[3]], keys[ids[4]]) == ("service_referral:18", "service_referral:13")
    with session_scope(url) as session, pytest.raises(PathwayAlreadyRunning):
        create_pathway_run(session, case_id=case_id, pathway="guardianship", actor="t")
    with session_scope(url) as session, pytest.raises(PathwayAlreadyRunning):
        create_pathway_run(session, case_id=case_id, pathway="service_referral", actor="t",
                           parameters={"item": 13, "eligibility_override": "低保条件待核实"})
    with session_scope(url) as session:  # a new item starts: its departments are in the directory
        from careflow.routing import load_agency_units
        from core.settings import get_settings

        load_agency_units(session, get_settings().policy_dir / "agency_units.yaml")
        create_pathway_run(session, case_id=case_id, pathway="service_referral", actor="t", parameters={"item": 17})
