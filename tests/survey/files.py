"""Real-looking survey files, the way counties send them, with every defect the importer must survive."""
from __future__ import annotations

import datetime
import re
import zipfile
from pathlib import Path

from models.resident_id import check_character
from tests.factories import make_resident_id

SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))


def rid(county: str = "511321", birth: datetime.date = datetime.date(2015, 3, 15), *, ends_x: bool = False) -> str:
    """A fresh valid ID (unique in the test session); ``ends_x`` for one whose check character is X."""
    while True:
        number = make_resident_id(county, birth)
        if number.endswith("X") == ends_x:
            return number


def with_wrong_check(number: str) -> str:
    """``number`` with a wrong check character (and the right one)."""
    right = check_character(number[:17])
    wrong = "1" if right != "1" else "2"
    return number[:17] + wrong, right


def serial(day: datetime.date) -> int:
    """The Excel serial number of ``day``."""
    return (day - datetime.date(1899, 12, 30)).days


def write_xlsx(path: Path, rows: list[list], *, merges: list[str] = (), exact_ints: bool = True) -> Path:
    """An .xlsx with ``rows`` (row 1 first) and merged ranges; ints of 16+ digits are stored exactly as a
    spreadsheet program that keeps them (openpyxl would write them as floats with 15 digits), floats as floats."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "摸排表"
    marked = {}
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**15 and exact_ints:
                marker = f"EXACTINT{len(marked)}X"
                marked[marker] = value
                value = marker
            if value is not None:
                sheet.cell(row=r, column=c, value=value)
    for cells in merges:
        sheet.merge_cells(cells)
    book.save(path)
    if marked:  # rewrite each marker as a number cell holding all its digits
        with zipfile.ZipFile(path) as source:
            contents = {name: source.read(name) for name in source.namelist()}
        shared = contents.get("xl/sharedStrings.xml", b"").decode("utf-8")
        strings = re.findall(r"<si>(.*?)</si>", shared, flags=re.S)
        index = {re.sub(r"<.*?>", "", s): i for i, s in enumerate(strings)}
        sheet_xml = contents["xl/worksheets/sheet1.xml"].decode("utf-8")
        for marker, value in marked.items():
            if marker in index:  # shared string cell: <c r="D5" t="s"><v>12</v></c>
                sheet_xml = re.sub(rf'<c r="([A-Z]+\d+)"( s="\d+")? t="s"><v>{index[marker]}</v></c>',
                                   rf'<c r="\1"\2 t="n"><v>{value}</v></c>', sheet_xml)
            else:  # inline string
                sheet_xml = re.sub(rf'<c r="([A-Z]+\d+)"( s="\d+")? t="inlineStr"><is><t>{marker}</t></is></c>',
                                   rf'<c r="\1"\2 t="n"><v>{value}</v></c>', sheet_xml)
        contents["xl/worksheets/sheet1.xml"] = sheet_xml.encode("utf-8")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
            for name, data in contents.items():
                target.writestr(name, data)
    return path


def write_csv(path: Path, rows: list[list], encoding: str = "gb18030") -> Path:
    """A CSV as Chinese Excel saves it (GB18030 by default), CRLF line ends."""
    import csv
    import io

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path
