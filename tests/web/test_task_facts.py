"""Issue 12, items 1 and 7: the unit a task is routed to sees what it needs to act — the child's name, sex, age,
address, guardians and their phones, what was reported, earlier answers that matter and the caseworker's name and
phone — on the task page, in the API and on a printable notice, in Chinese with labels and unit names; other units
see nothing; each view is audited; push messages still carry no name, only a link to the task page; the Prefect UI
is linked for admins only.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

import pytest
from sqlmodel import select

from careflow.cases import create_pathway_run, open_case

from careflow.registration import register_child
from core.db import session_scope
from core.settings import Settings, get_settings
from careflow.step_tasks import open_step_task
from models.audit import AuditEvent
from models.case import PathwayStatus
from models.task import AgencyTask, TaskState
from models.user import UserRole
from tests.factories import make_resident_id
from tests.web.chinese import chinese_by_english, leaks, visible_text
from tests.web.conftest import PASSWORD, World, sign_in
from web.users import create_user

FACTS_ID_SPACE = ("350823", date(2012, 2, 29))
COMMITTEE = "village_committee-350302001001"
COMMITTEE_NAME = "城厢区龙桥街道凤山社区居民委员会"


@dataclass
class FactsCase:
    child_name: str
    resident_id: str
    reference: str
    caseworker: str
    committee_task: uuid.UUID
    police_task: uuid.UUID


@pytest.fixture(scope="session")
def facts_case(database_url, world: World) -> FactsCase:
    """A child in 凤山社区 (龙桥街道, 城厢区) with two guardians, a case held by a caseworker with a phone, a
    guardianship pathway whose committee step is answered and whose police step is open."""
    suffix = uuid.uuid4().hex[:6]
    with session_scope() as session:
        caseworker = create_user(session, username=f"cw.facts.{suffix}", password=PASSWORD, role=UserRole.caseworker,
                                 actor="fixture", jurisdiction_code="350302001", display_name="林芳",
                                 phone="0594-2288101")
        name = f"林小明{suffix}"
        rid = make_resident_id(*FACTS_ID_SPACE)
        reg = register_child(session, resident_id=rid, full_name=name, sex="男", hukou_county="511321",
                             residence_county="350302", residence_area_code="350302001001",
                             residence_address="凤山街12号3单元401", arrival_date=date(2023, 8, 20), actor="fixture",
                             guardians=[{"full_name": "林大海", "relation": "父亲", "phone": "13800000001"},
                                        {"full_name": "陈秀英", "relation": "母亲", "phone": "13800000002"}])
        session.flush()
        case = open_case(session, child_id=reg.child.id, caseworker=caseworker.username,
                         summary="邻居报告：孩子常被独自锁在家中，身上有伤痕")
        session.flush()
        run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor=caseworker.username,
                                 parameters={"reported_by": "邻居", "mandatory_report": False})
        run.status = PathwayStatus.cancelled  # no flow: the sweeper of a served stack leaves it alone
        run.flow_run_id = uuid.uuid4()
        session.flush()
        committee = open_step_task(session, pathway_run_id=run.id, step_key="committee_admonition")
        session.flush()
        committee.state, committee.answered_by = TaskState.completed, "fixture"
        committee.outcome = {"serious": True, "child_in_danger": False, "note": "已上门核实"}
        from models.base import utcnow

        committee.answered_at = utcnow()
        police = open_step_task(session, pathway_run_id=run.id, step_key="police_reprimand")
        session.flush()
        assert committee.unit_code == COMMITTEE and police.unit_code == "police-350302"
        return FactsCase(name, rid, case.reference, caseworker.username, committee.id, police.id)


def _facts_audits(task_id: uuid.UUID) -> list[AuditEvent]:
    with session_scope() as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == "task.child_facts_viewed",
                                                          AuditEvent.entity_id == str(task_id))
                                    .order_by(AuditEvent.id)).all())


def test_the_routed_unit_sees_the_child_the_address_the_guardians_and_whom_to_call(web_app, world, clients,
                                                                                    facts_case):
    officer = world.person("off_vc_a1")
    before = len(_facts_audits(facts_case.committee_task))
    page = clients["off_vc_a1"].get(f"/tasks/{facts_case.committee_task}")
    assert page.status_code == 200
    text = page.text
    for shown in (facts_case.child_name, "男", "凤山街12号3单元401", "莆田市城厢区", "林大海（父亲）", "13800000001",
                  "陈秀英（母亲）", "邻居报告：孩子常被独自锁在家中", "报告人", "邻居", "林芳", "0594-2288101",
                  COMMITTEE_NAME, "打印转介通知单"):
        assert shown in text, shown
    assert "岁（2012-02-29出生）" in text
    assert facts_case.resident_id not in text  # the ID number never
    assert 'href="tel:0594-2288101"' in text
    audits = _facts_audits(facts_case.committee_task)
    assert len(audits) == before + 1
    assert audits[-1].actor == officer.username and audits[-1].detail["purpose"] == "page"
    assert facts_case.child_name not in str(audits[-1].detail)  # the audit says what was shown, not the values


def test_the_next_unit_sees_the_earlier_answer_in_chinese(web_app, world, clients, facts_case):
    text = clients["off_police_a"].get(f"/tasks/{facts_case.police_task}").text
    assert "前序环节办理结果" in text and COMMITTEE_NAME in text
    assert "情节严重：是" in text and "儿童处于危险之中：否" in text and "已上门核实" in text
    assert "True" not in text and "False" not in text


def test_an_answer_is_signed_with_the_persons_name_not_the_login(web_app, world, clients, facts_case):
    with session_scope() as session:
        task = session.get(AgencyTask, facts_case.police_task)
        officer = world.person("off_police_a")
        from web.users import update_user
        from models.user import WebUser

        update_user(session, session.get(WebUser, officer.id), actor="fixture", display_name="陈强")
        task.state, task.answered_by, task.outcome = TaskState.rejected, officer.username, {}
        task.rejection_reason = "请转龙桥派出所办理"
    text = clients["off_police_a"].get(f"/tasks/{facts_case.police_task}").text
    assert "· 陈强" in text and f"· {officer.username}" not in text


def test_another_unit_gets_404_and_nothing_is_audited(web_app, world, clients, facts_case):
    before = len(_facts_audits(facts_case.committee_task))
    for key in ("off_police_b", "off_police_a"):  # another county's police; the same county's police, not routed
        for path in (f"/tasks/{facts_case.committee_task}", f"/tasks/{facts_case.committee_task}/letter"):
            response = clients[key].get(path)
            assert response.status_code == 404, (key, path)
            assert facts_case.child_name not in response.text
        api = clients[key].get(f"/api/tasks/{facts_case.committee_task}",
                               headers={"Authorization": f"Bearer {world.person(key).token}"})
        assert api.status_code == 404 and facts_case.child_name not in api.text
    outside = clients["cw_b"].get(f"/tasks/{facts_case.committee_task}")  # a caseworker of another county's cases
    assert outside.status_code == 404 and facts_case.child_name not in outside.text
    assert len(_facts_audits(facts_case.committee_task)) == before


def test_the_api_detail_carries_the_labelled_facts_and_lists_do_not(web_app, world, clients, facts_case):
    person = world.person("off_vc_a1")
    headers = {"Authorization": f"Bearer {person.token}"}
    detail = clients["off_vc_a1"].get(f"/api/tasks/{facts_case.committee_task}", headers=headers).json()
    items = {row["key"]: row for row in detail["facts"]["items"]}
    assert items["child_name"] == {"key": "child_name", "label": "儿童姓名", "value": facts_case.child_name}
    assert items["address"]["value"] == "莆田市城厢区龙桥街道凤山社区凤山街12号3单元401"
    assert items["mandatory_report"]["value"] == "否"
    assert detail["facts"]["caseworker"] == {"name": "林芳", "phone": "0594-2288101"}
    assert sorted(g["phone"] for g in detail["facts"]["guardians"]) == ["13800000001", "13800000002"]
    assert detail["unit_name"] == COMMITTEE_NAME
    listed = clients["off_vc_a1"].get("/api/tasks", params={"q": facts_case.reference, "state": "all"},
                                      headers=headers).json()["items"]
    assert listed and all(row["facts"] is None for row in listed)
    assert facts_case.child_name not in clients["off_vc_a1"].get("/inbox", params={"q": facts_case.reference}).text


def test_the_printable_notice_is_a4_in_chinese_with_the_facts(web_app, world, clients, facts_case):
    before = len(_facts_audits(facts_case.committee_task))
    letter = clients["off_vc_a1"].get(f"/tasks/{facts_case.committee_task}/letter")
    assert letter.status_code == 200
    text = letter.text
    assert "/static/letter.css" in text
    css = clients["off_vc_a1"].get("/static/letter.css").text
    assert "size: A4" in css and "@media print" in css  # an external stylesheet: the CSP forbids inline styles
    for shown in ("流动儿童关爱保护转介通知单", facts_case.reference, COMMITTEE_NAME, "劝诫、制止", facts_case.child_name,
                  "凤山街12号3单元401", "13800000001", "林芳 0594-2288101", "签收人", "情节严重"):
        assert shown in text, shown
    assert facts_case.resident_id not in text and COMMITTEE not in text
    assert "工作任务通知单" not in text  # a case's task is a referral: only a dated duty's letter is a duty notice
    audits = _facts_audits(facts_case.committee_task)
    assert len(audits) == before + 1 and audits[-1].detail["purpose"] == "letter"


def test_the_notice_is_also_an_a4_pdf_with_the_same_facts(web_app, world, clients, facts_case):
    import io

    from pypdf import PdfReader

    before = len(_facts_audits(facts_case.committee_task))
    response = clients["off_vc_a1"].get(f"/tasks/{facts_case.committee_task}/letter.pdf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    pdf = PdfReader(io.BytesIO(response.content))
    width, height = (float(v) for v in pdf.pages[0].mediabox.upper_right)
    assert (round(width / 72 * 25.4), round(height / 72 * 25.4)) == (210, 297)  # A4, in mm
    text = "".join(page.extract_text() for page in pdf.pages).replace(" ", "").replace("\n", "")
    for shown in ("流动儿童关爱保护转介通知单", facts_case.reference, COMMITTEE_NAME, facts_case.child_name,
                  "凤山街12号3单元401", "13800000001", "林芳0594-2288101", "签收人", "情节严重"):
        assert shown in text, shown
    assert facts_case.resident_id not in text and leaks(text) == [] and "工作任务通知单" not in text
    assert len(_facts_audits(facts_case.committee_task)) == before + 1
    assert clients["off_police_a"].get(f"/tasks/{facts_case.committee_task}/letter.pdf").status_code == 404


def test_the_push_message_has_no_name_but_links_the_task_page(web_app, facts_case):
    from notifications.messages import enqueue_task_message

    with session_scope() as session:
        task = session.get(AgencyTask, facts_case.committee_task)
        message = enqueue_task_message(session, task=task, event="task_requested", occasion="facts-test")
        subject, body = message.subject, message.body
    link = f"{get_settings().resolved_public_url}/tasks/{facts_case.committee_task}"
    assert f"在网页上查看、办理：{link}" in body
    assert facts_case.child_name not in body + subject and "林大海" not in body and "13800000001" not in body
    assert "/runs/flow-run/" not in body


def test_message_links_default_to_the_web_app_and_the_prefect_ui_is_separate(monkeypatch):
    monkeypatch.delenv("CAREFLOW_PUBLIC_URL", raising=False)
    monkeypatch.delenv("CAREFLOW_WEB_PORT", raising=False)
    settings = Settings()
    assert settings.resolved_public_url == "http://127.0.0.1:8000"
    assert settings.task_url("abc") == "http://127.0.0.1:8000/tasks/abc"
    monkeypatch.setenv("CAREFLOW_PUBLIC_URL", "https://careflow.example.gov.cn/")
    assert Settings().task_url("abc") == "https://careflow.example.gov.cn/tasks/abc"
    assert Settings(prefect_port=4200).resolved_prefect_ui_url == "http://127.0.0.1:4200"


def test_caseworkers_and_managers_see_no_link_to_the_prefect_ui(web_app, world, clients, facts_case):
    for key in ("cw_a1", "mgr_a"):
        page = clients[key].get(f"/cases/{facts_case.reference}")
        assert page.status_code == 200, key
        assert "/runs/flow-run/" not in page.text and ">流程运行</a>" not in page.text, key
    dashboard = clients["mgr_a"].get("/dashboard").text
    assert "/runs/flow-run/" not in dashboard and "<th>流程运行</th>" not in dashboard


def test_an_admin_records_a_caseworkers_phone(web_app, world, clients):
    admin = clients["admin"]
    username = f"cw.phone.{uuid.uuid4().hex[:6]}"
    response = admin.post("/admin/users", data={
        "csrf_token": admin.csrf, "username": username, "display_name": "周敏", "phone": "0597-3822102",
        "role": "caseworker", "jurisdiction_code": "350823", "unit_code": "", "password": PASSWORD})
    assert response.status_code == 303, response.text
    from tests.web.conftest import user_row

    assert user_row(username).phone == "0597-3822102"
    sign_in(web_app, username)


def test_in_english_on_request_the_facts_keep_their_labels(web_app, world, facts_case):
    """… and the page, the notice and its PDF use English punctuation: a guardian's relation in ( ), no wide space."""
    import io

    from pypdf import PdfReader

    client = sign_in(web_app, world.person("off_police_a").username)  # its own session: the language is remembered
    text = client.get(f"/tasks/{facts_case.police_task}?lang=en").text
    for shown in ("Address of residence", "Guardians and their phones", "Caseworker to call", "Answers of earlier steps",
                  "Serious: yes", facts_case.child_name):
        assert shown in text, shown
    assert "林大海 (父亲)" in visible_text(text) and chinese_by_english(text) == []  # no （…） or ； beside English
    letter = client.get(f"/tasks/{facts_case.police_task}/letter")
    assert letter.status_code == 200 and chinese_by_english(letter.text) == []
    assert "林大海 (父亲)" in visible_text(letter.text) and f"{facts_case.reference} · " in visible_text(letter.text)
    assert "Referral notice: care and protection of a migrant child" in visible_text(letter.text)
    pdf = PdfReader(io.BytesIO(client.get(f"/tasks/{facts_case.police_task}/letter.pdf").content))
    pdf_text = "".join(page.extract_text() for page in pdf.pages)
    assert chinese_by_english(pdf_text) == [] and "　" not in pdf_text and "(父亲)" in pdf_text.replace(" ", "")


def test_the_address_names_the_township_and_village_once():
    """A new user's trial read 「莆田市城厢区凤山社区东园路…」: the township was missing. The address is the county, the
    township and village by name, then what was typed, never repeating a name the typed address begins with."""
    from careflow.facts import full_address
    from models.child import Child

    def child(address: str, area: str = "350302001001") -> Child:
        return Child(resident_id="x", full_name="x", birth_date=date(2015, 1, 1), hukou_county_code="511321",
                     residence_county_code="350302", residence_area_code=area, residence_address=address,
                     arrival_date=date(2023, 1, 1), created_by="t")

    assert full_address(child("东园路5号")) == "莆田市城厢区龙桥街道凤山社区东园路5号"
    assert full_address(child("凤山社区东园路5号")) == "莆田市城厢区龙桥街道凤山社区东园路5号"
    assert full_address(child("龙桥街道凤山社区东园路5号")) == "莆田市城厢区龙桥街道凤山社区东园路5号"
    assert full_address(child("东园路5号", area="350302001")) == "莆田市城厢区龙桥街道东园路5号"
    assert full_address(child("东园路5号", area="")) == "莆田市城厢区东园路5号"
    # typed with the county (a fresh user read 「…凤山社区莆田市城厢区龙桥街道凤山社区」 on the task page)
    for typed in ("莆田市城厢区龙桥街道凤山社区", "福建省莆田市城厢区龙桥街道凤山社区", "城厢区龙桥街道凤山社区"):
        assert full_address(child(typed)) == "莆田市城厢区龙桥街道凤山社区"
    assert full_address(child("莆田市城厢区东园路5号", area="")) == "莆田市城厢区东园路5号"
