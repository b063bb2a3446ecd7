"""The residence county's civil affairs follows a claim handled at the child's registration place (户籍地, 省内通办;
issue 13 item 5): it finds the task under 跟进 in its inbox and the API, reads its page, and cannot answer it; the
registration county's civil affairs answers it as usual. On both databases, without Prefect."""
from __future__ import annotations

import uuid
from datetime import date

import pytest

from careflow.cases import create_pathway_run, open_case
from careflow.registration import register_child
from careflow.step_tasks import open_step_task
from core.db import session_scope
from models.case import PathwayStatus
from models.task import AgencyTask, TaskState
from models.user import UserRole
from tests.factories import make_resident_id
from tests.web.chinese import leaks
from tests.web.conftest import PASSWORD, WEB_ID_SPACE, sign_in
from web.users import create_api_token, create_user


@pytest.fixture
def followed(web_app):
    """A minimum-living-allowance task of a child living in 城厢区, registered in 上杭县; signed-in officers of
    城厢区民政局 (follows) and 上杭县民政局 (answers), and the former's API token."""
    suffix = uuid.uuid4().hex[:6]
    with session_scope() as session:
        reg = register_child(session, resident_id=make_resident_id(*WEB_ID_SPACE["world"]), full_name=f"跟进{suffix}",
                             hukou_county="350823", residence_county="350302", residence_area_code="350302001001",
                             arrival_date=date(2023, 8, 20), actor="fixture")
        session.flush()
        case = open_case(session, child_id=reg.child.id, caseworker="fixture")
        run = create_pathway_run(session, case_id=case.id, pathway="service_referral", actor="fixture",
                                 parameters={"item": 13, "eligibility_override": "低保条件待户籍地核实"})
        run.status = PathwayStatus.cancelled  # no flow: the sweeper of a served stack leaves it alone
        session.flush()
        task = open_step_task(session, pathway_run_id=run.id, step_key="minimum_living_referral",
                              agency_type="civil_affairs")
        users = {}
        for key, unit in (("residence", "civil_affairs-350302"), ("registration", "civil_affairs-350823")):
            users[key] = create_user(session, username=f"follow.{key}.{suffix}", password=PASSWORD,
                                     role=UserRole.agency_officer, actor="fixture", unit_code=unit)
        token = create_api_token(session, user=users["residence"], name="tests").token
        names = {k: u.username for k, u in users.items()}
        task_id, reference = task.id, case.reference
    clients = {key: sign_in(web_app, name) for key, name in names.items()}
    return task_id, reference, clients, token


def test_the_residence_unit_finds_the_task_under_following_and_reads_it(followed):
    task_id, reference, clients, _ = followed
    residence = clients["residence"]
    assert str(task_id) not in residence.get("/inbox?state=all").text  # not its own task
    listed = residence.get("/inbox?follow=yes")
    assert listed.status_code == 200 and f"/tasks/{task_id}" in listed.text and reference in listed.text
    page = residence.get(f"/tasks/{task_id}")
    assert page.status_code == 200
    assert "本单位跟进此任务：该事项在儿童户籍地办理（省内通办），由上杭县民政局答复" in page.text
    assert "跟进单位（居住地）" in page.text and "莆田市城厢区民政局" in page.text
    assert f'action="/tasks/{task_id}/complete"' not in page.text  # no answer form


def test_the_following_unit_cannot_answer_but_the_registration_unit_can(followed):
    task_id, _, clients, _ = followed
    residence, registration = clients["residence"], clients["registration"]
    refused = residence.post(f"/tasks/{task_id}/complete", data={"csrf_token": residence.csrf, "o_decision": "approved"})
    assert refused.status_code == 404
    page = registration.get(f"/tasks/{task_id}")
    assert f'action="/tasks/{task_id}/complete"' in page.text and "本单位跟进此任务" not in page.text
    done = registration.post(f"/tasks/{task_id}/complete", data={"csrf_token": registration.csrf,
                                                                 "o_decision": "approved"})
    assert done.status_code == 303
    with session_scope() as session:
        task = session.get(AgencyTask, task_id)
        assert (task.state, task.outcome) == (TaskState.completed, {"decision": "approved"})


def test_the_api_lists_followed_tasks_and_managers_may_not_filter_by_it(followed, web_app, world):
    from fastapi.testclient import TestClient

    task_id, reference, _, token = followed
    api = TestClient(web_app)
    auth = {"Authorization": f"Bearer {token}"}
    listed = api.get(f"/api/tasks?follow=yes&state=all&q={reference}", headers=auth)
    assert listed.status_code == 200 and [t["id"] for t in listed.json()["items"]] == [str(task_id)]
    assert listed.json()["items"][0]["follower_unit_code"] == "civil_affairs-350302"
    assert api.get(f"/api/tasks?state=all&q={reference}", headers=auth).json()["items"] == []  # not its own
    every = api.get("/api/tasks?follow=yes&state=all&size=200", headers=auth).json()["items"]
    assert every and {t["follower_unit_code"] for t in every} == {"civil_affairs-350302"}
    manager = api.get("/api/tasks?follow=yes", headers={"Authorization": f"Bearer {world.person('mgr_a').token}"})
    assert manager.status_code == 400 and "follow" in manager.text


def test_acknowledge_selected_on_the_following_list(followed):
    """The 跟进 list offered 签收所选 beside tasks the unit only follows: ticking them and pressing it acknowledged
    nothing and said only 「已签收 0 项任务」. Now the button and tick boxes are beside the unit's own tasks only; a
    followed task ticked anyway is left as it was and its line says why, in the page's language; the unit that
    answers acknowledges it from its inbox, each task's result on its own line."""
    task_id, reference, clients, _ = followed
    residence, registration = clients["residence"], clients["registration"]
    ref = task_id.hex[:8]

    following = residence.get("/inbox?follow=yes&state=all&size=200")
    assert f"/tasks/{task_id}" in following.text
    assert f'value="{task_id}"' not in following.text and 'id="bulk-acknowledge"' not in following.text

    ticked = residence.post("/inbox/acknowledge", data={"task": [str(task_id)], "csrf_token": residence.csrf},
                            follow_redirects=True)
    assert ticked.status_code == 200 and "已签收 0 项任务。" in ticked.text
    assert f"任务 {ref}：未签收：本单位只跟进此任务，由户籍地承办单位签收和答复" in ticked.text
    with session_scope() as session:
        assert session.get(AgencyTask, task_id).state == TaskState.requested

    inbox = registration.get("/inbox", params={"q": reference})
    assert f'name="task" value="{task_id}"' in inbox.text and 'id="bulk-acknowledge"' in inbox.text
    done = registration.post("/inbox/acknowledge", data={"task": [str(task_id), "not-a-task"],
                                                         "csrf_token": registration.csrf})
    assert done.status_code == 303
    page = registration.get(done.headers["location"])
    assert "已签收 1 项任务。" in page.text and f"任务 {ref}：已签收" in page.text
    assert "任务 （无效编号）：未签收：不是任务编号" in page.text and leaks(page.text) == []
    english = registration.get(done.headers["location"] + "&lang=en")
    assert f"Task {ref}: acknowledged" in english.text and "未签收" not in english.text
    with session_scope() as session:
        task = session.get(AgencyTask, task_id)
        assert task.state == TaskState.acknowledged
    again = registration.post("/inbox/acknowledge", data={"task": [str(task_id)], "csrf_token": registration.csrf})
    assert f"任务 {ref}：此前已由本单位签收" in registration.get(again.headers["location"] + "&lang=zh").text
