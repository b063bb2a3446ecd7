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
"""
from __future__ import annotations

import datetime
import hashlib
import json
from typing import Any, NamedTuple

from careflow.survey.cells import (
    CONTROL_CHARS,
    DateProblem,
    FLOATISH,
    NO_WORDS,
    SEX_WORDS,
    SHANGHAI,
    YES_WORDS,
    cell_text,
    cell_texts,
    control_character_problem,
    county_of_text,
    fast_resident_id,
    id_birth_date,
    parse_criteria,
    parse_date,
    shown_text,
)
from careflow.survey.columns import FIELD_LABELS, Header
from models.eligibility import KeyCareCriterion, check_arrival_date
from models.regions import Region
from models.resident_id import InvalidResidentID, normalize_resident_id, recover_lost_x
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
        self._latest_arrival = min(self.today, as_of)
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
        column = self.header.labels.get(self._cols[name], FIELD_LABELS.get(name, name)) if name in self._cols else ""
        shown = value if isinstance(value, str) else cell_text(value) if value is not None else ""
        issues.append(RowIssue(line, name, shown_text(column), shown_text(shown[:200]), code, message))

    def _county_of(self, text: str) -> Region | str:
        found = self._regions.get(text)
        if found is None:
            found = self._regions[text] = county_of_text(text)
        return found

    def validate(self, line: int, cells: list[Any]) -> RowResult:
        """Validate one row (see the module docstring for what is accepted). Never raises for bad data."""
        issues: list[RowIssue] = []
        notes: list[RowIssue] = []
        width = self._width
        # index ``width`` must be an empty cell: the fields the file has no column for read it ("", not None, so
        # that a CSV row stays all text for cell_texts)
        if len(cells) == width:
            cells = [*cells, ""]
        else:
            cells = [*cells[:width], *([""] * (width - len(cells))), ""]
        raws = [cells[j] for j in self._index]
        (raw_id, name_raw, sex_raw, birth_raw, hukou_raw, residence_raw, area_raw, address_raw, arrival_raw,
         kc_raw, g_name_raw, g_relation_raw, g_phone_raw) = raws
        (_, name_text, sex_text, _, hukou_text, residence_text, area_text, address_text, _, kc_text, g_name_text,
         g_relation_text, g_phone_text) = cell_texts(raws)
        problem = self._problem
        try:  # a CSV row: all text, one search for the row
            controls = CONTROL_CHARS.search("".join(raws)) is not None
        except TypeError:  # XLSX cells: numbers, dates, None
            controls = any(v.__class__ is str and CONTROL_CHARS.search(v) for v in raws)
        if controls:
            for name, raw in zip(self._FIELDS, raws):
                found = control_character_problem(raw) if raw.__class__ is str else None
                if found:
                    problem(issues, line, name, raw, "control_character", found)
            return RowResult(None, issues, notes)

        # ID number
        rid = None
        if raw_id.__class__ is str:
            text = raw_id.strip()
            rid = fast_resident_id(text, self.today)
        if rid is None:
            rid = self._resident_id(raw_id, issues, notes, line)
        birth = id_birth_date(rid[6:14]) if rid else None

        # name
        full_name = name_text
        if "  " in full_name or "\t" in full_name or "\u3000" in full_name:
            full_name = " ".join(full_name.split())
        if not full_name:
            problem(issues, line, "full_name", name_raw, "required", "必填")
        elif len(full_name) > 64:
            problem(issues, line, "full_name", full_name, "too_long", "姓名超过 64 个字符")

        # sex: the ID number decides; a contradicting cell is an error
        sex = ""
        if sex_raw is not None:
            sex_text = sex_text.lower()
            if sex_text:
                sex = SEX_WORDS.get(sex_text, "")
                if not sex:
                    problem(issues, line, "sex", sex_raw, "invalid", "性别应为 男 或 女")
        if rid:
            from_id = "男" if (ord(rid[16]) - 48) % 2 else "女"
            if sex and sex != from_id:
                problem(issues, line, "sex", sex_raw, "mismatch", f"与身份证号不符（身份证号为{from_id}性）")
            sex = from_id

        # birth date (optional: the ID says it)
        if birth_raw is not None:
            parsed = parse_date(birth_raw)
            if isinstance(parsed, DateProblem):
                if parsed.code != "required":
                    problem(issues, line, "birth_date", birth_raw, parsed.code, parsed.message)
            elif birth and parsed != birth:
                problem(issues, line, "birth_date", birth_raw, "mismatch",
                        f"与身份证号中的出生日期 {birth.isoformat()} 不符")

        # counties
        hukou = None
        text = hukou_text
        if not text:
            problem(issues, line, "hukou_county", hukou_raw, "required", "必填")
        else:
            found = self._county_of(text)
            if found.__class__ is str:
                problem(issues, line, "hukou_county", hukou_raw, "unknown_region", f"无法识别的县（市、区）：{found}")
            else:
                hukou = found
        residence = self.county
        text = residence_text
        if text:
            found = self._county_of(text)
            if found.__class__ is str:
                problem(issues, line, "residence_county", residence_raw, "unknown_region",
                        f"无法识别的县（市、区）：{found}")
                residence = None
            elif found.code != self.county.code:
                problem(issues, line, "residence_county", residence_raw, "other_county",
                        f"居住地为 {found.code} {found.full_name}，不属于本次摸排的 {self.county.code} "
                        f"{self.county.full_name}")
                residence = None

        # area code
        area = area_text
        if area:
            if not area.isdigit() or len(area) not in (9, 12):
                problem(issues, line, "residence_area_code", area_raw, "invalid",
                        "乡镇代码应为 9 位、村（居）代码应为 12 位数字")
                area = ""
            elif not area.startswith(self.county.code):
                problem(issues, line, "residence_area_code", area_raw, "other_county",
                        f"不在本县（区）{self.county.code} {self.county.name} 范围内")
                area = ""

        address = address_text
        if address:
            address = " ".join(address.split())
            if len(address) > 200:
                problem(issues, line, "residence_address", address, "too_long", "居住地址超过 200 个字符")

        # arrival date
        arrival = parse_date(arrival_raw)
        if arrival.__class__ is DateProblem:
            problem(issues, line, "arrival_date", arrival_raw, arrival.code, arrival.message)
            arrival = None
        elif birth is not None and (arrival < birth or arrival > self._latest_arrival):
            wrong = check_arrival_date(arrival, birth_date=birth, today=self.today, round_end=self.as_of)
            if wrong is not None:
                problem(issues, line, "arrival_date", arrival_raw, wrong.code, wrong.message)
                arrival = None

        # key care
        criteria: tuple[str, ...] = ()
        if kc_raw is not None:
            criteria, unknown = parse_criteria(kc_text)
            if unknown is not None:
                allowed = "、".join(c.zh for c in KeyCareCriterion)
                problem(issues, line, "key_care", kc_raw, "unknown_criterion",
                        f"无法识别“{unknown}”（应为：{allowed}，或 无）")
        if self._criteria_columns:
            found_criteria = set(criteria)
            for code, j in self._criteria_columns:
                value = cells[j]
                text = cell_text(value).lower()
                if text in YES_WORDS:
                    found_criteria.add(code)
                elif text not in NO_WORDS:
                    problem(issues, line, f"kc:{code}", value, "invalid", "应为 是 或 否")
            criteria = tuple(sorted(found_criteria))

        guardian_name, guardian_relation, guardian_phone = g_name_text, g_relation_text, g_phone_text
        if len(guardian_name) > 64:
            problem(issues, line, "guardian_name", guardian_name, "too_long", "超过 64 个字符")
        if len(guardian_relation) > 32:
            problem(issues, line, "guardian_relation", guardian_relation, "too_long", "超过 32 个字符")
        if len(guardian_phone) > 32:
            problem(issues, line, "guardian_phone", guardian_phone, "too_long", "超过 32 个字符")

        if issues or rid is None or hukou is None or residence is None or arrival is None or birth is None:
            return RowResult(None, issues, notes)

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
            return RowResult(row, issues, notes)
        # then the id the child gets if new to careflow (see careflow.survey.merge_sql.new_child_id_sql)
        child_id = f"\t{self.id_prefix}{line:010x}\n" if self.id_prefix else "\t\\N\n"
        if "\\" in stored or "\t" in stored or "\n" in stored or "\r" in stored or stored.count("\x1f") != 12:
            return RowResult(row, issues, notes, row.copy_text()[:-1] + child_id)
        return RowResult(row, issues, notes, f"{line}\t{stored.replace(chr(31), chr(9))}\t{criteria_json}\t"
                                             f"{'t' if result[0] else 'f'}\t{reasons}\t{'t' if result[2] else 'f'}\t"
                                             f"{digest}{child_id}")

    def _resident_id(self, raw: Any, issues: list[RowIssue], notes: list[RowIssue], line: int) -> str | None:
        problem = self._problem
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            problem(issues, line, "resident_id", raw, "required", "必填")
            return None
        if isinstance(raw, float):
            problem(issues, line, "resident_id", raw, "number_lost_digits",
                    "身份证号被存成了数字，后几位已丢失；请把该列设为文本格式后重新导出")
            return None
        if isinstance(raw, bool) or not isinstance(raw, (str, int)):
            raw = cell_text(raw)
        text = "".join(cell_text(raw).split()).upper()
        fast = fast_resident_id(text, self.today)
        if fast:
            return fast
        if FLOATISH.fullmatch(text):
            problem(issues, line, "resident_id", raw, "number_lost_digits",
                    "身份证号被存成了数字（科学计数法），后几位已丢失；请把该列设为文本格式后重新导出")
            return None
        recovered = recover_lost_x(raw)
        if recovered:
            column = self.header.labels.get(self._cols["resident_id"], "身份证号")
            notes.append(RowIssue(line, "resident_id", column, cell_text(raw), "lost_x_recovered",
                                  "身份证号末位 X 缺失（被存成数字），已按校验码补回"))
            return recovered
        try:
            return normalize_resident_id(raw)
        except InvalidResidentID as exc:
            messages = {
                "length": f"长度为 {len(exc.value)} 位，应为 18 位",
                "format": "应为 17 位数字加 1 位数字或 X",
                "checksum": f"校验码错误，应为 {exc.reason.rsplit(' ', 1)[-1]}",
                "birth_date": "出生日期部分无效",
                "birthplace": f"地址码 {exc.value[:6]} 不是有效的行政区划代码",
                "type": "不是文本或整数",
            }
            problem(issues, line, "resident_id", raw, exc.code, messages.get(exc.code, exc.reason))
            return None
