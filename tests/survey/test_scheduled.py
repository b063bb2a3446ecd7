"""The scheduled flows' work: round reminders with their deadline, the daily age-out check, the weekly lists."""
from __future__ import annotations

import datetime

from sqlmodel import select

from careflow.cases import open_case
from core.db import session_scope
from careflow.survey.importer import import_survey
from careflow.survey.scheduled import age_out_check, round_duty_key, send_round_reminders, weekly_duty_lists
from models.case import Case, CaseStatus
from models.child import Child
from models.key_care_files import KeyCareFile
from models.notification import Notification
from models.regions import load_regions
from models.survey import RoundLabel
from models.task import AgencyTask, TaskState
from tests.survey.files import SHANGHAI, rid, write_csv

D = datetime.date
HEADER = ["姓名", "身份证号", "户籍地", "居住地（县区）", "村居代码", "来本地日期", "重点关爱情形"]


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=SHANGHAI)


def test_round_labels_follow_april_and_october():
    assert str(RoundLabel.parse("2026年10月")) == "2026-10" and RoundLabel.parse("2027/4").as_of == D(2027, 4, 30)
    assert str(RoundLabel.following(D(2026, 3, 20))) == "2026-04"
    assert str(RoundLabel.following(D(2026, 9, 20))) == "2026-10"
    assert str(RoundLabel.following(D(2026, 11, 1))) == "2027-04"
    assert str(RoundLabel.following(D(2024, 6, 1))) == "2025-04"  # the rounds start in 2025


def test_every_county_is_reminded_once_and_the_import_closes_the_round_duty(database_url, tmp_path):
    with session_scope() as session:
        result = send_round_reminders(session, today=D(2031, 3, 20), now=at(2031, 3, 20, 9))
    assert (result.label, result.deadline) == ("2031-04", D(2031, 4, 30))
    assert sorted(result.reminded) == sorted(r.code for r in load_regions().counties)
    assert sorted(result.duties) == [round_duty_key("350302", "2031-04"), round_duty_key("350823", "2031-04")]
    with session_scope() as session:
        message = session.exec(select(Notification).where(
            Notification.idempotency_key == "survey:round_reminder:350128:2031-04")).one()
        assert message.unit_code == "civil_affairs-350128.manager" and "2031-04-30" in message.subject
        assert "careflow survey import" in message.body
        again = send_round_reminders(session, today=D(2031, 3, 21), now=at(2031, 3, 21, 9))
        assert again.duties == [] and session.exec(select(Notification).where(
            Notification.idempotency_key.like("survey:round_reminder:%:2031-04"))).all().__len__() == len(
            result.reminded)
        duty = session.exec(select(AgencyTask).where(AgencyTask.duty_key == "survey:350302:2031-04")).one()
        assert (duty.unit_code, duty.due_at) == ("civil_affairs-350302", at(2031, 4, 30, 23, 59, 59))
    # a file with no valid row (another county's children) does not do the round
    wrong = import_survey(write_csv(tmp_path / "w.csv", [HEADER, ["子", rid(), "511321", "350823", "", "2029-01-01",
                                                                  ""]]),
                          county="350302", round_label="2031-04", today=D(2031, 4, 19), now=at(2031, 4, 19, 9))
    assert (wrong.counts["read"], wrong.counts["invalid"]) == (1, 1)
    with session_scope() as session:
        duty = session.exec(select(AgencyTask).where(AgencyTask.duty_key == "survey:350302:2031-04")).one()
        assert duty.state == TaskState.requested
    import_survey(write_csv(tmp_path / "s.csv", [HEADER, ["子", rid(), "511321", "350302", "", "2029-01-01", ""]]),
                  county="350302", round_label="2031-04", today=D(2031, 4, 20), now=at(2031, 4, 20, 9))
    with session_scope() as session:
        duty = session.exec(select(AgencyTask).where(AgencyTask.duty_key == "survey:350302:2031-04")).one()
        assert duty.state == TaskState.completed and "import_id" in duty.outcome


def test_a_child_who_turns_16_has_cases_and_file_closed(database_url, tmp_path):
    number = rid("511321", D(2015, 2, 10))  # 16 from 2031-02-11
    import_survey(write_csv(tmp_path / "s.csv", [HEADER, ["满龄", number, "511321", "350302", "350302001001",
                                                          "2025-01-01", "家庭生活困难"]]),
                  county="350302", round_label="2030-10", today=D(2030, 11, 5), now=at(2030, 11, 5, 9))
    with session_scope() as session:
        child = session.exec(select(Child).where(Child.resident_id == number)).one()
        case = open_case(session, child_id=child.id, caseworker="cx.worker")
        reference, child_id = case.reference, child.id
    with session_scope() as session:
        early = age_out_check(session, today=D(2031, 2, 10), now=at(2031, 2, 10, 1, 30))
        assert reference not in early.cases_closed
    with session_scope() as session:
        result = age_out_check(session, today=D(2031, 2, 11), now=at(2031, 2, 11, 1, 30))
        assert reference in result.cases_closed
        case = session.exec(select(Case).where(Case.reference == reference)).one()
        assert case.status == CaseStatus.closed and "aged out at 16 (2031-02-11)" in case.close_reason
        file = session.exec(select(KeyCareFile).where(KeyCareFile.child_id == child_id)).one()
        assert file.status == "closed" and file.reference in result.files_closed
    with session_scope() as session:
        assert reference not in age_out_check(session, today=D(2031, 2, 12)).cases_closed


def test_each_unit_gets_its_weekly_list_once(database_url, tmp_path):
    number = rid("511321", D(2019, 9, 9))
    import_survey(write_csv(tmp_path / "s.csv", [HEADER, ["韦周全", number, "511321", "350823", "350823100001",
                                                          "2025-01-01", "流浪"]]),
                  county="350823", round_label="2032-04", today=D(2032, 4, 20), now=at(2032, 4, 20, 9))
    with session_scope() as session:
        child = session.exec(select(Child).where(Child.resident_id == number)).one()
        reference = session.exec(select(KeyCareFile).where(KeyCareFile.child_id == child.id)).one().reference
        result = weekly_duty_lists(session, now=at(2032, 4, 26, 8))  # a Monday; April's contact is due on the 30th
        assert result.units.get("village_committee-350823100001", 0) >= 1
        message = session.exec(select(Notification).where(
            Notification.idempotency_key == "survey:weekly:village_committee-350823100001:2032-W18")).one()
        assert reference in message.body and "每月联系" in message.body
        assert "韦周全" not in message.body and number not in message.body and number[:17] not in message.body
        weekly_duty_lists(session, now=at(2032, 4, 27, 8))  # later the same week: no second message
        assert len(session.exec(select(Notification).where(
            Notification.idempotency_key == "survey:weekly:village_committee-350823100001:2032-W18")).all()) == 1
