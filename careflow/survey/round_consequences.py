"""The consequences of a survey round, once its rows are merged (step 3 of :mod:`careflow.survey.importer`): children
who moved (:func:`careflow.survey.transfer.relocate_child`), open cases of children who aged out closed, key care
files opened, reopened, updated or closed (their duties cancelled), current duties made sure of, and the county's
round duty completed. :class:`NewFiles` opens the files of a first survey's new children chunk by chunk, during the
merge.
"""
from __future__ import annotations

import datetime
import time
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session

from core.audit import record_audit
from careflow.survey.bulk import json_sql
from careflow.key_care import follow_up_opened_files
from careflow.survey.care_files import close_files, reopen_file
from careflow.survey.duties import UnitCache, ensure_duties
from careflow.survey.merge import Merger
from careflow.survey.merge_sql import IN_FILE, found_later_sql, new_child_id_sql
from careflow.survey.scheduled import round_duty_key
from careflow.survey.transfer import Relocation, close_cases_aged_out, relocate_child
from careflow.tasks import move_tasks
from models.base import UTCDateTime
from models.child import Child
from models.eligibility import aged_16_from
from models.key_care_files import FileStatus, KeyCareFile
from models.survey import SurveyRound
from models.task import AgencyTask, TaskState


class NewFiles:
    """Key care files and their duties for the fast path's new children, opened chunk by chunk while the file is
    still being parsed (the database has time to spare then; at the end it would be waited for: 4-5 s a million
    rows). What it opened is skipped by the import's closing pass.

    Attributes:
        opened, duties, assessments: files opened, duties created and family guardianship assessments opened
        (:func:`careflow.key_care.follow_up_opened_files`, as any door's files get them); ``file_ids`` those files
        (a few percent of the rows); unrouted: area → duties or assessments not created (no unit covers the area).
    """

    def __init__(self, session: Session, survey_round: SurveyRound, import_id: int, *, today: datetime.date,
                 now: datetime.datetime, actor: str) -> None:
        self.session, self.round, self.today, self.now, self.actor = session, survey_round, today, now, actor
        self.import_id = import_id
        self.units = UnitCache(session)
        self.opened = self.duties = self.assessments = 0
        self.seconds_assessments = 0.0
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
        :meth:`careflow.survey.merge_sql.MergeStatements.new_id` with ``id_prefix``) and their duties."""
        conn = self.session.connection()
        ids = [row[0] for row in conn.execute(self.sql_open, {"today": self.today, "round": self.round.id,
                                                               "now": self.now, "id_prefix": id_prefix})]
        if not ids:
            return
        self.audit_opened(min(ids), max(ids))
        self.opened += len(ids)
        self.file_ids.update(ids)
        done = follow_up_opened_files(self.session, ids, today=self.today, now=self.now, actor=self.actor,
                                      units=self.units, new_children=True)  # this chunk created them
        self.duties += done.duties
        self.assessments += len(done.assessments)
        self.seconds_assessments += done.seconds_assessments
        for area, count in done.unrouted.items():
            self.unrouted[area] = self.unrouted.get(area, 0) + count


@dataclass
class Consequences:
    """What a round changed beyond its rows (:func:`apply_consequences`); the report's fields of the same names."""

    relocations: list[Relocation] = field(default_factory=list)
    cases_closed_aged_out: list[str] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=lambda: dict(opened=0, reopened=0, updated=0, closed=0))
    duties: dict[str, int] = field(default_factory=lambda: dict(created=0, cancelled=0, assessments=0))
    unrouted: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class _Round:
    """The import whose consequences are drawn: its round, county, import id, day, time, actor and whether a later
    round exists anywhere (:func:`careflow.survey.merge_sql.found_later_sql`)."""

    survey_round: SurveyRound
    county: str
    import_id: int
    today: datetime.date
    now: datetime.datetime
    actor: str
    later: bool

    @property
    def params(self) -> dict:
        return {"round": self.survey_round.id, "county": self.county, "import": self.import_id,
                "label": self.survey_round.label}


def apply_consequences(session: Session, merger: Merger, *, survey_round: SurveyRound, county: str, import_id: int,
                       today: datetime.date, now: datetime.datetime, actor: str, later: bool,
                       rows_merged: bool) -> Consequences:
    """Draw the consequences of the round's merged rows, per child (module docstring), in the import's transaction.

    ``rows_merged``: some row was good (inserted, updated or unchanged); only then is the county's round duty
    (``survey:<county>:<label>``) completed. When every chunk took the fast path (children new to careflow, whose
    files and duties came with their chunk) there is no case to close and no file to change, and those queries are
    skipped.
    """
    here = _Round(survey_round, county, import_id, today, now, actor, later)
    result = Consequences()
    all_new = merger.merged_chunks == 0
    session.expire_all()
    started = time.perf_counter()
    for child_id, old_county, old_area, _line in merger.moves:
        result.relocations.append(relocate_child(session, session.get(Child, child_id), from_county=old_county,
                                                 from_area=old_area, round_label=survey_round.label, actor=actor,
                                                 now=now))
    result.timings["relocations"] = time.perf_counter() - started
    mark = time.perf_counter()
    if not all_new:
        result.cases_closed_aged_out = _close_aged_out(session, here)
    result.timings["aged out"] = time.perf_counter() - mark
    mark = time.perf_counter()
    active_ids: list[int] = []
    opened_ids: list[int] = []  # opened or reopened here (not by the fast path): their assessments follow
    if not all_new:
        opened_ids = _change_files(session, here, result) + _open_files(session, here, merger, result)
        active_ids = [row[0] for row in session.connection().execute(sa.text(f"""
            SELECT f.id FROM key_care_file f CROSS JOIN child c CROSS JOIN survey_record r
            WHERE f.county_code = :county AND f.status = 'active' AND c.id = f.child_id AND r.round_id = :round
              AND r.child_id = c.id AND {IN_FILE} ORDER BY f.id"""), here.params)]
    result.files["opened"] += merger.files.opened
    result.timings["files"] = time.perf_counter() - mark
    mark = time.perf_counter()
    done = merger.files.file_ids
    plan = ensure_duties(session, [f for f in active_ids if f not in done], today=today, now=now, actor=actor,
                         units=merger.files.units)
    result.timings["duties"] = time.perf_counter() - mark
    result.duties["created"] = plan.created_count + merger.files.duties
    result.unrouted = plan.unrouted
    assessed = follow_up_opened_files(session, opened_ids, today=today, now=now, actor=actor, duties=False)
    result.duties["assessments"] = len(assessed.assessments) + merger.files.assessments
    for area, count in assessed.unrouted.items():
        result.unrouted[area] = result.unrouted.get(area, 0) + count
    for area, count in merger.files.unrouted.items():
        result.unrouted[area] = result.unrouted.get(area, 0) + count
    if rows_merged:  # a file with no valid row does not do the round's duty
        _complete_round_duty(session, here)
    return result


def _close_aged_out(session: Session, here: _Round) -> list[str]:
    """Close the open cases of the round's children who are 16 (references of the cases closed)."""
    aged = session.connection().execute(sa.text(f"""
        SELECT DISTINCT c.id FROM "case" k CROSS JOIN child c CROSS JOIN survey_record r
        WHERE k.status = 'open' AND c.id = k.child_id AND r.round_id = :round AND r.child_id = c.id
          AND r.not_migrant_reasons LIKE '%aged_out%' AND {IN_FILE}
          AND NOT {found_later_sql("c", here.later)}""").columns(sa.column("child_id", sa.Uuid)),
        here.params).all()
    closed: list[str] = []
    for (child_id,) in aged:
        child = session.get(Child, child_id)
        closed += close_cases_aged_out(session, child, turned_16_on=aged_16_from(child.birth_date), actor=here.actor,
                                       now=here.now)
    return closed


def _change_files(session: Session, here: _Round, result: Consequences) -> list[int]:
    """Close the files of children no longer key care targets (duties cancelled), reopen those who are again, and
    update the criteria of the others whose criteria changed; returns the ids of the files reopened."""
    changed_files = session.connection().execute(sa.text(f"""
        SELECT f.id, f.status, r.is_key_care, r.key_care_criteria, r.not_migrant_reasons
        FROM key_care_file f CROSS JOIN child c CROSS JOIN survey_record r
        WHERE f.county_code = :county AND c.id = f.child_id AND r.round_id = :round AND r.child_id = c.id
          AND {IN_FILE} AND NOT {found_later_sql("c", here.later)}
          AND ((f.status = 'active' AND NOT r.is_key_care) OR (f.status <> 'active' AND r.is_key_care)
           OR (r.is_key_care AND CAST(f.criteria AS TEXT) <> CAST(c.key_care_criteria AS TEXT)))"""),
        here.params).all()
    label = here.survey_round.label
    closing: dict[int, str] = {}  # file id → why it closes (all closed at once below)
    reopened: list[int] = []
    for file_id, status, is_key_care, criteria_text, reasons in changed_files:
        criteria = sorted(c for c in criteria_text.split(",") if c)
        if status == FileStatus.active.value and not is_key_care:
            closing[file_id] = _not_key_care_reason(criteria, reasons, label)
            continue
        file = session.get(KeyCareFile, file_id)
        why = f"survey {label}"
        if file.status != FileStatus.active.value and is_key_care:
            reopen_file(session, file, criteria, today=here.today, actor=here.actor, now=here.now, reason=why)
            file.opened_round_id = here.survey_round.id
            result.files["reopened"] += 1
            reopened.append(file_id)
        else:
            file.criteria, file.updated_at = criteria, here.now
            session.add(file)
            record_audit(session, actor=here.actor, action="key_care_file.updated", entity_type="key_care_file",
                         entity_id=file.id, reason=why, detail={"criteria": criteria})
            result.files["updated"] += 1
    result.duties["cancelled"] += close_files(session, closing, today=here.today, actor=here.actor, now=here.now)
    result.files["closed"] += len(closing)
    return reopened


def _open_files(session: Session, here: _Round, merger: Merger, result: Consequences) -> list[int]:
    """Open a file for each key care target of the round who has none (set-based), each audited; returns their
    ids."""
    conn = session.connection()
    files_before = conn.execute(sa.text("SELECT COALESCE(MAX(id), 0) FROM key_care_file")).scalar_one()
    opened = conn.execute(sa.text(f"""
        INSERT INTO key_care_file (child_id, county_code, area_code, criteria, status, opened_on, opened_round_id,
                                   close_reason, department_data, updated_at)
        SELECT c.id, c.residence_county_code, c.residence_area_code, c.key_care_criteria, 'active',
               :today, :round, '', {json_sql(conn, "'{}'")}, :now
        FROM survey_record r CROSS JOIN child c
        WHERE r.round_id = :round AND r.is_key_care AND {IN_FILE}
          AND c.id = r.child_id AND NOT EXISTS (SELECT 1 FROM key_care_file f WHERE f.child_id = c.id)
          AND NOT {found_later_sql("c", here.later)}
        ORDER BY r.line
        RETURNING id""").bindparams(sa.bindparam("now", type_=UTCDateTime()),
                                    sa.bindparam("today", type_=sa.Date())),
        {**here.params, "today": here.today, "now": here.now})
    opened_ids = list(opened.scalars())
    if opened_ids:
        merger.files.audit_opened(files_before + 1, 2**62)
    result.files["opened"] += len(opened_ids)
    return opened_ids


def _not_key_care_reason(criteria: list[str], reasons: str, label: str) -> str:
    failed = [r for r in reasons.split(",") if r]
    if "aged_out" in failed:
        return f"{label} 轮摸排：年满十六周岁，不再属于流动儿童 / aged out at 16"
    if failed:
        return f"{label} 轮摸排：不再符合流动儿童认定（{', '.join(failed)}） / no longer a migrant child"
    if not criteria:
        return f"{label} 轮摸排：不再存在重点关爱情形 / no key care criterion any more"
    return f"{label} 轮摸排：不再是重点关爱服务对象 / no longer a key care target"


def _complete_round_duty(session: Session, here: _Round) -> None:
    """Complete the county's round duty (``survey:<county>:<label>``, see :mod:`careflow.survey.scheduled`)."""
    label = here.survey_round.label
    move_tasks(session, sa.select(AgencyTask.id).where(AgencyTask.duty_key == round_duty_key(here.county, label)),
               TaskState.completed, actor=here.actor, reason=f"survey {label} imported",
               outcome={"import_id": here.import_id}, detail={"import_id": here.import_id}, now=here.now)
