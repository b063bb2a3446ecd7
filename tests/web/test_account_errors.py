"""Errors of the accounts pages (users, invites, units, the password) name the field and the value in the page's
language. They were English ``field 'x': …`` texts raised by web/users.py, web/invites.py, web/security.py and
web/admin_ops.py, turned into words by matching their English (a short password on the invite page read only
「填写有误，请检查」); ``careflow web create-user`` printed them as they were (「错误：field 'username': 3–64
characters …」)."""
from __future__ import annotations

import uuid

from tests.careflow.test_cli import invoke
from tests.careflow.test_cli_errors import english
from tests.web.chinese import leaks, visible_text
from tests.web.test_invites import LINK, _sign_up

UNIT = "police-350302"


def _invite_path(clients) -> str:
    admin = clients["admin"]
    page = admin.post(f"/admin/units/{UNIT}/invite", data={"invite_name": "赵警官", "csrf_token": admin.csrf})
    return LINK.search(page.text).group(1)


def test_an_invited_officers_short_password_and_taken_name_are_named(web_app, clients, world):
    path = _invite_path(clients)
    taken_name = world.people["admin"].username
    name = f"zhao.{uuid.uuid4().hex[:6]}"
    _, short = _sign_up(web_app, path, username=name, password="short")
    assert short.status_code == 400 and leaks(short.text) == []
    assert "密码（至少10位）：至少10个字" in visible_text(short.text)
    _, short_en = _sign_up(web_app, path + "?lang=en", username=name, password="short")
    assert "Password (10 characters or more): at least 10 characters" in visible_text(short_en.text)
    _, taken = _sign_up(web_app, path, username=taken_name, password="a-long-password-1")
    assert taken.status_code == 400 and f"用户名：「{taken_name}」已被使用，请换一个" in visible_text(taken.text)
    _, taken_en = _sign_up(web_app, path + "?lang=en", username=taken_name, password="a-long-password-1")
    assert f"User name: '{taken_name}' is taken: choose another" in visible_text(taken_en.text)


def test_an_admins_user_and_unit_forms_name_the_value(clients):
    admin = clients["admin"]
    form = {"username": f"mgr.{uuid.uuid4().hex[:6]}", "role": "manager", "jurisdiction_code": "350302001",
            "password": "a-long-password-1", "csrf_token": admin.csrf}
    wrong = admin.post("/admin/users", data=form)  # a township code: a manager's area is a county, city or province
    assert wrong.status_code == 400 and leaks(wrong.text) == []
    assert "辖区：「350302001」不是该角色可用的区划代码：儿童主任为乡镇（9位）或县（6位），管理人员为县、市或省（6位）" \
        in visible_text(wrong.text)
    assert 'name="jurisdiction_code" aria-invalid="true"' in wrong.text
    wrong_en = admin.post("/admin/users?lang=en", data=form)
    admin.get("/account?lang=zh")  # back to Chinese for the other tests
    assert "Jurisdiction: '350302001' is not an area code for this role" in visible_text(wrong_en.text)
    unit = admin.post("/admin/units", data={"code": UNIT, "name": "重复的单位", "agency_type": "police",
                                            "jurisdiction_code": "350302", "csrf_token": admin.csrf})
    assert unit.status_code == 400 and f"单位代码「{UNIT}」已存在" in visible_text(unit.text)


def test_create_user_on_the_command_line_names_the_field_in_chinese_and_in_english(database_url):
    short = invoke("web", "create-user", "x", "--role", "admin", "--password", "a-long-password-1")
    assert short.exit_code == 2 and short.output.strip() == (
        "错误：用户名：「x」不能用作用户名：只能用小写字母、数字和 . _ -，3至64位")
    role = invoke("web", "create-user", "li.ming", "--role", "officer", "--password", "a-long-password-1")
    assert role.exit_code == 2 and role.output.strip() == (
        "错误：角色：「officer」不是角色（可填：caseworker, agency_officer, manager, admin）")  # was Python's enum error
    password = invoke("web", "create-user", "li.ming", "--role", "admin", "--password", "short")
    assert password.exit_code == 2 and password.output.strip() == "错误：密码：至少10个字"
    en = english("web", "create-user", "li.ming", "--role", "caseworker", "--password", "a-long-password-1",
                 "--jurisdiction", "12")
    assert en.returncode == 2 and en.stderr.strip() == (
        "error: Jurisdiction: '12' is not an area code for this role: township (9 digits) or county (6) for a "
        "caseworker; county, city or province (6) for a manager")


def test_a_child_registered_outside_the_caseworkers_township_is_named(clients):
    """web/actions.py raised 「field 'residence_area_code': 350302002001 is outside your jurisdiction 350302001」."""
    from tests.web.test_chinese_first import _register_form

    client = clients["cw_a1"]  # 龙桥街道 (350302001)
    outside = client.post("/children", data=_register_form(client, residence_area_code="350302002001"))
    assert outside.status_code == 400 and leaks(outside.text) == []
    assert "「350302002001」不在您的辖区（350302001）内" in visible_text(outside.text)
    assert 'name="residence_area_code" aria-invalid="true"' in outside.text
    english_page = client.post("/children?lang=en", data=_register_form(client, residence_area_code="350302002001"))
    client.get("/account?lang=zh")  # back to Chinese for the other tests
    assert "'350302002001' is outside your jurisdiction (350302001)" in visible_text(english_page.text)


def test_the_apis_403_and_404_read_in_the_callers_language(web_app, world):
    """The JSON API answered 403 with 「role 'agency_officer' may not do this」 (a raw role) and 404 with 「not found」
    whatever language the caller asked for."""
    from tests.web.conftest import Browser

    api = Browser(web_app)
    child = world.places["A1"].child_id
    officer = {"Authorization": f"Bearer {world.person('off_police_a').token}"}
    refused = api.post(f"/api/children/{child}/cases", json={"summary": "报告", "reported_by": "邻居"},
                       headers=officer)
    assert refused.status_code == 403 and refused.json() == {"detail": "您的角色不能进行此操作"}
    english_caller = api.post(f"/api/children/{child}/cases?lang=en", json={"summary": "x", "reported_by": "y"},
                              headers=officer)
    assert english_caller.status_code == 403 and english_caller.json() == {"detail": "your role may not do this"}
    api = Browser(web_app)  # a new caller (the language asked for is remembered)
    other_county = {"Authorization": f"Bearer {world.person('cw_b').token}"}
    hidden = api.get(f"/api/children/{child}", headers=other_county)
    assert hidden.status_code == 404 and hidden.json() == {"detail": "没有找到，或您无权查看"}
    assert api.get(f"/api/children/{child}", headers={**other_county, "Accept-Language": "en"}).json() == {
        "detail": "not found, or not yours to see"}
    anonymous = Browser(web_app).get("/api/me")
    assert anonymous.status_code == 401 and anonymous.json()["detail"].startswith("请先登录")
