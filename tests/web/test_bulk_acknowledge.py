"""Bulk acknowledge in the officer's inbox (issue 12, 批量签收): the tasks awaiting acknowledgement carry a tick box;
the ticked ones are acknowledged at once, each as its own conditional answer; one answered meanwhile or not the
unit's is skipped and counted, never half-done."""
from __future__ import annotations

from sqlmodel import select

from careflow.tasks import transition_task
from core.db import session_scope
from models.audit import AuditEvent
from models.task import AgencyTask, TaskState
from tests.web.chinese import leaks
from tests.web.test_reroute_pages import _police_task


def _state(task_id) -> TaskState:
    with session_scope() as s:
        return s.get(AgencyTask, task_id).state


def test_an_officer_acknowledges_the_ticked_tasks_at_once(clients, world, session, register):
    officer = clients["off_police_a"]
    fresh = [_police_task(session, register) for _ in range(3)]
    answered, reference = _police_task(session, register)
    with session_scope() as s:  # a colleague completed this one after the page was loaded
        task = s.get(AgencyTask, answered.id)
        transition_task(s, task, TaskState.acknowledged, actor="colleague")
        transition_task(s, task, TaskState.completed, actor="colleague",
                        outcome={"reprimanded": "yes", "family_education_ordered": "no", "child_unsafe": "no"})
    other_unit = clients["off_vc_a1"]

    inbox = officer.get("/inbox", params={"q": fresh[0][1]})
    assert f'name="task" value="{fresh[0][0].id}"' in inbox.text and 'id="bulk-acknowledge"' in inbox.text
    assert leaks(inbox.text) == []
    assert 'id="bulk-acknowledge"' not in other_unit.get("/inbox", params={"q": fresh[0][1]}).text

    ticked = [str(t.id) for t, _ in fresh] + [str(answered.id), "not-a-task"]
    response = officer.post("/inbox/acknowledge", data={"task": ticked, "csrf_token": officer.csrf},
                            follow_redirects=True)
    assert response.status_code == 200
    assert "已签收 3 项任务。" in response.text and "另有 2 项未签收" in response.text
    assert [_state(t.id) for t, _ in fresh] == [TaskState.acknowledged] * 3
    assert _state(answered.id) == TaskState.completed
    with session_scope() as s:
        for task, _ in fresh:
            events = s.exec(select(AuditEvent).where(AuditEvent.entity_id == str(task.id),
                                                     AuditEvent.action == "task.acknowledged")).all()
            assert [e.actor for e in events] == [world.person("off_police_a").username]

    # the village committee's officer cannot acknowledge the police's tasks by ticking their ids
    again = [_police_task(session, register)[0]]
    refused = other_unit.post("/inbox/acknowledge", data={"task": [str(again[0].id)], "csrf_token": other_unit.csrf},
                              follow_redirects=True)
    assert "已签收 0 项任务。" in refused.text and _state(again[0].id) == TaskState.requested
