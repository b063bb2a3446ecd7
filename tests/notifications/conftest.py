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
        link="http://127.0.0.1:4200/runs/flow-run/0b9c7a52-3f4e-4c55-9b1e-8d2a1c0e6f11",
        escalation_level=0,
        recipient_role="officer",
        outcome_summary="",
    )
