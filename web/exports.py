"""The dashboard exported as CSV (its tasks) and as an Excel workbook (openpyxl: counties, units, tasks,
escalations). Exports carry case references, never a child's name or ID number; times are Asia/Shanghai.
"""
from __future__ import annotations

import csv
import io

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlmodel import Session, select

from models.agency import AgencyUnit
from models.case import PathwayRun
from models.task import TaskState
from web.i18n import Translator
from web.metrics import tasks_in
from web.schemas import DashboardOut
from web.views import local_time

TASK_COLUMNS = [
    ("case_reference", "个案编号"), ("county_code", "县（市、区）"), ("pathway", "路径"), ("step_key", "环节"),
    ("step_title", "环节名称"), ("attempt", "次数"), ("unit_code", "承办单位代码"), ("unit_name", "承办单位"),
    ("state", "状态"), ("requested_at", "发起时间"), ("ack_due_at", "签收时限"), ("acknowledged_at", "签收时间"),
    ("due_at", "办理时限"), ("due_provisional", "时限暂定"), ("answered_at", "答复时间"), ("on_time", "按时"),
    ("escalation_level", "督办级别"),
]


def task_rows(session: Session, jurisdiction: str, now) -> list[dict]:
    """One row per task inside ``jurisdiction`` (oldest first), keyed by the first item of :data:`TASK_COLUMNS`."""
    units = {u.code: u.name for u in session.exec(select(AgencyUnit)).all()}
    rows = []
    for task, case in sorted(tasks_in(session, jurisdiction), key=lambda r: r[0].requested_at):
        run = session.get(PathwayRun, task.pathway_run_id) if task.pathway_run_id else None
        answered = task.answered_at
        on_time = "" if answered is None or TaskState(task.state) != TaskState.completed else (
            "yes" if answered <= task.due_at else "no")
        if answered is None and TaskState(task.state).is_open and task.due_at < now:
            on_time = "overdue"
        rows.append({
            "case_reference": case.reference if case else "", "county_code": case.county_code if case else "",
            "pathway": run.pathway if run else "", "step_key": task.step_key, "step_title": task.title,
            "attempt": task.attempt, "unit_code": task.unit_code, "unit_name": units.get(task.unit_code, ""),
            "state": TaskState(task.state).value, "requested_at": local_time(task.requested_at),
            "ack_due_at": local_time(task.ack_due_at), "acknowledged_at": local_time(task.acknowledged_at),
            "due_at": local_time(task.due_at), "due_provisional": "yes" if task.due_provisional else "",
            "answered_at": local_time(answered), "on_time": on_time, "escalation_level": task.escalation_level,
        })
    return rows


def tasks_csv(rows: list[dict]) -> bytes:
    """The task rows as UTF-8 CSV with a byte-order mark (so Excel reads the Chinese headers)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([f"{zh} {key}" for key, zh in TASK_COLUMNS])
    for row in rows:
        writer.writerow([_safe_cell(row[key]) for key, _ in TASK_COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def dashboard_xlsx(dashboard: DashboardOut, rows: list[dict], t: Translator) -> bytes:
    """A workbook with the sheets 按县 (counties), 按单位 (units), 任务 (tasks) and 督办 (escalations)."""
    book = Workbook()
    group_header = ["code", t("common.name"), t("dash.open"), t("dash.overdue"), t("dash.median_ack"),
                    t("dash.median_complete"), "completed", "completed on time", "due", t("dash.on_time_share")]
    sheets = (("按县 counties", dashboard.by_county), ("按单位 units", dashboard.by_unit))
    for index, (title, groups) in enumerate(sheets):
        sheet = book.active if index == 0 else book.create_sheet()
        sheet.title = title
        sheet.append(group_header)
        for g in groups:
            sheet.append([g.key, g.name, g.open, g.overdue, g.median_ack_hours, g.median_complete_hours, g.completed,
                          g.completed_on_time, g.due, g.on_time_share])
    tasks = book.create_sheet("任务 tasks")
    tasks.append([f"{zh} {key}" for key, zh in TASK_COLUMNS])
    for row in rows:
        tasks.append([_safe_cell(row[key]) for key, _ in TASK_COLUMNS])
    escalations = book.create_sheet("督办 escalations")
    escalations.append(["case", "task", "unit", "step", "rung", "level", "fired"])
    for e in dashboard.escalations:
        escalations.append([e.case_reference, e.task_short_ref, e.unit_code, e.step_title, e.rung, e.level,
                            local_time(e.fired_at)])
    for sheet in book.worksheets:
        for cell in sheet[1]:
            cell.font = Font(bold=True)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _safe_cell(value):
    """Defuse spreadsheet formulas in text cells (a cell starting with = + - @ is written as text)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value
