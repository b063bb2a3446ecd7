"""The escalation ladder moves by itself: each rung once, to the right people, across a holiday."""
import threading
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlmodel import select

from careflow.cases import create_pathway_run, open_case

from careflow.registration import register_child
from core.db import session_scope
from careflow.escalation import escalate_overdue_tasks
from careflow.step_tasks import open_step_task
from careflow.tasks import transition_task
from models.notification import Notification
from models.task import AgencyTask, Escalation, TaskState
from tests.factories import make_resident_id

SHANGHAI = timezone(timedelta(hours=8))


def at(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def police_task(database_url):
    """A police reprimand requested Wed 2026-09-30 10:00, the eve of National Day: ack by 12:00,
    act within 3 working days — Oct 1-7 are holidays and Sat Oct 10 is a working day, so due Oct 10 24:00."""
    with session_scope() as session:
        child = register_child(session, resident_id=make_resident_id(), full_name="阶梯测试", hukou_county="511321",
                               residence_county="350302", residence_area_code="350302001001",
                               arrival_date=date(2023, 8, 20), actor="ladder.caseworker").child
        case = open_case(session, child_id=child.id, caseworker="ladder.caseworker")
        run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="ladder.caseworker")
        session.flush()
        task = open_step_task(session, pathway_run_id=run.id, step_key="police_reprimand", now=at(2026, 9, 30, 10))
    return task.id


def rungs_of(task_id):
    with session_scope() as session:
        return {e.rung: e for e in session.exec(select(Escalation).where(Escalation.task_id == task_id)).all()}


def messages_of(task_id):
    with session_scope() as session:
        return sorted((n.event, n.unit_code) for n in session.exec(
            select(Notification).where(Notification.task_id == task_id, Notification.event != "task_requested")).all())


def fired_for(task_id, now):
    return sorted(rung for tid, rung in escalate_overdue_tasks(now) if tid == task_id)


def test_each_rung_fires_once_with_its_recipients_across_national_day(police_task):
    assert fired_for(police_task, at(2026, 9, 30, 11, 59)) == []
    assert fired_for(police_task, at(2026, 9, 30, 12, 1)) == ["ack_overdue"]
    assert fired_for(police_task, at(2026, 10, 5, 12)) == []           # mid-holiday: not yet 3/4 of the time
    assert fired_for(police_task, at(2026, 10, 8, 12)) == ["reminder"]
    assert fired_for(police_task, at(2026, 10, 10, 23, 59)) == []      # Saturday Oct 10 is a working day
    assert fired_for(police_task, at(2026, 10, 11, 0, 0, 30)) == ["deadline"]
    assert fired_for(police_task, at(2026, 10, 11, 23)) == []
    assert fired_for(police_task, at(2026, 10, 12, 0, 0, 30)) == ["overdue"]
    assert fired_for(police_task, at(2026, 10, 20)) == []              # nothing fires twice

    rungs = rungs_of(police_task)
    assert {name: sorted(map(tuple, e.recipients)) for name, e in rungs.items()} == {
        "ack_overdue": [("police-350302.supervisor", "supervisor")],
        "reminder": [("police-350302", "officer")],
        "deadline": [("caseworker.ladder.caseworker", "caseworker"), ("police-350302.supervisor", "supervisor")],
        "overdue": [("civil_affairs-350302.manager", "manager")],
    }
    assert messages_of(police_task) == sorted([
        ("task_escalated", "police-350302.supervisor"),
        ("task_reminder", "police-350302"),
        ("task_escalated", "police-350302.supervisor"),
        ("task_escalated", "caseworker.ladder.caseworker"),
        ("task_escalated", "civil_affairs-350302.manager"),
    ])
    with session_scope() as session:
        assert session.get(AgencyTask, police_task).escalation_level == 3


def test_an_answered_task_does_not_escalate(police_task):
    with session_scope() as session:
        task = session.get(AgencyTask, police_task)
        transition_task(session, task, TaskState.acknowledged, actor="民警", now=at(2026, 9, 30, 11))
    assert fired_for(police_task, at(2026, 9, 30, 13)) == []  # acknowledged in time: no ack rung
    with session_scope() as session:
        task = session.get(AgencyTask, police_task)
        transition_task(session, task, TaskState.completed, actor="民警",
                        outcome={"reprimanded": "yes", "family_education_ordered": "no", "child_unsafe": "no"})
    assert fired_for(police_task, at(2026, 10, 20)) == []


def test_two_sweeps_at_once_fire_each_rung_once(police_task):
    now = at(2026, 10, 12, 1)  # deadline and overdue both reached
    barrier = threading.Barrier(2)
    results, errors = [], []

    def sweep():
        try:
            barrier.wait()
            results.append(escalate_overdue_tasks(now))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    fired = sorted(rung for batch in results for tid, rung in batch if tid == police_task)
    assert fired == ["ack_overdue", "deadline", "overdue"]  # each once, whichever sweep fired it
    assert sorted(rungs_of(police_task)) == ["ack_overdue", "deadline", "overdue"]
    keys = [k for k in messages_of(police_task)]
    assert len(keys) == 4  # supervisor (ack), supervisor + caseworker (deadline), manager (overdue)


def test_next_rung_time_walks_the_ladder_across_national_day(police_task):
    """The time the sweeper keeps for the task is each rung's own, working-day overdue rung included."""
    from careflow.ladder import NO_MORE_RUNGS, load_ladder, next_rung_time

    with session_scope() as session:
        task = session.get(AgencyTask, police_task)
    assert task.next_rung_at == at(2026, 9, 30, 12)  # set when the task was opened: the acknowledgement time
    ladder, now = load_ladder(), task.requested_at
    # fire rung by rung, in time order
    expected = [("ack_overdue", at(2026, 9, 30, 12)), ("reminder", at(2026, 10, 8, 8, 29, 59, 250000)),
                ("deadline", at(2026, 10, 10, 23, 59, 59)), ("overdue", at(2026, 10, 11, 23, 59, 59))]
    fired = set()
    for name, when in expected:
        assert next_rung_time(task, ladder, fired, county_code="350302", now=now) == when, name
        fired.add(name)
    assert next_rung_time(task, ladder, fired, county_code="350302", now=now) == NO_MORE_RUNGS
    # a reminder whose window closed (the deadline passed) is never due; without a county there is no overdue rung
    assert next_rung_time(task, ladder, {"ack_overdue"}, county_code=None, now=at(2026, 10, 11)) == \
        at(2026, 10, 10, 23, 59, 59)
    assert next_rung_time(task, ladder, {"ack_overdue", "deadline"}, county_code=None, now=at(2026, 10, 11)) == \
        NO_MORE_RUNGS
