"""Opening a step's task and answering it: closed-loop states, idempotency, audit."""
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from sqlmodel import select

from careflow.cases import create_pathway_run, open_case
from careflow.tasks import find_task, list_open_tasks, open_step_task, transition_task
from models.audit import AuditEvent
from models.task import AgencyTask, InvalidTransition, TaskState

# Wednesday 30 September 2026, 10:00 in Shanghai: the eve of the National Day holiday.
EVE_OF_NATIONAL_DAY = datetime(2026, 9, 30, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def pathway_run(session, register):
    child = register().child
    case = open_case(session, child_id=child.id, caseworker="test.caseworker")
    run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="test.caseworker")
    session.flush()
    return run


def test_police_task_goes_to_the_county_police_with_its_deadlines(session, pathway_run):
    task = open_step_task(session, pathway_run_id=pathway_run.id, step_key="police_reprimand", now=EVE_OF_NATIONAL_DAY)
    assert task.unit_code == "police-350302"
    # acknowledge within 2 hours; reprimand within 3 working days: Oct 1-7 are holidays and Sat Oct 10 is
    # an adjusted working day, so the third working day after Sep 30 is Sat Oct 10.
    assert task.ack_due_at == datetime(2026, 9, 30, 4, 0, tzinfo=timezone.utc)
    assert task.due_at.astimezone(timezone.utc) == datetime(2026, 10, 10, 15, 59, 59, tzinfo=timezone.utc)
    assert task.due_provisional is False
    assert task.state == TaskState.requested


def test_opening_a_step_twice_returns_the_same_task(session, pathway_run):
    first = open_step_task(session, pathway_run_id=pathway_run.id, step_key="committee_admonition")
    again = open_step_task(session, pathway_run_id=pathway_run.id, step_key="committee_admonition")
    assert again.id == first.id
    rows = session.exec(select(AgencyTask).where(AgencyTask.pathway_run_id == pathway_run.id)).all()
    assert len(rows) == 1
    audits = session.exec(select(AuditEvent).where(AuditEvent.entity_id == str(first.id),
                                                   AuditEvent.action == "task.requested")).all()
    assert len(audits) == 1


def test_a_2027_deadline_is_stored_as_provisional(session, pathway_run):
    task = open_step_task(session, pathway_run_id=pathway_run.id, step_key="guardianship_assessment",
                          now=datetime(2027, 1, 4, 2, 0, tzinfo=timezone.utc))
    assert task.due_provisional is True


def test_closed_loop_records_who_when_why(session, pathway_run):
    task = open_step_task(session, pathway_run_id=pathway_run.id, step_key="committee_admonition")
    transition_task(session, task, TaskState.acknowledged, actor="社区 王丽")
    transition_task(session, task, TaskState.completed, actor="社区 王丽",
                    outcome={"serious": "yes", "child_in_danger": "no"})
    assert task.state == TaskState.completed
    assert task.outcome["serious"] is True and task.outcome["child_in_danger"] is False
    assert task.answered_by == "社区 王丽" and task.acknowledged_at is not None
    assert pathway_run.resume_pending is True and pathway_run.answer_seq == 1
    actions = [e.action for e in session.exec(
        select(AuditEvent).where(AuditEvent.entity_id == str(task.id)).order_by(AuditEvent.id)).all()]
    assert actions == ["task.requested", "task.acknowledged", "task.completed"]


def test_rejection_needs_a_reason(session, pathway_run):
    task = open_step_task(session, pathway_run_id=pathway_run.id, step_key="committee_admonition")
    with pytest.raises(ValueError, match="field 'reason'"):
        transition_task(session, task, TaskState.rejected, actor="社区 王丽", reason="  ")
    assert task.state == TaskState.requested
    transition_task(session, task, TaskState.rejected, actor="社区 王丽", reason="非本社区居民")
    assert task.rejection_reason == "非本社区居民"


def test_missing_outcome_field_is_named(session, pathway_run):
    task = open_step_task(session, pathway_run_id=pathway_run.id, step_key="committee_admonition")
    with pytest.raises(ValueError, match="child_in_danger"):
        transition_task(session, task, TaskState.completed, actor="x", outcome={"serious": "yes"})
    assert task.state == TaskState.requested


def test_a_closed_task_cannot_be_answered_again(session, pathway_run):
    task = open_step_task(session, pathway_run_id=pathway_run.id, step_key="committee_admonition")
    transition_task(session, task, TaskState.completed, actor="x", outcome={"serious": "no", "child_in_danger": "no"})
    with pytest.raises(InvalidTransition, match="'completed' cannot become 'rejected'"):
        transition_task(session, task, TaskState.rejected, actor="x", reason="oops")


def test_unit_sees_its_open_tasks_soonest_first_and_only_its_own(session, pathway_run):
    committee = open_step_task(session, pathway_run_id=pathway_run.id, step_key="committee_admonition")
    police = open_step_task(session, pathway_run_id=pathway_run.id, step_key="police_reprimand")
    session.flush()
    listed = list_open_tasks(session, "police-350302")
    assert police.id in [t.id for t in listed]
    assert [t.due_at for t in listed] == sorted(t.due_at for t in listed)  # soonest deadline first
    assert committee.id not in [t.id for t in listed]
    assert find_task(session, police.short_ref, "police-350302").id == police.id
    with pytest.raises(LookupError):
        find_task(session, committee.short_ref, "police-350302")


def test_audit_trail_refuses_updates_and_deletes(database_url, session, pathway_run):
    session.commit()
    from careflow.db import get_engine

    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with get_engine(database_url).begin() as conn:
            conn.execute(sa.text("DELETE FROM audit_event"))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with get_engine(database_url).begin() as conn:
            conn.execute(sa.text("UPDATE audit_event SET actor = 'someone else'"))
