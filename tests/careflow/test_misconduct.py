"""The police's or procuratorate's misconduct notice (方案 十一): who may record it, what it checks, where its tasks
go, and that no message carries the conduct. On both database backends; the flow itself is tests/flows/."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlmodel import select

from careflow.answers import answer_task
from careflow.cases import AgencyStartsIt, create_pathway_run, open_case
from careflow.escalation import escalate_overdue_tasks
from careflow.misconduct import start_notice
from careflow.step_tasks import open_step_task
from core.db import session_scope
from models.notification import Notification
from models.task import AgencyTask, TaskState
from notifications.messages import enqueue_task_message
from tests.factories import make_resident_id

CONDUCT = "在学校附近多次结伙殴打同学并抢走手机"
SHANGHAI = timezone(timedelta(hours=8))


def notice(session, register, *, unit="police-350302", **overrides):
    child = register().child
    fields = dict(actor="民警陈强", unit_code=unit, resident_id=child.resident_id, conduct_kind="offence",
                  conduct=CONDUCT, conduct_on="2026-11-20")
    fields.update(overrides)
    return child, start_notice(session, **fields)


def test_a_police_officer_records_a_notice_on_a_case_of_its_own(session, register):
    child, started = notice(session, register)
    assert started.case.child_id == child.id and started.case.caseworker == "民警陈强"
    assert CONDUCT not in started.case.summary and started.case.summary == "莆田市公安局城厢分局通报"
    assert started.run.pathway == "misconduct_notice"
    assert started.run.parameters == {"conduct_kind": "offence", "conduct": CONDUCT, "conduct_on": "2026-11-20"}


def test_the_procuratorate_may_record_one_and_no_other_unit_may(session, register):
    _, started = notice(session, register, unit="procuratorate-350302", conduct_kind="serious_misconduct")
    assert started.run.parameters["conduct_kind"] == "serious_misconduct"
    for other in ("civil_affairs-350302", "no-such-unit"):
        with pytest.raises(PermissionError) as refused:
            notice(session, register, unit=other)
        assert refused.value.text("zh") == f"承办单位：'{other}' 不是公安机关或检察院的单位，不能发起涉罪或严重不良行为通报"


def test_a_caseworker_cannot_start_the_notice_on_a_case(session, register):
    case = open_case(session, child_id=register().child.id, caseworker="test.caseworker")
    with pytest.raises(AgencyStartsIt, match="只能由公安机关或检察院") as refused:
        create_pathway_run(session, case_id=case.id, pathway="misconduct_notice", actor="test.caseworker",
                           parameters={"conduct_kind": "offence", "conduct": CONDUCT, "conduct_on": "2026-11-20"})
    assert refused.value.text("en").endswith("is started only by an officer of the police or the procuratorate "
                                             "(the notice page, or careflow notice start)")


def test_bad_input_is_refused_naming_the_field_in_chinese_and_in_english(session, register):
    unknown = make_resident_id()
    later = date.today() + timedelta(days=3)
    for wrong, chinese, english in [
        ({"resident_id": unknown}, f"身份证号：没有登记身份证号为 {unknown[:4]}**********{unknown[-4:]} 的儿童；"
         "请联系儿童居住地的县级民政部门先行登记", "Resident ID number: no child is registered with ID number "),
        ({"resident_id": "123"}, "身份证号：'123' ", "Resident ID number: '123' "),
        ({"conduct_on": "昨天"}, "行为发生日期：'昨天' 不是日期（格式为 YYYY-MM-DD）",
         "Date of the conduct: '昨天' is not a date (YYYY-MM-DD)"),
        ({"conduct_on": later}, f"行为发生日期：{later.isoformat()} 晚于今天",
         f"Date of the conduct: {later.isoformat()} is in the future"),
        ({"school_area_code": "火星"}, "就读学校所在地：「火星」不是县（市、区）、乡镇（街道）或村（居）的名称或区划代码",
         "Place of the child's school: '火星' is not the name or the area code of a county, township or village"),
    ]:
        with pytest.raises((ValueError, LookupError)) as refused:
            notice(session, register, **wrong)
        assert refused.value.text("zh").startswith(chinese), refused.value.text("zh")
        assert refused.value.text("en").startswith(english), refused.value.text("en")
    with pytest.raises(ValueError, match="conduct_kind"):
        notice(session, register, conduct_kind="theft")


def test_civil_affairs_of_the_county_and_education_of_the_school_get_the_tasks(session, register):
    _, here = notice(session, register)
    session.flush()
    civil = open_step_task(session, pathway_run_id=here.run.id, step_key="civil_affairs_followup")
    school = open_step_task(session, pathway_run_id=here.run.id, step_key="education_followup")
    assert (civil.unit_code, school.unit_code) == ("civil_affairs-350302", "education-350302")
    _, elsewhere = notice(session, register, school_area_code="上杭县")  # the school in another county
    session.flush()
    assert elsewhere.run.parameters["school_area_code"] == "350823"
    school = open_step_task(session, pathway_run_id=elsewhere.run.id, step_key="education_followup")
    assert school.unit_code == "education-350823"


def test_no_message_carries_the_conduct_or_the_answer(session, register):
    _, started = notice(session, register)
    session.flush()
    task = open_step_task(session, pathway_run_id=started.run.id, step_key="civil_affairs_followup",
                          agency_type="civil_affairs")
    requested = enqueue_task_message(session, task=task, event="task_requested")
    session.commit()
    answer_task(task.short_ref, TaskState.completed, actor="民政干部", unit_code=task.unit_code,
                outcome={"guardianship_support": "yes", "screening_result": "at_risk",
                         "note": "已约谈监护人，落实家庭教育指导"}, resume_wait_seconds=0)
    with session_scope() as s:
        done = s.get(AgencyTask, task.id)
        answered = enqueue_task_message(s, task=done, event="task_answered", recipient_unit="caseworker.民警陈强",
                                        role="caseworker", outcome_summary="民政部门已登记跟进情况")
        texts = [requested.subject, requested.body, answered.subject, answered.body]
    assert all(CONDUCT not in text and "2026-11-20" not in text for text in texts)
    assert all("涉嫌违法犯罪" not in text and "约谈监护人" not in text for text in texts)
    assert f"/tasks/{task.id}" in requested.body  # only the link leads to the notice
    assert started.case.reference in requested.body


def at(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def test_the_unanswered_notice_escalates_to_the_county_manager(session, register):
    """Requested Mon 2026-11-23 10:00: acknowledge within 24 h, follow up within 5 working days (Mon 30 Nov 24:00),
    the county manager 24 h after."""
    _, started = notice(session, register)
    session.flush()
    task = open_step_task(session, pathway_run_id=started.run.id, step_key="education_followup",
                          now=at(2026, 11, 23, 10))
    session.commit()

    def fired(now):
        return sorted(rung for tid, rung in escalate_overdue_tasks(now) if tid == task.id)

    assert fired(at(2026, 11, 24, 9, 59)) == []
    assert fired(at(2026, 11, 24, 10, 1)) == ["ack_overdue"]
    assert fired(at(2026, 11, 30, 23, 59)) == ["reminder"]
    assert fired(at(2026, 12, 1, 0, 0, 30)) == ["deadline"]
    assert fired(at(2026, 12, 2, 0, 0, 30)) == ["overdue"]
    with session_scope() as s:
        sent = s.exec(select(Notification).where(Notification.task_id == task.id,
                                                 Notification.event == "task_escalated")).all()
        assert {n.unit_code for n in sent} == {"education-350302.supervisor", "caseworker.民警陈强",
                                               "civil_affairs-350302.manager"}
        assert all(CONDUCT not in n.body and "2026-11-20" not in n.body for n in sent)


def test_the_command_refuses_another_unit_and_a_bad_id_in_chinese_and_in_english(database_url):
    """They read Chinese with CAREFLOW_LANG=en too (「单位 'civil_affairs-350302' 不是公安机关或检察院…」)."""
    import os
    import subprocess
    import sys

    from typer.testing import CliRunner

    from entry.cli import app

    args = ["notice", "start", "--as", "民警陈强", "--kind", "offence", "--conduct", CONDUCT, "--on", "2026-11-20"]
    other = CliRunner().invoke(app, [*args, "--unit", "civil_affairs-350302", "--id", make_resident_id()])
    assert other.exit_code == 1 and other.output.strip() == (
        "错误：承办单位：'civil_affairs-350302' 不是公安机关或检察院的单位，不能发起涉罪或严重不良行为通报")
    bad = CliRunner().invoke(app, [*args, "--unit", "police-350302", "--id", "123"])
    assert bad.exit_code == 2 and bad.output.strip().startswith("错误：身份证号：'123' 有 3 位")
    english = subprocess.run([sys.executable, "-m", "entry.cli", *args, "--unit", "civil_affairs-350302", "--id",
                              make_resident_id()], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "CAREFLOW_LANG": "en"})
    assert english.returncode == 1 and english.stderr.strip() == (
        "error: Agency unit: 'civil_affairs-350302' is not a police or procuratorate unit: it cannot record a notice "
        "of an offence or serious misconduct")
