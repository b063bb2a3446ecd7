"""Redirect instead of re-issue on the web pages (issue 12 item 5): the officer's typed rejection naming a unit by
name, refused in Chinese for a wrong unit; the caseworker choosing the unit on the case page; a county manager
extending, redirecting and commenting on the task page; no one else may."""
from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from careflow.cases import create_pathway_run, open_case
from core.db import session_scope
from careflow.step_tasks import open_step_task
from careflow.timeline import case_timeline, format_timeline
from models.agency import AgencyUnit
from models.audit import AuditEvent
from models.case import PathwayStatus
from models.notification import Notification
from models.task import AgencyTask, TaskState

STATION = "police-350302001"
STATION_NAME = "莆田市公安局城厢分局龙桥派出所"


def _police_task(session, register) -> tuple[AgencyTask, str]:
    """A fresh police task of a child in 凤山社区 (police-350302), and the 龙桥 station it may be sent to."""
    if session.get(AgencyUnit, STATION) is None:
        session.add(AgencyUnit(code=STATION, agency_type="police", jurisdiction_code="350302002", name=STATION_NAME))
    child = register().child
    case = open_case(session, child_id=child.id, caseworker="fixture")
    run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="fixture")
    session.flush()
    task = open_step_task(session, pathway_run_id=run.id, step_key="police_reprimand")
    run.status = PathwayStatus.cancelled  # no flow: a served stack's sweeper leaves it alone
    session.commit()
    return task, case.reference


def _stored(task_id) -> AgencyTask:
    with session_scope() as s:
        return s.get(AgencyTask, task_id)


def test_officer_rejects_naming_a_station_by_name_and_a_wrong_unit_is_refused_in_chinese(
        clients, session, register):
    task, reference = _police_task(session, register)
    officer = clients["off_police_a"]
    page = officer.get(f"/tasks/{task.id}")
    assert page.status_code == 200
    assert f'<option value="{STATION}">{STATION_NAME}</option>' in page.text and "非本单位职责" in page.text
    refused = officer.post(f"/tasks/{task.id}/reject", data={
        "csrf_token": officer.csrf, "reason": "不归我们", "rejection_kind": "not_ours",
        "reroute_unit": "civil_affairs-350302"})
    assert refused.status_code == 400
    assert "转办单位" in refused.text and "莆田市城厢区民政局" in refused.text
    assert re.search(r'name="reroute_unit" id="reroute_unit" aria-invalid="true"', refused.text)
    assert _stored(task.id).state == TaskState.requested
    done = officer.post(f"/tasks/{task.id}/reject", data={
        "csrf_token": officer.csrf, "reason": "请转龙桥派出所办理", "rejection_kind": "not_ours",
        "reroute_unit": STATION})
    assert done.status_code == 303, done.text
    stored = _stored(task.id)
    assert (stored.state, stored.rejection_kind, stored.reroute_unit_code) == (TaskState.rejected, "not_ours", STATION)
    answered = officer.get(f"/tasks/{task.id}").text
    assert "非本单位职责" in answered and STATION_NAME in answered and "not_ours" not in answered


def test_caseworker_chooses_the_unit_on_the_case_page(clients, session, register):
    task, reference = _police_task(session, register)
    officer, caseworker = clients["off_police_a"], clients["cw_a"]
    officer.post(f"/tasks/{task.id}/reject", data={"csrf_token": officer.csrf, "reason": "不属本辖区",
                                                   "rejection_kind": "wrong_area"})
    page = caseworker.get(f"/cases/{reference}")
    assert 'id="reroutes"' in page.text and STATION_NAME in page.text and "不属本辖区" in page.text
    refused = caseworker.post(f"/tasks/{task.id}/reroute", data={"csrf_token": caseworker.csrf,
                                                                  "reroute_unit": "police-350302"})
    assert refused.status_code == 400 and "就是本任务的承办单位" in refused.text
    done = caseworker.post(f"/tasks/{task.id}/reroute", data={"csrf_token": caseworker.csrf, "reroute_unit": STATION})
    assert done.status_code == 303 and done.headers["location"] == f"/cases/{reference}?done=rerouted"
    assert _stored(task.id).reroute_unit_code == STATION
    assert 'id="reroutes"' not in caseworker.get(f"/cases/{reference}").text


def test_manager_extends_redirects_and_comments_and_no_one_else_may(clients, session, register):
    task, reference = _police_task(session, register)
    manager = clients["mgr_a"]
    page = manager.get(f"/tasks/{task.id}")
    assert page.status_code == 200 and 'id="manage"' in page.text
    # a comment changes nothing: its button is not drawn in red like 转办 and 退回 (style.css: .secondary)
    assert 'class="plain" id="comment"' in page.text and 'class="secondary" id="redirect"' in page.text
    new_due = task.due_at + timedelta(days=2)
    local = new_due.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M")
    for key in ("off_police_a", "cw_a"):  # the unit's officer and a caseworker may not
        other = clients[key]
        assert other.post(f"/tasks/{task.id}/extend", data={"csrf_token": other.csrf, "due_at": local,
                                                             "extend_reason": "x"}).status_code == 403
    outsider = clients["mgr_b"]  # another county's manager does not see the task
    assert outsider.post(f"/tasks/{task.id}/extend", data={"csrf_token": outsider.csrf, "due_at": local,
                                                           "extend_reason": "x"}).status_code == 404
    refused = manager.post(f"/tasks/{task.id}/extend", data={"csrf_token": manager.csrf, "due_at": local,
                                                             "extend_reason": ""})
    assert refused.status_code == 400 and "延期理由" in refused.text
    done = manager.post(f"/tasks/{task.id}/extend", data={"csrf_token": manager.csrf, "due_at": local,
                                                          "extend_reason": "需调取监控"})
    assert done.status_code == 303, done.text
    stored = _stored(task.id)
    assert stored.due_at.replace(second=0, microsecond=0) == new_due.replace(second=0, microsecond=0)
    assert manager.post(f"/tasks/{task.id}/comment", data={"csrf_token": manager.csrf,
                                                           "comment": "请当日联系监护人"}).status_code == 303
    shown = manager.get(f"/tasks/{task.id}").text
    assert "需调取监控" in shown and "请当日联系监护人" in shown and "延期" in shown
    moved = manager.post(f"/tasks/{task.id}/redirect", data={"csrf_token": manager.csrf, "reroute_unit": STATION,
                                                             "redirect_reason": "属龙桥辖区"})
    assert moved.status_code == 303
    new_id = moved.headers["location"].split("/tasks/")[1].split("?")[0]
    assert _stored(task.id).state == TaskState.redirected
    assert "已转办" in manager.get(f"/tasks/{task.id}").text
    with session_scope() as s:
        new = s.exec(select(AgencyTask).where(AgencyTask.id == _stored(task.id).redirected_to_id)).one()
        assert str(new.id) == new_id and new.unit_code == STATION
        assert s.exec(select(Notification).where(Notification.task_id == new.id,
                                                 Notification.event == "task_requested")).first() is not None
        actions = {e.action for e in s.exec(select(AuditEvent).where(AuditEvent.entity_id == str(task.id)))}
    assert {"task.deadline_extended", "task.commented", "task.redirected"} <= actions
    timeline = clients["cw_a"].get(f"/cases/{reference}").text  # the caseworker reads them on the case page
    assert "请当日联系监护人" in timeline and "需调取监控" in timeline and "属龙桥辖区" in timeline
    assert f"→ {STATION_NAME}" in timeline


def test_the_same_unit_reads_the_information_the_caseworker_added(clients, session, register):
    task, reference = _police_task(session, register)
    officer, caseworker = clients["off_police_a"], clients["cw_a"]
    officer.post(f"/tasks/{task.id}/reject", data={"csrf_token": officer.csrf, "reason": "请补充监护人联系方式",
                                                   "rejection_kind": "need_more_information"})
    page = caseworker.get(f"/cases/{reference}").text
    assert 'name="reroute_note"' in page and "需补充信息" in page
    refused = caseworker.post(f"/tasks/{task.id}/reroute", data={"csrf_token": caseworker.csrf, "reroute_note": ""})
    assert refused.status_code == 400 and "补充信息" in refused.text
    assert caseworker.post(f"/tasks/{task.id}/reroute", data={
        "csrf_token": caseworker.csrf, "reroute_note": "父亲电话 13800000001"}).status_code == 303
    with session_scope() as s:  # what the flow does next (tests/flows/test_reroute_flow.py runs it for real)
        again = open_step_task(s, pathway_run_id=task.pathway_run_id, step_key=task.step_key, attempt=2)
        again_id, again_unit = again.id, again.unit_code
    assert again_unit == task.unit_code
    shown = officer.get(f"/tasks/{again_id}").text
    assert 'id="previous-rejection"' in shown and "父亲电话 13800000001" in shown and "需补充信息" in shown


def _between(text: str, start: str, end: str) -> str:
    """The part of ``text`` from ``start`` to the next ``end`` ("" when ``start`` is not there)."""
    at = text.find(start)
    return "" if at < 0 else text[at:text.index(end, at)]


def test_the_caseworker_reads_the_rejections_category_on_the_todo_list_and_in_the_timeline(clients, session, register):
    """The category the officer chose (退回原因类别) beside the officer's text, by its label in the reader's language:
    on /todo's 被退回 tab and on the rejected task's row of the case timeline; never the code."""
    task, reference = _police_task(session, register)
    officer, caseworker = clients["off_police_a"], clients["cw_a"]
    done = officer.post(f"/tasks/{task.id}/reject", data={"csrf_token": officer.csrf, "reason": "请补充监护人联系方式",
                                                          "rejection_kind": "need_more_information"})
    assert done.status_code == 303, done.text
    try:
        for lang, category in (("en", "More information needed"), ("zh", "需补充信息")):
            _shows_the_category(caseworker, task, reference, lang, category)
    finally:
        caseworker.get("/todo?lang=zh")  # the language is remembered in a cookie: the session's browser reads Chinese
    api = caseworker.get(f"/api/cases/{reference}", headers={"Accept-Language": "zh-CN"})
    assert api.status_code == 200, api.text
    [rejected] = [r for r in api.json()["timeline"] if r.get("task_id") == str(task.id)]
    assert (rejected["rejection_kind"], rejected["rejection_kind_label"]) == ("need_more_information", "需补充信息")
    with session_scope() as s:  # and the command line's timeline (careflow case timeline)
        timeline = case_timeline(s, reference, actor="test")
    assert "退回原因：需补充信息——请补充监护人联系方式" in format_timeline(timeline, "zh")
    assert "More information needed — 请补充监护人联系方式" in format_timeline(timeline, "en")


def _shows_the_category(caseworker, task, reference: str, lang: str, category: str) -> None:
    todo = caseworker.get(f"/todo?show=rejected&lang={lang}")
    card = _between(todo.text, f'data-task="{task.short_ref}"', "</a>")
    assert card, f"the rejected task is not on /todo ({lang})"
    assert re.search(rf'<span class="pill rejection-kind">{category}</span> 请补充监护人联系方式', card), card
    assert "need_more_information" not in todo.text
    case_page = caseworker.get(f"/cases/{reference}?lang={lang}")
    row = _between(case_page.text, f'id="task-{task.id}"', "</li>")
    assert re.search(rf'<span class="pill rejection-kind">{category}</span> 请补充监护人联系方式', row), row
    assert "need_more_information" not in case_page.text
