"""Every template and page with every enumerated value (issue 12: "a test renders every template and page with every
enumerated value and finds no untranslated key").

One case holds, for each pathway of the policy, runs that together use every option of its start parameters, in
every pathway status; each run holds, for each step, tasks whose answers together use every option of every field
(yes and no, each choice, an amount, items and 无需转介), and tasks in every other task state. Then the caseworker's
case page, the manager's page of every task and its printable letter, every message event about every task, and
the printed timeline must read Chinese: no raw value, no catalogue key, no English error or prose
(:func:`tests.web.chinese.leaks`).
"""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from careflow.cases import create_pathway_run, open_case

from careflow.registration import register_child
from careflow.step_tasks import open_step_task
from careflow.timeline import case_timeline, format_timeline
from core.db import session_scope
from models.case import PathwayStatus
from models.policy import load_policy
from models.task import AgencyTask, TaskState
from notifications.render import EVENTS
from tests.factories import make_resident_id
from tests.web.chinese import leaks
from tests.web.conftest import WEB_ID_SPACE

#: A value of each non-choice type, as a person types it (two alternatives, used in turn).
TYPED = {"bool": ("yes", "no"), "text": ("已上门核实，情况属实", "电话回访"), "amount": ("800", "1500"),
         "service_items": ("6,17", "无需转介"), "service_item": ("6", "13"), "area": ("350302001001", "350302001"),
         "date": ("2026-03-04", "2026年4月1日")}
#: Task states other than completed, each given to one extra task of every run.
OTHER_STATES = [s for s in TaskState if s is not TaskState.completed]


def _value(field, turn: int) -> str:
    options = field.options or TYPED[field.type]
    return options[turn % len(options)]


def _turns(fields) -> int:
    return max([len(f.options or TYPED[f.type]) for f in fields] or [1])


@pytest.fixture(scope="module")
def every_value(world) -> dict:
    """The case reference and the ids of its tasks."""
    policy = load_policy()
    now = datetime.now(timezone.utc)
    # ended runs only: a running one without a flow run would be restarted by a served stack's sweeper (the
    # running states are shown by the pages of test_chinese_first and test_browser)
    statuses = [PathwayStatus.completed, PathwayStatus.failed, PathwayStatus.cancelled]
    with session_scope() as session:
        reg = register_child(session, resident_id=make_resident_id(*WEB_ID_SPACE["world"]),
                             # registered in 上杭县 (in the directory): the registration-place steps of items 10,
                             # 13, 14 go there, every other step to 城厢区
                             full_name=f"取值{uuid.uuid4().hex[:4]}", hukou_county="350823",
                             residence_county="350302", residence_area_code="350302001001",
                             arrival_date=date(2023, 8, 20), actor="fixture")
        session.flush()
        case = open_case(session, child_id=reg.child.id, caseworker="fixture", summary="每个取值")
        # a pathway an agency starts (the misconduct notice, 方案 十一) on a case of its own: caseworkers never see it
        notice = open_case(session, child_id=reg.child.id, caseworker="fixture", summary="通报取值")
        session.flush()
        tasks: list[uuid.UUID] = []
        runs = 0
        for name, pathway in policy.pathways.items():
            for turn in range(_turns(pathway.start_parameters)):
                parameters = {f.name: _value(f, turn) for f in pathway.start_parameters}
                if name == "temporary_assistance":  # where the emergency happened (a code the form resolves)
                    parameters["emergency_area_code"] = "350302001001"
                if name == "misconduct_notice":
                    parameters["conduct_on"] = "2026-11-20"
                by_agency = pathway.started_by_agencies
                run = create_pathway_run(session, case_id=notice.id if by_agency else case.id, pathway=name,
                                         actor="fixture", parameters=parameters,
                                         starting_unit="police-350302" if by_agency else "")
                run.status = statuses[runs % len(statuses)]
                run.outcome = "路径已结束"
                runs += 1
                session.flush()
                attempt = 1
                for step in pathway.steps:
                    for answer_turn in range(_turns(step.outcome)):
                        raw = {f.name: _value(f, answer_turn) for f in step.outcome}
                        task = open_step_task(session, pathway_run_id=run.id, step_key=step.key, attempt=attempt)
                        attempt += 1
                        task.state, task.outcome = TaskState.completed, step.validate_outcome(raw)
                        task.answered_at, task.answered_by = now - timedelta(minutes=5), "fixture"
                        tasks.append(task.id)
                    for state in OTHER_STATES if turn == 0 else []:
                        task = open_step_task(session, pathway_run_id=run.id, step_key=step.key, attempt=attempt)
                        attempt += 1
                        task.state = state
                        if state is TaskState.rejected:
                            task.rejection_reason, task.answered_at = "非本单位职责", now
                        tasks.append(task.id)
                session.flush()
        return {"reference": case.reference, "notice_reference": notice.reference, "tasks": tasks}


def test_the_case_page_shows_every_value_by_its_label(clients, every_value):
    page = clients["cw_a1"].get(f"/cases/{every_value['reference']}")
    assert page.status_code == 200
    assert leaks(page.text) == []
    notice = clients["mgr_a"].get(f"/cases/{every_value['notice_reference']}")  # the notice's case: managers
    assert notice.status_code == 200 and leaks(notice.text) == []
    assert clients["cw_a1"].get(f"/cases/{every_value['notice_reference']}").status_code == 404


def test_every_task_page_and_letter_shows_every_value_by_its_label(clients, world, every_value):
    from notifications.letters import page_text, referral_letter

    officers = {world.person(key).unit: key for key in ("off_vc_a1", "off_police_a")}
    with session_scope() as session:
        units = {t: session.get(AgencyTask, t).unit_code for t in every_value["tasks"]}
    for task_id in every_value["tasks"]:  # the manager's page (with its forms), the unit's page and letter
        paths = [("mgr_a", f"/tasks/{task_id}")]
        if units[task_id] in officers:
            paths += [(officers[units[task_id]], f"/tasks/{task_id}"), (officers[units[task_id]],
                                                                          f"/tasks/{task_id}/letter")]
        for who, path in paths:
            page = clients[who].get(path)
            assert page.status_code == 200, (who, path)
            assert leaks(page.text) == [], (who, path, leaks(page.text))
    with session_scope() as session:  # the letter of every task, as `careflow task letter` prints it
        for task_id in every_value["tasks"]:
            text = page_text(referral_letter(session, session.get(AgencyTask, task_id), lang="zh"))
            assert leaks(text) == [], (task_id, leaks(text))


def test_every_message_about_every_task_reads_chinese(every_value):
    from notifications.messages import describe_outcome, task_message_context
    from notifications.render import render_message

    with session_scope() as session:
        for task_id in every_value["tasks"]:
            task = session.get(AgencyTask, task_id)
            summary = describe_outcome(session, task) if task.outcome else ""
            for event in EVENTS:
                for role in ("officer", "caseworker"):
                    message = render_message(task_message_context(session, task, event, role=role,
                                                                  outcome_summary=summary), "zh")
                    text = f"{message.subject}\n{message.body}"
                    assert leaks(text) == [], (event, role, task.step_key, leaks(text))


def test_the_printed_timeline_shows_every_value_by_its_label(every_value):
    with session_scope() as session:
        for reference in (every_value["reference"], every_value["notice_reference"]):
            text = format_timeline(case_timeline(session, reference, actor="test"))
            assert leaks(text) == []
