"""Streaming the rows of a survey file: CSV (UTF-8, UTF-8 with BOM, or GB18030/GBK as Chinese Excel saves it)
and XLSX (openpyxl in read-only mode). Memory stays flat whatever the file's size.

Each row comes with its line number as the county sees it: the spreadsheet row number in XLSX, the physical line
where the record starts in CSV (both 1-based, title and header rows counted).
"""
from __future__ import annotations

import codecs
import csv
import io
import os
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from core.i18n import gettext
from models.errors import FieldFileError
from careflow.survey.columns import FIELD_LABELS, Header, find_header

#: Rows looked at for the header.
HEADER_SCAN_ROWS = 30


class SurveyFileError(ValueError):
    """The file as a whole cannot be read as a survey (nothing is imported): message ``key`` (``survey.file.*``)
    naming the file and why, worded in the reader's language by :meth:`text` (a list of columns joined with 「、」,
    ``, `` in English); ``str()`` is the Chinese text (the failed import's stored record, logs)."""

    def __init__(self, key: str, **values: Any):
        self.key, self.values = key, values
        super().__init__(self.text("zh"))

    def text(self, lang: str) -> str:
        """Why the file cannot be read, in ``lang`` (``zh`` or ``en``)."""
        return gettext(self.key, lang, **{name: (", " if lang == "en" else "、").join(value)
                                          if isinstance(value, (list, tuple)) else value
                                          for name, value in self.values.items()})


@dataclass
class SurveySheet:
    """An open survey file: its header and an iterator of ``(line, cells)`` for the data rows after it.

    ``progress()`` is the fraction of the file read so far (0.0–1.0, from bytes for CSV and from rows for XLSX).
    Close it (or use it as a context manager) to release the file.
    """

    path: Path
    format: str
    header: Header
    rows: Iterator[tuple[int, list[Any]]]
    progress: Callable[[], float]
    close: Callable[[], None]
    encoding: str = ""

    def __enter__(self) -> "SurveySheet":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def detect_format(path: Path) -> str:
    """``xlsx`` or ``csv`` from the file's first bytes (a ZIP is an XLSX), whatever its name says.

    Raises:
        SurveyFileError: an old binary ``.xls`` (save it as .xlsx or .csv).
    """
    with open(path, "rb") as handle:
        start = handle.read(8)
    if start.startswith(b"PK\x03\x04"):
        return "xlsx"
    if start.startswith(b"\xd0\xcf\x11\xe0"):
        raise SurveyFileError("survey.file.xls", file=path.name)
    return "csv"


def _csv_encoding(path: Path) -> str:
    with open(path, "rb") as handle:
        sample = handle.read(1 << 20)
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


def _first_undecodable_line(path: Path, encoding: str) -> int | None:
    """The number of the first line of ``path`` that is not text in ``encoding`` (the text reader decodes ahead in
    blocks, so where it stopped is not where the bad bytes are)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                decoder.decode(raw)
            except UnicodeDecodeError:
                return number
    return None


def _csv_dialect(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", "\t", ";")}
    return max(counts, key=counts.get) if max(counts.values()) else ","


def open_survey(path: str | os.PathLike) -> SurveySheet:
    """Open a survey file and find its header (see :func:`careflow.survey.columns.find_header`).

    Raises:
        SurveyFileError: unreadable file, unknown encoding, no header row, or required columns missing (the
            message lists them and the headers found).
        FileNotFoundError: no such file.
    """
    path = Path(path)
    if not path.is_file():
        raise FieldFileError("file", "problem.file_is_folder" if path.is_dir() else "problem.file_missing", path=str(path))
    fmt = detect_format(path)
    sheet = _open_xlsx(path) if fmt == "xlsx" else _open_csv(path)
    missing = sheet.header.missing()
    if missing:
        sheet.close()
        raise SurveyFileError("survey.file.missing_columns", file=path.name,
                              missing=[FIELD_LABELS[f] for f in missing], found=list(sheet.header.labels.values()))
    return sheet


#: Control characters in header text (shown as ``\xNN`` in reports: PostgreSQL stores no NUL).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _shown(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _header_or_fail(path: Path, head: list[list[Any]]) -> Header:
    """The header of the first rows, its texts with control characters written as ``\\xNN``."""
    header = find_header(head)
    if header is None:
        raise SurveyFileError("survey.file.no_header", file=path.name, rows=HEADER_SCAN_ROWS)
    header.labels = {j: _shown(label) for j, label in header.labels.items()}
    header.ignored = [_shown(label) for label in header.ignored]
    header.duplicates = [_shown(label) for label in header.duplicates]
    return header


def _open_csv(path: Path) -> SurveySheet:
    encoding = _csv_encoding(path)
    raw = open(path, "rb")
    try:
        text = io.TextIOWrapper(raw, encoding=encoding, newline="")
        first = text.readline()
        text.seek(0)
        reader = csv.reader(text, delimiter=_csv_dialect(first))
        head: list[tuple[int, list[Any]]] = []
        last_line = 0
        for record in reader:
            head.append((last_line + 1, record))
            last_line = reader.line_num
            if len(head) >= HEADER_SCAN_ROWS:
                break
        header = _header_or_fail(path, [cells for _, cells in head])
    except UnicodeDecodeError as exc:
        raw.close()
        raise SurveyFileError("survey.file.encoding", file=path.name, encoding=encoding, reason=exc.reason) from None
    except BaseException:
        raw.close()
        raise
    size = max(path.stat().st_size, 1)
    buffered = head[header.row_index + 1:]

    def rows() -> Iterator[tuple[int, list[Any]]]:
        nonlocal last_line
        yield from buffered
        try:
            for record in reader:
                yield last_line + 1, record
                last_line = reader.line_num
        except UnicodeDecodeError as exc:
            line = _first_undecodable_line(path, encoding) or last_line + 1
            raise SurveyFileError("survey.file.line_encoding", file=path.name, line=line, encoding=encoding,
                                  reason=exc.reason) from None
        except csv.Error as exc:
            raise SurveyFileError("survey.file.line_unreadable", file=path.name, line=last_line + 1,
                                  reason=str(exc)) from None

    def progress() -> float:
        try:
            return min(raw.tell() / size, 1.0)
        except (ValueError, OSError):
            return 1.0

    return SurveySheet(path=path, format="csv", header=header, rows=rows(), progress=progress,
                       close=raw.close, encoding=encoding)


def _open_xlsx(path: Path) -> SurveySheet:
    import openpyxl  # start-up: openpyxl takes about a second to load, and reading a CSV never needs it

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise SurveyFileError("survey.file.not_xlsx", file=path.name, reason=str(exc)) from None
    try:
        sheet = next((ws for ws in book.worksheets if getattr(ws, "sheet_state", "visible") == "visible"),
                     book.worksheets[0])
        total = sheet.max_row or 0
        iterator = sheet.iter_rows(values_only=True)
        head: list[list[Any]] = []
        for cells in iterator:
            head.append(list(cells))
            if len(head) >= HEADER_SCAN_ROWS:
                break
        header = _header_or_fail(path, head)
    except BaseException:
        book.close()
        raise
    done = header.row_index + 1

    def rows() -> Iterator[tuple[int, list[Any]]]:
        nonlocal done
        for index in range(header.row_index + 1, len(head)):
            done = index + 1
            yield index + 1, head[index]
        line = len(head)
        for cells in iterator:
            line += 1
            done = line
            yield line, list(cells)

    def progress() -> float:
        return min(done / total, 1.0) if total else 0.0

    return SurveySheet(path=path, format="xlsx", header=header, rows=rows(), progress=progress, close=book.close)


def iter_table(path: str | os.PathLike) -> tuple[str, Iterator[tuple[int, list[Any]]]]:
    """All rows of a CSV or XLSX file as ``(line, cells)`` with no header logic (for departments' answer files).

    Returns (format, iterator); the iterator closes the file when exhausted.

    Raises:
        SurveyFileError: an old .xls or an unreadable workbook. FileNotFoundError: no such file.
    """
    path = Path(path)
    if not path.is_file():
        raise FieldFileError("file", "problem.file_is_folder" if path.is_dir() else "problem.file_missing", path=str(path))
    fmt = detect_format(path)
    if fmt == "xlsx":
        import openpyxl  # start-up: openpyxl takes about a second to load, and reading a CSV never needs it

        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
            raise SurveyFileError("survey.file.not_xlsx", file=path.name, reason=str(exc)) from None

        def xlsx_rows() -> Iterator[tuple[int, list[Any]]]:
            try:
                for line, cells in enumerate(book.worksheets[0].iter_rows(values_only=True), start=1):
                    yield line, list(cells)
            finally:
                book.close()

        return fmt, xlsx_rows()
    encoding = _csv_encoding(path)

    def csv_rows() -> Iterator[tuple[int, list[Any]]]:
        with open(path, encoding=encoding, newline="") as handle:
            first = handle.readline()
            handle.seek(0)
            reader = csv.reader(handle, delimiter=_csv_dialect(first))
            last = 0
            for record in reader:
                yield last + 1, record
                last = reader.line_num

    return fmt, csv_rows()
