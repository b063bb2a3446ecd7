"""Reading one cell of a survey row (方案 一): text, dates in their many forms, ID numbers, key care criteria, sex and
yes/no words, counties by code or name. What is forgiven is listed in :mod:`careflow.survey.validate`, which puts
these together into a row.
"""
from __future__ import annotations

import datetime
import re
import unicodedata
from functools import lru_cache
from typing import Any, NamedTuple

from stdnum.cn import ric

from careflow.survey.columns import normalize_header
from core.i18n import DEFAULT_LANGUAGE
from models.regions import Region, UnknownRegion, get_county
from models.resident_id import _known_birthplace_code
from models.survey_rules import CRITERION_WORDS, NO_CRITERION_WORDS

SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))
#: Control characters a survey cell may not hold: C0 except tab, line feed and carriage return; DEL; C1.
CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_EXCEL_EPOCH = datetime.date(1899, 12, 30)



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


def cell_texts(values: list[Any]) -> list[str]:
    """:func:`cell_text` of each value; for a row of text cells (every CSV row) one normalisation check for the
    whole row instead of one per cell."""
    try:
        joined = "\x1f".join(values)
    except TypeError:  # empty cells, numbers, dates (XLSX)
        return [cell_text(v) for v in values]
    if joined.isascii() or unicodedata.is_normalized("NFKC", joined):
        return [v.strip() for v in values]
    return [cell_text(v) for v in values]


def shown_text(text: str) -> str:
    """``text`` with each control character written as ``\\xNN`` (what a report shows and stores)."""
    return CONTROL_CHARS.sub(lambda m: f"\\x{ord(m.group()):02x}", text) if CONTROL_CHARS.search(text) else text


def control_character_problem(text: str) -> str | None:
    """The Chinese message for the first control character in ``text`` (position and code point), or None."""
    found = CONTROL_CHARS.search(text)
    if found is None:
        return None
    return f"第 {found.start() + 1} 个字符是控制字符 U+{ord(found.group()):04X}，请删除后重新导入"


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
def id_birth_date(text8: str) -> datetime.date | None:
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
    born = id_birth_date(text[6:14])
    if born is None or born > today:
        return None
    if not _birthplace_ok(text[:6], born.year):
        return None
    return text


FLOATISH = re.compile(r"\d(?:\.\d+)?[eE][+]?\d+|\d{15,18}\.\d+")


# ---------------------------------------------------------------------------------------------------------------------
# Other fields
# ---------------------------------------------------------------------------------------------------------------------

SEX_WORDS = {"男": "男", "男性": "男", "m": "男", "male": "男", "1": "男",
        "女": "女", "女性": "女", "f": "女", "female": "女", "2": "女"}
YES_WORDS = frozenset({"是", "√", "✓", "✔", "1", "y", "yes", "true", "有", "对"})
NO_WORDS = frozenset({"", "否", "×", "✗", "0", "n", "no", "false", "无", "-", "/"})
_SPLIT = re.compile(r"[、,;|/\s]+")


@lru_cache(maxsize=4096)
def _criterion_words() -> dict[str, str]:
    return {normalize_header(word): criterion.value for word, criterion in CRITERION_WORDS.items()}


@lru_cache(maxsize=4096)
def parse_criteria(text: str) -> tuple[tuple[str, ...], str | None]:
    """(sorted criterion codes, unknown word or None) of a 重点关爱情形 cell."""
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
def county_of_text(text: str) -> Region | str:
    """The county of ``text`` (a code, a 9/12-digit area code or a name), or what is wrong with it in Chinese (the
    import's report is Chinese: 「'999999' 不是已知的县级区划代码（GB/T 2260）」)."""
    value = text[:6] if text.isdigit() and len(text) in (9, 12) else text
    try:
        return get_county(value)
    except UnknownRegion as exc:
        return exc.message(DEFAULT_LANGUAGE)
