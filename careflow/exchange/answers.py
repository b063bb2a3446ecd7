"""Reading a department's answer file back (方案 一（三）: 教育、公安、卫健、医保、残联 push what they know of the children
civil affairs listed), each answer kept on the child with its source, and the gaps it reveals proposed.

An answer file is the export filled in, or the department's own sheet: a header with 儿童编号 (``CH-…``), 档案编号
(``KF-…``) or 身份证号, and at least one answer column of the department (:data:`careflow.survey.sharing.DEPARTMENTS`,
e.g. 参保状态 for 医保). Each answered row becomes a :class:`models.data_exchange.DepartmentAnswer` of the child (the
file's name, the line, the date received, Asia/Shanghai); a row equal to the child's latest answer from the department
is counted ``unchanged`` and not stored again. A file is imported once: its bytes' SHA-256 is unique per department
(:class:`models.data_exchange.ExchangeFile`), so a rerun of the scheduled import, or the same file sent twice,
stores nothing twice. Then the answers that reveal a gap (``policy/data_exchange.yaml`` ``gaps``) propose their item
(:func:`careflow.exchange.proposals.propose`). Audited ``exchange.answers_imported``.
"""
from __future__ import annotations

import datetime
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, select

from core.audit import record_audit
from careflow.child_facts import record_child_fact
from careflow.exchange.proposals import propose
from careflow.survey.cells import cell_text
from careflow.survey.columns import normalize_header
from careflow.survey.duty_calendar import today_local
from careflow.survey.reader import SurveyFileError, iter_table
from careflow.survey.sharing import Department, department, parse_child_reference
from models.base import utcnow
from models.child import Child, resident_id_is
from models.errors import FieldFileError, FieldValueError
from models.data_exchange import DepartmentAnswer, ExchangeFile, load_exchange_policy
from models.key_care_files import KeyCareFile, parse_file_reference
from models.resident_id import InvalidResidentID, mask_resident_id, normalize_resident_id

__all__ = ["AnswerReport", "import_department_answers"]

#: The longest answer text kept, in characters.
ANSWER_MAX_CHARS = 200


@dataclass
class AnswerReport:
    """What an answer file did: answers ``updated`` (stored) / ``unchanged``, ``proposed`` referrals, problems
    (line, field, value — ID numbers masked —, message in Chinese); ``already_imported`` when the same file
    (same bytes) was imported before, in which case nothing was read."""

    department: str
    file_name: str = ""
    updated: int = 0
    unchanged: int = 0
    proposed: int = 0
    already_imported: bool = False
    errors: list[tuple[int, str, str, str]] = field(default_factory=list)


def import_department_answers(session: Session, department_code: str, path: str | os.PathLike, *,
                              actor: str, now: datetime.datetime | None = None) -> AnswerReport:
    """Store a department's answer file on the children it answers for, and propose what its gaps call for.

    Raises:
        ValueError: unknown department, or no usable header (naming what is missing): a FieldValueError worded in
            the reader's language.
        FieldFileError (a FileNotFoundError): no such file, or a folder.
    """
    dept = department(department_code)
    now = now or utcnow()
    path = Path(path)
    report = AnswerReport(department=dept.code, file_name=path.name)
    if not path.is_file():
        raise FieldFileError("file", "problem.file_is_folder" if path.is_dir() else "problem.file_missing", path=str(path))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if session.exec(select(ExchangeFile.id).where(ExchangeFile.department == dept.code,
                                                  ExchangeFile.sha256 == digest)).first() is not None:
        report.already_imported = True
        return report
    try:
        _, rows = iter_table(path)
    except SurveyFileError as exc:
        raise FieldValueError("file", "problem.answer_file_unreadable", problem=exc) from None
    exchange_file = ExchangeFile(department=dept.code, file_name=path.name[:200], sha256=digest, imported_by=actor,
                                 imported_at=now)
    session.add(exchange_file)
    session.flush()  # its id; a file imported meanwhile by another process fails here on the unique key
    received_on = today_local(now)
    aliases = _answer_headers(dept)
    columns: dict[str, int] | None = None
    gaps: list[tuple[int, int]] = []
    for line, cells in rows:
        if columns is None:
            found = {aliases[normalize_header(c)]: j for j, c in enumerate(cells) if normalize_header(c) in aliases}
            if {"child", "file", "resident_id"} & set(found) and set(found) & set(dept.answers):
                columns = found
            continue
        if not any(cell_text(c) for c in cells):
            continue
        values = {f: cell_text(cells[j]) if j < len(cells) else "" for f, j in columns.items()}
        child = _answered_child(session, values, line, report)
        if child is not None:
            gaps += _store_answer(session, dept, child, values, line, report, exchange_file, received_on, actor)
    if columns is None:
        raise FieldValueError("file", "problem.answer_no_header", name=path.name,
                              expected="、".join(names[0] for names in dept.answers.values()))
    session.flush()
    report.proposed = propose(session, gaps, on=received_on, now=now)
    exchange_file.rows = report.updated + report.unchanged + len(report.errors)
    exchange_file.stored, exchange_file.unchanged, exchange_file.problems = (
        report.updated, report.unchanged, len(report.errors))
    record_audit(session, actor=actor, action="exchange.answers_imported", entity_type="department",
                 entity_id=dept.code, reason=f"{dept.purpose}; {path.name}",
                 detail={"file": path.name, "sha256": digest, "stored": report.updated,
                         "unchanged": report.unchanged, "problems": len(report.errors), "proposed": report.proposed})
    return report


def _answer_headers(dept: Department) -> dict[str, str]:
    """Normalised header → field of an answer file: the department's answer columns, ``child`` (儿童编号), ``file``
    (档案编号, 档案号) and ``resident_id`` (身份证号, 公民身份号码, 身份证号码)."""
    aliases = {normalize_header(a): f for f, names in dept.answers.items() for a in names}
    aliases.update({normalize_header("儿童编号"): "child", normalize_header("档案编号"): "file",
                    normalize_header("档案号"): "file", normalize_header("身份证号"): "resident_id",
                    normalize_header("公民身份号码"): "resident_id", normalize_header("身份证号码"): "resident_id"})
    return aliases


def _by_reference(session: Session, values: dict[str, str], line: int, report: AnswerReport) -> Child | None | bool:
    """The child named by 儿童编号 or 档案编号 (the child number first); None when neither is given; False (the
    problem reported) when one is given but names nobody."""
    ref = values.get("child", "")
    if ref:
        child_id = parse_child_reference(ref)
        child = session.get(Child, child_id) if child_id else None
        if child is None:
            report.errors.append((line, "child", ref[:40], "无此儿童编号"))
            return False
        return child
    ref = values.get("file", "")
    if ref:
        file_id = parse_file_reference(ref)
        file = session.get(KeyCareFile, file_id) if file_id else None
        if file is None:
            report.errors.append((line, "file", ref[:40], "无此档案编号"))
            return False
        return session.get(Child, file.child_id)
    return None


def _answered_child(session: Session, values: dict[str, str], line: int, report: AnswerReport) -> Child | None:
    """The child a row answers for: by its child or file number, or by the ID number (which must then be that
    child's); None, with the problem in ``report.errors`` (the ID number masked), when there is none."""
    child = _by_reference(session, values, line, report)
    if child is False:
        return None
    rid_text = values.get("resident_id", "")
    if rid_text:
        try:
            rid = normalize_resident_id(rid_text)
        except InvalidResidentID as exc:
            report.errors.append((line, "resident_id", mask_resident_id(rid_text), f"身份证号无效：{exc.reason}"))
            return None
        by_id = session.exec(select(Child).where(resident_id_is(Child.resident_id, rid))).first()
        if by_id is None:
            report.errors.append((line, "resident_id", mask_resident_id(rid), "careflow 中无此儿童"))
            return None
        if child is not None and child.id != by_id.id:
            report.errors.append((line, "resident_id", mask_resident_id(rid), "与儿童编号或档案编号所指儿童不符"))
            return None
        child = by_id
    if child is None:
        report.errors.append((line, "file", "", "缺少儿童编号、档案编号和身份证号"))
    return child


def _store_answer(session: Session, dept: Department, child: Child, values: dict[str, str], line: int,
                  report: AnswerReport, exchange_file: ExchangeFile, received_on: datetime.date,
                  actor: str) -> list[tuple[int, int]]:
    """The row's answers stored on ``child`` and counted ``updated`` — or ``unchanged`` when equal to the child's
    latest answer from ``dept``, or reported when one is too long. Returns ``(answer id, item)`` of each gap it
    reveals, after recording the facts the gap names (source 部门答复)."""
    answer = {f: values[f] for f in dept.answers if f in values and values[f]}
    too_long = [f for f, v in answer.items() if len(v) > ANSWER_MAX_CHARS]
    if too_long:
        report.errors.append((line, too_long[0], answer[too_long[0]][:50], f"超过 {ANSWER_MAX_CHARS} 个字符"))
        return []
    if not answer:
        return []
    latest = session.exec(select(DepartmentAnswer.answers).where(
        DepartmentAnswer.child_id == child.id, DepartmentAnswer.department == dept.code)
        .order_by(DepartmentAnswer.received_at.desc(), DepartmentAnswer.id.desc()).limit(1)).first()
    if latest == answer:
        report.unchanged += 1
        return []
    row = DepartmentAnswer(child_id=child.id, department=dept.code, answers=answer, file_id=exchange_file.id,
                           file_name=exchange_file.file_name, line=line, received_on=received_on,
                           received_at=exchange_file.imported_at)
    session.add(row)
    session.flush()
    report.updated += 1
    found = []
    for gap in load_exchange_policy().gaps_of(dept.code):
        if gap.matches(answer.get(gap.field, "")):
            for key, value in gap.fact.items():
                record_child_fact(session, child_id=child.id, key=key, value=value, source="department",
                                  actor=actor, established_on=received_on,
                                  source_detail=f"{dept.name_zh}：{exchange_file.file_name} 第{line}行"[:200])
            found.append((row.id, gap.item))
    return found

