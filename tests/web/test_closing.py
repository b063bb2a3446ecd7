"""Closing is a decision, and the caseworker sees what is late (issue 12), on both databases.

A pathway's end leaves the case open and in the caseworker's inbox (待我处理); the caseworker closes it with a
written reason (an empty one is refused in Chinese); while the child is in temporary guardianship or at high risk the
close is a request the county manager approves or refuses; a closed case refuses a new pathway until it is reopened
with a reason; the case list, the case page and the inbox mark an overdue, escalated task.
"""
from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

import pytest
from sqlmodel import select

from careflow.cases import CaseClosed, create_pathway_run, open_case

from careflow.registration import register_child
from careflow.closing import HIGH_RISK, IN_TEMPORARY_GUARDIANSHIP, review_reasons
from core.db import session_scope
from careflow.recovery import close_pathway_run
from careflow.step_tasks import open_step_task
from careflow.tasks import transition_task
from models.audit import AuditEvent
from models.base import utcnow
from models.case import Case, CaseStatus, PathwayStatus
from models.task import AgencyTask, Escalation, TaskState
from tests.factories import make_resident_id

#: The resident IDs these tests make: a birth date no other test draws from (tests/web/conftest.py WEB_ID_SPACE).
ID_SPACE = ("350823", date(2010, 6, 6))
YOUNG_ID_SPACE = ("350823", date(2015, 4, 14))  # under 16: a service referral's child
AREA = "350302001001"  # 龙桥街道: cw_a1's township


def make_case(*, pathway: str = "guardianship", parameters: dict | None = None, steps: tuple[str, ...] = (),
              end: bool = True, id_space: tuple = ID_SPACE) -> tuple[str, uuid.UUID, dict[str, uuid.UUID]]:
    """A case in 龙桥 with a run of ``pathway`` (its ``steps`` opened as tasks), ended when ``end``: (reference,
    run id, step → task id)."""
    with session_scope() as session:
        reg = register_child(session, resident_id=make_resident_id(*id_space), full_name="结案测试",
                             hukou_county="511321", residence_county="350302", residence_area_code=AREA,
                             arrival_date=date(2023, 8, 20), actor="fixture")
        session.flush()
        case = open_case(session, child_id=reg.child.id, caseworker="fixture", summary="issue 12")
        session.flush()
        run = create_pathway_run(session, case_id=case.id, pathway=pathway, actor="fixture", parameters=parameters)
        session.flush()
        tasks = {step: open_step_task(session, pathway_run_id=run.id, step_key=step).id for step in steps}
        session.flush()
        if end:
            close_pathway_run(session, run.id, "路径办结", PathwayStatus.completed)
        return case.reference, run.id, tasks


def case_row(reference: str) -> Case:
    with session_scope() as session:
        case = session.exec(select(Case).where(Case.reference == reference)).one()
        session.expunge(case)
        return case


def audits(reference: str, action: str) -> list[AuditEvent]:
    with session_scope() as session:
        case_id = session.exec(select(Case.id).where(Case.reference == reference)).one()
        rows = session.exec(select(AuditEvent).where(AuditEvent.case_id == case_id, AuditEvent.action == action)).all()
        for row in rows:
            session.expunge(row)
        return rows


def post(client, url: str, **data):
    return client.post(url, data={**data, "csrf_token": client.csrf})


def test_a_pathway_end_leaves_the_case_open_in_the_inbox_and_the_caseworker_closes_it_with_a_reason(clients, world):
    reference, _run, _tasks = make_case()
    assert case_row(reference).status == CaseStatus.open  # the pathway's end closed nothing

    cw = clients["cw_a1"]
    inbox = cw.get("/todo?show=ended")
    assert inbox.status_code == 200 and reference in inbox.text and "路径已结束，待决定是否结案" in inbox.text
    assert f'data-case="{reference}"' in cw.get(f"/cases?flag=awaiting&q={reference}").text
    assert 'href="/todo"' in cw.get("/cases").text  # the nav links the inbox
    page = cw.get(f"/cases/{reference}")
    assert "路径已结束，待决定是否结案" in page.text and 'id="close-case"' in page.text

    refused = post(cw, f"/cases/{reference}/close", reason="  ")
    assert refused.status_code == 400 and "结案理由：必须填写" in refused.text
    assert case_row(reference).status == CaseStatus.open

    closed = post(cw, f"/cases/{reference}/close", reason="监护人已改正，儿童安全")
    assert closed.status_code == 303 and closed.headers["location"].endswith("done=case_closed")
    case = case_row(reference)
    assert case.status == CaseStatus.closed and case.close_reason == "监护人已改正，儿童安全"
    (event,) = audits(reference, "case.closed")
    assert event.actor == world.person("cw_a1").username and event.reason == "监护人已改正，儿童安全"
    assert reference not in cw.get("/todo?show=ended").text
    assert "个案已结案" in cw.get(f"/cases/{reference}?done=case_closed").text
    try:  # English on request, no catalogue key left raw
        for url in ("/todo?lang=en", f"/cases/{reference}?lang=en&done=case_closed", "/cases?lang=en"):
            text = cw.get(url).text
            assert not re.search(r"\b(todo|closing|late|escalated)\.[a-z_.]+", text), (url, text)
        assert "Closed on" in cw.get(f"/cases/{reference}?lang=en").text
    finally:
        cw.get("/todo?lang=zh")


def test_a_closed_case_refuses_a_new_pathway_until_reopened_with_a_reason(clients, world):
    reference, _run, _tasks = make_case()
    cw = clients["cw_a1"]
    assert post(cw, f"/cases/{reference}/close", reason="服务完成").status_code == 303

    started = post(cw, f"/cases/{reference}/pathways", pathway="guardianship")
    assert started.status_code == 409 and "案件已结案，请先重新开案并说明理由" in started.text
    with session_scope() as session, pytest.raises(CaseClosed, match="请先重新开案"):
        create_pathway_run(session, case_id=case_row(reference).id, pathway="guardianship", actor="x")
    api = cw.post(f"/api/cases/{reference}/pathways", json={"pathway": "guardianship", "parameters": {}},
                  headers={"Authorization": f"Bearer {world.person('cw_a1').token}"})
    assert api.status_code == 409 and api.json()["detail"] == "案件已结案，请先重新开案并说明理由"
    assert case_row(reference).status == CaseStatus.closed  # nothing reopened it silently

    refused = post(cw, f"/cases/{reference}/reopen", reason="")
    assert refused.status_code == 400 and "重新开案理由：必须填写" in refused.text
    reopened = post(cw, f"/cases/{reference}/reopen", reason="再次接到报告")
    assert reopened.status_code == 303
    case = case_row(reference)
    assert case.status == CaseStatus.open and case.reopened_at is not None and case.closed_at is None
    (event,) = audits(reference, "case.reopened")
    assert event.reason == "再次接到报告"
    assert reference not in cw.get("/todo?show=ended").text  # the old pathway's end was decided already
    assert post(cw, f"/cases/{reference}/pathways", pathway="guardianship").status_code == 303


def test_a_refused_close_or_reopen_is_worded_in_the_pages_language(clients):
    """The refusals (a missing or too long reason, nothing to reopen, a pathway still running) in Chinese by
    default and in English on request: no Chinese sentence on an English page."""
    reference, _run, _tasks = make_case()
    running, _run, _tasks = make_case(end=False)
    cw = clients["cw_a1"]
    refused = post(cw, f"/cases/{reference}/reopen", reason="想重新开案")
    assert refused.status_code == 409 and "案件未结案，无需重新开案" in refused.text
    too_long = post(cw, f"/cases/{reference}/close", reason="长" * 501)
    assert too_long.status_code == 400 and "结案理由：不能超过500个字（现有501个字）" in too_long.text
    cw.get("/todo?lang=en")
    try:
        expected = {f"/cases/{reference}/reopen": ("想重新开案", 409, "The case is not closed: there is nothing to reopen"),
                    f"/cases/{reference}/close": ("", 400, "Reason for closing: required"),
                    f"/cases/{running}/close": ("服务完成", 409, "A pathway of this case is still running")}
        for url, (reason, status, words) in expected.items():
            answer = post(cw, url, reason=reason)
            assert answer.status_code == status and words in answer.text, (url, answer.text)
            assert not re.search(r"案件未结案|必须填写|仍有进行中的路径", answer.text)
    finally:
        cw.get("/todo?lang=zh")
    assert case_row(reference).status == CaseStatus.open and case_row(running).status == CaseStatus.open


def test_closing_while_the_child_is_in_temporary_guardianship_needs_the_county_managers_review(clients, world):
    reference, _run, tasks = make_case(steps=("temporary_guardianship",))
    with session_scope() as session:
        assert review_reasons(session, case_row(reference).id) == [IN_TEMPORARY_GUARDIANSHIP]
    cw, manager = clients["cw_a1"], clients["mgr_a"]
    assert "结案需经县级民政部门审核：儿童处于临时监护中" in cw.get(f"/cases/{reference}").text
    try:  # the reason in the page's language; the stored one stays as the audit trail has it
        english = cw.get(f"/cases/{reference}?lang=en").text
        assert "the child is in temporary guardianship" in english and "儿童处于临时监护中" not in english
    finally:
        cw.get("/todo?lang=zh")

    asked = post(cw, f"/cases/{reference}/close", reason="儿童已返家")
    assert asked.status_code == 303 and asked.headers["location"].endswith("done=case_requested")
    case = case_row(reference)
    assert case.status == CaseStatus.open and case.close_request_reason == "儿童已返家"
    assert audits(reference, "case.close_requested")[0].detail["review"] == [IN_TEMPORARY_GUARDIANSHIP]
    assert post(cw, f"/cases/{reference}/close", reason="再次").status_code == 409  # one request at a time
    assert reference in manager.get("/cases?status=close_requested").text

    page = manager.get(f"/cases/{reference}")
    assert 'id="approve-close"' in page.text and "儿童已返家" in page.text
    refused = post(manager, f"/cases/{reference}/close/refuse", reason="")
    assert refused.status_code == 400 and "不同意结案的理由：必须填写" in refused.text
    assert post(manager, f"/cases/{reference}/close/refuse", reason="尚未核实返家情况").status_code == 303
    case = case_row(reference)
    assert case.status == CaseStatus.open and case.close_requested_at is None
    assert audits(reference, "case.close_refused")[0].reason == "尚未核实返家情况"
    assert reference in cw.get("/todo?show=ended").text  # back to the caseworker

    assert post(cw, f"/cases/{reference}/close", reason="已核实儿童返家").status_code == 303
    assert post(clients["cw_a1"], f"/cases/{reference}/close/approve").status_code == 403  # managers only
    assert post(manager, f"/cases/{reference}/close/approve", note="同意").status_code == 303
    case = case_row(reference)
    assert case.status == CaseStatus.closed and case.close_reason == "已核实儿童返家"
    assert [e.actor for e in audits(reference, "case.closed")] == [world.person("mgr_a").username]
    assert audits(reference, "case.close_approved")[0].detail["requested_by"] == world.person("cw_a1").username


def test_a_high_risk_screening_needs_review_until_counselling_lowers_the_risk(database_url):
    reference, _run, tasks = make_case(pathway="psychological_screening",
                                       parameters={"screening_result": "high_risk"}, steps=("counselling",))
    with session_scope() as session:
        case_id = session.exec(select(Case.id).where(Case.reference == reference)).one()
        assert review_reasons(session, case_id) == [HIGH_RISK]
        task = session.get(AgencyTask, tasks["counselling"])
        transition_task(session, task, TaskState.completed, actor="officer",
                        outcome={"started": True, "risk_after": "at_risk"})
    with session_scope() as session:
        assert review_reasons(session, case_id) == []


def test_an_overdue_escalated_task_is_marked_on_the_case_list_the_case_page_and_the_inbox(clients):
    reference, _run, tasks = make_case(steps=("police_reprimand",), end=False)
    now = utcnow()
    with session_scope() as session:
        task = session.get(AgencyTask, tasks["police_reprimand"])
        task.requested_at, task.ack_due_at, task.due_at = now - timedelta(days=9), None, now - timedelta(days=5)
        task.escalation_level = 3
        session.add(task)
        for rung, level in (("reminder", 1), ("deadline", 2), ("overdue", 3)):
            session.add(Escalation(task_id=task.id, rung=rung, level=level, fired_at=now, recipients=[]))
    cw = clients["cw_a1"]
    marks = re.compile(r"已逾期 \d+ 个工作日")
    escalated = "已升级至县级民政部门（逾期督办）"

    listed = cw.get(f"/cases?q={reference}")
    row = listed.text[listed.text.index(f'data-case="{reference}"'):].split("</tr>")[0]
    assert marks.search(row) and escalated in row and "训诫" in row, row

    for flag in ("overdue", "escalated"):
        assert f'data-case="{reference}"' in cw.get(f"/cases?flag={flag}&q={reference}").text, flag
    assert f'data-case="{reference}"' not in cw.get(f"/cases?flag=awaiting&q={reference}").text

    page = cw.get(f"/cases/{reference}").text
    item = page[page.index(f'id="task-{tasks["police_reprimand"]}"'):].split("</li>")[0]
    assert marks.search(item) and escalated in item and "待签收" in item

    inbox = cw.get(f"/todo?q={reference}")  # the late tab first, searched like the case list
    assert reference in inbox.text and escalated in inbox.text
    assert f'/cases/{reference}#task-{tasks["police_reprimand"]}' in inbox.text


def test_a_rejected_task_waits_in_the_inbox_until_a_later_attempt_follows(clients):
    reference, run_id, tasks = make_case(steps=("police_reprimand",), end=False)
    with session_scope() as session:
        transition_task(session, session.get(AgencyTask, tasks["police_reprimand"]), TaskState.rejected,
                        actor="officer", reason="请转龙桥派出所办理")
    cw = clients["cw_a1"]
    inbox = cw.get(f"/todo?show=rejected&q={reference}")
    assert f'/cases/{reference}#task-' in inbox.text and "请转龙桥派出所办理" in inbox.text
    with session_scope() as session:
        open_step_task(session, pathway_run_id=run_id, step_key="police_reprimand", attempt=2)
    assert f'/cases/{reference}#task-' not in cw.get(f"/todo?show=rejected&q={reference}").text


def test_a_programme_referral_awaits_the_closing_decision_only_once_its_attendance_is_recorded(clients):
    """A referral for item 18-20 ends its pathway at once, the child on the county's waiting list: the case stood in
    待决定结案 although the child had been to no programme, and closing it took the child off the waiting list. It
    waits for the decision once the organiser has recorded who came (invited and not yet held: still to come)."""
    from careflow.programmes import ProgrammeInput, invitation_outcome, invite_child, record_attendance, \
        record_programme
    from models.agency import AgencyUnit
    from models.programmes import InvitationStatus, Programme

    reference, run_id, _tasks = make_case(pathway="service_referral", parameters={"item": 20}, end=False,
                                         id_space=YOUNG_ID_SPACE)
    with session_scope() as session:  # no programme of item 20 in 城厢区 starts after 2200: the waiting list
        invitation = invite_child(session, run_id, 20, now=utcnow().replace(year=2200))
        assert invitation.status == InvitationStatus.waiting
        close_pathway_run(session, run_id, invitation_outcome(invitation, None), PathwayStatus.completed)
        invitation_id = invitation.id
    cw = clients["cw_a1"]
    awaiting = "路径已结束，待决定是否结案"

    def shown() -> tuple[bool, bool, bool, bool]:
        """Where the case awaits the decision: 待我处理's tab, the cases list's flag and mark, the case page."""
        listed = cw.get(f"/cases?q={reference}").text
        return (f'data-case="{reference}"' in cw.get(f"/todo?show=ended&q={reference}").text,
                f'data-case="{reference}"' in cw.get(f"/cases?flag=awaiting&q={reference}").text,
                f'mark-waiting">{awaiting}' in listed, 'id="closing-awaiting"' in cw.get(f"/cases/{reference}").text)

    assert shown() == (False, False, False, False)  # on the waiting list
    warning = 'id="closing-programme"'  # closing now gives the place up: the caseworker is told so before
    assert warning in cw.get(f"/cases/{reference}").text
    assert "closing the case withdraws the place" in cw.get(f"/cases/{reference}?lang=en").text
    cw.get(f"/cases/{reference}?lang=zh")  # the choice is kept: back to Chinese
    with session_scope() as session:
        programme = record_programme(session, session.get(AgencyUnit, "police-350302"), ProgrammeInput(
            item=20, title="法治安全课堂", starts_at=utcnow() + timedelta(days=30), place="凤山社区",
            county_code="350302", capacity=10000), actor="fixture")
        assert session.get(type(invitation), invitation_id).status == InvitationStatus.invited
        programme_id = programme.id
    assert shown() == (False, False, False, False)  # invited: the programme is still to come
    with session_scope() as session:
        programme = session.get(Programme, programme_id)
        programme.starts_at = utcnow() - timedelta(hours=2)
        session.add(programme)
        session.flush()
        record_attendance(session, programme, {invitation_id}, walk_ins=0, actor="fixture")
    assert shown() == (True, True, True, True)
    assert warning not in cw.get(f"/cases/{reference}").text
