"""The dashboard's figures (web.metrics), its chart (web.charts) and its exports (web.exports)."""
import csv
import io
from datetime import datetime, timedelta, timezone

from openpyxl import load_workbook

from models.task import AgencyTask, TaskState
from web.charts import horizontal_bars
from web.exports import TASK_COLUMNS, _safe_cell, tasks_csv
from web.metrics import _group

NOW = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)


def task(state, *, requested_h, due_h, ack_h=None, answered_h=None) -> AgencyTask:
    at = lambda hours: NOW + timedelta(hours=hours) if hours is not None else None  # noqa: E731
    return AgencyTask(step_key="s", agency_type="police", unit_code="u", jurisdiction_code="350302", title="t",
                      deadline_text="24 hours", state=state, requested_at=at(requested_h), due_at=at(due_h),
                      acknowledged_at=at(ack_h), answered_at=at(answered_h))


def test_group_figures():
    tasks = [
        task(TaskState.completed, requested_h=-50, due_h=-26, ack_h=-49, answered_h=-30),   # on time, ack 1 h
        task(TaskState.completed, requested_h=-50, due_h=-40, ack_h=-47, answered_h=-20),   # late, ack 3 h
        task(TaskState.requested, requested_h=-30, due_h=-6),                                # overdue, open
        task(TaskState.acknowledged, requested_h=-2, due_h=22, ack_h=-1),                    # open, in time
        task(TaskState.rejected, requested_h=-60, due_h=-36, answered_h=-59),                # not counted as due
    ]
    g = _group("350302", "城厢区", tasks, NOW)
    assert (g.open, g.overdue, g.completed, g.completed_on_time, g.due) == (2, 1, 2, 1, 3)
    assert g.on_time_share == round(1 / 3, 3)
    assert g.median_ack_hours == 1.0           # acknowledgements of 1, 3 and 1 hours
    assert g.median_complete_hours == 25.0     # completions after 20 and 30 hours


def test_no_tasks_no_share():
    g = _group("350823", "上杭县", [], NOW)
    assert g.on_time_share is None and g.median_ack_hours is None


def test_bars_scale_to_the_largest_value():
    rows = [("a", [(4, "bar-open", "4")]), ("b", [(2, "bar-open", "2"), (0, "bar-overdue", "0")])]
    chart = horizontal_bars("t", rows, legend=[])
    a, b = chart.rows
    assert a.bars[0].width == 540 and b.bars[0].width == 270 and b.bars[1].width == 0
    assert chart.height > b.bars[1].y


def test_csv_has_a_bom_and_defuses_formulas():
    row = {key: "" for key, _ in TASK_COLUMNS} | {"case_reference": "CF-1", "step_title": "=HYPERLINK(\"x\")"}
    content = tasks_csv([row])
    assert content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0][0] == "个案编号 case_reference" and rows[1][4].startswith("'=")
    assert _safe_cell("-1") == "'-1" and _safe_cell(3) == 3


def test_excel_export_has_its_sheets(web_app, world, clients):
    response = clients["mgr_city"].get("/dashboard/export.xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["按县 counties", "按单位 units", "任务 tasks", "督办 escalations"]
    references = {row[0] for row in book["任务 tasks"].iter_rows(min_row=2, values_only=True)}
    assert world.places["A1"].reference in references and world.places["B"].reference not in references
    for place in world.places.values():
        assert place.child_name not in str(list(book["任务 tasks"].values))


def test_language_comes_from_the_query_then_the_cookie(web_app, clients):
    client = clients["mgr_a"]
    assert "督办看板" in client.get("/dashboard").text
    english = client.get("/dashboard?lang=en")
    assert "Dashboard" in english.text and english.cookies.get("careflow_lang") == "en"
    assert "Dashboard" in client.get("/dashboard").text
    assert "督办看板" in client.get("/dashboard?lang=zh").text
