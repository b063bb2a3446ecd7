"""Importing real-looking survey files (CSV in GB18030, XLSX with merged headers) with every defect a county's file
has: the exact per-row report, what is stored, and a re-import that changes nothing — on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime
import json

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from core.db import get_engine, session_scope
from careflow.survey.importer import import_survey
from careflow.survey.reader import SurveyFileError
from models.child import Child
from models.key_care_files import KeyCareDuty, KeyCareFile
from models.resident_id import mask_resident_id
from models.survey import SurveyImport, SurveyRecord, SurveyRowError
from models.task import AgencyTask
from tests.survey.files import SHANGHAI, rid, serial, with_wrong_check, write_csv, write_xlsx

D = datetime.date
TODAY = D(2026, 11, 2)
NOW = datetime.datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)

HEADER = ["序号", "姓名", "性别", "身份证号码", "出生日期", "户籍地", "居住地(县区)", "乡镇/村居代码", "来本地时间",
          "重点关爱服务对象情形", "监护人姓名", "与儿童关系", "联系电话", "备注"]


def csv_rows(ids: dict) -> list[list]:
    """The CSV's rows (line 1 = the title) and, in ``ids``, the ID numbers used."""
    ids.update(
        lost_x=rid("511321", D(2015, 3, 15), ends_x=True), good=rid("350823", D(2016, 5, 1)),
        local=rid("350302", D(2014, 7, 9)), central=rid("350303", D(2013, 1, 20)), aged=rid("511321", D(2010, 1, 1)),
        recent=rid("430521", D(2017, 2, 3)), bad=rid("511321", D(2015, 6, 6)), unknown=rid("511321", D(2015, 6, 7)),
        month=rid("511321", D(2015, 6, 8)), sex=rid("511321", D(2015, 6, 9)), birth=rid("511321", D(2015, 6, 10)),
        other=rid("511321", D(2015, 6, 11)), area=rid("511321", D(2015, 6, 12)), word=rid("511321", D(2015, 6, 13)),
        baddate=rid("511321", D(2015, 6, 14)), psy=rid("360731", D(2012, 12, 24)),
    )
    ids["bad_wrong"], ids["bad_right"] = with_wrong_check(ids["bad"])
    male_female = "女" if int(ids["sex"][16]) % 2 else "男"  # the wrong sex for that ID
    blank = [""] * len(HEADER)
    return [
        ["莆田市城厢区2026年10月流动儿童监测摸排表"] + [""] * (len(HEADER) - 1),                          # 1 title
        HEADER,                                                                                        # 2 header
        ["1", "陈 小明", "", ids["lost_x"][:17], "2015-03-15", "511321", "城厢区", "350302001001", "2023/8/20",
         "家庭生活困难、自身残疾", "陈大明", "父亲", "13800000001", ""],                                     # 3
        ["2", "林小红", "女" if int(ids["good"][16]) % 2 == 0 else "男", ids["good"], "2016年5月1日",
         "福建省龙岩市上杭县", "350302", "350302002001", "20230820", "无", "林母", "母亲", "13800000002", ""],  # 4
        blank,                                                                                         # 5 blank
        ["99"] + [""] * (len(HEADER) - 1),                                                             # 6 template
        ["3", "黄本地", "", ids["local"], "", "350302", "城厢区", "", "42078", "", "", "", "", ""],          # 7
        ["4", "郑涵江", "", ids["central"], "2013.1.20", "涵江区", "城厢区", "", "2015.3.15", "", "", "", "", ""],  # 8
        ["5", "吴满龄", "", ids["aged"], "", "511321", "城厢区", "", "2020-01-01", "流浪", "", "", "", ""],     # 9
        ["6", "周新到", "", ids["recent"], "", "430521", "城厢区", "", "2026年6月1日", "", "", "", "", ""],     # 10
        ["7", "错校验", "", ids["bad_wrong"], "", "511321", "城厢区", "", "2023-08-20", "", "", "", "", ""],   # 11
        ["8", "科学计数", "", "3.50302E+17", "", "511321", "城厢区", "", "2023-08-20", "", "", "", "", ""],    # 12
        ["9", "无此县", "", ids["unknown"], "", "仪陇", "城厢区", "", "2023-08-20", "", "", "", "", ""],       # 13
        ["10", "缺日", "", ids["month"], "", "511321", "城厢区", "", "2023年8月", "", "", "", "", ""],         # 14
        ["11", "林小红", "女" if int(ids["good"][16]) % 2 == 0 else "男", ids["good"], "2016年5月1日",
         "福建省龙岩市上杭县", "350302", "350302002001", "20230820", "无", "林母", "母亲", "13800000002", "重复"],  # 15
        ["12", "陈晓明", "", ids["lost_x"], "", "511321", "城厢区", "350302001001", "2023/8/20", "", "", "", "", ""],  # 16
        ["13", "性别错", male_female, ids["sex"], "", "511321", "城厢区", "", "2023-08-20", "", "", "", "", ""],  # 17
        ["14", "生日错", "", ids["birth"], "2015-06-11", "511321", "城厢区", "", "2023-08-20", "", "", "", "", ""],  # 18
        ["15", "外县", "", ids["other"], "", "511321", "上杭县", "", "2023-08-20", "", "", "", "", ""],        # 19
        ["16", "外村", "", ids["area"], "", "511321", "城厢区", "350823100001", "2023-08-20", "", "", "", "", ""],  # 20
        ["17", "单亲", "", ids["word"], "", "511321", "城厢区", "", "2023-08-20", "单亲", "", "", "", ""],     # 21
        ["18", "无效日", "", ids["baddate"], "", "511321", "城厢区", "", "2023-02-30", "", "", "", "", ""],    # 22
        ["19", "", "", "", "", "511321", "城厢区", "", "2023-08-20", "", "", "", "", ""],                     # 23
        ["20", "何心怡", "", ids["psy"], "2012-12-24", "360731", "城厢区", "350302002001", "2019年9月1日",
         "心理行为异常", "何父", "父亲", "13800000020", ""],                                                # 24
    ]


def outcome_table(report) -> list[tuple]:
    return [(o.line, o.fate, o.note, [(i.field, i.column, i.value, i.code) for i in o.issues]) for o in report.rows]


#: How the file is parsed: all in one chunk here; by two child processes taking turns at blocks of three lines (a
#: repeated ID number meets its first line in an earlier chunk); here in blocks of two with every ID number looking
#: seen before (the
#: import's bitmap of seen ID numbers made to answer "maybe" every time, so the database settles every row).
PARSING = {"here": dict(workers=0), "child_processes": dict(workers=2, chunk_rows=3),
           "every_id_suspect": dict(workers=0, chunk_rows=2)}


@pytest.mark.parametrize("parsing", PARSING)
def test_csv_with_every_defect_gives_the_exact_report_and_stores_only_good_rows(database_url, tmp_path, parsing,
                                                                                 monkeypatch):
    if parsing == "every_id_suspect":
        monkeypatch.setattr("careflow.survey.parsing.SeenIds.BITS", 8)
    ids: dict = {}
    path = write_csv(tmp_path / "城厢区2026年10月摸排.csv", csv_rows(ids))
    report = import_survey(path, county="350302", round_label="2026-10", actor="test.import", today=TODAY, now=NOW,
                           collect_rows=True, **PARSING[parsing])

    assert report.counts == dict(read=20, blank=2, invalid=12, duplicate=1, inserted=7, updated=0, unchanged=0,
                                 migrant=3, key_care=2, found_later=0)
    assert outcome_table(report) == [
        (3, "inserted", "", []),
        (4, "inserted", "", []),
        (7, "inserted", "", []),
        (8, "inserted", "", []),
        (9, "inserted", "", []),
        (10, "inserted", "", []),
        (11, "invalid", "", [("resident_id", "身份证号码", ids["bad_wrong"], "checksum")]),
        (12, "invalid", "", [("resident_id", "身份证号码", "3.50302E+17", "number_lost_digits")]),
        (13, "invalid", "", [("hukou_county", "户籍地", "仪陇", "unknown_region")]),
        (14, "invalid", "", [("arrival_date", "来本地时间", "2023年8月", "incomplete_date")]),
        (15, "duplicate", "same as line 4", []),
        (16, "invalid", "", [("resident_id", "身份证号码", ids["lost_x"], "duplicate_conflict")]),
        (17, "invalid", "", [("sex", "性别", "女" if int(ids["sex"][16]) % 2 else "男", "mismatch")]),
        (18, "invalid", "", [("birth_date", "出生日期", "2015-06-11", "mismatch")]),
        (19, "invalid", "", [("residence_county", "居住地(县区)", "上杭县", "other_county")]),
        (20, "invalid", "", [("residence_area_code", "乡镇/村居代码", "350823100001", "other_county")]),
        (21, "invalid", "", [("key_care", "重点关爱服务对象情形", "单亲", "unknown_criterion")]),
        (22, "invalid", "", [("arrival_date", "来本地时间", "2023-02-30", "invalid_date")]),
        (23, "invalid", "", [("resident_id", "身份证号码", "", "required"), ("full_name", "姓名", "", "required")]),
        (24, "inserted", "", []),
    ]
    messages = {(e.line, e.code): e.message for e in report.errors}
    assert messages[(11, "checksum")] == f"校验码错误，应为 {ids['bad_right']}"
    assert messages[(16, "duplicate_conflict")] == "身份证号与第 3 行重复且其他内容不同，保留第 3 行"
    assert [(n.line, n.code, n.value) for n in report.notes] == [(3, "lost_x_recovered", ids["lost_x"][:17])]
    assert report.columns["residence_area_code"] == "乡镇/村居代码" and report.ignored_columns == ["序号", "备注"]
    assert report.files == dict(opened=2, reopened=0, updated=0, closed=0)
    assert report.duties == dict(created=4, cancelled=0, assessments=2) and report.unrouted == {}

    with session_scope() as session:
        stored = {c.resident_id: c for c in session.exec(select(Child).where(Child.resident_id.in_(list(ids.values()))))}
        assert sorted(stored) == sorted([ids[k] for k in ("lost_x", "good", "local", "central", "aged", "recent", "psy")])
        child = stored[ids["lost_x"]]  # the X recovered; a single space inside a name is kept as written
        assert (child.full_name, child.sex, child.birth_date, child.hukou_county_code, child.residence_county_code,
                child.residence_area_code, child.arrival_date, child.key_care_criteria, child.created_by) == (
            "陈 小明", "男" if int(ids["lost_x"][16]) % 2 else "女", D(2015, 3, 15), "511321", "350302",
            "350302001001", D(2023, 8, 20), ["disability", "family_hardship"], "test.import")
        assert stored[ids["good"]].hukou_county_code == "350823"
        assert stored[ids["local"]].arrival_date == D(2015, 3, 15)  # Excel serial 42078
        records = {r.resident_id: r for r in session.exec(
            select(SurveyRecord).where(SurveyRecord.round_id == report.round_id))}
        classified = {k: (records[ids[k]].is_migrant, records[ids[k]].not_migrant_reasons, records[ids[k]].is_key_care)
                      for k in ("lost_x", "good", "local", "central", "aged", "recent", "psy")}
        assert classified == {
            "lost_x": (True, "", True), "good": (True, "", False), "local": (False, "same_county", False),
            "central": (False, "central_districts_same_city", False), "aged": (False, "aged_out", False),
            "recent": (False, "resided_under_6_months", False), "psy": (True, "", True),
        }
        assert (records[ids["lost_x"]].line, records[ids["lost_x"]].guardian_name, records[ids["lost_x"]].import_id) == (
            3, "陈大明", report.import_id)
        errors = session.exec(select(SurveyRowError).where(SurveyRowError.import_id == report.import_id)
                              .order_by(SurveyRowError.line, SurveyRowError.id)).all()
        assert [(e.line, e.field, e.value, e.code) for e in errors] == [
            (i.line, i.field, i.value, i.code) for o in report.rows for i in o.issues]
        imported = session.get(SurveyImport, report.import_id)
        assert (imported.status, imported.rows_read, imported.rows_invalid, imported.rows_inserted,
                imported.file_format) == ("completed", 20, 12, 7, "csv")
        files = session.exec(select(KeyCareFile).join(Child, Child.id == KeyCareFile.child_id)
                             .where(Child.resident_id.in_([ids["lost_x"], ids["psy"]]))).all()
        duties = sorted((t.duty_key.split(":")[0], t.duty_key.split(":")[2], t.unit_code, t.due_at) for t, _ in session.exec(
            select(AgencyTask, KeyCareDuty).join(KeyCareDuty, KeyCareDuty.task_id == AgencyTask.id)
            .where(KeyCareDuty.file_id.in_([f.id for f in files]))))
    end_nov = datetime.datetime(2026, 11, 30, 23, 59, 59, tzinfo=SHANGHAI)
    visit = datetime.datetime(2027, 2, 2, 23, 59, 59, tzinfo=SHANGHAI)
    assert duties == sorted([
        ("contact", "2026-11", "village_committee-350302001001", end_nov),
        ("contact", "2026-11", "village_committee-350302002001", end_nov),
        ("visit", "2027-02-02", "village_committee-350302001001", visit),
        ("visit", "2027-02-02", "village_committee-350302002001", visit),
    ])


def snapshot(database_url: str, resident_ids: list[str]) -> dict:
    """Everything an import may write, for the children of a test (and whole-table counts)."""
    engine = get_engine(database_url)
    # Tasks, their messages and cases of the test's clock only (stamped before the real today): a flow run that an
    # earlier test started may still write at the real time, in the served runner, while this test runs.
    stamped = {"agency_task": "requested_at <= :until", "case": "opened_at <= :until",
               "notification": 'task_id IN (SELECT id FROM agency_task WHERE requested_at <= :until)'}
    until = NOW + datetime.timedelta(days=1)
    with engine.connect() as conn:
        counts = {t: conn.execute(sa.text(f'SELECT COUNT(*) FROM "{t}" WHERE {stamped.get(t, "TRUE")}'),
                                  {"until": until}).scalar_one() for t in (
            "child", "survey_record", "key_care_file", "key_care_duty", "agency_task", "notification", "case")}
    with session_scope() as session:
        children = session.exec(select(Child).where(Child.resident_id.in_(resident_ids))).all()
        records = session.exec(select(SurveyRecord).where(SurveyRecord.resident_id.in_(resident_ids))).all()
        files = session.exec(select(KeyCareFile).where(KeyCareFile.child_id.in_([c.id for c in children]))).all()
        return {
            "counts": counts,
            "children": sorted(json.dumps(c.model_dump(mode="json"), sort_keys=True) for c in children),
            "records": sorted(json.dumps(r.model_dump(mode="json"), sort_keys=True) for r in records),
            "files": sorted(json.dumps(f.model_dump(mode="json"), sort_keys=True) for f in files),
        }


def test_reimporting_the_same_file_changes_nothing(database_url, tmp_path):
    ids: dict = {}
    path = write_csv(tmp_path / "survey.csv", csv_rows(ids))
    first = import_survey(path, county="350302", round_label="2026-10", today=TODAY, now=NOW)
    before = snapshot(database_url, list(ids.values()))
    later = NOW + datetime.timedelta(hours=3)
    again = import_survey(path, county="350302", round_label="2026-10", today=TODAY, now=later, collect_rows=True)
    assert snapshot(database_url, list(ids.values())) == before
    assert before["counts"]["agency_task"] >= first.duties["created"] > 0  # the import's own tasks are counted
    assert first.counts["inserted"] == 7
    assert again.counts == dict(read=20, blank=2, invalid=12, duplicate=1, inserted=0, updated=0, unchanged=7,
                                migrant=3, key_care=2, found_later=0)
    assert [o.fate for o in again.rows if o.fate not in ("invalid", "duplicate")] == ["unchanged"] * 7
    assert again.files == dict(opened=0, reopened=0, updated=0, closed=0) and again.duties["created"] == 0


def test_a_corrected_file_updates_and_inserts_what_changed(database_url, tmp_path):
    ids: dict = {}
    rows = csv_rows(ids)
    import_survey(write_csv(tmp_path / "v1.csv", rows), county="350302", round_label="2026-10", today=TODAY, now=NOW)
    rows[3][1] = "林小虹"                  # line 4: the name corrected
    rows[10][3] = ids["bad"]              # line 11: the check digit corrected
    rows[2][12] = "13900000001"           # line 3: a new guardian phone (only the round's record changes)
    report = import_survey(write_csv(tmp_path / "v2.csv", rows, encoding="utf-8-sig"), county="350302",
                           round_label="2026-10", today=TODAY, now=NOW, collect_rows=True)
    fates = {o.line: o.fate for o in report.rows}
    assert (fates[3], fates[4], fates[11], fates[7]) == ("updated", "updated", "inserted", "unchanged")
    assert report.counts["inserted"] == 1 and report.counts["updated"] == 2 and report.counts["unchanged"] == 5
    assert fates[15] == "invalid"  # line 15 repeated line 4 as it was: now it contradicts it
    with session_scope() as session:
        child = session.exec(select(Child).where(Child.resident_id == ids["good"])).one()
        assert child.full_name == "林小虹"
        record = session.exec(select(SurveyRecord).where(SurveyRecord.resident_id == ids["lost_x"])).one()
        assert (record.guardian_phone, record.import_id) == ("13900000001", report.import_id)


def xlsx_rows(ids: dict) -> tuple[list[list], list[str]]:
    ids.update(lost_x=rid("511321", D(2015, 3, 15), ends_x=True), good=rid("511321", D(2016, 5, 1)),
               local=rid("350302", D(2014, 7, 9)), month=rid("511321", D(2015, 6, 8)), word=rid("511321", D(2015, 6, 13)))
    rows = [
        ["莆田市城厢区2026年10月流动儿童监测摸排表"],                                                    # 1 (merged A1:M1)
        ["序号", "姓名", "性别", "公民身份号码", "出生日期", "户籍地", "居住地", None, "来本地日期", "重点关爱情形",
         "监护人", None, None],                                                                        # 2
        [None, None, None, None, None, None, "县（区）", "乡镇/村居代码", None, None, "姓名", "关系", "联系电话"],  # 3
        [1, "陈小明", None, int(ids["lost_x"][:17]), datetime.datetime(2015, 3, 15), "511321", "城厢区",
         "350302001001", serial(D(2023, 8, 20)), "家庭生活困难", "陈大明", "父亲", "13800000001"],            # 4
        [2, "林小红", None, ids["good"], "2016/5/1", 511321, "350302", 350302002001, datetime.datetime(2023, 1, 5),
         None, "林母", "母亲", 13800000002],                                                           # 5
        [],                                                                                            # 6
        [3, "数字号", None, float(f'{float(ids["good"][:17] + "1"):.15g}'), None, "511321", "城厢区", None, "2023-08-20", None, None,
         None, None],                                                                                  # 7
        [4, "黄本地", "男" if int(ids["local"][16]) % 2 else "女", ids["local"], 20140709, "350302", "城厢区", None,
         42078, "无", None, None, None],                                                               # 8
        [5, "林小红", None, ids["good"], "2016/5/1", 511321, "350302", 350302002001, datetime.datetime(2023, 1, 5),
         None, "林母", "母亲", 13800000002],                                                           # 9
        [6, "缺日", None, ids["month"], None, "511321", "城厢区", None, "2023年8月", None, None, None, None],  # 10
        [7, "单亲", None, ids["word"], None, "511321", "城厢区", None, "2023-08-20", "单亲", None, None, None],  # 11
    ]
    merges = ["A1:M1", "A2:A3", "B2:B3", "C2:C3", "D2:D3", "E2:E3", "F2:F3", "G2:H2", "I2:I3", "J2:J3", "K2:M2"]
    return rows, merges


def test_xlsx_with_merged_headers_number_cells_and_excel_dates(database_url, tmp_path):
    ids: dict = {}
    rows, merges = xlsx_rows(ids)
    path = write_xlsx(tmp_path / "摸排.xlsx", rows, merges=merges)
    report = import_survey(path, county="350302", round_label="2026-10", today=TODAY, now=NOW, collect_rows=True)
    assert report.file_format == "xlsx"
    assert report.columns == {
        "full_name": "姓名", "sex": "性别", "resident_id": "公民身份号码", "birth_date": "出生日期",
        "hukou_county": "户籍地", "residence_county": "居住地/县（区）", "residence_area_code": "居住地/乡镇/村居代码",
        "arrival_date": "来本地日期", "key_care": "重点关爱情形", "guardian_name": "监护人/姓名",
        "guardian_relation": "监护人/关系", "guardian_phone": "监护人/联系电话"}
    lost_digits = str(float(f'{float(ids["good"][:17] + "1"):.15g}'))  # what Excel keeps: 15 digits
    assert outcome_table(report) == [
        (4, "inserted", "", []),
        (5, "inserted", "", []),
        (7, "invalid", "", [("resident_id", "公民身份号码", lost_digits, "number_lost_digits")]),
        (8, "inserted", "", []),
        (9, "duplicate", "same as line 5", []),
        (10, "invalid", "", [("arrival_date", "来本地日期", "2023年8月", "incomplete_date")]),
        (11, "invalid", "", [("key_care", "重点关爱情形", "单亲", "unknown_criterion")]),
    ]
    assert report.counts["blank"] == 1
    assert [(n.line, n.code) for n in report.notes] == [(4, "lost_x_recovered")]
    with session_scope() as session:
        stored = {c.resident_id: c for c in session.exec(select(Child).where(Child.resident_id.in_(list(ids.values()))))}
        assert (stored[ids["lost_x"]].arrival_date, stored[ids["lost_x"]].key_care_criteria) == (
            D(2023, 8, 20), ["family_hardship"])
        assert (stored[ids["good"]].hukou_county_code, stored[ids["good"]].residence_area_code,
                stored[ids["good"]].arrival_date) == ("511321", "350302002001", D(2023, 1, 5))
        assert stored[ids["local"]].arrival_date == D(2015, 3, 15)
        record = session.exec(select(SurveyRecord).where(SurveyRecord.resident_id == ids["good"])).one()
        assert (record.guardian_name, record.guardian_relation, record.guardian_phone) == ("林母", "母亲", "13800000002")


def test_a_file_without_the_required_columns_imports_nothing(database_url, tmp_path):
    path = write_csv(tmp_path / "bad.csv", [["姓名", "身份证号", "性别"], ["张三", rid(), "男"]])
    with pytest.raises(SurveyFileError, match="户籍地、来本地日期、重点关爱情形") as refused:
        import_survey(path, county="350302", round_label="2026-10", today=TODAY, now=NOW)
    assert refused.value.text("en") == ("bad.csv: required columns missing: 户籍地, 来本地日期, 重点关爱情形 "
                                        "(the file's columns: 姓名, 身份证号, 性别)")
    with pytest.raises(ValueError, match="field 'round'"):
        import_survey(path, county="350302", round_label="2026-09", today=TODAY, now=NOW)
    with pytest.raises(ValueError, match="field 'county'"):
        import_survey(path, county="莆田市", round_label="2026-10", today=TODAY, now=NOW)


def test_masked_ids_in_row_outcomes(database_url, tmp_path):
    ids: dict = {}
    report = import_survey(write_csv(tmp_path / "s.csv", csv_rows(ids)), county="350302", round_label="2026-10",
                           today=TODAY, now=NOW, collect_rows=True)
    assert report.rows[0].resident_id == mask_resident_id(ids["lost_x"])


def test_a_later_file_mixing_new_and_known_children_in_small_chunks(database_url, tmp_path):
    """Chunks of new children go in straight; a chunk holding a known child falls back to the full merge (the
    savepoint undoes the attempt); the fates come out the same either way."""
    ids: dict = {}
    rows = csv_rows(ids)
    import_survey(write_csv(tmp_path / "v1.csv", rows[:4]), county="350302", round_label="2026-10", today=TODAY,
                  now=NOW)  # lines 3-4: two children
    report = import_survey(write_csv(tmp_path / "v2.csv", rows), county="350302", round_label="2026-10", today=TODAY,
                           now=NOW, collect_rows=True, chunk_rows=2)
    fates = {o.line: o.fate for o in report.rows if o.fate != "invalid"}
    assert fates == {3: "unchanged", 4: "unchanged", 7: "inserted", 8: "inserted", 9: "inserted", 10: "inserted",
                     15: "duplicate", 24: "inserted"}
    assert report.counts["inserted"] == 5 and report.counts["unchanged"] == 2 and report.counts["duplicate"] == 1
    with session_scope() as session:
        records = session.exec(select(SurveyRecord).where(SurveyRecord.round_id == report.round_id,
                                                          SurveyRecord.resident_id.in_(list(ids.values())))).all()
        assert sorted(r.line for r in records) == [3, 4, 7, 8, 9, 10, 24]


def test_special_characters_in_cells_are_stored_as_written(database_url, tmp_path):
    """Rows reach PostgreSQL as COPY text: a backslash, a tab or a line break inside a cell must not shift fields."""
    ids: dict = {}
    rows = csv_rows(ids)[:4]
    rows[2][10], rows[2][11], rows[3][10] = "陈\\大明", "父\t亲", "林\n母"
    report = import_survey(write_csv(tmp_path / "s.csv", rows), county="350302", round_label="2026-10", today=TODAY,
                           now=NOW)
    assert report.counts["inserted"] == 2
    with session_scope() as session:
        stored = {r.resident_id: (r.guardian_name, r.guardian_relation) for r in session.exec(
            select(SurveyRecord).where(SurveyRecord.resident_id.in_([ids["lost_x"], ids["good"]])))}
    assert stored == {ids["lost_x"]: ("陈\\大明", "父\t亲"), ids["good"]: ("林\n母", "母亲")}


def test_lookups_in_a_round_that_is_filling_up_stay_index_probes(database_url, tmp_path):
    """While a new round fills up, PostgreSQL's statistics know none of its records (they were gathered after the
    last round). Lookups of this round's records by ID number must still be one index probe each: planned as a
    join, they became one scan of the whole round per line (a million-row second round took minutes). SQLite's
    planner made the same scan of a join written in the wrong order (15 s a million rows)."""
    from careflow.survey.importer import get_or_create_round
    from careflow.survey.merge import Merger
    from careflow.survey.merge_sql import new_child_id_prefix
    from careflow.survey.parsing import Chunk
    from careflow.survey.validate import RowValidator
    from careflow.survey.reader import open_survey
    from models.regions import get_county
    from models.survey import RoundLabel

    born = [D(2012, 1, 1) + datetime.timedelta(days=3 * i) for i in range(300)]
    rows = [HEADER] + [[str(i), f"儿童{i}", "", rid("511321", day), "", "511321", "城厢区", "", "2020-01-01", "",
                        "", "", "", ""] for i, day in enumerate(born)]
    path = write_csv(tmp_path / "round.csv", rows)
    first = import_survey(path, county="350302", round_label="2025-04", today=TODAY, now=NOW)
    assert first.counts["inserted"] == 300  # the import ends with ANALYZE: the statistics know round 2025-04 only

    engine = get_engine(database_url)
    with engine.connect() as conn, conn.begin():
        session = Session(bind=conn)
        later = get_or_create_round(session, "350302", RoundLabel.parse("2025-10"))
        with open_survey(path) as sheet:
            prefix = new_child_id_prefix()
            validator = RowValidator(sheet.header, get_county("350302"), later.as_of, today=TODAY, copy_lines=True,
                                     id_prefix=prefix)
            lines = [validator.validate(line, cells).copy_line for line, cells in sheet.rows]
            merger = Merger(conn, import_id=first.import_id + 1000, round_id=later.id, county="350302",
                            present=set(sheet.header.columns), id_column="身份证号码", actor="test", now=NOW,
                            collect_rows=False, id_prefix=prefix)
        params = {"round": later.id, "import": merger.import_id, "now": NOW, "actor": "test",
                  "id_prefix": merger.id_prefix}
        ids = [line.split("\t")[1] for line in lines]
        if not merger.pg:
            plans = {
                "known": conn.execute(sa.text("EXPLAIN QUERY PLAN " + merger.sql.sql_known.text), params).all(),
                "earlier lines": conn.execute(sa.text("EXPLAIN QUERY PLAN " + merger.sql.sql_earlier.text).bindparams(
                    sa.bindparam("ids", expanding=True), sa.bindparam("ids2", expanding=True)),
                    {**params, "ids": ids, "ids2": ["x"]}).all(),
            }
            for name, plan in plans.items():
                steps = [row[-1] for row in plan if " r " in f"{row[-1]} " or "survey_record" in row[-1]]
                assert steps and all(step.startswith("SEARCH") and "child_id=?" in step for step in steps), (
                    name, [row[-1] for row in plan])
            conn.rollback()
            return
        merger._load_chunk(Chunk(copy_text="".join(lines), loaded=len(lines)))
        conn.exec_driver_sql("ANALYZE survey_chunk")
        plans = {
            "known": conn.execute(sa.text("EXPLAIN " + merger.sql.sql_known.text), params).scalars().all(),
            "earlier lines": conn.execute(
                sa.text("EXPLAIN " + merger.sql.sql_earlier.text).bindparams(sa.bindparam("ids2", expanding=True)),
                {**params, "ids": ids, "ids2": ["x"]}).scalars().all(),
        }
        for name, plan in plans.items():
            text = "\n".join(plan)
            probes = [i for i, step in enumerate(plan) if "pk_survey_record" in step]
            assert probes, f"{name}: no index probe of survey_record:\n{text}"
            for i in probes:  # the index condition names the child, and nothing filters a whole round
                assert "child_id" in plan[i + 1], f"{name}:\n{text}"
            assert "Join Filter" not in text, f"{name}:\n{text}"
        conn.rollback()


@pytest.mark.parametrize("workers", [0, 1])
def test_a_file_unreadable_part_way_imports_nothing_and_names_the_line(database_url, tmp_path, workers):
    """A line that is not text in the file's encoding stops the import with its line number, whether the file is
    parsed here or in a parser process; nothing of the file is kept."""
    ids: dict = {}
    path = write_csv(tmp_path / "broken.csv", csv_rows(ids)[:4], encoding="utf-8")
    padding = 80_000  # blank rows, so that the bad line lies past the part read to detect the encoding (1 MB)
    with open(path, "ab") as handle:
        handle.write(b",,,,,,,,,,,,,\r\n" * padding + "21,坏行,,".encode() + b"\xff\xfe\r\n")
    bad_line = 4 + padding + 1
    with pytest.raises(SurveyFileError, match=f"第 {bad_line} 行无法按 utf-8 编码读取") as refused:
        import_survey(path, county="350302", round_label="2026-10", today=TODAY, now=NOW, workers=workers)
    assert refused.value.text("en").startswith(f"broken.csv: line {bad_line} cannot be read as utf-8 (")
    with session_scope() as session:
        assert session.exec(select(Child).where(Child.resident_id.in_([ids["lost_x"], ids["good"]]))).all() == []
        failed = session.exec(select(SurveyImport).where(SurveyImport.file_name == "broken.csv")
                              .order_by(SurveyImport.id.desc())).first()
        assert failed.status == "failed" and f"第 {bad_line} 行" in failed.detail["error"]


def test_every_opened_file_is_audited_once_by_the_import_that_opened_it(database_url, tmp_path):
    """A file opened with its chunk (a child new to careflow) and one opened by the closing pass (a known child who
    became a key care target) each get one ``key_care_file.opened`` event naming the import."""
    from models.audit import AuditEvent

    ids: dict = {}
    rows = csv_rows(ids)[:4]                 # line 3: a key care target; line 4: not one
    first = import_survey(write_csv(tmp_path / "v1.csv", rows), county="350302", round_label="2026-10", today=TODAY,
                          now=NOW)
    rows[3][9] = "家庭生活困难"                # line 4 becomes a key care target in the next round
    # (a round no other test of the session's database uses: rounds' changes are compared county-wide)
    later = import_survey(write_csv(tmp_path / "v2.csv", rows), county="350302", round_label="2031-10",
                          today=D(2031, 11, 2), now=NOW.replace(year=2031))
    assert (first.files["opened"], later.files["opened"]) == (1, 1)
    with session_scope() as session:
        files = {f.child_id: f.id for f in session.exec(select(KeyCareFile).join(Child).where(
            Child.resident_id.in_([ids["lost_x"], ids["good"]])))}
        children = {c.resident_id: c.id for c in session.exec(select(Child).where(
            Child.resident_id.in_([ids["lost_x"], ids["good"]])))}
        events = session.exec(select(AuditEvent).where(
            AuditEvent.action == "key_care_file.opened",
            AuditEvent.entity_id.in_([str(f) for f in files.values()]))).all()
    assert sorted((e.entity_id, e.detail["import_id"]) for e in events) == sorted([
        (str(files[children[ids["lost_x"]]]), first.import_id), (str(files[children[ids["good"]]]), later.import_id)])


def test_a_round_opens_on_the_first_day_of_the_month_before_it(database_url, tmp_path):
    """Counties are reminded of a round the month before (2030-04: from 1 March 2030); a round still further off is
    refused before anything is written."""
    path = write_csv(tmp_path / "early.csv", [HEADER, ["1", "早", "", rid("511321", D(2016, 2, 2)), "", "511321",
                                                       "350303", "", "2022-01-01", "", "", "", "", ""]])
    with pytest.raises(ValueError, match=r"field 'round': round 2030-04 has not begun .* from 2030-03-01"):
        import_survey(path, county="350303", round_label="2030-04", today=D(2030, 2, 28),
                      now=datetime.datetime(2030, 2, 28, 9, tzinfo=SHANGHAI))
    report = import_survey(path, county="350303", round_label="2030-04", today=D(2030, 3, 1),
                           now=datetime.datetime(2030, 3, 1, 9, tzinfo=SHANGHAI))
    assert report.counts["inserted"] == 1
