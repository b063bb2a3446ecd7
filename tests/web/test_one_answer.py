"""Exactly one answer per task and one open pathway per case, as the web pages and the JSON API show it (#16):
a different second answer is a 409 with who and when in Chinese, an identical one a replay (200 / redirect), a
second start of an open pathway a 409 naming the open run; texts with the child's name are refused."""
from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import select

from careflow.cases import create_pathway_run, open_case
from core.db import session_scope
from careflow.step_tasks import open_step_task
from models.audit import AuditEvent
from models.case import PathwayRun, PathwayStatus
from models.task import AgencyTask, TaskState

NOT_SERIOUS = {"serious": "no", "child_in_danger": "no"}


def _committee_task(session, register) -> tuple[AgencyTask, str, str]:
    """A fresh committee task at 凤山社区 (village_committee-350302001001): (task, case reference, child name)."""
    child = register().child
    case = open_case(session, child_id=child.id, caseworker="fixture")
    run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="fixture")
    session.flush()
    task = open_step_task(session, pathway_run_id=run.id, step_key="committee_admonition")
    run.status = PathwayStatus.cancelled  # no flow: a served stack's sweeper leaves it alone
    session.commit()
    return task, case.reference, child.full_name


def _completed_audits(task_id) -> int:
    with session_scope() as s:
        return len(s.exec(select(AuditEvent).where(AuditEvent.entity_id == str(task_id),
                                                   AuditEvent.action == "task.completed")).all())


def test_api_second_different_answer_is_409_with_who_and_when_identical_is_a_replay(
        web_app, world, session, register):
    task, _, _ = _committee_task(session, register)
    headers = {"Authorization": f"Bearer {world.person('off_vc_a1').token}"}
    api = TestClient(web_app)
    url = f"/api/tasks/{task.id}/complete"
    first = api.post(url, headers=headers, json={"outcome": NOT_SERIOUS})
    assert first.status_code == 200, first.text
    again = api.post(url, headers=headers, json={"outcome": NOT_SERIOUS})
    assert again.status_code == 200, again.text  # a retried request: the same answer, stored once
    assert _completed_audits(task.id) == 1
    different = api.post(url, headers=headers, json={"outcome": {"serious": "yes", "child_in_danger": "yes"}})
    assert different.status_code == 409, different.text
    detail = different.json()["detail"]
    assert detail.startswith(f"该任务已由 {world.person('off_vc_a1').username} 于 ") and "（北京时间）办结" in detail
    rejected = api.post(f"/api/tasks/{task.id}/reject", headers=headers, json={"reason": "不属本社区"})
    assert rejected.status_code == 409 and "办结" in rejected.json()["detail"]
    with session_scope() as s:
        stored = s.get(AgencyTask, task.id)
    assert (stored.state, stored.outcome) == (TaskState.completed, {"serious": False, "child_in_danger": False})
    assert _completed_audits(task.id) == 1


def test_page_second_answer_shows_the_stored_one_in_chinese(web_app, world, clients, session, register):
    task, _, child_name = _committee_task(session, register)
    officer = clients["off_vc_a1"]
    refused = officer.post(f"/tasks/{task.id}/complete",
                           data={"csrf_token": officer.csrf, "o_serious": "no", "o_child_in_danger": "no",
                                 "o_note": f"已劝诫{child_name}的父亲"})
    assert refused.status_code == 400  # the field is named, and the officer's text kept to edit
    assert "情况说明：不能出现儿童姓名或身份证号" in refused.text and f"已劝诫{child_name}的父亲" in refused.text
    officer.get("/todo?lang=en")
    try:  # was the Chinese 「情况说明（note）中不能出现儿童姓名…」 on the English page
        english = officer.post(f"/tasks/{task.id}/complete", data={"csrf_token": officer.csrf, "o_serious": "no",
                                                                  "o_child_in_danger": "no",
                                                                  "o_note": f"已劝诫{child_name}的父亲"})
        assert english.status_code == 400
        assert "Note: must not hold the child&#39;s name or ID number" in english.text
    finally:
        officer.get("/todo?lang=zh")
    done = officer.post(f"/tasks/{task.id}/complete",
                        data={"csrf_token": officer.csrf, "o_serious": "no", "o_child_in_danger": "no"})
    assert done.status_code == 303, done.text
    late = officer.post(f"/tasks/{task.id}/reject", data={"csrf_token": officer.csrf, "reason": "不属本社区"})
    assert late.status_code == 409
    assert f"该任务已由 {world.person('off_vc_a1').username} 于 " in late.text and "办结，您的答复未保存" in late.text
    ack = officer.post(f"/tasks/{task.id}/acknowledge", data={"csrf_token": officer.csrf})
    assert ack.status_code == 409 and "办结" in ack.text
    officer.get("/todo?lang=en")
    try:  # English on request: the same refusal, no Chinese sentence
        english = officer.post(f"/tasks/{task.id}/reject", data={"csrf_token": officer.csrf, "reason": "不属本社区"})
        assert english.status_code == 409
        assert (f"This task has already been completed by {world.person('off_vc_a1').username} on "
                in english.text) and "(Beijing time); your answer was not saved" in english.text
        assert "您的答复未保存" not in english.text
    finally:
        officer.get("/todo?lang=zh")
    assert _completed_audits(task.id) == 1


def _open_guardianship(session, register) -> tuple[str, PathwayRun]:
    child = register(residence_area_code="350302001001").child
    case = open_case(session, child_id=child.id, caseworker="fixture")
    run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="cw.first")
    session.commit()
    return case.reference, run


def test_starting_an_open_pathway_again_is_409_naming_the_open_run(web_app, world, clients, session, register):
    reference, run = _open_guardianship(session, register)
    try:
        headers = {"Authorization": f"Bearer {world.person('cw_a').token}"}
        api = TestClient(web_app)
        response = api.post(f"/api/cases/{reference}/pathways", headers=headers,
                            json={"pathway": "guardianship", "parameters": {}})
        assert response.status_code == 409, response.text
        detail = response.json()["detail"]
        assert detail.startswith("该个案的监护干预路径正在进行中（由 cw.first 于 ") and run.id.hex[:8] in detail
        caseworker = clients["cw_a"]
        page = caseworker.post(f"/cases/{reference}/pathways",
                               data={"csrf_token": caseworker.csrf, "pathway": "guardianship"})
        assert page.status_code == 409 and "正在进行中" in page.text and "结束后方可再次发起" in page.text
        caseworker.get("/todo?lang=en")
        try:  # was the Chinese refusal on the English page
            english = caseworker.post(f"/cases/{reference}/pathways",
                                      data={"csrf_token": caseworker.csrf, "pathway": "guardianship"})
        finally:
            caseworker.get("/todo?lang=zh")
        assert english.status_code == 409 and "This case already has the pathway “Guardianship intervention" \
            in english.text and f"pathway run {run.id.hex[:8]}): start it again once it has ended" in english.text
    finally:
        with session_scope() as s:
            s.get(PathwayRun, run.id).status = PathwayStatus.cancelled
    # ended: the caseworker may start it again (the test app's starter records the run and cancels it)
    again = TestClient(web_app).post(f"/api/cases/{reference}/pathways", headers=headers,
                                     json={"pathway": "guardianship", "parameters": {}})
    assert again.status_code == 201, again.text
