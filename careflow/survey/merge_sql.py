"""The SQL of the survey import's per-chunk merge (:mod:`careflow.survey.merge`): the temporary tables a chunk
passes through (``survey_chunk``, ``survey_known``, ``survey_seen``), the statements that annotate, count, insert and
update a chunk set-based (:class:`MergeStatements`), and the ids of the children an import creates.
"""
from __future__ import annotations

import os
import secrets
import time

import sqlalchemy as sa
from sqlmodel import Session, select

from careflow.survey.bulk import is_postgresql, json_sql, uuid_text_sql
from models.base import UTCDateTime
from models.survey import SurveyRound

#: The chunk table's columns, in :class:`~careflow.survey.validate.ValidRow` order.
STAGE_COLUMNS = ("line", "resident_id", "full_name", "sex", "birth_date", "hukou", "residence", "area", "address",
                 "arrival", "criteria", "g_name", "g_relation", "g_phone", "criteria_json", "is_migrant", "reasons",
                 "is_key_care", "row_hash")
TEMP_TABLES = ("survey_chunk", "survey_known", "survey_seen")
#: SQL: the round record ``r`` is of a line of the file being imported (written by this import, or left as it was).
IN_FILE = "(r.import_id = :import OR EXISTS (SELECT 1 FROM survey_seen s WHERE s.resident_id = r.resident_id))"
ERROR_COLUMNS = ("import_id", "line", "field", "column", "value", "code", "message")



def same_id(conn: sa.Connection, child_column: str, other: str) -> str:
    """SQL: the ID number in ``child_column`` (``child``'s) is the one in ``other``, written so that the ID's unique
    index serves it (:class:`models.child.resident_id_is`: on PostgreSQL the index is on the reversed ID)."""
    if is_postgresql(conn):
        return f"reverse({child_column}) = reverse({other})"
    return f"{child_column} = {other}"


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


def create_stage_tables(conn: sa.Connection) -> None:
    """(Re)create the import's temporary tables (dropped at commit on PostgreSQL) and set the transaction's planner
    settings for statements that each touch one chunk."""
    pg = is_postgresql(conn)
    if pg:
        try:  # temporary tables live in local buffers: 8 MB by default (only settable before the first use)
            with conn.begin_nested():
                conn.exec_driver_sql("SET temp_buffers = '128MB'")
        except sa.exc.DBAPIError:
            pass
    on_commit = " ON COMMIT DROP" if pg else ""
    for table in TEMP_TABLES:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
    uuid_type = "UUID" if pg else "CHAR(32)"
    conn.exec_driver_sql(_STAGE_DDL.format(table="survey_chunk", key="", extra=f", child_id {uuid_type}",
                                           on_commit=on_commit))
    conn.exec_driver_sql(_STAGE_DDL.format(
        table="survey_known", key="", on_commit=on_commit,
        extra=f", child_id {uuid_type} NOT NULL, is_new BOOLEAN NOT NULL, old_county VARCHAR(6), "
              "old_area VARCHAR(12), child_changed BOOLEAN NOT NULL, rec_hash VARCHAR(16), later BOOLEAN NOT NULL"))
    # the file's rows whose round record this import leaves as it was (a re-import): see in_file_sql()
    conn.exec_driver_sql("CREATE TEMPORARY TABLE survey_seen (resident_id VARCHAR(18) PRIMARY KEY, "
                         f"line INTEGER NOT NULL, row_hash VARCHAR(16) NOT NULL){on_commit}")
    if pg and os.environ.get("CAREFLOW_SURVEY_EXPLAIN"):  # log slow statements' plans (benchmarks)
        conn.exec_driver_sql("LOAD 'auto_explain'")
        conn.exec_driver_sql("SET auto_explain.log_min_duration = 30")
        conn.exec_driver_sql("SET auto_explain.log_analyze = on")
    if pg:
        # a chunk is small and joins big indexed tables whose statistics lag behind the import
        conn.exec_driver_sql("SET LOCAL enable_hashjoin = off")
        conn.exec_driver_sql("SET LOCAL enable_mergejoin = off")
        # each statement touches one chunk: compiling it (20-30 ms) costs more than it saves
        conn.exec_driver_sql("SET LOCAL jit = off")


#: The round record's columns an import writes, and the chunk's columns they come from (same order).
_RECORD_COLUMNS = ("line, full_name, sex, birth_date, hukou_county_code, residence_county_code, "
                   "residence_area_code, residence_address, arrival_date, key_care_criteria, guardian_name, "
                   "guardian_relation, guardian_phone, is_migrant, not_migrant_reasons, is_key_care, row_hash")
_RECORD_SOURCES = ("line, full_name, sex, birth_date, hukou, residence, area, address, arrival, criteria, g_name, "
                   "g_relation, g_phone, is_migrant, reasons, is_key_care, row_hash")
#: SQL: the fate of a row of ``survey_known k`` (see :class:`careflow.survey.merge.Merger`).
_FATE = """
            CASE WHEN k.is_new THEN 'inserted'
                 WHEN k.child_changed OR (k.rec_hash IS NOT NULL AND k.rec_hash <> k.row_hash) THEN 'updated'
                 ELSE 'unchanged' END"""


class MergeStatements:
    """The merge's statements for one import: which child columns the file has (``present``, careflow field names)
    decides what a known child's update writes; ``later``: whether a later round exists (:func:`found_later_sql`).
    Attributes ``sql_*`` are :func:`sqlalchemy.text` statements with the parameters ``round``, ``import``, ``now``,
    ``actor``, ``id_prefix``, ``label``; they are made in the order a chunk meets them (:meth:`_annotate`,
    :meth:`_count_fates`, :meth:`_write_children`, :meth:`_write_records`, :meth:`_settle_duplicates`), and the
    fast path's apart (:meth:`_fast_path`).
    """

    def __init__(self, conn: sa.Connection, present: set[str], *, later: bool) -> None:
        self.conn, self.pg, self.later = conn, is_postgresql(conn), later
        child_cols = [(c, st) for c, st, needs in _CHILD_FIELDS if needs is None or needs in present]
        self._annotate(child_cols)
        self._count_fates(present)
        self._write_children(present, child_cols)
        self._write_records()
        self._settle_duplicates()
        self._fast_path(present)

    def _annotate(self, child_cols: list[tuple[str, str]]) -> None:
        """``sql_known``: each row of the chunk with what careflow holds — the child's id (a new one for a child new
        to careflow), old residence, whether the child's stored data changes (``child_cols``: child column, chunk
        column), the hash of the child's record in this round, and whether a later round found the child."""
        differs = " OR ".join(
            ("CAST(child.key_care_criteria AS TEXT) <> s.criteria_json" if c == "key_care_criteria"
             else f"child.{c} <> s.{st}") for c, st in child_cols)
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
            LEFT JOIN child ON {same_id(self.conn, "child.resident_id", "s.resident_id")}""")
        # (the round's record by a subquery, not a join: while a new round fills up PostgreSQL's statistics know
        # none of its rows, and a join was planned as one scan of the whole round per line of the chunk — measured:
        # 100,000 rows of a second round took 250 s)

    def _count_fates(self, present: set[str]) -> None:
        """``sql_fates``: the chunk's rows counted by fate (and migrant, key care, changed, moved, found later…);
        ``sql_row_fates``: each line's fate; ``sql_moves``: the known children whose residence (county, or area
        when the file has the area column) changed, found by no later round."""
        area_differs = "k.old_area <> k.area" if "residence_area_code" in present else "1 = 0"
        moved = f"(NOT k.is_new AND NOT k.later AND (k.old_county <> k.residence OR {area_differs}))"
        self.sql_fates = sa.text(f"""
            SELECT {_FATE} AS fate, COUNT(*), SUM(CASE WHEN k.is_migrant THEN 1 ELSE 0 END),
                   SUM(CASE WHEN k.is_key_care THEN 1 ELSE 0 END),
                   SUM(CASE WHEN k.child_changed THEN 1 ELSE 0 END),
                   SUM(CASE WHEN k.rec_hash IS NOT NULL AND k.rec_hash <> k.row_hash THEN 1 ELSE 0 END),
                   SUM(CASE WHEN k.rec_hash IS NULL THEN 1 ELSE 0 END),
                   SUM(CASE WHEN k.is_new THEN 1 ELSE 0 END),
                   SUM(CASE WHEN {moved} THEN 1 ELSE 0 END),
                   SUM(CASE WHEN k.later THEN 1 ELSE 0 END)
            FROM survey_known k GROUP BY 1""")
        self.sql_row_fates = sa.text(
            f"SELECT k.line, k.resident_id, {_FATE}, k.later FROM survey_known k ORDER BY k.line")
        self.sql_moves = sa.text(f"""
            SELECT k.child_id, k.old_county, k.old_area, k.line FROM survey_known k WHERE {moved} ORDER BY k.line
            """).columns(sa.column("child_id", sa.Uuid), sa.column("old_county", sa.String),
                         sa.column("old_area", sa.String), sa.column("line", sa.Integer))

    def _child_values(self, present: set[str]) -> str:
        """SQL: the values of :data:`_CHILD_FIELDS` for a new child from the chunk row ``k`` ('' for a field the file
        has no column for)."""
        return ", ".join(
            json_sql(self.conn, "k.criteria_json") if c == "key_care_criteria"
            else f"k.{st}" if needs is None or needs in present else "''"
            for c, st, needs in _CHILD_FIELDS)

    def _write_children(self, present: set[str], child_cols: list[tuple[str, str]]) -> None:
        """``sql_insert_children``: the children new to careflow (one a concurrent writer inserted first is left to
        it, and ``sql_fix_new_ids`` takes its id); ``sql_update_children``: the known children whose data changed
        (only ``child_cols``), each audited ``child.survey_updated`` by ``sql_audit_updates``."""
        insert_cols = ", ".join(c for c, _, _ in _CHILD_FIELDS)
        self.sql_insert_children = sa.text(f"""
            INSERT INTO child (id, resident_id, {insert_cols}, created_at, created_by)
            SELECT k.child_id, k.resident_id, {self._child_values(present)}, :now, :actor
            FROM survey_known k WHERE k.is_new
            ON CONFLICT ({"(reverse(resident_id))" if self.pg else "resident_id"}) DO NOTHING
            """).bindparams(_now_param())
        self.sql_fix_new_ids = sa.text(f"""
            UPDATE survey_known SET child_id = child.id FROM child
            WHERE survey_known.is_new AND {same_id(self.conn, "child.resident_id", "survey_known.resident_id")}
              AND child.id <> survey_known.child_id""")
        self.sql_audit_updates = sa.text(f"""
            INSERT INTO audit_event (at, actor, action, entity_type, entity_id, reason, detail)
            SELECT :now, :actor, 'child.survey_updated', 'child', {uuid_text_sql(self.conn, "k.child_id")},
                   :reason || CAST(k.line AS VARCHAR(12)), :detail
            FROM survey_known k WHERE k.child_changed""").bindparams(_now_param(),
                                                                     sa.bindparam("detail", type_=sa.JSON()))
        child_sets = ", ".join((f"{c} = {json_sql(self.conn, 'k.criteria_json')}" if c == "key_care_criteria"
                                else f"{c} = k.{st}") for c, st in child_cols)
        self.sql_update_children = sa.text(f"""
            UPDATE child SET {child_sets} FROM survey_known k
            WHERE k.child_changed AND child.id = k.child_id""")

    def _write_records(self) -> None:
        """``sql_insert_records``: this round's record of each row that has none (naming the county the child
        moved from); ``sql_update_records``: the records whose row changed."""
        self.sql_insert_records = sa.text(f"""
            INSERT INTO survey_record (round_id, resident_id, child_id, import_id, {_RECORD_COLUMNS}, moved_from_county)
            SELECT :round, k.resident_id, k.child_id, :import, {_record_values()},
                   CASE WHEN NOT k.is_new AND NOT k.later AND k.old_county <> k.residence THEN k.old_county
                        ELSE '' END
            FROM survey_known k WHERE k.rec_hash IS NULL""")
        sets = ", ".join(f"{r.strip()} = k.{st.strip()}" for r, st in zip(_RECORD_COLUMNS.split(","),
                                                                           _RECORD_SOURCES.split(",")))
        self.sql_update_records = sa.text(f"""
            UPDATE survey_record SET import_id = :import, {sets}
            FROM survey_known k
            WHERE k.rec_hash IS NOT NULL AND k.rec_hash <> k.row_hash
              AND survey_record.round_id = :round AND survey_record.child_id = k.child_id""")

    def _settle_duplicates(self) -> None:
        """``sql_earlier``: line and row hash of the earlier line of the file of each ID number of ``ids`` (a
        record this import wrote, or a row of ``survey_seen``); ``sql_seen``: the chunk's rows whose record this
        import leaves as it was, into ``survey_seen``."""
        # PostgreSQL: one index probe per ID number, whatever the statistics think of the round — a subquery, not a
        # join: a join (even LATERAL) on a round that is filling up was planned as a scan of the whole round
        # per ID number (8 s a chunk at a million rows). SQLite: CROSS JOIN keeps the order written (the child by its
        # ID number, then its record by the key); a JOIN was planned as a scan of the round (15 s a million rows)
        records = ("""SELECT u.rid, (SELECT CAST(r.line AS VARCHAR(12)) || ':' || r.row_hash FROM survey_record r
                                     WHERE r.round_id = :round AND r.import_id = :import
                                       AND r.child_id = (SELECT c.id FROM child c
                                                         WHERE reverse(c.resident_id) = reverse(u.rid)))
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

    def _fast_path(self, present: set[str]) -> None:
        """The fast path (every row of the chunk a child new to careflow and to the round, see
        :meth:`careflow.survey.merge.Merger._insert_all_new`): ``sql_fast_children`` and ``sql_fast_records``
        insert them straight from ``survey_chunk``, ``sql_fast_counts`` counts them (rows, migrant, key care)."""
        insert_cols = ", ".join(c for c, _, _ in _CHILD_FIELDS)
        self.sql_fast_children = sa.text(f"""
            INSERT INTO child (id, resident_id, {insert_cols}, created_at, created_by)
            SELECT {self.new_id("k")}, k.resident_id, {self._child_values(present)}, :now, :actor
            FROM survey_chunk k""").bindparams(_now_param())
        self.sql_fast_records = sa.text(f"""
            INSERT INTO survey_record (round_id, resident_id, child_id, import_id, {_RECORD_COLUMNS}, moved_from_county)
            SELECT :round, k.resident_id, {self.new_id("k")}, :import, {_record_values()}, ''
            FROM survey_chunk k""")
        self.sql_fast_counts = sa.text("""
            SELECT COUNT(*), SUM(CASE WHEN k.is_migrant THEN 1 ELSE 0 END), SUM(CASE WHEN k.is_key_care THEN 1 ELSE 0 END)
            FROM survey_chunk k""")

    def new_id(self, table: str) -> str:
        """SQL for the id of the child of a row of ``table`` (an alias of ``survey_chunk``) if new to careflow."""
        return f"COALESCE({table}.child_id, {new_child_id_sql(self.conn, table + '.line')})"


def _now_param() -> sa.BindParameter:
    """The ``now`` parameter of a statement: a UTC timestamp as careflow stores it."""
    return sa.bindparam("now", type_=UTCDateTime())


def _record_values() -> str:
    """SQL: the chunk row ``k``'s values of :data:`_RECORD_COLUMNS`."""
    return ", ".join("k." + x.strip() for x in _RECORD_SOURCES.split(","))


def new_child_id_prefix() -> str:
    """22 hex digits for the ids of the children an import creates: the time in milliseconds (48 bits), the UUID
    version 7, 12 random bits, the variant and 20 random bits; the line as 10 hex digits completes the UUID
    (:func:`new_child_id_sql`, :meth:`careflow.survey.validate.RowValidator.validate`)."""
    salt = secrets.randbits(34)
    return (f"{int(time.time() * 1000) & (2**48 - 1):012x}7{salt >> 22:03x}"
            f"{8 | (salt >> 20) & 3:x}{salt & 0xFFFFF:05x}")


def new_child_id_sql(conn: sa.Connection, line: str) -> str:
    """SQL for the id a child new to careflow gets from the line ``line`` of an import: the import's
    22-hex-digit prefix (parameter ``id_prefix``, see :class:`careflow.survey.merge.Merger`) and the line as 10 hex digits — a UUID
    unique to (import, line) that grows with the line, so the ``child`` primary key index is appended to rather than
    split at random (measured: random UUIDs made inserting a million children 2.5 × as slow)."""
    if is_postgresql(conn):
        return f"CAST(:id_prefix || LPAD(TO_HEX({line}), 10, '0') AS UUID)"
    return f"(:id_prefix || printf('%010x', {line}))"


def is_unique_violation(exc: sa.exc.IntegrityError) -> bool:
    code = getattr(exc.orig, "sqlstate", None)  # psycopg
    return code == "23505" if code else "UNIQUE constraint failed" in str(exc.orig)
