"""The migrations build exactly the schema the models describe, on each backend."""
import os
import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import models.tables  # noqa: F401
from core.db import get_engine


def _for_this_dialect(dialect: str):
    """alembic's ``include_object``: leave out what the models create on another dialect only (``ddl_if``), which
    autogenerate would otherwise report missing (e.g. SQLite's unique constraint on the ID, PostgreSQL's on the
    reversed ID: :mod:`models.child`)."""
    def include(obj, name, type_, reflected, compare_to) -> bool:
        only = getattr(getattr(obj, "_ddl_if", None), "dialect", None)
        return reflected or not only or dialect in ((only,) if isinstance(only, str) else only)
    return include


def test_migrated_schema_matches_the_models(database_url):
    with get_engine(database_url).connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _for_this_dialect(conn.dialect.name)})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_init_on_a_new_machine_prints_no_warning(tmp_path):
    """``careflow init`` (the first thing ``./run up`` does) on a new SQLite home says only what it did: it used to
    start with an SAWarning about an index that SQLite's reflection cannot read."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAREFLOW_", "PREFECT_"))}
    env["CAREFLOW_HOME"] = str(tmp_path / "home")
    done = subprocess.run([sys.executable, "-m", "entry.cli", "init"], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "careflow 数据目录" in done.stdout
    assert "Warning" not in done.stderr and "警告" not in done.stdout, done.stderr
