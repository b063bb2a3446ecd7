"""The deadline sweep's surroundings: one sweep at a time (the lock), and what the last sweeps did (the record).

:func:`_one_sweep_at_a_time` is the lock :func:`careflow.escalation.sweep_deadlines` takes; :func:`last_sweep`
reads its :class:`models.sweep.SweepRun` rows for the manager dashboard ("期限引擎：上次巡检 …" and, when tasks
were set aside by :mod:`careflow.sweep_guard`, "N 项任务升级失败").
"""
from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import select

from core.settings import get_settings
from careflow.sweep_guard import RETRY_AFTER
from models.base import utcnow
from models.sweep import SweepRun

#: PostgreSQL advisory lock key of the sweep (any constant; "CFSWEEP" in ASCII).
SWEEP_LOCK_KEY = 0x43465357454550


@contextmanager
def _no_lock() -> Iterator[bool]:
    yield True


@contextmanager
def _one_sweep_at_a_time(conn: sa.Connection) -> Iterator[bool]:
    """Yield True while this sweep holds the sweep lock of ``conn``'s database, False if another sweep holds it.

    PostgreSQL: a session advisory lock on ``conn`` (released by the server if the process dies). SQLite:
    ``flock`` on ``<database file>.sweep-lock`` (``CAREFLOW_HOME/sweep.lock`` for an in-memory database;
    released by the kernel if the process dies).
    """
    if conn.dialect.name == "postgresql":
        held = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": SWEEP_LOCK_KEY}).scalar_one()
        conn.commit()
        try:
            yield bool(held)
        finally:
            if held:
                conn.rollback()  # a batch that failed left its transaction
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": SWEEP_LOCK_KEY})
                conn.commit()
        return
    database = conn.engine.url.database
    path = Path(f"{database}.sweep-lock") if database and database != ":memory:" else \
        get_settings().home / "sweep.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class LastSweep:
    """The latest recorded sweep, for the dashboard: when it finished (UTC), how long it took (seconds), the
    rungs it fired and the open tasks it left due (backlog); ``failed``: the tasks set aside by the sweeps of the
    last :data:`careflow.sweep_guard.RETRY_AFTER` (each set-aside task is tried again after that long, so a task
    that keeps failing counts once)."""

    finished_at: datetime
    duration_s: float
    fired: int
    backlog: int
    failed: int = 0

    def describe(self, lang: str = "zh", now: datetime | None = None) -> str:
        """One line for managers, e.g. ``期限引擎：上次巡检 12 秒前（用时 0.2 秒），无积压逾期未处理``
        (``lang`` ``"en"``: ``Deadline engine: last sweep 12 s ago (0.2 s), nothing overdue unprocessed``)."""
        ago = max(0.0, ((now or utcnow()) - self.finished_at).total_seconds())
        if lang == "en":
            when = f"{ago:.0f} s" if ago < 120 else f"{ago / 60:.0f} min" if ago < 7200 else f"{ago / 3600:.0f} h"
            fired = f", {self.fired} reminders or escalations" if self.fired else ""
            backlog = "nothing overdue unprocessed" if not self.backlog else f"{self.backlog} tasks waiting"
            return f"Deadline engine: last sweep {when} ago ({self.duration_s:.1f} s{fired}), {backlog}"
        when = f"{ago:.0f} 秒前" if ago < 120 else f"{ago / 60:.0f} 分钟前" if ago < 7200 else f"{ago / 3600:.0f} 小时前"
        fired = f"，触发提醒或升级 {self.fired} 次" if self.fired else ""
        backlog = "无积压逾期未处理" if not self.backlog else f"积压 {self.backlog} 项待处理任务，下次巡检继续"
        return f"期限引擎：上次巡检 {when}（用时 {self.duration_s:.1f} 秒{fired}），{backlog}"

    def describe_failed(self, lang: str = "zh") -> str:
        """The dashboard's warning when tasks were set aside, e.g. ``3 项任务升级失败（已暂缓，1 小时后自动重试；
        详见审计日志）``; "" when none was."""
        if not self.failed:
            return ""
        if lang == "en":
            return (f"{self.failed} task(s) could not be escalated (set aside, retried automatically in 1 h; "
                    "see the audit log)")
        return f"{self.failed} 项任务升级失败（已暂缓，1 小时后自动重试；详见审计日志）"


def last_sweep(session) -> LastSweep | None:
    """The latest :class:`~models.sweep.SweepRun` as a :class:`LastSweep`; None if no sweep ran yet. Two indexed
    reads of ``sweep_run`` (by ``finished_at``)."""
    row = session.exec(select(SweepRun).order_by(SweepRun.finished_at.desc()).limit(1)).first()
    if row is None:
        return None
    failed = session.execute(sa.select(sa.func.coalesce(sa.func.sum(SweepRun.failed), 0)).where(
        SweepRun.finished_at > row.finished_at - RETRY_AFTER)).scalar_one()
    return LastSweep(finished_at=row.finished_at, duration_s=row.duration_s, fired=row.fired, backlog=row.backlog,
                     failed=int(failed))
