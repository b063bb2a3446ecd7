"""Sharing the key care list with departments and taking their answers back (方案 一（三）加强部门信息数据共享).

The policy: civil affairs pushes the key care targets (重点关爱服务对象) to the departments concerned; education
shares school enrolment and education aid of migrant children (随迁子女义务教育段就学信息和教育资助情况); police check
residence permits against civil affairs' list (居住证信息甄别、比对); health and medical insurance share basic public
health services and basic medical insurance enrolment (基本公共卫生服务情况、参加基本医保情况); the disabled persons'
federation shares the rehabilitation aid of disabled migrant children (康复救助情况).

Each department gets only what it needs (DOMAIN.md §8, PIPL's minimum necessary rule), per :data:`DEPARTMENTS`:

=====================  ==================================================  =========  ==========================
department             fields                                              ID number  children
=====================  ==================================================  =========  ==========================
police 公安             file, name, sex, birth date, registration county,  yes        every key care target
                       residence county/area/address, arrival date
education 教育          file, name, sex, birth date, residence              yes        aged 6–15 on the export
                       county/area, family hardship (是/否, for aid)                   date (compulsory education)
health 卫健             file, name, sex, birth date, residence county/area  no         every key care target
medical_insurance 医保  file, name, residence county                        yes        every key care target
disabled_federation 残联 file, name, sex, birth date, residence county/area, yes        disability criterion only
                       guardian name and phone (to arrange rehabilitation)
=====================  ==================================================  =========  ==========================

ID numbers go only to departments whose own register is keyed by them (residence permits, student registration,
insurance enrolment, disability certificates); the health commission matches by name, sex, birth date and area,
and answers by file number. No department receives the key care criteria except what its service needs (education:
family hardship; the federation: disability, by the choice of children). The file number (档案编号, ``KF-…``) is the
key of every answer. Each export and each answer file is audited.
"""
from __future__ import annotations

import csv
import datetime
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from core.audit import record_audit
from careflow.exports import safe_row
from careflow.survey.columns import normalize_header
from careflow.survey.duty_calendar import today_local
from careflow.survey.reader import SurveyFileError, iter_table
from careflow.survey.cells import cell_text
from models.base import utcnow
from models.child import Child
from models.eligibility import KeyCareCriterion
from models.eligibility_rules import age_in_years
from models.key_care_files import FileStatus, KeyCareFile, file_reference, parse_file_reference
from models.regions import get_county
from models.resident_id import InvalidResidentID, mask_resident_id, normalize_resident_id


@dataclass(frozen=True)
class Department:
    """What one department receives and answers.

    Attributes:
        code: the agency type (``policy/agencies.yaml``), e.g. ``education``.
        name_zh: e.g. ``教育部门``.
        purpose: what the data is for, in the policy's words.
        fields: exported columns, in order (keys of :data:`EXPORT_COLUMNS`).
        scope: ``all`` key care targets, ``school_age`` (6–15 on the export date) or ``disability``.
        answers: answer field → accepted headers (the first is the one careflow writes in templates).
    """

    code: str
    name_zh: str
    purpose: str
    fields: tuple[str, ...]
    scope: str
    answers: dict[str, tuple[str, ...]]


#: Exported column → header.
EXPORT_COLUMNS: dict[str, str] = {
    "file": "档案编号", "full_name": "姓名", "resident_id": "身份证号", "sex": "性别", "birth_date": "出生日期",
    "hukou_county": "户籍地", "residence_county": "居住地（县区）", "residence_area": "居住地乡镇/村居代码",
    "residence_address": "居住地址", "arrival_date": "来本地日期", "family_hardship": "家庭生活困难",
    "guardian_name": "监护人", "guardian_phone": "监护人联系电话",
}

DEPARTMENTS: dict[str, Department] = {
    "police": Department(
        "police", "公安机关", "流动儿童办理居住证信息甄别、比对（方案 一（三））",
        ("file", "full_name", "resident_id", "sex", "birth_date", "hukou_county", "residence_county",
         "residence_area", "residence_address", "arrival_date"), "all",
        {"residence_permit": ("居住证办理情况", "居住证", "是否办理居住证")}),
    "education": Department(
        "education", "教育部门", "随迁子女义务教育段就学信息和教育资助情况（方案 一（三））",
        ("file", "full_name", "resident_id", "sex", "birth_date", "residence_county", "residence_area",
         "family_hardship"), "school_age",
        {"school": ("就读学校", "学校"), "stage": ("学段", "年级"), "enrolment": ("就学状态", "在读状态", "就学情况"),
         "education_aid": ("教育资助情况", "教育资助", "资助情况")}),
    "health": Department(
        "health", "卫生健康部门", "基本公共卫生服务情况（方案 一（三））",
        ("file", "full_name", "sex", "birth_date", "residence_county", "residence_area"), "all",
        {"public_health": ("基本公共卫生服务情况", "健康管理情况", "公共卫生服务"),
         "immunisation": ("免疫规划接种情况", "预防接种情况", "疫苗接种")}),
    "medical_insurance": Department(
        "medical_insurance", "医疗保障部门", "参加基本医保情况（方案 一（三））",
        ("file", "full_name", "resident_id", "residence_county"), "all",
        {"insurance": ("参保状态", "参加基本医保情况", "参保情况"), "insured_place": ("参保地",),
         "insurance_type": ("险种", "参保险种")}),
    "disabled_federation": Department(
        "disabled_federation", "残疾人联合会", "流动残疾儿童享受康复救助情况（方案 一（三））",
        ("file", "full_name", "resident_id", "sex", "birth_date", "residence_county", "residence_area",
         "guardian_name", "guardian_phone"), "disability",
        {"rehabilitation": ("康复救助情况", "康复救助状态", "康复情况"), "certificate": ("残疾人证", "残疾人证号", "持证情况")}),
}


def department(code: str) -> Department:
    """The :class:`Department` of ``code`` (raises ValueError naming the known ones)."""
    try:
        return DEPARTMENTS[code]
    except KeyError:
        raise ValueError(f"field 'department': {code!r} is not one of {', '.join(DEPARTMENTS)}") from None


@dataclass
class Export:
    """An export written: where, for whom, how many children, which columns."""

    path: Path
    department: str
    county_code: str
    rows: int
    columns: list[str]


def export_for_department(session: Session, department_code: str, county: str, path: str | os.PathLike, *,
                          actor: str, fmt: str | None = None, today: datetime.date | None = None) -> Export:
    """Write the key care list ``department_code`` needs for ``county`` to ``path`` (CSV or XLSX by suffix/``fmt``).

    Only the department's fields and children (:data:`DEPARTMENTS`); active files only. Audited
    (``survey.shared``: department, county, number of children, columns).

    Raises:
        ValueError: unknown department or county (naming the field).
    """
    dept = department(department_code)
    try:
        region = get_county(county)
    except ValueError as exc:
        raise ValueError(f"field 'county': {exc}") from None
    today = today or today_local()
    path = Path(path)
    fmt = fmt or ("xlsx" if path.suffix.lower() == ".xlsx" else "csv")
    headers = [EXPORT_COLUMNS[f] for f in dept.fields] + [aliases[0] for aliases in dept.answers.values()]
    rows: list[list[Any]] = []
    files = session.exec(
        select(KeyCareFile, Child).join(Child, Child.id == KeyCareFile.child_id)
        .where(KeyCareFile.county_code == region.code, KeyCareFile.status == FileStatus.active.value)
        .order_by(KeyCareFile.id)).all()
    guardians = _guardians(session, region.code) if {"guardian_name", "guardian_phone"} & set(dept.fields) else {}
    for file, child in files:
        if dept.scope == "school_age" and not 6 <= age_in_years(child.birth_date, today) <= 15:
            continue
        if dept.scope == "disability" and KeyCareCriterion.disability.value not in (file.criteria or []):
            continue
        guardian = guardians.get(child.id)
        values = {
            "file": file.reference, "full_name": child.full_name, "resident_id": child.resident_id,
            "sex": child.sex, "birth_date": child.birth_date.isoformat(), "hukou_county": child.hukou_county_code,
            "residence_county": child.residence_county_code, "residence_area": child.residence_area_code,
            "residence_address": child.residence_address, "arrival_date": child.arrival_date.isoformat(),
            "family_hardship": "是" if KeyCareCriterion.family_hardship.value in (file.criteria or []) else "否",
            "guardian_name": guardian[0] if guardian else "",
            "guardian_phone": guardian[1] if guardian else "",
        }
        rows.append(safe_row([values[f] for f in dept.fields] + [""] * len(dept.answers)))
    _write_table(path, fmt, dept.name_zh, safe_row(headers), rows)
    record_audit(session, actor=actor, action="survey.shared", entity_type="department", entity_id=dept.code,
                 reason=f"{dept.purpose}; {region.code}",
                 detail={"county": region.code, "rows": len(rows), "columns": list(dept.fields), "format": fmt,
                         "file": path.name})
    return Export(path=path, department=dept.code, county_code=region.code, rows=len(rows), columns=headers)


def _write_table(path: Path, fmt: str, sheet_name: str, headers: list[str], rows: list[list[Any]]) -> None:
    """``headers`` and ``rows`` written to ``path``: an XLSX workbook of one sheet ``sheet_name`` (``fmt`` xlsx), or
    CSV in UTF-8 with a BOM (which Excel opens as UTF-8). Every value is text: ID numbers stay exact."""
    if fmt == "xlsx":
        import openpyxl  # start-up: openpyxl takes about a second to load, and only an XLSX export needs it

        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet(sheet_name)
        sheet.append(headers)
        for row in rows:
            sheet.append(row)  # every value is text: ID numbers stay exact
        book.save(path)
    else:
        with open(path, "w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(headers)
            writer.writerows(rows)


def _guardians(session: Session, county_code: str) -> dict[uuid.UUID, tuple[str, str]]:
    """child id → (guardian's name, phone) as the county's latest survey round that found the child reported them,
    for the children with an active file in the county (the latest round that found a child is one of the county
    they live in: see :func:`careflow.survey.merge_sql.found_later_sql`). One query: the files, the county's rounds
    (a few), one probe of the round records' key per file and round."""
    rows = session.connection().execute(sa.text("""
        SELECT f.child_id, r.guardian_name, r.guardian_phone
        FROM key_care_file f CROSS JOIN survey_round sr CROSS JOIN survey_record r
        WHERE f.county_code = :county AND f.status = :active AND sr.county_code = :county
          AND r.round_id = sr.id AND r.child_id = f.child_id
        ORDER BY sr.label""").columns(sa.column("child_id", sa.Uuid), sa.column("guardian_name", sa.String),
                                       sa.column("guardian_phone", sa.String)),
        {"county": county_code, "active": FileStatus.active.value}).all()
    return {child_id: (name, phone) for child_id, name, phone in rows}  # the latest round's overwrites the others


@dataclass
class AnswerReport:
    """What an answer file did: files ``updated`` / ``unchanged``, and problems (line, field, value, message)."""

    department: str
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str, str, str]] = field(default_factory=list)


def import_department_answers(session: Session, department_code: str, path: str | os.PathLike, *,
                              actor: str, now: datetime.datetime | None = None) -> AnswerReport:
    """Put a department's answers (the export filled in, or its own sheet) back onto the children's files.

    The header must have 档案编号 (the file number) or 身份证号, and at least one answer column of the department
    (:data:`DEPARTMENTS`, e.g. 就读学校 / 学段 / 就学状态 / 教育资助情况 for education). Each row's answers are stored
    in ``KeyCareFile.department_data[<department>]`` with the time received, the file name and the line; a row
    whose answers equal what is stored is ``unchanged``. A row naming no known file, or whose ID number is not the
    file's child's, is reported (line, field, value masked, reason) and skipped; the others are stored.

    Raises:
        ValueError: unknown department, or no usable header (naming what is missing). FileNotFoundError.
    """
    dept = department(department_code)
    now = now or utcnow()
    path = Path(path)
    report = AnswerReport(department=dept.code)
    aliases = _answer_headers(dept)
    try:
        _, rows = iter_table(path)
    except SurveyFileError as exc:
        raise ValueError(f"field 'file': {exc}") from None
    columns: dict[str, int] | None = None
    for line, cells in rows:
        if columns is None:
            found = {aliases[normalize_header(c)]: j for j, c in enumerate(cells) if normalize_header(c) in aliases}
            if ("file" in found or "resident_id" in found) and set(found) & set(dept.answers):
                columns = found
            continue
        if not any(cell_text(c) for c in cells):
            continue
        values = {f: cell_text(cells[j]) if j < len(cells) else "" for f, j in columns.items()}
        file = _answered_file(session, values, line, report)
        if file is not None:
            _store_answer(session, dept, file, values, line, report, source=path.name, actor=actor, now=now)
    if columns is None:
        expected = "、".join(names[0] for names in dept.answers.values())
        raise ValueError(f"field 'file': {path.name}: no header with 档案编号 (or 身份证号) and an answer column "
                         f"({expected})")
    return report


def _answer_headers(dept: Department) -> dict[str, str]:
    """Normalised header → field of an answer file: the department's answer columns, ``file`` (档案编号, 档案号) and
    ``resident_id`` (身份证号, 公民身份号码, 身份证号码)."""
    aliases = {normalize_header(a): f for f, names in dept.answers.items() for a in names}
    aliases.update({normalize_header("档案编号"): "file", normalize_header("档案号"): "file",
                    normalize_header("身份证号"): "resident_id", normalize_header("公民身份号码"): "resident_id",
                    normalize_header("身份证号码"): "resident_id"})
    return aliases


def _answered_file(session: Session, values: dict[str, str], line: int, report: AnswerReport) -> KeyCareFile | None:
    """The file a row answers for: by its file number, or by the child's ID number (which must then be the file's
    child's); None, with the problem in ``report.errors`` (the ID number masked), when there is none."""
    file = None
    ref = values.get("file", "")
    if ref:
        file_id = parse_file_reference(ref)
        file = session.get(KeyCareFile, file_id) if file_id else None
        if file is None:
            report.errors.append((line, "file", ref, "无此档案编号"))
            return None
    rid_text = values.get("resident_id", "")
    if rid_text:
        try:
            rid = normalize_resident_id(rid_text)
        except InvalidResidentID as exc:
            report.errors.append((line, "resident_id", mask_resident_id(rid_text), f"身份证号无效：{exc.reason}"))
            return None
        child = session.exec(select(Child).where(Child.resident_id == rid)).first()
        if child is None:
            report.errors.append((line, "resident_id", mask_resident_id(rid), "careflow 中无此儿童"))
            return None
        if file is not None and file.child_id != child.id:
            report.errors.append((line, "resident_id", mask_resident_id(rid), f"与档案 {file.reference} 的儿童不符"))
            return None
        if file is None:
            file = session.exec(select(KeyCareFile).where(KeyCareFile.child_id == child.id)).first()
            if file is None:
                report.errors.append((line, "resident_id", mask_resident_id(rid), "该儿童没有重点关爱档案"))
                return None
    if file is None:
        report.errors.append((line, "file", "", "缺少档案编号和身份证号"))
    return file


def _store_answer(session: Session, dept: Department, file: KeyCareFile, values: dict[str, str], line: int,
                  report: AnswerReport, *, source: str, actor: str, now: datetime.datetime) -> None:
    """The department's answers of a row stored on ``file`` (with when, the file name ``source`` and the line;
    audited ``key_care_file.department_answer``) and counted ``updated`` — or ``unchanged`` when equal to what is
    stored, or reported when an answer is over 200 characters."""
    answer = {f: values[f] for f in dept.answers if f in values}
    too_long = [f for f, v in answer.items() if len(v) > 200]
    if too_long:
        report.errors.append((line, too_long[0], answer[too_long[0]][:50], "超过 200 个字符"))
        return
    stored = dict((file.department_data or {}).get(dept.code, {}))
    if {f: stored.get(f, "") for f in answer} == answer:
        report.unchanged += 1
        return
    data = dict(file.department_data or {})
    data[dept.code] = {**answer, "received_at": now.isoformat(), "source": source[:100], "line": line}
    file.department_data, file.updated_at = data, now
    session.add(file)
    record_audit(session, actor=actor, action="key_care_file.department_answer", entity_type="key_care_file",
                 entity_id=file.id, reason=f"{dept.code}: {source} line {line}",
                 detail={"department": dept.code, "fields": sorted(answer)})
    report.updated += 1


__all__ = ["DEPARTMENTS", "AnswerReport", "Department", "Export", "department", "export_for_department",
           "file_reference", "import_department_answers"]
