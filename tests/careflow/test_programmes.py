"""Programmes of items 18-20 (方案 （九）（十）（十一）): a referral invites the child to a programme or the waiting list,
attendance is recorded, and departments report quarterly — on SQLite and PostgreSQL.

Each test works in a county of its own (picked at random among Fujian's), so programmes other tests record never
take its referrals.
"""
from __future__ import annotations

import random
import re
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlmodel import select

from careflow.cases import create_pathway_run, open_case
from careflow.escalation import sweep_deadlines
from careflow.programme_reports import open_report_duties, programme_figures, report_departments
from careflow.programmes import ProgrammeInput, invite_child, record_attendance, record_programme
from models.agency import AgencyUnit
from models.dated_duties import describe_duty
from models.errors import error_text
from models.notification import Notification
from models.programmes import InvitationStatus, Programme, report_duty_key
from models.regions import load_regions
from models.task import AgencyTask, Escalation

# Monday 7 December 2026, 10:00 in Shanghai.
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=timezone.utc)
def _counties_other_tests_name() -> set[str]:
    """Every county code a test file names, alone or as the head of an area code (the shared world's 350302, the
    dashboard's 350921 …): a county drawn here must be one no other test's units or tasks live in, or this module's
    report duties show in their lists (a random draw of 350921 failed the dashboard's export, twice in CI)."""
    text = "".join(path.read_text(encoding="utf-8") for path in Path(__file__).parents[1].rglob("*.py"))
    return set(re.findall(r"(?<!\d)(\d{6})", text))


_USED: set[str] = _counties_other_tests_name()


@pytest.fixture
def county(session):
    """A county no other test uses, with a Youth League unit (the organiser): returns (county code, unit)."""
    code = random.choice([c.code for c in load_regions().counties if c.code not in _USED])
    _USED.add(code)
    unit = AgencyUnit(code=f"youth_league-{code}-{uuid.uuid4().hex[:4]}", agency_type="youth_league",
                      jurisdiction_code=code, name=f"共青团{code}委员会")
    session.add(unit)
    session.flush()
    return code, unit


@pytest.fixture
def refer(session, register):
    """Refer a new child of ``county`` for ``item`` (a pathway run, no flow): returns the run."""
    def _refer(county: str, item: int = 18):
        child = register(residence_county=county, residence_area_code=None).child
        case = open_case(session, child_id=child.id, caseworker="test.caseworker")
        run = create_pathway_run(session, case_id=case.id, pathway="service_referral", actor="test.caseworker",
                                 parameters={"item": item})
        session.flush()
        return run

    return _refer


def _programme(session, unit, county, *, item=18, capacity=30, days=10, title="童心港湾读书会"):
    return record_programme(session, unit, ProgrammeInput(
        item=item, title=title, starts_at=NOW + timedelta(days=days), place="社区儿童之家", county_code=county,
        capacity=capacity), actor="off.youth", now=NOW)


def test_a_referral_for_item_18_puts_the_child_on_the_next_programme_and_opens_no_task(session, county, refer):
    code, unit = county
    later = _programme(session, unit, code, days=20, title="寒假读书角")
    sooner = _programme(session, unit, code, days=5)
    _programme(session, unit, code, days=3, item=20, title="法治课堂")  # another item: not this referral's
    run = refer(code)
    invitation = invite_child(session, run.id, 18, now=NOW)
    assert (invitation.programme_id, invitation.status) == (sooner.id, InvitationStatus.invited)
    assert session.get(Programme, sooner.id).invited_count == 1 and session.get(Programme, later.id).invited_count == 0
    assert session.exec(select(AgencyTask).where(AgencyTask.case_id == run.case_id)).all() == []
    # the caseworker is told (the case reference, never the child's name)
    message = session.exec(select(Notification).where(Notification.idempotency_key ==
                                                      f"programme_invited:{invitation.id}")).one()
    assert message.unit_code == "caseworker.test.caseworker" and "童心港湾读书会" in message.body
    # a restarted flow asking again invites nobody twice
    assert invite_child(session, run.id, 18, now=NOW).id == invitation.id
    assert session.get(Programme, sooner.id).invited_count == 1


def test_without_a_seat_the_child_waits_and_is_invited_when_a_programme_is_recorded(session, county, refer):
    code, unit = county
    full = _programme(session, unit, code, capacity=1)
    first, second, third = refer(code), refer(code), refer(code)
    assert invite_child(session, first.id, 18, now=NOW).programme_id == full.id
    waiting = [invite_child(session, run.id, 18, now=NOW + timedelta(seconds=n)) for n, run in enumerate((second, third))]
    assert [(w.programme_id, w.status) for w in waiting] == [(None, InvitationStatus.waiting)] * 2
    past = record_programme(session, unit, ProgrammeInput(item=18, title="已开展的活动", starts_at=NOW - timedelta(days=1),
                                                          place="青少年宫", county_code=code, capacity=5),
                            actor="off.youth", now=NOW)
    assert past.invited_count == 0  # a programme that has begun invites nobody
    new = _programme(session, unit, code, capacity=1, days=30, title="新春阅读会")
    session.expire_all()
    assert [(session.get(type(w), w.id).programme_id, session.get(type(w), w.id).status) for w in waiting] == [
        (new.id, InvitationStatus.invited), (None, InvitationStatus.waiting)]  # oldest first, up to the capacity
    assert session.get(Programme, new.id).invited_count == 1


def test_attendance_is_recorded_after_the_programme(session, county, refer):
    code, unit = county
    programme = _programme(session, unit, code, days=1)
    came, away = (invite_child(session, refer(code).id, 18, now=NOW) for _ in range(2))
    with pytest.raises(ValueError) as early:
        record_attendance(session, programme, {came.id}, walk_ins=0, actor="off.youth", now=NOW)
    assert error_text(early.value, "zh").startswith("活动尚未开始（")
    assert error_text(early.value, "en").startswith("the programme has not begun (")
    after = NOW + timedelta(days=2)
    assert record_attendance(session, programme, {came.id}, walk_ins=12, actor="off.youth", now=after) == {
        "attended": 1, "absent": 1}
    session.expire_all()
    assert (session.get(type(came), came.id).status, session.get(type(away), away.id).status) == (
        InvitationStatus.attended, InvitationStatus.absent)
    [figure] = programme_figures(session, code)
    assert (figure.item, figure.programmes, figure.held, figure.seats, figure.invited, figure.attended, figure.absent,
            figure.walk_ins, figure.waiting) == (18, 1, 1, 30, 2, 1, 1, 12, 0)


@pytest.mark.parametrize("field, value, chinese, english", [
    ("item", 17, "服务事项：17 不是以活动形式开展的清单项目（可选：第", "17 is not a service list item run as a programme"),
    ("capacity", 0, "可邀请人数：0 应在 1 到 10000 之间", "Places: 0 should be between 1 and 10000"),
    ("county_code", "350823", "面向县区：350823 不在组织单位", "County served: 350823 is outside the jurisdiction of"),
    ("title", " ", "活动名称：' ' 应为 1-120 个字", "Title: ' ' should be 1 to 120 characters"),
])
def test_a_wrong_field_is_named_in_chinese_and_in_english(session, county, field, value, chinese, english):
    code, unit = county
    data = dict(item=18, title="读书会", starts_at=NOW, place="儿童之家", county_code=code, capacity=5)
    with pytest.raises(ValueError) as refused:
        record_programme(session, unit, ProgrammeInput(**{**data, field: value}), actor="x", now=NOW)
    assert chinese in error_text(refused.value, "zh") and english in error_text(refused.value, "en")


def test_the_quarterly_report_duty_opens_once_and_escalates_when_overdue(session, county):
    code, unit = county
    health = AgencyUnit(code=f"health-{code}-{uuid.uuid4().hex[:4]}", agency_type="health", jurisdiction_code=code,
                        name="卫健局")  # organises none of items 18-20
    session.add(health)
    session.flush()
    assert report_departments() == ["cyberspace", "education", "civil_affairs", "radio_tv", "youth_league",
                                    "womens_federation", "publishing_group", "human_resources", "court",
                                    "procuratorate", "justice", "police", "women_children_office"]
    opened = open_report_duties(session, now=NOW, only={unit.code, health.code})  # the shared units are left alone
    [duty] = opened
    assert duty.duty_key == report_duty_key(unit.code, "2026Q4") == f"programme_report:2026Q4:{unit.code}"
    assert duty.unit_code == unit.code and duty.title == "2026年第四季度关爱服务活动报告"
    # due 10 days after the quarter: 10 January 2027 is a Sunday, so Monday 11 January (provisional: 2027)
    assert duty.due_at.astimezone(timezone.utc) == datetime(2027, 1, 11, 15, 59, 59, tzinfo=timezone.utc)
    assert open_report_duties(session, now=NOW + timedelta(days=1), only={unit.code}) == []  # opened once a quarter
    requested = session.exec(select(Notification).where(Notification.task_id == duty.id)).all()
    assert [n.event for n in requested] == ["task_requested"]
    session.commit()
    sweep_deadlines(now=datetime(2027, 1, 13, 2, 0, tzinfo=timezone.utc))
    rungs = {e.rung for e in session.exec(select(Escalation).where(Escalation.task_id == duty.id)).all()}
    assert "overdue" in rungs
    to_manager = session.exec(select(Notification).where(Notification.task_id == duty.id,
                                                         Notification.event == "task_escalated")).all()
    assert f"civil_affairs-{code}.manager" in {n.unit_code for n in to_manager}


def test_the_report_duty_reads_as_a_duty_in_messages_and_pages():
    duty = describe_duty("programme_report:2026Q4:education-350302", "2026年第四季度关爱服务活动报告")
    assert duty.subject == "2026年第四季度关爱服务活动报告"
    assert [f.name for f in duty.outcome] == ["reported", "note"] and duty.outcome[0].required
    assert "清单第18-20项" in duty.instructions and "（九）（十）（十一）" in duty.instructions


def test_two_referrals_racing_for_the_last_seat_take_it_once(session, county, refer, database_url):
    """Two referrals of the same county at once, one seat left: one child is invited, the other waits (PostgreSQL:
    SQLite runs one writer at a time)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrent writers need PostgreSQL")
    import threading

    from core.db import session_scope

    code, unit = county
    programme = _programme(session, unit, code, capacity=1)
    runs = [refer(code), refer(code)]
    session.commit()
    barrier, results = threading.Barrier(2), {}

    def invite(run_id):
        with session_scope() as own:
            barrier.wait()
            results[run_id] = invite_child(own, run_id, 18, now=NOW).status

    threads = [threading.Thread(target=invite, args=(run.id,)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results.values()) == [InvitationStatus.invited, InvitationStatus.waiting]
    session.expire_all()
    assert session.get(Programme, programme.id).invited_count == 1
