"""``careflow web create-user`` / ``demo-accounts``, and the web app in the local stack (``careflow up``)."""
import json
import os
import stat
import urllib.request
import uuid

from sqlmodel import select
from typer.testing import CliRunner

from entry.cli import app
from core.db import session_scope
from core.settings import get_settings
from models.agency import AgencyUnit
from models.user import WebUser
from tests.web.conftest import free_port
from web.demo_accounts import DEMO_ACCOUNTS, ensure_demo_accounts


def test_create_user_prompts_for_the_password_and_can_issue_a_token(database_url):
    name = f"cli.{uuid.uuid4().hex[:6]}"
    result = CliRunner().invoke(app, ["web", "create-user", name, "--role", "manager", "--jurisdiction", "350302",
                                      "--token"], input="a-long-password\na-long-password\n")
    assert result.exit_code == 0, result.output
    assert "API 令牌（只显示这一次）：cf_" in result.output
    with session_scope() as session:
        user = session.exec(select(WebUser).where(WebUser.username == name)).one()
        assert user.password_hash.startswith("$argon2id$") and user.jurisdiction_code == "350302"
    again = CliRunner().invoke(app, ["web", "create-user", name, "--role", "manager", "--jurisdiction", "350302",
                                     "--password", "a-long-password"])
    assert again.exit_code == 2 and again.output.strip() == f"错误：用户名：「{name}」已被使用，请换一个"
    officer = CliRunner().invoke(app, ["web", "create-user", f"{name}x", "--role", "agency_officer",
                                       "--unit", "no-such-unit", "--password", "a-long-password"])
    assert officer.exit_code == 2 and officer.output.strip() == "错误：承办单位：没有承办单位「no-such-unit」"


def test_demo_accounts_are_created_once_with_private_passwords(database_url, tmp_path):
    path = tmp_path / "demo-accounts.json"
    with session_scope() as session:
        first = ensure_demo_accounts(session, path)
    with session_scope() as session:
        second = ensure_demo_accounts(session, path)
    assert [a.username for a in first][:len(DEMO_ACCOUNTS)] == [a.username for a in DEMO_ACCOUNTS]
    with session_scope() as session:  # every active unit of the directory has an officer who can sign in
        units = session.exec(select(AgencyUnit.code).where(AgencyUnit.active.is_(True))).all()
    officers = {a.unit_code for a in first if a.role == "agency_officer"}
    assert units and set(units) <= officers and len(officers) == len([a for a in first if a.role == "agency_officer"])
    assert {a.role for a in first} == {"caseworker", "agency_officer", "manager", "admin"}
    assert [a.password for a in first] == [a.password for a in second] and all(a.password for a in first)
    assert json.loads(path.read_text())["lin.fang"] == first[0].password
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_the_local_stack_starts_the_web_app(monkeypatch):
    from entry.stack import LocalStack

    port = free_port()
    monkeypatch.setenv("CAREFLOW_WEB_PORT", str(port))
    get_settings.cache_clear()
    try:
        with LocalStack(with_sink=False, with_server=False, serve="never", with_web=True) as stack:
            assert stack.started == ["web"] and stack.web_url == f"http://127.0.0.1:{port}"
            with urllib.request.urlopen(f"{stack.web_url}/login", timeout=10) as response:
                assert response.status == 200 and "登录" in response.read().decode()
    finally:
        get_settings.cache_clear()


def test_the_demo_accounts_are_listed_with_their_area_by_name(capsys):
    """``careflow up`` prints each demo account's scope as a caseworker or manager would say it, not as a code."""
    from entry.web_cli import echo_accounts

    echo_accounts(DEMO_ACCOUNTS)
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert "城厢区龙桥街道" in lines["lin.fang"] and "350302001" not in lines["lin.fang"]
    assert "莆田市" in lines["manager.putian"] and "350300" not in lines["manager.putian"]
    assert "本单位" in lines["chen.qiang"] and "police-350302" not in lines["chen.qiang"]
    assert "全省" in lines["admin"]
