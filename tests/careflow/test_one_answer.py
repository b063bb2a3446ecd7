"""Exactly one answer per task, one open pathway of a kind per case, answer texts checked when submitted (#16).

Concurrency is real: two threads, each with its own database session, as two officers or two clicks would be.
A barrier makes both read the task (or reach the insert) before either writes, so the database's conditional
update or unique index — not the order of the threads — decides who wins.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid

import pytest
from sqlmodel import select

from careflow.cases import PathwayAlreadyRunning, create_pathway_run, open_case
from core.db import session_scope
from careflow.step_tasks import open_step_task
from careflow.tasks import AnswerConflict, transition_task
from models.audit import AuditEvent
from models.case import PathwayRun, PathwayStatus
from models.task import AgencyTask, TaskState

NOT_SERIOUS = {"serious": "no", "child_in_danger": "no"}
SERIOUS = {"serious": "yes", "child_in_danger": "no"}


def _in_threads(*calls):
    """Run each call in its own thread after a common barrier; returns each one's result or exception."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, call):
        try:
            results[i] = call(barrier)
        except Exception as exc:  # noqa: BLE001 - the test asserts on it
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def _complete_after_reading(task_id, actor, outcome):
    def call(barrier):
        with session_scope() as s:
            task = s.get(AgencyTask, task_id)
            assert task.state == TaskState.requested  # both read the task before either wrote
            barrier.wait()
            transition_task(s, task, TaskState.completed, actor=actor, outcome=outcome)
            return task.answered_by
    return call


def _audits(task_id, action):
    with session_scope() as s:
        return s.exec(select(AuditEvent).where(AuditEvent.entity_id == str(task_id),
                                               AuditEvent.action == action)).all()


def test_two_concurrent_different_completions_one_wins_the_other_is_told_who_and_when(committee_task):
    task_id, run_id, _ = committee_task
    results = _in_threads(_complete_after_reading(task_id, "社区 王丽", NOT_SERIOUS),
                          _complete_after_reading(task_id, "社区 李强", SERIOUS))
    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if isinstance(r, Exception)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert isinstance(losers[0], AnswerConflict), repr(losers[0])
    assert f"该任务已由 {winners[0]} 于 " in str(losers[0]) and "（北京时间）办结" in str(losers[0])
    with session_scope() as s:
        task = s.get(AgencyTask, task_id)
        run = s.get(PathwayRun, run_id)
    assert task.answered_by == winners[0]
    assert task.outcome == ({"serious": False, "child_in_danger": False} if winners[0] == "社区 王丽"
                            else {"serious": True, "child_in_danger": False})
    assert len(_audits(task_id, "task.completed")) == 1
    assert run.answer_seq == 1 and run.resume_pending is True


def test_two_concurrent_identical_completions_are_one_answer_and_a_replay(committee_task):
    task_id, run_id, _ = committee_task
    results = _in_threads(_complete_after_reading(task_id, "社区 王丽", NOT_SERIOUS),
                          _complete_after_reading(task_id, "社区 王丽", NOT_SERIOUS))
    assert results == ["社区 王丽", "社区 王丽"], results
    assert len(_audits(task_id, "task.completed")) == 1
    with session_scope() as s:
        assert s.get(PathwayRun, run_id).answer_seq == 1


def test_a_double_submit_is_a_replay_and_a_different_later_answer_a_conflict(committee_task):
    task_id, _, _ = committee_task
    for _ in range(2):
        with session_scope() as s:
            task = transition_task(s, s.get(AgencyTask, task_id), TaskState.completed, actor="社区 王丽",
                                   outcome=dict(NOT_SERIOUS))
            assert task.state == TaskState.completed
    assert len(_audits(task_id, "task.completed")) == 1
    with session_scope() as s, pytest.raises(AnswerConflict, match="已由 社区 王丽 于 .*办结"):
        transition_task(s, s.get(AgencyTask, task_id), TaskState.rejected, actor="社区 李强", reason="非本社区")
    with session_scope() as s, pytest.raises(AnswerConflict, match="已由 社区 王丽 于 .*办结"):
        transition_task(s, s.get(AgencyTask, task_id), TaskState.completed, actor="社区 李强", outcome=SERIOUS)


def test_a_rejection_that_lost_to_an_acknowledgement_is_still_made(committee_task):
    """An acknowledgement is not an answer: a rejection read before it is made from the acknowledged state."""
    task_id, _, _ = committee_task
    with session_scope() as s:
        stale = s.get(AgencyTask, task_id)
        with session_scope() as other:
            transition_task(other, other.get(AgencyTask, task_id), TaskState.acknowledged, actor="社区 王丽")
        assert stale.state == TaskState.requested
        transition_task(s, stale, TaskState.rejected, actor="社区 王丽", reason="非本社区居民")
        assert stale.state == TaskState.rejected and stale.acknowledged_at is not None
    assert [len(_audits(task_id, a)) for a in ("task.acknowledged", "task.rejected")] == [1, 1]


def test_an_acknowledgement_after_someone_rejected_names_the_rejection(committee_task):
    task_id, _, _ = committee_task
    with session_scope() as s:
        transition_task(s, s.get(AgencyTask, task_id), TaskState.rejected, actor="社区 王丽", reason="非本社区居民")
    with session_scope() as s, pytest.raises(AnswerConflict, match="该任务已由 社区 王丽 于 .*退回"):
        transition_task(s, s.get(AgencyTask, task_id), TaskState.acknowledged, actor="社区 李强")


# --- answer texts checked when submitted ---------------------------------------------------------------------

def test_a_note_with_the_childs_name_or_id_is_refused_naming_the_field(committee_task):
    task_id, run_id, child = committee_task
    with session_scope() as s:
        task = s.get(AgencyTask, task_id)
        with pytest.raises(ValueError) as named:
            transition_task(s, task, TaskState.completed, actor="社区 王丽",
                            outcome={**NOT_SERIOUS, "note": f"已约谈{child.full_name}的父亲"})
        assert named.value.text("zh").startswith("情况说明：不能出现儿童姓名或身份证号：")
        with pytest.raises(ValueError) as numbered:
            transition_task(s, task, TaskState.rejected, actor="社区 王丽",
                            reason=f"身份证 {child.resident_id[:6]} {child.resident_id[6:]} 不在本社区")
        assert numbered.value.text("zh").startswith("退回原因：不能出现儿童姓名或身份证号：")
        assert numbered.value.text("en").startswith("Reason for rejecting: must not hold the child's name or ID")
        assert task.state == TaskState.requested
    with session_scope() as s:
        task = transition_task(s, s.get(AgencyTask, task_id), TaskState.completed, actor="社区 王丽",
                               outcome={**NOT_SERIOUS, "note": "已约谈该儿童的父亲"})
        assert task.outcome["note"] == "已约谈该儿童的父亲"
    assert len(_audits(task_id, "task.completed")) == 1
    with session_scope() as s:
        assert s.get(PathwayRun, run_id).answer_seq == 1


def test_lengths_and_control_characters_are_refused_naming_the_field(committee_task):
    task_id, _, _ = committee_task
    with session_scope() as s:
        task = s.get(AgencyTask, task_id)
        refusals = [
            (dict(target=TaskState.rejected, reason="长" * 1001), "退回原因：最多1000个字（现有1001个）"),
            (dict(target=TaskState.completed, outcome={**NOT_SERIOUS, "note": "长" * 501}), "情况说明：最多500个字（现有501个）"),
            (dict(target=TaskState.completed, outcome={**NOT_SERIOUS, "note": "已约\x00谈"}),
             "情况说明：含有不可见的控制字符（U+0000，第3个字），请删去后再提交"),
            (dict(target=TaskState.acknowledged, actor="王" * 65), "答复人：最多64个字（现有65个）"),
        ]
        for answer, refusal in refusals:
            with pytest.raises(ValueError) as refused:
                transition_task(s, task, answer.pop("target"), **{"actor": "社区 王丽", **answer})
            assert refused.value.text("zh") == refusal
        transition_task(s, task, TaskState.rejected, actor="社区 王丽", reason="长" * 1000 + "\n")
    with session_scope() as s:
        assert s.get(AgencyTask, task_id).rejection_reason == "长" * 1000


# --- one open pathway of a kind per case ---------------------------------------------------------------------

@pytest.fixture
def case_id(session, register):
    child = register().child
    case = open_case(session, child_id=child.id, caseworker="test.caseworker")
    session.commit()
    return case.id


def _start(case_id, pathway="guardianship", parameters=None, actor="test.caseworker"):
    def call(barrier):
        barrier.wait()
        with session_scope() as s:
            return create_pathway_run(s, case_id=case_id, pathway=pathway, actor=actor, parameters=parameters).id
    return call


def _open_runs(case_id):
    with session_scope() as s:
        return s.exec(select(PathwayRun).where(
            PathwayRun.case_id == case_id,
            PathwayRun.status.in_([PathwayStatus.starting, PathwayStatus.running]))).all()


def test_two_concurrent_starts_make_one_run_and_a_clear_refusal(case_id):
    results = _in_threads(_start(case_id, actor="cw.one"), _start(case_id, actor="cw.two"))
    runs = [r for r in results if isinstance(r, uuid.UUID)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(runs) == 1 and len(refused) == 1, results
    assert isinstance(refused[0], PathwayAlreadyRunning), repr(refused[0])
    message = str(refused[0])
    assert message.startswith("该个案的监护干预路径正在进行中（由 cw.") and message.endswith("结束后方可再次发起")
    assert f"路径运行 {runs[0].hex[:8]}" in message
    assert [r.id for r in _open_runs(case_id)] == runs
    with session_scope() as s:
        started = s.exec(select(AuditEvent).where(AuditEvent.case_id == case_id,
                                                  AuditEvent.action == "pathway.started")).all()
    assert len(started) == 1


def test_the_pathway_may_start_again_once_the_first_ended(case_id):
    first = _start(case_id)(threading.Barrier(1))
    with pytest.raises(PathwayAlreadyRunning), session_scope() as s:
        create_pathway_run(s, case_id=case_id, pathway="guardianship", actor="test.caseworker")
    for ended in (PathwayStatus.completed, PathwayStatus.failed, PathwayStatus.cancelled):
        with session_scope() as s:
            run = s.get(PathwayRun, first)
            run.status = ended
            s.add(run)
        first = _start(case_id)(threading.Barrier(1))
    assert [r.id for r in _open_runs(case_id)] == [first]
    # another pathway on the same case is a different kind
    _start(case_id, "temporary_assistance", {"emergency_area_code": "350302001"})(threading.Barrier(1))
    assert len(_open_runs(case_id)) == 2


def test_service_referrals_of_different_items_run_side_by_side_but_not_one_item_twice(case_id):
    _start(case_id, "service_referral", {"item": "18"})(threading.Barrier(1))
    _start(case_id, "service_referral", {"item": 13, "eligibility_override": "低保条件待核实"})(threading.Barrier(1))
    with pytest.raises(PathwayAlreadyRunning, match="该个案的清单第18项.*转介路径正在进行中"), session_scope() as s:
        create_pathway_run(s, case_id=case_id, pathway="service_referral", actor="x", parameters={"item": "018"})
    assert sorted(r.dedupe_key for r in _open_runs(case_id)) == ["service_referral:13", "service_referral:18"]


def test_a_refused_start_leaves_the_session_usable(session, case_id):
    create_pathway_run(session, case_id=case_id, pathway="guardianship", actor="x")
    session.commit()
    with pytest.raises(PathwayAlreadyRunning):
        create_pathway_run(session, case_id=case_id, pathway="guardianship", actor="x")
    session.commit()  # nothing half-written is left in the session
    assert len(_open_runs(case_id)) == 1


def test_an_onward_referral_to_a_pathway_already_running_is_recorded_pending(case_id):
    """Temporary assistance referring item 16 (guardianship) while a guardianship runs on the case: no crash,
    no second run; the referral is recorded as pending with the reason."""
    from flows.onward_referral import record_linked_pathway

    guardianship = _start(case_id)(threading.Barrier(1))
    assistance = _start(case_id, "temporary_assistance", {"emergency_area_code": "350302001"})(threading.Barrier(1))
    linked = record_linked_pathway(str(assistance), 16, "guardianship", {}, "careflow/onward_referral/test")
    assert linked.status == "pending" and "正在进行中" in linked.reason
    assert {r.id for r in _open_runs(case_id)} == {guardianship, assistance}


# --- the command line ----------------------------------------------------------------------------------------

def test_cli_a_different_second_answer_exits_1_naming_who_and_when(committee_task):
    from typer.testing import CliRunner

    from entry.cli import app

    task_id, _, _ = committee_task
    ref = task_id.hex[:8]
    args = ["task", "complete", ref, "--unit", "village_committee-350302001001"]
    first = CliRunner().invoke(app, args + ["--as", "社区 王丽", "--outcome", "serious=否", "--outcome",
                                            "child_in_danger=否"])
    assert first.exit_code == 0, first.output
    replay = CliRunner().invoke(app, args + ["--as", "社区 王丽", "--outcome", "serious=no", "--outcome",
                                             "child_in_danger=no"])
    assert replay.exit_code == 0, replay.output
    second = CliRunner().invoke(app, args + ["--as", "社区 李强", "--outcome", "serious=是", "--outcome",
                                             "child_in_danger=否"])
    assert second.exit_code == 1, second.output
    assert "该任务已由 社区 王丽 于 " in second.output and "办结" in second.output
    assert len(_audits(task_id, "task.completed")) == 1


def test_cli_starting_an_open_pathway_again_exits_1_and_creates_nothing(session, case_id):
    from typer.testing import CliRunner

    from entry.cli import app
    from models.case import Case

    first = _start(case_id)(threading.Barrier(1))
    reference = session.get(Case, case_id).reference
    result = CliRunner().invoke(app, ["pathway", "start", "--case", reference, "--pathway", "guardianship",
                                      "--as", "cw.two"])
    assert result.exit_code == 1, result.output
    assert "该个案的监护干预路径正在进行中" in result.output and first.hex[:8] in result.output
    english = subprocess.run([sys.executable, "-m", "entry.cli", "pathway", "start", "--case", reference, "--pathway",
                              "guardianship", "--as", "cw.two"], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "CAREFLOW_LANG": "en"})  # was the Chinese refusal
    assert english.returncode == 1 and english.stderr.startswith(
        "error: This case already has the pathway “Guardianship intervention, from warning to police report” "
        "running (started by ") and f"pathway run {first.hex[:8]}): start it again once it has ended" in english.stderr
    assert [r.id for r in _open_runs(case_id)] == [first]


def test_a_start_parameter_text_is_at_most_500_characters(case_id):
    with pytest.raises(ValueError) as refused, session_scope() as s:
        create_pathway_run(s, case_id=case_id, pathway="service_referral", actor="x",
                           parameters={"item": 18, "note": "长" * 501})
    assert (refused.value.text("zh"), refused.value.text("en")) == (
        "情况说明：最多500个字（现有501个）", "Note: at most 500 characters (this has 501)")
    assert _open_runs(case_id) == []


def test_a_resume_clears_the_pending_flag_only_if_no_answer_came_since(committee_task):
    """The resume read answer_seq 0; an answer stored meanwhile (seq 1) keeps its flag for the sweeper."""
    from careflow.resume import _clear_pending

    task_id, run_id, _ = committee_task
    with session_scope() as s:
        transition_task(s, s.get(AgencyTask, task_id), TaskState.completed, actor="社区 王丽", outcome=NOT_SERIOUS)
    _clear_pending(run_id, 0)
    with session_scope() as s:
        assert s.get(PathwayRun, run_id).resume_pending is True
    _clear_pending(run_id, 1)
    with session_scope() as s:
        assert s.get(PathwayRun, run_id).resume_pending is False


def test_two_concurrent_completions_of_a_contact_duty_record_one_contact(session, register):
    """A child director's contact duty (a task without a pathway) completed twice at once: one contact."""
    from careflow.survey.care_files import complete_duty
    from careflow.survey.duties import ensure_duties, today_local
    from models.key_care_files import CareContact, FileStatus, KeyCareFile

    child = register().child
    today = today_local()
    file = KeyCareFile(child_id=child.id, county_code="350302", area_code="350302001001",
                       criteria=["family_hardship"], status=FileStatus.active.value, opened_on=today.replace(day=1))
    session.add(file)
    session.flush()
    file_id = file.id
    contact_id = next(t for t, key in ensure_duties(session, [file_id], today=today).created
                      if key.startswith("contact:"))
    session.commit()

    def complete(actor):
        def call(barrier):
            with session_scope() as s:
                task = s.get(AgencyTask, contact_id)
                barrier.wait()
                complete_duty(s, task, actor=actor, outcome={"note": "电话联系"})
                return actor
        return call

    results = _in_threads(complete("主任 甲"), complete("主任 乙"))
    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if isinstance(r, Exception)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert isinstance(losers[0], AnswerConflict) and f"已由 {winners[0]} 于 " in str(losers[0])
    with session_scope() as s:
        contacts = s.exec(select(CareContact).where(CareContact.file_id == file_id)).all()
        assert [c.recorded_by for c in contacts] == winners
        with pytest.raises(AnswerConflict, match="办结"):
            complete_duty(s, s.get(AgencyTask, contact_id), actor="主任 丙", outcome={})


def test_answers_to_two_tasks_of_one_run_at_once_count_twice(session, register):
    """The police and the rescue centre answer at the same moment: answer_seq counts both (bumped in SQL)."""
    child = register().child
    case = open_case(session, child_id=child.id, caseworker="test.caseworker")
    run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="test.caseworker")
    session.flush()
    committee = open_step_task(session, pathway_run_id=run.id, step_key="committee_admonition").id
    police = open_step_task(session, pathway_run_id=run.id, step_key="police_reprimand").id
    session.commit()
    police_answer = {"reprimanded": "yes", "family_education_ordered": "no", "child_unsafe": "no"}
    results = _in_threads(_complete_after_reading(committee, "社区 王丽", NOT_SERIOUS),
                          _complete_after_reading(police, "民警 陈强", police_answer))
    assert results == ["社区 王丽", "民警 陈强"], results
    with session_scope() as s:
        assert s.get(PathwayRun, run.id).answer_seq == 2


def test_a_contact_duty_completed_just_before_is_a_conflict_saying_who(session, register):
    """The loser of two completions of a contact duty may read the file's duties only after the winner committed
    (the next month's duty already open): it is told who completed it (AnswerConflict), as when both raced to the
    UPDATE — not an internal error (the concurrent test above failed so, now and then, on a loaded machine)."""
    from careflow.survey.care_files import complete_duty
    from careflow.survey.duties import ensure_duties, today_local
    from models.key_care_files import CareContact, FileStatus, KeyCareFile

    child = register().child
    today = today_local()
    file = KeyCareFile(child_id=child.id, county_code="350302", area_code="350302001001",
                       criteria=["family_hardship"], status=FileStatus.active.value, opened_on=today.replace(day=1))
    session.add(file)
    session.flush()
    file_id = file.id
    contact_id = next(t for t, key in ensure_duties(session, [file_id], today=today).created
                      if key.startswith("contact:"))
    session.commit()
    with pytest.raises(AnswerConflict, match="已由 主任 甲 于 "), session_scope() as late:
        stale = late.get(AgencyTask, contact_id)  # read while the duty was still open
        assert stale.state == TaskState.requested
        with session_scope() as first:
            complete_duty(first, first.get(AgencyTask, contact_id), actor="主任 甲", outcome={"note": "电话联系"})
        complete_duty(late, stale, actor="主任 乙", outcome={"note": "电话联系"})
    with session_scope() as s:
        contacts = s.exec(select(CareContact).where(CareContact.file_id == file_id)).all()
        assert [c.recorded_by for c in contacts] == ["主任 甲"]
