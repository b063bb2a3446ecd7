"""The child director's duties (方案 一（二）): created with the file, completed by a recorded contact or visit,
rescheduled, escalated by the sweeper like any task, cancelled when the child is no longer a key care target."""
from __future__ import annotations

import datetime

import pytest
from sqlmodel import select

from core.db import session_scope
from careflow.escalation import escalate_overdue_tasks
from careflow.survey.care_files import FileNotFound, record_contact
from careflow.survey.duties import file_duties
from careflow.survey.importer import import_survey
from models.key_care_files import CareContact, KeyCareFile
from models.notification import Notification
from models.task import AgencyTask, TaskState
from tests.survey.files import SHANGHAI, rid, write_csv

D = datetime.date
HEADER = ["姓名", "身份证号", "户籍地", "居住地（县区）", "村居代码", "来本地日期", "重点关爱情形"]


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=SHANGHAI)


def open_duties(file_id):
    with session_scope() as session:
        return sorted((duty.kind, duty.period, task.unit_code, task.due_at, task.duty_key.split(":")[1] != "")
                      for task, duty in file_duties(session, file_id))


def survey(tmp_path, name, number, key_care, label, today):
    born = D(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    arrival = max(D(2022, 1, 1), born).isoformat()  # never before birth (models.eligibility.check_arrival_date)
    path = write_csv(tmp_path / f"{label}.csv", [HEADER, ["壬", number, "511321", "上杭县", "350823100001",
                                                          arrival, key_care]])
    return import_survey(path, county="350823", round_label=label, today=today, now=at(today.year, today.month,
                                                                                         today.day, 9))


@pytest.fixture
def key_care_file(database_url, tmp_path):
    number = rid("511321", D(2016, 1, 1))
    report = survey(tmp_path, "r1", number, "家庭生活困难", "2028-10", D(2029, 1, 10))
    assert report.files["opened"] == 1 and report.duties["created"] == 2
    with session_scope() as session:
        from models.child import Child

        child = session.exec(select(Child).where(Child.resident_id == number)).one()
        file = session.exec(select(KeyCareFile).where(KeyCareFile.child_id == child.id)).one()
        return number, file.id, file.reference, child.id


def end(day: D) -> datetime.datetime:
    return at(day.year, day.month, day.day, 23, 59, 59)


def test_contacts_and_visits_complete_duties_and_schedule_the_next(key_care_file):
    number, file_id, reference, child_id = key_care_file
    unit = "village_committee-350823100001"
    assert open_duties(file_id) == [("contact", "2029-01", unit, end(D(2029, 1, 31)), True),
                                    ("visit", "2029-04-10", unit, end(D(2029, 4, 10)), True)]
    with session_scope() as session:
        task = session.exec(select(AgencyTask).where(AgencyTask.duty_key == f"contact:{child_id}:2029-01")).one()
        assert (task.case_id, task.pathway_run_id, task.agency_type, task.jurisdiction_code) == (
            None, None, "village_committee", "350823100001")
        assert reference in task.title

    with session_scope() as session:  # a monthly contact, by file reference
        result = record_contact(session, reference, "contact", actor="director.lin", on=D(2029, 1, 15),
                                note="电话联系，情况稳定", now=at(2029, 1, 15, 18))
        assert [(t.duty_key, t.state, t.outcome["late"]) for t in result.completed] == [
            (f"contact:{child_id}:2029-01", TaskState.completed, False)]
    assert open_duties(file_id) == [("contact", "2029-02", unit, end(D(2029, 2, 28)), True),
                                    ("visit", "2029-04-10", unit, end(D(2029, 4, 10)), True)]

    with session_scope() as session:  # a home visit, by ID number: it is also February's contact
        result = record_contact(session, number, "visit", actor="director.lin", on=D(2029, 2, 3),
                                now=at(2029, 2, 3, 17))
        assert sorted(t.duty_key.split(":")[0] for t in result.completed) == ["contact", "visit"]
    assert open_duties(file_id) == [("contact", "2029-03", unit, end(D(2029, 3, 31)), True),
                                    ("visit", "2029-05-03", unit, end(D(2029, 5, 3)), True)]

    with session_scope() as session:  # March's contact made late, on 2 April
        result = record_contact(session, str(child_id), "contact", actor="director.lin", on=D(2029, 4, 2),
                                now=at(2029, 4, 2, 10))
        assert [(t.duty_key.split(":")[2], t.outcome["late"]) for t in result.completed] == [("2029-03", True)]
        log = session.exec(select(CareContact).where(CareContact.file_id == file_id)
                           .order_by(CareContact.contact_on)).all()
        assert [(c.kind, c.contact_on, c.recorded_by) for c in log] == [
            ("contact", D(2029, 1, 15), "director.lin"), ("visit", D(2029, 2, 3), "director.lin"),
            ("contact", D(2029, 4, 2), "director.lin")]
        file = session.get(KeyCareFile, file_id)
        assert (file.last_contact_on, file.last_visit_on) == (D(2029, 4, 2), D(2029, 2, 3))
    assert open_duties(file_id) == [("contact", "2029-05", unit, end(D(2029, 5, 31)), True),
                                    ("visit", "2029-05-03", unit, end(D(2029, 5, 3)), True)]

    with session_scope() as session:
        with pytest.raises(ValueError, match="field 'on'"):
            record_contact(session, reference, "contact", actor="director.lin", on=D(2029, 4, 9),
                           now=at(2029, 4, 2, 10))
        with pytest.raises(ValueError, match="field 'kind'"):
            record_contact(session, reference, "call", actor="director.lin", now=at(2029, 4, 2, 10))
        with pytest.raises(FileNotFound):
            record_contact(session, "KF-9999999", "contact", actor="director.lin", now=at(2029, 4, 2, 10))


def duty_task(child_id, kind, period):
    with session_scope() as session:
        return session.exec(select(AgencyTask).where(AgencyTask.duty_key == f"{kind}:{child_id}:{period}")).one()


def test_a_duty_completed_as_a_task_is_the_contact_made_and_the_next_one_is_scheduled(key_care_file):
    """The child director completes the duty in the inbox or with ``careflow task complete`` (both go through
    answer_task) instead of recording a contact: the contact is logged and next month's duty opens all the same."""
    from careflow.answers import answer_task

    number, file_id, reference, child_id = key_care_file
    unit = "village_committee-350823100001"
    january = duty_task(child_id, "contact", "2029-01")
    answer_task(january.id.hex, TaskState.completed, actor="director.lin", unit_code=unit,
                outcome={"note": "电话联系，情况稳定"}, now=at(2029, 1, 20, 18))
    assert open_duties(file_id) == [("contact", "2029-02", unit, end(D(2029, 2, 28)), True),
                                    ("visit", "2029-04-10", unit, end(D(2029, 4, 10)), True)]
    with session_scope() as session:
        task = session.get(AgencyTask, january.id)
        assert (task.state, task.answered_by, task.outcome["late"]) == (TaskState.completed, "director.lin", False)
        log = session.exec(select(CareContact).where(CareContact.file_id == file_id)).all()
        assert [(c.kind, c.contact_on, c.note, c.task_id) for c in log] == [
            ("contact", D(2029, 1, 20), "电话联系，情况稳定", january.id)]

    visit = duty_task(child_id, "visit", "2029-04-10")  # a home visit made on 3 February: also February's contact
    answer_task(visit.id.hex, TaskState.completed, actor="director.lin", unit_code=unit,
                outcome={"contact_on": "2029-02-03"}, now=at(2029, 2, 5, 9))
    assert open_duties(file_id) == [("contact", "2029-03", unit, end(D(2029, 3, 31)), True),
                                    ("visit", "2029-05-03", unit, end(D(2029, 5, 3)), True)]

    march = duty_task(child_id, "contact", "2029-03")
    for outcome, message in (({"contact_on": "2029-02-28"}, "does not count for the month 2029-03"),
                             ({"contact_on": "2029-03-32"}, "is not a date"),
                             ({"contact_on": "2029-03-20"}, "field 'contact_on': 2029-03-20 is in the future"),
                             ({"contact_on": "2029-03-05", "visited": "yes"}, "field 'visited': not an answer field")):
        with pytest.raises(ValueError, match=f"contact_on.*{message}|{message}"):
            answer_task(march.id.hex, TaskState.completed, actor="director.lin", unit_code=unit, outcome=outcome,
                        now=at(2029, 3, 10, 9))
    assert open_duties(file_id)[0][:2] == ("contact", "2029-03")  # nothing written
    with session_scope() as session:
        assert session.get(AgencyTask, march.id).state == TaskState.requested
        assert len(session.exec(select(CareContact).where(CareContact.file_id == file_id)).all()) == 2


def test_the_sweeper_escalates_an_overdue_duty(key_care_file):
    _, file_id, _, child_id = key_care_file
    with session_scope() as session:
        task_id = session.exec(select(AgencyTask.id).where(
            AgencyTask.duty_key == f"contact:{child_id}:2029-01")).one()
    fired = sorted(rung for tid, rung in escalate_overdue_tasks(at(2029, 1, 28, 12)) if tid == task_id)
    assert fired == ["reminder"]
    fired = sorted(rung for tid, rung in escalate_overdue_tasks(at(2029, 2, 2, 12)) if tid == task_id)
    assert fired == ["deadline", "overdue"]
    with session_scope() as session:
        recipients = sorted(n.unit_code for n in session.exec(select(Notification).where(
            Notification.task_id == task_id)))
        assert recipients == ["civil_affairs-350823.manager", "village_committee-350823100001",
                              "village_committee-350823100001.supervisor"]
        assert session.get(AgencyTask, task_id).escalation_level == 3


def test_no_longer_a_key_care_target_cancels_the_duties_and_becoming_one_again_reopens(key_care_file, tmp_path):
    number, file_id, reference, _ = key_care_file
    report = survey(tmp_path, "r2", number, "无", "2029-04", D(2029, 4, 20))
    assert report.files == dict(opened=0, reopened=0, updated=0, closed=1) and report.duties["cancelled"] == 2
    with session_scope() as session:
        file = session.get(KeyCareFile, file_id)
        assert (file.status, file.closed_on) == ("closed", D(2029, 4, 20))
        assert "no key care criterion any more" in file.close_reason
        cancelled = [t for t, _ in file_duties(session, file_id, open_only=False) if t.state == TaskState.cancelled]
        assert len(cancelled) == 2 and all("no key care criterion" in t.outcome["cancel_reason"] for t in cancelled)
        with pytest.raises(ValueError, match="closed"):
            record_contact(session, reference, "contact", actor="director.lin", now=at(2029, 4, 21, 9))
    assert open_duties(file_id) == []

    report = survey(tmp_path, "r3", number, "自身残疾", "2029-10", D(2029, 11, 5))
    assert report.files["reopened"] == 1 and report.duties["created"] == 2
    assert report.duties["assessments"] == 0  # the assessment opened with the file is still open: none more
    assert [(kind, period) for kind, period, *_ in open_duties(file_id)] == [("contact", "2029-11"),
                                                                              ("visit", "2030-02-05")]


def test_a_visit_on_the_opening_day_and_a_reopening_in_the_same_month_still_get_their_duties(database_url, tmp_path):
    number = rid("511321", D(2022, 7, 7))
    survey(tmp_path, "o1", number, "流浪", "2034-04", D(2034, 4, 3))
    with session_scope() as session:
        from models.child import Child

        child = session.exec(select(Child).where(Child.resident_id == number)).one()
        file_id = session.exec(select(KeyCareFile.id).where(KeyCareFile.child_id == child.id)).one()
        record_contact(session, number, "visit", actor="director.lin", on=D(2034, 4, 3), now=at(2034, 4, 3, 16))
    assert [(k, p) for k, p, *_ in open_duties(file_id)] == [("contact", "2034-05"), ("visit", "2034-07-03")]
    with session_scope() as session:
        keys = sorted(t.duty_key.split(":")[2] for t, _ in file_duties(session, file_id))
    assert keys == ["2034-05", "2034-07-03.2"]

    survey(tmp_path, "o2", number, "无", "2034-10", D(2034, 10, 8))        # closed: duties cancelled
    survey(tmp_path, "o3", number, "流浪", "2034-10", D(2034, 10, 20))     # reopened the same month
    assert [(k, p) for k, p, *_ in open_duties(file_id)] == [("contact", "2034-10"), ("visit", "2035-01-20")]


def test_a_round_closes_many_files_at_once_each_with_its_reason_and_audit(database_url, tmp_path):
    """Files closing in one import, for different reasons: each file and each of its open duties carries its own
    reason, and gets exactly one audit event; a file that stays a key care target keeps its duties."""
    from models.audit import AuditEvent
    from models.child import Child

    numbers = {k: rid("511321", D(2024, 3, day)) for k, day in (("ends", 11), ("local", 12), ("stays", 13))}

    def round_file(label, rows):
        return write_csv(tmp_path / f"{label}.csv", [HEADER] + [
            [name, numbers[key], hukou, "上杭县", "350823100001", "2030-01-01", key_care]
            for key, name, hukou, key_care in rows])

    first = import_survey(round_file("2035-04", [("ends", "甲", "511321", "家庭生活困难"),
                                                 ("local", "乙", "511321", "自身残疾"),
                                                 ("stays", "丙", "511321", "监护缺失")]),
                          county="350823", round_label="2035-04", today=D(2035, 5, 6), now=at(2035, 5, 6, 9))
    assert first.files["opened"] == 3
    later = import_survey(round_file("2035-10", [("ends", "甲", "511321", "无"),
                                                 ("local", "乙", "350823", "自身残疾"),  # hukou here: not migrant
                                                 ("stays", "丙", "511321", "监护缺失")]),
                          county="350823", round_label="2035-10", today=D(2035, 11, 5), now=at(2035, 11, 5, 9))
    assert later.files["closed"] == 2 and later.duties["cancelled"] == 4
    with session_scope() as session:
        files = {k: session.exec(select(KeyCareFile).join(Child, Child.id == KeyCareFile.child_id)
                                 .where(Child.resident_id == n)).one() for k, n in numbers.items()}
        assert {k: f.status for k, f in files.items()} == {"ends": "closed", "local": "closed", "stays": "active"}
        assert "no key care criterion" in files["ends"].close_reason
        assert "same_county" in files["local"].close_reason
        for key in ("ends", "local"):
            file = files[key]
            duties = [t for t, _ in file_duties(session, file.id, open_only=False)]
            assert len(duties) == 2 and {t.state for t in duties} == {TaskState.cancelled}
            assert {t.outcome["cancel_reason"] for t in duties} == {file.close_reason}
            closed = session.exec(select(AuditEvent).where(AuditEvent.action == "key_care_file.closed",
                                                           AuditEvent.entity_id == str(file.id))).all()
            assert [(e.reason, e.detail) for e in closed] == [(file.close_reason, {"file": file.reference})]
            for task in duties:
                events = session.exec(select(AuditEvent).where(AuditEvent.action == "task.cancelled",
                                                               AuditEvent.entity_id == str(task.id))).all()
                assert [(e.reason, e.detail["from"], e.detail["duty_key"]) for e in events] == [
                    (file.close_reason, "requested", task.duty_key)]
        kept = file_duties(session, files["stays"].id, open_only=False)
        assert kept and all(t.state == TaskState.requested for t, _ in kept)


def test_a_child_registered_with_key_care_grounds_gets_the_file_and_duties_at_once(database_url, tmp_path):
    """Key care from any door (issue 13 item 3): registering a child with a key care ground opens the file and its
    contact and visit duties for the village committee, as a survey would (the survey opens files only for
    children without one); the grounds given again open nothing twice; a child registered without grounds gets
    none."""
    from careflow.registration import register_child
    from models.eligibility import KeyCareCriterion

    number, plain = rid("511321", D(2016, 5, 1)), rid("511321", D(2016, 6, 1))
    with session_scope() as session:
        child = register_child(session, resident_id=number, full_name="登记重点", hukou_county="511321",
                               residence_county="350823", residence_area_code="350823100001",
                               arrival_date=D(2023, 8, 20), actor="cw.test",
                               key_care_criteria={KeyCareCriterion.family_hardship}).child
        other = register_child(session, resident_id=plain, full_name="登记普通", hukou_county="511321",
                               residence_county="350823", residence_area_code="350823100001",
                               arrival_date=D(2023, 8, 20), actor="cw.test").child
        child_id, other_id = child.id, other.id
    with session_scope() as session:
        file = session.exec(select(KeyCareFile).where(KeyCareFile.child_id == child_id)).one()
        assert (file.status, file.criteria, file.area_code) == ("active", ["family_hardship"], "350823100001")
        assert session.exec(select(KeyCareFile).where(KeyCareFile.child_id == other_id)).first() is None
        file_id = file.id
    duties = open_duties(file_id)
    assert sorted(kind for kind, *_ in duties) == ["contact", "visit"]
    assert {unit for _k, _p, unit, *_ in duties} == {"village_committee-350823100001"}

    with session_scope() as session:  # registering the grounds again (another door) opens nothing twice
        from careflow.key_care import open_key_care
        from models.child import Child

        open_key_care(session, session.get(Child, child_id), ["family_hardship"], actor="cw.test", reason="test")
        assert len(session.exec(select(KeyCareFile).where(KeyCareFile.child_id == child_id)).all()) == 1
    assert sorted(kind for kind, *_ in open_duties(file_id)) == ["contact", "visit"]
