"""Typed answers that change what a pathway does: amounts in yuan and service-list items (issue 12, item 3).

A branching input is never free text. Three field types of ``policy/pathways/*.yaml`` (besides ``bool``, ``text``
and ``choice``) read what a person gave and return the value stored, or refuse it with a
:class:`FieldValueError` naming the field:

- ``amount``: a sum of money in yuan, written in digits (``800``, ``800.50``, ``1,000``, ``800元``, full-width
  digits); at most two decimals (分), not negative, below 100 000 000. Stored as text without trailing zeros
  (``"800"``, ``"800.5"``). ``八百`` is refused: the amount decides whether the small-amount step (小额快救) runs.
- ``service_item``: one item of the provincial service list (policy/service_list.yaml), by number (``13``,
  ``"第13项"``), by its service's name or a part of it naming one item (``最低生活保障``), or by an everyday
  short name (:data:`ALIASES`: ``低保`` → 13, ``特困`` → 14). Stored as the number's text (``"13"``).
- ``date``: a day (a reply's date, the day an application was forwarded), written ``2026-12-01``, ``2026/12/1`` or
  ``2026年12月1日``; not later than today in Asia/Shanghai. Stored as ``"2026-12-01"``.
- ``service_items``: items referred onward, or ``none`` (无需转介): a list or text of numbers or names in any
  separators (``"13,16"``, ``"第13项、第16项"``). Stored as ``"13,16"`` (order kept, duplicates dropped) or
  ``"none"``.

Nothing here reads the database: the caller passes the service list (number → service name).
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

import pendulum

from models.errors import FieldProblem, wording

#: The stored value of an onward referral to nothing (无需转介).
NO_REFERRAL = "none"
_NO_REFERRAL_WORDS = {NO_REFERRAL, "无", "无需转介", "不转介", "no", "0"}
#: The largest amount accepted, in yuan (a typo guard, not a policy limit).
AMOUNT_LIMIT = Decimal("100000000")
#: Everyday short names of items (a token may also be a part of exactly one item's service name).
ALIASES = {"低保": 13, "特困": 14, "特困供养": 14, "临时救助": 15, "医疗救助": 7, "医保": 7}
_SEPARATORS = re.compile(r"[,，、;；/\s]+")

#: Chinese wording of each problem, for logs and the command line; pages and the API word them from the
#: catalogue key ``form.<key>`` in the reader's language (:mod:`web.form_errors`).
_ZH = {
    "amount": "请用阿拉伯数字填写金额（元），如 800 或 800.50",
    "amount_negative": "金额不能为负数",
    "amount_cents": "金额最多保留两位小数（分）",
    "amount_too_large": "金额过大，请核对",
    "service_item": "请从关爱服务清单中选择服务项目",
    "service_items_none": "选择了“无需转介”就不能再选其他服务项目",
    "date": "不是有效日期，请按“年-月-日”填写，如 2026-12-01",
    "date_future": "日期不能晚于今天（{today}）",
    "required_when": "{other_label}选择“{when}”时必须填写",
}


class FieldValueError(FieldProblem, ValueError):
    """A value a typed field refuses: ``field`` (its name), ``key`` (the problem; catalogue key ``form.<key>``),
    ``value`` (as given) and the message's ``values``. ``str()`` is Chinese: ``字段 amount_yuan：请用阿拉伯数字…``;
    :meth:`text` (the command line) words it in the reader's language with the field's label (``labels``, the
    policy's, set by :class:`models.outcome_fields.OutcomeField`), e.g. 「清单服务项目：「99」请从关爱服务清单中选择
    服务项目」 / ``Service list item: “99”: choose an item of the service list``."""

    def __init__(self, field: str, key: str, value: Any = "", **values: Any) -> None:
        super().__init__(field, key, **values)
        self.value = "" if value is None else str(value)

    def __str__(self) -> str:
        return f"字段 {self.field}：" + _ZH.get(self.key, "填写有误").format(**self.values)

    def message(self, lang: str) -> str:
        """What is wrong in ``lang`` (``form.<key>``), the value as given quoted first; the Chinese text before
        core.i18n is loaded."""
        message = wording("message")
        if message is None:
            return str(self)
        values = dict(self.values)
        if "other" in values:  # required when another field has a value: that field and value by their labels
            other = str(values["other"])
            values["other_label"] = self.labels.get(f"other_{lang}") or values.get("other_label") or other
            values["when"] = wording("option")(values.get("when", ""), f"option.{other}", lang)
        text = message(f"form.{self.key}", lang, **values)
        return (message("form.value_was", lang, value=self.value[:60]) if self.value else "") + text


def _normalised(value: Any) -> str:
    return unicodedata.normalize("NFKC", str(value)).strip()


def parse_amount(field: str, value: Any) -> str:
    """An amount in yuan as stored (``"800"``, ``"800.5"``).

    Raises:
        FieldValueError: not written in digits (``八百``), negative, more than two decimals, or too large.
    """
    if isinstance(value, bool):
        raise FieldValueError(field, "amount", value)
    text = _normalised(value).replace(",", "").removesuffix("元").strip().lstrip("¥￥").strip()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise FieldValueError(field, "amount", value) from None
    if not amount.is_finite():
        raise FieldValueError(field, "amount", value)
    if amount < 0:
        raise FieldValueError(field, "amount_negative", value)
    if amount != amount.quantize(Decimal("0.01")):
        raise FieldValueError(field, "amount_cents", value)
    if amount >= AMOUNT_LIMIT:
        raise FieldValueError(field, "amount_too_large", value)
    return f"{amount:.2f}".rstrip("0").rstrip(".")


_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")


def parse_date(field: str, value: Any, today: date | None = None) -> str:
    """A day as stored (``"2026-12-01"``), not later than ``today`` (default: today in Asia/Shanghai).

    Raises:
        FieldValueError: not a date written year-month-day (key ``date``), or a day after today (``date_future``).
    """
    if isinstance(value, date):
        day = value
    else:
        match = _DATE.fullmatch(_normalised(value)) if not isinstance(value, bool) else None
        try:
            day = date(*(int(g) for g in match.groups())) if match else None
        except ValueError:
            day = None
        if day is None:
            raise FieldValueError(field, "date", value)
    today = today or _today_in_shanghai()
    if day > today:
        raise FieldValueError(field, "date_future", value, today=today.isoformat())
    return day.isoformat()


def _today_in_shanghai() -> date:
    return pendulum.now("Asia/Shanghai").date()


def _item_number(field: str, token: Any, items: Mapping[int, str], original: Any) -> int:
    text = _normalised(token)
    digits = re.fullmatch(r"第?(\d{1,3})项?", text)
    if digits and int(digits.group(1)) in items:
        return int(digits.group(1))
    if text in ALIASES and ALIASES[text] in items:
        return ALIASES[text]
    named = [number for number, service in items.items() if len(text) >= 2 and text in _normalised(service)]
    if len(named) == 1:
        return named[0]
    raise FieldValueError(field, "service_item", original)


def parse_service_item(field: str, value: Any, items: Mapping[int, str]) -> str:
    """One service-list item as stored (``"13"``); ``items`` maps each number to its service's name.

    Raises:
        FieldValueError: not a number or name of the list.
    """
    if isinstance(value, bool) or isinstance(value, (list, tuple)):
        raise FieldValueError(field, "service_item", value)
    return str(_item_number(field, value, items, value))


def parse_service_items(field: str, value: Any, items: Mapping[int, str]) -> str:
    """Service-list items referred onward as stored (``"13,16"``), or :data:`NO_REFERRAL`.

    Raises:
        FieldValueError: a number or name not on the list, or ``none`` together with items.
    """
    if isinstance(value, bool):
        raise FieldValueError(field, "service_item", value)
    tokens = [str(v) for v in value] if isinstance(value, (list, tuple)) else _SEPARATORS.split(_normalised(value))
    tokens = [t.strip() for t in tokens if t and t.strip()]
    none = [t for t in tokens if t.lower() in _NO_REFERRAL_WORDS]
    chosen = [t for t in tokens if t.lower() not in _NO_REFERRAL_WORDS]
    if none and chosen:
        raise FieldValueError(field, "service_items_none")
    if not chosen:
        return NO_REFERRAL
    numbers: list[int] = []
    for token in chosen:
        number = _item_number(field, token, items, token)
        if number not in numbers:
            numbers.append(number)
    return ",".join(str(n) for n in numbers)


def item_numbers(stored: Any) -> list[int]:
    """The item numbers of a stored ``service_items`` value (``"13,16"`` → ``[13, 16]``; ``none`` → ``[]``)."""
    return [int(d) for d in re.findall(r"\d+", _normalised(stored or ""))]
