"""Key care from any door (issue 13 item 3; 方案 一（二）, 七): registering a child, a report or a screening with a key
care ground opens the file (一人一档), its contact and visit duties and the family guardianship assessment at once,
once — also when the survey later lists the child —; the assessment is not opened again within a year; the survey's
set-based path and the single-child path decide and open the same."""
from __future__ import annotations

import datetime
from datetime import date

import pendulum
import pytest
from sqlmodel import select

from careflow.cases import create_pathway_run, open_case
from careflow.key_care import assessments_of, has_recent_assessment, open_key_care
from careflow.registration import register_child
from careflow.step_tasks import open_step_task
from careflow.survey.care_files import close_file
from careflow.survey.duties import file_duties
from careflow.survey.importer import import_survey
from careflow.tasks import transition_task
from core.db import session_scope
from models.child import Child
from models.deadlines import compute_deadline
from models.eligibility import KeyCareCriterion
from models.key_care_files import GuardianshipAssessment, KeyCareFile
from models.notification import Notification
from models.policy import load_policy
from models.task import AgencyTask, TaskState
from tests.factories import make_resident_id
from tests.survey.files import write_csv

#: This module's resident IDs: a (birthplace, birth date) pair no other test draws from.
BIRTH = ("511321", date(2020, 6, 16))
#: The survey round these tests import into 上杭县, and its day: a round no other test of that county uses, later than
#: the ones whose "previous round" tests read (tests/survey/test_rounds.py).
ROUND, DAY = "2033-04", date(2033, 5, 6)
NOW = datetime.datetime(2033, 5, 6, 9, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))
HEADER = ["姓名", "身份证号", "户籍地", "居住地（县区）", "村居代码", "来本地日期", "重点关爱情形"]
AREA = "350823100001"
ASSESSED = {"guardianship_missing_or_unsafe": False, "long_term_guardianship_needed": False, "note": "监护良好"}


def register(session, *, criteria=(), hukou="511321", name="关爱测试") -> Child:
    child = register_child(session, resident_id=make_resident_id(*BIRTH), full_name=name, hukou_county=hukou,
                           residence_county="350823", residence_area_code=AREA, arrival_date=date(2023, 8, 20),
                           actor="cw.test", key_care_criteria={KeyCareCriterion(c) for c in criteria}).child
    session.flush()
    return child


def shape(session, child_id):
    """What a user checks: the file (status, grounds, place, opening day), its duties (kind, period, unit, due) and
    the assessments (unit, state, due, rule, title) — or None without a file."""
    file = session.exec(select(KeyCareFile).where(KeyCareFile.child_id == child_id)).first()
    if file is None:
        return None, [], [(t.unit_code, t.state) for t in assessments_of(session, child_id)]
    duties = sorted((d.kind, d.period, t.unit_code, t.due_at, t.state) for t, d in file_duties(session, file.id))
    assessments = [(t.unit_code, t.state, t.due_at, t.deadline_text, t.title.split("（")[0])
                   for t in assessments_of(session, child_id)]
    return (file.status, file.criteria, file.county_code, file.area_code, file.opened_on), duties, assessments


def survey_file(tmp_path, name, rows):
    return write_csv(tmp_path / f"{name}.csv", [HEADER, *[[n, rid, hukou, "上杭县", AREA, "2023-08-20", kc]
                                                           for n, rid, hukou, kc in rows]])


def test_registering_a_key_care_target_opens_file_duties_and_assessment_once_even_when_the_survey_lists_it(
        database_url, tmp_path):
    with session_scope() as session:
        child = register(session, criteria=["missing_guardianship"])
        plain = register(session)
        outsider = register(session, criteria=["vagrancy"], hukou="350823")  # same county: not a migrant child
        child_id, plain_id, outsider_id, number = child.id, plain.id, outsider.id, child.resident_id
        requested = assessments_of(session, child_id)[0].requested_at
    with session_scope() as session:
        file, duties, assessments = shape(session, child_id)
        assert file[:4] == ("active", ["missing_guardianship"], "350823", AREA)
        assert sorted(kind for kind, *_ in duties) == ["contact", "visit"]
        assert {unit for _k, _p, unit, *_ in duties} == {f"village_committee-{AREA}"}
        step = load_policy().pathway("guardianship").step("guardianship_assessment")
        due = compute_deadline(pendulum.instance(requested), step.deadline).due_at
        assert assessments == [("civil_affairs-350823", TaskState.requested, due, "15 working days", "困境儿童家庭监护评估")]
        [task] = assessments_of(session, child_id)  # in the sweeper's index: its reminder comes before the deadline
        assert task.requested_at < task.next_rung_at < task.due_at and task.case_id is None
        [message] = session.exec(select(Notification).where(
            Notification.task_id == assessments_of(session, child_id)[0].id)).all()
        assert (message.event, message.unit_code) == ("task_requested", "civil_affairs-350823")
        assert "关爱测试" not in message.body and "KF-" in message.subject + message.body
        assert shape(session, plain_id) == (None, [], [])
        assert shape(session, outsider_id) == (None, [], [])  # the survey's rule: key care only for a migrant child
        before = shape(session, child_id)

    report = import_survey(survey_file(tmp_path, "later", [("关爱测试", number, "511321", "监护缺失")]),
                           county="350823", round_label=ROUND, today=DAY, now=NOW)
    assert (report.files["opened"], report.files["reopened"], report.duties["assessments"]) == (0, 0, 0)
    with session_scope() as session:
        file, duties, assessments = shape(session, child_id)
        assert file == before[0] and assessments == before[2]  # the same file, opened on registration; one assessment
        assert len(session.exec(select(KeyCareFile).where(KeyCareFile.child_id == child_id)).all()) == 1
        open_duties = sorted(kind for kind, _p, _u, _d, state in duties if state == TaskState.requested)
        assert open_duties == ["contact", "contact", "visit"]  # the round's month's contact added, nothing twice


def test_a_screening_showing_an_abnormality_opens_the_file_once(database_url):
    with session_scope() as session:
        child, calm = register(session), register(session)
        for who, result in ((child, "high_risk"), (calm, "normal")):
            case = open_case(session, child_id=who.id, caseworker="cw.test")
            session.flush()
            create_pathway_run(session, case_id=case.id, pathway="psychological_screening", actor="cw.test",
                               parameters={"screening_result": result, "screened_by": "school"})
        child_id, calm_id = child.id, calm.id
    with session_scope() as session:
        file, duties, assessments = shape(session, child_id)
        assert file[:2] == ("active", ["psychological_behavioural"])
        assert len(duties) == 2 and len(assessments) == 1
        assert session.get(Child, child_id).key_care_criteria == ["psychological_behavioural"]
        assert shape(session, calm_id) == (None, [], [])
        before = shape(session, child_id)
        case = open_case(session, child_id=child_id, caseworker="cw.test")  # a later screening: nothing twice
        session.flush()
        create_pathway_run(session, case_id=case.id, pathway="psychological_screening", actor="cw.test",
                           parameters={"screening_result": "at_risk"})
    with session_scope() as session:
        assert shape(session, child_id) == before


def test_the_assessment_opens_once_and_not_again_within_a_year(database_url):
    now = datetime.datetime.now(datetime.timezone.utc)
    with session_scope() as session:
        child = register(session, criteria=["family_hardship"])
        child_id = child.id
        [first] = assessments_of(session, child_id)
        file = session.exec(select(KeyCareFile).where(KeyCareFile.child_id == child_id)).one()
        with pytest.raises(ValueError, match="key_care_criteria"):  # a ground that is none: refused, nothing written
            open_key_care(session, child, ["lonely"], actor="cw.test", reason="报告")
        assert child.key_care_criteria == ["family_hardship"]
        # a report with another ground on the active file: grounds added, nothing opened again
        assert open_key_care(session, child, ["vagrancy"], actor="cw.test", reason="报告").action == "updated"
        assert len(assessments_of(session, child_id)) == 1
        # closed and reopened while the assessment is still open: none more
        close_file(session, file, "测试关闭", today=file.opened_on)
        assert open_key_care(session, session.get(Child, child_id), actor="cw.test", reason="再次").action == "reopened"
        assert [t.id for t in assessments_of(session, child_id)] == [first.id]
        task = session.get(AgencyTask, first.id)
        transition_task(session, task, TaskState.completed, actor="off.ca", outcome=ASSESSED, now=now)
        assert session.get(AgencyTask, first.id).outcome["note"] == "监护良好"

    for months, opens in ((11, False), (13, True)):
        later = pendulum.instance(now).add(months=months)
        with session_scope() as session:
            file = session.exec(select(KeyCareFile).where(KeyCareFile.child_id == child_id)).one()
            close_file(session, file, "测试关闭", today=later.date())
            opening = open_key_care(session, session.get(Child, child_id), actor="cw.test", reason="再次",
                                    today=later.date(), now=later)
            assert opening.action == "reopened"
            assert bool(opening.follow_up.assessments) is opens, months
            assert len(assessments_of(session, child_id)) == (2 if opens else 1)
            assert has_recent_assessment(session, child_id, now=later)


def test_an_assessment_done_in_a_guardianship_pathway_counts(database_url):
    """The guardianship pathway's own assessment step, completed for the child, also counts: a file opened
    after it opens no second assessment."""
    with session_scope() as session:
        child = register(session)
        case = open_case(session, child_id=child.id, caseworker="cw.test")
        session.flush()
        run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="cw.test")
        session.flush()
        task = open_step_task(session, pathway_run_id=run.id, step_key="guardianship_assessment")
        transition_task(session, task, TaskState.completed, actor="off.ca", outcome=ASSESSED)
        opening = open_key_care(session, child, ["missing_guardianship"], actor="cw.test", reason="报告")
        assert opening.action == "opened" and opening.follow_up.duties == 2
        assert opening.follow_up.assessments == [] and assessments_of(session, child.id) == []


def test_the_survey_and_the_single_child_door_agree(database_url, tmp_path):
    """The same children, once registered one by one and once listed by a survey (set-based), get the same: file,
    duties and assessment, or nothing (no ground; not a migrant child)."""
    kinds = [("甲", "511321", ["family_hardship"]), ("乙", "511321", ["disability", "vagrancy"]),
             ("丙", "511321", []), ("丁", "350823", ["missing_guardianship"])]
    words = {"family_hardship": "家庭生活困难", "disability": "自身残疾", "vagrancy": "流浪", "missing_guardianship": "监护缺失"}
    with session_scope() as session:  # the single-child door on the survey's day (registration calls it on today's)
        single = []
        for name, hukou, criteria in kinds:
            child = register(session, hukou=hukou, name=name)
            open_key_care(session, child, criteria, actor="cw.test", reason="登记", today=DAY, now=NOW)
            single.append(child.id)
    numbers = [make_resident_id(*BIRTH) for _ in kinds]
    report = import_survey(survey_file(tmp_path, "agree", [(n, rid, h, "、".join(words[c] for c in cs) or "无")
                                                           for (n, h, cs), rid in zip(kinds, numbers)]),
                           county="350823", round_label=ROUND, today=DAY, now=NOW)
    assert (report.files["opened"], report.duties["assessments"]) == (2, 2)
    with session_scope() as session:
        surveyed = [session.exec(select(Child.id).where(Child.resident_id == rid)).one() for rid in numbers]
        pairs = [(shape(session, a), shape(session, b)) for a, b in zip(single, surveyed)]
        for (name, *_), (one, other) in zip(kinds, pairs):
            assert one == other, name
        assert [bool(one[0]) for one, _ in pairs] == [True, True, False, False]
        links = session.exec(select(GuardianshipAssessment).where(GuardianshipAssessment.child_id.in_(surveyed))).all()
        assert len(links) == 2


def test_a_known_child_the_survey_finds_in_key_care_gets_what_a_report_would_give(database_url, tmp_path):
    """The survey's merge path (a child careflow knew, without a file) opens what the single-child door opens for
    the same ground recorded by a report."""
    with session_scope() as session:
        by_report, by_survey = register(session, name="戊"), register(session, name="己")
        open_key_care(session, by_report, ["disability"], actor="cw.test", reason="报告中列明重点关爱情形", today=DAY,
                      now=NOW)
        report_id, survey_id, number = by_report.id, by_survey.id, by_survey.resident_id
    report = import_survey(survey_file(tmp_path, "known", [("己", number, "511321", "自身残疾")]),
                           county="350823", round_label=ROUND, today=DAY, now=NOW)
    assert (report.files["opened"], report.duties["assessments"]) == (1, 1)
    with session_scope() as session:
        assert shape(session, report_id) == shape(session, survey_id)
        assert shape(session, survey_id)[0][:2] == ("active", ["disability"])
