"""The checks of a survey row's fields (方案 一), one function per field, in the order a row is checked
(:meth:`careflow.survey.validate.RowValidator.validate` calls them).

Each check takes the cell as written (``raw``: text from a CSV; text, a number, a date or ``None`` from an XLSX)
and, where it reads text, the cell as :func:`careflow.survey.cells.cell_text` gives it (``text``: NFKC, stripped).
It returns the field's value as careflow stores it; what it returns for a refused cell is in its docstring (a row
with any problem is refused as a whole, but one check's value may feed another: the ID number's birth date, the
key care criteria). Each problem goes to ``report(field, value, code, message)``: the careflow field, the value
shown (the cell as written unless the docstring says otherwise), a machine code and the message in Chinese; the
validator adds the line and the column as written (:class:`careflow.survey.validate.RowIssue`). A check never
raises for bad data, and one field may report several problems.
"""
from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from careflow.survey.cells import (
    CONTROL_CHARS,
    DateProblem,
    FLOATISH,
    NO_WORDS,
    SEX_WORDS,
    YES_WORDS,
    cell_text,
    control_character_problem,
    fast_resident_id,
    parse_criteria,
    parse_date,
)
from models import eligibility
from models.eligibility import KeyCareCriterion
from models.regions import Region
from models.resident_id import InvalidResidentID, normalize_resident_id, recover_lost_x

#: ``report(field, value, code, message)``: one problem (or, for ``note``, one correction) of the row.
Report = Callable[[str, Any, str, str], None]
#: The county of a cell's text, or the message saying why there is none (a memo of
#: :func:`careflow.survey.cells.county_of_text`).
CountyOf = Callable[[str], Region | str]


def check_control_characters(fields: tuple[str, ...], raws: list[Any], report: Report) -> bool:
    """Any field: no control character (C0 except tab and line breaks, DEL, C1) in a cell careflow reads; whether
    the row has one (then it is refused as a whole and no other field is checked).

    Error ``control_character``: ``第 3 个字符是控制字符 U+0000，请删除后重新导入`` for each such cell.
    Source: PostgreSQL cannot store NUL, and nobody typed one (the file was damaged on the way).
    """
    try:  # a CSV row: all text, one search for the row
        controls = CONTROL_CHARS.search("".join(raws)) is not None
    except TypeError:  # XLSX cells: numbers, dates, None
        controls = any(v.__class__ is str and CONTROL_CHARS.search(v) for v in raws)
    if controls:
        for name, raw in zip(fields, raws):
            found = control_character_problem(raw) if raw.__class__ is str else None
            if found:
                report(name, raw, "control_character", found)
    return controls


def check_resident_id(raw: Any, today: datetime.date, report: Report, note: Report) -> str | None:
    """身份证号 (``resident_id``, required): the canonical 18-character ID number, or None.

    Forgiven: whitespace and full-width characters, a lower-case ``x``; an ID stored as a number that lost its
    trailing ``X`` is recovered (17 digits whose check character is X: note ``lost_x_recovered``
    身份证号末位 X 缺失（被存成数字），已按校验码补回, the value shown as text).

    Errors: ``required`` 必填; ``number_lost_digits`` 身份证号被存成了数字，后几位已丢失… (a float cell) or
    …（科学计数法）… (``3.50302E+17`` as text); and, from :func:`models.resident_id.normalize_resident_id`,
    ``length`` 长度为 N 位，应为 18 位, ``format`` 应为 17 位数字加 1 位数字或 X, ``checksum`` 校验码错误，应为 X,
    ``birth_date`` 出生日期部分无效, ``birthplace`` 地址码 NNNNNN 不是有效的行政区划代码, ``type`` 不是文本或整数.
    Source: GB 11643 (公民身份号码); a birth date after ``today`` is refused.
    """
    if raw.__class__ is str:
        found = fast_resident_id(raw.strip(), today)
        if found is not None:
            return found
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        report("resident_id", raw, "required", "必填")
        return None
    if isinstance(raw, float):
        report("resident_id", raw, "number_lost_digits",
               "身份证号被存成了数字，后几位已丢失；请把该列设为文本格式后重新导出")
        return None
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raw = cell_text(raw)
    text = "".join(cell_text(raw).split()).upper()
    fast = fast_resident_id(text, today)
    if fast:
        return fast
    if FLOATISH.fullmatch(text):
        report("resident_id", raw, "number_lost_digits",
               "身份证号被存成了数字（科学计数法），后几位已丢失；请把该列设为文本格式后重新导出")
        return None
    recovered = recover_lost_x(raw)
    if recovered:
        note("resident_id", cell_text(raw), "lost_x_recovered", "身份证号末位 X 缺失（被存成数字），已按校验码补回")
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
        report("resident_id", raw, exc.code, messages.get(exc.code, exc.reason))
        return None


def check_full_name(text: str, raw: Any, report: Report) -> str:
    """姓名 (``full_name``, required): the name with each run of spaces (tabs, full-width spaces) made one space.

    Errors: ``required`` 必填; ``too_long`` 姓名超过 64 个字符 (the value shown: the name as cleaned).
    Source: the child's record (``child.full_name``, ``survey_record.full_name``: 64 characters).
    """
    full_name = text
    if "  " in full_name or "\t" in full_name or "\u3000" in full_name:
        full_name = " ".join(full_name.split())
    if not full_name:
        report("full_name", raw, "required", "必填")
    elif len(full_name) > 64:
        report("full_name", full_name, "too_long", "姓名超过 64 个字符")
    return full_name


def check_sex(text: str, raw: Any, resident_id: str | None, report: Report) -> str:
    """性别 (``sex``, optional): ``男`` or ``女`` as the ID number says (its 17th digit: odd 男, even 女); a blank
    cell takes it from there, a cell of ``男``/``女``/``男性``/``M``/``1``… must agree with it.

    Errors: ``invalid`` 性别应为 男 或 女; ``mismatch`` 与身份证号不符（身份证号为男性）.
    Source: GB 11643 (the order code's last digit gives the sex).
    """
    sex = ""
    if raw is not None:
        text = text.lower()
        if text:
            sex = SEX_WORDS.get(text, "")
            if not sex:
                report("sex", raw, "invalid", "性别应为 男 或 女")
    if resident_id:
        from_id = "男" if (ord(resident_id[16]) - 48) % 2 else "女"
        if sex and sex != from_id:
            report("sex", raw, "mismatch", f"与身份证号不符（身份证号为{from_id}性）")
        sex = from_id
    return sex


def check_birth_date(raw: Any, birth: datetime.date | None, report: Report) -> None:
    """出生日期 (``birth_date``, optional: the ID number says it, and careflow stores the ID's): when given, a
    date (:func:`careflow.survey.cells.parse_date`) equal to the ID number's ``birth``.

    Errors: ``invalid_date`` …不是可识别的日期（如 2015-03-15…）, ``incomplete_date`` …缺少日，请填写完整日期（年月日）;
    ``mismatch`` 与身份证号中的出生日期 2015-03-15 不符. Source: GB 11643 (digits 7–14 are the birth date).
    """
    if raw is None:
        return
    parsed = parse_date(raw)
    if isinstance(parsed, DateProblem):
        if parsed.code != "required":
            report("birth_date", raw, parsed.code, parsed.message)
    elif birth and parsed != birth:
        report("birth_date", raw, "mismatch", f"与身份证号中的出生日期 {birth.isoformat()} 不符")


def check_hukou_county(text: str, raw: Any, county_of: CountyOf, report: Report) -> Region | None:
    """户籍地 (``hukou_county``, required): the county of registration, by GB/T 2260 code or name (``城厢区``,
    ``莆田市城厢区``; outside Fujian by code), or a 9/12-digit township/village code (its first six digits).

    Errors: ``required`` 必填; ``unknown_region`` 无法识别的县（市、区）：… (what was not found).
    Source: 方案 一 (a migrant child lives outside the county of their 户籍), GB/T 2260.
    """
    if not text:
        report("hukou_county", raw, "required", "必填")
        return None
    found = county_of(text)
    if found.__class__ is str:
        report("hukou_county", raw, "unknown_region", f"无法识别的县（市、区）：{found}")
        return None
    return found


def check_residence_county(text: str, raw: Any, county: Region, county_of: CountyOf,
                           report: Report) -> Region | None:
    """居住地（县区） (``residence_county``, optional): the importing ``county`` (blank means it); written as for
    :func:`check_hukou_county`, it must be that county.

    Errors: ``unknown_region`` 无法识别的县（市、区）：…; ``other_county`` 居住地为 350823 福建省龙岩市上杭县，不属于本次
    摸排的 350302 福建省莆田市城厢区. Source: 方案 一（一） (each county surveys the migrant children living in it).
    """
    if not text:
        return county
    found = county_of(text)
    if found.__class__ is str:
        report("residence_county", raw, "unknown_region", f"无法识别的县（市、区）：{found}")
        return None
    if found.code != county.code:
        report("residence_county", raw, "other_county",
               f"居住地为 {found.code} {found.full_name}，不属于本次摸排的 {county.code} {county.full_name}")
        return None
    return county


def check_area_code(text: str, raw: Any, county: Region, report: Report) -> str:
    """居住地乡镇/村居代码 (``residence_area_code``, optional): a 9-digit township or 12-digit village (居) code
    inside the importing ``county``; "" when blank or refused.

    Errors: ``invalid`` 乡镇代码应为 9 位、村（居）代码应为 12 位数字; ``other_county`` 不在本县（区）350302 城厢区 范围内.
    Source: the statistical area codes below the county (乡镇/街道 9 digits, 村/社区 12, their first six digits the
    county), :mod:`models.areas`; the file is kept at the township of residence (方案 一（二）).
    """
    if not text:
        return ""
    if not text.isdigit() or len(text) not in (9, 12):
        report("residence_area_code", raw, "invalid", "乡镇代码应为 9 位、村（居）代码应为 12 位数字")
        return ""
    if not text.startswith(county.code):
        report("residence_area_code", raw, "other_county", f"不在本县（区）{county.code} {county.name} 范围内")
        return ""
    return text


def check_address(text: str, report: Report) -> str:
    """居住地址 (``residence_address``, optional): the address with each run of spaces made one space.

    Error: ``too_long`` 居住地址超过 200 个字符 (the value shown: the address as cleaned).
    Source: the child's record (``child.residence_address``, ``survey_record.residence_address``: 200 characters).
    """
    if not text:
        return text
    address = " ".join(text.split())
    if len(address) > 200:
        report("residence_address", address, "too_long", "居住地址超过 200 个字符")
    return address


def check_arrival_date(raw: Any, birth: datetime.date | None, today: datetime.date, round_end: datetime.date,
                       report: Report) -> datetime.date | None:
    """来本地日期 (``arrival_date``, required): a whole date (:func:`careflow.survey.cells.parse_date`; a month
    without a day is refused: the six-month test needs the day), not before ``birth``, after ``today`` or after the
    round's ``round_end``; None when refused.

    Errors: ``required`` 必填, ``invalid_date`` …不是可识别的日期…, ``incomplete_date`` …缺少日…; from
    :func:`models.eligibility.check_arrival_date`: ``before_birth`` …早于出生日期…, ``in_future`` …晚于今天…,
    ``after_round`` …晚于本轮摸排的截止日期…. Source: 方案 一 (跨县域异地居住或生活 6 个月以上).
    """
    arrival = parse_date(raw)
    if arrival.__class__ is DateProblem:
        report("arrival_date", raw, arrival.code, arrival.message)
        return None
    if birth is not None and (arrival < birth or arrival > today or arrival > round_end):
        wrong = eligibility.check_arrival_date(arrival, birth_date=birth, today=today, round_end=round_end)
        if wrong is not None:
            report("arrival_date", raw, wrong.code, wrong.message)
            return None
    return arrival


def check_key_care(text: str, raw: Any, report: Report) -> tuple[str, ...]:
    """重点关爱情形 (``key_care``, optional): the sorted criterion codes of the cell — the policy's words or common
    variants, several separated by ``、，,;；/`` or spaces; ``无`` or blank for none.

    Error: ``unknown_criterion`` 无法识别“…”（应为：家庭生活困难、自身残疾…，或 无） (then no criterion is read).
    Source: 方案 一（二） (the grounds of a key care target, :class:`models.eligibility.KeyCareCriterion`).
    """
    if raw is None:
        return ()
    criteria, unknown = parse_criteria(text)
    if unknown is not None:
        allowed = "、".join(c.zh for c in KeyCareCriterion)
        report("key_care", raw, "unknown_criterion", f"无法识别“{unknown}”（应为：{allowed}，或 无）")
    return criteria


def check_criterion_columns(criteria: tuple[str, ...], columns: list[tuple[str, int]], cells: list[Any],
                            report: Report) -> tuple[str, ...]:
    """One 是/否 column per criterion (``kc:<code>``, e.g. ``kc:disability`` under 自身残疾): ``criteria`` with the
    codes of the columns marked yes (是/√/1/有…) added, sorted; no (否/×/0/无…) or blank adds nothing.
    ``columns``: (criterion code, column index) of the file.

    Error: ``invalid`` 应为 是 或 否, for each column with another value. Source: 方案 一（二）.
    """
    found_criteria = set(criteria)
    for code, j in columns:
        value = cells[j]
        text = cell_text(value).lower()
        if text in YES_WORDS:
            found_criteria.add(code)
        elif text not in NO_WORDS:
            report(f"kc:{code}", value, "invalid", "应为 是 或 否")
    return tuple(sorted(found_criteria))


def check_guardian(name: str, relation: str, phone: str, report: Report) -> None:
    """监护人 (``guardian_name``), 监护人关系 (``guardian_relation``), 监护人联系电话 (``guardian_phone``), all
    optional, kept as written (the value shown: the text).

    Error: ``too_long`` 超过 64 个字符 (the name), 超过 32 个字符 (the relation, the phone).
    Source: the round record (``survey_record.guardian_*``: 64, 32 and 32 characters).
    """
    if len(name) > 64:
        report("guardian_name", name, "too_long", "超过 64 个字符")
    if len(relation) > 32:
        report("guardian_relation", relation, "too_long", "超过 32 个字符")
    if len(phone) > 32:
        report("guardian_phone", phone, "too_long", "超过 32 个字符")
