"""What the survey's scheduled flows do (``flows/survey.py``), as plain functions on a session.

* :func:`send_round_reminders` — before each April and October round (方案 一（一）), every Fujian county's civil
  affairs bureau gets a reminder with the round's deadline; where the county's bureau is in the agency directory a
  dated duty ``survey:<county>:<round>`` is opened too, due at the deadline, escalated by the sweeper like any task
  and completed by the county's import of that round.
* :func:`age_out_check` — daily: a child who is 16 (已满十六周岁, the day after the 16th birthday,
  :func:`models.eligibility.aged_16_from`) is no longer a migrant child: open cases are closed with that reason,
  the key care file is closed and its duties cancelled.
* :func:`weekly_duty_lists` — weekly: make sure this month's duties exist, then send each unit (the child
  director's village committee) the list of contacts and visits due within the week, overdue ones first.

Every message is stored once per key (a re-run of the same day or week sends nothing twice).
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from sqlmodel import Session, select

from core.audit import record_audit
from careflow.routing import NoUnitForAgency, resolve_unit
from careflow.survey.care_files import close_file
from careflow.survey.duties import duties_due, ensure_duties
from careflow.survey.duty_calendar import end_of_day, today_local
from careflow.survey.messages import enqueue_message
from careflow.survey.transfer import AGED_OUT_REASON, close_cases_aged_out
from models.base import utcnow
from models.case import Case, CaseStatus
from models.child import Child
from models.deadlines import format_local
from models.eligibility import aged_16_from
from models.key_care_files import FileStatus, KeyCareFile, file_reference
from models.regions import load_regions
from models.survey import RoundLabel
from models.task import AgencyTask
from notifications.routing import manager_channel

#: Cron lines (Asia/Shanghai) of the scheduled flows. *Default*: no text fixes these times.
REMINDER_CRON = "0 9 20 3,9 *"   # 20 March and 20 September, 09:00: ten days before the round month
AGE_OUT_CRON = "30 1 * * *"      # every day, 01:30
WEEKLY_CRON = "0 8 * * 1"        # Mondays, 08:00


def round_duty_key(county_code: str, label: str) -> str:
    """``survey:350302:2026-10``: the county's duty to complete a round."""
    return f"survey:{county_code}:{label}"


@dataclass
class ReminderResult:
    """Counties reminded (messages stored) and the round duties opened."""

    label: str
    deadline: datetime.date
    reminded: list[str] = field(default_factory=list)
    duties: list[str] = field(default_factory=list)


def send_round_reminders(session: Session, *, today: datetime.date | None = None, label: str | None = None,
                         now: datetime.datetime | None = None) -> ReminderResult:
    """Remind every Fujian county of the coming round (the one in progress or next after ``today``).

    The message goes to the county manager's channel ``civil_affairs-<county>.manager``
    (:func:`~notifications.routing.manager_channel`; the county civil affairs bureau leads the survey, 方案
    一（一）) and states the round, its deadline (the end of the round month, *default*) and the import command.
    """
    now = now or utcnow()
    today = today or today_local(now)
    round_label = RoundLabel.parse(label) if label else RoundLabel.following(today)
    deadline = round_label.as_of
    result = ReminderResult(label=str(round_label), deadline=deadline)
    for county in load_regions().counties:
        enqueue_message(
            session, key=f"survey:round_reminder:{county.code}:{round_label}", event="survey_round_reminder",
            unit_code=manager_channel(county.code), role="manager",
            subject=f"【提醒】{round_label} 轮流动儿童监测摸排请于 {deadline} 前完成",
            body=(f"{county.full_name}民政局：\n"
                  f"按照《福建省加强流动儿童关爱保护行动实施方案》第一部分，2025 年起每年 4 月和 10 月更新流动儿童信息。\n"
                  f"本轮：{round_label}，请于 {deadline}（北京时间 24:00）前完成本县（区）监测摸排并导入：\n"
                  f"  careflow survey import <摸排表.xlsx|csv> --county {county.code} --round {round_label}\n"
                  f"导入后可查看与上一轮相比的变化：careflow survey changes --county {county.code} --round {round_label}\n"))
        result.reminded.append(county.code)
        try:
            unit = resolve_unit(session, "civil_affairs", county.code, level="county")
        except NoUnitForAgency:
            continue
        if unit.jurisdiction_code != county.code:
            continue  # only a county's own bureau holds the county's round
        key = round_duty_key(county.code, str(round_label))
        if session.exec(select(AgencyTask).where(AgencyTask.duty_key == key)).first():
            continue
        task = AgencyTask(duty_key=key, step_key="survey_round", agency_type="civil_affairs", unit_code=unit.code,
                          jurisdiction_code=county.code, title=f"流动儿童监测摸排 {round_label} 轮（{county.name}）",
                          requested_at=now, due_at=end_of_day(deadline), deadline_text=f"by {deadline}")
        session.add(task)
        record_audit(session, actor="careflow-scheduler", action="task.requested", entity_type="task",
                     entity_id=task.id, reason=f"survey round {round_label}",
                     detail={"unit": unit.code, "due_at": task.due_at.isoformat(), "duty_key": key})
        result.duties.append(key)
    return result


@dataclass
class AgeOutResult:
    """Children found 16 by the check: cases closed (references) and files closed (references)."""

    children: int = 0
    cases_closed: list[str] = field(default_factory=list)
    files_closed: list[str] = field(default_factory=list)
    duties_cancelled: int = 0


def _sixteen_years_before(day: datetime.date) -> datetime.date:
    try:
        return day.replace(year=day.year - 16)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 16, day=28)


def age_out_check(session: Session, *, today: datetime.date | None = None,
                  now: datetime.datetime | None = None) -> AgeOutResult:
    """Close the open cases and active key care files of every child who is 16 on ``today`` (module docstring)."""
    now = now or utcnow()
    today = today or today_local(now)
    cutoff = _sixteen_years_before(today)
    result = AgeOutResult()
    with_file = select(KeyCareFile.child_id).where(KeyCareFile.status == FileStatus.active.value)
    with_case = select(Case.child_id).where(Case.status == CaseStatus.open)
    candidates = session.exec(select(Child).where(
        Child.birth_date <= cutoff, (Child.id.in_(with_file)) | (Child.id.in_(with_case)))).all()
    for child in candidates:
        turned = aged_16_from(child.birth_date)
        if turned > today:
            continue
        result.children += 1
        result.cases_closed += close_cases_aged_out(session, child, turned_16_on=turned,
                                                    actor="careflow-age-out", now=now)
        file = session.exec(select(KeyCareFile).where(KeyCareFile.child_id == child.id,
                                                      KeyCareFile.status == FileStatus.active.value)).first()
        if file is not None:
            result.duties_cancelled += close_file(session, file, f"{AGED_OUT_REASON} ({turned})", today=today,
                                                  actor="careflow-age-out", now=now)
            result.files_closed.append(file.reference)
    return result


@dataclass
class WeeklyResult:
    """Duties created by the weekly ensure, and the messages stored: unit → number of duties listed."""

    duties_created: int = 0
    unrouted: dict[str, int] = field(default_factory=dict)
    units: dict[str, int] = field(default_factory=dict)


def weekly_duty_lists(session: Session, *, now: datetime.datetime | None = None,
                      days: int = 7) -> WeeklyResult:
    """Send each unit its contacts and visits due within ``days`` (and the overdue ones), one message per unit
    and ISO week; first make sure every active file has this month's duties (:func:`ensure_duties`)."""
    now = now or utcnow()
    today = today_local(now)
    plan = ensure_duties(session, today=today, now=now, actor="careflow-scheduler")
    session.flush()
    result = WeeklyResult(duties_created=plan.created_count, unrouted=plan.unrouted)
    horizon = end_of_day(today + datetime.timedelta(days=days - 1))
    by_unit: dict[str, list] = {}
    for task, duty in duties_due(session, until=horizon):
        by_unit.setdefault(task.unit_code, []).append((task, duty))
    year, week, _ = today.isocalendar()
    for unit_code, items in by_unit.items():
        lines = [f"本周（{today} 起 {days} 天）需联系或入户走访的重点关爱儿童（共 {len(items)} 项，逾期在前）："]
        for task, duty in items:
            late = "【逾期】" if task.due_at < now else ""
            what = "入户走访" if duty.kind == "visit" else "每月联系"
            lines.append(f"  {late}{file_reference(duty.file_id)}  {what}  截止 {format_local(task.due_at)}  "
                         f"任务 {task.short_ref}")
        lines.append("完成后登记：careflow survey record-contact <档案号 KF-…> --kind contact|visit --as <儿童主任>")
        enqueue_message(session, key=f"survey:weekly:{unit_code}:{year}-W{week:02d}", event="survey_weekly_duties",
                        unit_code=unit_code,
                        subject=f"【本周关爱任务】{len(items)} 名重点关爱儿童需联系或走访（{year} 年第 {week} 周）",
                        body="\n".join(lines) + "\n")
        result.units[unit_code] = len(items)
    return result
