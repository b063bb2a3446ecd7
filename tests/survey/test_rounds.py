"""Two rounds, two counties: a child who moved takes the case and the duties along and the new county is told;
the changes since the previous round list arrivals, moves, age-outs and children no longer found."""
from __future__ import annotations

import datetime

from sqlmodel import select

from careflow.cases import create_pathway_run, open_case
from core.db import session_scope
from careflow.survey.changes import round_changes
from careflow.survey.importer import import_survey
from careflow.step_tasks import open_step_task
from models.case import Case, CaseStatus
from models.child import Child
from models.key_care_files import KeyCareDuty, KeyCareFile
from models.notification import Notification
from models.task import AgencyTask, TaskState
from tests.survey.files import SHANGHAI, rid, write_csv

D = datetime.date
HEADER = ["姓名", "身份证号", "户籍地", "居住地（县区）", "居住地乡镇/村居代码", "来本地日期", "重点关爱情形"]


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=SHANGHAI)


def row(name, number, area, key_care="", hukou="511321", county=None):
    return [name, number, hukou, county or area[:6], area, "2022-03-01", key_care]


def test_a_child_who_moved_takes_case_and_duties_to_the_new_county(database_url, tmp_path):
    a, b, c = rid("511321", D(2015, 3, 15)), rid("511321", D(2016, 4, 1)), rid("511321", D(2014, 2, 2))
    d, e = rid("511321", D(2011, 6, 15)), rid("511321", D(2017, 8, 8))  # d is 16 from 2027-06-16

    # April 2027 in 城厢区: a (key care), b, c, d
    april = write_csv(tmp_path / "chengxiang-2027-04.csv", [HEADER, row("甲迁移", a, "350302001001", "监护缺失"),
                      row("乙留下", b, "350302001001"), row("丙不见", c, "350302002001"),
                      row("丁满龄", d, "350302001001")])
    first = import_survey(april, county="350302", round_label="2027-04", today=D(2027, 5, 5), now=at(2027, 5, 5, 9))
    assert first.counts["inserted"] == 4 and first.files["opened"] == 1

    with session_scope() as session:
        child_a = session.exec(select(Child).where(Child.resident_id == a)).one()
        child_d = session.exec(select(Child).where(Child.resident_id == d)).one()
        case_a = open_case(session, child_id=child_a.id, caseworker="cx.worker")
        case_d = open_case(session, child_id=child_d.id, caseworker="cx.worker")
        session.flush()
        run = create_pathway_run(session, case_id=case_a.id, pathway="guardianship", actor="cx.worker")
        session.flush()
        police = open_step_task(session, pathway_run_id=run.id, step_key="police_reprimand", now=at(2027, 5, 6, 10))
        assert police.unit_code == "police-350302"
        case_a_ref, case_d_ref, police_id = case_a.reference, case_d.reference, police.id
        file_id = session.exec(select(KeyCareFile.id).where(KeyCareFile.child_id == child_a.id)).one()

    # October 2027: 上杭县 finds a in 临城镇城西村
    shanghang = write_csv(tmp_path / "shanghang-2027-10.csv", [HEADER, row("甲迁移", a, "350823100001", "监护缺失")])
    moved = import_survey(shanghang, county="350823", round_label="2027-10", today=D(2027, 11, 3),
                          now=at(2027, 11, 3, 9), collect_rows=True)
    assert [(o.line, o.fate, o.note) for o in moved.rows] == [(2, "updated", "moved from 350302")]
    [relocation] = moved.relocations
    assert (relocation.from_county, relocation.to_county, relocation.cases) == ("350302", "350823", [case_a_ref])
    assert relocation.notified == ["civil_affairs-350823"]

    with session_scope() as session:
        assert session.exec(select(Case).where(Case.reference == case_a_ref)).one().county_code == "350823"
        task = session.get(AgencyTask, police_id)
        assert (task.unit_code, task.state) == ("police-350823", TaskState.requested)
        duties = session.exec(select(AgencyTask, KeyCareDuty).join(KeyCareDuty, KeyCareDuty.task_id == AgencyTask.id)
                              .where(KeyCareDuty.file_id == file_id, AgencyTask.state == TaskState.requested)).all()
        assert sorted((duty.kind, duty.period, t.unit_code) for t, duty in duties) == [
            ("contact", "2027-05", "village_committee-350823100001"),   # overdue, handed over as it is
            ("contact", "2027-11", "village_committee-350823100001"),   # this month's, opened by the import
            ("visit", "2027-08-05", "village_committee-350823100001"),  # overdue visit, handed over
        ]
        file = session.get(KeyCareFile, file_id)
        assert (file.county_code, file.area_code, file.status) == ("350823", "350823100001", "active")
        message = session.exec(select(Notification).where(Notification.unit_code == "civil_affairs-350823",
                                                          Notification.event == "survey_transfer")).one()
        assert case_a_ref in message.body and file.reference in message.body
        assert "甲迁移" not in message.body and a not in message.body and a[:17] not in message.body
        assert session.exec(select(Notification).where(Notification.task_id == police_id,
                                                       Notification.unit_code == "police-350823")).first()

    # October 2027 in 城厢区: b stays, c is gone, d is 16, e arrives; a is not listed any more
    october = write_csv(tmp_path / "chengxiang-2027-10.csv", [HEADER, row("乙留下", b, "350302001001"),
                        row("丁满龄", d, "350302001001"), row("戊新来", e, "350302002001")])
    second = import_survey(october, county="350302", round_label="2027-10", today=D(2027, 11, 4),
                           now=at(2027, 11, 4, 9))
    assert second.cases_closed_aged_out == [case_d_ref]
    with session_scope() as session:
        case_d = session.exec(select(Case).where(Case.reference == case_d_ref)).one()
        assert case_d.status == CaseStatus.closed and "aged out at 16" in case_d.close_reason
        changes = round_changes(session, "350302", "2027-10")
        shanghang_changes = round_changes(session, "350823", "2027-10")
    assert changes.previous_label == "2027-04"
    listed = {kind: [(i.resident_id[-4:], i.detail or str(i.aged_16_from or "")) for i in items]
              for kind, items in changes.lists.items()}
    assert listed == {
        "new_arrivals": [(e[-4:], "")],
        "moved_in": [],
        "moved_out": [(a[-4:], "→ 350823 龙岩市上杭县")],
        "aged_out": [(d[-4:], "2027-06-16")],  # printed 「年满十六周岁（2027-06-16 起）」 (was with 「/ aged 16 from」)
        "no_longer_found": [(c[-4:], "")],
        "key_care_started": [],
        "key_care_ended": [],
    }
    assert changes.counts == {k: len(v) for k, v in listed.items()}
    assert shanghang_changes.previous_label is None
    assert [(i.resident_id[-4:], i.detail) for i in shanghang_changes.lists["moved_in"]] == [
        (a[-4:], "← 350302 莆田市城厢区")]
    from tests.careflow.test_cli import invoke
    from tests.careflow.test_cli_errors import english

    printed = invoke("survey", "changes", "--county", "350302", "--round", "2027-10")
    assert printed.exit_code == 0 and "年满十六周岁（2027-06-16 起）" in printed.output and "aged" not in printed.output
    assert "aged 16 from 2027-06-16" in english("survey", "changes", "--county", "350302", "--round", "2027-10").stdout


def test_a_move_within_the_county_hands_the_duties_to_the_new_village(database_url, tmp_path):
    child = rid("511321", D(2015, 9, 9))
    import_survey(write_csv(tmp_path / "r1.csv", [HEADER, row("庚", child, "350302001001", "流浪")]),
                  county="350302", round_label="2028-04", today=D(2028, 4, 10), now=at(2028, 4, 10, 9))
    report = import_survey(write_csv(tmp_path / "r2.csv", [HEADER, row("庚", child, "350302002001", "流浪")]),
                           county="350302", round_label="2028-10", today=D(2028, 10, 10), now=at(2028, 10, 10, 9))
    [relocation] = report.relocations
    assert not relocation.county_changed and relocation.notified == []
    assert {new for _, _, new in relocation.rerouted} == {"village_committee-350302002001"}


def test_an_earlier_round_imported_late_records_its_rows_and_changes_nothing_else(database_url, tmp_path):
    """涵江区 imports its October round; then 仙游县 sends its April file late. April found a living in 仙游县 and
    no longer a key care target, and b a key care target, which October says b is not. October stands: nobody moves,
    no file closes or opens, and the April rows are kept as April's record. c, whom no later round found, is
    imported as any new child is (counties 350303 and 350322 are this test's own)."""
    from careflow.survey.duties import file_duties
    from models.survey import SurveyRecord, SurveyRound

    a, b, c = (rid("511321", D(2021, 1, 5)), rid("511321", D(2021, 1, 6)), rid("511321", D(2021, 1, 7)))
    october = import_survey(write_csv(tmp_path / "hanjiang-2036-10.csv", [
        HEADER, row("甲", a, "", "监护缺失", county="350303"), row("乙", b, "", "", county="350303")]),
        county="350303", round_label="2036-10", today=D(2036, 11, 2), now=at(2036, 11, 2, 9))
    assert october.files["opened"] == 1
    april = import_survey(write_csv(tmp_path / "xianyou-2036-04.csv", [
        HEADER, row("甲", a, "", "无", county="350322"), row("乙", b, "", "自身残疾", county="350322"),
        row("丙", c, "", "流浪", county="350322")]),
        county="350322", round_label="2036-04", today=D(2036, 11, 3), now=at(2036, 11, 3, 9), collect_rows=True)

    assert (april.counts["found_later"], april.counts["inserted"]) == (2, 1)
    assert "2 found by a later round (recorded for this round only)" in april.summary()
    assert [r.note for r in april.rows] == ["found by a later round: recorded for this round only"] * 2 + [""]
    assert [r for r in april.relocations if r.county_changed] == []
    assert april.files == dict(opened=1, reopened=0, updated=0, closed=0)  # c's file, nothing else
    with session_scope() as session:
        children = {k: session.exec(select(Child).where(Child.resident_id == n)).one()
                    for k, n in (("a", a), ("b", b), ("c", c))}
        assert {k: ch.residence_county_code for k, ch in children.items()} == {"a": "350303", "b": "350303",
                                                                               "c": "350322"}
        assert children["a"].key_care_criteria == ["missing_guardianship"]
        files = {k: session.exec(select(KeyCareFile).where(KeyCareFile.child_id == ch.id)).first()
                 for k, ch in children.items()}
        assert files["b"] is None
        assert (files["a"].status, files["a"].county_code) == ("active", "350303")
        assert len(file_duties(session, files["a"].id)) == 2
        assert (files["c"].status, files["c"].county_code) == ("active", "350322")
        round_id = session.exec(select(SurveyRound.id).where(SurveyRound.county_code == "350322",
                                                             SurveyRound.label == "2036-04")).one()
        records = {r.resident_id: r for r in session.exec(select(SurveyRecord).where(
            SurveyRecord.round_id == round_id)).all()}
        assert {n: (r.residence_county_code, r.is_key_care, r.moved_from_county) for n, r in records.items()} == {
            a: ("350322", False, ""), b: ("350322", True, ""), c: ("350322", True, "")}
