"""Data sharing with departments (方案 一（三））: each gets only its fields and children; answers come back onto the
children (careflow.exchange.answers; what they propose: tests/careflow/test_data_exchange.py)."""
from __future__ import annotations

import csv
import datetime

import openpyxl
import pytest
from sqlmodel import select

from core.db import session_scope
from careflow.survey.importer import import_survey
from careflow.exchange.answers import import_department_answers
from careflow.survey.sharing import DEPARTMENTS, child_reference, export_for_department
from models.data_exchange import DepartmentAnswer
from models.audit import AuditEvent
from models.child import Child
from models.errors import error_text
from models.key_care_files import KeyCareFile
from tests.survey.files import SHANGHAI, rid, write_csv, write_xlsx

D = datetime.date
HEADER = ["姓名", "身份证号", "户籍地", "居住地", "村居代码", "来本地日期", "重点关爱情形", "监护人", "联系电话"]
COUNTY = "350302"


@pytest.fixture
def files(database_url, tmp_path):
    """Three key care targets in a county of its own for this test: a disabled 8-year-old, a 4-year-old in a poor
    family, a 12-year-old with missing guardianship; and one child who is not a key care target."""
    ids = {"disabled": rid("511321", D(2022, 5, 5)), "poor": rid("511321", D(2026, 1, 1)),
           "alone": rid("511321", D(2018, 2, 2)), "plain": rid("511321", D(2019, 3, 3))}
    rows = [HEADER,
            ["残八岁", ids["disabled"], "511321", COUNTY, "350302001001", "2028-01-01", "自身残疾", "残父", "13900000001"],
            ["穷三岁", ids["poor"], "511321", COUNTY, "350302001001", "2028-01-01", "家庭生活困难", "穷母", "13900000002"],
            ["独十二", ids["alone"], "511321", COUNTY, "350302002001", "2028-01-01", "监护缺失", "独奶", "13900000003"],
            ["普通", ids["plain"], "511321", COUNTY, "350302002001", "2028-01-01", "", "", ""]]
    import_survey(write_csv(tmp_path / "s.csv", rows), county=COUNTY, round_label="2030-04", today=D(2030, 5, 6),
                  now=datetime.datetime(2030, 5, 6, 9, tzinfo=SHANGHAI))
    with session_scope() as session:
        refs = {k: session.exec(select(KeyCareFile).join(Child, Child.id == KeyCareFile.child_id)
                                .where(Child.resident_id == v)).first() for k, v in ids.items()}
    return ids, {k: f.reference for k, f in refs.items() if f}


def read_csv(path):
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def mine(rows, refs):
    """The rows of the test's key care files (the file number is the first column, or the second after 儿童编号)."""
    column = 1 if rows[0][0] == "儿童编号" else 0
    return [r[column:] for r in rows[1:] if r[column] in refs.values()]


def test_each_department_gets_only_its_fields_and_children(files, tmp_path):
    ids, refs = files
    assert sorted(refs) == ["alone", "disabled", "poor"]
    on = D(2030, 5, 6)
    exported = {}
    with session_scope() as session:
        for code in DEPARTMENTS:
            path = tmp_path / f"{code}.csv"
            export_for_department(session, code, COUNTY, path, actor="ca.officer", today=on)
            exported[code] = read_csv(path)
    assert exported["police"][0] == ["档案编号", "姓名", "身份证号", "性别", "出生日期", "户籍地", "居住地（县区）",
                                     "居住地乡镇/村居代码", "居住地址", "来本地日期", "居住证办理情况"]
    assert exported["education"][0] == ["档案编号", "姓名", "身份证号", "性别", "出生日期", "居住地（县区）",
                                        "居住地乡镇/村居代码", "家庭生活困难", "就读学校", "学段", "就学状态", "教育资助情况"]
    assert exported["health"][0] == ["儿童编号", "档案编号", "姓名", "性别", "出生日期", "居住地（县区）", "居住地乡镇/村居代码",
                                     "基本公共卫生服务情况", "免疫规划接种情况"]
    assert exported["medical_insurance"][0] == ["儿童编号", "档案编号", "姓名", "身份证号", "居住地（县区）", "参保状态",
                                                "参保地", "险种"]
    assert exported["disabled_federation"][0] == ["档案编号", "姓名", "身份证号", "性别", "出生日期", "居住地（县区）",
                                                  "居住地乡镇/村居代码", "监护人", "监护人联系电话", "康复救助情况", "残疾人证"]
    # who is listed: every key care target for police; school age (6-15) for education; disability only for the
    # federation; every migrant child, key care or not, for health and insurance (流动儿童名单)
    assert sorted(r[0] for r in mine(exported["police"], refs)) == sorted(refs.values())
    for code in ("health", "medical_insurance"):
        assert sorted(r[0] for r in mine(exported[code], refs)) == sorted(refs.values())
    with session_scope() as session:
        plain = session.exec(select(Child).where(Child.resident_id == ids["plain"])).one()
    assert any(r[0] == child_reference(plain.id) and r[1] == "" for r in exported["medical_insurance"][1:])
    assert sorted(r[0] for r in mine(exported["education"], refs)) == sorted([refs["disabled"], refs["alone"]])
    assert [r[0] for r in mine(exported["disabled_federation"], refs)] == [refs["disabled"]]
    # no ID number where not needed, and no criterion beyond what the service needs
    for code, rows in exported.items():
        if code != "medical_insurance":
            assert all(ids["plain"] not in cell for r in rows for cell in r)
    assert not any(ids[k] in cell for r in exported["health"] for k in ids for cell in r)
    assert [r[7] for r in mine(exported["education"], refs)] == ["否", "否"]
    assert mine(exported["disabled_federation"], refs)[0][7:9] == ["残父", "13900000001"]
    with session_scope() as session:
        shared = session.exec(select(AuditEvent).where(AuditEvent.action == "survey.shared",
                                                       AuditEvent.entity_id == "education")).all()
        assert shared and shared[-1].detail["columns"] == list(DEPARTMENTS["education"].fields)


def answers_of(resident_id, department):
    with session_scope() as session:
        return [a.answers for a in session.exec(
            select(DepartmentAnswer).join(Child, Child.id == DepartmentAnswer.child_id)
            .where(Child.resident_id == resident_id, DepartmentAnswer.department == department)).all()]


def test_answers_come_back_onto_the_children(files, tmp_path):
    ids, refs = files
    with session_scope() as session:
        export_for_department(session, "education", COUNTY, tmp_path / "edu.xlsx", actor="ca.officer",
                              today=D(2030, 5, 6))
    book = openpyxl.load_workbook(tmp_path / "edu.xlsx")
    sheet = book.active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    for r in rows[1:]:
        if r[0] == refs["disabled"]:
            r[8:12] = ["城厢区第一实验小学", "小学", "在读", "两免一补"]
        if r[0] == refs["alone"]:
            r[8:12] = ["城厢区第二中学", "初中", "在读", ""]
    rows.append(["KF-0999999", "不存在", None, None, None, None, None, None, "某校", "小学", "在读", ""])
    answers = write_xlsx(tmp_path / "edu-answers.xlsx", rows)
    with session_scope() as session:
        report = import_department_answers(session, "education", answers, actor="ca.officer",
                                           now=datetime.datetime(2030, 6, 1, 9, tzinfo=SHANGHAI))
    assert report.updated == 2 and [(e[2], e[3]) for e in report.errors] == [("KF-0999999", "无此档案编号")]
    assert answers_of(ids["disabled"], "education") == [
        {"school": "城厢区第一实验小学", "stage": "小学", "enrolment": "在读", "education_aid": "两免一补"}]
    with session_scope() as session:  # the same file again: nothing is read twice
        again = import_department_answers(session, "education", answers, actor="ca.officer")
    assert again.already_imported and again.updated == 0

    insurance = write_csv(tmp_path / "ins.csv", [["身份证号", "参保状态", "参保地"],
                                                  [ids["poor"], "已参保", "城厢区"], [ids["plain"], "已参保", "城厢区"]],
                          encoding="utf-8-sig")
    with session_scope() as session:  # a migrant child without a key care file is answered for too
        report = import_department_answers(session, "medical_insurance", insurance, actor="ca.officer")
        assert (report.updated, report.errors) == (2, [])
    assert answers_of(ids["poor"], "medical_insurance") == [{"insurance": "已参保", "insured_place": "城厢区"}]

    rehab = write_csv(tmp_path / "rehab.csv", [["档案编号", "身份证号", "康复救助情况"],
                                                [refs["disabled"], ids["alone"], "已救助"]], encoding="utf-8-sig")
    with session_scope() as session:
        report = import_department_answers(session, "disabled_federation", rehab, actor="cdpf")
        assert report.updated == 0 and "不符" in report.errors[0][3]
        with pytest.raises(ValueError) as no_header:
            import_department_answers(session, "health", rehab, actor="x")
        assert "没有找到表头行" in error_text(no_header.value, "zh")
        assert "has no header row" in error_text(no_header.value, "en")
        with pytest.raises(ValueError, match="field 'department': 'tax'"):
            import_department_answers(session, "tax", rehab, actor="x")


def test_the_guardian_shared_is_the_one_the_latest_round_reported(database_url, tmp_path):
    """A guardian who changed between two rounds: the disabled persons' federation gets the later one."""
    county, child = "350305", rid("511321", D(2021, 7, 7))
    for label, guardian, phone, on in (("2030-04", "旧监护人", "13900000011", D(2030, 5, 6)),
                                       ("2030-10", "新监护人", "13900000022", D(2030, 11, 6))):
        rows = [HEADER, ["残九岁", child, "511321", county, "", "2028-01-01", "自身残疾", guardian, phone]]
        import_survey(write_csv(tmp_path / f"{label}.csv", rows), county=county, round_label=label, today=on,
                      now=datetime.datetime.combine(on, datetime.time(9), tzinfo=SHANGHAI))
    with session_scope() as session:
        export_for_department(session, "disabled_federation", county, tmp_path / "dpf.csv", actor="ca.officer",
                              today=D(2030, 11, 6))
    rows = read_csv(tmp_path / "dpf.csv")
    assert [(r[2], r[7], r[8]) for r in rows[1:]] == [(child, "新监护人", "13900000022")]
