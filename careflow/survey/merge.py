"""The survey import's per-chunk merge (step 2 of :mod:`careflow.survey.importer`): each chunk of good rows loaded into
``survey_chunk``, its repeats settled, then the fast path (children new to careflow) or the general merge, set-based
(the statements: :mod:`careflow.survey.merge_sql`).
"""
from __future__ import annotations

import datetime
import queue
import threading
import time
import uuid
from typing import TYPE_CHECKING

import sqlalchemy as sa

from careflow.survey.bulk import driver_connection, is_postgresql
from careflow.survey.import_report import REPORT_ERRORS, RowOutcome
from careflow.survey.merge_sql import (
    ERROR_COLUMNS,
    STAGE_COLUMNS,
    MergeStatements,
    create_stage_tables,
    is_unique_violation,
)
from careflow.survey.parsing import Chunk
from careflow.survey.validate import RowIssue
from models.resident_id import mask_resident_id

if TYPE_CHECKING:
    from careflow.survey.round_consequences import NewFiles


class Merger:
    """Loads and merges the file chunk by chunk, inside the import's transaction.

    Per chunk (PostgreSQL: in a background thread while the next chunk is parsed, at most two chunks waiting, so
    memory stays flat; SQLite: in the parsing thread):

    1. the good rows go to ``survey_chunk`` (COPY / ``executemany``);
    2. repeats of earlier chunks' ID numbers are settled (:meth:`_duplicates`) and dropped;
    3. :meth:`_insert_all_new` tries the fast path; when a child or record exists, :meth:`_merge`:
       ``survey_known`` is the chunk annotated with what careflow holds — the child's id (new children get
       :meth:`new_id`), old residence, whether the child's stored data differs, this round's record hash — and
       from it, set-based: the fates counted, new children inserted, this round's records inserted or updated,
       changed children audited and updated; rows whose record stays as it was go to ``survey_seen``
       (:data:`careflow.survey.merge_sql.IN_FILE`).
    """

    def __init__(self, conn: sa.Connection, *, import_id: int, round_id: int, county: str, present: set[str],
                 id_column: str, actor: str, now: datetime.datetime, collect_rows: bool, id_prefix: str,
                 files: "NewFiles | None" = None, later: bool = False, label: str = "") -> None:
        self.conn = conn
        self.later, self.label = later, label
        self.files = files
        self.raw = driver_connection(conn)
        self.pg = is_postgresql(conn)
        self.import_id, self.round_id, self.county, self.actor, self.now = import_id, round_id, county, actor, now
        self.id_column = id_column
        self.id_prefix = id_prefix
        self._fast_misses = 0
        self._chunks = self.merged_chunks = 0
        self.collect_rows = collect_rows
        self.counts = dict(duplicate=0, conflict=0, inserted=0, updated=0, unchanged=0, migrant=0, key_care=0,
                           found_later=0)
        self.conflicts: list[RowIssue] = []
        self.outcomes: list[RowOutcome] = []
        self.moves: list[tuple[uuid.UUID, str, str, int]] = []
        self.error: BaseException | None = None
        self._sizes: dict[str, list[int]] = {}
        self._analyzed = self._chunk_analyzed = False
        self.timings: dict[str, float] = {}
        self._queue: queue.Queue = queue.Queue(maxsize=2)
        self._thread: threading.Thread | None = None
        create_stage_tables(conn)
        self.sql = MergeStatements(conn, present, later=later)
        if self.pg:
            self._thread = threading.Thread(target=self._run, name="survey-merge", daemon=True)
            self._thread.start()

    # -- running ------------------------------------------------------------------------------------------------

    def put(self, chunk: Chunk) -> None:
        if self.error is not None:
            raise self.error
        if self._thread is not None:
            self._queue.put(chunk)
        else:
            self._process(chunk)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self.error is None:
                try:
                    self._process(item)
                except BaseException as exc:  # noqa: BLE001 - re-raised in the parsing thread
                    self.error = exc

    def finish(self) -> None:
        """Wait for the last chunk; re-raise what failed in the background."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if self.error is not None:
            raise self.error
        if self.pg:
            t = time.perf_counter()
            self.conn.exec_driver_sql("SET LOCAL enable_hashjoin = on")
            self.conn.exec_driver_sql("SET LOCAL enable_mergejoin = on")
            self.conn.exec_driver_sql("RESET jit")
            # the closing pass looks up files and duties one by one; a previous import may have added tens of
            # thousands that autovacuum has not analysed yet (then each lookup scanned them all: 22 s for the
            # 1,000 files a second round of a million rows closes). An import of new children only has no closing
            # pass to speak of (1 s a million rows saved); autovacuum analyses what it added.
            if self.merged_chunks:
                self.conn.exec_driver_sql("ANALYZE survey_seen, child, survey_record, key_care_file, key_care_duty, "
                                          "agency_task")
            self._timed("statistics", t)

    def abort(self) -> None:
        if self._thread is not None:
            self.error = self.error or RuntimeError("import aborted")
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def write_errors(self, errors: list[RowIssue]) -> None:
        if not errors:
            return
        values = [(self.import_id, i.line, i.field, i.column[:64], i.value[:200], i.code[:32], i.message[:300])
                  for i in errors]
        columns = ", ".join(f'"{c}"' for c in ERROR_COLUMNS)
        if self.pg:
            with self.raw.cursor() as cursor, cursor.copy(f"COPY survey_row_error ({columns}) FROM STDIN") as copy:
                for value in values:
                    copy.write_row(value)
        else:
            cursor = self.raw.cursor()
            cursor.executemany(f"INSERT INTO survey_row_error ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?)", values)
            cursor.close()

    def _load_chunk(self, chunk: Chunk) -> None:
        columns = ", ".join(STAGE_COLUMNS)
        rows = chunk.rows
        if self.pg:
            with self.raw.cursor() as cursor, cursor.copy(
                    f"COPY survey_chunk ({columns}{', child_id' if chunk.copy_text else ''}) FROM STDIN") as copy:
                if chunk.copy_text:
                    copy.write(chunk.copy_text)
                write = copy.write_row
                for row in rows:
                    write(row)
            return
        cursor = self.raw.cursor()
        cursor.executemany(f"INSERT INTO survey_chunk ({columns}) VALUES ({', '.join('?' for _ in STAGE_COLUMNS)})",
                           [(r[0], r[1], r[2], r[3], r[4].isoformat(), r[5], r[6], r[7], r[8], r[9].isoformat(),
                             r[10], r[11], r[12], r[13], r[14], int(r[15]), r[16], int(r[17]), r[18]) for r in rows])
        cursor.close()

    def _grew(self, table: str, added: int) -> None:
        """Count rows this import added to ``table`` (see :meth:`_refresh_statistics`)."""
        if not self.pg or not added or added < 0:
            return
        if table not in self._sizes:
            self._sizes[table] = [self.conn.execute(sa.text(
                "SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                {"t": table}).scalar_one(), 0]
        self._sizes[table][1] += added

    def _refresh_statistics(self) -> None:
        """Before the merge's joins, keep PostgreSQL's statistics of the tables this import fills in step with them
        (ANALYZE a table once the rows added since its last ANALYZE pass the rows it had then): without them the
        planner takes a table holding a million new rows for empty and scans it once per chunk. The fast path
        needs no statistics, so a first survey pays for none (measured: 2-3 s a million rows)."""
        for table, size in self._sizes.items():
            if size[1] > max(size[0], 10_000):
                self.conn.exec_driver_sql(f"ANALYZE {table}")
                size[0], size[1] = size[0] + size[1], 0

    def _timed(self, name: str, started: float) -> float:
        now = time.perf_counter()
        self.timings[name] = self.timings.get(name, 0.0) + now - started
        return now

    def _process(self, chunk: Chunk) -> None:
        conn = self.conn
        t = time.perf_counter()
        self.write_errors(chunk.errors)
        self._chunks += 1
        if not chunk.loaded and not chunk.repeats:
            return
        self._load_chunk(chunk)
        t = self._timed("load", t)
        if self.pg and not self._chunk_analyzed:  # the chunk table's statistics, once: every chunk looks alike
            conn.exec_driver_sql("ANALYZE survey_chunk")
            self._chunk_analyzed = True
        left = chunk.loaded - self._duplicates(chunk)
        t = self._timed("dedupe", t)
        params = {"round": self.round_id, "import": self.import_id, "now": self.now, "actor": self.actor[:64],
                  "id_prefix": self.id_prefix, "label": self.label}
        if left and not self._insert_all_new(params, left):
            self._merge(params)
        t = time.perf_counter()
        conn.exec_driver_sql("TRUNCATE survey_chunk, survey_known" if self.pg else "DELETE FROM survey_chunk")
        if not self.pg:
            conn.exec_driver_sql("DELETE FROM survey_known")
        self._timed("truncate", t)

    def _insert_all_new(self, params: dict, rows: int) -> bool:
        """The fast path, for a chunk of children new to careflow and to the round (a first survey): insert the
        children and their round records straight from the chunk, inside a savepoint. False (and nothing written)
        when a row's child or round record exists — then :meth:`_merge` takes the chunk. After two chunks in a row
        needed the merge (a later round, where most children are known), only every eighth chunk tries."""
        if self._fast_misses >= 2 and self._chunks % 8:
            return False
        t = time.perf_counter()
        try:
            with self.conn.begin_nested():
                children = self.conn.execute(self.sql.sql_fast_children, params).rowcount
                records = self.conn.execute(self.sql.sql_fast_records, params).rowcount
        except sa.exc.IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            self._fast_misses += 1
            self._timed("fast path missed", t)
            return False
        self._fast_misses = 0
        assert children == records == rows, (children, records, rows)
        count, migrant, key_care = self.conn.execute(self.sql.sql_fast_counts).one()
        self.counts["inserted"] += count
        self.counts["migrant"] += int(migrant or 0)
        self.counts["key_care"] += int(key_care or 0)
        if self.collect_rows:
            self.outcomes.extend(RowOutcome(line, "inserted", mask_resident_id(rid)) for line, rid in
                                 self.conn.execute(sa.text("SELECT line, resident_id FROM survey_chunk ORDER BY line")))
        self._grew("child", children)
        self._grew("survey_record", records)
        t = self._timed("insert new", t)
        if self.files is not None and key_care:
            self.files.open_for_chunk(self.id_prefix)
            self._timed("files and duties", t)
            self.timings["of which assessments"] = self.files.seconds_assessments
        return True

    def _merge(self, params: dict) -> None:
        """The general path: annotate the chunk with what careflow holds, then insert and update set-based."""
        conn = self.conn
        self.merged_chunks += 1
        t = time.perf_counter()
        self._refresh_statistics()
        conn.execute(self.sql.sql_known, params)
        if self.later:  # a child a later round has found is left as that round has them
            conn.exec_driver_sql("UPDATE survey_known SET child_changed = FALSE WHERE later")
        if self.pg and not self._analyzed:
            conn.exec_driver_sql("ANALYZE survey_known")
            self._analyzed = True
        t = self._timed("lookup", t)
        child_changed = record_changed = record_new = child_new = moved = 0
        for fate, count, migrant, key_care, c_changed, r_changed, r_new, c_new, c_moved, found_later in conn.execute(
                self.sql.sql_fates):
            self.counts["found_later"] += int(found_later or 0)
            self.counts[fate] += count
            self.counts["migrant"] += int(migrant or 0)
            self.counts["key_care"] += int(key_care or 0)
            child_changed += int(c_changed or 0)
            record_changed += int(r_changed or 0)
            record_new += int(r_new or 0)
            child_new += int(c_new or 0)
            moved += int(c_moved or 0)
        moves = conn.execute(self.sql.sql_moves).all() if moved else []
        self.moves.extend((m[0], m[1], m[2], m[3]) for m in moves)
        if self.collect_rows:
            moved_from = {m[3]: m[1] for m in moves if m[1] != self.county}
            self.outcomes.extend(
                RowOutcome(line, fate, mask_resident_id(rid),
                           note=f"moved from {moved_from[line]}" if line in moved_from else
                           "found by a later round: recorded for this round only" if later else "")
                for line, rid, fate, later in conn.execute(self.sql.sql_row_fates))
        t = self._timed("fates", t)
        if child_new:
            inserted = conn.execute(self.sql.sql_insert_children, params).rowcount
            if inserted != child_new:  # another county's import created some of them meanwhile
                conn.execute(self.sql.sql_fix_new_ids)
            self._grew("child", inserted)
            t = self._timed("insert child", t)
        if record_new:
            self._grew("survey_record", conn.execute(self.sql.sql_insert_records, params).rowcount)
            t = self._timed("insert survey_record", t)
        if record_changed:
            conn.execute(self.sql.sql_update_records, params)
        if child_changed:
            conn.execute(self.sql.sql_audit_updates, {**params, "reason": f"survey import {self.import_id} line ",
                                                  "detail": {"import_id": self.import_id}})
            conn.execute(self.sql.sql_update_children, params)
        self._grew("survey_seen", conn.execute(self.sql.sql_seen).rowcount)
        self._timed("updates", t)

    def _earlier_lines(self, resident_ids: list[str]) -> dict[str, tuple[int, str]]:
        """ID number → (line, row hash) of the earlier line of this file that holds it, for those that have one."""
        found: dict[str, tuple[int, str]] = {}
        for i in range(0, len(resident_ids), 400):
            batch = resident_ids[i:i + 400]
            for rid, where in self.conn.execute(
                    self.sql.sql_earlier,
                    {"round": self.round_id, "import": self.import_id, "ids": batch, "ids2": batch}):
                if where:
                    line, row_hash = where.split(":")
                    found[rid] = (int(line), row_hash)
        return found

    def _duplicates(self, chunk: Chunk) -> int:
        """Settle the chunk's repeated ID numbers — a line repeating an earlier line of the file with the same data
        is a ``duplicate``, with other data an error ``duplicate_conflict`` naming the line kept (the first) — and
        drop those still in ``survey_chunk``; returns how many were dropped."""
        found = self._earlier_lines(sorted({rid for _, rid, _ in chunk.suspects})) if chunk.suspects else {}
        repeats = [(line, rid, row_hash, *found[rid]) for line, rid, row_hash in chunk.suspects if rid in found]
        dropped = [r[0] for r in repeats]
        # a repeat within the chunk repeats the chunk's first line of that ID, or what that one repeated
        repeats += [(line, rid, row_hash, *found.get(rid, (first_line, first_hash)))
                    for line, rid, row_hash, first_line, first_hash in chunk.repeats]
        conflicts = []
        for line, rid, row_hash, first_line, first_hash in sorted(repeats):
            if row_hash == first_hash:
                self.counts["duplicate"] += 1
                if self.collect_rows:
                    self.outcomes.append(RowOutcome(line, "duplicate", mask_resident_id(rid),
                                                    note=f"same as line {first_line}"))
            else:
                self.counts["conflict"] += 1
                conflicts.append(RowIssue(line, "resident_id", self.id_column, rid, "duplicate_conflict",
                                          f"身份证号与第 {first_line} 行重复且其他内容不同，保留第 {first_line} 行"))
        self.write_errors(conflicts)
        if len(self.conflicts) < REPORT_ERRORS:
            self.conflicts.extend(conflicts)
        for i in range(0, len(dropped), 500):
            self.conn.execute(sa.text("DELETE FROM survey_chunk WHERE line IN :lines")
                              .bindparams(sa.bindparam("lines", expanding=True)), {"lines": dropped[i:i + 500]})
        return len(dropped)
