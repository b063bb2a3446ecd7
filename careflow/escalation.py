"""The deadline sweep: the escalation ladder's rungs fired by themselves (DOMAIN.md §6, ``policy/escalation.yaml``).

The rule (which rungs a task has reached, when it reaches the next) is :mod:`careflow.ladder`. The sweep (:func:`sweep_deadlines`, every minute from ``flows/sweeper.py``) is set-based: every open task
carries ``next_rung_at`` (never later than its next unfired rung; NULL until first computed), and a sweep
selects open tasks with ``next_rung_at <= now`` -- or NULL -- through the partial index
``ix_agency_task_next_rung_open``, in keyset batches of :data:`BATCH_SIZE`, each joined in the same query
to its case and its fired escalations. A batch's reached rungs fire in one transaction: the unique
(task, rung) rows inserted with ``ON CONFLICT DO NOTHING``, and only for rows actually inserted the raised
``escalation_level``, the messages and the audit events, all bulk-inserted; then each task's new
``next_rung_at`` (one ``UPDATE`` for the batch, of the rows whose values change: :mod:`core.bulk`). So two overlapping sweeps, or a sweep that crashed halfway, never fire a rung twice and
never lose one, and a sweep with nothing due costs a few index probes whatever the number of open tasks.
Only one sweep runs at a time (a PostgreSQL advisory lock; on SQLite a lock file beside the database); a
sweep stops after :data:`TIME_BUDGET` seconds and leaves the rest, counted as its backlog, to the next.
Each sweep's figures are a :class:`models.sweep.SweepRun` row (:func:`careflow.sweep_runs.last_sweep`, which also
holds the lock). A batch's messages are all rendered before anything is written; a task that cannot be worked
out, rendered or written (the database refusing the batch, which is then redone task by task) is set aside for
an hour, audited and reported to the county manager (:mod:`careflow.sweep_guard`): one bad task never stops the
sweep.
"""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from core.audit import record_audits
from core.bulk import new_ids, update_rows
from core.db import get_engine
from careflow.ladder import Ladder, Rung, due_rungs, load_ladder, next_rung_time, task_county
from careflow.sweep_guard import Failure, set_aside
from careflow.sweep_runs import _no_lock, _one_sweep_at_a_time
from models.base import utcnow
from models.case import Case
from models.sweep import SweepRun
from models.task import OPEN_STATES_SQL, AgencyTask, Escalation
from notifications.outbox_batch import (
    Rendered, TaskMessage, insert_ignoring_conflicts, render_task_messages, store_messages,
)

log = logging.getLogger(__name__)


#: Tasks selected, and their rungs fired, per transaction. It bounds the sweep's memory (about 13 KB of Python
#: objects per due task while its messages are rendered and written: some 7 MB a batch), whatever the number of
#: open or due tasks; larger batches save little time (the work is per rung, not per statement).
BATCH_SIZE = 500
#: Seconds after which a sweep starts no new batch; what is left is its backlog, taken by the next sweep.
TIME_BUDGET = 45.0
#: The sweeper's interval (seconds, ``CAREFLOW_SWEEP_CRON`` every minute): a longer sweep is logged as overrun.
SWEEP_INTERVAL = 60.0
#: How long sweep_run rows are kept.
KEEP_SWEEP_RUNS = timedelta(days=30)
SWEEPER = "careflow-sweeper"


# ---------------------------------------------------------------------------------------------------------------------
# the sweep
# ---------------------------------------------------------------------------------------------------------------------

@dataclass
class SweepReport:
    """What one :func:`sweep_deadlines` did.

    Attributes:
        fired_count: rungs this sweep fired (each rung fires once across all sweeps).
        fired: the (task id, rung) pairs fired, kept only when asked (``keep_fired``): a sweep after a long
            outage may fire hundreds of thousands, and its memory must not grow with them.
        computed: open tasks whose rungs were checked and ``next_rung_at`` recomputed (due or never computed).
        backlog: open tasks still due (or never computed) when the sweep stopped: 0 unless it ran out of time.
        duration_s: wall-clock seconds.
        finished_at: real time it ended (UTC).
        skipped: another sweep was running, so this one did nothing (and recorded nothing).
        batches: batches selected.
        failed: ids of the tasks set aside (:mod:`careflow.sweep_guard`): their rungs could not be worked out,
            their messages not rendered or their writes were refused; retried an hour later.
    """

    fired_count: int = 0
    fired: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    computed: int = 0
    backlog: int = 0
    duration_s: float = 0.0
    finished_at: datetime | None = None
    skipped: bool = False
    batches: int = 0
    failed: list[uuid.UUID] = field(default_factory=list)


def escalate_overdue_tasks(now: datetime | None = None, ladder: Ladder | None = None) -> list[tuple[uuid.UUID, str]]:
    """Fire every reached, not yet fired rung of every due open task; returns the (task id, rung) fired.

    One :func:`sweep_deadlines` (see there); ``[]`` if another sweep is running. Messages (event
    ``task_reminder`` or ``task_escalated``) are only stored here; the sweeper sends them right after.
    """
    return sweep_deadlines(now, ladder, keep_fired=True).fired


def sweep_deadlines(now: datetime | None = None, ladder: Ladder | None = None, *, database_url: str | None = None,
                    batch_size: int = BATCH_SIZE, time_budget: float = TIME_BUDGET, lock: bool = True,
                    keep_fired: bool = False) -> SweepReport:
    """One sweep of the escalation ladder over the open tasks that are due at ``now`` (UTC-aware, default now).

    First the tasks never computed (``next_rung_at`` NULL, e.g. bulk-inserted survey duties), then those with
    ``next_rung_at <= now``, each in keyset batches of ``batch_size``, one transaction per batch (see the
    module docstring). After ``time_budget`` seconds no new batch starts; the rest is the sweep's backlog. The
    sweep's figures are stored as a :class:`~models.sweep.SweepRun`; a sweep longer than
    :data:`SWEEP_INTERVAL` is logged as a warning with its duration and backlog.

    Args:
        lock: take the one-sweep-at-a-time lock (tests of concurrent firing turn it off: exactly-once then
            rests on the unique (task, rung) row alone).
        keep_fired: list the (task id, rung) pairs fired in ``report.fired``; otherwise only counted
            (``fired_count``), so that the sweep's memory is bounded by one batch however many rungs it fires.

    Returns:
        a :class:`SweepReport`; ``skipped`` (and nothing done) when another sweep holds the lock.
    """
    now = now or utcnow()
    ladder = ladder or load_ladder()
    started = time.perf_counter()
    report = SweepReport()
    # One connection for the whole sweep: it holds the PostgreSQL advisory lock, and each batch is a
    # transaction on it (no pool check-out and ping per batch).
    with get_engine(database_url).connect() as conn, \
            (_one_sweep_at_a_time(conn) if lock else _no_lock()) as held:
        if not held:
            log.info("another deadline sweep is running; this one does nothing")
            report.skipped = True
            return report
        out_of_time = False
        for uncomputed in (True, False):
            after: tuple | None = None
            while not out_of_time:
                if time.perf_counter() - started > time_budget:
                    out_of_time = True
                    break
                selected, after = _sweep_batch(conn, now, ladder, uncomputed, after, batch_size, report, keep_fired)
                report.batches += 1
                if selected < batch_size:
                    break
        with _transaction(conn) as session:
            report.backlog = _backlog(session, now) if out_of_time else 0
            report.duration_s = time.perf_counter() - started
            report.finished_at = utcnow()
            run = SweepRun(at=now, finished_at=report.finished_at, duration_s=report.duration_s,
                           fired=report.fired_count, backlog=report.backlog, computed=report.computed,
                           failed=len(report.failed))
            session.add(run)
            session.flush()
            if run.id % 100 == 0:  # now and then, not every minute
                session.execute(sa.delete(SweepRun).where(SweepRun.finished_at < report.finished_at - KEEP_SWEEP_RUNS))
    if report.duration_s > SWEEP_INTERVAL or out_of_time:
        log.warning("deadline sweep overran: %.1f s (interval %.0f s), %d rungs fired, backlog %d open tasks "
                    "left for the next sweep", report.duration_s, SWEEP_INTERVAL, report.fired_count, report.backlog)
    return report


@contextmanager
def _transaction(conn: sa.Connection) -> Iterator[Session]:
    """A session whose transaction is one transaction of ``conn``: committed on success, rolled back on error."""
    session = Session(bind=conn, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def due_selection(now: datetime, *, dialect: str, uncomputed: bool = False, after: tuple | None = None,
                  limit: int | None = BATCH_SIZE, lock_rows: bool = False) -> sa.TextualSelect:
    """The ids (and keyset columns ``id``, ``next_rung_at``) of the next batch of due open tasks.

    Open tasks never computed (``uncomputed``: ``next_rung_at IS NULL``, by id) or due at ``now``
    (``next_rung_at <= now``, by (next_rung_at, id)), after the keyset ``after`` = the last (next_rung_at, id)
    of the previous batch. An index range scan of ``ix_agency_task_next_rung_open`` (the plan test checks it):
    the open-state predicate is the index's own, as literal SQL, so the planner matches the partial index;
    on SQLite the index is named (``INDEXED BY``), since without statistics SQLite prefers the index on
    ``state`` (every open task). ``lock_rows`` adds ``FOR UPDATE SKIP LOCKED`` (PostgreSQL only).
    """
    t = AgencyTask.__table__.c
    at_type, id_type = t.next_rung_at.type, t.id.type
    params = []
    if uncomputed:
        # ordered as the index is (all NULL, so by id): closed tasks' NULLs make PostgreSQL's statistics expect
        # many matches, and ORDER BY id alone had it walk the primary key through every task to find none
        where, order = "next_rung_at IS NULL", "next_rung_at, id"
        if after is not None:
            where += " AND id > :after_id"
            params.append(sa.bindparam("after_id", after[1], type_=id_type))
    else:
        where, order = "next_rung_at <= :now", "next_rung_at, id"
        params.append(sa.bindparam("now", now, type_=at_type))
        if after is not None:
            where += " AND next_rung_at >= :after_at AND (next_rung_at > :after_at OR id > :after_id)"
            params += [sa.bindparam("after_at", after[0], type_=at_type),
                       sa.bindparam("after_id", after[1], type_=id_type)]
    hint = " INDEXED BY ix_agency_task_next_rung_open" if dialect == "sqlite" else ""
    sql = f"SELECT id, next_rung_at FROM agency_task{hint} WHERE {OPEN_STATES_SQL} AND {where} ORDER BY {order}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    if lock_rows and dialect == "postgresql":
        sql += " FOR UPDATE SKIP LOCKED"
    return sa.text(sql).bindparams(*params).columns(sa.column("id", id_type), sa.column("next_rung_at", at_type))


@dataclass
class _Batch:
    """One selected batch, worked out and rendered before anything is written.

    ``tasks``: task id -> (task (detached), county of its overdue rung, fired rung names); ``plans``: task id ->
    (new rungs, next ``next_rung_at``); ``rendered``: the messages of the new rungs; ``failures``: the tasks set
    aside; ``last``: the keyset of the last task selected."""

    tasks: dict[uuid.UUID, tuple[AgencyTask, str | None, set[str]]] = field(default_factory=dict)
    plans: dict[uuid.UUID, tuple[list[Rung], datetime]] = field(default_factory=dict)
    rendered: Rendered = field(default_factory=Rendered)
    failures: dict[uuid.UUID, Failure] = field(default_factory=dict)
    last: tuple | None = None


def _sweep_batch(conn: sa.Connection, now: datetime, ladder: Ladder, uncomputed: bool, after: tuple | None,
                 batch_size: int, report: SweepReport, keep_fired: bool) -> tuple[int, tuple | None]:
    """Select one batch, work out and render its reached rungs, fire them in one transaction (redone task by task
    if the database refuses it); set aside the tasks that fail (:mod:`careflow.sweep_guard`). Returns (tasks
    selected, keyset of the last one)."""
    with _transaction(conn) as session:
        batch = _prepare_batch(session, now, ladder, uncomputed, after, batch_size)
        ready = [task_id for task_id in batch.tasks if task_id not in batch.failures]
        try:
            fired = _write_batch(session, batch, ready, now)
        except sa.exc.DBAPIError as exc:
            if not _refused(exc):
                raise
            log.warning("deadline sweep: the database refused a batch of %d tasks (%s); redoing it task by task",
                        len(ready), str(exc).splitlines()[0][:200])
            session.rollback()
            fired = None
    if not batch.tasks:
        return 0, after
    if fired is None:  # every task in its own transaction: only the refused ones are set aside
        fired = []
        for task_id in ready:
            try:
                with _transaction(conn) as session:
                    mine = _write_batch(session, batch, [task_id], now)
                fired += mine
            except sa.exc.DBAPIError as exc:
                if not _refused(exc):
                    raise
                task, county, _ = batch.tasks[task_id]
                batch.failures[task_id] = Failure(task, county, tuple(r.name for r in batch.plans[task_id][0]),
                                                  "write", exc)
    report.fired_count += len(fired)
    if keep_fired:
        report.fired += fired
    if batch.failures:
        with _transaction(conn) as session:
            report.failed += set_aside(session, list(batch.failures.values()), now)
    report.computed += len(batch.tasks)
    return len(batch.tasks), batch.last


def _refused(exc: sa.exc.DBAPIError) -> bool:
    """The database refused these rows (a value too long, a constraint, a trigger): redo task by task, set aside
    what it refuses again. Not a refusal: a lost connection, a lock timeout or deadlock, a locked SQLite file
    (``OperationalError``): the sweep fails and the next one tries again, nothing set aside."""
    return not exc.connection_invalidated and not isinstance(exc, sa.exc.OperationalError)


def _prepare_batch(session, now: datetime, ladder: Ladder, uncomputed: bool, after: tuple | None,
                   batch_size: int) -> _Batch:
    """Select one batch (with its cases and fired rungs, one query, rows locked on PostgreSQL), work out each
    task's new rungs and next ``next_rung_at``, and render the new rungs' messages; nothing written."""
    selected = due_selection(now, dialect=session.get_bind().dialect.name, uncomputed=uncomputed, after=after,
                             limit=batch_size, lock_rows=True).subquery("due")
    rows = session.execute(
        select(AgencyTask, Case.county_code, Case.caseworker, Escalation.rung)
        .join(selected, selected.c.id == AgencyTask.id)
        .outerjoin(Case, Case.id == AgencyTask.case_id)
        .outerjoin(Escalation, Escalation.task_id == AgencyTask.id)
        .order_by(selected.c.next_rung_at, selected.c.id)
    ).all()
    batch = _Batch()
    caseworkers: dict[uuid.UUID, str | None] = {}
    for task, county, caseworker, rung in rows:
        if task.id not in batch.tasks:
            batch.tasks[task.id] = (task, county, set())
            caseworkers[task.id] = caseworker
            batch.last = (task.next_rung_at, task.id)
        if rung:
            batch.tasks[task.id][2].add(rung)
    session.expunge_all()  # plain values from here on: the batch is written by bulk statements
    messages = []
    for task_id, (task, county, fired) in batch.tasks.items():
        try:
            county = task_county(task, county)
            batch.tasks[task_id] = (task, county, fired)
            reached = due_rungs(task, now=now, county_code=county, caseworker=caseworkers[task_id], ladder=ladder)
            new = [rung for rung in reached if rung.name not in fired]
            next_at = next_rung_time(task, ladder, fired | {r.name for r in reached}, county_code=county, now=now)
        except Exception as exc:  # a task whose rungs cannot be worked out is set aside
            batch.failures[task_id] = Failure(task, county, (), "plan", exc)
            continue
        batch.plans[task_id] = (new, next_at)
        # what the messages say: the level the task reaches with these rungs (the write raises it the same way)
        task.escalation_level = max([task.escalation_level] + [rung.level for rung in new])
        for rung in new:
            event = "task_reminder" if rung.name == "reminder" else "task_escalated"
            messages += [TaskMessage(task=task, event=event, recipient_unit=channel_key, role=role,
                                     occasion=rung.name, outcome_summary=_summary(rung.name, county))
                         for channel_key, role in rung.recipients]
    batch.rendered = render_task_messages(session, messages)
    for task_id, exc in batch.rendered.failed.items():
        task, county, _ = batch.tasks[task_id]
        batch.failures[task_id] = Failure(task, county, tuple(r.name for r in batch.plans[task_id][0]), "render", exc)
    return batch


def _write_batch(session, batch: _Batch, task_ids: list[uuid.UUID], now: datetime) -> list[tuple[uuid.UUID, str]]:
    """Fire the new rungs of ``task_ids`` (of ``batch``) and store their new ``next_rung_at``: the unique (task,
    rung) rows, then only for rows actually inserted the messages and audit events, all in bulk; returns the
    (task id, rung) fired. Raises what the database raises (the caller's transaction is then to be rolled back)."""
    escalations = [{"task_id": task_id, "rung": rung.name, "level": rung.level, "fired_at": now,
                    "recipients": [list(r) for r in rung.recipients]}
                   for task_id in task_ids for rung in batch.plans[task_id][0]]
    for row, new_id in zip(escalations, new_ids(len(escalations))):
        row["id"] = new_id
    inserted = {(row.task_id, row.rung) for row in insert_ignoring_conflicts(
        session, Escalation.__table__, escalations, ["task_id", "rung"], ["task_id", "rung"])}
    fired, messages, audits, updates = [], [], [], []
    occasions = batch.rendered.occasions
    for task_id in task_ids:
        task, area, _ = batch.tasks[task_id]
        new, next_at = batch.plans[task_id]
        mine = [rung for rung in new if (task_id, rung.name) in inserted]
        level = max([0] + [rung.level for rung in mine])
        if mine or next_at != task.next_rung_at:
            updates.append({"id": task_id, "next_rung_at": next_at, "escalation_level": level})
        names = {rung.name for rung in mine}
        messages += [row for row in batch.rendered.rows.get(task_id, ()) if occasions[row["id"]] in names]
        for rung in mine:
            fired.append((task_id, rung.name))
            audits.append({"actor": SWEEPER, "action": f"task.escalated.{rung.name}", "entity_type": "task",
                           "entity_id": task_id, "case_id": task.case_id, "reason": _summary(rung.name, area),
                           "detail": {"level": rung.level, "recipients": [list(r) for r in rung.recipients]}})
    # One statement for the batch, and only for rows whose values change: an UPDATE writes a new row version
    # and, next_rung_at being indexed, an entry in every index of agency_task (no HOT update possible).
    update_rows(session, AgencyTask.__table__, updates, key="id",
                assignments={"next_rung_at": "v.next_rung_at",
                             "escalation_level": "max(t.escalation_level, v.escalation_level)"},
                where="t.next_rung_at IS DISTINCT FROM v.next_rung_at OR t.escalation_level < v.escalation_level")
    store_messages(session, messages)
    record_audits(session, audits)
    return fired


def _backlog(session, now: datetime) -> int:
    """Open tasks due at ``now`` or never computed (two index range counts)."""
    dialect = session.get_bind().dialect.name
    return sum(session.execute(sa.select(sa.func.count()).select_from(
        due_selection(now, dialect=dialect, uncomputed=u, limit=None).subquery())).scalar_one() for u in (True, False))


def _summary(rung: str, area: str | None = None) -> str:
    """What a rung's message says; the ``overdue`` rung names the level it goes to (``area``: a county, or the
    province ``…0000`` for a city-level duty, :func:`careflow.ladder.task_county`)."""
    if rung == "overdue" and area and area.endswith("0000"):
        return "任务逾期未办结，请省民政厅督办"
    return {
        "reminder": "任务即将到期，请尽快办理",
        "ack_overdue": "任务超过签收时限仍未签收",
        "deadline": "任务已到办理时限仍未办结",
        "overdue": "任务逾期未办结，请县级民政部门督办",
    }[rung]
