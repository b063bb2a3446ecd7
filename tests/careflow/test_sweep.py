"""The set-based deadline sweep fires exactly what the ladder's pure rule says, once, at any scale of open tasks.

The property test drives random tasks (every state, with and without acknowledgement times, working-day deadlines
across the 2026 Spring Festival and National Day and the provisional 2027 ones, with and without a case) through
sweeps at increasing random times, with random answers in between, and compares each sweep's rungs with
:func:`careflow.ladder.due_rungs`. The other tests: concurrent sweeps, the one-sweep lock, a sweep that runs
out of time and the next that picks up, and the query plan of the due-selection on PostgreSQL.
"""
from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import pendulum
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from careflow.cases import create_pathway_run, open_case

from careflow.registration import register_child
from core.db import get_engine, session_scope
from careflow.escalation import due_selection, sweep_deadlines
from careflow.ladder import due_rungs, initial_next_rung_at, load_ladder, task_county
from careflow.sweep_runs import _one_sweep_at_a_time, last_sweep
from models.deadlines import DeadlineRule, compute_deadline
from models.notification import Notification
from models.task import TRANSITIONS, AgencyTask, Escalation, TaskState
from tests.factories import make_resident_id

SHANGHAI = timezone(timedelta(hours=8))
UTC = timezone.utc
#: Days just before the holidays the deadlines must cross: Spring Festival 2026 (Feb 15-23), National Day 2026
#: (Oct 1-8, Sat Oct 10 a working day), New Year 2027, Spring Festival 2027 (no official arrangement: provisional).
ANCHORS = [datetime(2026, 2, 12, 9, tzinfo=SHANGHAI), datetime(2026, 9, 28, 9, tzinfo=SHANGHAI),
           datetime(2026, 12, 30, 9, tzinfo=SHANGHAI), datetime(2027, 2, 3, 9, tzinfo=SHANGHAI)]
RULES = ["2h", "24h", "3d", "3wd", "5wd", "15wd"]
#: (unit, jurisdiction): a county unit (its duties reach the county manager) and a city unit (the province's).
UNITS = [("police-350302", "350302"), ("civil_affairs-350302", "350302"), ("civil_affairs-350300", "350300")]


@pytest.fixture(scope="module")
def pathway_run(database_url):
    """One guardianship run of a 城厢区 case; the property test's case tasks are its attempts."""
    with session_scope() as session:
        child = register_child(session, resident_id=make_resident_id(), full_name="林雨桐", hukou_county="511321",
                               residence_county="350302", residence_area_code="350302001001",
                               arrival_date=date(2023, 8, 20), actor="sweep.caseworker").child
        case = open_case(session, child_id=child.id, caseworker="sweep.caseworker")
        run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="sweep.caseworker")
        session.flush()
        return run.id, case.id


_attempts = iter(range(1_000, 10_000_000))

task_specs = st.fixed_dictionaries({
    "anchor": st.sampled_from(ANCHORS),
    "offset_h": st.integers(0, 96),
    "rule": st.sampled_from(RULES),
    "ack": st.booleans(),
    "state": st.sampled_from(list(TaskState)),
    "with_case": st.booleans(),
    "unit": st.sampled_from(UNITS),
    "computed": st.booleans(),  # next_rung_at set at creation (open_step_task) or NULL (bulk-inserted duties)
})


def make_task(session, spec, run_id, case_id) -> AgencyTask:
    requested = spec["anchor"] + timedelta(hours=spec["offset_h"])
    rule = DeadlineRule.parse(spec["rule"])
    deadline = compute_deadline(pendulum.instance(requested), rule)
    unit, jurisdiction = spec["unit"]
    common = dict(step_key="police_reprimand", agency_type="police", unit_code=unit, jurisdiction_code=jurisdiction,
                  title="巡检测试任务", state=spec["state"], requested_at=requested.astimezone(UTC),
                  ack_due_at=(requested + timedelta(hours=2)).astimezone(UTC) if spec["ack"] else None,
                  due_at=deadline.due_at_utc(), due_provisional=deadline.provisional, deadline_text=str(rule))
    if spec["with_case"]:
        task = AgencyTask(case_id=case_id, pathway_run_id=run_id, attempt=next(_attempts), **common)
    else:
        task = AgencyTask(duty_key=f"sweep-test:{uuid.uuid4().hex}", **common)
    if spec["computed"]:
        task.next_rung_at = initial_next_rung_at(task, "350302" if spec["with_case"] else None, task.requested_at)
    session.add(task)
    return task


def fired_rows(task_ids) -> Counter:
    with session_scope() as session:
        rows = session.exec(select(Escalation.task_id, Escalation.rung).where(Escalation.task_id.in_(task_ids))).all()
    return Counter((row[0], row[1]) for row in rows)


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=st.lists(task_specs, min_size=1, max_size=8),
       steps=st.lists(st.tuples(st.integers(1, 24 * 9), st.lists(st.tuples(st.integers(0, 7), st.integers(0, 6)),
                                                                 max_size=3)), min_size=1, max_size=8))
def test_each_sweep_fires_exactly_the_rungs_due_rungs_says_once(pathway_run, specs, steps):
    run_id, case_id = pathway_run
    ladder = load_ladder()
    with session_scope() as session:
        tasks = [make_task(session, spec, run_id, case_id) for spec in specs]
    ids = [t.id for t in tasks]
    caseworker = {t.id: "sweep.caseworker" if t.case_id else None for t in tasks}
    county = {t.id: task_county(t, "350302" if t.case_id else None) for t in tasks}
    now = min(t.requested_at for t in tasks)
    fired: dict[uuid.UUID, set[str]] = {t.id: set() for t in tasks}
    for hours, answers in steps:
        # answers between sweeps: a task moves to a state its current one allows (acknowledged, completed...)
        with session_scope() as session:
            for which, choice in answers:
                task = session.get(AgencyTask, ids[which % len(ids)])
                allowed = sorted(TRANSITIONS.get(TaskState(task.state), ()))
                if allowed:
                    task.state = allowed[choice % len(allowed)]
                    session.add(task)
        now = now + timedelta(hours=hours, minutes=hours % 7)
        with session_scope() as session:
            current = {i: session.get(AgencyTask, i) for i in ids}
        expected = {(i, r.name) for i, t in current.items()
                    for r in due_rungs(t, now=now, county_code=county[i], caseworker=caseworker[i], ladder=ladder)
                    if r.name not in fired[i]}
        report = sweep_deadlines(now, keep_fired=True)
        got = [(i, rung) for i, rung in report.fired if i in fired]
        assert sorted(got) == sorted(expected), now
        for i, rung in got:
            fired[i].add(rung)
    rows = fired_rows(ids)
    assert rows == Counter({(i, rung): 1 for i, names in fired.items() for rung in names})  # each once
    with session_scope() as session:
        messages = Counter(n.task_id for n in session.exec(select(Notification).where(
            Notification.task_id.in_(ids), Notification.event.in_(["task_reminder", "task_escalated"]))).all())
        levels = {i: session.get(AgencyTask, i).escalation_level for i in ids}
        escalations = session.exec(select(Escalation).where(Escalation.task_id.in_(ids))).all()
    recipients = Counter()
    for e in escalations:
        recipients[e.task_id] += len(e.recipients)
    assert messages == recipients  # one message per recipient of each fired rung
    assert levels == {i: max([0] + [e.level for e in escalations if e.task_id == i]) for i in ids}


def due_tasks(count: int, *, county_unit=("police-350302", "350302")) -> list[uuid.UUID]:
    """``count`` open duties past their deadline by two days at 2026-11-20 (deadline and overdue reached)."""
    requested = datetime(2026, 11, 10, 9, tzinfo=SHANGHAI)
    with session_scope() as session:
        tasks = [AgencyTask(duty_key=f"sweep-test:{uuid.uuid4().hex}", step_key="s", agency_type="police",
                            unit_code=county_unit[0], jurisdiction_code=county_unit[1], title="并发测试",
                            requested_at=requested, due_at=requested + timedelta(days=8), deadline_text="8 days")
                 for _ in range(count)]
        session.add_all(tasks)
    return [t.id for t in tasks]


NOW = datetime(2026, 11, 20, 12, tzinfo=SHANGHAI)


@pytest.mark.parametrize("lock", [True, False], ids=["with the lock", "without the lock"])
def test_concurrent_sweeps_fire_each_rung_once(database_url, lock):
    ids = due_tasks(120)
    barrier = threading.Barrier(3)
    reports, errors = [], []

    def sweep():
        try:
            barrier.wait()
            reports.append(sweep_deadlines(NOW, batch_size=25, lock=lock, keep_fired=True))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    mine = set(ids)
    fired = Counter((i, rung) for report in reports for i, rung in report.fired if i in mine)
    assert fired == Counter({(i, rung): 1 for i in ids for rung in ("deadline", "overdue")})
    assert fired_rows(ids) == fired
    with session_scope() as session:
        per_task = Counter(n.task_id for n in session.exec(select(Notification).where(
            Notification.task_id.in_(ids))).all())
    assert per_task == Counter({i: 2 for i in ids})  # supervisor (deadline) and county manager (overdue), once each
    if lock and database_url.startswith("postgresql"):
        assert sum(r.skipped for r in reports) >= 1  # one ran; the others found it running


def test_a_sweep_that_runs_out_of_time_leaves_a_backlog_the_next_picks_up(database_url):
    sweep_deadlines(NOW)  # whatever other tests left due at this time
    ids = due_tasks(7)
    out_of_time = sweep_deadlines(NOW, batch_size=3, time_budget=0.0, keep_fired=True)
    assert out_of_time.fired == [] and out_of_time.backlog >= 7
    with session_scope() as session:
        shown = last_sweep(session)
    assert shown.backlog == out_of_time.backlog and "积压" in shown.describe()
    then = sweep_deadlines(NOW, batch_size=3, keep_fired=True)
    assert sorted(rung for i, rung in then.fired if i in set(ids)) == ["deadline"] * 7 + ["overdue"] * 7
    assert then.backlog == 0 and then.batches >= 3
    with session_scope() as session:
        shown = last_sweep(session)
    assert shown.fired == then.fired_count == len(then.fired) and shown.backlog == 0
    assert shown.describe(now=shown.finished_at + timedelta(seconds=12)).startswith("期限引擎：上次巡检 12 秒前")
    assert "无积压逾期未处理" in shown.describe()
    assert sweep_deadlines(NOW).fired_count == 0  # steady state: nothing due, nothing fires


def test_a_sweep_counts_what_it_fires_without_holding_it(database_url):
    """The sweeper's own sweep keeps no list of what it fired (its memory is one batch's, however many rungs
    fire after an outage); the count still reaches the sweep's record and the dashboard."""
    sweep_deadlines(NOW)  # whatever other tests left due at this time
    ids = due_tasks(5)
    report = sweep_deadlines(NOW, batch_size=2)
    assert report.fired == [] and report.fired_count == 10 and report.batches >= 3
    assert fired_rows(ids) == Counter({(i, rung): 1 for i in ids for rung in ("deadline", "overdue")})
    with session_scope() as session:
        assert last_sweep(session).fired == 10


def test_a_second_sweep_does_nothing_while_one_runs(database_url):
    with get_engine(database_url).connect() as conn, _one_sweep_at_a_time(conn) as held:
        assert held
        assert sweep_deadlines(NOW).skipped
    assert not sweep_deadlines(NOW).skipped


def test_the_due_selection_is_an_index_range_scan(database_url):
    """On a table of mostly closed tasks and open ones not due, the sweep's queries read the partial index of open
    tasks by next rung time: no sequential scan of agency_task (PostgreSQL plan; SQLite: a SEARCH by that index)."""
    engine = get_engine(database_url)
    with engine.connect() as conn, conn.begin():
        pg = conn.dialect.name == "postgresql"
        if pg:
            conn.exec_driver_sql("""
                INSERT INTO agency_task (id, step_key, attempt, agency_type, unit_code, jurisdiction_code, title, state,
                    requested_at, due_at, due_provisional, deadline_text, escalation_level, answered_by, outcome,
                    rejection_reason, next_rung_at)
                SELECT gen_random_uuid(), 's', 1, 'police', 'police-350302', '350302', 'plan', 
                       CASE WHEN mod(n, 4) = 0 THEN 'requested' ELSE 'completed' END,
                       now(), now() + interval '3 days', false, '3 days', 0, '', '{}', '',
                       CASE WHEN mod(n, 4) = 0 THEN now() + mod(n, 1000) * interval '1 minute' + interval '1 day' END
                FROM generate_series(1, 40000) AS n""")  # closed tasks keep NULL, as in production
            conn.exec_driver_sql("ANALYZE agency_task")
        d = conn.dialect.name
        queries = {
            "due": due_selection(NOW, dialect=d),
            "due, next batch": due_selection(NOW, dialect=d, after=(NOW - timedelta(days=1), uuid.uuid4())),
            "never computed": due_selection(NOW, dialect=d, uncomputed=True),
            "never computed, next batch": due_selection(NOW, dialect=d, uncomputed=True, after=(None, uuid.uuid4())),
            "due, locked": due_selection(NOW, dialect=d, lock_rows=True),
            "backlog": sa.select(sa.func.count()).select_from(due_selection(NOW, dialect=d, limit=None).subquery()),
        }
        for name, query in queries.items():
            compiled = query.compile(dialect=conn.dialect)
            params = {k: (v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime) and not pg else
                          v.hex if isinstance(v, uuid.UUID) and not pg else v) for k, v in compiled.params.items()}
            if pg:
                plan = "\n".join(conn.exec_driver_sql("EXPLAIN " + compiled.string, params).scalars())
                assert "Seq Scan on agency_task" not in plan, f"{name}:\n{plan}"
                assert "ix_agency_task_next_rung_open" in plan, f"{name}:\n{plan}"
            else:
                steps = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + compiled.string,
                                                                 tuple(params[k] for k in compiled.positiontup))]
                reads = [step for step in steps if "agency_task" in step]
                assert reads and all("INDEX ix_agency_task_next_rung_open" in step for step in reads), (name, steps)
                assert not any("TEMP B-TREE" in step for step in steps), (name, steps)  # read in index order
        conn.rollback()


def test_a_sweep_killed_midway_loses_no_rung_and_fires_none_twice(database_url):
    """SIGKILL a sweep between two of its batches: what it committed stays, its lock dies with it, and the next
    sweep fires the rest, each rung and each message once."""
    import os
    import signal
    import subprocess
    import sys
    import time

    later = NOW + timedelta(days=3)
    sweep_deadlines(later)  # whatever other tests left due then
    ids = due_tasks(150)
    script = ("import datetime, sys; from careflow.escalation import sweep_deadlines; "
              "sweep_deadlines(datetime.datetime.fromisoformat(sys.argv[1]), batch_size=1)")
    process = subprocess.Popen([sys.executable, "-c", script, later.isoformat()],
                               env={**os.environ, "CAREFLOW_DATABASE_URL": database_url})
    try:
        deadline = time.monotonic() + 120
        while sum(fired_rows(ids).values()) < 20 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    before = fired_rows(ids)
    assert 0 < len({i for i, _ in before}) < len(ids), "the sweep was not killed midway"
    # the killed sweep's lock goes with its connection: at once, or when its server process notices a moment later;
    # a sweep another test's background runner started may hold the lock for one pass (skipped once in the suite)
    give_up = time.monotonic() + 15
    while (report := sweep_deadlines(later, keep_fired=True)).skipped and time.monotonic() < give_up:
        time.sleep(0.2)
    assert not report.skipped
    assert fired_rows(ids) == Counter({(i, rung): 1 for i in ids for rung in ("deadline", "overdue")})
    assert not set(before) & {(i, rung) for i, rung in report.fired}
    with session_scope() as session:
        per_task = Counter(n.task_id for n in session.exec(select(Notification).where(
            Notification.task_id.in_(ids))).all())
    assert per_task == Counter({i: 2 for i in ids})


def test_the_sweeps_bulk_writes_store_what_the_orm_reads_back_and_skip_unchanged_rows(database_url):
    """core.bulk (one statement per batch on PostgreSQL): times, JSON, NULLs and Chinese text come back as
    written; the escalation (task, rung) conflict skips the row; an update leaves rows whose values are unchanged
    untouched (on PostgreSQL: the same row version)."""
    from core.bulk import insert_rows, update_rows
    from models.audit import AuditEvent

    ids = due_tasks(3)
    at = datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=SHANGHAI)
    marker = f"bulk-{uuid.uuid4().hex[:8]}"
    pg = database_url.startswith("postgresql")
    with session_scope() as session:
        insert_rows(session, AuditEvent.__table__, [
            {"at": at, "actor": marker, "action": "task.escalated.deadline", "entity_type": "task",
             "entity_id": str(ids[0]), "case_id": None, "reason": "任务已到办理时限仍未办结",
             "detail": {"level": 2, "recipients": [["police-350302.supervisor", "supervisor"]]}}])
        rows = [{"task_id": ids[0], "rung": "deadline", "level": 2, "fired_at": at, "recipients": [["u", "officer"]]}]
        first = insert_rows(session, Escalation.__table__, rows, conflict=["task_id", "rung"], returning=["task_id", "rung"])
        again = insert_rows(session, Escalation.__table__, rows, conflict=["task_id", "rung"], returning=["task_id", "rung"])
        assert [tuple(r) for r in first] == [(ids[0], "deadline")] and again == []
        version = "xmin::text" if pg else "0"
        before = dict(session.execute(sa.text(f"SELECT id, {version} FROM agency_task WHERE id IN (:a, :b)").bindparams(
            sa.bindparam("a", ids[1], type_=AgencyTask.__table__.c.id.type),
            sa.bindparam("b", ids[2], type_=AgencyTask.__table__.c.id.type))).all())
        unchanged = session.get(AgencyTask, ids[2])
        update_rows(session, AgencyTask.__table__,
                    [{"id": ids[1], "next_rung_at": at, "escalation_level": 1},
                     {"id": ids[2], "next_rung_at": unchanged.next_rung_at, "escalation_level": 0}], key="id",
                    assignments={"next_rung_at": "v.next_rung_at",
                                 "escalation_level": "max(t.escalation_level, v.escalation_level)"},
                    where="t.next_rung_at IS DISTINCT FROM v.next_rung_at OR t.escalation_level < v.escalation_level")
        after = dict(session.execute(sa.text(f"SELECT id, {version} FROM agency_task WHERE id IN (:a, :b)").bindparams(
            sa.bindparam("a", ids[1], type_=AgencyTask.__table__.c.id.type),
            sa.bindparam("b", ids[2], type_=AgencyTask.__table__.c.id.type))).all())
    with session_scope() as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.actor == marker)).one()
        assert (event.at, event.case_id, event.reason) == (at, None, "任务已到办理时限仍未办结")
        assert event.detail == {"level": 2, "recipients": [["police-350302.supervisor", "supervisor"]]}
        escalation = session.exec(select(Escalation).where(Escalation.task_id == ids[0])).one()
        assert (escalation.fired_at, escalation.recipients, escalation.level) == (at, [["u", "officer"]], 2)
        assert escalation.id is not None  # the model's Python-side default applied
        changed = session.get(AgencyTask, ids[1])
        assert (changed.next_rung_at, changed.escalation_level) == (at, 1)
    if pg:
        assert after[ids[2]] == before[ids[2]] and after[ids[1]] != before[ids[1]]
