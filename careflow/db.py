"""The database engine, sessions and migrations of the system of record."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session

from careflow import PROJECT_ROOT
from careflow.settings import get_settings


def get_engine(url: str | None = None) -> sa.Engine:
    """The engine for ``url`` (default: the settings' database URL), created once per URL.

    SQLite runs in WAL mode with a 30 s busy timeout and foreign keys on, because the CLI,
    the served flows and the sweeper write to it from separate processes.
    """
    return _engine(url or get_settings().resolved_database_url)


@lru_cache
def _engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error (nothing half-written)."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def migrate(url: str | None = None) -> None:
    """Bring the schema to the latest Alembic revision (``migrations/versions``)."""
    from alembic import command
    from alembic.config import Config

    url = url or get_settings().resolved_database_url
    if url.startswith("sqlite:///"):
        from pathlib import Path

        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    config = Config()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "heads")  # parallel branches of migrations are applied together
