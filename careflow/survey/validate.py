"""Validating and classifying one survey row (方案 一).

:class:`RowValidator` turns the cells of one row into a :class:`ValidRow` — or into :class:`RowIssue` s, each
naming the line, the field, the column as written, the value and why — and never raises for bad data.

What it forgives (and how):

* ID numbers (GB 11643): whitespace and full-width characters, a lower-case ``x``, an ID stored as a number that
  lost its trailing ``X`` (17 digits whose check character is X: :func:`models.resident_id.recover_lost_x`; a note
  says so). An ID that went through a floating-point number (``3.50302E+17``) has lost digits and is rejected.
* Dates: ``2015-03-15``, ``2015/3/15``, ``2015.3.15``, ``20150315``, ``2015年3月15日``, a time after the date,
  Excel date cells and Excel serial numbers (``42078`` = 2015-03-15). A date without a day (``2023年8月``) is
  rejected: the six-month test needs the day.
* Counties: a GB/T 2260 code or a name (``城厢区``, ``莆田市城厢区``, ``福建省莆田市城厢区``; counties outside Fujian
  by code), or a 9/12-digit township/village code (its county is its first six digits).
* Sex: ``男``/``女``/``男性``/``M``/``1``…; blank means "as the ID number says"; a contradiction is an error.
* Key care (重点关爱情形): the policy's words or common variants, several separated by ``、，,;；/`` or spaces;
  ``无``/blank for none; or one 是/否 column per criterion.

What it refuses besides: a control character (NUL and the rest of C0 except tab and line breaks, DEL, C1) in any
cell careflow reads (``control_character``; PostgreSQL cannot store NUL, and nobody typed one); an arrival date
before the birth date, after today or after the round's end (:func:`models.eligibility.check_arrival_date`). A value
shown in a report has its control characters written as ``\\xNN``.

Each field's rules, with their errors and where they come from, are in :mod:`careflow.survey.field_checks`; this
module puts them together, classifies a row that passed and writes it for the database.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import unicodedata
from functools import partial
from typing import Any, NamedTuple

from careflow.survey.cells import (
    CONTROL_CHARS,
    SEX_WORDS,
    SHANGHAI,
    DateProblem,
    cell_text,
    cell_texts,
    county_of_text,
    fast_resident_id,
    id_birth_date,
    parse_criteria,
    parse_date,
    shown_text,
)
from careflow.survey.columns import FIELD_LABELS, Header
from careflow.survey.field_checks import (
    check_address,
    check_area_code,
    check_arrival_date,
    check_birth_date,
    check_control_characters,
    check_criterion_columns,
    check_full_name,
    check_guardian,
    check_hukou_county,
    check_key_care,
    check_resident_id,
    check_residence_county,
    check_sex,
)
from models.regions import Region
from models.survey_rules import classify

class RowIssue(NamedTuple):
    """One problem (or, in ``notes``, one correction) on one row.

    Attributes:
        line: the row's line number in the file (1-based, as the spreadsheet shows it).
        field: careflow's field name (``resident_id``, ``arrival_date``…; ``row`` for the row as a whole).
        column: the header as written in the file ("" when the column is absent).
        value: the cell's value as text (at most 200 characters).
        code: machine-readable reason, e.g. ``required``, ``checksum``, ``length``, ``number_lost_digits``,
            ``invalid_date``, ``incomplete_date``, ``unknown_region``, ``other_county``, ``mismatch``,
            ``unknown_criterion``, ``too_long``, ``duplicate_conflict``, ``control_character``, ``before_birth``,
            ``in_future``, ``after_round``; for notes ``lost_x_recovered``.
        message: the explanation in Chinese.
    """

    line: int
    field: str
    column: str
    value: str
    code: str
    message: str


class ValidRow(NamedTuple):
    """A row that passed, normalised and classified — in the column order of the import's staging table.

    Dates are :class:`datetime.date`; counties GB/T 2260 codes; ``criteria`` the comma-joined sorted criterion
    codes and ``criteria_json`` the same as careflow stores them on ``child.key_care_criteria`` (``json.dumps`` of
    the sorted list); ``reasons`` the comma-joined failed reason codes of the migrant test (empty for a migrant
    child); ``row_hash`` a 16-hex digest of every stored field (how a re-import spots an unchanged row).
    """

    line: int
    resident_id: str
    full_name: str
    sex: str
    birth_date: datetime.date
    hukou: str
    residence: str
    area: str
    address: str
    arrival: datetime.date
    criteria: str
    guardian_name: str
    guardian_relation: str
    guardian_phone: str
    criteria_json: str
    is_migrant: bool
    reasons: str
    is_key_care: bool
    row_hash: str

    def copy_text(self) -> str:
        """The row as one line of PostgreSQL COPY text: the fields in order, tab-separated, booleans ``t``/``f``,
        a backslash, tab, newline or carriage return inside a field escaped."""
        return "\t".join(_copy_escape("t" if v is True else "f" if v is False else str(v)) for v in self) + "\n"


def _copy_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


_CRITERIA_TEXT: dict[tuple[str, ...], tuple[str, str]] = {}


def _criteria_text(criteria: tuple[str, ...]) -> tuple[str, str]:
    found = _CRITERIA_TEXT.get(criteria)
    if found is None:
        found = _CRITERIA_TEXT[criteria] = (",".join(criteria), json.dumps(list(criteria)))
    return found


# ---------------------------------------------------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------------------------------------------------

class RowResult(NamedTuple):
    """What :meth:`RowValidator.validate` made of one row: the row (None when rejected), its problems, notes, and
    — for a validator made with ``copy_lines=True`` — the row as :meth:`ValidRow.copy_text` gives it."""

    row: ValidRow | None
    issues: list[RowIssue]
    notes: list[RowIssue]
    copy_line: str = ""


class RowValidator:
    """Validates and classifies the rows of one survey file for one county and round.

    Args:
        header: the file's :class:`~careflow.survey.columns.Header`.
        county: the importing county; rows must live there (their 居住地 is this county or blank).
        as_of: the round's assessment date (:func:`models.survey.round_as_of`).
        today: the date ID birth dates must not be after (default: today in Asia/Shanghai).
        copy_lines: also give each good row as a line of PostgreSQL COPY text (:attr:`RowResult.copy_line`),
            followed by the id the child gets if new to careflow: ``id_prefix`` and the line as 10 hex digits
            (``\\N`` without a prefix).
    """

    _FIELDS = ("resident_id", "full_name", "sex", "birth_date", "hukou_county", "residence_county",
               "residence_area_code", "residence_address", "arrival_date", "key_care", "guardian_name",
               "guardian_relation", "guardian_phone")

    def __init__(self, header: Header, county: Region, as_of: datetime.date,
                 today: datetime.date | None = None, copy_lines: bool = False, id_prefix: str = "") -> None:
        self.header = header
        self.copy_lines = copy_lines
        self.id_prefix = id_prefix
        self.county = county
        self.as_of = as_of
        self.today = today or datetime.datetime.now(SHANGHAI).date()
        self._cols = header.columns
        self._criteria_columns = [(f.split(":", 1)[1], j) for f, j in header.columns.items() if f.startswith("kc:")]
        self._mapped = sorted(set(header.columns.values()))
        self._width = (max(self._mapped) + 1) if self._mapped else 0
        # the column of each field, or the index of an always-empty cell past the row's end
        self._index = tuple(self._cols.get(name, self._width) for name in self._FIELDS)
        self._id_col = self._cols.get("resident_id")
        self._regions: dict[str, Region | str] = {}

    def is_blank(self, cells: list[Any]) -> bool:
        """True when every mapped column of the row is empty (a blank row, or a numbered template row)."""
        j = self._id_col
        if j is not None and j < len(cells):
            value = cells[j]
            if value.__class__ is str and value and not value.isspace():
                return False
        for j in self._mapped:
            if j < len(cells):
                value = cells[j]
                if value is not None and (value.__class__ is not str or value.strip()):
                    return False
        return True

    def _problem(self, issues: list[RowIssue], line: int, name: str, value: Any, code: str, message: str) -> None:
        """A :class:`RowIssue` of field ``name`` on ``line``: the column as written, the value as text (at most 200
        characters), control characters shown as ``\\xNN``."""
        column = self.header.labels.get(self._cols[name], FIELD_LABELS.get(name, name)) if name in self._cols else ""
        shown = value if isinstance(value, str) else cell_text(value) if value is not None else ""
        issues.append(RowIssue(line, name, shown_text(column), shown_text(shown[:200]), code, message))

    def _note(self, notes: list[RowIssue], line: int, name: str, text: str, code: str, message: str) -> None:
        """A correction made to field ``name`` on ``line`` (e.g. ``lost_x_recovered``), the value as given."""
        column = self.header.labels.get(self._cols[name], FIELD_LABELS.get(name, name))
        notes.append(RowIssue(line, name, column, text, code, message))

    def _county_of(self, text: str) -> Region | str:
        found = self._regions.get(text)
        if found is None:
            found = self._regions[text] = county_of_text(text)
        return found

    def _field_cells(self, cells: list[Any]) -> tuple[list[Any], list[Any]]:
        """(the row padded to the mapped width plus one empty cell, the cells of :attr:`_FIELDS` in order); a field
        the file has no column for reads the empty cell ("", not None, so that a CSV row stays all text for
        :func:`~careflow.survey.cells.cell_texts`)."""
        width = self._width
        if len(cells) == width:
            cells = [*cells, ""]
        else:
            cells = [*cells[:width], *([""] * (width - len(cells))), ""]
        return cells, [cells[j] for j in self._index]

    def validate(self, line: int, cells: list[Any]) -> RowResult:
        """Validate one row (the module docstring says what is accepted; each field's rules are in
        :mod:`careflow.survey.field_checks`). Never raises for bad data."""
        issues: list[RowIssue] = []
        notes: list[RowIssue] = []
        cells, raws = self._field_cells(cells)
        if not self._criteria_columns:
            usual = self._usual_row(line, raws)
            if usual is not None:
                return usual
        report = partial(self._problem, issues, line)
        if check_control_characters(self._FIELDS, raws, report):
            return RowResult(None, issues, notes)
        raw_id, name_raw, sex_raw, birth_raw, hukou_raw, residence_raw, area_raw, _, arrival_raw, kc_raw = raws[:10]
        (_, name_text, sex_text, _, hukou_text, residence_text, area_text, address_text, _, kc_text, guardian_name,
         guardian_relation, guardian_phone) = cell_texts(raws)

        rid = check_resident_id(raw_id, self.today, report, partial(self._note, notes, line))
        birth = id_birth_date(rid[6:14]) if rid else None
        full_name = check_full_name(name_text, name_raw, report)
        sex = check_sex(sex_text, sex_raw, rid, report)
        check_birth_date(birth_raw, birth, report)
        hukou = check_hukou_county(hukou_text, hukou_raw, self._county_of, report)
        residence = check_residence_county(residence_text, residence_raw, self.county, self._county_of, report)
        area = check_area_code(area_text, area_raw, self.county, report)
        address = check_address(address_text, report)
        arrival = check_arrival_date(arrival_raw, birth, self.today, self.as_of, report)
        criteria = check_key_care(kc_text, kc_raw, report)
        if self._criteria_columns:
            criteria = check_criterion_columns(criteria, self._criteria_columns, cells, report)
        check_guardian(guardian_name, guardian_relation, guardian_phone, report)

        if issues or rid is None or hukou is None or residence is None or arrival is None or birth is None:
            return RowResult(None, issues, notes)
        return self._accepted(line, notes, (rid, full_name, sex, birth, hukou, residence, area, address, arrival,
                                            criteria, guardian_name, guardian_relation, guardian_phone))

    def _usual_row(self, line: int, raws: list[Any]) -> RowResult | None:
        """The :class:`RowResult` of a usual row — every cell text (a CSV row) that NFKC leaves as it is, and every
        field passing its check in :mod:`careflow.survey.field_checks` with no problem and no correction — or None
        for any other row, which the field checks then take one by one. The same tests on the same values, written
        inline: a row of a big file is checked in about half the time (no call and no report per field)."""
        try:
            joined = "\n".join(raws)  # a line break: allowed in a cell, and NFKC leaves it and its neighbours apart
        except TypeError:  # XLSX cells: numbers, dates, None
            return None
        if not (joined.isascii() or unicodedata.is_normalized("NFKC", joined)) or CONTROL_CHARS.search(joined):
            return None
        (raw_id, name, sex_text, birth_text, hukou_text, residence_text, area, address, _, kc_text, guardian_name,
         guardian_relation, guardian_phone) = [v.strip() for v in raws]
        rid = fast_resident_id(raw_id, self.today)
        if (rid is None or not name or len(name) > 64 or "  " in name or "\t" in name or not hukou_text
                or len(guardian_name) > 64 or len(guardian_relation) > 32 or len(guardian_phone) > 32):
            return None
        birth = id_birth_date(rid[6:14])
        sex = "男" if (ord(rid[16]) - 48) % 2 else "女"
        if (sex_text and SEX_WORDS.get(sex_text.lower()) != sex) or (birth_text and parse_date(raws[3]) != birth):
            return None
        county = self.county
        hukou = self._county_of(hukou_text)
        if hukou.__class__ is str or (residence_text and getattr(self._county_of(residence_text), "code", None)
                                      != county.code):
            return None
        if area and (not area.isdigit() or len(area) not in (9, 12) or not area.startswith(county.code)):
            return None
        if address:
            address = " ".join(address.split())
            if len(address) > 200:
                return None
        arrival = parse_date(raws[8])
        if arrival.__class__ is DateProblem or arrival < birth or arrival > self.today or arrival > self.as_of:
            return None
        criteria, unknown = parse_criteria(kc_text)
        if unknown is not None:
            return None
        return self._accepted(line, [], (rid, name, sex, birth, hukou, county, area, address, arrival, criteria,
                                         guardian_name, guardian_relation, guardian_phone))

    def _accepted(self, line: int, notes: list[RowIssue], fields: tuple) -> RowResult:
        """The :class:`RowResult` of a row whose fields all passed: classified (:func:`models.survey.classify`),
        hashed, and for ``copy_lines`` written as a COPY line. ``fields``: the stored fields 1-13 in
        :class:`ValidRow` order, the counties as :class:`~models.regions.Region` s and the criteria a sorted tuple
        of codes."""
        (rid, full_name, sex, birth, hukou, residence, area, address, arrival, criteria, guardian_name,
         guardian_relation, guardian_phone) = fields
        result = classify(birth_date=birth, hukou=hukou, residence=residence, arrival_date=arrival,
                          on=self.as_of, criteria=criteria)
        criteria_text, criteria_json = _criteria_text(criteria)
        # the stored fields 1-13 of the row, in order: what the hash covers and, tab-separated, the COPY line's core
        stored = "\x1f".join((rid, full_name, sex, str(birth), hukou.code, residence.code, area, address,
                               str(arrival), criteria_text, guardian_name, guardian_relation, guardian_phone))
        digest = hashlib.blake2b(stored.encode("utf-8"), digest_size=8).hexdigest()
        reasons = ",".join(result[1])
        row = ValidRow(line, rid, full_name, sex, birth, hukou.code, residence.code, area, address, arrival,
                       criteria_text, guardian_name, guardian_relation, guardian_phone, criteria_json, result[0],
                       reasons, result[2], digest)
        if not self.copy_lines:
            return RowResult(row, [], notes)
        # then the id the child gets if new to careflow (see careflow.survey.merge_sql.new_child_id_sql)
        child_id = f"\t{self.id_prefix}{line:010x}\n" if self.id_prefix else "\t\\N\n"
        if "\\" in stored or "\t" in stored or "\n" in stored or "\r" in stored or stored.count("\x1f") != 12:
            return RowResult(row, [], notes, row.copy_text()[:-1] + child_id)
        return RowResult(row, [], notes, f"{line}\t{stored.replace(chr(31), chr(9))}\t{criteria_json}\t"
                                         f"{'t' if result[0] else 'f'}\t{reasons}\t{'t' if result[2] else 'f'}\t"
                                         f"{digest}{child_id}")
