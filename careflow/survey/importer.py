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
2. Each chunk is merged while the next one is parsed (:class:`careflow.survey.merge.Merger`; a background thread on
   PostgreSQL; its statements:
   :mod:`careflow.survey.merge_sql`), in
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
   (:func:`careflow.survey.duties.ensure_duties`); all in :mod:`careflow.survey.round_consequences`.

Children written by an import are audited through the import (``survey.imported``, naming the round, the file's
SHA-256 and the counts; each :class:`~models.survey.SurveyRecord` names its import and line); updates, moves, files
and duties are audited one by one.
"""
from __future__ import annotations

import datetime
import hashlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select

from core.audit import record_audit
from core.db import get_engine
from careflow.survey.bulk import is_postgresql
from careflow.survey.duty_calendar import today_local
from careflow.survey.import_report import REPORT_ERRORS, ImportReport, RowOutcome
from careflow.survey.merge import Merger
from careflow.survey.merge_sql import TEMP_TABLES, any_later_round, new_child_id_prefix
from careflow.survey.parsing import (
    CHUNK_ROWS,
    ParserProcesses,
    SeenIds,
    mark_suspects,
    parse_chunks,
    parser_processes,
)
from careflow.survey.reader import SurveyFileError, open_survey
from careflow.survey.round_consequences import NewFiles, apply_consequences
from careflow.survey.validate import RowIssue, RowValidator
from models.base import utcnow
from models.errors import FieldValueError
from models.regions import Region, get_county
from models.survey import ImportStatus, RoundLabel, SurveyImport, SurveyRound, SurveyRowError

__all__ = ["ImportReport", "RowOutcome", "SurveyFileError", "get_or_create_round", "import_survey"]


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


Progress = Callable[[int, float], None]


def import_survey(path: str | Path, *, county: str, round_label: str, actor: str = "survey-import",
                  database_url: str | None = None, today: datetime.date | None = None,
                  now: datetime.datetime | None = None, progress: Progress | None = None, collect_rows: bool = False,
                  chunk_rows: int = CHUNK_ROWS, workers: int | None = None) -> ImportReport:
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
    region, label = _county_and_open_round(county, round_label, today)
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
                session, survey_round, record = _begin(conn, region, label, path, sha, sheet.format, actor, now)
                report = _run(_Import(conn, session, sheet, record, survey_round, region, today, now, actor,
                                      progress, collect_rows, chunk_rows, parsers, id_prefix))
                session.flush()
            report.seconds = time.perf_counter() - started
            return report
    except BaseException as exc:
        error = str(exc) if isinstance(exc, SurveyFileError) else repr(exc)
        _record_failure(engine, region.code, label, path, sha, sheet.format, actor, now, error[:500], database_url)
        raise
    finally:
        sys.setswitchinterval(switch)
        sheet.close()
        if parsers is not None:
            parsers.close()


def _county_and_open_round(county: str, round_label: str, today: datetime.date) -> tuple[Region, RoundLabel]:
    """The importing county and the round, which must have begun by ``today`` (a round is open from the month
    before its own, when the round's reminder goes out).

    Raises:
        ValueError: an unknown county (field ``county``), a bad label or a round not open yet (field ``round``).
    """
    region = get_county(county)  # UnknownRegion: field 'county', worded in the reader's language
    label = RoundLabel.parse(round_label)
    if (today.year, today.month) < (label.year, label.month - 1):  # a round is open from the month before its own
        raise FieldValueError("round", "problem.round_not_begun", round=label, today=today,
                              opens=f"{label.year}-{label.month - 1:02d}-01")
    return region, label


def _begin(conn: sa.Connection, region: Region, label: RoundLabel, path: Path, sha: str, fmt: str, actor: str,
           now: datetime.datetime) -> tuple[Session, SurveyRound, SurveyImport]:
    """In the import's transaction: the lock that lets one survey import run at a time (PostgreSQL), the
    transaction's session, the round (created on first use) and the import's own record (``running``)."""
    if is_postgresql(conn):
        # one survey import at a time, whatever the county: a later round committed while another
        # county's earlier round is imported would escape that import's check (found_later_sql)
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": "survey-import"})
    session = Session(bind=conn, expire_on_commit=False)
    survey_round = get_or_create_round(session, region.code, label)
    record = SurveyImport(round_id=survey_round.id, file_name=path.name[:255], file_sha256=sha, file_format=fmt,
                          actor=actor[:64], started_at=now)
    session.add(record)
    session.flush()
    return session, survey_round, record


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


@dataclass
class _Import:
    """One import under way: the transaction's connection and session, the file, its records, and the options of
    :func:`import_survey`."""

    conn: sa.Connection
    session: Session
    sheet: object  # careflow.survey.reader's open sheet
    record: SurveyImport
    survey_round: SurveyRound
    region: Region
    today: datetime.date
    now: datetime.datetime
    actor: str
    progress: Progress | None
    collect_rows: bool
    chunk_rows: int
    parsers: ParserProcesses | None
    id_prefix: str


@dataclass
class _Streamed:
    """What streaming the file through the merge counted: the report's counts, row problems and notes."""

    counts: dict[str, int]
    errors: list[RowIssue]
    notes: list[RowIssue]
    errors_total: int


def _run(imp: _Import) -> ImportReport:
    """Stream the file through the merge, draw the round's consequences, complete the import's record."""
    header, survey_round = imp.sheet.header, imp.survey_round
    later = any_later_round(imp.session, survey_round.label)
    merger = Merger(imp.conn, import_id=imp.record.id, round_id=survey_round.id, county=imp.region.code,
                    present=set(header.columns), id_column=header.labels.get(header.columns["resident_id"], "身份证号"),
                    actor=imp.actor, now=imp.now, collect_rows=imp.collect_rows, id_prefix=imp.id_prefix,
                    files=NewFiles(imp.session, survey_round, imp.record.id, today=imp.today, now=imp.now,
                                   actor=imp.actor), later=later, label=survey_round.label)
    started = time.perf_counter()
    streamed = _stream(imp, merger)
    timings = {"load+merge": time.perf_counter() - started, **{f"db {k}": v for k, v in merger.timings.items()}}
    counts = streamed.counts
    if imp.progress:
        imp.progress(counts["read"], 0.9)
    started = time.perf_counter()
    done = apply_consequences(imp.session, merger, survey_round=survey_round, county=imp.region.code,
                              import_id=imp.record.id, today=imp.today, now=imp.now, actor=imp.actor, later=later,
                              rows_merged=bool(counts["inserted"] + counts["updated"] + counts["unchanged"]))
    timings.update(done.timings)
    if imp.progress:
        imp.progress(counts["read"], 0.98)
    timings["consequences"] = time.perf_counter() - started
    _complete_record(imp, streamed, done)
    outcomes = _row_outcomes(imp, merger) if imp.collect_rows else None
    if imp.progress:
        imp.progress(counts["read"], 1.0)
    for table in TEMP_TABLES:
        imp.conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
    imp.session.close()
    record = imp.record
    return ImportReport(
        import_id=record.id, round_id=survey_round.id, county_code=imp.region.code, round_label=survey_round.label,
        file_name=record.file_name, file_format=imp.sheet.format, file_sha256=record.file_sha256, counts=counts,
        errors=streamed.errors, errors_total=streamed.errors_total, notes=streamed.notes,
        columns={f: header.labels.get(j, "") for f, j in header.columns.items()}, ignored_columns=header.ignored,
        relocations=done.relocations, files=done.files, duties=done.duties, unrouted=done.unrouted,
        cases_closed_aged_out=done.cases_closed_aged_out, rows=outcomes, timings=timings,
    )


def _stream(imp: _Import, merger: Merger) -> _Streamed:
    """Parse the file chunk by chunk (in child processes, or here) and hand each chunk to ``merger``."""
    counts = dict(read=0, blank=0, invalid=0, duplicate=0, inserted=0, updated=0, unchanged=0, migrant=0,
                  key_care=0, found_later=0)
    errors: list[RowIssue] = []
    notes: list[RowIssue] = []
    errors_total = 0
    if imp.parsers is not None:
        imp.sheet.close()
        chunks = imp.parsers
    else:
        validator = RowValidator(imp.sheet.header, imp.region, imp.survey_round.as_of, today=imp.today,
                                 copy_lines=merger.pg, id_prefix=imp.id_prefix)
        chunks = parse_chunks(imp.sheet, validator, chunk_rows=imp.chunk_rows)
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
            if imp.progress:
                imp.progress(counts["read"], chunk.progress * 0.9)
        merger.finish()
    except BaseException:
        merger.abort()
        raise
    for name in ("duplicate", "inserted", "updated", "unchanged", "migrant", "key_care", "found_later"):
        counts[name] += merger.counts[name]
    counts["invalid"] += merger.counts["conflict"]
    errors_total += merger.counts["conflict"]
    if merger.conflicts:
        errors = sorted(errors + merger.conflicts[:max(0, REPORT_ERRORS - len(errors))], key=lambda i: i.line)
    return _Streamed(counts, errors, notes, errors_total)


def _complete_record(imp: _Import, streamed: _Streamed, done) -> None:
    """The import's own record completed (counts, columns, consequences) and audited ``survey.imported``."""
    record, header, counts = imp.record, imp.sheet.header, streamed.counts
    record.status = ImportStatus.completed.value
    record.finished_at = utcnow()
    for name in ("read", "blank", "invalid", "duplicate", "inserted", "updated", "unchanged"):
        setattr(record, f"rows_{name}", counts[name])
    record.detail = {
        "columns": {f: header.labels.get(j, "") for f, j in header.columns.items()},
        "ignored_columns": header.ignored, "duplicate_columns": header.duplicates,
        "encoding": imp.sheet.encoding, "migrant": counts["migrant"], "key_care": counts["key_care"],
        "found_later": counts["found_later"],
        "errors_total": streamed.errors_total, "notes": len(streamed.notes), "files": done.files,
        "duties": done.duties, "unrouted": done.unrouted,
        "moves": len([r for r in done.relocations if r.county_changed]),
        "relocations": len(done.relocations), "cases_closed_aged_out": done.cases_closed_aged_out,
    }
    imp.session.add(record)
    record_audit(imp.session, actor=imp.actor, action="survey.imported", entity_type="survey_import",
                 entity_id=record.id, reason=f"{imp.region.code} {imp.survey_round.label} {record.file_name}",
                 detail={"sha256": record.file_sha256, **counts})
    imp.session.flush()


def _row_outcomes(imp: _Import, merger: Merger) -> list[RowOutcome]:
    """Every line's :class:`RowOutcome`, in line order (``collect_rows``)."""
    by_line: dict[int, list[RowIssue]] = {}
    for issue in imp.session.exec(select(SurveyRowError).where(SurveyRowError.import_id == imp.record.id)
                                  .order_by(SurveyRowError.line, SurveyRowError.id)).all():
        by_line.setdefault(issue.line, []).append(
            RowIssue(issue.line, issue.field, issue.column, issue.value, issue.code, issue.message))
    outcomes = [o for o in merger.outcomes if o.line not in by_line]
    outcomes += [RowOutcome(line, "invalid", issues=issues) for line, issues in by_line.items()]
    outcomes.sort(key=lambda o: o.line)
    return outcomes
