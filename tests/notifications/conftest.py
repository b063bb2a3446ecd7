"""Shared fixtures for the notification tests: a realistic message context and free local ports."""
from __future__ import annotations

import pytest

from notifications.render import MessageContext
from tests.notifications.support import free_port


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def context() -> MessageContext:
    """A task_requested context as the outbox builds it for a police unit in Licheng district, Putian."""
    return MessageContext(
        event="task_requested",
        case_reference="FJ-350304-2026-0042",
        pathway_title="监护缺失流动儿童转介",
        step_title="公安机关核查监护情况并报告",
        agency_unit_name="莆田市公安局荔城分局",
        task_ref="a1b2c3d4",
        due_at_local="2026-10-10 23:59",
        deadline_text="3个工作日",
        provisional=True,
        instructions="核查儿童实际监护情况，必要时采取临时保护措施，并向县级民政部门通报。",
        outcome_fields=[{"name": "finding", "label": "核查结论"}, {"name": "measures", "label": "已采取措施"}],
        answer_commands={
            "acknowledge": "careflow task ack a1b2c3d4 --unit police-350304 --as <姓名>",
            "reject": "careflow task reject a1b2c3d4 --unit police-350304 --as <姓名> --reason <原因>",
            "complete": "careflow task complete a1b2c3d4 --unit police-350304 --as <姓名> "
                        "--outcome finding=<核查结论>",
        },
        link="http://127.0.0.1:8000/tasks/0b9c7a52-3f4e-4c55-9b1e-8d2a1c0e6f11",
        escalation_level=0,
        recipient_role="officer",
        outcome_summary="",
    )


# --- shared fixtures for the database-backed notification tests -----------------------------------------

import uuid  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402

from core.settings import get_settings  # noqa: E402
from notifications.limits import LIMITER  # noqa: E402
from notifications.receiver import HttpReceiver  # noqa: E402

#: Wednesday 30 September 2026, 10:00 in Shanghai.
OPENED_AT = datetime(2026, 9, 30, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def channel_file(tmp_path, monkeypatch):
    """Write the channel file careflow reads from a dict (any sections): ``channel_file({...}) -> Path``."""
    path = tmp_path / "channels.yaml"
    monkeypatch.setenv("CAREFLOW_CHANNELS_FILE", str(path))
    get_settings.cache_clear()

    def write(data: dict) -> Path:
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        assert get_settings().resolved_channels_file == path
        return path

    yield write
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def receiver():
    """A running DingTalk/WeCom/Feishu look-alike on 127.0.0.1 (``receiver.endpoints()`` for the channel file)."""
    with HttpReceiver(slow_seconds=2.0) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """Every test starts with full token buckets."""
    LIMITER.clear()
    yield
    LIMITER.clear()


def token(label: str = "bot") -> str:
    """A fresh bot token (16+ letters and digits, so it is treated as a secret), unique per call."""
    return f"{label}{uuid.uuid4().hex[:20]}"


@pytest.fixture
def open_tasks(session, register):
    """``open_tasks(n, step_key="police_reprimand")``: n open tasks of one step for one unit.

    They are attempts 1..n of the step on one child's case (few cases: a case reference has only 16 random
    bits per county and day, so hundreds of cases in one test session would collide).
    """
    from careflow.cases import create_pathway_run, open_case
    from careflow.step_tasks import open_step_task

    def make(n: int, step_key: str = "police_reprimand", now: datetime = OPENED_AT):
        child = register().child
        case = open_case(session, child_id=child.id, caseworker="test.caseworker")
        run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="test.caseworker")
        session.flush()
        tasks = [open_step_task(session, pathway_run_id=run.id, step_key=step_key, attempt=attempt, now=now)
                 for attempt in range(1, n + 1)]
        session.flush()
        return tasks

    return make


def backdate_messages(session) -> None:
    """Date every message of the last day a day back, so no later burst window counts it."""
    from datetime import timedelta

    import sqlalchemy as sa

    from models.base import utcnow
    from models.notification import Notification

    a_day_ago = utcnow() - timedelta(days=1)
    session.execute(sa.update(Notification).where(Notification.created_at > a_day_ago)
                    .values(created_at=a_day_ago).execution_options(synchronize_session=False))
    session.commit()


@pytest.fixture(autouse=True)
def _no_burst_left_behind(request):
    """After a database test, backdate its messages: the database is shared by the whole test session (other
    folders' tests too), and messages created here must not make a later test's unit look like a burst."""
    yield
    if "database_url" in request.fixturenames:
        from core.db import session_scope

        with session_scope(request.getfixturevalue("database_url")) as session:
            backdate_messages(session)


@pytest.fixture
def quiet_outbox(session):
    """Retire messages other tests left due (the database is shared by the session), so that a test calling
    ``dispatch_due`` sees only its own: they (given-up ones too) are marked ``sent`` with a note, and every earlier
    message is dated a day back so that no burst window counts it. Nothing is deleted."""
    from datetime import timedelta

    import sqlalchemy as sa

    from models.base import utcnow
    from models.notification import DeliveryStatus, Notification

    a_day_ago = utcnow() - timedelta(days=1)
    session.execute(sa.update(Notification).where(Notification.created_at > a_day_ago)
                    .values(created_at=a_day_ago).execution_options(synchronize_session=False))

    # Retired as "sent" (not "given_up"): a given-up message is requeued when a later message to its channel gets
    # through (notifications.outbox.requeue_channel), and must not reappear in a later test's dispatch.
    session.execute(sa.update(Notification)
                    .where(Notification.status.in_([DeliveryStatus.pending, DeliveryStatus.failed,
                                                    DeliveryStatus.sending, DeliveryStatus.given_up]))
                    .values(status=DeliveryStatus.sent, last_error="retired by the test harness",
                            claimed_until=None)
                    .execution_options(synchronize_session=False))
    session.commit()
    return session
