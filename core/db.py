"""The database engine, sessions and migrations of the system of record, and (PostgreSQL) its two roles.

Least privilege on PostgreSQL: migrations run as an *owner* role (``CAREFLOW_OWNER_DATABASE_URL``) that owns the
schema; the app (web, CLI, flows, sweeper) connects as an *application* role (``CAREFLOW_DATABASE_URL``) with plain
DML on careflow's tables and, on the audit trail, only INSERT and SELECT — it can neither change nor truncate audit
rows, nor disable the triggers that guard them (only a table's owner may). ``careflow init`` with
``CAREFLOW_SETUP_DATABASE_URL`` (a superuser) creates both roles: :func:`setup_roles` before the migrations,
:func:`grant_app_privileges` after them.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import logging
import re
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session

from core.paths import MIGRATIONS_DIR
from core.settings import get_settings
from models import working_days
from models.holidays import Arrangement, HolidayArrangement

log = logging.getLogger(__name__)

#: Seconds a process keeps the stored holiday arrangements before reading them again (another process may load one).
REFRESH_SECONDS = 30.0


def get_engine(url: str | None = None) -> sa.Engine:
    """The engine for ``url`` (default: the settings' database URL), created once per URL.

    SQLite runs in WAL mode with a 30 s busy timeout and foreign keys on, because the CLI,
    the served flows and the sweeper write to it from separate processes.
    """
    return _engine(url or get_settings().resolved_database_url)


@lru_cache
def _engine(url: str) -> sa.Engine:
    if working_days._stored_arrangements is not stored_arrangements:  # deadlines count with the stored arrangements
        working_days.set_arrangement_source(stored_arrangements)
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
    """Bring the schema to the latest Alembic revision (``migrations/versions``), connected with ``url`` (default:
    the owner's URL, ``Settings.resolved_owner_database_url``)."""
    # start-up: Alembic only for migrating (`careflow init`, `careflow up`); the app's processes never migrate
    from alembic import command
    from alembic.config import Config  # start-up: as above

    url = url or get_settings().resolved_owner_database_url
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "heads")  # parallel branches of migrations are applied together


# --------------------------------------------------------------------------------------------- PostgreSQL roles

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
#: The audit trail: the application role may only add and read its rows.
AUDIT_TABLE = "audit_event"


def _role(name: str) -> str:
    if not _ROLE_NAME.fullmatch(name):
        raise ValueError(f"role name {name!r}: lower-case letters, digits and _ (at most 63)")
    return f'"{name}"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def password_for(role: str, *urls: str | None) -> str | None:
    """The password of the first of ``urls`` that logs in as ``role`` (None: no such URL, or trust/peer auth)."""
    for url in urls:
        if url:
            parsed = sa.engine.make_url(url)
            if parsed.username == role and parsed.password:
                return parsed.password
    return None


def setup_roles(setup_url: str, *, owner_role: str, app_role: str, owner_password: str | None = None,
                app_password: str | None = None) -> None:
    """Before the migrations: create (or update) the owner and application roles and hand the schema to the owner.

    Connected as a superuser (``setup_url``, the careflow database): both roles get LOGIN and nothing more
    (``NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS``), with the given password (None: none, for trust/peer
    authentication). The owner owns the database, may create in schema ``public`` and becomes the owner of every
    table, sequence, view, type and function already there (a database migrated before roles existed); nobody
    else may create in ``public``. The application role may connect and create temporary tables (the survey
    import's staging). Safe to run again; roles are cluster-wide, and a concurrent creation of the same role is
    tolerated.

    Raises:
        ValueError: a role name that is not a plain lower-case identifier. sqlalchemy.exc.DBAPIError: the
            setup URL's role may not create roles or change owners.
    """
    owner, app = _role(owner_role), _role(app_role)
    engine = sa.create_engine(setup_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            database = '"' + conn.exec_driver_sql("SELECT current_database()").scalar().replace('"', '""') + '"'
            for role, password in ((owner, owner_password), (app, app_password)):
                conn.exec_driver_sql(f"DO $$ BEGIN CREATE ROLE {role}; "
                                     f"EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$")
                conn.exec_driver_sql(f"ALTER ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS "
                                     + (f"PASSWORD {_literal(password)}" if password else "PASSWORD NULL"))
            conn.exec_driver_sql(f"ALTER DATABASE {database} OWNER TO {owner}")
            conn.exec_driver_sql(f"GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {app}")
            conn.exec_driver_sql("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
            conn.exec_driver_sql(f"GRANT USAGE, CREATE ON SCHEMA public TO {owner}")
            conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {app}")
            _hand_over(conn, owner_role)
    finally:
        engine.dispose()


def _hand_over(conn: sa.Connection, owner_role: str) -> None:
    """Make ``owner_role`` the owner of every object in schema ``public`` (tables first: their own sequences
    follow them)."""
    owner = _role(owner_role)
    relations = conn.execute(sa.text(
        "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
        "AND pg_get_userbyid(c.relowner) <> :owner"), {"owner": owner_role}).all()
    for name, kind in relations:
        verb = {"v": "VIEW", "m": "MATERIALIZED VIEW", "f": "FOREIGN TABLE"}.get(kind, "TABLE")
        conn.exec_driver_sql(f'ALTER {verb} public."{name}" OWNER TO {owner}')
    for (name,) in conn.execute(sa.text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'S' AND pg_get_userbyid(c.relowner) <> :owner"),
            {"owner": owner_role}).all():
        conn.exec_driver_sql(f'ALTER SEQUENCE public."{name}" OWNER TO {owner}')
    for (signature,) in conn.execute(sa.text(
            "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> :owner"), {"owner": owner_role}).all():
        conn.exec_driver_sql(f"ALTER ROUTINE {signature} OWNER TO {owner}")
    for (name,) in conn.execute(sa.text(
            "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd') AND pg_get_userbyid(t.typowner) <> :owner"),
            {"owner": owner_role}).all():
        conn.exec_driver_sql(f'ALTER TYPE public."{name}" OWNER TO {owner}')


def grant_app_privileges(setup_url: str, *, owner_role: str, app_role: str) -> None:
    """After the migrations: what the application role may do.

    SELECT, INSERT, UPDATE and DELETE on every table, and the sequences, except the audit trail
    (:data:`AUDIT_TABLE`: SELECT and INSERT only) and ``alembic_version`` (SELECT); never TRUNCATE, TRIGGER or
    REFERENCES, and it owns nothing, so it cannot alter a table or disable a trigger. Tables the owner creates in
    later migrations get the same DML grants by default. Safe to run again.
    """
    owner, app = _role(owner_role), _role(app_role)
    engine = sa.create_engine(setup_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {app}")
            conn.exec_driver_sql(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app}")
            conn.exec_driver_sql(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app}")
            conn.exec_driver_sql(f"REVOKE UPDATE, DELETE ON {AUDIT_TABLE} FROM {app}")
            conn.exec_driver_sql(f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {app}")
            conn.exec_driver_sql(f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
                                 f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}")
            conn.exec_driver_sql(f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
                                 f"GRANT USAGE, SELECT ON SEQUENCES TO {app}")
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------------------------------------------
# the holiday arrangements stored in the database: the default calendar's first source (DOMAIN.md §6)
# ---------------------------------------------------------------------------------------------------------------------

_stored: dict[str, tuple[float, tuple[Arrangement, ...]]] = {}


def stored_arrangements() -> tuple[Arrangement, ...]:
    """The arrangements in the current database (settings' URL), read at most every :data:`REFRESH_SECONDS`.

    Registered with :func:`models.working_days.set_arrangement_source` when an engine is first made. Returns the same
    tuple object while unchanged (so the default calendar keeps its caches). A database that cannot be read (not
    set up yet) counts as having none: deadlines are then provisional, as before the load.
    """
    url = get_settings().resolved_database_url
    now = time.monotonic()
    hit = _stored.get(url)
    if hit is not None and now - hit[0] < REFRESH_SECONDS:
        return hit[1]
    try:
        with get_engine(url).connect() as conn:
            rows = conn.execute(sa.select(HolidayArrangement.__table__).order_by(HolidayArrangement.year)).all()
        value = tuple(Arrangement.from_row(row) for row in rows)
    except sa.exc.SQLAlchemyError as exc:
        log.warning("holiday arrangements unreadable (%s); counting without them", type(exc).__name__)
        value = hit[1] if hit is not None else ()
    if hit is not None and hit[1] == value:
        value = hit[1]
    _stored[url] = (now, value)
    return value


def forget_stored_calendar() -> None:
    """Read the stored arrangements again on next use (this process)."""
    _stored.clear()
