"""Sharing lists with departments (方案 一（三）加强部门信息数据共享): what each one receives.

The policy: civil affairs pushes the key care targets (重点关爱服务对象) to the departments concerned; education
shares school enrolment and education aid of migrant children (随迁子女义务教育段就学信息和教育资助情况); police check
residence permits against civil affairs' list (居住证信息甄别、比对); health and medical insurance share basic public
health services and basic medical insurance enrolment "根据民政部门提供的流动儿童名单" — on the migrant-child list,
not only the key care targets; the disabled persons' federation shares the rehabilitation aid of disabled migrant
children (康复救助情况).

Each department gets only what it needs (DOMAIN.md §8, PIPL's minimum necessary rule), per :data:`DEPARTMENTS`:

=====================  ==================================================  =========  ==========================
department             fields                                              ID number  children
=====================  ==================================================  =========  ==========================
police 公安             file, name, sex, birth date, registration county,  yes        every key care target
                       residence county/area/address, arrival date
education 教育          file, name, sex, birth date, residence              yes        key care targets aged 6–15
                       county/area, family hardship (是/否, for aid)                   (compulsory education)
health 卫健             child, file, name, sex, birth date, residence       no         every migrant child living
                       county/area                                                    in the county (流动儿童名单)
medical_insurance 医保  child, file, name, residence county                 yes        every migrant child living
                                                                                      in the county (流动儿童名单)
disabled_federation 残联 file, name, sex, birth date, residence county/area, yes        disability criterion only
                       guardian name and phone (to arrange rehabilitation)
=====================  ==================================================  =========  ==========================

ID numbers go only to departments whose own register is keyed by them (residence permits, student registration,
insurance enrolment, disability certificates); the health commission matches by name, sex, birth date and area,
and answers by the child number. No department receives the key care criteria except what its service needs
(education: family hardship; the federation: disability, by the choice of children). The file number (档案编号,
``KF-…``) or the child number (儿童编号, ``CH-…``, :func:`child_reference`) is the key of every answer
(:mod:`careflow.exchange.answers` reads them back). Each export is audited (``survey.shared``).
"""
from __future__ import annotations

import csv
import datetime
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from core.audit import record_audit
from careflow.exports import safe_row
from careflow.survey.duty_calendar import today_local
from careflow.unreferred import migrant_sql
from models.child import Child
from models.errors import FieldValueError
from models.eligibility import KeyCareCriterion
from models.eligibility_rules import age_in_years
from models.key_care_files import FileStatus, KeyCareFile, file_reference
from models.regions import get_county


@dataclass(frozen=True)
class Department:
    """What one department receives and answers.

    Attributes:
        code: the agency type (``policy/agencies.yaml``), e.g. ``education``.
        name_zh: e.g. ``教育部门``.
        purpose: what the data is for, in the policy's words.
        fields: exported columns, in order (keys of :data:`EXPORT_COLUMNS`).
        scope: ``all`` key care targets, ``school_age`` (6–15 on the export date), ``disability``, or ``migrant``:
            every migrant child living in the county (流动儿童名单, :func:`careflow.unreferred.migrant_sql`).
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
    "child": "儿童编号", "file": "档案编号", "full_name": "姓名", "resident_id": "身份证号", "sex": "性别", "birth_date": "出生日期",
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
        ("child", "file", "full_name", "sex", "birth_date", "residence_county", "residence_area"), "migrant",
        {"public_health": ("基本公共卫生服务情况", "健康管理情况", "公共卫生服务"),
         "immunisation": ("免疫规划接种情况", "预防接种情况", "疫苗接种")}),
    "medical_insurance": Department(
        "medical_insurance", "医疗保障部门", "参加基本医保情况（方案 一（三））",
        ("child", "file", "full_name", "resident_id", "residence_county"), "migrant",
        {"insurance": ("参保状态", "参加基本医保情况", "参保情况"), "insured_place": ("参保地",),
         "insurance_type": ("险种", "参保险种")}),
    "disabled_federation": Department(
        "disabled_federation", "残疾人联合会", "流动残疾儿童享受康复救助情况（方案 一（三））",
        ("file", "full_name", "resident_id", "sex", "birth_date", "residence_county", "residence_area",
         "guardian_name", "guardian_phone"), "disability",
        {"rehabilitation": ("康复救助情况", "康复救助状态", "康复情况"), "certificate": ("残疾人证", "残疾人证号", "持证情况")}),
}


def department(code: str) -> Department:
    """The :class:`Department` of ``code``.

    Raises:
        FieldValueError: field ``department``, naming the value and the departments (``problem.not_a_department``).
    """
    try:
        return DEPARTMENTS[code]
    except KeyError:
        raise FieldValueError("department", "problem.not_a_department", value=code, options=list(DEPARTMENTS)) from None


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
    """Write the list ``department_code`` needs for ``county`` to ``path`` (CSV or XLSX by suffix/``fmt``).

    Only the department's fields and children (:data:`DEPARTMENTS`, :func:`listed_children`). Audited
    (``survey.shared``: department, county, number of children, columns).

    Raises:
        ValueError: unknown department or county (naming the field).
    """
    dept = department(department_code)
    region = get_county(county)  # UnknownRegion: field 'county', worded in the reader's language
    today = today or today_local()
    path = Path(path)
    fmt = fmt or ("xlsx" if path.suffix.lower() == ".xlsx" else "csv")
    headers = [EXPORT_COLUMNS[f] for f in dept.fields] + [aliases[0] for aliases in dept.answers.values()]
    rows: list[list[Any]] = []
    guardians = _guardians(session, region.code) if {"guardian_name", "guardian_phone"} & set(dept.fields) else {}
    for file, child in listed_children(session, dept, region.code, today):
        criteria = (file.criteria or []) if file is not None else []
        guardian = guardians.get(child.id)
        values = {
            "child": child_reference(child.id), "file": file.reference if file is not None else "",
            "full_name": child.full_name, "resident_id": child.resident_id,
            "sex": child.sex, "birth_date": child.birth_date.isoformat(), "hukou_county": child.hukou_county_code,
            "residence_county": child.residence_county_code, "residence_area": child.residence_area_code,
            "residence_address": child.residence_address, "arrival_date": child.arrival_date.isoformat(),
            "family_hardship": "是" if KeyCareCriterion.family_hardship.value in criteria else "否",
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


def listed_children(session: Session, dept: Department, county_code: str, today: datetime.date):
    """``(key care file or None, child)`` of the children ``dept`` receives for ``county_code`` on ``today``, in a
    stable order: for the ``migrant`` scope every migrant child living in the county (:func:`careflow.unreferred.
    migrant_sql`, with the active file when there is one; streamed 1,000 rows at a time); otherwise the active key care
    files of the county, narrowed to school age (6–15) or the disability criterion by the scope."""
    if dept.scope == "migrant":
        query = (select(KeyCareFile, Child).select_from(Child)
                 .outerjoin(KeyCareFile, sa.and_(KeyCareFile.child_id == Child.id,
                                                 KeyCareFile.status == FileStatus.active.value))
                 .where(Child.residence_county_code == county_code, migrant_sql(today))
                 .order_by(Child.created_at, Child.id).execution_options(yield_per=1000))
        yield from session.exec(query)
        return
    files = session.exec(
        select(KeyCareFile, Child).join(Child, Child.id == KeyCareFile.child_id)
        .where(KeyCareFile.county_code == county_code, KeyCareFile.status == FileStatus.active.value)
        .order_by(KeyCareFile.id)).all()
    for file, child in files:
        if dept.scope == "school_age" and not 6 <= age_in_years(child.birth_date, today) <= 15:
            continue
        if dept.scope == "disability" and KeyCareCriterion.disability.value not in (file.criteria or []):
            continue
        yield file, child


def child_reference(child_id: uuid.UUID) -> str:
    """``CH-`` and the child's id in 32 hex digits: the key a department answers by for a child without a file."""
    return f"CH-{child_id.hex.upper()}"


def parse_child_reference(text: str) -> uuid.UUID | None:
    """The child id of ``"CH-…"`` (case and spaces tolerated), or None when ``text`` is not one."""
    match = re.fullmatch(r"\s*CH-?([0-9A-Fa-f]{32})\s*", str(text))
    return uuid.UUID(match.group(1)) if match else None


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


__all__ = ["DEPARTMENTS", "EXPORT_COLUMNS", "Department", "Export", "child_reference", "department",
           "export_for_department", "file_reference", "listed_children", "parse_child_reference"]
