"""Names instead of codes (issue 12, item 7): counties, townships and villages are chosen and shown by name, units by
the directory's name, people by their display name; the household-registration county is chosen by name."""
from __future__ import annotations

import re
import uuid
from datetime import date

import pytest

from core.db import session_scope
from models.base import utcnow
from models.case import Case, PathwayRun, PathwayStatus
from models.child import Child
from models.task import AgencyTask, TaskState
from models.user import UserRole
from sqlmodel import select
from tests.factories import make_resident_id
from tests.web.conftest import PASSWORD, WEB_ID_SPACE, sign_in
from tests.web.test_chinese_first import leaks, visible_text
from web.users import create_user

CODES = re.compile(r"(?<!\d)(?:350302001001|350302001|511321)(?!\d)")


@pytest.fixture(scope="module")
def caseworker(web_app):
    """A 龙桥街道 child supervisor with a display name, signed in."""
    with session_scope() as session:
        user = create_user(session, username=f"lin.fang.{uuid.uuid4().hex[:6]}", password=PASSWORD,
                           role=UserRole.caseworker, actor="fixture", jurisdiction_code="350302001",
                           display_name="林芳")
        name = user.username
    return sign_in(web_app, name), name


def test_the_registration_form_offers_names_and_a_child_is_registered_with_counties_by_name(caseworker):
    client, login = caseworker
    form = client.get("/children/new")
    assert '<datalist id="county-names">' in form.text and '<option value="莆田市城厢区">' in form.text
    assert '<option value="城厢区龙桥街道凤山社区">' in form.text
    assert 'name="residence_county"' in form.text and 'value="莆田市城厢区"' in form.text  # prefilled by name
    assert 'value="城厢区龙桥街道"' in form.text  # the supervisor's township, by name
    resident_id = make_resident_id(*WEB_ID_SPACE["world"])
    data = {"full_name": f"名称{uuid.uuid4().hex[:4]}", "resident_id": resident_id, "sex": "男",
            "hukou_county": "四川省南充市南部县", "residence_county": "莆田市城厢区",
            "residence_area_code": "城厢区龙桥街道凤山社区", "arrival_date": "2023-08-20", "csrf_token": client.csrf}
    unknown = client.post("/children", data={**data, "hukou_county": "南充市不存在县"})
    assert unknown.status_code == 400
    text = visible_text(unknown.text)
    assert "户籍地（县）：「南充市不存在县」不是已知的县（市、区）" in text and leaks(unknown.text) == []
    assert 'value="南充市不存在县"' in unknown.text and 'name="hukou_county" aria-invalid="true"' in unknown.text
    ambiguous = client.post("/children", data={**data, "hukou_county": "朝阳区"})
    assert "北京市朝阳区" in visible_text(ambiguous.text) and "长春市朝阳区" in visible_text(ambiguous.text)
    registered = client.post("/children", data=data)
    assert registered.status_code == 303, visible_text(registered.text)
    with session_scope() as session:
        child = session.exec(select(Child).where(Child.resident_id == resident_id)).one()
        assert (child.hukou_county_code, child.residence_county_code, child.residence_area_code) == (
            "511321", "350302", "350302001001")
        child_id = child.id
    page = client.get(f"/children/{child_id}")
    text = visible_text(page.text)
    assert "四川省南充市南部县" in text and "城厢区龙桥街道凤山社区" in text
    assert not CODES.search(text), CODES.findall(text)
    listed = visible_text(client.get("/children").text)
    assert "城厢区龙桥街道凤山社区" in listed and "350302001001" not in listed
    assert f"林芳 · 儿童主任" in listed or "林芳 ·" in listed  # who is signed in, by name
    assert "城厢区龙桥街道" in listed and not re.search(r"(?<!\d)350302001(?!\d)", listed)


def test_the_api_takes_counties_and_the_area_by_name(web_app, world, clients):
    headers = {"Authorization": f"Bearer {world.person('cw_a1').token}"}
    resident_id = make_resident_id(*WEB_ID_SPACE["world"])
    response = clients["cw_a1"].post("/api/children", headers=headers, json={
        "resident_id": resident_id, "full_name": f"接口{uuid.uuid4().hex[:4]}", "hukou_county": "南充市南部县",
        "residence_county": "城厢区", "residence_area_code": "龙桥街道凤山社区", "arrival_date": "2023-08-20"})
    assert response.status_code == 201, response.text
    child = response.json()["child"]
    assert (child["hukou_county_code"], child["residence_area_code"]) == ("511321", "350302001001")
    unknown = clients["cw_a1"].post("/api/children", headers=headers, json={
        "resident_id": make_resident_id(*WEB_ID_SPACE["world"]), "full_name": "接口", "hukou_county": "火星县",
        "residence_county": "城厢区", "residence_area_code": "350302001001", "arrival_date": "2023-08-20"})
    assert unknown.status_code == 422
    [problem] = unknown.json()["detail"]
    assert problem["field"] == "户籍地（县）" and "不是已知的县" in problem["message"]


def test_a_case_page_names_its_caseworker_the_answering_officer_and_the_unit(web_app, caseworker, world):
    client, login = caseworker
    place = world.places["A1"]
    with session_scope() as session:
        case = session.exec(select(Case).where(Case.reference == place.reference)).one()
        officer = create_user(session, username=f"wang.li.{uuid.uuid4().hex[:6]}", password=PASSWORD,
                              role=UserRole.agency_officer, actor="fixture",
                              unit_code="village_committee-350302001001", display_name="王丽")
        case_id, caseworker_before = case.id, case.caseworker
        case.caseworker = login
        task = session.get(AgencyTask, place.tasks["village_committee-350302001001"])
        before = (task.state, task.outcome, task.answered_at, task.answered_by)
        task.state, task.outcome, task.answered_at, task.answered_by = (
            TaskState.completed, {"serious": False, "child_in_danger": False}, utcnow(), officer.username)
    try:
        text = visible_text(client.get(f"/cases/{place.reference}").text)
        assert "责任人 林芳" in re.sub(r"\s+", " ", text)
        assert "王丽" in text and officer.username not in text
        assert "城厢区龙桥街道凤山社区居民委员会" in text and "village_committee-" not in text
    finally:
        with session_scope() as session:
            session.get(Case, case_id).caseworker = caseworker_before
            task = session.get(AgencyTask, place.tasks["village_committee-350302001001"])
            task.state, task.outcome, task.answered_at, task.answered_by = before


def test_the_emergency_place_is_chosen_by_name(caseworker, world, started_runs):
    client, _login = caseworker
    reference = world.places["A1"].reference
    page = client.get(f"/cases/{reference}/pathways/new")
    section = page.text.split('id="pathway-temporary_assistance"')[1].split("</section>")[0]
    assert 'name="p_emergency_area_code"' in section and 'list="area-names"' in section
    assert '<option value="城厢区霞林街道霞林社区">' in section
    started = client.post(f"/cases/{reference}/pathways", data={
        "pathway": "temporary_assistance", "p_emergency_area_code": "城厢区霞林街道霞林社区", "csrf_token": client.csrf})
    assert started.status_code == 303, visible_text(started.text)
    with session_scope() as session:
        run = session.get(PathwayRun, started_runs[-1])
        assert run.pathway == "temporary_assistance" and run.parameters["emergency_area_code"] == "350302002001"
        run.status, run.ended_at = PathwayStatus.cancelled, utcnow()


def test_lists_filter_by_a_place_name_and_api_enums_carry_their_labels(clients, world):
    manager = clients["mgr_a"]
    a1 = world.places["A1"].reference  # searched for: other tests' tasks in the same township fill the first page
    by_name = manager.get(f"/tasks?area=城厢区龙桥街道&state=all&q={a1}")
    by_code = manager.get(f"/tasks?area=350302001&state=all&q={a1}")
    assert by_name.status_code == by_code.status_code == 200
    refs = lambda page: sorted(set(re.findall(r"CF-[0-9A-Z-]+", page.text)))  # noqa: E731
    assert refs(by_name) == refs(by_code) and world.places["A1"].reference in refs(by_name)
    assert world.places["A2"].reference not in refs(by_name)
    assert 'list="area-filter-names"' in by_name.text
    unknown = manager.get("/tasks?area=火星镇")
    assert unknown.status_code == 400 and "城厢区龙桥街道" in visible_text(unknown.text)
    headers = {"Authorization": f"Bearer {world.person('off_vc_a1').token}"}
    task = clients["off_vc_a1"].get(f"/api/tasks/{world.places['A1'].tasks['village_committee-350302001001']}",
                                    headers=headers).json()
    from core.i18n import label

    assert task["state_label"] == label(task["state"], "state") and not task["state_label"].isascii()


def test_an_admin_gives_a_jurisdiction_by_name(clients):
    from tests.web.conftest import user_row

    admin = clients["admin"]
    form = admin.get("/admin/users/new")
    assert form.status_code == 200 and '<option value="莆田市城厢区">' in form.text
    username = f"mgr.name.{uuid.uuid4().hex[:6]}"
    created = admin.post("/admin/users", data={"username": username, "role": "manager", "display_name": "陈明",
                                               "jurisdiction_code": "莆田市", "password": "a-long-password-1",
                                               "csrf_token": admin.csrf})
    assert created.status_code == 303, visible_text(created.text)
    assert user_row(username).jurisdiction_code == "350300"
    listed = visible_text(admin.get(f"/admin/users?q={username}").text)
    assert "莆田市" in listed
