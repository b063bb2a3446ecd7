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
"""
from __future__ import annotations

import datetime
import hashlib
import json
import re
import unicodedata
from functools import lru_cache
from typing import Any, NamedTuple

from stdnum.cn import ric

from careflow.survey.columns import FIELD_LABELS, Header
from models.eligibility import KeyCareCriterion
from models.regions import Region, UnknownRegion, get_county
from models.resident_id import (
    InvalidResidentID,
    _known_birthplace_code,
    normalize_resident_id,
    recover_lost_x,
)
from models.survey import CRITERION_WORDS, NO_CRITERION_WORDS, classify

_SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_EXCEL_EPOCH = datetime.date(1899, 12, 30)


class RowIssue(NamedTuple):
    """One problem (or, in ``notes``, one correction) on one row.

    Attributes:
        line: the row's line number in the file (1-based, as the spreadsheet shows it).
        field: careflow's field name (``resident_id``, ``arrival_date``…; ``row`` for the row as a whole).
        column: the header as written in the file ("" when the column is absent).
        value: the cell's value as text (at most 200 characters).
        code: machine-readable reason, e.g. ``required``, ``checksum``, ``length``, ``number_lost_digits``,
            ``invalid_date``, ``incomplete_date``, ``unknown_region``, ``other_county``, ``mismatch``,
            ``unknown_criterion``, ``too_long``, ``duplicate_conflict``; for notes ``lost_x_recovered``.
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
# Cells
# ---------------------------------------------------------------------------------------------------------------------

def cell_text(value: Any) -> str:
    """A cell as text: NFKC-normalised and stripped; ``None`` → ""; a whole float → its integer digits."""
    if value.__class__ is str:
        if value.isascii() or unicodedata.is_normalized("NFKC", value):
            return value.strip()
        return unicodedata.normalize("NFKC", value).strip()
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return cell_text(str(value))


def _texts(values: list[Any]) -> list[str]:
    """:func:`cell_text` of each value; for a row of text cells (every CSV row) one normalisation check for the
    whole row instead of one per cell."""
    try:
        joined = "\x1f".join(values)
    except TypeError:  # empty cells, numbers, dates (XLSX)
        return [cell_text(v) for v in values]
    if joined.isascii() or unicodedata.is_normalized("NFKC", joined):
        return [v.strip() for v in values]
    return [cell_text(v) for v in values]


class DateProblem(NamedTuple):
    code: str
    message: str


_ISO = re.compile(r"(\d{4})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
_ZH = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?")
_MONTH_ONLY = re.compile(r"(\d{4})\s*(?:[-/.]|年)\s*(\d{1,2})\s*月?")
_SERIAL = re.compile(r"\d{1,5}(?:\.\d+)?")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")


def _ymd(year: int, month: int, day: int, raw: str) -> datetime.date | DateProblem:
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return DateProblem("invalid_date", f"{raw} 不是有效日期")


def _serial(number: float, raw: str) -> datetime.date | DateProblem:
    if not 1 <= number < 2958466:
        return DateProblem("invalid_date", f"{raw} 不是日期")
    if number < 61:  # Excel's serials before 1900-03-01 count a 29 February 1900 that never was
        return DateProblem("invalid_date", f"{raw} 是 1900 年前后的 Excel 序列号，不是有效日期")
    return _EXCEL_EPOCH + datetime.timedelta(days=int(number))


@lru_cache(maxsize=131072)
def _parse_date_text(text: str) -> datetime.date | DateProblem:
    match = _ISO.fullmatch(text) or _ZH.fullmatch(text)
    if match:
        return _ymd(int(match.group(1)), int(match.group(2)), int(match.group(3)), text)
    match = _COMPACT.fullmatch(text)
    if match:
        return _ymd(int(match.group(1)), int(match.group(2)), int(match.group(3)), text)
    if _SERIAL.fullmatch(text):
        return _serial(float(text), text)
    if _MONTH_ONLY.fullmatch(text):
        return DateProblem("incomplete_date", f"{text} 缺少日，请填写完整日期（年月日）")
    return DateProblem("invalid_date", f"{text} 不是可识别的日期（如 2015-03-15、2015/3/15、20150315、2015年3月15日）")


def parse_date(value: Any) -> datetime.date | DateProblem:
    """A survey date in any of the accepted forms (module docstring), or a :class:`DateProblem`.

    Never raises. ``None``/blank → ``DateProblem("required", …)``.
    """
    if value.__class__ is str:  # a CSV cell: most dates of a file repeat, and the cache is keyed on the raw text
        found = _DATES.get(value)
        if found is not None:
            return found
    if value is None:
        return DateProblem("required", "必填")
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, bool):
        return DateProblem("invalid_date", f"{value} 不是日期")
    if isinstance(value, (int, float)):
        if 19000101 <= value <= 29991231 and float(value).is_integer():
            return _parse_date_text(str(int(value)))
        return _serial(float(value), cell_text(value))
    text = cell_text(value)
    if not text:
        return DateProblem("required", "必填")
    found = _DATES.get(text)
    if found is None:
        found = _parse_date_text(text)
    if len(_DATES) < 200_000:
        _DATES[text] = found
        if value.__class__ is str:
            _DATES[value] = found
    return found


_DATES: dict[str, datetime.date | DateProblem] = {}


# ---------------------------------------------------------------------------------------------------------------------
# Resident ID numbers
# ---------------------------------------------------------------------------------------------------------------------

@lru_cache(maxsize=65536)
def _birth(text8: str) -> datetime.date | None:
    try:
        return datetime.date(int(text8[:4]), int(text8[4:6]), int(text8[6:8]))
    except ValueError:
        return None


@lru_cache(maxsize=65536)
def _birthplace_ok(code: str, year: int) -> bool:
    """Whether :func:`normalize_resident_id` accepts birthplace ``code`` for a birth in ``year``."""
    try:
        info = ric.get_birth_place(f"{code}{year:04d}0101000" + "0")
        return bool(info)
    except Exception:  # noqa: BLE001 - stdnum raises InvalidComponent (or others) for an unknown code
        return _known_birthplace_code(code)


def fast_resident_id(text: str, today: datetime.date) -> str | None:
    """``text`` if it is a canonical valid ID that :func:`models.resident_id.normalize_resident_id` accepts
    unchanged, else None (then ask ``normalize_resident_id`` for the reason). Cheap: a million rows a second."""
    if len(text) != 18 or not text.isascii():
        return None
    first17 = text[:17]
    if not first17.isdigit():
        return None
    # the weights 7, 9, 10… are 2**17, 2**16… mod 11, and 13 ≡ 2 (mod 11): the weighted sum is 2 × (the digits
    # read in base 13), mod 11
    if _CHECK[2 * int(first17, 13) % 11] != text[17]:
        return None
    born = _birth(text[6:14])
    if born is None or born > today:
        return None
    if not _birthplace_ok(text[:6], born.year):
        return None
    return text


_FLOATISH = re.compile(r"\d(?:\.\d+)?[eE][+]?\d+|\d{15,18}\.\d+")


# ---------------------------------------------------------------------------------------------------------------------
# Other fields
# ---------------------------------------------------------------------------------------------------------------------

_SEX = {"男": "男", "男性": "男", "m": "男", "male": "男", "1": "男",
        "女": "女", "女性": "女", "f": "女", "female": "女", "2": "女"}
_YES = frozenset({"是", "√", "✓", "✔", "1", "y", "yes", "true", "有", "对"})
_NO = frozenset({"", "否", "×", "✗", "0", "n", "no", "false", "无", "-", "/"})
_SPLIT = re.compile(r"[、,;|/\s]+")


@lru_cache(maxsize=4096)
def _criterion_words() -> dict[str, str]:
    from careflow.survey.columns import normalize_header

    return {normalize_header(word): criterion.value for word, criterion in CRITERION_WORDS.items()}


@lru_cache(maxsize=4096)
def parse_criteria(text: str) -> tuple[tuple[str, ...], str | None]:
    """(sorted criterion codes, unknown word or None) of a 重点关爱情形 cell."""
    from careflow.survey.columns import normalize_header

    words = _criterion_words()
    found: set[str] = set()
    for token in _SPLIT.split(text.replace("，", ",").replace("；", ";")):
        token = token.strip()
        if token.lower() in NO_CRITERION_WORDS:
            continue
        code = words.get(normalize_header(token))
        if code is None:
            return (), token
        found.add(code)
    return tuple(sorted(found)), None


@lru_cache(maxsize=4096)
def _region(text: str) -> Region | str:
    """The county of ``text`` (a code, a 9/12-digit area code or a name), or the UnknownRegion message."""
    value = text[:6] if text.isdigit() and len(text) in (9, 12) else text
    try:
        return get_county(value)
    except UnknownRegion as exc:
        return str(exc)


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
        self.today = today or datetime.datetime.now(_SHANGHAI).date()
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
        issues.append(RowIssue(line, name, column, shown[:200], code, message))

    def _county_of(self, text: str) -> Region | str:
        found = self._regions.get(text)
        if found is None:
            found = self._regions[text] = _region(text)
        return found

    def validate(self, line: int, cells: list[Any]) -> RowResult:
        """Validate one row (see the module docstring for what is accepted). Never raises for bad data."""
        issues: list[RowIssue] = []
        notes: list[RowIssue] = []
        width = self._width
        # index ``width`` must be an empty cell: the fields the file has no column for read it ("", not None, so
        # that a CSV row stays all text for _texts)
        if len(cells) == width:
            cells = [*cells, ""]
        else:
            cells = [*cells[:width], *([""] * (width - len(cells))), ""]
        raws = [cells[j] for j in self._index]
        (raw_id, name_raw, sex_raw, birth_raw, hukou_raw, residence_raw, area_raw, address_raw, arrival_raw,
         kc_raw, g_name_raw, g_relation_raw, g_phone_raw) = raws
        (_, name_text, sex_text, _, hukou_text, residence_text, area_text, address_text, _, kc_text, g_name_text,
         g_relation_text, g_phone_text) = _texts(raws)
        problem = self._problem

        # ID number
        rid = None
        if raw_id.__class__ is str:
            text = raw_id.strip()
            rid = fast_resident_id(text, self.today)
        if rid is None:
            rid = self._resident_id(raw_id, issues, notes, line)
        birth = _birth(rid[6:14]) if rid else None

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
                sex = _SEX.get(sex_text, "")
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
                if text in _YES:
                    found_criteria.add(code)
                elif text not in _NO:
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
        # then the id the child gets if new to careflow (see careflow.survey.importer.new_child_id_sql)
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
        if _FLOATISH.fullmatch(text):
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
