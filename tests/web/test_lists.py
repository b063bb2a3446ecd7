"""Lists for a province: every row of a list is reachable a page at a time (keyset, with the total), filters and
search find what people look for inside what they may see, bad parameters answer a Chinese 400 naming the field
and the value, and the inbox costs the same few SQL statements (and no sequential scan over ``agency_task`` on
PostgreSQL) however many tasks the unit holds.

The data lives in 仓山区 (350104), a county no person of the permission world (``tests/web/conftest.py``) sees.
"""
from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from core.db import get_engine, session_scope
from models.agency import AgencyUnit
from models.case import Case, CaseStatus, PathwayRun, PathwayStatus
from models.child import Child
from models.key_care_files import KeyCareFile, file_reference
from models.resident_id import check_character
from models.task import AgencyTask, TaskState
from models.user import UserRole
from tests.conftest import BACKENDS
from tests.web.conftest import PASSWORD, Browser, sign_in
from web.users import create_api_token, create_user

COUNTY, TOWNSHIP, OTHER_TOWNSHIP = "350104", "350104001", "350104002"
NOW = datetime.now(timezone.utc).replace(microsecond=0)
LOCAL_TODAY = (NOW + timedelta(hours=8)).date()  # Asia/Shanghai
CHILDREN_IN_TOWNSHIP = 53
OPEN_TASKS = 45


def resident_id(birth: date, seq: int) -> str:
    first17 = f"{COUNTY}{birth:%Y%m%d}{seq:03d}"
    return first17 + check_character(first17)


def insert_children(session, *, area: str, count: int, birth: date, names: str, tie_every: int = 3) -> list[Child]:
    """``count`` children living in ``area``, registered ``tie_every`` at the same instant (ties broken by id)."""
    children = [Child(resident_id=resident_id(birth, i + 1), full_name=f"{names}{i:03d}", birth_date=birth,
                      hukou_county_code="511321", residence_county_code=area[:6], residence_area_code=area,
                      arrival_date=date(2023, 1, 5), created_by="fixture",
                      key_care_criteria=["disability"] if i % 4 == 0 else [],
                      created_at=NOW - timedelta(hours=i // tie_every))
                for i in range(count)]
    session.add_all(children)
    session.flush()
    return children


@dataclass
class Province:
    suffix: str
    unit: str
    children: list = field(default_factory=list)       # (id, name, resident id) in the township
    other_children: list = field(default_factory=list)  # in the other township of the county
    cases: dict = field(default_factory=dict)           # reference -> (status, pathway)
    tasks: dict = field(default_factory=dict)           # task id -> (state, due_at, escalation level, pathway)
    files: dict = field(default_factory=dict)           # file reference -> child name
    tokens: dict = field(default_factory=dict)
    users: dict = field(default_factory=dict)

    def add_tasks(self, session, case_runs, count: int, *, start: int, state: TaskState = TaskState.requested
                  ) -> list[uuid.UUID]:
        added = []
        for i in range(start, start + count):
            case_id, run_id, pathway = case_runs[i % len(case_runs)]
            # a real step of the run's pathway (the sweeper renders messages for these open tasks too)
            step = {"guardianship": "police_reprimand"}.get(pathway, "medical_referral")
            task = AgencyTask(case_id=case_id, pathway_run_id=run_id, step_key=step, attempt=i + 1, agency_type="police",
                              unit_code=self.unit, jurisdiction_code=COUNTY, title=f"任务{i}",
                              state=state if i % 3 or state != TaskState.requested else TaskState.acknowledged,
                              due_at=NOW + timedelta(hours=i - 10, minutes=30), deadline_text="3 working days",
                              requested_at=NOW - timedelta(days=1, minutes=i), escalation_level=1 if i % 7 == 0 else 0,
                              answered_at=NOW if state == TaskState.completed else None)
            session.add(task)
            session.flush()
            self.tasks[task.id] = (task.state, task.due_at, task.escalation_level, pathway)
            added.append(task.id)
        return added


@pytest.fixture(scope="module")
def province(database_url, web_app) -> Province:
    suffix = uuid.uuid4().hex[:6]
    p = Province(suffix, unit=f"police-lists{suffix}")
    birth = date(2010, 1, 1) + timedelta(days=int(suffix, 16) % 900)  # a fresh ID space each time
    with session_scope() as session:
        children = insert_children(session, area=f"{TOWNSHIP}001", count=CHILDREN_IN_TOWNSHIP, birth=birth,
                                   names=f"翻页{suffix}")
        p.children = [(c.id, c.full_name, c.resident_id) for c in children]
        others = insert_children(session, area=f"{OTHER_TOWNSHIP}001", count=4, birth=birth + timedelta(days=1),
                                 names=f"邻镇{suffix}")
        p.other_children = [(c.id, c.full_name, c.resident_id) for c in others]
        session.add(AgencyUnit(code=p.unit, agency_type="police", jurisdiction_code=COUNTY, name="仓山公安测试"))
        case_runs = []
        for i, child in enumerate(children[:12]):
            pathway = "guardianship" if i % 2 else "psychological_screening"
            status = CaseStatus.closed if i % 3 == 0 else CaseStatus.open
            case = Case(reference=f"CF-{COUNTY}-{suffix.upper()}-{i:03d}", child_id=child.id, county_code=COUNTY,
                        caseworker="fixture", status=status, opened_at=NOW - timedelta(days=i))
            session.add(case)
            session.flush()
            run = PathwayRun(case_id=case.id, pathway=pathway, started_by="fixture", status=PathwayStatus.cancelled)
            session.add(run)
            session.flush()
            p.cases[case.reference] = (status.value, pathway)
            case_runs.append((case.id, run.id, pathway))
        p.add_tasks(session, case_runs, OPEN_TASKS, start=0)
        p.add_tasks(session, case_runs, 6, start=OPEN_TASKS, state=TaskState.completed)
        for i, child in enumerate(children):
            if child.key_care_criteria:
                file = KeyCareFile(child_id=child.id, county_code=COUNTY, area_code=child.residence_area_code,
                                   criteria=child.key_care_criteria, opened_on=date(2026, 10, 31),
                                   last_contact_on=LOCAL_TODAY if i % 8 == 0 else None)
                session.add(file)
                session.flush()
                p.files[file_reference(file.id)] = child.full_name
        for key, role, jurisdiction, unit in [("cw", UserRole.caseworker, TOWNSHIP, None),
                                              ("mgr", UserRole.manager, COUNTY, None),
                                              ("off", UserRole.agency_officer, "", p.unit),
                                              ("admin", UserRole.admin, "", None)]:
            user = create_user(session, username=f"lists.{key}.{suffix}", password=PASSWORD, role=role,
                               actor="fixture", jurisdiction_code=jurisdiction, unit_code=unit)
            p.users[key] = user.username
            p.tokens[key] = create_api_token(session, user=user, name="tests").token
    return p


@pytest.fixture(scope="module")
def people(web_app, province) -> dict[str, Browser]:
    return {key: sign_in(web_app, username) for key, username in province.users.items()}


def api(client: Browser, province: Province, who: str, url: str):
    return client.get(url, headers={"Authorization": f"Bearer {province.tokens[who]}"})


def api_walk(client, province, who, url) -> tuple[list[dict], list[dict]]:
    """Every item of an API list, following ``next``; and the pages' envelopes (without items)."""
    items, pages = [], []
    while url:
        response = api(client, province, who, url)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        pages.append({k: v for k, v in body.items() if k != "items"})
        url = body["next"]
    return items, pages


ROW = re.compile(r'<tr data-child="([0-9a-f-]+)">')
NEXT = re.compile(r'id="page-next"|rel="next"')


def link(page: str, rel: str) -> str | None:
    match = re.search(rf'<a href="([^"]+)" rel="{rel}"', page)
    return html.unescape(match.group(1)) if match else None


def count_text(page: str) -> str:
    return re.search(r'<span class="count" id="list-count">([^<]*)</span>', page).group(1)


# --------------------------------------------------------------------------------------------- paging


def test_paging_through_a_townships_children_shows_every_child_once_with_the_total(province, people):
    client = people["cw"]
    url, seen, counts = "/children?size=10", [], []
    pages = []
    while url:
        page = client.get(url)
        assert page.status_code == 200, page.text
        pages.append(url)
        seen += ROW.findall(page.text)
        counts.append(count_text(page.text))
        url = link(page.text, "next")
    expected = {str(i) for i, _, _ in province.children}
    assert len(seen) == CHILDREN_IN_TOWNSHIP and set(seen) == expected  # each once, none from the other township
    assert counts[0] == f"共 {CHILDREN_IN_TOWNSHIP} 条，第 1–10 条"
    assert counts[-1] == f"共 {CHILDREN_IN_TOWNSHIP} 条，第 51–53 条"
    # and back again from the last page, through the previous links, to the first
    back, url = [], pages[-1]
    while url:
        page = client.get(url)
        back = ROW.findall(page.text) + back
        url = link(page.text, "prev")
    assert back == seen
    # another order pages the same rows
    by_name, url = [], "/children?size=20&sort=name"
    while url:
        page = client.get(url)
        by_name += ROW.findall(page.text)
        url = link(page.text, "next")
    names = {str(i): n for i, n, _ in province.children}
    assert [names[i] for i in by_name] == sorted(names.values())
    english = client.get("/children?size=10&lang=en").text
    assert f"{CHILDREN_IN_TOWNSHIP} in all, showing 1–10" in english and "Next page" in english
    assert "共" in client.get("/children?size=10&lang=zh").text  # (the choice is remembered in a cookie)


def test_the_api_pages_with_a_total_and_next_previous_links(province, people):
    client = people["mgr"]
    items, pages = api_walk(client, province, "mgr", f"/api/children?size=7&area={TOWNSHIP}")
    assert [p["total"] for p in pages] == [CHILDREN_IN_TOWNSHIP] * 8
    assert [(p["first"], p["last"]) for p in pages][:2] == [(1, 7), (8, 14)] and pages[-1]["last"] == 53
    assert pages[0]["previous"] is None and pages[-1]["next"] is None and pages[1]["previous"]
    assert len({c["id"] for c in items}) == CHILDREN_IN_TOWNSHIP == len(items)
    assert all("*" in c["resident_id_masked"] for c in items)
    again = api(client, province, "mgr", pages[1]["previous"]).json()
    assert [c["id"] for c in again["items"]] == [c["id"] for c in items[:7]] and again["first"] == 1
    # the officer's task list
    tasks, task_pages = api_walk(client, province, "off", "/api/tasks?size=20")
    assert len(tasks) == OPEN_TASKS == task_pages[0]["total"] and len(task_pages) == 3
    assert [t["due_at"] for t in tasks] == sorted(t["due_at"] for t in tasks)
    users, _ = api_walk(client, province, "admin", f"/api/admin/users?q=lists.&size=2")
    assert {u["username"] for u in users} >= set(province.users.values())


# --------------------------------------------------------------------------------------------- filters


def refs(body) -> set[str]:
    return {item["case_reference"] for item in body["items"]}


def test_task_filters_state_overdue_escalated_pathway_unit_area_and_dates(province, people):
    client = people["mgr"]
    tasks = province.tasks
    open_ids = {i for i, (state, *_) in tasks.items() if TaskState(state).is_open}

    def ids(url, who="off"):
        items, _ = api_walk(client, province, who, url + ("&" if "?" in url else "?") + "size=200")
        return {uuid.UUID(t["id"]) for t in items}

    assert ids("/api/tasks") == open_ids
    assert ids("/api/tasks?state=closed") == set(tasks) - open_ids
    assert ids("/api/tasks?state=acknowledged") == {i for i, v in tasks.items() if v[0] == TaskState.acknowledged}
    assert ids("/api/tasks?flag=overdue") == {i for i in open_ids if tasks[i][1] < NOW}
    assert ids("/api/tasks?state=all&flag=escalated") == {i for i, v in tasks.items() if v[2] > 0}
    assert ids("/api/tasks?state=all&pathway=guardianship") == {i for i, v in tasks.items() if v[3] == "guardianship"}
    local_day = (NOW + timedelta(hours=8)).date()  # Asia/Shanghai
    in_range = ids(f"/api/tasks?due_from={local_day + timedelta(days=1)}&due_to={local_day + timedelta(days=1)}")
    assert in_range and in_range == {i for i in open_ids
                                     if (tasks[i][1] + timedelta(hours=8)).date() == local_day + timedelta(days=1)}
    # a manager: their county's tasks, by unit and by township
    assert ids(f"/api/tasks?unit={province.unit}", "mgr") == open_ids
    assert ids(f"/api/tasks?area={OTHER_TOWNSHIP}", "mgr") == set()
    assert ids(f"/api/tasks?area={TOWNSHIP}", "mgr") == open_ids
    # the page shows the filter's labels in Chinese, not the raw values
    page = people["mgr"].get("/tasks?flag=overdue&state=open").text
    assert "逾期" in page and "待签收" in page and ">overdue<" not in page and ">requested<" not in page


def test_children_cases_files_and_users_filters(province, people):
    client = people["mgr"]
    key_care = {n for _, n, _ in province.children if int(n[-3:]) % 4 == 0}
    got, _ = api_walk(client, province, "mgr", f"/api/children?area={TOWNSHIP}&key_care=yes&size=200")
    assert {c["full_name"] for c in got} == key_care
    got, _ = api_walk(client, province, "mgr", f"/api/children?area={OTHER_TOWNSHIP}")
    assert {c["full_name"] for c in got} == {n for _, n, _ in province.other_children}
    local_day = (NOW + timedelta(hours=8)).date()
    got, _ = api_walk(client, province, "mgr", f"/api/children?from={local_day + timedelta(days=1)}")
    assert got == []

    cases, _ = api_walk(client, province, "mgr", "/api/cases?status=all&pathway=guardianship&size=200")
    assert {c["reference"] for c in cases} == {r for r, (_, p) in province.cases.items() if p == "guardianship"}
    cases, _ = api_walk(client, province, "mgr", "/api/cases?status=closed")
    assert {c["reference"] for c in cases} == {r for r, (s, _) in province.cases.items() if s == "closed"}
    one = next(iter(province.cases))
    cases, _ = api_walk(client, province, "cw", f"/api/cases?status=all&q={one.lower()}")
    assert [c["reference"] for c in cases] == [one]

    files, _ = api_walk(client, province, "cw", "/api/files?size=200")
    assert {f["reference"]: f["full_name"] for f in files} == province.files
    ref = sorted(province.files)[0]
    files, _ = api_walk(client, province, "cw", f"/api/files?q={ref}")
    assert [f["full_name"] for f in files] == [province.files[ref]]
    stale, _ = api_walk(client, province, "cw", "/api/files?no_contact=yes&size=200")
    assert 0 < len(stale) < len(province.files)

    users, _ = api_walk(client, province, "admin", f"/api/admin/users?role=agency_officer&q={province.suffix}")
    assert [u["username"] for u in users] == [province.users["off"]]
    page = people["admin"].get(f"/admin/users?role=manager&q={province.suffix}").text
    assert province.users["mgr"] in page and province.users["cw"] not in page and "共 1 条，第 1–1 条" in page


# --------------------------------------------------------------------------------------------- search


def test_search_by_name_and_by_the_last_digits_of_the_id(province, people):
    child_id, name, rid = province.children[17]
    for who in ("cw", "mgr"):
        by_name, _ = api_walk(people[who], province, who, f"/api/children?q={name}")
        assert [c["id"] for c in by_name] == [str(child_id)]
        by_tail, _ = api_walk(people[who], province, who, f"/api/children?q={rid[-6:]}")
        assert [c["id"] for c in by_tail] == [str(child_id)]
    page = people["cw"].get(f"/children?q={rid[-6:]}").text
    assert name in page and "共 1 条，第 1–1 条" in page and rid not in page  # the ID stays masked
    # the manager finds the child's open tasks by name
    case_ref = next(r for r in province.cases if r.endswith("-001"))
    name_1 = province.children[1][1]
    found, _ = api_walk(people["mgr"], province, "mgr", f"/api/tasks?q={name_1}&size=200")
    assert found and {t["case_reference"] for t in found} == {case_ref}


def test_an_officer_cannot_search_children_by_name(province, people):
    officer = people["off"]
    _, name, rid = province.children[1]
    assert api(officer, province, "off", f"/api/children?q={name}").status_code == 403
    assert officer.get(f"/children?q={name}").status_code == 403
    for q in (name, rid[-6:]):  # the unit holds this child's tasks, but not by the child's name or ID
        body = api(officer, province, "off", f"/api/tasks?state=all&q={q}").json()
        assert body["total"] == 0 and body["items"] == []
    case_ref = next(r for r in province.cases if r.endswith("-001"))
    assert api(officer, province, "off", f"/api/tasks?state=all&q={case_ref}").json()["total"] > 0
    # an officer may not filter by where children live
    refused = api(officer, province, "off", f"/api/tasks?area={TOWNSHIP}")
    assert refused.status_code == 400 and "area" in refused.json()["detail"]


# --------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("url, field, value", [
    ("/api/tasks?state=finished", "state", "finished"),
    ("/api/tasks?flag=late", "flag", "late"),
    ("/api/tasks?due_from=2026-13-01", "due_from", "2026-13-01"),
    ("/api/tasks?sort=priority", "sort", "priority"),
    ("/api/tasks?size=100000", "size", "100000"),
    ("/api/tasks?cursor=not-a-cursor", "cursor", "not-a-cursor"),
])
def test_a_bad_filter_value_is_a_chinese_400_naming_field_and_value(province, people, url, field, value):
    response = api(people["off"], province, "off", url)
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert field in detail and value in detail and "无效" in detail
    page = people["off"].get(url.replace("/api/tasks", "/inbox"))
    assert page.status_code == 400 and "无效" in page.text and html.escape(value) in page.text


# --------------------------------------------------------------------------------------------- SQL cost


class Statements:
    """The SQL statements the app runs while the block runs (SQLAlchemy ``before_cursor_execute``)."""

    def __init__(self):
        self.seen: list[tuple[str, object]] = []

    def __enter__(self):
        sa.event.listen(get_engine(), "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc):
        sa.event.remove(get_engine(), "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany):
        self.seen.append((statement, parameters))


def test_an_inbox_page_costs_the_same_few_statements_however_many_tasks(province, people, database_url):
    officer = people["off"]
    officer.get("/inbox")  # warm up (caches)
    with Statements() as small:
        assert officer.get("/inbox?size=50").status_code == 200
    with session_scope() as session:
        runs = [(c.id, r.id, r.pathway) for c, r in session.execute(
            sa.select(Case, PathwayRun).join(PathwayRun, PathwayRun.case_id == Case.id)
            .where(Case.reference.like(f"CF-{COUNTY}-{province.suffix.upper()}-%"))).all()]
        added = province.add_tasks(session, runs, 80, start=1000)
    try:
        with Statements() as large:
            page = officer.get("/inbox?size=50")
        assert page.status_code == 200 and "共 125 条，第 1–50 条" in page.text
        assert len(large.seen) == len(small.seen) <= 6, [s for s, _ in large.seen]
    finally:
        with session_scope() as session:
            for task_id in added:
                session.delete(session.get(AgencyTask, task_id))
                province.tasks.pop(task_id)


@pytest.mark.parametrize("database_url", ["postgresql"] if "postgresql" in BACKENDS else [], indirect=True)
def test_the_inbox_query_plan_reads_no_agency_task_sequentially(province, people, database_url):
    """With thousands of other units' tasks around, PostgreSQL finds the unit's page and its count through the
    partial index on open tasks (ANALYZEd statistics, no planner settings forced)."""
    with session_scope() as session:
        units = [f"court-plan{province.suffix}-{i}" for i in range(40)]
        session.add_all([AgencyUnit(code=u, agency_type="court", jurisdiction_code=COUNTY, name=u) for u in units])
        session.flush()
        rows = [{"id": uuid.uuid4(), "duty_key": f"plan:{province.suffix}:{i}", "step_key": "duty", "attempt": 1,
                 "agency_type": "court", "unit_code": units[i % 40], "jurisdiction_code": COUNTY, "title": "t",
                 "state": ("requested", "completed", "completed", "cancelled")[i % 4], "requested_at": NOW,
                 "due_at": NOW + timedelta(minutes=i), "due_provisional": False, "deadline_text": "1 days",
                 "escalation_level": 0, "answered_by": "", "outcome": {}, "rejection_reason": ""}
                for i in range(8000)]
        session.execute(sa.insert(AgencyTask), rows)
    with get_engine().connect() as conn:
        conn.exec_driver_sql("ANALYZE agency_task")
        conn.commit()
    with Statements() as run:
        assert people["off"].get("/inbox").status_code == 200
    queries = [(s, p) for s, p in run.seen if "agency_task" in s and s.lstrip().upper().startswith("SELECT")]
    assert len(queries) == 2  # the count and the page
    with get_engine().connect() as conn:
        plans = ["\n".join(conn.exec_driver_sql("EXPLAIN " + statement, parameters).scalars())
                 for statement, parameters in queries]
    for plan in plans:
        assert "Seq Scan on agency_task" not in plan and "agency_task" in plan, plan
    assert "ix_agency_task_open_unit_due" in plans[1], plans[1]  # the page: walked in deadline order
    with session_scope() as session:  # later tests' sweeps must not escalate these 2,000 synthetic duties
        session.execute(sa.update(AgencyTask).where(AgencyTask.duty_key.like(f"plan:{province.suffix}:%"))
                        .values(state="cancelled"))


def test_the_command_line_task_list_pages_and_says_when_more_exist(province):
    from typer.testing import CliRunner

    from entry.cli import app

    seen, args = [], ["task", "list", "--unit", province.unit, "--limit", "20"]
    while args:
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        seen += [line.split()[0] for line in lines if re.match(r"^[0-9a-f]{8}  ", line)]
        assert f"未办结任务共 {OPEN_TASKS} 条" in result.output
        more = [line for line in lines if line.startswith("下一页：careflow ")]
        args = more[0].split()[1:] if more else None  # 下一页：careflow task list …
    open_refs = {i.hex[:8] for i, (state, *_) in province.tasks.items() if TaskState(state).is_open}
    assert len(seen) == OPEN_TASKS and set(seen) == open_refs


def test_control_characters_in_a_search_are_refused_not_a_server_error(province, people):
    response = api(people["admin"], province, "admin", "/api/admin/users?q=%00")
    assert response.status_code == 400 and "q" in response.json()["detail"]
