"""Department exports (CSV and XLSX) write a cell that begins like a formula as text, and survive control
characters in a child's record (issue #16: a NUL used to crash the XLSX export with IllegalCharacterError)."""
from __future__ import annotations

import csv
import datetime

import openpyxl
import pytest
from sqlmodel import select

from core.db import session_scope
from careflow.survey.importer import import_survey
from careflow.survey.sharing import export_for_department
from models.child import Child
from tests.survey.files import SHANGHAI, rid, write_csv

D = datetime.date
COUNTY = "350304"
HEADER = ["姓名", "身份证号", "户籍地", "居住地", "村居代码", "来本地日期", "重点关爱情形", "监护人", "联系电话"]


@pytest.fixture
def hostile_child(database_url, tmp_path):
    """A key care target whose address and guardian begin like formulas and whose address holds control
    characters (written straight into the database, as an older import or another system could have)."""
    number = rid("511321", D(2020, 6, 6))
    rows = [HEADER, ["公式童", number, "511321", COUNTY, "", "2028-01-01", "自身残疾", "监护人", "13900000009"]]
    import_survey(write_csv(tmp_path / "s.csv", rows), county=COUNTY, round_label="2030-04", today=D(2030, 5, 6),
                  now=datetime.datetime(2030, 5, 6, 9, tzinfo=SHANGHAI))
    address = "=1+1\x01\x0b" + ("" if "postgresql" in database_url else "\x00")  # PostgreSQL never stores a NUL
    with session_scope() as session:
        child = session.exec(select(Child).where(Child.resident_id == number)).one()
        child.residence_address = address
        child.full_name = "@SUM(A1)"
    return number


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_formulas_arrive_as_text(hostile_child, tmp_path, fmt):
    path = tmp_path / f"police.{fmt}"
    with session_scope() as session:
        export_for_department(session, "police", COUNTY, path, actor="ca.officer", today=D(2030, 5, 6))
    if fmt == "csv":
        with open(path, encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle))
    else:
        book = openpyxl.load_workbook(path)
        sheet = book.worksheets[0]
        assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    mine = [r for r in rows[1:] if r[2] == hostile_child]
    assert len(mine) == 1
    assert mine[0][1] == "'@SUM(A1)" and mine[0][8] == "'=1+1"
