"""The misconduct notice on the web (方案 十一): a police officer records it on /notices/new in Chinese; civil affairs
reads the conduct on its task page and managers on theirs; the child's caseworkers see neither the case nor the
conduct."""
from __future__ import annotations

import re
import uuid
from datetime import date

import pytest
from sqlmodel import select

from careflow.registration import register_child
from careflow.step_tasks import open_step_task
from core.db import session_scope
from models.case import Case, PathwayRun
from models.task import AgencyTask
from models.user import UserRole
from tests.factories import make_resident_id
from tests.web.chinese import leaks
from tests.web.conftest import PASSWORD, sign_in
from web.users import create_user

CONDUCT = "多次在商场盗窃并殴打保安"
NOTICE_ID_SPACE = ("350823", date(2012, 6, 6))


@pytest.fixture(scope="module")
def people(web_app):
    suffix = uuid.uuid4().hex[:6]
    made = {}
    with session_scope() as session:
        for key, role, jurisdiction, unit in [
                ("police", UserRole.agency_officer, "", "police-350302"),
                ("civil", UserRole.agency_officer, "", "civil_affairs-350302"),
                ("school", UserRole.agency_officer, "", "education-350302"),
                ("committee", UserRole.agency_officer, "", "village_committee-350302001001"),
                ("caseworker", UserRole.caseworker, "350302", None),
                ("manager", UserRole.manager, "350302", None)]:
            user = create_user(session, username=f"notice.{key}.{suffix}", password=PASSWORD, role=role,
                               actor="fixture", jurisdiction_code=jurisdiction, unit_code=unit)
            made[key] = user.username
    return {key: sign_in(web_app, name) for key, name in made.items()}


def child_id_number() -> str:
    with session_scope() as session:
        return register_child(session, resident_id=make_resident_id(*NOTICE_ID_SPACE), full_name="通报网页测试",
                              hukou_county="511321", residence_county="350302",
                              residence_area_code="350302001001", arrival_date=date(2023, 8, 20),
                              actor="fixture").child.resident_id


def test_a_police_officer_records_a_notice_and_only_the_units_concerned_and_managers_read_it(people, started_runs):
    police = people["police"]
    assert 'href="/notices/new"' in police.get("/inbox").text  # the police's inbox leads to the form
    assert 'href="/notices/new"' not in people["civil"].get("/inbox").text
    form = police.get("/notices/new")
    assert form.status_code == 200 and "通报流动儿童涉罪或严重不良行为情况" in form.text
    assert leaks(form.text) == []
    assert people["committee"].get("/notices/new").status_code == 403

    refused = police.post("/notices", data={"csrf_token": police.csrf, "p_resident_id": child_id_number(),
                                            "p_conduct_kind": "offence", "p_conduct": CONDUCT,
                                            "p_conduct_on": "2099-01-01"})
    assert refused.status_code == 400 and "晚于今天" in refused.text and leaks(refused.text) == []

    response = police.post("/notices", data={"csrf_token": police.csrf, "p_resident_id": child_id_number(),
                                             "p_conduct_kind": "offence", "p_conduct": CONDUCT,
                                             "p_conduct_on": "2026-11-20", "p_school_area_code": "上杭县"})
    assert response.status_code == 303
    reference = re.search(r"case=(CF-[0-9A-F-]+)", response.headers["location"]).group(1)
    done = police.get(response.headers["location"])
    assert reference in done.text and "民政部门和教育部门已收到任务" in done.text
    with session_scope() as session:
        case = session.exec(select(Case).where(Case.reference == reference)).one()
        run = session.exec(select(PathwayRun).where(PathwayRun.case_id == case.id)).one()
        assert run.id in started_runs and run.parameters["conduct"] == CONDUCT
        task = open_step_task(session, pathway_run_id=run.id, step_key="civil_affairs_followup")
        task_id, child_id = task.id, case.child_id

    page = people["civil"].get(f"/tasks/{task_id}")
    assert page.status_code == 200 and CONDUCT in page.text and "涉嫌违法犯罪" in page.text
    assert "龙岩市上杭县" in page.text and ">350823<" not in page.text  # the school's place by name
    assert leaks(page.text) == []
    assert people["school"].get(f"/tasks/{task_id}").status_code == 404  # its own task, not civil affairs'
    assert CONDUCT in people["manager"].get(f"/tasks/{task_id}").text
    assert people["manager"].get(f"/cases/{reference}").status_code == 200

    caseworker = people["caseworker"]
    assert caseworker.get(f"/cases/{reference}").status_code == 404
    assert reference not in caseworker.get("/cases?status=all").text
    child_page = caseworker.get(f"/children/{child_id}")
    assert child_page.status_code == 200 and reference not in child_page.text and CONDUCT not in child_page.text
    with session_scope() as session:
        assert session.get(AgencyTask, task_id).unit_code == "civil_affairs-350302"


def test_the_county_manager_closes_a_notice_case_that_no_caseworker_holds(people):
    """A notice's case is held by the notifying officer, who has no case page, and hidden from caseworkers: once its
    pathway has ended, the county manager closes it on the case page (no review: the manager is the reviewer); a
    manager still cannot close an ordinary case, which is the caseworker's decision."""
    from careflow.misconduct import start_notice
    from models.case import CaseStatus, PathwayStatus

    with session_scope() as session:
        started = start_notice(session, actor="notice.police", unit_code="police-350302",
                               resident_id=child_id_number(), conduct_kind="serious_misconduct", conduct=CONDUCT,
                               conduct_on="2026-11-20")
        reference, run_id = started.case.reference, started.run.id
    manager = people["manager"]
    running = manager.get(f"/cases/{reference}")
    assert 'id="close-case"' not in running.text and 'id="closing-running"' in running.text
    with session_scope() as session:
        run = session.get(PathwayRun, run_id)
        run.status = PathwayStatus.completed
        session.add(run)
    page = manager.get(f"/cases/{reference}")
    assert 'id="close-case"' in page.text and "申请结案" not in page.text
    refused = manager.post(f"/cases/{reference}/close", data={"csrf_token": manager.csrf, "reason": ""})
    assert refused.status_code == 400 and "结案理由" in refused.text
    done = manager.post(f"/cases/{reference}/close", data={"csrf_token": manager.csrf, "reason": "学校和民政已跟进"},
                        follow_redirects=True)
    assert done.status_code == 200 and 'id="closing-closed"' in done.text and "学校和民政已跟进" in done.text
    with session_scope() as session:
        assert session.exec(select(Case).where(Case.reference == reference)).one().status == CaseStatus.closed
    assert people["caseworker"].post(f"/cases/{reference}/close", data={
        "csrf_token": people["caseworker"].csrf, "reason": "x"}).status_code == 404  # never sees it

    with session_scope() as session:  # an ordinary case of the same county: the caseworker's decision
        from careflow.cases import open_case
        ordinary = open_case(session, child_id=session.exec(select(Case.child_id).where(
            Case.reference == reference)).one(), caseworker="someone").reference
    assert manager.post(f"/cases/{ordinary}/close", data={"csrf_token": manager.csrf, "reason": "x"}).status_code == 403
