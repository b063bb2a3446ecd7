"""The warning while next year's holiday arrangement is missing (DOMAIN.md §6): from 1 November the sweeper calls
:func:`check_next_year_calendar`, which tells the provincial administrator (省民政厅) once a week, through the outbox,
to load the State Council's notice with ``careflow calendar load`` (:mod:`careflow.holidays`)."""
from __future__ import annotations

import datetime as _dt
import logging
import uuid
from datetime import datetime
from functools import lru_cache

import pendulum
import yaml
from sqlmodel import Session

from core.audit import record_audit
from core.db import session_scope
from core.settings import get_settings
from models.base import utcnow
from models.working_days import WorkingDayCalendar, default_calendar
from models.notification import DeliveryStatus, Notification

log = logging.getLogger(__name__)

#: The event of the weekly warning that next year's arrangement is missing.
MISSING_EVENT = "calendar_missing"
ACTOR = "careflow"


#: Month (local time) from which next year's arrangement is expected (the notice usually comes out in Nov–Dec).
WARN_FROM_MONTH = 11
_warned: set[tuple[str, str]] = set()  # (database URL, key) already stored


@lru_cache(maxsize=1)
def province_admin() -> str:
    """The provincial administrator's channel key: ``civil_affairs-<province code>.manager`` (省民政厅), the
    province code from ``policy/regions.yaml`` (``province.code``, default ``350000``)."""
    data = yaml.safe_load((get_settings().policy_dir / "regions.yaml").read_text(encoding="utf-8")) or {}
    code = str((data.get("province") or {}).get("code") or "350000")
    return f"civil_affairs-{code}.manager"


def missing_next_year(now: datetime | None = None, calendar: WorkingDayCalendar | None = None) -> int | None:
    """Next year, when it is 1 November or later (local time) and no official arrangement covers it; else None."""
    local = pendulum.instance(now or utcnow()).in_timezone(get_settings().timezone)
    if local.month < WARN_FROM_MONTH:
        return None
    year = local.year + 1
    calendar = calendar or default_calendar()
    return year if calendar.is_provisional(_dt.date(year, 7, 1)) else None


def check_next_year_calendar(now: datetime | None = None) -> str | None:
    """Warn the provincial administrator while next year's arrangement is missing (from 1 November).

    At most one message per ISO week (key ``calendar_missing:<year>:<week>``, stored once with ON CONFLICT DO
    NOTHING, audited ``calendar.missing_warned``); cheap when there is nothing to do (a cached calendar lookup).
    Never raises (the sweeper calls it every minute): a failure is logged.

    Returns:
        the message's key when this call stored it, else None.
    """
    try:
        now = now or utcnow()
        year = missing_next_year(now)
        if year is None:
            return None
        week = pendulum.instance(now).in_timezone(get_settings().timezone).isocalendar()
        key = f"{MISSING_EVENT}:{year}:{week[0]}-W{week[1]:02d}"
        memo = (get_settings().resolved_database_url, key)
        if memo in _warned:
            return None
        with session_scope() as session:
            stored = _store_missing_warning(session, key, year, now)
        _warned.add(memo)
        return key if stored else None
    except Exception:  # noqa: BLE001 (a warning must not stop the sweep)
        log.exception("could not check next year's holiday arrangement")
        return None


def _store_missing_warning(session: Session, key: str, year: int, now: datetime) -> bool:
    # `careflow serve` imports the sweeper's module (and this one) but never sweeps: the outbox's batch writer
    # (Jinja2) would be start-up cost for it.
    from notifications.outbox_batch import insert_ignoring_conflicts

    recipient = province_admin()
    subject = f"【提醒】{year}年节假日安排尚未载入，{year}年的截止时间均为暂定"
    body = (
        "省民政厅（系统管理员）：\n\n"
        f"{year}年的国务院节假日安排尚未载入 careflow。在载入之前，凡计算中涉及{year}年的截止时间，均按星期一至星期五"
        "暂定计算（已扣除元旦、劳动节、国庆节等《全国年节及纪念日放假办法》规定的固定日期节日，春节、清明节、"
        "端午节、中秋节及调休尚未计入），并标注“暂定”。\n\n"
        f"国务院办公厅《关于{year}年部分节假日安排的通知》公布后，请按通知内容编写安排文件（格式见 README“节假日安排”一节），"
        "并运行：\n  careflow calendar load <文件>\n"
        "载入后，系统将重新计算所有暂定截止时间，并通知承办单位和个案社工。\n\n"
        "本提醒每周最多发送一次，直至安排载入。\n—— careflow 流动儿童关爱保护转介系统\n")
    row = {"id": uuid.uuid4(), "idempotency_key": key, "event": MISSING_EVENT, "case_id": None, "task_id": None,
           "unit_code": recipient, "recipient_role": "manager", "subject": subject, "body": body,
           "status": DeliveryStatus.pending, "attempts": 0, "last_error": "", "delivery": [], "created_at": now}
    inserted = insert_ignoring_conflicts(session, Notification.__table__, [row], ["idempotency_key"], ["id"])
    if inserted:
        record_audit(session, actor=ACTOR, action="calendar.missing_warned", entity_type="holiday_arrangement",
                     entity_id=year, reason=subject, detail={"year": year, "key": key, "unit": recipient})
    return bool(inserted)
