"""Importing a county's survey file into a round (方案 一（一）): the service behind the ``survey-import`` flow and
``careflow survey import``.

How a file goes in (one transaction: it all applies, or nothing does):

1. The file is parsed in chunks of :data:`~careflow.survey.parsing.CHUNK_ROWS` lines
   (:mod:`careflow.survey.parsing`; a big file in a child process, side by side with the database work); each row
   is validated and classified (:mod:`careflow.survey.validate`). A bad row becomes
   :class:`~models.survey.SurveyRowError` rows (line, field, column, value, reason) and nothing else: it never
   stops or changes the others. The first line of an ID number wins: a later line with the same data is a
   ``duplicate``, one with other data an error ``duplicate_conflict`` naming the line kept — settled within the
   chunk by the parser, across chunks by asking the database about the few rows a fixed-size bitmap of the file's
   ID numbers flags (:class:`~careflow.survey.parsing.SeenIds`).
2. Each chunk is merged while the next one is parsed (:class:`_Merger`; a background thread on PostgreSQL), in
   ``survey_chunk`` (COPY on PostgreSQL, ``executemany`` on SQLite). Fast path, for a chunk of children new to
   careflow and to the round (a county's first survey): the children and their round records are inserted
   straight from it inside a savepoint. Otherwise — a known child, or a record of the round already there — the
   savepoint is undone and the chunk annotated with what careflow holds (one index probe in ``child`` and one in
   ``survey_record`` per row); every row's fate is counted — ``inserted`` (a child new to careflow), ``updated``
   (a known child whose stored data changes, or whose record in this round changes), ``unchanged`` — and new
   children, changed children and this round's :class:`~models.survey.SurveyRecord` s written set-based. Fields
   the file has no column for are left as they are. Re-importing the same file therefore writes nothing (only the
   import's own bookkeeping row and audit event). Memory stays flat: a few chunks in flight, everything per row
   in the database.
3. Consequences, per child: a move to this county or to another area transfers open cases and duties
   (:func:`careflow.survey.transfer.relocate_child`); a child who aged out has open cases closed; key care files
   are opened, reopened, updated or closed (duties cancelled), and current duties made sure of
   (:func:`careflow.survey.duties.ensure_duties`).

Children written by an import are audited through the import (``survey.imported``, naming the round, the file's
SHA-256 and the counts; each :class:`~models.survey.SurveyRecord` names its import and line); updates, moves, files
and duties are audited one by one.
"""
from __future__ import annotations

import datetime
import hashlib
import os
import queue
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select

from careflow.audit import record_audit
from careflow.db import get_engine
from careflow.survey.bulk import driver_connection, is_postgresql, json_sql, uuid_text_sql
from careflow.survey.duties import UnitCache, close_files, ensure_duties, reopen_file, today_local
from careflow.survey.parsing import (
    CHUNK_ROWS,
    Chunk,
    ParserProcesses,
    SeenIds,
    mark_suspects,
    parse_chunks,
    parser_processes,
)
from careflow.survey.reader import SurveyFileError, open_survey
from careflow.survey.validate import RowIssue, RowValidator
from models.base import UTCDateTime, utcnow
from models.child import Child
from models.eligibility import KeyCareCriterion
from models.regions import get_county
from models.resident_id import mask_resident_id
from models.survey import (
    FileStatus,
    ImportStatus,
    KeyCareFile,
    RoundLabel,
    SurveyImport,
    SurveyRound,
    SurveyRowError,
)

__all__ = ["ImportReport", "RowOutcome", "SurveyFileError", "get_or_create_round", "import_survey"]

#: Row problems kept in memory for the report (all of them are stored in ``survey_row_error``).
REPORT_ERRORS = 10_000

#: The chunk table's columns, in :class:`~careflow.survey.validate.ValidRow` order.
STAGE_COLUMNS = ("line", "resident_id", "full_name", "sex", "birth_date", "hukou", "residence", "area", "address",
                 "arrival", "criteria", "g_name", "g_relation", "g_phone", "criteria_json", "is_migrant", "reasons",
                 "is_key_care", "row_hash")
TEMP_TABLES = ("survey_chunk", "survey_known", "survey_seen")
#: SQL: the round record ``r`` is of a line of the file being imported (written by this import, or left as it was).
IN_FILE = "(r.import_id = :import OR EXISTS (SELECT 1 FROM survey_seen s WHERE s.resident_id = r.resident_id))"
ERROR_COLUMNS = ("import_id", "line", "field", "column", "value", "code", "message")


def any_later_round(session: Session, label: str) -> bool:
    """Whether any county has a round later than ``label`` (a county sending an earlier round's file late)."""
    return session.exec(select(SurveyRound.id).where(SurveyRound.label > label).limit(1)).first() is not None


def found_later_sql(child: str, later: bool) -> str:
    """SQL: a round later than the one being imported (SQL parameter ``label``) has already found the child ``child``
    (an alias of ``child``). Such a child is as the latest round found them: an earlier round imported after it
    records its row for that round and changes nothing else (no update of the child, no move, no file opened, closed
    or reopened, no case closed). With ``later`` false (no later round anywhere: a county importing its newest round,
    the usual case) it is plain false.

    Only the rounds of the child's county of residence are probed: every import but a late one moves the child to
    the county whose round found them, so the latest round that found a child is one of that county's."""
    if not later:
        return "(1 = 0)"
    return (f"EXISTS (SELECT 1 FROM survey_round later_sr CROSS JOIN survey_record later_r "
            f"WHERE later_sr.county_code = {child}.residence_county_code AND later_sr.label > :label "
            f"AND later_r.round_id = later_sr.id AND later_r.child_id = {child}.id)")

_STAGE_DDL = """
CREATE TEMPORARY TABLE {table} (
    line INTEGER NOT NULL, resident_id VARCHAR(18) NOT NULL, full_name VARCHAR(64) NOT NULL,
    sex VARCHAR(8) NOT NULL, birth_date DATE NOT NULL, hukou VARCHAR(6) NOT NULL, residence VARCHAR(6) NOT NULL,
    area VARCHAR(12) NOT NULL, address VARCHAR(200) NOT NULL, arrival DATE NOT NULL, criteria VARCHAR(200) NOT NULL,
    g_name VARCHAR(64) NOT NULL, g_relation VARCHAR(32) NOT NULL, g_phone VARCHAR(32) NOT NULL,
    criteria_json VARCHAR(400) NOT NULL, is_migrant BOOLEAN NOT NULL, reasons VARCHAR(100) NOT NULL,
    is_key_care BOOLEAN NOT NULL, row_hash VARCHAR(16) NOT NULL{extra}
){on_commit}
"""

#: child column ← stage column, and the file field that must be present for the column to be written.
_CHILD_FIELDS = (
    ("full_name", "full_name", None), ("sex", "sex", None), ("birth_date", "birth_date", None),
    ("hukou_county_code", "hukou", None), ("residence_county_code", "residence", None),
    ("residence_area_code", "area", "residence_area_code"), ("residence_address", "address", "residence_address"),
    ("arrival_date", "arrival", None), ("key_care_criteria", "criteria_json", None),
)


@dataclass
class RowOutcome:
    """The fate of one line: ``inserted`` | ``updated`` | ``unchanged`` | ``duplicate`` | ``invalid``.

    ``resident_id`` is masked (``3503**********001X``); ``issues`` the problems of an invalid line; ``note`` e.g.
    ``same as line 4`` for a duplicate, ``moved from 350823`` for a child found in a new county.
    """

    line: int
    fate: str
    resident_id: str = ""
    issues: list[RowIssue] = field(default_factory=list)
    note: str = ""


@dataclass
class ImportReport:
    """What an import did.

    Attributes:
        import_id, round_id, county_code, round_label, file_name, file_format, file_sha256: what was imported where.
        counts: ``read`` (data rows, blank ones excluded), ``blank``, ``invalid``, ``duplicate``, ``inserted``,
            ``updated``, ``unchanged``; ``migrant`` and ``key_care`` among the good rows; ``found_later``: rows of
            children a later round has already found (recorded for this round only: :func:`found_later_sql`).
        errors: the row problems (line, field, column, value, code, message), the first :data:`REPORT_ERRORS`
            of ``errors_total`` (all are in ``survey_row_error``).
        notes: corrections made (an ID's lost X recovered), same shape.
        columns: careflow field → header as written; ``ignored_columns``: headers not used.
        relocations: each child found in a new county or area (see :class:`careflow.survey.transfer.Relocation`).
        files: ``opened``, ``reopened``, ``updated``, ``closed`` key care files; ``duties``: ``created``,
            ``cancelled``; ``unrouted``: area → duties not created because no unit covers the area.
        cases_closed_aged_out: case references closed because the child is 16.
        rows: every line's :class:`RowOutcome`, only when asked for (``collect_rows=True``).
        seconds: wall time.
        timings: seconds spent per phase (``load+merge`` wall time of streaming the file, the database time of
            each merge statement summed over chunks, ``consequences``), for benchmarks.
    """

    import_id: int
    round_id: int
    county_code: str
    round_label: str
    file_name: str
    file_format: str
    file_sha256: str
    counts: dict[str, int]
    errors: list[RowIssue]
    errors_total: int
    notes: list[RowIssue]
    columns: dict[str, str]
    ignored_columns: list[str]
    relocations: list = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)
    duties: dict[str, int] = field(default_factory=dict)
    unrouted: dict[str, int] = field(default_factory=dict)
    cases_closed_aged_out: list[str] = field(default_factory=list)
    rows: list[RowOutcome] | None = None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        """One line, e.g. ``350302 2026-10: 1000 rows — 950 inserted, 20 updated, 10 unchanged, 15 invalid, …``."""
        c = self.counts
        return (f"{self.county_code} {self.round_label} ({self.file_name}): {c['read']} rows — "
                f"{c['inserted']} inserted, {c['updated']} updated, {c['unchanged']} unchanged, "
                f"{c['invalid']} invalid, {c['duplicate']} duplicate, {c['blank']} blank; "
                f"{c['migrant']} migrant, {c['key_care']} key care"
                + (f"; {c['found_later']} found by a later round (recorded for this round only)"
                   if c.get("found_later") else ""))


def get_or_create_round(session: Session, county_code: str, label: RoundLabel) -> SurveyRound:
    """The round ``label`` of ``county_code``, created on first use (as of and deadline: the round month's end)."""
    found = session.exec(select(SurveyRound).where(SurveyRound.county_code == county_code,
                                                   SurveyRound.label == str(label))).first()
    if found:
        return found
    created = SurveyRound(county_code=county_code, label=str(label), as_of=label.as_of, deadline=label.as_of)
    session.add(created)
    session.flush()
    return created


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------------------------------
# The per-chunk merge
# ---------------------------------------------------------------------------------------------------------------------

class _Merger:
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
       (:data:`IN_FILE`).
    """

    def __init__(self, conn: sa.Connection, *, import_id: int, round_id: int, county: str, present: set[str],
                 id_column: str, actor: str, now: datetime.datetime, collect_rows: bool, id_prefix: str,
                 files: "_NewFiles | None" = None, later: bool = False, label: str = "") -> None:
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
        if self.pg:
            try:  # temporary tables live in local buffers: 8 MB by default (only settable before the first use)
                with conn.begin_nested():
                    conn.exec_driver_sql("SET temp_buffers = '128MB'")
            except sa.exc.DBAPIError:
                pass
        on_commit = " ON COMMIT DROP" if self.pg else ""
        for table in TEMP_TABLES:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        uuid_type = "UUID" if self.pg else "CHAR(32)"
        conn.exec_driver_sql(_STAGE_DDL.format(table="survey_chunk", key="", extra=f", child_id {uuid_type}",
                                               on_commit=on_commit))
        conn.exec_driver_sql(_STAGE_DDL.format(
            table="survey_known", key="", on_commit=on_commit,
            extra=f", child_id {uuid_type} NOT NULL, is_new BOOLEAN NOT NULL, old_county VARCHAR(6), "
                  "old_area VARCHAR(12), child_changed BOOLEAN NOT NULL, rec_hash VARCHAR(16), later BOOLEAN NOT NULL"))
        # the file's rows whose round record this import leaves as it was (a re-import): see in_file_sql()
        conn.exec_driver_sql("CREATE TEMPORARY TABLE survey_seen (resident_id VARCHAR(18) PRIMARY KEY, "
                             f"line INTEGER NOT NULL, row_hash VARCHAR(16) NOT NULL){on_commit}")
        if self.pg and os.environ.get("CAREFLOW_SURVEY_EXPLAIN"):  # log slow statements' plans (benchmarks)
            conn.exec_driver_sql("LOAD 'auto_explain'")
            conn.exec_driver_sql("SET auto_explain.log_min_duration = 30")
            conn.exec_driver_sql("SET auto_explain.log_analyze = on")
        if self.pg:
            # a chunk is small and joins big indexed tables whose statistics lag behind the import
            conn.exec_driver_sql("SET LOCAL enable_hashjoin = off")
            conn.exec_driver_sql("SET LOCAL enable_mergejoin = off")
            # each statement touches one chunk: compiling it (20-30 ms) costs more than it saves
            conn.exec_driver_sql("SET LOCAL jit = off")
        self._prepare(present)
        if self.pg:
            self._thread = threading.Thread(target=self._run, name="survey-merge", daemon=True)
            self._thread.start()

    # -- SQL ---------------------------------------------------------------------------------------------------

    def _prepare(self, present: set[str]) -> None:
        conn = self.conn
        child_cols = [(c, st) for c, st, needs in _CHILD_FIELDS if needs is None or needs in present]
        differs = " OR ".join(
            ("CAST(child.key_care_criteria AS TEXT) <> s.criteria_json" if c == "key_care_criteria"
             else f"child.{c} <> s.{st}") for c, st in child_cols)
        area_differs = "k.old_area <> k.area" if "residence_area_code" in present else "1 = 0"
        moved = f"(NOT k.is_new AND NOT k.later AND (k.old_county <> k.residence OR {area_differs}))"
        later = found_later_sql("child", self.later)
        true, false = ("TRUE", "FALSE") if self.pg else ("1", "0")
        columns = ", ".join(STAGE_COLUMNS)
        self.sql_known = sa.text(f"""
            INSERT INTO survey_known ({columns}, child_id, is_new, old_county, old_area, child_changed, rec_hash,
                                      later)
            SELECT {", ".join("s." + c for c in STAGE_COLUMNS)}, COALESCE(child.id, {self.new_id("s")}),
                   child.id IS NULL, child.residence_county_code, child.residence_area_code,
                   CASE WHEN child.id IS NOT NULL AND ({differs}) THEN {true} ELSE {false} END,
                   (SELECT r.row_hash FROM survey_record r WHERE r.round_id = :round AND r.child_id = child.id),
                   CASE WHEN child.id IS NOT NULL AND {later} THEN {true} ELSE {false} END
            FROM survey_chunk s
            LEFT JOIN child ON child.resident_id = s.resident_id""")
        # (the round's record by a subquery, not a join: while a new round fills up PostgreSQL's statistics know
        # none of its rows, and a join was planned as one scan of the whole round per line of the chunk — measured:
        # 100,000 rows of a second round took 250 s)
        fate = """
            CASE WHEN k.is_new THEN 'inserted'
                 WHEN k.child_changed OR (k.rec_hash IS NOT NULL AND k.rec_hash <> k.row_hash) THEN 'updated'
                 ELSE 'unchanged' END"""
        self.sql_fates = sa.text(f"""
            SELECT {fate} AS fate, COUNT(*), SUM(CASE WHEN k.is_migrant THEN 1 ELSE 0 END),
                   SUM(CASE WHEN k.is_key_care THEN 1 ELSE 0 END),
                   SUM(CASE WHEN k.child_changed THEN 1 ELSE 0 END),
                   SUM(CASE WHEN k.rec_hash IS NOT NULL AND k.rec_hash <> k.row_hash THEN 1 ELSE 0 END),
                   SUM(CASE WHEN k.rec_hash IS NULL THEN 1 ELSE 0 END),
                   SUM(CASE WHEN k.is_new THEN 1 ELSE 0 END),
                   SUM(CASE WHEN {moved} THEN 1 ELSE 0 END),
                   SUM(CASE WHEN k.later THEN 1 ELSE 0 END)
            FROM survey_known k GROUP BY 1""")
        self.sql_row_fates = sa.text(
            f"SELECT k.line, k.resident_id, {fate}, k.later FROM survey_known k ORDER BY k.line")
        self.sql_moves = sa.text(f"""
            SELECT k.child_id, k.old_county, k.old_area, k.line FROM survey_known k WHERE {moved} ORDER BY k.line
            """).columns(sa.column("child_id", sa.Uuid), sa.column("old_county", sa.String),
                         sa.column("old_area", sa.String), sa.column("line", sa.Integer))
        insert_cols = ", ".join(c for c, _, _ in _CHILD_FIELDS)
        insert_vals = ", ".join(
            json_sql(conn, "k.criteria_json") if c == "key_care_criteria"
            else f"k.{st}" if needs is None or needs in present else "''"
            for c, st, needs in _CHILD_FIELDS)
        now_param = sa.bindparam("now", type_=UTCDateTime())
        self.sql_insert_children = sa.text(f"""
            INSERT INTO child (id, resident_id, {insert_cols}, created_at, created_by)
            SELECT k.child_id, k.resident_id, {insert_vals}, :now, :actor
            FROM survey_known k WHERE k.is_new
            ON CONFLICT (resident_id) DO NOTHING""").bindparams(now_param)
        self.sql_fix_new_ids = sa.text("""
            UPDATE survey_known SET child_id = child.id FROM child
            WHERE survey_known.is_new AND child.resident_id = survey_known.resident_id
              AND child.id <> survey_known.child_id""")
        record_cols = ("line, full_name, sex, birth_date, hukou_county_code, residence_county_code, "
                       "residence_area_code, residence_address, arrival_date, key_care_criteria, guardian_name, "
                       "guardian_relation, guardian_phone, is_migrant, not_migrant_reasons, is_key_care, row_hash")
        stage_cols = ("line, full_name, sex, birth_date, hukou, residence, area, address, arrival, criteria, g_name, "
                      "g_relation, g_phone, is_migrant, reasons, is_key_care, row_hash")
        self.sql_insert_records = sa.text(f"""
            INSERT INTO survey_record (round_id, resident_id, child_id, import_id, {record_cols}, moved_from_county)
            SELECT :round, k.resident_id, k.child_id, :import, {", ".join("k." + x.strip() for x in stage_cols.split(","))},
                   CASE WHEN NOT k.is_new AND NOT k.later AND k.old_county <> k.residence THEN k.old_county
                        ELSE '' END
            FROM survey_known k WHERE k.rec_hash IS NULL""")
        sets = ", ".join(f"{r.strip()} = k.{st.strip()}" for r, st in zip(record_cols.split(","),
                                                                           stage_cols.split(",")))
        self.sql_update_records = sa.text(f"""
            UPDATE survey_record SET import_id = :import, {sets}
            FROM survey_known k
            WHERE k.rec_hash IS NOT NULL AND k.rec_hash <> k.row_hash
              AND survey_record.round_id = :round AND survey_record.child_id = k.child_id""")
        self.sql_audit_updates = sa.text(f"""
            INSERT INTO audit_event (at, actor, action, entity_type, entity_id, reason, detail)
            SELECT :now, :actor, 'child.survey_updated', 'child', {uuid_text_sql(conn, "k.child_id")},
                   :reason || CAST(k.line AS VARCHAR(12)), :detail
            FROM survey_known k WHERE k.child_changed""").bindparams(now_param, sa.bindparam("detail", type_=sa.JSON()))
        child_sets = ", ".join((f"{c} = {json_sql(conn, 'k.criteria_json')}" if c == "key_care_criteria"
                                else f"{c} = k.{st}") for c, st in child_cols)
        self.sql_update_children = sa.text(f"""
            UPDATE child SET {child_sets} FROM survey_known k
            WHERE k.child_changed AND child.id = k.child_id""")
        # PostgreSQL: one index probe per ID number, whatever the statistics think of the round — a subquery, not a
        # join: a join (even LATERAL) on a round that is filling up was planned as a scan of the whole round
        # per ID number (8 s a chunk at a million rows). SQLite: CROSS JOIN keeps the order written (the child by its
        # ID number, then its record by the key); a JOIN was planned as a scan of the round (15 s a million rows)
        records = ("""SELECT u.rid, (SELECT CAST(r.line AS VARCHAR(12)) || ':' || r.row_hash FROM survey_record r
                                     WHERE r.round_id = :round AND r.import_id = :import
                                       AND r.child_id = (SELECT c.id FROM child c WHERE c.resident_id = u.rid))
                      FROM unnest(CAST(:ids AS VARCHAR[])) AS u(rid)"""
                   if self.pg else
                   """SELECT c.resident_id, CAST(r.line AS VARCHAR(12)) || ':' || r.row_hash
                      FROM child c CROSS JOIN survey_record r
                      WHERE c.resident_id IN :ids AND r.round_id = :round AND r.child_id = c.id
                        AND r.import_id = :import""")
        self.sql_earlier = sa.text(f"""{records}
            UNION ALL
            SELECT s.resident_id, CAST(s.line AS VARCHAR(12)) || ':' || s.row_hash FROM survey_seen s
            WHERE s.resident_id IN :ids2""")
        self.sql_earlier = self.sql_earlier.bindparams(sa.bindparam("ids2", expanding=True),
                                 *(() if self.pg else (sa.bindparam("ids", expanding=True),)))
        self.sql_seen = sa.text("""
            INSERT INTO survey_seen (resident_id, line, row_hash)
            SELECT k.resident_id, k.line, k.row_hash FROM survey_known k WHERE k.rec_hash = k.row_hash""")
        # the fast path: every row of the chunk is a child new to careflow and to the round (see _insert_all_new)
        self.sql_fast_children = sa.text(f"""
            INSERT INTO child (id, resident_id, {insert_cols}, created_at, created_by)
            SELECT {self.new_id("k")}, k.resident_id, {insert_vals}, :now, :actor
            FROM survey_chunk k""").bindparams(now_param)
        self.sql_fast_records = sa.text(f"""
            INSERT INTO survey_record (round_id, resident_id, child_id, import_id, {record_cols}, moved_from_county)
            SELECT :round, k.resident_id, {self.new_id("k")}, :import, {", ".join("k." + x.strip() for x in stage_cols.split(","))}, ''
            FROM survey_chunk k""")
        self.sql_fast_counts = sa.text("""
            SELECT COUNT(*), SUM(CASE WHEN k.is_migrant THEN 1 ELSE 0 END), SUM(CASE WHEN k.is_key_care THEN 1 ELSE 0 END)
            FROM survey_chunk k""")

    def new_id(self, table: str) -> str:
        """SQL for the id of the child of a row of ``table`` (an alias of ``survey_chunk``) if new to careflow."""
        return f"COALESCE({table}.child_id, {new_child_id_sql(self.conn, table + '.line')})"

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
                children = self.conn.execute(self.sql_fast_children, params).rowcount
                records = self.conn.execute(self.sql_fast_records, params).rowcount
        except sa.exc.IntegrityError as exc:
            if not _is_unique_violation(exc):
                raise
            self._fast_misses += 1
            self._timed("fast path missed", t)
            return False
        self._fast_misses = 0
        assert children == records == rows, (children, records, rows)
        count, migrant, key_care = self.conn.execute(self.sql_fast_counts).one()
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
        return True

    def _merge(self, params: dict) -> None:
        """The general path: annotate the chunk with what careflow holds, then insert and update set-based."""
        conn = self.conn
        self.merged_chunks += 1
        t = time.perf_counter()
        self._refresh_statistics()
        conn.execute(self.sql_known, params)
        if self.later:  # a child a later round has found is left as that round has them
            conn.exec_driver_sql("UPDATE survey_known SET child_changed = FALSE WHERE later")
        if self.pg and not self._analyzed:
            conn.exec_driver_sql("ANALYZE survey_known")
            self._analyzed = True
        t = self._timed("lookup", t)
        child_changed = record_changed = record_new = child_new = moved = 0
        for fate, count, migrant, key_care, c_changed, r_changed, r_new, c_new, c_moved, found_later in conn.execute(
                self.sql_fates):
            self.counts["found_later"] += int(found_later or 0)
            self.counts[fate] += count
            self.counts["migrant"] += int(migrant or 0)
            self.counts["key_care"] += int(key_care or 0)
            child_changed += int(c_changed or 0)
            record_changed += int(r_changed or 0)
            record_new += int(r_new or 0)
            child_new += int(c_new or 0)
            moved += int(c_moved or 0)
        moves = conn.execute(self.sql_moves).all() if moved else []
        self.moves.extend((m[0], m[1], m[2], m[3]) for m in moves)
        if self.collect_rows:
            moved_from = {m[3]: m[1] for m in moves if m[1] != self.county}
            self.outcomes.extend(
                RowOutcome(line, fate, mask_resident_id(rid),
                           note=f"moved from {moved_from[line]}" if line in moved_from else
                           "found by a later round: recorded for this round only" if later else "")
                for line, rid, fate, later in conn.execute(self.sql_row_fates))
        t = self._timed("fates", t)
        if child_new:
            inserted = conn.execute(self.sql_insert_children, params).rowcount
            if inserted != child_new:  # another county's import created some of them meanwhile
                conn.execute(self.sql_fix_new_ids)
            self._grew("child", inserted)
            t = self._timed("insert child", t)
        if record_new:
            self._grew("survey_record", conn.execute(self.sql_insert_records, params).rowcount)
            t = self._timed("insert survey_record", t)
        if record_changed:
            conn.execute(self.sql_update_records, params)
        if child_changed:
            conn.execute(self.sql_audit_updates, {**params, "reason": f"survey import {self.import_id} line ",
                                                  "detail": {"import_id": self.import_id}})
            conn.execute(self.sql_update_children, params)
        self._grew("survey_seen", conn.execute(self.sql_seen).rowcount)
        self._timed("updates", t)

    def _earlier_lines(self, resident_ids: list[str]) -> dict[str, tuple[int, str]]:
        """ID number → (line, row hash) of the earlier line of this file that holds it, for those that have one."""
        found: dict[str, tuple[int, str]] = {}
        for i in range(0, len(resident_ids), 400):
            batch = resident_ids[i:i + 400]
            for rid, where in self.conn.execute(
                    self.sql_earlier, {"round": self.round_id, "import": self.import_id, "ids": batch, "ids2": batch}):
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


class _NewFiles:
    """Key care files and their duties for the fast path's new children, opened chunk by chunk while the file is
    still being parsed (the database has time to spare then; at the end it would be waited for: 4-5 s a million
    rows). What it opened is skipped by the import's closing pass.

    Attributes:
        opened, duties: files opened and duties created; ``file_ids`` those files (a few percent of the rows);
        unrouted: area → duties not created (no unit covers the area).
    """

    def __init__(self, session: Session, survey_round: SurveyRound, import_id: int, *, today: datetime.date,
                 now: datetime.datetime, actor: str) -> None:
        self.session, self.round, self.today, self.now, self.actor = session, survey_round, today, now, actor
        self.import_id = import_id
        self.units = UnitCache(session)
        self.opened = self.duties = 0
        self.file_ids: set[int] = set()
        self.unrouted: dict[str, int] = {}
        conn = session.connection()
        now_param = sa.bindparam("now", type_=UTCDateTime())
        self.sql_open = sa.text(f"""
            INSERT INTO key_care_file (child_id, county_code, area_code, criteria, status, opened_on, opened_round_id,
                                       close_reason, department_data, updated_at)
            SELECT COALESCE(k.child_id, {new_child_id_sql(conn, "k.line")}), k.residence, k.area,
                   {json_sql(conn, "k.criteria_json")}, 'active',
                   :today, :round, '', {json_sql(conn, "'{}'")}, :now
            FROM survey_chunk k WHERE k.is_key_care ORDER BY k.line
            RETURNING id""").bindparams(now_param, sa.bindparam("today", type_=sa.Date()))
        self.sql_audit = sa.text("""
            INSERT INTO audit_event (at, actor, action, entity_type, entity_id, reason, detail)
            SELECT :now, :actor, 'key_care_file.opened', 'key_care_file', CAST(f.id AS VARCHAR(64)), :reason, :detail
            FROM key_care_file f WHERE f.id >= :first AND f.id <= :last AND f.opened_round_id = :round""").bindparams(
            now_param, sa.bindparam("detail", type_=sa.JSON()))

    def audit_opened(self, first: int, last: int) -> None:
        """One ``key_care_file.opened`` audit event for each file this round opened with an id in first..last."""
        self.session.connection().execute(self.sql_audit, {
            "now": self.now, "actor": self.actor[:64], "reason": f"survey {self.round.label}", "first": first,
            "last": last, "round": self.round.id, "detail": {"import_id": self.import_id}})

    def open_for_chunk(self, id_prefix: str) -> None:
        """Open files for the key care targets of ``survey_chunk`` (children this chunk created, their ids made by
        :meth:`_Merger.new_id` with ``id_prefix``) and their duties."""
        conn = self.session.connection()
        ids = [row[0] for row in conn.execute(self.sql_open, {"today": self.today, "round": self.round.id,
                                                               "now": self.now, "id_prefix": id_prefix})]
        if not ids:
            return
        self.audit_opened(min(ids), max(ids))
        self.opened += len(ids)
        self.file_ids.update(ids)
        plan = ensure_duties(self.session, ids, today=self.today, now=self.now, actor=self.actor, units=self.units)
        self.duties += plan.created_count
        for area, count in plan.unrouted.items():
            self.unrouted[area] = self.unrouted.get(area, 0) + count


def new_child_id_prefix() -> str:
    """22 hex digits for the ids of the children an import creates: the time in milliseconds (48 bits), the UUID
    version 7, 12 random bits, the variant and 20 random bits; the line as 10 hex digits completes the UUID
    (:func:`new_child_id_sql`, :meth:`careflow.survey.validate.RowValidator.validate`)."""
    salt = secrets.randbits(34)
    return (f"{int(time.time() * 1000) & (2**48 - 1):012x}7{salt >> 22:03x}"
            f"{8 | (salt >> 20) & 3:x}{salt & 0xFFFFF:05x}")


def new_child_id_sql(conn: sa.Connection, line: str) -> str:
    """SQL for the id a child new to careflow gets from the line ``line`` of an import: the import's
    22-hex-digit prefix (parameter ``id_prefix``, see :class:`_Merger`) and the line as 10 hex digits — a UUID
    unique to (import, line) that grows with the line, so the ``child`` primary key index is appended to rather than
    split at random (measured: random UUIDs made inserting a million children 2.5 × as slow)."""
    if is_postgresql(conn):
        return f"CAST(:id_prefix || LPAD(TO_HEX({line}), 10, '0') AS UUID)"
    return f"(:id_prefix || printf('%010x', {line}))"


def _is_unique_violation(exc: sa.exc.IntegrityError) -> bool:
    code = getattr(exc.orig, "sqlstate", None)  # psycopg
    return code == "23505" if code else "UNIQUE constraint failed" in str(exc.orig)


# ---------------------------------------------------------------------------------------------------------------------
# The import
# ---------------------------------------------------------------------------------------------------------------------

Progress = Callable[[int, float], None]


def import_survey(
    path: str | Path,
    *,
    county: str,
    round_label: str,
    actor: str = "survey-import",
    database_url: str | None = None,
    today: datetime.date | None = None,
    now: datetime.datetime | None = None,
    progress: Progress | None = None,
    collect_rows: bool = False,
    chunk_rows: int = CHUNK_ROWS,
    workers: int | None = None,
) -> ImportReport:
    """Import one survey file (CSV or XLSX) of ``county`` into round ``round_label`` (module docstring).

    Args:
        path: the file as the county sent it.
        county: the county's GB/T 2260 code or name (e.g. ``350302`` or ``城厢区``); rows must live there.
        round_label: ``2026-10`` (April or October, from 2025; :class:`models.survey.RoundLabel`).
        actor: who imports (audited).
        database_url: default the settings' database.
        today, now: the date and time of the import (default: now; Asia/Shanghai for the date) — ID birth dates
            must not be after ``today``, files open and duties start on ``today``.
        progress: called after each chunk with (data rows read so far, fraction of the file read 0.0–1.0).
        collect_rows: also return every line's :class:`RowOutcome` (for small files: it is one object a line).
        chunk_rows: rows per chunk (memory ~ 2 chunks).
        workers: how many child processes parse the file while this one writes (:mod:`careflow.survey.parsing`);
            0 parses here; default: two for a file of 4 MB or more.

    Returns:
        an :class:`ImportReport`.

    Raises:
        SurveyFileError: the file as a whole is not a survey (no header, required columns missing, unreadable);
            nothing is imported. ValueError: an unknown county, a bad round label or a round not open yet (a round
            opens on the first day of the month before its own, when the reminder goes out), naming the field.
            FileNotFoundError: no such file. Database errors: the import is rolled back whole and recorded as
            ``failed``.
    """
    started = time.perf_counter()
    path = Path(path)
    now = now or utcnow()
    today = today or today_local(now)
    try:
        region = get_county(county)
    except ValueError as exc:
        raise ValueError(f"field 'county': {exc}") from None
    label = RoundLabel.parse(round_label)
    if (today.year, today.month) < (label.year, label.month - 1):  # a round is open from the month before its own
        raise ValueError(f"field 'round': round {label} has not begun (today is {today}, Asia/Shanghai): a survey is "
                         f"imported from {label.year}-{label.month - 1:02d}-01, when the round's reminder goes out")
    sha = _sha256(path) if path.is_file() else ""
    sheet = open_survey(path)  # raises SurveyFileError / FileNotFoundError before anything is written
    engine = get_engine(database_url)
    id_prefix = new_child_id_prefix()
    processes = parser_processes(path, workers)
    parsers = ParserProcesses(path, region.code, label.as_of, today, processes=processes, chunk_rows=chunk_rows,
                              copy_text=engine.dialect.name == "postgresql", id_prefix=id_prefix) if processes else None
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)  # the merging thread gets the GIL back soon after each database call
    try:
        with engine.connect() as conn:
            with conn.begin():
                if is_postgresql(conn):
                    # one survey import at a time, whatever the county: a later round committed while another
                    # county's earlier round is imported would escape that import's check (found_later_sql)
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": "survey-import"})
                session = Session(bind=conn, expire_on_commit=False)
                survey_round = get_or_create_round(session, region.code, label)
                record = SurveyImport(round_id=survey_round.id, file_name=path.name[:255], file_sha256=sha,
                                      file_format=sheet.format, actor=actor[:64], started_at=now)
                session.add(record)
                session.flush()
                report = _run(conn, session, sheet, record, survey_round, region, today, now, actor, progress,
                              collect_rows, chunk_rows, parsers, id_prefix)
                session.flush()
            report.seconds = time.perf_counter() - started
            return report
    except SurveyFileError as exc:
        _record_failure(engine, region.code, label, path, sha, sheet.format, actor, now, str(exc)[:500],
                        database_url)
        raise
    except BaseException as exc:
        _record_failure(engine, region.code, label, path, sha, sheet.format, actor, now, repr(exc)[:500],
                        database_url)
        raise
    finally:
        sys.setswitchinterval(switch)
        sheet.close()
        if parsers is not None:
            parsers.close()


def _record_failure(engine, county_code, label, path, sha, fmt, actor, now, error, database_url) -> None:
    """Keep a trace of a failed import (its own transaction; the import itself was rolled back)."""
    try:
        with Session(engine, expire_on_commit=False) as session:
            survey_round = get_or_create_round(session, county_code, label)
            failed = SurveyImport(round_id=survey_round.id, file_name=path.name[:255], file_sha256=sha,
                                  file_format=fmt, actor=actor[:64], started_at=now,
                                  status=ImportStatus.failed.value, finished_at=utcnow(), detail={"error": error})
            session.add(failed)
            session.flush()
            record_audit(session, actor=actor, action="survey.import_failed", entity_type="survey_import",
                         entity_id=failed.id, reason=error, detail={"round": str(label), "county": county_code})
            session.commit()
    except Exception:  # noqa: BLE001 - the original error matters more
        pass


def _run(conn, session, sheet, record, survey_round, region, today, now, actor, progress, collect_rows,
         chunk_rows, parsers, id_prefix) -> ImportReport:
    header = sheet.header
    later = any_later_round(session, survey_round.label)
    merger = _Merger(conn, import_id=record.id, round_id=survey_round.id, county=region.code,
                     present=set(header.columns), id_column=header.labels.get(header.columns["resident_id"], "身份证号"),
                     actor=actor, now=now, collect_rows=collect_rows, id_prefix=id_prefix,
                     files=_NewFiles(session, survey_round, record.id, today=today, now=now, actor=actor), later=later,
                     label=survey_round.label)
    counts = dict(read=0, blank=0, invalid=0, duplicate=0, inserted=0, updated=0, unchanged=0, migrant=0,
                  key_care=0, found_later=0)
    errors: list[RowIssue] = []
    notes: list[RowIssue] = []
    errors_total = 0
    if parsers is not None:
        sheet.close()
        chunks = parsers
    else:
        validator = RowValidator(header, region, survey_round.as_of, today=today, copy_lines=merger.pg,
                                 id_prefix=id_prefix)
        chunks = parse_chunks(sheet, validator, chunk_rows=chunk_rows)
    started = time.perf_counter()
    try:
        seen = SeenIds()
        for chunk in chunks:
            mark_suspects(chunk, seen)
            for name in ("read", "blank", "invalid"):
                counts[name] += getattr(chunk, name)
            errors_total += len(chunk.errors)
            if len(errors) < REPORT_ERRORS:
                errors.extend(chunk.errors[:REPORT_ERRORS - len(errors)])
            if len(notes) < REPORT_ERRORS:
                notes.extend(chunk.notes[:REPORT_ERRORS - len(notes)])
            merger.put(chunk)
            if progress:
                progress(counts["read"], chunk.progress * 0.9)
        merger.finish()
    except BaseException:
        merger.abort()
        raise
    timings = {"load+merge": time.perf_counter() - started, **{f"db {k}": v for k, v in merger.timings.items()}}
    started = time.perf_counter()
    for name in ("duplicate", "inserted", "updated", "unchanged", "migrant", "key_care", "found_later"):
        counts[name] += merger.counts[name]
    counts["invalid"] += merger.counts["conflict"]
    errors_total += merger.counts["conflict"]
    if merger.conflicts:
        errors = sorted(errors + merger.conflicts[:max(0, REPORT_ERRORS - len(errors))], key=lambda i: i.line)
    if progress:
        progress(counts["read"], 0.9)

    # consequences, per child
    from careflow.survey.transfer import close_cases_aged_out, relocate_child
    from models.eligibility import aged_16_from

    session.expire_all()
    # every row took the fast path: children new to careflow, whose files and duties came with their chunk — no
    # case to close, no file to change (the queries below would only scan the round to find nothing)
    all_new = merger.merged_chunks == 0
    relocations = []
    for child_id, old_county, old_area, _line in merger.moves:
        child = session.get(Child, child_id)
        relocations.append(relocate_child(session, child, from_county=old_county, from_area=old_area,
                                          round_label=survey_round.label, actor=actor, now=now))
    timings["relocations"] = time.perf_counter() - started
    closed_cases: list[str] = []
    aged = [] if all_new else conn.execute(sa.text(f"""
        SELECT DISTINCT c.id FROM "case" k CROSS JOIN child c CROSS JOIN survey_record r
        WHERE k.status = 'open' AND c.id = k.child_id AND r.round_id = :round AND r.child_id = c.id
          AND r.not_migrant_reasons LIKE '%aged_out%' AND {IN_FILE}
          AND NOT {found_later_sql("c", later)}""").columns(sa.column("child_id", sa.Uuid)),
        {"round": survey_round.id, "import": record.id, "label": survey_round.label}).all()
    for (child_id,) in aged:
        child = session.get(Child, child_id)
        closed_cases += close_cases_aged_out(session, child, turned_16_on=aged_16_from(child.birth_date), actor=actor,
                                             now=now)

    timings["aged out"] = time.perf_counter() - started - timings["relocations"]
    mark = time.perf_counter()
    files = dict(opened=0, reopened=0, updated=0, closed=0)
    duties = dict(created=0, cancelled=0)
    changed_files = [] if all_new else conn.execute(sa.text(f"""
        SELECT f.id, f.status, r.is_key_care, r.key_care_criteria, r.not_migrant_reasons
        FROM key_care_file f CROSS JOIN child c CROSS JOIN survey_record r
        WHERE f.county_code = :county AND c.id = f.child_id AND r.round_id = :round AND r.child_id = c.id
          AND {IN_FILE} AND NOT {found_later_sql("c", later)}
          AND ((f.status = 'active' AND NOT r.is_key_care) OR (f.status <> 'active' AND r.is_key_care)
           OR (r.is_key_care AND CAST(f.criteria AS TEXT) <> CAST(c.key_care_criteria AS TEXT)))"""),
        {"round": survey_round.id, "county": region.code, "import": record.id, "label": survey_round.label}).all()
    closing: dict[int, str] = {}  # file id → why it closes (all closed at once below)
    for file_id, status, is_key_care, criteria_text, reasons in changed_files:
        criteria = sorted(c for c in criteria_text.split(",") if c)
        if status == FileStatus.active.value and not is_key_care:
            closing[file_id] = _not_key_care_reason(criteria, reasons, survey_round.label)
            continue
        file = session.get(KeyCareFile, file_id)
        why = f"survey {survey_round.label}"
        if file.status != FileStatus.active.value and is_key_care:
            reopen_file(session, file, criteria, today=today, actor=actor, now=now, reason=why)
            file.opened_round_id = survey_round.id
            files["reopened"] += 1
        else:
            file.criteria, file.updated_at = criteria, now
            session.add(file)
            record_audit(session, actor=actor, action="key_care_file.updated", entity_type="key_care_file",
                         entity_id=file.id, reason=why, detail={"criteria": criteria})
            files["updated"] += 1
    duties["cancelled"] += close_files(session, closing, today=today, actor=actor, now=now)
    files["closed"] += len(closing)
    now_param = sa.bindparam("now", type_=UTCDateTime())
    opened_here = 0
    if not all_new:
        files_before = conn.execute(sa.text("SELECT COALESCE(MAX(id), 0) FROM key_care_file")).scalar_one()
        opened = conn.execute(sa.text(f"""
            INSERT INTO key_care_file (child_id, county_code, area_code, criteria, status, opened_on, opened_round_id,
                                       close_reason, department_data, updated_at)
            SELECT c.id, c.residence_county_code, c.residence_area_code, c.key_care_criteria, 'active',
                   :today, :round, '', {json_sql(conn, "'{}'")}, :now
            FROM survey_record r CROSS JOIN child c
            WHERE r.round_id = :round AND r.is_key_care AND {IN_FILE}
              AND c.id = r.child_id AND NOT EXISTS (SELECT 1 FROM key_care_file f WHERE f.child_id = c.id)
              AND NOT {found_later_sql("c", later)}
            ORDER BY r.line""").bindparams(now_param, sa.bindparam("today", type_=sa.Date())),
            {"today": today, "round": survey_round.id, "now": now, "import": record.id, "label": survey_round.label})
        opened_here = max(opened.rowcount or 0, 0)
        if opened_here:
            merger.files.audit_opened(files_before + 1, 2**62)
    files["opened"] = opened_here + merger.files.opened
    active_ids = [] if all_new else [row[0] for row in conn.execute(sa.text(f"""
        SELECT f.id FROM key_care_file f CROSS JOIN child c CROSS JOIN survey_record r
        WHERE f.county_code = :county AND f.status = 'active' AND c.id = f.child_id AND r.round_id = :round
          AND r.child_id = c.id AND {IN_FILE} ORDER BY f.id"""),
        {"county": region.code, "round": survey_round.id, "import": record.id})]
    timings["files"] = time.perf_counter() - mark
    mark = time.perf_counter()
    done = merger.files.file_ids
    plan = ensure_duties(session, [f for f in active_ids if f not in done], today=today, now=now, actor=actor,
                         units=merger.files.units)
    timings["duties"] = time.perf_counter() - mark
    duties["created"] = plan.created_count + merger.files.duties
    for area, count in merger.files.unrouted.items():
        plan.unrouted[area] = plan.unrouted.get(area, 0) + count
    if counts["inserted"] + counts["updated"] + counts["unchanged"]:  # a file with no valid row does not do it
        _complete_round_duty(session, region.code, survey_round.label, record.id, actor, now)
    if progress:
        progress(counts["read"], 0.98)
    timings["consequences"] = time.perf_counter() - started

    # the import's own record
    record.status = ImportStatus.completed.value
    record.finished_at = utcnow()
    for name in ("read", "blank", "invalid", "duplicate", "inserted", "updated", "unchanged"):
        setattr(record, f"rows_{name}", counts[name])
    record.detail = {
        "columns": {f: header.labels.get(j, "") for f, j in header.columns.items()},
        "ignored_columns": header.ignored, "duplicate_columns": header.duplicates,
        "encoding": sheet.encoding, "migrant": counts["migrant"], "key_care": counts["key_care"],
        "found_later": counts["found_later"],
        "errors_total": errors_total, "notes": len(notes), "files": files, "duties": duties,
        "unrouted": plan.unrouted, "moves": len([r for r in relocations if r.county_changed]),
        "relocations": len(relocations), "cases_closed_aged_out": closed_cases,
    }
    session.add(record)
    record_audit(session, actor=actor, action="survey.imported", entity_type="survey_import", entity_id=record.id,
                 reason=f"{region.code} {survey_round.label} {record.file_name}",
                 detail={"sha256": record.file_sha256, **counts})
    session.flush()
    outcomes: list[RowOutcome] | None = None
    if collect_rows:
        by_line: dict[int, list[RowIssue]] = {}
        for issue in session.exec(select(SurveyRowError).where(SurveyRowError.import_id == record.id)
                                  .order_by(SurveyRowError.line, SurveyRowError.id)).all():
            by_line.setdefault(issue.line, []).append(
                RowIssue(issue.line, issue.field, issue.column, issue.value, issue.code, issue.message))
        outcomes = [o for o in merger.outcomes if o.line not in by_line]
        outcomes += [RowOutcome(line, "invalid", issues=issues) for line, issues in by_line.items()]
        outcomes.sort(key=lambda o: o.line)
    if progress:
        progress(counts["read"], 1.0)
    for table in TEMP_TABLES:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
    session.close()
    return ImportReport(
        import_id=record.id, round_id=survey_round.id, county_code=region.code, round_label=survey_round.label,
        file_name=record.file_name, file_format=sheet.format, file_sha256=record.file_sha256, counts=counts,
        errors=errors, errors_total=errors_total, notes=notes,
        columns={f: header.labels.get(j, "") for f, j in header.columns.items()}, ignored_columns=header.ignored,
        relocations=relocations, files=files, duties=duties, unrouted=plan.unrouted,
        cases_closed_aged_out=closed_cases, rows=outcomes, timings=timings,
    )


def _not_key_care_reason(criteria: list[str], reasons: str, label: str) -> str:
    failed = [r for r in reasons.split(",") if r]
    if "aged_out" in failed:
        return f"{label} 轮摸排：年满十六周岁，不再属于流动儿童 / aged out at 16"
    if failed:
        return f"{label} 轮摸排：不再符合流动儿童认定（{', '.join(failed)}） / no longer a migrant child"
    if not criteria:
        return f"{label} 轮摸排：不再存在重点关爱情形 / no key care criterion any more"
    return f"{label} 轮摸排：不再是重点关爱服务对象 / no longer a key care target"


def _complete_round_duty(session: Session, county_code: str, label: str, import_id: int, actor: str,
                         now: datetime.datetime) -> None:
    """Complete the county's round duty (``survey:<county>:<label>``, see :mod:`careflow.survey.scheduled`)."""
    from careflow.survey.scheduled import round_duty_key
    from models.task import AgencyTask, TaskState

    task = session.exec(select(AgencyTask).where(AgencyTask.duty_key == round_duty_key(county_code, label))).first()
    if task is None or not TaskState(task.state).is_open:
        return
    task.state, task.answered_at, task.answered_by = TaskState.completed, now, actor[:64]
    task.acknowledged_at = task.acknowledged_at or now
    task.outcome = {"import_id": import_id}
    session.add(task)
    record_audit(session, actor=actor, action="task.completed", entity_type="task", entity_id=task.id,
                 reason=f"survey {label} imported", detail={"import_id": import_id, "duty_key": task.duty_key})


def criterion_labels(codes: list[str] | tuple[str, ...]) -> str:
    """``家庭生活困难、自身残疾`` for stored codes."""
    return "、".join(KeyCareCriterion(code).zh for code in codes)

