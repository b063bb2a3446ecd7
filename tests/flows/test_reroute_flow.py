"""Redirect instead of re-issue, end to end through a served guardianship flow (issue 12 item 5): the police
reject as "not ours" naming another station, which receives the next attempt and its message; "need more
information" waits for the caseworker's note and goes back to the same unit; a manager's redirect is followed."""
from __future__ import annotations

import asyncio
import time

import pytest

from careflow.answers import answer_task, settle_rejection
from core.db import session_scope
from careflow.resume import wait_until_suspended
from careflow.task_manage import redirect_task
from models.agency import AgencyUnit
from models.task import AgencyTask, TaskState
from tests.flows.support import complete, new_case, notifications_of, tasks_of, wait_for_task

SERIOUS = {"serious": "yes", "child_in_danger": "no"}


@pytest.fixture(autouse=True)
def _on_sqlite_only(database_url):
    """The flow's choice of the next attempt's unit reads the same rows on both databases; the conditional writes
    behind it run on both in tests/careflow/test_reroute.py and tests/web/test_reroute_pages.py. Once here keeps the
    suite under its time budget (each of these tests drives a served flow run for ~30 s)."""
    if database_url.startswith("postgresql"):
        pytest.skip("end-to-end reroute flows run once, on SQLite (their rules run on both databases elsewhere)")
STATION = "police-350302001"


def _station() -> str:
    with session_scope() as session:
        if session.get(AgencyUnit, STATION) is None:
            session.add(AgencyUnit(code=STATION, agency_type="police", jurisdiction_code="350302002",
                                   name="莆田市公安局城厢分局龙桥派出所"))
    return STATION


def _police(run_id, flow_run_id):
    complete(run_id, flow_run_id, "committee_admonition", SERIOUS)
    return wait_for_task(run_id, flow_run_id, "police_reprimand")


def test_police_reject_as_not_ours_naming_a_station_which_gets_the_step(served):
    station = _station()
    reference, run_id, flow_run_id = new_case()
    first = _police(run_id, flow_run_id)
    result = answer_task(first.short_ref, TaskState.rejected, actor="民警 陈强", unit_code=first.unit_code,
                         reason="请转龙桥派出所办理", rejection_kind="not_ours", reroute_unit=station)
    assert result.resume == "resumed"
    second = wait_for_task(run_id, flow_run_id, "police_reprimand", attempt=2)
    assert (first.unit_code, second.unit_code) == ("police-350302", station)
    sent = {(n.event, n.unit_code) for n in notifications_of(reference) if n.task_id == second.id}
    assert ("task_requested", station) in sent


def test_need_more_information_waits_for_the_caseworker_then_the_same_unit_gets_it(served):
    reference, run_id, flow_run_id = new_case()
    first = _police(run_id, flow_run_id)
    answer_task(first.short_ref, TaskState.rejected, actor="民警 陈强", unit_code=first.unit_code,
                reason="请补充监护人联系方式", rejection_kind="need_more_information")
    time.sleep(1.0)
    assert asyncio.run(wait_until_suspended(flow_run_id, timeout=60))
    assert [t.attempt for t in tasks_of(run_id) if t.step_key == "police_reprimand"] == [1]  # waits
    told = [n for n in notifications_of(reference) if n.task_id == first.id and n.recipient_role != "officer"]
    assert {(n.event, n.recipient_role) for n in told} == {("task_rejected", "caseworker"), ("task_rejected", "manager")}
    assert all(n.subject.startswith("【退回】") and n.subject.endswith("：需补充信息") for n in told)
    assert all("退回说明：请补充监护人联系方式" in n.body and "补充所需信息" in n.body for n in told)
    assert not any("督办" in n.subject + n.body or "办结时请填写" in n.body for n in told)
    assert settle_rejection(first.short_ref, actor="e2e.caseworker", note="监护人电话 138 0000 0000") == "resumed"
    second = wait_for_task(run_id, flow_run_id, "police_reprimand", attempt=2)
    assert second.unit_code == first.unit_code


def test_wrong_area_naming_no_unit_waits_for_the_caseworkers_choice(served):
    station = _station()
    reference, run_id, flow_run_id = new_case()
    first = _police(run_id, flow_run_id)
    answer_task(first.short_ref, TaskState.rejected, actor="民警 陈强", unit_code=first.unit_code,
                reason="不属本分局辖区", rejection_kind="wrong_area")
    time.sleep(1.0)
    assert asyncio.run(wait_until_suspended(flow_run_id, timeout=60))
    assert [t.attempt for t in tasks_of(run_id) if t.step_key == "police_reprimand"] == [1]  # waits for the choice
    assert settle_rejection(first.short_ref, actor="e2e.caseworker", unit_code=station) == "resumed"
    second = wait_for_task(run_id, flow_run_id, "police_reprimand", attempt=2)
    assert second.unit_code == station
    assert ("task_requested", station) in {(n.event, n.unit_code) for n in notifications_of(reference)
                                           if n.task_id == second.id}


def test_a_managers_redirect_is_followed_by_the_waiting_flow(served):
    reference, run_id, flow_run_id = new_case()
    first = wait_for_task(run_id, flow_run_id, "committee_admonition")
    other = "village_committee-350302002001"
    with session_scope() as session:
        new = redirect_task(session, session.get(AgencyTask, first.id), actor="mgr", unit_code=other,
                            reason="已搬至霞林社区")
        new_ref, new_id = new.short_ref, new.id
    result = answer_task(new_ref, TaskState.completed, actor="社区 李芳", unit_code=other, outcome=SERIOUS)
    assert result.resume == "resumed"
    police = wait_for_task(run_id, flow_run_id, "police_reprimand")
    assert police.unit_code == "police-350302"
    assert {t.id for t in tasks_of(run_id) if t.step_key == "committee_admonition"} == {first.id, new_id}
