"""What a county's file cannot do to the import (issue #16 part 4): NUL and other control characters in cells, and
dates that cannot be true for the child — each a bad row named by line and field; the good rows import (both
backends; PostgreSQL refuses NUL in text, so that is where a NUL used to crash the whole import)."""
from __future__ import annotations

import datetime

from sqlmodel import select

from core.db import session_scope
from careflow.survey.importer import import_survey
from models.survey import SurveyRecord, SurveyRowError
from tests.survey.files import SHANGHAI, rid, write_csv
from tests.survey.test_import import HEADER

D = datetime.date
TODAY = D(2026, 11, 2)
NOW = datetime.datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)


def row(number: str, name: str, resident_id: str, arrival: str = "2023-08-20", **cells) -> list[str]:
    values = ["", name, "", resident_id, "", "511321", "城厢区", "", arrival, "", "", "", "", ""]
    values[0] = number
    for index, value in cells.items():
        values[int(index[1:])] = value
    return values


def import_rows(tmp_path, rows, *, round_label="2026-10", encoding="utf-8"):
    path = write_csv(tmp_path / "城厢区摸排.csv", [HEADER, *rows], encoding=encoding)
    return import_survey(path, county="350302", round_label=round_label, actor="test.import", today=TODAY, now=NOW,
                         collect_rows=True)


def issues(report) -> list[tuple]:
    return [(o.line, [(i.field, i.column, i.code) for i in o.issues]) for o in report.rows if o.fate == "invalid"]


def stored(ids: list[str]) -> set[str]:
    with session_scope() as session:
        return set(session.exec(select(SurveyRecord.resident_id).where(SurveyRecord.resident_id.in_(ids))).all())


def test_nul_and_control_characters_in_cells_are_bad_rows_and_the_good_rows_import(database_url, tmp_path):
    ids = [rid("511321", D(2015, 7, day)) for day in range(1, 7)]
    rows = [
        row("1", "好\t孩子", ids[0]),                          # line 2: a tab inside a name is whitespace: fine
        row("2", "陈\x00小明", ids[1]),                         # line 3: NUL in the name
        row("3", "林小红", ids[2], c10="林\x00母"),               # line 4: NUL in the guardian's name
        row("4", "黄小华", ids[3], c7="35030200\x1b1"),           # line 5: ESC in the area code column
        row("5", "郑小东", ids[4], c13="备注\x00里的 NUL"),        # line 6: NUL in a column careflow ignores
        row("6", "吴小西", ids[5]),                            # line 7
    ]
    report = import_rows(tmp_path, rows)
    assert issues(report) == [(3, [("full_name", "姓名", "control_character")]),
                              (4, [("guardian_name", "监护人姓名", "control_character")]),
                              (5, [("residence_area_code", "乡镇/村居代码", "control_character")])]
    assert report.counts["inserted"] == 3 and report.counts["invalid"] == 3
    messages = {(e.line, e.field): (e.value, e.message) for e in report.errors}
    assert messages[(3, "full_name")] == ("陈\\x00小明", "第 2 个字符是控制字符 U+0000，请删除后重新导入")
    assert stored(ids) == {ids[0], ids[4], ids[5]}
    with session_scope() as session:  # the report is stored too (NUL shown, never stored)
        saved = session.exec(select(SurveyRowError).where(SurveyRowError.import_id == report.import_id)
                             .order_by(SurveyRowError.line)).all()
    assert [(e.line, e.field, e.value) for e in saved] == [(3, "full_name", "陈\\x00小明"),
                                                          (4, "guardian_name", "林\\x00母"),
                                                          (5, "residence_area_code", "35030200\\x1b1")]


def test_arrival_dates_that_cannot_be_true_are_bad_rows(database_url, tmp_path):
    born = D(2015, 8, 1)
    ids = [rid("511321", born) for _ in range(4)]
    rows = [
        row("1", "出生前", ids[0], "2015-07-31"),   # line 2: before birth
        row("2", "未来", ids[1], "2026-11-03"),     # line 3: after today (2026-11-02)
        row("3", "出生日", ids[2], "2015-08-01"),   # line 4: on the birth date: fine
        row("4", "轮后", ids[3], "2026-05-01"),     # line 5: after the April round's end (for that round only)
    ]
    report = import_rows(tmp_path, rows, round_label="2026-04")
    assert issues(report) == [(2, [("arrival_date", "来本地时间", "before_birth")]),
                              (3, [("arrival_date", "来本地时间", "in_future")]),
                              (5, [("arrival_date", "来本地时间", "after_round")])]
    messages = {e.line: e.message for e in report.errors}
    assert messages[2].startswith("2015-07-31 早于出生日期 2015-08-01")
    assert messages[5] == "2026-05-01 晚于本轮摸排的截止日期 2026-04-30"
    assert stored(ids) == {ids[2]}


def test_a_nul_in_a_header_or_title_cell_does_not_stop_the_import(database_url, tmp_path):
    number = rid("511321", D(2015, 7, 9))
    header = [*HEADER[:-1], "备\x00注"]
    path = write_csv(tmp_path / "标题.csv", [["莆田市城厢区\x00摸排表"], header, row("1", "好孩子", number)],
                     encoding="utf-8")
    report = import_survey(path, county="350302", round_label="2026-10", actor="test.import", today=TODAY, now=NOW)
    assert report.counts["inserted"] == 1 and stored([number]) == {number}
    assert "\x00" not in "".join(report.ignored_columns)
