"""The caseworker records target-group facts on the child's page (labels, source and date, in the page's language);
the start form shows each item's check before submitting; a refused or unconfirmed referral says why in Chinese (form
and API); the override reason reaches the department's task page."""
from __future__ import annotations

import re
import uuid
from datetime import date

import pytest
from sqlmodel import select

from careflow.cases import open_case

from careflow.registration import register_child
from careflow.child_facts import today
from core.db import session_scope
from careflow.step_tasks import open_step_task
from models.audit import AuditEvent
from models.case import PathwayRun
from models.eligibility import add_months
from models.user import UserRole
from tests.factories import make_resident_id
from tests.web.chinese import chinese_by_english, visible_text
from tests.web.conftest import PASSWORD, World, sign_in
from web.users import create_user

ID_SPACE = ("511321", date(2014, 7, 9))


@pytest.fixture(scope="module")
def elig_case(database_url, world: World) -> tuple[uuid.UUID, str]:
    """An eleven-year-old migrant child in 凤山社区 (A1) with a case: (child id, case reference)."""
    with session_scope() as session:
        reg = register_child(session, resident_id=make_resident_id(ID_SPACE[0], add_months(today(), -11 * 12 - 1)),
                             full_name="资格" + uuid.uuid4().hex[:4], hukou_county="511321", residence_county="350302",
                             residence_area_code="350302001001", arrival_date=date(2023, 8, 20), actor="fixture")
        session.flush()
        case = open_case(session, child_id=reg.child.id, caseworker=world.person("cw_a1").username)
        return reg.child.id, case.reference


def test_facts_are_recorded_on_the_child_page_and_the_start_form_shows_each_items_check(clients, elig_case, world):
    child_id, reference = elig_case
    cw = clients["cw_a1"]
    page = cw.get(f"/children/{child_id}")
    assert page.status_code == 200 and "服务对象条件记录" in page.text and "未记录" in page.text
    form = cw.get(f"/cases/{reference}/pathways/new")
    assert re.search(r'data-item="11" data-status="unknown"', form.text)
    assert re.search(r'data-item="1" data-status="not_met"', form.text)
    assert "残疾儿童：待核实。儿童档案未记录“残疾儿童”" in form.text

    refused = cw.post(f"/cases/{reference}/pathways", data={"csrf_token": cw.csrf, "pathway": "service_referral",
                                                           "p_item": "11"})
    assert refused.status_code == 400
    assert "资格未确认时继续转介的理由" in refused.text and "残疾儿童：待核实" in refused.text
    assert 'name="p_eligibility_override" aria-invalid="true"' in refused.text  # the reason's input is marked

    bad = cw.post(f"/children/{child_id}/facts", data={"csrf_token": cw.csrf, "fact": "disability",
                                                      "value": "compulsory", "source": "caseworker"})
    assert bad.status_code == 400 and "不是可选值" in bad.text
    done = cw.post(f"/children/{child_id}/facts", data={
        "csrf_token": cw.csrf, "fact": "disability", "value": "yes", "source": "department",
        "source_detail": "城厢区残联 残疾人证", "established_on": today().isoformat()})
    assert done.status_code == 303
    page = cw.get(f"/children/{child_id}")
    row = re.search(r'<tr data-fact="disability">(.*?)</tr>', page.text, re.S).group(1)
    assert "是" in row and "部门答复：城厢区残联 残疾人证" in row and today().isoformat() in row
    form = cw.get(f"/cases/{reference}/pathways/new")
    assert re.search(r'data-item="11" data-status="met"', form.text)
    started = cw.post(f"/cases/{reference}/pathways", data={"csrf_token": cw.csrf, "pathway": "service_referral",
                                                           "p_item": "11"})
    assert started.status_code == 303, started.text

    for source in ("survey", "caseworker"):  # two later records: the department's and the survey's are history
        assert cw.post(f"/children/{child_id}/facts", data={"csrf_token": cw.csrf, "fact": "disability", "value": "yes",
                                                            "source": source, "source_detail": "入户核实"}
                       ).status_code == 303
    row = re.search(r'<tr data-fact="disability">(.*?)</tr>', cw.get(f"/children/{child_id}").text, re.S).group(1)
    assert "是（监测摸排，" in visible_text(row) and "；" in visible_text(row)
    try:  # the facts card in English: labels, values, sources and history (issue: it was Chinese only)
        page = cw.get(f"/children/{child_id}?lang=en").text
    finally:
        cw.get("/account?lang=zh")
    row = visible_text(re.search(r'<tr data-fact="disability">(.*?)</tr>', page, re.S).group(1))
    assert "Disabled child" in row and "verified by a caseworker: 入户核实" in row, row
    assert f"yes (monitoring survey, {world.person('cw_a1').username}); " in row, row
    facts = page[page.index('id="facts"'):page.index("</section>", page.index('id="facts"'))]
    assert chinese_by_english(facts) == [] and not re.search(r"[\u4e00-\u9fff]", visible_text(facts).replace(
        "入户核实", "")), visible_text(facts)  # the form's choices too


def test_api_refuses_a_referral_outside_the_target_group_and_carries_the_override(clients, elig_case, world,
                                                                                 web_app):
    child_id, reference = elig_case
    headers = {"Authorization": f"Bearer {world.person('cw_a1').token}"}
    api = clients["cw_a1"]
    checks = api.get(f"/api/cases/{reference}/eligibility", params={"item": 2}, headers=headers).json()
    assert [(c["item"], c["status"], c["status_label"]) for c in checks] == [(2, "not_met", "不符合")]
    refused = api.post(f"/api/cases/{reference}/pathways", json={"pathway": "service_referral",
                                                                 "parameters": {"item": "2"}}, headers=headers)
    assert refused.status_code == 422 and "清单第2项学前教育服务" in _messages(refused)
    try:  # English on request: the item and the rule not met (it was Chinese only)
        refused_en = api.post(f"/api/cases/{reference}/pathways?lang=en", headers=headers,
                              json={"pathway": "service_referral", "parameters": {"item": "2"}})
        page_en = api.post(f"/cases/{reference}/pathways?lang=en", data={
            "csrf_token": api.csrf, "pathway": "service_referral", "p_item": "2"})
    finally:
        api.get("/account?lang=zh")
    assert refused_en.status_code == 422
    assert "service list item 2, " in _messages(refused_en) and "cannot be referred" in _messages(refused_en)
    assert not re.search(r"[\u4e00-\u9fff]", _messages(refused_en)), _messages(refused_en)
    assert page_en.status_code == 400 and "cannot be referred" in page_en.text and "不能转介" not in page_en.text
    started = api.post(f"/api/cases/{reference}/pathways", headers=headers, json={
        "pathway": "service_referral", "parameters": {"item": "9", "eligibility_override": "租住棚屋，住房情况待住建核实"}})
    assert started.status_code == 201, started.text
    run_id = uuid.UUID(started.json()["run"]["id"])
    with session_scope() as session:
        run = session.get(PathwayRun, run_id)
        task = open_step_task(session, pathway_run_id=run.id, step_key="service_referral", agency_type="housing")
        officer = create_user(session, username=f"off.housing.{run_id.hex[:6]}", password=PASSWORD,
                              role=UserRole.agency_officer, actor="fixture", unit_code=task.unit_code)
        task_id = task.id
    page = sign_in(web_app, officer.username).get(f"/tasks/{task_id}")
    assert page.status_code == 200
    assert "资格未确认时继续转介的理由" in page.text and "租住棚屋，住房情况待住建核实" in page.text
    assert "未能确认的服务对象条件" in page.text and "家庭住房困难" in page.text
    facts = api.get(f"/api/children/{child_id}/facts", headers=headers).json()
    assert {f["key"] for f in facts} >= {"disability", "minimum_living_allowance", "school_enrolment"}
    assert api.get(f"/cases/{reference}/pathways/new").status_code == 200  # the start form reads them too
    with session_scope() as session:  # every read of the child's facts is audited (DOMAIN.md §8)
        reads = session.exec(select(AuditEvent).where(AuditEvent.action == "child.facts_read",
                                                      AuditEvent.entity_id == str(child_id))).all()
    assert {"api.facts", "api.eligibility", "page.start_form"} <= {e.detail["what"] for e in reads}
    bad = api.post(f"/api/children/{child_id}/facts", headers=headers,
                   json={"fact": "dragon", "value": "yes", "source": "caseworker"})
    assert bad.status_code == 422 and "未知的条件" in _messages(bad)
    assert bad.json()["detail"][0]["msg"] == "条件：未知的条件 'dragon'"
    try:  # English on request (the client's remembered language cookie would outweigh Accept-Language)
        bad = api.post(f"/api/children/{child_id}/facts?lang=en", headers=headers,
                       json={"fact": "dragon", "value": "yes", "source": "caseworker"})
    finally:
        api.get("/account?lang=zh")
    assert bad.status_code == 422 and bad.json()["detail"][0]["msg"] == "Fact: unknown fact 'dragon'"


def _messages(response) -> str:
    """The Chinese messages of a 422: the API answers a list of {field, message} (or, for a plain refusal, text)."""
    detail = response.json()["detail"]
    return detail if isinstance(detail, str) else " ".join(d.get("message", "") for d in detail)


def test_the_needs_view_shows_each_items_referrals_and_what_was_never_offered(clients, world):
    """Issue 13 item 2: for a child, the items referred with their state, and those the child qualifies for but
    was never offered."""
    from careflow.cases import create_pathway_run
    from models.case import PathwayStatus
    from tests.web.chinese import leaks

    with session_scope() as session:
        reg = register_child(session, resident_id=make_resident_id(ID_SPACE[0], add_months(today(), -9 * 12)),
                             full_name="需求" + uuid.uuid4().hex[:4], hukou_county="511321", residence_county="350302",
                             residence_area_code="350302001001", arrival_date=date(2023, 8, 20), actor="fixture")
        session.flush()
        case = open_case(session, child_id=reg.child.id, caseworker=world.person("cw_a1").username)
        session.flush()
        run = create_pathway_run(session, case_id=case.id, pathway="service_referral", actor="fixture",
                                 parameters={"item": 17})
        run.status = PathwayStatus.completed  # no flow: a served stack's sweeper leaves it alone
        reference = case.reference
    page = clients["cw_a1"].get(f"/cases/{reference}/eligibility")
    assert page.status_code == 200 and leaks(page.text) == []
    rows = dict(re.findall(r'<tr class="elig-\w+" data-item="(\d+)".*?<td[^>]*class="referrals">(.*?)</td>',
                           page.text, re.S))
    assert reference in rows["17"] and "已完成" in rows["17"]
    assert "未转介" in rows["6"] and "未转介" in rows["1"]
    unoffered = re.search(r'id="unoffered">(.*?)</p>', page.text).group(1)
    numbers = re.search(r"清单第 ([\d、]+) 项", unoffered).group(1).split("、")
    assert "6" in numbers and "17" not in numbers and "1" not in numbers  # met, referred, not met (age 0-6)
    english = clients["cw_a1"].get(f"/cases/{reference}/eligibility?lang=en").text
    clients["cw_a1"].get("/account?lang=zh")
    said = re.search(r'id="unoffered">(.*?)</p>', english).group(1)
    assert re.search(r"items \d+(, \d+)+ of", said) and chinese_by_english(english) == [], said
    api = clients["cw_a1"].get(f"/api/cases/{reference}/eligibility",
                               headers={"Authorization": f"Bearer {world.person('cw_a1').token}"})
    assert api.status_code == 200
    by_item = {c["item"]: c for c in api.json()}
    assert by_item[17]["referrals"][0]["case_reference"] == reference and by_item[6]["unoffered"] is True

    one = clients["cw_a1"].get(f"/cases/{reference}/eligibility", params={"item": 6}).text
    assert one.count("服务对象条件核对") == 1  # the page's title, not again above its table
    start = re.search(r'href="(/cases/[^"]+/pathways/new[^"]*)"', one).group(1)
    assert start == f"/cases/{reference}/pathways/new?item=6#pathway-service_referral"
    form = clients["cw_a1"].get(start.split("#")[0]).text
    referral = form[form.index('id="pathway-service_referral"'):]
    assert re.search(r'<option value="6"\s+selected>', referral)  # the item the caseworker came for is chosen


def test_the_start_form_takes_the_reporter_from_the_report_just_recorded(clients, world):
    """What the report said (报告人, 强制报告) is filled in on the guardianship form, not asked again (a new user's
    trial of the README found it asked twice)."""
    with session_scope() as session:
        reg = register_child(session, resident_id=make_resident_id(ID_SPACE[0], add_months(today(), -10 * 12)),
                             full_name="报告" + uuid.uuid4().hex[:4], hukou_county="511321", residence_county="350302",
                             residence_area_code="350302001001", arrival_date=date(2023, 8, 20), actor="fixture")
        child_id = reg.child.id
    cw = clients["cw_a1"]
    response = cw.post(f"/children/{child_id}/reports", data={
        "csrf_token": cw.csrf, "summary": "学校反映孩子多日未到校", "reported_by": "班主任", "mandatory_report": "yes"})
    assert response.status_code == 303
    assert "班主任" not in response.headers["location"]  # the reporter's name stays out of URLs (logs, history)
    form = cw.get(response.headers["location"]).text
    guardianship = form[form.index('id="pathway-guardianship"'):form.index('id="pathway-psychological_screening"')]
    assert re.search(r'<textarea name="p_reported_by"[^>]*>班主任</textarea>', guardianship)
    assert re.search(r'name="p_mandatory_report"[^>]*value="yes"\s+checked', guardianship)


def test_the_facts_card_words_come_from_the_catalogues_in_both_languages():
    """The card reads ``child_fact.…`` keys; their Chinese is the rules' own words (models.child_facts)."""
    from core.i18n import gettext, has_message
    from models.child_facts import FACT_SOURCES, FACTS

    expected = {f"child_fact.{k}": f.label_zh for k, f in FACTS.items()}
    expected |= {f"child_fact.value.{v}": said for f in FACTS.values() for v, said in f.options.items()}
    expected |= {f"child_fact.source.{k}": said for k, said in FACT_SOURCES.items()}
    assert {key: gettext(key, "zh") for key in expected} == expected
    assert [key for key in expected if not has_message(key, "en")] == []
