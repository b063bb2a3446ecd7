"""The dashboard exported as CSV (its tasks) and as an Excel workbook (counties, units, tasks, escalations).

Both stream: the tasks are read in keyset batches of :data:`BATCH` (oldest first, through
``ix_agency_task_requested_at``, see :func:`task_rows`) and written out batch by batch, so that memory stays flat
whatever the jurisdiction holds. The CSV's first bytes leave with the first batch; the workbook is written by
openpyxl in write-only mode to a temporary file, then sent in chunks (an XLSX is a zip whose directory comes
last: its first byte can only leave once the file is complete). A worksheet holds at most 1,048,576 rows: the
tasks continue on further sheets (任务（续2）…).

Headers and values are in the reader's language (Chinese by default, :mod:`web.i18n`): states, pathways,
yes/no, never raw enum values. Every text cell goes through :func:`careflow.exports.safe_cell` (formulas
written as text, control characters removed). Exports carry case references, never a child's name or ID
number; times are Asia/Shanghai.
"""
from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator

import sqlalchemy as sa
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from sqlmodel import Session, select

from careflow.exports import safe_cell, safe_row
from models.agency import AgencyUnit
from models.case import Case, PathwayRun
from models.child import Child
from models.dashboard import DashboardFigure
from models.task import AgencyTask, TaskState
from web.i18n import Translator
from web.metrics import county_name, ensure_figures, latest_escalations, task_in_jurisdiction, unit_figures
from web.views import local_time, pathway_title

BATCH = 2000
FIRST_BATCH = 100  # batches double from here to BATCH: the first bytes leave after a hundred rows
SHEET_ROWS = 1_048_575  # data rows per worksheet (one row is the header)
ESCALATION_ROWS = 1000
CHUNK = 64 * 1024

#: The task columns: (i18n key of the header, field of :func:`task_rows`' dicts).
TASK_COLUMNS = [
    ("case.reference", "case_reference"), ("export.county_code", "county_code"), ("export.county", "county"),
    ("export.pathway", "pathway"), ("export.step", "step_title"), ("export.attempt", "attempt"),
    ("export.unit_code", "unit_code"), ("export.unit", "unit_name"), ("export.state", "state"),
    ("export.requested_at", "requested_at"), ("export.ack_due_at", "ack_due_at"),
    ("export.acknowledged_at", "acknowledged_at"), ("export.due_at", "due_at"),
    ("export.due_provisional", "due_provisional"), ("export.answered_at", "answered_at"),
    ("export.on_time", "on_time"), ("export.escalation_level", "escalation_level"),
]

GROUP_COLUMNS = [
    ("common.code", "key"), ("common.name", "name"), ("dash.open", "open"), ("dash.overdue", "overdue"),
    ("dash.escalated", "escalated"), ("export.median_ack_hours", "median_ack_hours"),
    ("export.median_complete_hours", "median_complete_hours"), ("export.completed", "completed"),
    ("export.completed_on_time", "completed_on_time"), ("export.due", "due"), ("dash.on_time_share", "on_time_share"),
]


def task_headers(t: Translator) -> list[str]:
    return [t(key) for key, _ in TASK_COLUMNS]


def _tasks_query(jurisdiction: str):
    return (
        select(AgencyTask.id, AgencyTask.title, AgencyTask.attempt, AgencyTask.unit_code, AgencyTask.state,
               AgencyTask.requested_at, AgencyTask.ack_due_at, AgencyTask.acknowledged_at, AgencyTask.due_at,
               AgencyTask.due_provisional, AgencyTask.answered_at, AgencyTask.escalation_level,
               AgencyTask.jurisdiction_code, Case.reference, Case.county_code, PathwayRun.pathway, AgencyUnit.name)
        .select_from(AgencyTask)
        .outerjoin(Case, Case.id == AgencyTask.case_id).outerjoin(Child, Child.id == Case.child_id)
        .outerjoin(PathwayRun, PathwayRun.id == AgencyTask.pathway_run_id)
        .outerjoin(AgencyUnit, AgencyUnit.code == AgencyTask.unit_code)
        .where(task_in_jurisdiction(jurisdiction))
    )


def task_rows(bind, jurisdiction: str, now, t: Translator, *, batch: int = BATCH) -> Iterator[list[dict]]:
    """Batches of task rows inside ``jurisdiction`` (oldest first), keyed by the fields of :data:`TASK_COLUMNS`.

    Keyset batches on a session of its own (``bind``: an engine or connection), doubling from
    :data:`FIRST_BATCH` to ``batch``: the next task ids in
    (requested_at, id) order, read from ``ix_agency_task_requested_at`` alone, then those tasks' rows that lie in
    the jurisdiction (a bounded ``IN`` of one batch). Each batch costs the same whatever the province holds, the
    first leaves at once, and memory stays flat; the whole export costs one walk of the index. ``now`` (UTC)
    decides what is overdue.
    """
    titles: dict[str, str] = {}
    counties: dict[str, str] = {}
    yes, no, overdue = t("common.yes"), t("common.no"), t("export.overdue")
    last, size = None, min(FIRST_BATCH, batch)
    key = sa.tuple_(AgencyTask.requested_at, AgencyTask.id)
    while True:
        with Session(bind) as session:
            page = select(AgencyTask.requested_at, AgencyTask.id).order_by(AgencyTask.requested_at, AgencyTask.id)
            ids = session.exec((page.where(key > last) if last else page).limit(size)).all()
            if not ids:
                return
            last, size = tuple(ids[-1]), min(size * 2, batch)
            found = session.execute(_tasks_query(jurisdiction).where(AgencyTask.id.in_([i for _, i in ids]))
                                    .order_by(AgencyTask.requested_at, AgencyTask.id)).all()
        rows = []
        for r in found:
            state = TaskState(r.state)
            on_time = ""
            if state == TaskState.completed and r.answered_at is not None:
                on_time = yes if r.answered_at <= r.due_at else no
            elif state.is_open and r.due_at < now:
                on_time = overdue
            county = r.county_code or (r.jurisdiction_code[:6] if r.reference is None else "")
            if county not in counties:
                counties[county] = county_name(county) if county else ""
            if r.pathway and r.pathway not in titles:
                titles[r.pathway] = pathway_title(r.pathway, t)
            rows.append({
                "case_reference": r.reference or "", "county_code": county, "county": counties[county],
                "pathway": titles.get(r.pathway, "") if r.pathway else "", "step_title": r.title,
                "attempt": r.attempt, "unit_code": r.unit_code, "unit_name": r.name or "",
                "state": t.state(state), "requested_at": local_time(r.requested_at),
                "ack_due_at": local_time(r.ack_due_at), "acknowledged_at": local_time(r.acknowledged_at),
                "due_at": local_time(r.due_at), "due_provisional": yes if r.due_provisional else "",
                "answered_at": local_time(r.answered_at), "on_time": on_time,
                "escalation_level": r.escalation_level,
            })
        if rows:
            yield rows


def tasks_csv(batches: Iterator[list[dict]], t: Translator) -> Iterator[bytes]:
    """The task rows as UTF-8 CSV with a byte-order mark (so Excel reads the Chinese headers), one chunk per
    batch; the header leaves with the first batch."""
    out = io.StringIO()
    writer = csv.writer(out)
    out.write("\ufeff")
    writer.writerow(safe_row(task_headers(t)))
    for rows in batches:
        for row in rows:
            writer.writerow(safe_row(row[key] for _, key in TASK_COLUMNS))
        yield out.getvalue().encode("utf-8")
        out.seek(0)
        out.truncate()
    if out.tell():
        yield out.getvalue().encode("utf-8")


def _header(sheet, values: list[str]) -> list[WriteOnlyCell]:
    cells = []
    for value in safe_row(values):
        cell = WriteOnlyCell(sheet, value=value)
        cell.font = Font(bold=True)
        cells.append(cell)
    return cells


def _group_row(f: DashboardFigure, name: str) -> list:
    share = round(f.completed_on_time / f.due, 3) if f.due else None
    return safe_row([f.key, name, f.open, f.overdue, f.escalated, f.median_ack_hours, f.median_complete_hours,
                     f.completed, f.completed_on_time, f.due, share])


def write_workbook(bind, jurisdiction: str, now, t: Translator, target) -> None:
    """Write the dashboard's workbook for ``jurisdiction`` to ``target`` (a path or binary file): sheets 按县（市、
    区）, 按承办单位 (every unit, not a page), 任务 (continued on 任务（续2）… past a worksheet's size) and 督办记录
    (the latest :data:`ESCALATION_ROWS`). openpyxl write-only: rows go to disk as they come."""
    ensure_figures(bind)
    book = Workbook(write_only=True)
    group_header = [t(key) for key, _ in GROUP_COLUMNS]
    with Session(bind) as session:
        counties = session.exec(select(DashboardFigure).where(DashboardFigure.scope_code == jurisdiction,
                                                              DashboardFigure.kind == "county")
                                .order_by(DashboardFigure.key)).all()
        units = unit_figures(session, jurisdiction)
        names = dict(session.exec(select(AgencyUnit.code, AgencyUnit.name)).all())
        escalations, _ = latest_escalations(session, jurisdiction, ESCALATION_ROWS)
    sheet = book.create_sheet(t("export.sheet_counties"))
    sheet.append(_header(sheet, group_header))
    for f in counties:
        sheet.append(_group_row(f, county_name(f.key)))
    sheet = book.create_sheet(t("export.sheet_units"))
    sheet.append(_header(sheet, group_header))
    for f in units:
        sheet.append(_group_row(f, names.get(f.key, f.key)))
    sheet, written, number = None, SHEET_ROWS, 1
    for rows in task_rows(bind, jurisdiction, now, t):
        for row in rows:
            if written >= SHEET_ROWS:
                title = t("export.sheet_tasks") if sheet is None else t("export.sheet_tasks_more", n=number)
                sheet = book.create_sheet(title)
                sheet.append(_header(sheet, task_headers(t)))
                written, number = 0, number + 1
            sheet.append(safe_row(row[key] for _, key in TASK_COLUMNS))
            written += 1
    if sheet is None:
        sheet = book.create_sheet(t("export.sheet_tasks"))
        sheet.append(_header(sheet, task_headers(t)))
    sheet = book.create_sheet(t("export.sheet_escalations"))
    sheet.append(_header(sheet, [t("case.reference"), t("export.step"), t("export.unit_code"), t("export.rung"),
                                 t("export.escalation_level"), t("export.fired_at")]))
    for e in escalations:
        sheet.append(safe_row([e.case_reference, e.step_title, e.unit_code, t(f"rung.{e.rung}"), e.level,
                               local_time(e.fired_at)]))
    book.save(target)


def workbook_chunks(bind, jurisdiction: str, now, t: Translator) -> Iterator[bytes]:
    """The workbook of :func:`write_workbook`, written to a temporary file and read back in chunks."""
    with tempfile.TemporaryFile() as handle:
        write_workbook(bind, jurisdiction, now, t, handle)
        handle.seek(0)
        while chunk := handle.read(CHUNK):
            yield chunk


__all__ = ["TASK_COLUMNS", "safe_cell", "task_rows", "tasks_csv", "workbook_chunks", "write_workbook"]
