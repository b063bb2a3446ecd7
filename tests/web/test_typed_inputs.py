"""No branching input is free text (issue 12, item 3), and the API's refusals are worded like the pages'.

The amount of emergency help is a number in yuan (``八百`` refused in Chinese, naming 救助金额; a number below the
small-amount ceiling leads to 小额快救); the onward referral is a choice of service-list items or 无需转介; the
service item of a referral is chosen from the 20 items by name; the JSON API's 422 is Chinese (English on request).
"""
from __future__ import annotations

import re
import uuid
from datetime import date

import pytest

from careflow.cases import create_pathway_run, open_case

from careflow.registration import register_child
from core.db import session_scope
from careflow.step_tasks import open_step_task
from flows.temporary_assistance import small_amount_yuan
from models.base import utcnow
from models.case import PathwayRun, PathwayStatus
from models.policy import load_policy
from models.task import AgencyTask, TaskState
from models.user import UserRole
from tests.factories import make_resident_id
from tests.web.conftest import PASSWORD, WEB_ID_SPACE, sign_in
from tests.web.test_chinese_first import leaks, visible_text
from web.users import create_api_token, create_user

XIALIN_SHEQU = "350302002001"  # the place of the emergency: its township's civil affairs office acts


@pytest.fixture(scope="module")
def assistance(web_app) -> dict:
    """An emergency temporary-assistance case with open help-first and onward-referral tasks (no flow run), and
    a signed-in officer (with an API token) of the township civil affairs office that has them."""
    with session_scope() as session:
        reg = register_child(session, resident_id=make_resident_id(*WEB_ID_SPACE["world"]),
                             full_name=f"类型{uuid.uuid4().hex[:4]}", hukou_county="511321", residence_county="350302",
                             residence_area_code="350302001001", arrival_date=date(2023, 8, 20), actor="fixture")
        session.flush()
        case = open_case(session, child_id=reg.child.id, caseworker="fixture", summary="儿童独自在外")
        session.flush()
        run = create_pathway_run(session, case_id=case.id, pathway="temporary_assistance", actor="fixture",
                                 parameters={"emergency_area_code": XIALIN_SHEQU})
        run.status = PathwayStatus.cancelled  # no flow: the sweeper of a served stack leaves it alone
        session.flush()
        tasks = {step: open_step_task(session, pathway_run_id=run.id, step_key=step)
                 for step in ("emergency_help", "onward_referral", "small_amount_payment")}
        session.flush()
        unit = tasks["emergency_help"].unit_code
        officer = create_user(session, username=f"mz.typed.{uuid.uuid4().hex[:6]}", password=PASSWORD,
                              role=UserRole.agency_officer, actor="fixture", unit_code=unit)
        token = create_api_token(session, user=officer, name="tests").token
        ids = {step: task.id for step, task in tasks.items()}
        username, reference = officer.username, case.reference
    return {"tasks": ids, "client": sign_in(web_app, username), "token": token, "unit": unit,
            "reference": reference}


def _reset(task_id) -> None:
    with session_scope() as session:
        task = session.get(AgencyTask, task_id)
        task.state, task.outcome, task.answered_at, task.answered_by = TaskState.requested, {}, None, ""


def _stored(task_id) -> dict:
    with session_scope() as session:
        return dict(session.get(AgencyTask, task_id).outcome or {})


def test_the_amount_is_a_number_input_and_eight_hundred_in_words_is_refused_naming_the_field(assistance):
    client, task_id = assistance["client"], assistance["tasks"]["emergency_help"]
    page = client.get(f"/tasks/{task_id}")
    assert re.search(r'<input type="number" name="o_amount_yuan"[^>]*step="0.01"', page.text)
    refused = client.post(f"/tasks/{task_id}/complete", data={"o_help_given": "cash", "o_amount_yuan": "八百",
                                                              "csrf_token": client.csrf})
    assert refused.status_code == 400
    text = visible_text(refused.text)
    assert "救助金额（元）：「八百」请用阿拉伯数字填写金额（元）" in text, text
    assert re.search(r'name="o_amount_yuan" aria-invalid="true"', refused.text)
    assert 'value="八百"' in refused.text  # the value typed is kept
    assert 'value="cash" selected' in refused.text
    assert leaks(refused.text) == []
    assert _stored(task_id) == {}  # nothing stored, the small-amount step not silently skipped
    missing = client.post(f"/tasks/{task_id}/complete", data={"o_help_given": "several", "csrf_token": client.csrf})
    assert missing.status_code == 400
    assert "救助金额（元）：救助方式选择“多种方式”时必须填写" in visible_text(missing.text)


def test_a_numeric_amount_below_the_ceiling_takes_the_small_amount_step(assistance):
    client, task_id = assistance["client"], assistance["tasks"]["emergency_help"]
    done = client.post(f"/tasks/{task_id}/complete", data={"o_help_given": "cash", "o_amount_yuan": "800",
                                                           "csrf_token": client.csrf})
    assert done.status_code == 303, visible_text(done.text)
    stored = _stored(task_id)
    assert stored == {"help_given": "cash", "amount_yuan": "800"}
    assert small_amount_yuan(stored) == 800  # the flow's rule: 小额快救 is requested
    _reset(task_id)
    headers = {"Authorization": f"Bearer {assistance['token']}"}
    api = client.post(f"/api/tasks/{task_id}/complete", headers=headers,
                      json={"outcome": {"help_given": "several", "amount_yuan": 950.5}})
    assert api.status_code == 200, api.text
    assert _stored(task_id)["amount_yuan"] == "950.5" and small_amount_yuan(_stored(task_id)) is not None
    _reset(task_id)
    large = client.post(f"/api/tasks/{task_id}/complete", headers=headers,
                        json={"outcome": {"help_given": "cash", "amount_yuan": "1500"}})
    assert large.status_code == 200 and small_amount_yuan(_stored(task_id)) is None  # the ordinary paperwork
    _reset(task_id)


def test_the_api_refuses_an_amount_in_words_in_chinese_and_english_on_request(assistance):
    client, task_id = assistance["client"], assistance["tasks"]["emergency_help"]
    headers = {"Authorization": f"Bearer {assistance['token']}"}
    body = {"outcome": {"help_given": "cash", "amount_yuan": "八百"}}
    refused = client.post(f"/api/tasks/{task_id}/complete", headers=headers, json=body)
    assert refused.status_code == 422
    [problem] = refused.json()["detail"]
    assert problem["field"] == "救助金额（元）" and problem["loc"] == ["body", "outcome", "amount_yuan"]
    assert problem["message"].startswith("「八百」请用阿拉伯数字填写金额")
    assert problem["msg"] == f"救助金额（元）：{problem['message']}"
    english = client.post(f"/api/tasks/{task_id}/complete?lang=en", headers=headers, json=body).json()["detail"]
    client.get("/account?lang=zh")  # the choice is remembered: back to Chinese for the other tests
    assert english[0]["field"] == "Amount (yuan)" and "in digits" in english[0]["message"]
    assert _stored(task_id) == {}


def test_an_api_request_pydantic_refuses_is_explained_in_chinese(web_app, world, clients):
    headers = {"Authorization": f"Bearer {world.person('cw_a').token}"}
    response = clients["cw_a"].post("/api/children", headers=headers,
                                    json={"resident_id": "", "full_name": "张三", "hukou_county": "511321",
                                          "residence_county": "350302", "arrival_date": "2023-13-01",
                                          "guardians": [{"full_name": "李四", "relation": ""}]})
    assert response.status_code == 422
    problems = {p["field"]: p for p in response.json()["detail"]}
    assert problems["身份证号"]["message"] == "请填写", problems
    assert "到达日期" in "".join(problems) or any("日期" in f for f in problems), problems
    assert any(p["loc"][:3] == ["body", "guardians", 0] for p in problems.values())
    text = str(response.json())
    for english in ("Field required", "String should", "Input should", "value is not"):
        assert english not in text
    en = clients["cw_a"].post("/api/children?lang=en", headers=headers, json={"full_name": "张三"}).json()["detail"]
    clients["cw_a"].get("/account?lang=zh")
    assert all(re.fullmatch(r"[ -~“”「」]*", p["message"]) for p in en), en


def test_the_onward_referral_is_a_choice_of_items_or_none(assistance):
    client, task_id = assistance["client"], assistance["tasks"]["onward_referral"]
    page = client.get(f"/tasks/{task_id}")
    text = visible_text(page.text)
    assert "无需转介" in text and "第13项 最低生活保障服务" in text and "第14项 特困人员救助供养服务" in text
    assert "第15项 临时救助服务" not in text  # the pathway itself is not offered
    assert len(re.findall(r'type="checkbox" name="o_services"', page.text)) == 20  # 19 items and none
    assert leaks(page.text) == []
    both = client.post(f"/tasks/{task_id}/complete", data={"o_services": ["none", "13"],
                                                           "csrf_token": client.csrf})
    assert both.status_code == 400
    assert "转介服务（清单项目）：选择了“无需转介”就不能再选其他服务项目" in visible_text(both.text)
    assert re.search(r'value="13" checked', both.text)  # the choices made are kept
    done = client.post(f"/tasks/{task_id}/complete", data={"o_services": ["13", "16"],
                                                           "csrf_token": client.csrf})
    assert done.status_code == 303 and _stored(task_id) == {"services": "13,16"}
    _reset(task_id)
    none = client.post(f"/tasks/{task_id}/complete", data={"o_services": "none", "csrf_token": client.csrf})
    assert none.status_code == 303 and _stored(task_id) == {"services": "none"}
    _reset(task_id)
    headers = {"Authorization": f"Bearer {assistance['token']}"}
    api = client.post(f"/api/tasks/{task_id}/complete", headers=headers, json={"outcome": {"services": ["低保", 16]}})
    assert api.status_code == 200 and _stored(task_id) == {"services": "13,16"}
    answered = client.get(f"/tasks/{task_id}")
    assert "第13项 最低生活保障服务、第16项 监护支持干预服务" in visible_text(answered.text)
    _reset(task_id)


def test_the_service_item_is_chosen_by_name_from_the_list(clients, world, started_runs):
    client = clients["cw_a1"]
    reference = world.places["A1"].reference
    page = client.get(f"/cases/{reference}/pathways/new")
    section = page.text.split('id="pathway-service_referral"')[1].split("</section>")[0]
    options = re.findall(r'<option value="(\d+)"[^>]*>([^<]+)</option>', section)
    items = load_policy().service_items
    assert [(int(n), label) for n, label in options] == [(n, f"第{n}项 {i.service}") for n, i in items.items()]
    assert 'name="p_item"' in section and "<textarea name=\"p_item\"" not in section
    bad = client.post(f"/cases/{reference}/pathways", data={"pathway": "service_referral", "p_item": "25",
                                                           "csrf_token": client.csrf})
    assert bad.status_code == 400 and "清单服务项目：「25」请从关爱服务清单中选择服务项目" in visible_text(bad.text)
    started = client.post(f"/cases/{reference}/pathways", data={"pathway": "service_referral", "p_item": "13",
                                                               "p_eligibility_override": "低保待民政核实",
                                                               "csrf_token": client.csrf})
    assert started.status_code == 303, visible_text(started.text)
    with session_scope() as session:
        run = session.get(PathwayRun, started_runs[-1])
        assert run.pathway == "service_referral" and run.parameters["item"] == "13"
        run.status, run.ended_at = PathwayStatus.cancelled, utcnow()
    headers = {"Authorization": f"Bearer {world.person('cw_a1').token}"}
    by_name = client.post(f"/api/cases/{reference}/pathways", headers=headers,
                          json={"pathway": "service_referral", "parameters": {"item": "特困人员救助供养服务",
                                                                           "eligibility_override": "特困待民政核实"}})
    assert by_name.status_code == 201, by_name.text
    with session_scope() as session:
        run = session.get(PathwayRun, started_runs[-1])
        assert run.parameters["item"] == "14"
        run.status, run.ended_at = PathwayStatus.cancelled, utcnow()
