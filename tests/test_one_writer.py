"""One writer per rule (issue #15): a task's state is written only by ``careflow/tasks.py`` (``transition_task``,
``move_tasks``) and a case is closed only by ``careflow/cases.py`` (``close_case``).

The source is read, not run (``ast``): a module that assigns ``<task>.state``, runs ``update(AgencyTask)`` with a
``state`` value (or ``update_rows`` assigning it), holds SQL text that sets ``agency_task.state``, or closes a case
(``CaseStatus.closed`` written, ``update(Case)`` or SQL that sets ``case.status``) anywhere else fails the test,
naming the file and the line. The survey wrote task states by hand in four places and closed cases in two before
the rule (issue #15).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The application's packages (migrations and tests may set up any state they need).
PACKAGES = ("careflow", "flows", "models", "notifications", "web")
TASK_WRITER = "careflow/tasks.py"
CASE_WRITER = "careflow/cases.py"

_TASK_STATE_SQL = re.compile(r"\bupdate\s+\"?agency_task\"?\b.*\bset\b.*\bstate\s*=", re.IGNORECASE | re.DOTALL)
_CASE_CLOSE_SQL = re.compile(r"\bupdate\s+\"?case\"?\s.*\bset\b.*\bstatus\s*=", re.IGNORECASE | re.DOTALL)


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _elements(target: ast.AST) -> list[ast.AST]:
    """What an assignment target assigns to: itself, or each element of a tuple/list target."""
    if isinstance(target, (ast.Tuple, ast.List)):
        return [e for element in target.elts for e in _elements(element)]
    return [target.value] if isinstance(target, ast.Starred) else [target]


def _update_of(call: ast.Call) -> str | None:
    """``AgencyTask`` / ``Case`` when ``call`` (or a call it is chained on) is ``update(<that>)``."""
    node: ast.AST = call
    while isinstance(node, ast.Call) or isinstance(node, ast.Attribute):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "update" and node.args and isinstance(node.args[0], ast.Name):
                return node.args[0].id
            node = func
        else:
            node = node.value
    return None


def _bulk_update_of(call: ast.Call) -> str | None:
    """``AgencyTask`` / ``Case`` when ``call`` is ``update_rows(session, <that>.__table__, …)``
    (:func:`core.bulk.update_rows`)."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name != "update_rows" or len(call.args) < 2:
        return None
    table = call.args[1]
    if isinstance(table, ast.Attribute) and table.attr == "__table__" and isinstance(table.value, ast.Name):
        return table.value.id
    return None


def _sets(call: ast.Call, column: str) -> bool:
    """Whether ``.values(...)`` sets ``column`` (a keyword, or a dict literal with that key)."""
    if any(k.arg == column or k.arg is None for k in call.keywords):
        return True
    return any(isinstance(a, ast.Dict) and any(isinstance(k, ast.Constant) and k.value == column for k in a.keys)
               for a in call.args)


def _closes_case(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr == "closed" and isinstance(n.value, ast.Name)
               and n.value.id == "CaseStatus" for n in ast.walk(node))


def writers(source: str, path: str) -> list[str]:
    """The rule breaches in ``source`` (the module at ``path``, relative to the repository): ``path:line what``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            flat = [t for target in targets for t in _elements(target)]
            if path != TASK_WRITER and any(isinstance(t, ast.Attribute) and t.attr == "state"
                                           and not (isinstance(t.value, ast.Name) and t.value.id == "self")
                                           for t in flat):
                found.append(f"{path}:{node.lineno} assigns a task's state")
            if path != CASE_WRITER and node.value is not None and _closes_case(node.value):
                found.append(f"{path}:{node.lineno} closes a case (CaseStatus.closed assigned)")
        elif isinstance(node, ast.Call) and _bulk_update_of(node) in ("AgencyTask", "Case"):
            table = _bulk_update_of(node)
            column, writer = ("state", TASK_WRITER) if table == "AgencyTask" else ("status", CASE_WRITER)
            assignments = next((k.value for k in node.keywords if k.arg == "assignments"), None)
            if path != writer and (not isinstance(assignments, ast.Dict) or any(
                    isinstance(k, ast.Constant) and k.value == column for k in assignments.keys)):
                found.append(f"{path}:{node.lineno} update_rows sets {table}.{column}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "values":
            table = _update_of(node.func.value) if isinstance(node.func.value, (ast.Call, ast.Attribute)) else None
            if table == "AgencyTask" and path != TASK_WRITER and _sets(node, "state"):
                found.append(f"{path}:{node.lineno} UPDATE agency_task SET state")
            if table == "Case" and path != CASE_WRITER and (_sets(node, "status") or _closes_case(node)):
                found.append(f"{path}:{node.lineno} UPDATE case SET status")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if path != TASK_WRITER and _TASK_STATE_SQL.search(node.value):
                found.append(f"{path}:{node.lineno} SQL sets agency_task.state")
            if path != CASE_WRITER and _CASE_CLOSE_SQL.search(node.value):
                found.append(f"{path}:{node.lineno} SQL sets case.status")
    return found


def test_task_states_and_case_closures_have_one_writer_each():
    breaches = []
    for package in PACKAGES:
        for file in sorted((ROOT / package).rglob("*.py")):
            path = file.relative_to(ROOT).as_posix()
            breaches += writers(file.read_text(encoding="utf-8"), path)
    assert breaches == [], "write task states in careflow/tasks.py and close cases in careflow/cases.py:\n" + \
        "\n".join(breaches)


@pytest.mark.parametrize("source", [
    # the survey's writers before issue #15
    "task.state, task.outcome = TaskState.cancelled, {}",
    "task.state = TaskState.completed",
    "conn.execute(sa.update(AgencyTask).where(AgencyTask.id.in_(ids)).values(state='cancelled'))",
    "session.execute(sa.update(AgencyTask).where(AgencyTask.id == i).values(**values).execution_options(x=1))",
    "conn.execute(sa.text(\"UPDATE agency_task SET state = 'cancelled' WHERE id = :id\"))",
    "case.status, case.closed_at, case.close_reason = CaseStatus.closed, now, reason[:500]",
    "session.execute(sa.update(Case).where(Case.id == i).values(status=CaseStatus.closed))",
    "conn.execute(sa.text('UPDATE \"case\" SET status = \\'closed\\' WHERE id = :id'))",
    "update_rows(session, AgencyTask.__table__, rows, key='id', assignments={'state': 'v.state'})",
])
def test_the_scan_finds_a_writer_outside_its_module(source):
    assert writers(source, "careflow/survey/transfer.py"), source


@pytest.mark.parametrize("source", [
    "if task.state == TaskState.completed: pass",
    "self.state = TaskState(task.state)",
    "request.state.user = user",
    "if timeline.status != CaseStatus.closed: pass",
    "conn.execute(sa.update(AgencyTask).where(AgencyTask.id == i).values(next_rung_at=None))",
    "sql = 'SELECT state FROM agency_task'",
    "update_rows(session, AgencyTask.__table__, rows, key='id', assignments={'next_rung_at': 'v.next_rung_at'})",
])
def test_the_scan_leaves_readers_alone(source):
    assert writers(source, "careflow/survey/transfer.py") == []
