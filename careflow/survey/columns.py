"""Column headers of a county's survey spreadsheet and finding the header row.

Counties send the survey with Chinese headers written in many ways (``身份证号`` / ``公民身份号码`` /
``身份证号码``…), often under a title row (``城厢区2026年10月流动儿童监测摸排表``, merged across the sheet) and
sometimes with a two-row header whose first row groups columns (``居住地`` over ``县（区）`` and
``乡镇/村居代码``; ``监护人`` over ``姓名``, ``关系``, ``联系电话``). :func:`find_header` finds the header
among the first rows and maps each column to a careflow field.

Headers are compared after :func:`normalize_header`: NFKC (full-width brackets become ASCII), and with
whitespace, brackets, slashes, colons, asterisks and similar marks removed — so ``居住地（县区）``,
``居住地(县/区)`` and ``*居住地县区`` are the same header.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Sequence

from models.eligibility import KeyCareCriterion

#: careflow field → accepted headers (normalised when compared).
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "full_name": ("姓名", "儿童姓名", "名字", "学生姓名", "流动儿童姓名"),
    "sex": ("性别", "儿童性别"),
    "resident_id": ("身份证号", "身份证号码", "公民身份号码", "公民身份证号", "公民身份证号码", "居民身份证号",
                    "居民身份证号码", "证件号码", "证件号", "身份证", "儿童身份证号", "儿童身份证号码"),
    "birth_date": ("出生日期", "出生年月日", "生日", "出生时间"),
    "hukou_county": ("户籍地", "户籍所在地", "户籍地县区", "户籍县区", "户籍地址", "户籍地代码", "户口所在地",
                     "户籍所在县区", "户籍地县市区", "户籍地区划代码"),
    "residence_county": ("居住地县区", "居住地", "居住县区", "现居住地", "现居住县区", "居住地县市区", "居住地代码",
                         "现居住地县区", "居住地区划代码", "居住地县区代码"),
    "residence_area_code": ("居住地乡镇村居代码", "乡镇村居代码", "村居代码", "乡镇街道代码", "居住地村居代码",
                            "居住地乡镇代码", "居住地乡镇街道村居代码", "村居委会代码", "乡镇村居", "所在村居代码"),
    "residence_address": ("居住地址", "详细地址", "现住址", "居住地详细地址", "现居住地址", "家庭住址"),
    "arrival_date": ("来本地日期", "来本地时间", "到达日期", "来本地居住日期", "流入时间", "流入日期",
                     "来本地居住时间", "迁入日期", "到达本地日期"),
    "key_care": ("重点关爱情形", "重点关爱服务对象情形", "关爱情形", "困境情形", "重点关爱类型", "重点关爱对象情形",
                 "是否重点关爱服务对象情形", "重点关爱服务对象类型"),
    "guardian_name": ("监护人", "监护人姓名"),
    "guardian_relation": ("监护人关系", "与儿童关系", "与监护人关系", "监护关系", "关系", "监护人与儿童关系"),
    "guardian_phone": ("监护人电话", "监护人联系电话", "联系电话", "联系方式", "监护人联系方式", "电话", "手机号码"),
    # one column per criterion (是/否), as some templates have them
    "kc:family_hardship": ("家庭生活困难", "家庭困难"),
    "kc:disability": ("自身残疾", "残疾"),
    "kc:missing_guardianship": ("监护缺失",),
    "kc:vagrancy": ("流浪",),
    "kc:psychological_behavioural": ("心理和行为异常", "心理行为异常"),
    "kc:cross_township_help_request": ("主动提出救助帮扶需求", "主动求助", "跨乡镇主动求助"),
}

#: Fields a file must have (the key care information may come as one column or one column per criterion).
REQUIRED_FIELDS = ("full_name", "resident_id", "hukou_county", "arrival_date")

#: Chinese name of each field, for messages.
FIELD_LABELS: dict[str, str] = {
    "full_name": "姓名", "sex": "性别", "resident_id": "身份证号", "birth_date": "出生日期", "hukou_county": "户籍地",
    "residence_county": "居住地（县区）", "residence_area_code": "居住地乡镇/村居代码", "residence_address": "居住地址",
    "arrival_date": "来本地日期", "key_care": "重点关爱情形", "guardian_name": "监护人",
    "guardian_relation": "监护人关系", "guardian_phone": "监护人联系电话",
    **{f"kc:{c.value}": c.zh for c in KeyCareCriterion},
}

_STRIP = re.compile(r"[\s()\[\]{}<>《》【】〔〕/\\、,，.。:：;；*＊\-—_·'\"“”‘’?？!！#＃]+")


def normalize_header(value: Any) -> str:
    """A header compared the forgiving way: NFKC, no whitespace or punctuation (see module docstring)."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFKC", str(value))
    return _STRIP.sub("", text)


_ALIAS_INDEX: dict[str, str] = {}
for _field, _aliases in FIELD_ALIASES.items():
    for _alias in _aliases:
        _ALIAS_INDEX.setdefault(normalize_header(_alias), _field)


def field_of(header: Any) -> str | None:
    """The careflow field of one header, or None."""
    return _ALIAS_INDEX.get(normalize_header(header))


@dataclass
class Header:
    """The header found in a sheet.

    Attributes:
        row_index: 0-based index (among the rows read) of the header's last row; data follows it.
        columns: careflow field → 0-based column index.
        labels: column index → the header text as written (two-row headers joined, e.g. ``居住地/县（区）``).
        ignored: headers that map to no field (shown in the report), e.g. ``序号``, ``备注``.
        duplicates: headers of a field already mapped to an earlier column (that column wins).
    """

    row_index: int
    columns: dict[str, int]
    labels: dict[int, str]
    ignored: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)

    @property
    def has_key_care(self) -> bool:
        return "key_care" in self.columns or any(f.startswith("kc:") for f in self.columns)

    def missing(self) -> list[str]:
        """Required fields not found (``key_care`` when neither form of the key care information is present)."""
        missing = [f for f in REQUIRED_FIELDS if f not in self.columns]
        if not self.has_key_care:
            missing.append("key_care")
        return missing


def _text(cell: Any) -> str:
    if cell is None:
        return ""
    return str(cell).strip()


def _labels(row: Sequence[Any], parent: Sequence[Any] | None) -> list[tuple[str, str | None]]:
    """(label as written, field) for each column of ``row``, combining it with a grouping ``parent`` row.

    A parent cell spreads right over the empty cells after it (a merged group header); a column whose own cell
    is empty takes its parent cell (a header merged downwards). The joined label ``parent + child`` is tried
    before the child alone, so ``监护人`` + ``姓名`` is the guardian's name, not the child's.
    """
    width = max(len(row), len(parent or ()))
    spread: list[str] = []
    last = ""
    for j in range(width):
        cell = _text(parent[j]) if parent is not None and j < len(parent) else ""
        last = cell or last
        spread.append(last)
    out: list[tuple[str, str | None]] = []
    for j in range(width):
        own = _text(row[j]) if j < len(row) else ""
        above = _text(parent[j]) if parent is not None and j < len(parent) else ""
        if not own:
            out.append((above, field_of(above)) if above else ("", None))
            continue
        group = spread[j]
        if group and group != own:
            joined = field_of(group + own)
            if joined:
                out.append((f"{group}/{own}", joined))
                continue
        out.append((own, field_of(own)))
    return out


def _is_title(row: Sequence[Any]) -> bool:
    return sum(1 for cell in row if _text(cell)) <= 1


def find_header(rows: Sequence[Sequence[Any]]) -> Header | None:
    """Find the header among the first rows of a sheet (title rows above it are skipped).

    ``rows`` are the first rows as read (up to 30 is plenty). The header is the first row that, alone or joined
    with the row above it as a group header, maps the ID number column and at least two other fields; a row
    above holding a single cell is a title, never a group header.

    Returns:
        the :class:`Header`, or None when no row looks like one.
    """
    def best_at(i: int) -> tuple[int, list[tuple[str, str | None]]] | None:
        candidates = [_labels(rows[i], None)]
        if i > 0 and not _is_title(rows[i - 1]):
            candidates.insert(0, _labels(rows[i], rows[i - 1]))
        best = None
        for labels in candidates:
            fields = {f for _, f in labels if f}
            if "resident_id" in fields and len(fields) >= 3 and (best is None or len(fields) > best[0]):
                best = (len(fields), labels)
        return best

    for i in range(len(rows)):
        best = best_at(i)
        if best is None:
            continue
        if i + 1 < len(rows):  # a two-row header: the row below names more fields under this one's groups
            below = best_at(i + 1)
            if below is not None and below[0] > best[0]:
                i, best = i + 1, below
        columns: dict[str, int] = {}
        names: dict[int, str] = {}
        ignored: list[str] = []
        duplicates: list[str] = []
        for j, (label, fld) in enumerate(best[1]):
            if not label:
                continue
            names[j] = label
            if fld is None:
                ignored.append(label)
            elif fld in columns:
                duplicates.append(label)
            else:
                columns[fld] = j
        return Header(row_index=i, columns=columns, labels=names, ignored=ignored, duplicates=duplicates)
    return None
