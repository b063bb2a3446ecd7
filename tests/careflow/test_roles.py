"""Least privilege on PostgreSQL (issue #16 part 5): ``careflow init`` with a setup URL creates the owner role
migrations run as and the application role the app runs as; the application role may add to and read the audit
trail, and nothing else there — no UPDATE, DELETE, TRUNCATE, no disabling its triggers — while it keeps plain DML on
the other tables. Roles are cluster-wide: each test run names its own."""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from core.db import get_engine
from core.settings import get_settings
from tests.conftest import BACKENDS, PG_ADMIN_URL, _create_pg_database, _drop_pg_database

pytestmark = pytest.mark.skipif("postgresql" not in BACKENDS, reason="roles exist only on PostgreSQL")


def as_user(url: str, user: str, password: str | None = None) -> str:
    return sa.engine.make_url(url).set(username=user, password=password).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def roles_database(tmp_path_factory):
    """A fresh database, the URLs of its setup (postgres), owner and app roles, with ``careflow init`` run."""
    from entry.cli import app

    tmp_path = tmp_path_factory.mktemp("roles")
    monkeypatch = pytest.MonkeyPatch()
    suffix = uuid.uuid4().hex[:8]
    setup_url = _create_pg_database()
    owner, app_role = f"cf_owner_{suffix}", f"cf_app_{suffix}"
    urls = {"setup": setup_url, "owner": as_user(setup_url, owner, "owner-pw"),
            "app": as_user(setup_url, app_role, "app-pw'quoted")}
    monkeypatch.setenv("CAREFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CAREFLOW_DATABASE_URL", urls["app"])
    monkeypatch.setenv("CAREFLOW_OWNER_DATABASE_URL", urls["owner"])
    monkeypatch.setenv("CAREFLOW_SETUP_DATABASE_URL", setup_url)
    monkeypatch.setenv("CAREFLOW_DB_OWNER_ROLE", owner)
    monkeypatch.setenv("CAREFLOW_DB_APP_ROLE", app_role)
    get_settings.cache_clear()
    try:
        for _ in range(2):  # a second init changes nothing and does not fail
            result = CliRunner().invoke(app, ["init"])
            assert result.exit_code == 0, result.output
            assert f"{owner} 拥有表结构" in result.output and "警告" not in result.output
        yield {**urls, "owner_role": owner, "app_role": app_role}
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        for url in urls.values():
            get_engine(url).dispose()
        _drop_pg_database(setup_url)
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for role in (app_role, owner):
                conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
        admin.dispose()


def refused(engine: sa.Engine, statement: str) -> str:
    """The error PostgreSQL gives ``statement`` (rolled back); fails the test when it is accepted."""
    with engine.connect() as conn:
        try:
            conn.exec_driver_sql(statement)
        except sa.exc.DBAPIError as exc:
            conn.rollback()
            return str(exc.orig)
    raise AssertionError(f"accepted: {statement}")


def test_the_application_role_can_only_add_to_and_read_the_audit_trail(roles_database):
    app = sa.create_engine(roles_database["app"], isolation_level="AUTOCOMMIT")
    try:
        with app.connect() as conn:
            assert conn.exec_driver_sql("SELECT current_user").scalar() == roles_database["app_role"]
            conn.exec_driver_sql("INSERT INTO audit_event (at, actor, action, entity_type, entity_id, reason, detail) "
                                 "VALUES (now(), 'test', 'test.inserted', 'test', '1', '', '{}')")
            assert conn.exec_driver_sql("SELECT count(*) FROM audit_event WHERE action = 'test.inserted'").scalar() == 1
            # plain DML elsewhere (init itself loaded the agency directory as this role)
            assert conn.exec_driver_sql("SELECT count(*) FROM agency_unit").scalar() > 0
            assert conn.exec_driver_sql("UPDATE agency_unit SET name = name").rowcount > 0
            conn.exec_driver_sql("DELETE FROM notification WHERE false")
        for statement in ("UPDATE audit_event SET reason = 'x'", "DELETE FROM audit_event", "TRUNCATE audit_event"):
            assert "permission denied" in refused(app, statement), statement
        for statement in ("ALTER TABLE audit_event DISABLE TRIGGER ALL",
                          "ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only",
                          "DROP TRIGGER audit_event_append_only ON audit_event"):
            assert "must be owner" in refused(app, statement), statement
        assert "permission denied" in refused(app, "CREATE TABLE public.mine (id int)")
        assert "permission denied" in refused(app, "TRUNCATE agency_unit")
        assert "permission denied" in refused(app, "DELETE FROM alembic_version")
    finally:
        app.dispose()


def test_the_owner_owns_the_schema_and_neither_role_is_a_superuser(roles_database):
    setup = sa.create_engine(roles_database["setup"])
    try:
        with setup.connect() as conn:
            owners = set(conn.exec_driver_sql(
                "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'").scalars())
            assert owners == {roles_database["owner_role"]}
            powers = conn.execute(sa.text(
                "SELECT rolname, rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls FROM pg_roles "
                "WHERE rolname IN (:o, :a)"), {"o": roles_database["owner_role"], "a": roles_database["app_role"]}).all()
            assert sorted(powers) == sorted([(roles_database["owner_role"], False),
                                             (roles_database["app_role"], False)])
            assert conn.exec_driver_sql("SELECT pg_get_userbyid(proowner) FROM pg_proc "
                                        "WHERE proname = 'audit_event_append_only'").scalar() == \
                roles_database["owner_role"]
    finally:
        setup.dispose()
