"""The wait of a pathway step, shared by the flow that suspends and the resumer that wakes it (no Prefect here).

A step waits on its tasks under a rule: ``all`` (every task answered) or ``any`` (one completed); a rejection ends
any wait at once, so the step is re-issued without waiting for the other agencies.
"""
from __future__ import annotations

import uuid

from models.task import TaskState


def pause_key(rule: str, task_ids: list[str], answered: int, suspend_number: int) -> str:
    """The key a flow run suspends under: ``await-<rule>-<answered>-<suspend number>-<task ids as hex>``; the resumer
    reads the wait back from it (:func:`parse_pause_key`), so it never needs the flow's code."""
    hex_ids = "-".join(uuid.UUID(t).hex for t in task_ids)
    return f"await-{rule}-{answered}-{suspend_number}-{hex_ids}"


def parse_pause_key(key: str) -> tuple[str, list[str], int] | None:
    """``(rule, task ids, answers recorded)`` of a key made by :func:`pause_key`, else None."""
    parts = key.split("-")
    if len(parts) < 5 or parts[0] != "await" or parts[1] not in ("all", "any"):
        return None
    return parts[1], [str(uuid.UUID(h)) for h in parts[4:]], int(parts[2])


def is_satisfied(rule: str, states: list[TaskState]) -> bool:
    """Whether a wait on tasks in ``states`` is over: ``all`` answered, ``any`` completed, or any rejected.

    A rejection ends the wait at once so that the step goes back and is re-issued without waiting for
    the other agencies. The resumer (:mod:`careflow.resume`) uses this same rule, so a flow run is only
    resumed when it will move on.
    """
    if any(s == TaskState.rejected for s in states):
        return True
    if rule == "all":
        return all(s.is_answer for s in states)
    return any(s == TaskState.completed for s in states)
