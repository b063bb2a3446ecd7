"""Redirect instead of re-issue (issue 12 item 5), without Prefect: where the next attempt goes after a typed
rejection, the caseworker's choice, the Chinese refusals, and a county manager's redirect, extension and comment."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import select

from careflow.cases import create_pathway_run, open_case
from core.db import session_scope
from careflow.reroute import (candidate_units, check_rejection, follow_redirects, needs_followup, parse_kind, record_rejection,
                              settle_reroute)
from careflow.task_manage import comment_task, extend_deadline, redirect_task
from careflow.step_tasks import open_step_task
from careflow.tasks import transition_task
from models.agency import AgencyUnit
from models.audit import AuditEvent
from models.deadlines import format_local
from models.errors import error_text
from models.case import PathwayRun
from models.notification import Notification
from models.task import AgencyTask, RejectionKind, TaskState

STATION = "police-350302001"
STATION_NAME = "莆田市公安局城厢分局龙桥派出所"


def ensure_station(session) -> str:
    """A township police station (派出所) in 龙桥街道: never routed to (police route at county level), only named."""
    if session.get(AgencyUnit, STATION) is None:
        session.add(AgencyUnit(code=STATION, agency_type="police", jurisdiction_code="350302002", name=STATION_NAME))
        session.flush()
    return STATION


@pytest.fixture
def police_task(session, register):
    ensure_station(session)
    child = register().child
    case = open_case(session, child_id=child.id, caseworker="test.caseworker")
    run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="test.caseworker")
    session.flush()
    return open_step_task(session, pathway_run_id=run.id, step_key="police_reprimand")


def reject(session, task, kind, unit="", reason="请转龙桥派出所办理"):
    kind = parse_kind(kind)
    check_rejection(session, task, kind, unit)
    transition_task(session, task, TaskState.rejected, actor="民警 陈强", reason=reason)
    record_rejection(session, task, kind, unit, actor="民警 陈强")


def next_attempt(session, task):
    return open_step_task(session, pathway_run_id=task.pathway_run_id, step_key=task.step_key,
                          attempt=task.attempt + 1)


def test_not_ours_naming_a_station_sends_the_next_attempt_there(session, police_task):
    assert police_task.unit_code == "police-350302"
    reject(session, police_task, "not_ours", STATION)
    assert police_task.rejection_kind == RejectionKind.not_ours and police_task.reroute_unit_code == STATION
    assert not needs_followup(police_task)  # the flow goes on at once
    assert next_attempt(session, police_task).unit_code == STATION


def test_need_more_information_waits_for_the_caseworker_then_goes_to_the_same_unit(session, police_task):
    reject(session, police_task, "need_more_information", reason="请补充监护人联系方式")
    assert needs_followup(police_task)
    with pytest.raises(ValueError) as missing:
        settle_reroute(session, police_task, actor="test.caseworker", note="")
    assert error_text(missing.value, "zh") == "补充信息：请写明为承办单位补充的信息"
    assert error_text(missing.value, "en") == "Information added: write the information the unit needs"
    settle_reroute(session, police_task, actor="test.caseworker", note="监护人电话 138 0000 0000")
    assert not needs_followup(police_task)
    assert session.get(PathwayRun, police_task.pathway_run_id).resume_pending  # the waiting flow is resumed
    assert next_attempt(session, police_task).unit_code == "police-350302"


def test_wrong_area_without_a_unit_lets_the_caseworker_choose_one(session, police_task):
    reject(session, police_task, "wrong_area")
    assert needs_followup(police_task)
    with pytest.raises(ValueError) as other_agency:
        settle_reroute(session, police_task, actor="test.caseworker", unit_code="civil_affairs-350302")
    assert re.fullmatch("转办单位：“莆田市城厢区民政局”是民政单位，本任务只能转给公安.*单位",
                        error_text(other_agency.value, "zh"))
    assert re.fullmatch("Unit to send it to: “莆田市城厢区民政局” is a civil affairs unit; this task can only go to "
                        "a police.* unit", error_text(other_agency.value, "en"), re.I)
    settle_reroute(session, police_task, actor="test.caseworker", unit_code=STATION)
    settle_reroute(session, police_task, actor="test.caseworker", unit_code=STATION)  # a double submit
    assert next_attempt(session, police_task).unit_code == STATION
    assert len(session.exec(select(AuditEvent).where(AuditEvent.entity_id == str(police_task.id),
                                                     AuditEvent.action == "task.reroute_chosen")).all()) == 1


def test_other_reason_is_reissued_to_the_routed_unit(session, police_task):
    reject(session, police_task, "other", reason="系统故障")
    assert not needs_followup(police_task)
    assert next_attempt(session, police_task).unit_code == "police-350302"


def test_an_invalid_named_unit_is_refused_in_chinese_and_nothing_is_stored(database_url):
    from careflow.answers import answer_task

    with session_scope() as session:
        ensure_station(session)
    with session_scope() as session:
        from careflow.registration import register_child
        from datetime import date
        from tests.factories import make_resident_id

        reg = register_child(session, resident_id=make_resident_id(), full_name="转办测试", hukou_county="511321",
                             residence_county="350302", residence_area_code="350302001001",
                             arrival_date=date(2023, 8, 20), actor="test.caseworker")
        session.flush()
        case = open_case(session, child_id=reg.child.id, caseworker="test.caseworker")
        run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="test.caseworker")
        session.flush()
        task = open_step_task(session, pathway_run_id=run.id, step_key="police_reprimand")
        ref, unit = task.short_ref, task.unit_code
    for wrong, words in (("civil_affairs-350302", "莆田市城厢区民政局"), ("no-such-unit", "no-such-unit"),
                         ("police-350302", "就是本任务的承办单位")):
        with pytest.raises(ValueError) as refused:
            answer_task(ref, TaskState.rejected, actor="民警 陈强", unit_code=unit, reason="不归我们",
                        rejection_kind="not_ours", reroute_unit=wrong)
        chinese = error_text(refused.value, "zh")
        assert chinese.startswith("转办单位：") and words in chinese
        assert error_text(refused.value, "en").startswith("Unit to send it to: ")
    assert error_text(refused.value, "en") == "Unit to send it to: “莆田市公安局城厢分局” is this task's own unit; " \
                                              "choose another"
    with pytest.raises(ValueError) as unknown_kind:
        answer_task(ref, TaskState.rejected, actor="民警 陈强", unit_code=unit, reason="x", rejection_kind="nope")
    assert error_text(unknown_kind.value, "zh").startswith("退回原因类别：“nope”不是可选的类别，请在非本单位职责、")
    assert error_text(unknown_kind.value, "en").startswith("Why rejected: “nope” is not one of the kinds; choose "
                                                           "Not our unit's responsibility, ")
    with session_scope() as session:
        assert session.get(AgencyTask, task.id).state == TaskState.requested


def test_manager_extends_the_deadline_with_a_reason(session, police_task):
    from careflow.ladder import initial_next_rung_at

    transition_task(session, police_task, TaskState.acknowledged, actor="民警 陈强")  # next rung: the reminder
    old_due, old_next = police_task.due_at, initial_next_rung_at(police_task, "350302")
    with pytest.raises(ValueError) as earlier:
        extend_deadline(session, police_task, actor="mgr", due_at=old_due - timedelta(hours=1), reason="x")
    asked, due = format_local(old_due - timedelta(hours=1)), format_local(old_due)
    assert error_text(earlier.value, "zh") == f"新截止时间：“{asked}”须晚于原截止时间 {due}（北京时间）"
    assert error_text(earlier.value, "en") == (f"New deadline: “{asked}” must be later than the current deadline "
                                               f"{due} (Beijing time)")
    with pytest.raises(ValueError) as refused:
        extend_deadline(session, police_task, actor="mgr", due_at=old_due + timedelta(days=3), reason=" ")
    assert (refused.value.text("zh"), refused.value.text("en")) == ("延期理由：请填写", "Reason for extending: required")
    extend_deadline(session, police_task, actor="mgr", due_at=old_due + timedelta(days=3), reason="需调取监控")
    assert police_task.due_at == old_due + timedelta(days=3)
    assert police_task.next_rung_at > old_next  # the reminder moves with the deadline
    audit = session.exec(select(AuditEvent).where(AuditEvent.entity_id == str(police_task.id),
                                                  AuditEvent.action == "task.deadline_extended")).one()
    assert audit.reason == "需调取监控" and audit.actor == "mgr"
    messages = session.exec(select(Notification).where(Notification.task_id == police_task.id,
                                                       Notification.event == "deadline_changed")).all()
    assert {m.unit_code for m in messages} == {"police-350302", "caseworker.test.caseworker"}
    assert all("需调取监控" in m.body for m in messages)


def test_manager_redirects_an_open_task_and_comments(session, police_task):
    comment_task(session, police_task, actor="mgr", text="请尽快联系监护人")
    new = redirect_task(session, police_task, actor="mgr", unit_code=STATION, reason="属龙桥辖区")
    assert police_task.state == TaskState.redirected and police_task.redirected_to_id == new.id
    assert (new.unit_code, new.attempt, new.state) == (STATION, 2, TaskState.requested)
    assert new.next_rung_at is not None
    assert redirect_task(session, police_task, actor="mgr", unit_code=STATION, reason="属龙桥辖区").id == new.id
    assert follow_redirects(session, [str(police_task.id)]) == [str(new.id)]
    sent = session.exec(select(Notification).where(Notification.task_id == new.id)).all()
    assert [(m.event, m.unit_code) for m in sent] == [("task_requested", STATION)]
    actions = {e.action for e in session.exec(select(AuditEvent).where(
        AuditEvent.entity_id == str(police_task.id))).all()}
    assert {"task.commented", "task.redirected"} <= actions
    with pytest.raises(ValueError) as closed:
        extend_deadline(session, police_task, actor="mgr", due_at=police_task.due_at + timedelta(days=1), reason="x")
    assert error_text(closed.value, "zh") == "该任务已转办，不能再延期"
    assert error_text(closed.value, "en") == "this task is “Redirected”; its deadline can no longer be extended"
    with pytest.raises(ValueError) as again:
        redirect_task(session, police_task, actor="mgr", unit_code="police-350302", reason="x")
    assert (error_text(again.value, "zh"), error_text(again.value, "en")) == (
        "该任务已转办，不能再转办", "this task is “Redirected”; it can no longer be redirected")


def test_the_units_offered_put_the_childs_county_first_and_other_places_after(session, police_task):
    """A county manager redirecting a 城厢区 child's police step sees 城厢区's and 莆田市's units before 仙游县's
    (policy/agency_units.yaml has both counties) and a 厦门市思明区 unit, whose code sorts before them: the usual
    answer is at the top of a province-long list."""
    xiamen = AgencyUnit(code="police-350203", agency_type="police", jurisdiction_code="350203", name="厦门市公安局思明分局")
    session.add(xiamen)
    session.flush()
    units = candidate_units(session, police_task)
    session.delete(xiamen)  # the other tests' directory stays the policy's
    session.flush()
    codes = [u.jurisdiction_code for u in units]
    local = [c for c in codes if c.startswith(("350302", "350300"))]
    assert local and codes[:len(local)] == local, codes
    assert "350203" in codes[len(local):] and any(c.startswith(("350823", "350800")) for c in codes[len(local):])
    assert STATION in [u.code for u in units] and police_task.unit_code not in [u.code for u in units]
