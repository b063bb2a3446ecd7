"""Opening a step's task and answering it: closed-loop states, idempotency, audit."""
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from sqlmodel import select

from careflow.cases import create_pathway_run, open_case
from careflow.step_tasks import open_step_task
from careflow.task_lookup import find_task, list_open_tasks
from careflow.tasks import transition_task
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


def test_a_step_attempt_is_stored_once_while_duties_share_step_keys(session, pathway_run):
    """``uq_task_step_attempt`` keeps only tasks of a pathway run (migration 0025): a second row of the same run,
    step, agency and attempt is still refused; dated duties (no run) with the same step key are not its concern."""
    first = open_step_task(session, pathway_run_id=pathway_run.id, step_key="committee_admonition")
    columns = {c: getattr(first, c) for c in ("case_id", "pathway_run_id", "step_key", "attempt", "agency_type",
                                              "unit_code", "jurisdiction_code", "title", "due_at", "deadline_text")}
    with pytest.raises(sa.exc.IntegrityError), session.begin_nested():
        session.add(AgencyTask(**columns))
        session.flush()
    duties = [AgencyTask(**{**columns, "case_id": None, "pathway_run_id": None, "duty_key": f"duty:{i}"})
              for i in range(2)]
    session.add_all(duties)
    session.flush()
    assert session.exec(select(sa.func.count()).select_from(AgencyTask).where(
        sa.or_(AgencyTask.pathway_run_id == pathway_run.id, AgencyTask.id.in_([d.id for d in duties])))).one() == 3


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
    with pytest.raises(ValueError) as refused:
        transition_task(session, task, TaskState.rejected, actor="社区 王丽", reason="  ")
    assert refused.value.text("zh") == "退回原因：退回任务须说明原因"
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
    with pytest.raises(InvalidTransition, match="该任务已由 x 于 .*（北京时间）办结"):
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
    from core.db import get_engine

    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with get_engine(database_url).begin() as conn:
            conn.execute(sa.text("DELETE FROM audit_event"))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with get_engine(database_url).begin() as conn:
            conn.execute(sa.text("UPDATE audit_event SET actor = 'someone else'"))


def test_moving_many_tasks_moves_only_those_still_open_and_audits_each(session, pathway_run):
    """The bulk writer the survey uses (issue #15): one conditional UPDATE, one audit event per task it moved."""
    from careflow.tasks import move_tasks

    open_one = open_step_task(session, pathway_run_id=pathway_run.id, step_key="committee_admonition")
    acked = open_step_task(session, pathway_run_id=pathway_run.id, step_key="police_reprimand")
    transition_task(session, acked, TaskState.acknowledged, actor="民警陈强")
    answered = open_step_task(session, pathway_run_id=pathway_run.id, step_key="family_education_guidance")
    transition_task(session, answered, TaskState.rejected, actor="妇联 林芳", reason="不属本辖区")
    moved = move_tasks(session, [open_one.id, acked.id, answered.id], TaskState.cancelled, actor="careflow",
                       reason="儿童年满十六周岁", outcome={"cancel_reason": "儿童年满十六周岁"})
    assert sorted(moved, key=str) == sorted([open_one.id, acked.id], key=str)
    assert (open_one.state, acked.state, answered.state) == (TaskState.cancelled, TaskState.cancelled,
                                                             TaskState.rejected)
    assert open_one.outcome == {"cancel_reason": "儿童年满十六周岁"}
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "task.cancelled", AuditEvent.entity_id.in_(
        [str(t.id) for t in (open_one, acked, answered)]))).all()
    assert sorted((e.entity_id, e.detail["from"], e.reason) for e in events) == sorted([
        (str(open_one.id), "requested", "儿童年满十六周岁"), (str(acked.id), "acknowledged", "儿童年满十六周岁")])
    assert move_tasks(session, [open_one.id, acked.id], TaskState.cancelled, actor="careflow") == []  # replay


def test_moving_tasks_refuses_a_move_the_policy_does_not_allow(session, pathway_run):
    from careflow.tasks import move_tasks

    task = open_step_task(session, pathway_run_id=pathway_run.id, step_key="committee_admonition")
    with pytest.raises(InvalidTransition):
        move_tasks(session, [task.id], TaskState.requested, actor="careflow", from_states=[TaskState.completed])
    assert task.state == TaskState.requested


def test_a_move_not_allowed_is_worded_in_the_reader_s_language():
    from models.errors import error_text
    from models.task import check_transition

    with pytest.raises(InvalidTransition) as closed:
        check_transition(TaskState.completed, TaskState.requested)
    assert error_text(closed.value, "zh") == "任务状态「已办结」不能改为「待签收」：任务已结束"
    assert error_text(closed.value, "en") == "a task that is “Completed” cannot become “Requested”: it is closed"


def test_completing_many_tasks_records_who_and_when(session, pathway_run):
    from careflow.tasks import move_tasks

    task = open_step_task(session, pathway_run_id=pathway_run.id, step_key="committee_admonition")
    assert move_tasks(session, sa.select(AgencyTask.id).where(AgencyTask.id == task.id), TaskState.completed,
                      actor="survey-import", outcome={"import_id": 7}, now=EVE_OF_NATIONAL_DAY) == [task.id]
    assert (task.answered_by, task.answered_at, task.acknowledged_at, task.outcome) == (
        "survey-import", EVE_OF_NATIONAL_DAY, EVE_OF_NATIONAL_DAY, {"import_id": 7})


def test_a_case_closed_with_a_long_reason_keeps_500_characters(session, pathway_run):
    """``case.close_reason`` holds 500 characters: a longer reason is cut with "…", never refused (PostgreSQL)."""
    from careflow.cases import close_case
    from models.case import Case, CaseStatus

    task = open_step_task(session, pathway_run_id=pathway_run.id, step_key="committee_admonition")
    reason = "年满十六周岁" * 100
    assert close_case(session, pathway_run.case_id, reason, now=EVE_OF_NATIONAL_DAY, cancel_open_work=True)
    case = session.get(Case, pathway_run.case_id)
    assert case.status == CaseStatus.closed and len(case.close_reason) == 500 and case.close_reason.endswith("…")
    assert task.state == TaskState.cancelled and pathway_run.status == "cancelled"
    assert not close_case(session, pathway_run.case_id, "again")  # closed once
    assert len(session.exec(select(AuditEvent).where(AuditEvent.action == "case.closed",
                                                     AuditEvent.entity_id == str(case.id))).all()) == 1


def test_a_task_is_found_by_any_beginning_of_its_id_reading_only_that_range(database_url, session, pathway_run):
    """``careflow task …`` finds a task by its short reference, its whole id (dashes, capitals) or a beginning
    shared by two tasks (refused, naming both); the read is a range of the primary key, not every task."""
    from core.db import get_engine

    first = open_step_task(session, pathway_run_id=pathway_run.id, step_key="committee_admonition")
    second = open_step_task(session, pathway_run_id=pathway_run.id, step_key="police_reprimand")
    session.flush()
    statements = []
    engine = get_engine(database_url)
    listen = lambda conn, cursor, statement, *rest: statements.append(statement)  # noqa: E731
    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        assert find_task(session, first.short_ref).id == first.id
        assert find_task(session, str(first.id).upper()).id == first.id
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)
    reads = [s for s in statements if "FROM agency_task" in s]
    assert len(reads) == 2 and all("BETWEEN" in s for s in reads)
    shared = 0
    while first.id.hex[shared] == second.id.hex[shared]:
        shared += 1
    if shared >= 4:
        with pytest.raises(LookupError, match=second.short_ref):
            find_task(session, first.id.hex[:shared])
