"""Totals that never cost a full scan, and searches an index serves.

A list counts at most 1,001 rows: up to 1,000 it says 「共 N 条」, beyond it says 「超过 1000 条」 (or, on PostgreSQL,
the planner's 「约 N 条（估计数）」), and the API says ``total_exact``. The searches people type (a part of the name,
the last digits of the ID, the beginning of a case reference) and a county's scope are written so that PostgreSQL
can answer them from an index (pg_trgm, ``varchar_pattern_ops``, the county code), not by reading every child.

The data lives in 仓山区 (350104) township 009, which no other test uses.
"""
from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from core.db import get_engine, session_scope
from models.child import Child
from models.resident_id import check_character
from models.user import UserRole
from tests.conftest import BACKENDS
from tests.web.conftest import PASSWORD, sign_in
from web.counts import COUNT_LIMIT, _round_estimate, count_rows
from web.list_search import Search, child_search
from web.users import create_api_token, create_user

TOWNSHIP = "350104009"
BIG_VILLAGE, SMALL_VILLAGE = f"{TOWNSHIP}001", f"{TOWNSHIP}002"
IN_BIG_VILLAGE = 1300  # more than COUNT_LIMIT
IN_SMALL_VILLAGE = 1000  # exactly COUNT_LIMIT
NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture(scope="module")
def crowd(database_url, web_app):
    """2,300 children in one township (bulk insert), a caseworker of the township, a county manager; ANALYZEd."""
    # hex with a letter in it: a part of the name searched for (suffix and number) must never be all digits, which
    # the search reads as the last digits of an ID (it was, about one run in sixteen: 6 hex digits all 0-9)
    suffix = next(s for s in iter(lambda: uuid.uuid4().hex[:6], None) if not s.isdigit())
    base = date(2009, 1, 1) + timedelta(days=int(suffix, 16) % 300)
    rows = []
    for i in range(IN_BIG_VILLAGE + IN_SMALL_VILLAGE):
        first17 = f"350104{base + timedelta(days=i // 900):%Y%m%d}{i % 900:03d}"
        rows.append({"id": uuid.uuid4(), "resident_id": first17 + check_character(first17),
                     "full_name": f"众{suffix}{i:04d}", "sex": "", "birth_date": base, "hukou_county_code": "511321",
                     "residence_county_code": "350104",
                     "residence_area_code": BIG_VILLAGE if i < IN_BIG_VILLAGE else SMALL_VILLAGE,
                     "residence_address": "", "arrival_date": date(2023, 1, 5), "key_care_criteria": [],
                     "created_at": NOW - timedelta(seconds=i), "created_by": "fixture"})
    users = {}
    with session_scope() as session:
        session.execute(sa.insert(Child), rows)
        for key, role, jurisdiction in (("cw", UserRole.caseworker, TOWNSHIP), ("mgr", UserRole.manager, "350104")):
            user = create_user(session, username=f"counts.{key}.{suffix}", password=PASSWORD, role=role,
                               actor="fixture", jurisdiction_code=jurisdiction)
            users[key] = (user.username, create_api_token(session, user=user, name="tests").token)
    if get_engine().dialect.name == "postgresql":
        with get_engine().connect() as conn:
            conn.exec_driver_sql("ANALYZE child")
            conn.commit()
    return {"suffix": suffix, "rows": rows, "users": users,
            "clients": {key: sign_in(web_app, username) for key, (username, _) in users.items()}}


def api(crowd, who: str, url: str) -> dict:
    response = crowd["clients"][who].get(url, headers={"Authorization": f"Bearer {crowd['users'][who][1]}"})
    assert response.status_code == 200, response.text
    return response.json()


def count_text(page: str) -> str:
    return re.search(r'<span class="count" id="list-count">([^<]*)</span>', page).group(1)


def test_up_to_a_thousand_rows_the_total_is_exact(crowd):
    body = api(crowd, "cw", f"/api/children?area={SMALL_VILLAGE}&size=10")
    assert body["total"] == IN_SMALL_VILLAGE and body["total_exact"] is True
    page = crowd["clients"]["cw"].get(f"/children?area={SMALL_VILLAGE}&size=10").text
    assert count_text(page) == "共 1000 条，第 1–10 条"


def test_beyond_a_thousand_rows_the_list_says_more_than_or_estimates(crowd, database_url):
    body = api(crowd, "cw", "/api/children?size=10")
    assert body["total_exact"] is False and body["total"] > COUNT_LIMIT
    assert body["next"] and len(body["items"]) == 10  # paging goes on as before
    text = count_text(crowd["clients"]["cw"].get("/children?size=10").text)
    estimate = re.fullmatch(r"约 (\d+) 条（估计数），第 1–10 条", text)
    if get_engine().dialect.name == "sqlite":
        assert text == "超过 1000 条，第 1–10 条" and body["total"] == COUNT_LIMIT + 1
    else:  # the planner's estimate when it is above the limit, else "more than"
        assert text == "超过 1000 条，第 1–10 条" or (estimate and int(estimate.group(1)) > COUNT_LIMIT), text
    english = count_text(crowd["clients"]["cw"].get("/children?size=10&lang=en").text)
    crowd["clients"]["cw"].get("/account?lang=zh")
    assert re.fullmatch(r"(more than 1000|about \d+ \(estimated\)), showing 1–10", english), english
    # every row is still reachable: the last page of the big village, walked by the API
    seen, url = 0, f"/api/children?area={BIG_VILLAGE}&size=200"
    while url:
        body = api(crowd, "cw", url)
        seen += len(body["items"])
        url = body["next"]
    assert seen == IN_BIG_VILLAGE


def test_the_count_reads_at_most_one_row_past_the_limit_and_estimates_on_postgresql(crowd, database_url):
    query = sa.select(sa.func.count()).select_from(Child).where(Child.residence_area_code == BIG_VILLAGE)
    with session_scope() as session:
        total, exact, estimated = count_rows(session, query)
        assert (count_rows(session, query, limit=5000)) == (IN_BIG_VILLAGE, True, False)
    assert not exact and total > COUNT_LIMIT
    if get_engine().dialect.name == "postgresql":  # ANALYZEd: the estimate of one area code is its count, rounded
        assert estimated and total == 1300
    else:
        assert not estimated and total == COUNT_LIMIT + 1
    assert [_round_estimate(n) for n in (7, 1049, 126_432, 1_000_001)] == [7, 1000, 130_000, 1_000_000]


# --------------------------------------------------------------------------------------------- index-friendly search


def plans(statements: list, *, without_unique_id: bool = False) -> list[str]:
    """EXPLAIN of the list statements on child with sequential scans priced out: what an index can serve.
    ``without_unique_id``: the unique index on the (reversed) ID put aside (rolled back), which a small table's
    planner prefers to read whole over the trigram index."""
    with get_engine().connect() as conn:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        if without_unique_id:
            conn.exec_driver_sql("DROP INDEX uq_child_resident_id_reversed")
        out = ["\n".join(conn.exec_driver_sql("EXPLAIN " + s, p).scalars()) for s, p in statements]
        conn.rollback()
    return out


def child_statements(client, url: str) -> list:
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "FROM child" in statement and statement.lstrip().upper().startswith("SELECT") \
                and "EXPLAIN" not in statement:
            seen.append((statement, parameters))

    sa.event.listen(get_engine(), "before_cursor_execute", record)
    try:
        assert client.get(url).status_code == 200
    finally:
        sa.event.remove(get_engine(), "before_cursor_execute", record)
    assert seen, url
    return seen


@pytest.mark.parametrize("database_url", ["postgresql"] if "postgresql" in BACKENDS else [], indirect=True)
def test_name_id_and_county_searches_are_served_by_indexes_on_postgresql(crowd, database_url):
    client, row = crowd["clients"]["mgr"], crowd["rows"][1234]
    for q, index in ((row["full_name"][1:], "ix_child_full_name_trgm"),
                     (row["resident_id"][-10:], "uq_child_resident_id_reversed")):
        # the condition the lists search with, alone (in a small county the planner rightly starts from the county)
        condition = sa.select(sa.literal(1)).select_from(Child).where(child_search(Search.of(q)))
        compiled = condition.compile(get_engine())
        plan = plans([(str(compiled), compiled.params)], without_unique_id=index.startswith("ix_"))[0]
        assert index in plan and "Index Cond: ((" in plan, plan
        assert all("Seq Scan on child" not in p for p in plans(child_statements(client, f"/children?q={q}")))
    county_plans = plans(child_statements(client, "/children"))  # a county: one code, no LIKE on the child
    assert all("Seq Scan on child" not in p and "~~" not in p for p in county_plans), county_plans
    found = api(crowd, "mgr", f"/api/children?q={row['resident_id'][-6:]}")
    assert [c["full_name"] for c in found["items"]] == [row["full_name"]] and found["total_exact"]


@pytest.mark.parametrize("database_url", ["postgresql"] if "postgresql" in BACKENDS else [], indirect=True)
def test_a_villages_children_come_newest_first_from_the_township_index_on_postgresql(crowd, database_url):
    """A village's list is its township's index entries, newest first, filtered by the village's code (the index
    carries it, migration 0024): no sort of the village's children, no other index on the area code."""
    statements = child_statements(crowd["clients"]["cw"], f"/children?area={BIG_VILLAGE}")
    for (statement, _), plan in zip(statements, plans(statements)):
        assert "ix_child_township_created" in plan and "Seq Scan on child" not in plan, plan
        if "count(" not in statement:  # the page: in index order
            assert "Sort" not in plan and "Index Scan Backward using ix_child_township_created" in plan, plan
    body = api(crowd, "cw", f"/api/children?area={BIG_VILLAGE}&size=5")
    newest = sorted((r for r in crowd["rows"] if r["residence_area_code"] == BIG_VILLAGE),
                    key=lambda r: (r["created_at"], r["id"]), reverse=True)[:5]
    assert [c["full_name"] for c in body["items"]] == [r["full_name"] for r in newest]


def test_a_managers_task_total_counts_the_duties_and_the_childrens_tasks_each_once(crowd):
    """A manager's tasks are two disjoint sets, counted apart (duties by their jurisdiction code, case tasks by where
    the child lives): the total equals the rows listed, with the unit and area filters too."""
    from models.agency import AgencyUnit
    from models.case import Case
    from models.task import AgencyTask

    suffix, child = crowd["suffix"], crowd["rows"][0]  # lives in BIG_VILLAGE
    unit = f"police-counts{suffix}"

    def task(i: int, *, area: str, case_id=None) -> dict:
        return {"id": uuid.uuid4(), "case_id": case_id, "duty_key": None if case_id else f"counts:{suffix}:{i}",
                "step_key": "duty", "attempt": i, "agency_type": "police", "unit_code": unit,
                "jurisdiction_code": area, "title": "t", "state": "requested", "requested_at": NOW,
                "due_at": NOW + timedelta(days=30, minutes=i), "due_provisional": False, "deadline_text": "1 days",
                "escalation_level": 0, "answered_by": "", "outcome": {}, "rejection_reason": ""}

    with session_scope() as session:
        session.add(AgencyUnit(code=unit, agency_type="police", jurisdiction_code="350104", name=unit))
        case = Case(reference=f"CF-350104-{suffix.upper()}-C", child_id=child["id"], county_code="350104",
                    caseworker="fixture")
        session.add(case)
        session.flush()
        rows = ([task(i, area=BIG_VILLAGE) for i in range(3)] + [task(3, area="350105001001")]
                + [task(4 + i, area="350105001001", case_id=case.id) for i in range(2)])  # the child's tasks count
        session.execute(sa.insert(AgencyTask), rows)             # where the child lives, not where routed
    try:
        for url, expected in ((f"/api/tasks?unit={unit}", 5), (f"/api/tasks?unit={unit}&area={BIG_VILLAGE}", 5),
                              (f"/api/tasks?unit={unit}&area={SMALL_VILLAGE}", 0),
                              (f"/api/tasks?unit={unit}&q=CF-350104-{suffix.upper()}", 2)):
            body = api(crowd, "mgr", url + "&size=200")
            assert (body["total"], body["total_exact"], len(body["items"])) == (expected, True, expected), url
    finally:
        with session_scope() as session:  # later tests' sweeps must not escalate these
            session.execute(sa.update(AgencyTask).where(AgencyTask.unit_code == unit).values(state="cancelled"))


def test_a_task_is_found_by_its_short_reference_through_the_primary_key(crowd, database_url):
    """The short reference (the id's first 8 hex characters) is a range of ids, on both backends."""
    from models.agency import AgencyUnit
    from models.task import AgencyTask

    suffix = crowd["suffix"]
    unit = f"court-ref{suffix}"
    ids = [uuid.UUID(f"{suffix}a{i}" + "0" * 23 + f"{i}") for i in range(3)] + [uuid.UUID(f"{suffix}a0" + "f" * 24)]
    with session_scope() as session:
        session.add(AgencyUnit(code=unit, agency_type="court", jurisdiction_code="350104", name=unit))
        session.flush()
        session.execute(sa.insert(AgencyTask), [
            {"id": task_id, "duty_key": f"ref:{suffix}:{i}", "step_key": "duty", "attempt": 1, "agency_type": "court",
             "unit_code": unit, "jurisdiction_code": BIG_VILLAGE, "title": "t", "state": "cancelled",
             "requested_at": NOW, "due_at": NOW, "due_provisional": False, "deadline_text": "1 days",
             "escalation_level": 0, "answered_by": "", "outcome": {}, "rejection_reason": ""}
            for i, task_id in enumerate(ids)])
    username = f"counts.court.{suffix}"
    with session_scope() as session:
        user = create_user(session, username=username, password=PASSWORD, role=UserRole.agency_officer,
                           actor="fixture", unit_code=unit)
        token = create_api_token(session, user=user, name="tests").token
    client = crowd["clients"]["cw"]
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "FROM agency_task" in statement and "EXPLAIN" not in statement:
            seen.append((statement, parameters))

    sa.event.listen(get_engine(), "before_cursor_execute", record)
    try:
        body = client.get(f"/api/tasks?state=all&q={suffix}a0", headers={"Authorization": f"Bearer {token}"}).json()
    finally:
        sa.event.remove(get_engine(), "before_cursor_execute", record)
    assert {i["id"] for i in body["items"]} == {str(ids[0]), str(ids[3])} and body["total"] == 2
    if get_engine().dialect.name == "postgresql":
        for plan in plans(seen):
            assert "Seq Scan on agency_task" not in plan and "(id)::" not in plan, plan  # no id cast to text
