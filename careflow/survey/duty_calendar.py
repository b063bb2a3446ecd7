"""When a child director's duty is due and what it is called (方案 一（二）: contact at least monthly, visit the home at
least every three months); the schedule itself is :mod:`careflow.survey.duties`.

Days are Asia/Shanghai days; a deadline "by the end of the day" is 23:59:59 of that day, stored UTC-aware.
"""
from __future__ import annotations

import datetime
import uuid

from models.base import utcnow
from models.dated_duties import ContactKind

SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))

#: Where a duty goes, in order: the child director's village/residents' committee, the township's minor
#: protection station (儿童督导员), the county civil affairs bureau. (type, finest level or None)
DUTY_ROUTING: tuple[tuple[str, str | None], ...] = (
    ("village_committee", None), ("township_station", None), ("civil_affairs", "county"))

STEP_KEYS = {ContactKind.contact: "key_care_contact", ContactKind.visit: "key_care_visit"}
DEADLINE_TEXT = {ContactKind.contact: "monthly (每月联系)", ContactKind.visit: "every 3 months (每三个月入户走访)"}
#: Months between home visits (每三个月入户走访一次).
VISIT_EVERY_MONTHS = 3
#: A file opened with fewer days than this left in the month has its first contact due the next month.
FIRST_CONTACT_DAYS = 7


def today_local(now: datetime.datetime | None = None) -> datetime.date:
    """Today's date in Asia/Shanghai."""
    return (now or utcnow()).astimezone(SHANGHAI).date()


def month_period(day: datetime.date) -> str:
    """``2026-11`` for any day of November 2026."""
    return f"{day.year:04d}-{day.month:02d}"


def next_period(period: str) -> str:
    """The month after ``period`` (``2026-12`` → ``2027-01``)."""
    year, month = int(period[:4]), int(period[5:7])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def end_of_day(day: datetime.date) -> datetime.datetime:
    """23:59:59 of ``day`` in Asia/Shanghai (a deadline "by the end of the day"), UTC-aware."""
    return datetime.datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=SHANGHAI).astimezone(datetime.timezone.utc)


def contact_due(period: str) -> datetime.datetime:
    """The end of the month ``period``."""
    year, month = int(period[:4]), int(period[5:7])
    first_next = datetime.date(year + month // 12, month % 12 + 1, 1)
    return end_of_day(first_next - datetime.timedelta(days=1))


def duty_key(kind: ContactKind | str, child_id: uuid.UUID, period: str) -> str:
    """``contact:<child id>:2026-11`` or ``visit:<child id>:2027-02-20``."""
    return f"{ContactKind(kind).value}:{child_id}:{period}"


#: Task titles, from the file reference and the period.
TITLES = {ContactKind.contact: "重点关爱儿童每月联系（{}，{}）", ContactKind.visit: "重点关爱儿童入户走访（{}，{} 前）"}
