"""The dashboard's figures (careflow.figures, web.metrics), its chart (web.charts) and its exports (web.exports).

The figures are computed in SQL; the fixture below is the small case the old Python aggregation was checked on,
with every figure computed by hand, in a county (霞浦县 350921) that no other test uses.
"""
import csv
import io
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from openpyxl import load_workbook

from careflow.cases import open_case

from careflow.registration import register_child
from core.db import session_scope
from careflow.figures import compute_figures, scopes_of
from models.agency import AgencyUnit
from models.task import AgencyTask, TaskState
from models.user import UserRole
from tests.factories import make_resident_id
from tests.web.conftest import PASSWORD, sign_in
from web.charts import horizontal_bars
from web.i18n import Translator
from web.metrics import build_dashboard
from web.users import create_user

NOW = datetime.now(timezone.utc).replace(microsecond=0)  # the page recomputes at the real time: no drift
COUNTY, CITY, PROVINCE = "350921", "350900", "350000"


def at(hours):
    return NOW + timedelta(hours=hours) if hours is not None else None


@pytest.fixture(scope="module")
def xiapu(database_url):
    """Two units of 霞浦县 with seven tasks (hours relative to NOW):

    ===  =====  ============  =========  ======  ====  ========  ==========================================
    no.  unit   state         requested  due     ack   answered  counts as
    ===  =====  ============  =========  ======  ====  ========  ==========================================
    1    A      completed     -50        -26     -49   -30       on time; ack 1 h, done in 20 h
    2    A      completed     -50        -40     -47   -20       late; ack 3 h, done in 30 h
    3    A      requested     -30        -6                      open, overdue, escalated (level 1)
    4    B      acknowledged  -2         +22     -1              open; ack 1 h
    5    B      rejected      -60        -36           -59       left out
    6    B      completed     -2450      -2440   -2449 -2445     outside the 90-day window
    7    B      in_progress   -5         -1      -4              open, overdue (a case's task); ack 1 h
    ===  =====  ============  =========  ======  ====  ========  ==========================================
    Task 1 begins like a formula (its title '=1+1'), for the exports.
    """
    suffix = uuid.uuid4().hex[:6]
    units = {"A": f"police-{COUNTY}-{suffix}", "B": f"education-{COUNTY}-{suffix}"}
    with session_scope() as session:
        for key, code in units.items():
            session.add(AgencyUnit(code=code, agency_type="police" if key == "A" else "education",
                                   jurisdiction_code=COUNTY, name=f"霞浦测试单位{key}{suffix}"))
        reg = register_child(session, resident_id=make_resident_id("350823", date(2010, 4, 4)),
                             full_name=f"看板儿童{suffix}", hukou_county="511321", residence_county=COUNTY,
                             residence_area_code=f"{COUNTY}101001", arrival_date=date(2023, 8, 20), actor="fixture")
        session.flush()
        case = open_case(session, child_id=reg.child.id, caseworker="fixture")
        session.flush()
        spec = [
            ("A", TaskState.completed, -50, -26, -49, -30, 0, "=1+1"),
            ("A", TaskState.completed, -50, -40, -47, -20, 0, "t2"),
            ("A", TaskState.requested, -30, -6, None, None, 1, "t3"),
            ("B", TaskState.acknowledged, -2, 22, -1, None, 0, "t4"),
            ("B", TaskState.rejected, -60, -36, None, -59, 0, "t5"),
            ("B", TaskState.completed, -2450, -2440, -2449, -2445, 0, "t6"),
            ("B", TaskState.in_progress, -5, -1, -4, None, 0, "t7"),
        ]
        for n, (unit, state, req, due, ack, answered, level, title) in enumerate(spec, start=1):
            session.add(AgencyTask(
                case_id=case.id if n == 7 else None, duty_key=None if n == 7 else f"dash-{suffix}-{n}",
                step_key="s", agency_type="police", unit_code=units[unit],
                jurisdiction_code=f"{COUNTY}101001", title=title, deadline_text="24 hours", state=state,
                requested_at=at(req), due_at=at(due), acknowledged_at=at(ack), answered_at=at(answered),
                escalation_level=level))
    return units


def test_the_figures_computed_in_sql_are_the_hand_computed_ones(xiapu):
    with session_scope() as session:
        figures = compute_figures(session, NOW)
    total = figures[(COUNTY, "total", "")]
    assert (total["open"], total["overdue"], total["escalated"]) == (3, 2, 1)
    assert (total["completed"], total["completed_on_time"], total["due"]) == (2, 1, 4)
    assert total["median_ack_hours"] == 1.0           # acknowledgements of 1, 3, 1 and 1 hours in the window
    assert total["median_complete_hours"] == 25.0     # completions after 20 and 30 hours
    a, b = figures[(COUNTY, "unit", xiapu["A"])], figures[(COUNTY, "unit", xiapu["B"])]
    assert (a["open"], a["overdue"], a["completed"], a["completed_on_time"], a["due"]) == (1, 1, 2, 1, 3)
    assert (a["median_ack_hours"], a["median_complete_hours"]) == (2.0, 25.0)   # the mean of the middle two
    assert (b["open"], b["overdue"], b["completed"], b["due"]) == (2, 1, 0, 1)
    assert (b["median_ack_hours"], b["median_complete_hours"]) == (1.0, None)
    assert figures[(COUNTY, "county", COUNTY)] == total
    # the same units seen from the city and the province (their tasks lie nowhere else)
    for scope in (CITY, PROVINCE):
        assert figures[(scope, "unit", xiapu["A"])] == a and figures[(scope, "unit", xiapu["B"])] == b
        assert figures[(scope, "county", COUNTY)] == total


def test_scopes_are_each_counted_once():
    assert scopes_of("350302") == ["350302", "350300", "350000"]
    assert scopes_of("350300") == ["350300", "350000"]
    assert scopes_of("350000") == ["350000"]


def test_the_dashboard_reads_the_figures_and_pages_its_units(xiapu):
    with session_scope() as session:
        d = build_dashboard(session, COUNTY, t=Translator("zh"), now=NOW, fresh=True, unit_page_size=1,
                            unit_sort="overdue")
        assert d.as_of == NOW and d.window_days == 90
        assert (d.totals.open, d.totals.overdue, d.totals.escalated, d.totals.on_time_share) == (3, 2, 1, 0.25)
        assert [(g.key, g.on_time_share) for g in d.by_county] == [(COUNTY, 0.25)]
        assert d.units_total == 2 and len(d.by_unit) == 1
        assert d.by_unit[0].key == xiapu["B"] and d.by_unit[0].on_time_share == 0.0  # 1 overdue of 2 open
        second = build_dashboard(session, COUNTY, t=Translator("zh"), unit_page=2, unit_page_size=1,
                                 unit_sort="overdue")
        assert [g.key for g in second.by_unit] == [xiapu["A"]] and second.by_unit[0].on_time_share == round(1 / 3, 3)


def test_the_sweeper_refreshes_stale_figures_and_the_page_only_reads_them(xiapu):
    import sqlalchemy as sa

    from flows.sweeper import refresh_dashboard
    from models.dashboard import DashboardFigure

    with session_scope() as session:
        build_dashboard(session, COUNTY, t=Translator("zh"), fresh=True)
    assert refresh_dashboard.fn()["refreshed"] is False  # just computed: fresh enough
    with session_scope() as session:
        hour_ago = datetime.now(timezone.utc) - timedelta(hours=1)
        session.execute(sa.update(DashboardFigure).values(computed_at=hour_ago))
    with session_scope() as session:
        stale = build_dashboard(session, COUNTY, t=Translator("zh")).as_of
    with session_scope() as session:  # the page read the stale figures without recomputing them
        assert build_dashboard(session, COUNTY, t=Translator("zh")).as_of == stale
    done = refresh_dashboard.fn()
    assert done["refreshed"] is True and done["rows"] > 0
    with session_scope() as session:
        d = build_dashboard(session, COUNTY, t=Translator("zh"))
        assert d.as_of > stale + timedelta(minutes=59) and d.totals.open == 3
        session.execute(sa.delete(DashboardFigure))  # never computed (a fresh install): the page computes them
    with session_scope() as session:
        assert build_dashboard(session, COUNTY, t=Translator("zh")).totals.open == 3


def test_no_tasks_no_share(database_url):
    with session_scope() as session:
        d = build_dashboard(session, "350426", t=Translator("zh"))  # 尤溪县: no test puts a task there
    assert d.totals.open == 0 and d.totals.on_time_share is None and d.totals.median_ack_hours is None
    assert d.by_unit == [] and d.units_total == 0


def test_bars_scale_to_the_largest_value():
    rows = [("a", [(4, "bar-open", "4")]), ("b", [(2, "bar-open", "2"), (0, "bar-overdue", "0")])]
    chart = horizontal_bars("t", rows, legend=[])
    a, b = chart.rows
    assert a.bars[0].width == 540 and b.bars[0].width == 270 and b.bars[1].width == 0
    assert chart.height > b.bars[1].y


@pytest.fixture(scope="module")
def xiapu_manager(web_app, xiapu):
    """A manager of 霞浦县, signed in, after the figures were refreshed as the sweeper does (an earlier test of the
    session may have computed them before ``xiapu``'s units existed)."""
    from careflow.figures import refresh_figures

    username = f"mgr.xiapu.{uuid.uuid4().hex[:6]}"
    with session_scope() as session:
        refresh_figures(session, now=NOW)
        create_user(session, username=username, password=PASSWORD, role=UserRole.manager, actor="fixture",
                    jurisdiction_code=COUNTY)
    return sign_in(web_app, username)


def test_the_page_shows_the_window_escalated_and_a_pager(xiapu_manager):
    page = xiapu_manager.get("/dashboard?unit_sort=open")
    assert page.status_code == 200
    assert "近 90 天" in page.text and 'id="total-escalated"' in page.text and 'id="units-pager"' in page.text
    assert "共 2 个单位" in page.text and "<strong>办理中最多</strong>" in page.text
    assert xiapu_manager.get("/dashboard?unit_sort=bogus").status_code in (400, 422)


def test_the_csv_streams_in_chinese_with_formulas_as_text(xiapu_manager, xiapu):
    with xiapu_manager.stream("GET", "/dashboard/export.csv") as response:
        assert response.status_code == 200 and "content-length" not in response.headers  # streamed, not sized
        content = b"".join(response.iter_bytes())
    assert content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0][:5] == ["个案编号", "县（市、区）代码", "县（市、区）", "转介路径", "环节"]
    assert not any(h.isascii() for h in rows[0])  # no English header
    mine = {r[4]: r for r in rows[1:] if r[6] in xiapu.values()}
    assert sorted(mine) == ["'=1+1", "t2", "t3", "t4", "t5", "t6", "t7"]  # oldest first, every task, none else
    assert [r[4] for r in rows[1:]][0] == "t6"
    assert mine["'=1+1"][8] == "已办结" and mine["'=1+1"][15] == "是" and mine["t2"][15] == "否"
    assert mine["t3"][8] == "待签收" and mine["t3"][15] == "逾期未办结" and mine["t5"][8] == "已退回"
    assert mine["t7"][0].startswith("CF-") and mine["t7"][2] == "霞浦县"
    states = {r[8] for r in rows[1:]}
    assert not states & {s.value for s in TaskState}  # no raw enum value


def test_the_workbook_has_its_sheets_in_chinese_and_no_formula(xiapu_manager, xiapu):
    response = xiapu_manager.get("/dashboard/export.xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["按县（市、区）", "按承办单位", "任务", "督办记录"]
    assert all(cell.data_type != "f" for sheet in book.worksheets for row in sheet.iter_rows() for cell in row)
    units = {row[0]: row for row in book["按承办单位"].iter_rows(min_row=2, values_only=True)}
    assert units[xiapu["A"]][2:5] == (1, 1, 1) and units[xiapu["B"]][2:4] == (2, 1)
    tasks = [row for row in book["任务"].iter_rows(min_row=2, values_only=True)]
    assert "'=1+1" in {row[4] for row in tasks} and len(tasks) == 7


def test_excel_export_is_scoped(web_app, world, clients):
    response = clients["mgr_city"].get("/dashboard/export.xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    references = {row[0] for row in book["任务"].iter_rows(min_row=2, values_only=True)}
    assert world.places["A1"].reference in references and world.places["B"].reference not in references
    for place in world.places.values():
        assert place.child_name not in str(list(book["任务"].values))


def test_a_units_name_that_begins_like_a_formula_is_text_in_the_unit_sheet(xiapu_manager, xiapu):
    with session_scope() as session:
        unit = session.get(AgencyUnit, xiapu["B"])
        name = unit.name
        unit.name = "@SUM(1+1)"
    try:
        with session_scope() as session:
            build_dashboard(session, COUNTY, t=Translator("zh"), fresh=True)
        book = load_workbook(io.BytesIO(xiapu_manager.get("/dashboard/export.xlsx").content))
        names = {row[0]: row[1] for row in book["按承办单位"].iter_rows(min_row=2, values_only=True)}
        assert names[xiapu["B"]] == "'@SUM(1+1)"
    finally:
        with session_scope() as session:
            session.get(AgencyUnit, xiapu["B"]).name = name


def test_language_comes_from_the_query_then_the_cookie(web_app, clients):
    client = clients["mgr_a"]
    assert "督办看板" in client.get("/dashboard").text
    english = client.get("/dashboard?lang=en")
    assert "Dashboard" in english.text and english.cookies.get("careflow_lang") == "en"
    assert "Dashboard" in client.get("/dashboard").text
    assert "督办看板" in client.get("/dashboard?lang=zh").text


def test_the_export_reads_in_keyset_batches_oldest_first(xiapu):
    from core.db import get_engine
    from web.exports import task_rows

    batches = list(task_rows(get_engine(), COUNTY, NOW, Translator("zh"), batch=2))
    titles = [row["step_title"] for rows in batches for row in rows]
    # requested 2450, 60, 50, 50, 30, 5 and 2 hours ago (the two of 50 hours in id order)
    assert titles[:2] == ["t6", "t5"] and set(titles[2:4]) == {"=1+1", "t2"} and titles[4:] == ["t3", "t7", "t4"]
    assert len(batches) >= 4  # several keyset batches, none empty


def test_the_latest_pathways_are_the_newest_inside_the_jurisdiction_within_a_bound(web_app, world, monkeypatch):
    import web.metrics

    with session_scope() as session:
        d = build_dashboard(session, "350302", t=Translator("zh"))
        references = [p.case_reference for p in d.pathways]
        assert {world.places["A1"].reference, world.places["A2"].reference} <= set(references)
        assert world.places["B"].reference not in references and d.pathways_complete
        assert [p.started_at for p in d.pathways] == sorted((p.started_at for p in d.pathways), reverse=True)
        monkeypatch.setattr(web.metrics, "SCAN_LIMIT", 1)
        nothing = build_dashboard(session, "350426", t=Translator("zh"))  # no pathway there: the walk stops
        assert nothing.pathways == [] and not nothing.pathways_complete
