"""Input that cannot hurt and a real audit (issue #16 parts 4-5): bodies that are not UTF-8, control characters
and impossible dates in what users type, refused accesses in the audit trail."""
from __future__ import annotations

import http.client
import uuid

import pytest
from sqlmodel import select

from core.db import session_scope
from models.audit import AuditEvent
from tests.factories import make_resident_id
from tests.web.conftest import WEB_ID_SPACE, serving

NOT_UTF8 = b'{"full_name": "\xff\xfe\xc3\x28"}'


@pytest.fixture(scope="module")
def live_app(web_app):
    """The test app on a real uvicorn server (no Prefect), to see what happens on one keep-alive connection."""
    with serving(web_app, "careflow-web-hardening") as port:
        yield port


def test_a_body_that_is_not_utf8_is_a_400_and_the_connection_stays_usable(live_app, world):
    token = world.person("cw_a").token
    connection = http.client.HTTPConnection("127.0.0.1", live_app, timeout=10)
    try:
        for _ in range(2):
            connection.request("POST", "/api/children", body=NOT_UTF8,
                               headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            response = connection.getresponse()
            body = response.read().decode("utf-8")
            assert response.status == 400, body
            assert "UTF-8" in body and "请求内容" in body
            connection.request("GET", "/healthz")  # the same connection answers the next request
            response = connection.getresponse()
            assert response.status == 200 and response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("body", [b"full_name=\xff\xfe&summary=x", b"full_name=%FF%FE&summary=x"])
def test_a_form_that_is_not_utf8_gets_a_chinese_400_page(web_app, clients, body):
    response = clients["cw_a"].post("/children", content=body,
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    assert "不是 UTF-8 编码的文本" in response.text


def test_a_body_without_a_content_type_is_checked_as_json(web_app, world, clients):
    headers = {"Authorization": f"Bearer {world.person('cw_a').token}"}
    response = clients["cw_a"].post("/api/children", headers=headers, content=NOT_UTF8)
    assert response.status_code == 400 and "UTF-8" in response.json()["detail"]


def test_utf8_bodies_still_work(web_app, world, clients):
    headers = {"Authorization": f"Bearer {world.person('cw_a').token}"}
    response = clients["cw_a"].post("/api/children", headers=headers, json={"full_name": "张三"})
    assert response.status_code == 422  # read and validated: the other fields are missing


def _denials(actor: str) -> list[AuditEvent]:
    with session_scope() as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.actor == actor,
                                                          AuditEvent.action == "access.denied")
                                 .order_by(AuditEvent.id)).all())


def test_opening_another_units_task_is_audited(web_app, world, clients):
    officer = world.person("off_vc_a1")
    other_task = world.places["B"].tasks["police-350823"]
    before = len(_denials(officer.username))
    assert clients["off_vc_a1"].get(f"/tasks/{other_task}").status_code == 404
    assert clients["off_vc_a1"].get(f"/api/tasks/{other_task}",
                                    headers={"Authorization": f"Bearer {officer.token}"}).status_code == 404
    events = _denials(officer.username)[before:]
    assert [(e.detail["method"], e.detail["path"], e.detail["status"]) for e in events] == [
        ("GET", f"/tasks/{other_task}", 404), ("GET", f"/api/tasks/{other_task}", 404)]
    assert all(e.detail["unit"] == officer.unit and str(other_task) in e.reason for e in events)
    own_task = world.places["A1"].tasks["village_committee-350302001001"]
    assert clients["off_vc_a1"].get(f"/tasks/{own_task}").status_code == 200
    assert len(_denials(officer.username)) == before + 2  # an allowed read is no denial


def test_a_page_outside_the_role_is_audited(web_app, world, clients):
    officer = world.person("off_police_a")
    before = len(_denials(officer.username))
    assert clients["off_police_a"].get("/admin/users").status_code == 403
    assert clients["off_police_a"].get("/api/admin/users",
                                       headers={"Authorization": f"Bearer {officer.token}"}).status_code == 403
    events = _denials(officer.username)[before:]
    assert [(e.detail["path"], e.detail["status"]) for e in events] == [("/admin/users", 403),
                                                                        ("/api/admin/users", 403)]
    assert events[0].at is not None and events[0].detail["role"] == "agency_officer"


@pytest.mark.parametrize("field,value", [("full_name", "张\x00三"), ("residence_address", "凤山\x07社区"),
                                         ("full_name", "张\x1b三")])
def test_control_characters_in_what_users_type_are_refused_naming_the_field(web_app, world, clients, field, value):
    headers = {"Authorization": f"Bearer {world.person('cw_a').token}"}
    body = {"resident_id": make_resident_id(*WEB_ID_SPACE["walk"]), "full_name": "张三", "hukou_county": "511321",
            "residence_county": "350302", "arrival_date": "2023-08-20", field: value}
    response = clients["cw_a"].post("/api/children", headers=headers, json=body)
    assert response.status_code == 422
    text = response.text
    assert field in text and "控制字符" in text


def test_arrival_dates_are_checked_against_the_child(web_app, world, clients):
    import datetime as dt

    headers = {"Authorization": f"Bearer {world.person('cw_a').token}"}
    birth = WEB_ID_SPACE["walk"][1]
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    for arrival, words in [(future, "晚于今天"), ((birth - dt.timedelta(days=1)).isoformat(), "早于出生日期")]:
        body = {"resident_id": make_resident_id(*WEB_ID_SPACE["walk"]), "full_name": f"张{uuid.uuid4().hex[:3]}",
                "hukou_county": "511321", "residence_county": "350302", "arrival_date": arrival}
        response = clients["cw_a"].post("/api/children", headers=headers, json=body)
        assert response.status_code in (400, 422), response.text
        assert "arrival_date" in response.text and words in response.text, response.text
        page = clients["cw_a"].post("/children", data={**body, "csrf_token": clients["cw_a"].csrf})
        assert page.status_code == 400 and "来到居住地日期：" in page.text and words in page.text, page.text
        assert 'name="arrival_date" aria-invalid="true"' in page.text and "字段 arrival_date" not in page.text


def test_a_control_character_in_any_form_field_is_refused_naming_the_field(web_app, clients):
    page = clients["cw_a"].get("/login")
    response = clients["cw_a"].post("/login", data={"username": "a\x00b", "password": "x" * 12})
    assert response.status_code == 400
    assert "字段 username" in response.text and "U+0000" in response.text
    assert page.status_code == 200
    english = clients["cw_a"].post("/login?lang=en", data={"username": "a\x00b", "password": "x" * 12})
    clients["cw_a"].get("/account?lang=zh")
    assert "Field username: character 2 is a control character (U+0000)" in english.text


def test_a_control_character_in_a_json_field_is_named_in_chinese_on_the_form():
    from pydantic import ValidationError

    from web.forms import error_lines
    from web.inputs import ReportCreate

    with pytest.raises(ValidationError) as caught:
        ReportCreate.model_validate({"summary": "情况\x00说明"})
    lines, marked = error_lines(caught.value).localise("zh")
    assert lines == ["报告内容：第 3 个字符是控制字符 U+0000，不能提交；请删除后重新提交"]
    assert error_lines(caught.value).localise("en")[0] == [
        "What was reported: character 3 is a control character (U+0000) and cannot be submitted: delete it and submit "
        "again"]
    assert list(marked) == ["summary"]
    assert ReportCreate.model_validate({"summary": "第一行\r\n第二行\t缩进"}).summary == "第一行\r\n第二行\t缩进"
