"""The parameters of a list — its filters, search box, sort order, page size and cursor — and their validation.

A list describes what it may be filtered by in a :class:`ListSpec`: each :class:`Filter` is a choice among values
(:class:`Choice`), a local day (YYYY-MM-DD), an area (a GB/T 2260 code of 2, 4, 6, 9 or 12 digits, or the name of
a county, township or village: :func:`models.areas.resolve_area`), an agency unit code or free text. The search
text ``q`` is at most 64 characters; ``size`` 1..:data:`~web.paging.MAX_PAGE_SIZE` (default
:data:`~web.paging.DEFAULT_PAGE_SIZE`); ``cursor`` one that :class:`web.paging.Cursor` made for the chosen order.

Bad input (an unknown filter value, a malformed date, a forged cursor, a page size out of range, a control
character anywhere) raises :class:`InvalidParam`, whose message is in the reader's language and names the field
and the value; pages answer 400 with the message, the API 400 ``{"detail": message}`` — never a 500.

Date filters are local days in the time zone given (Asia/Shanghai, ``CAREFLOW_TIMEZONE``), both ends included.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from models.areas import resolve_area
from models.policy import load_policy
from web.i18n import Translator
from web.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Cursor, Order, PageRequest


class InvalidParam(ValueError):
    """A list parameter that does not validate; ``str()`` is the message for people (naming field and value)."""

    def __init__(self, message: str, *, field_name: str, value: str):
        super().__init__(message)
        self.field_name = field_name
        self.value = value


def invalid(t: Translator, field_name: str, label: str, value: str, allowed: str = "") -> InvalidParam:
    """An :class:`InvalidParam` for ``field_name`` (shown as ``label``) and ``value``; ``allowed`` says what is."""
    return InvalidParam(t("list.invalid", label=label, field=field_name, value=str(value)[:80],
                          allowed=(t("list.allowed", allowed=allowed) if allowed else "")),
                        field_name=field_name, value=str(value))


# --------------------------------------------------------------------------------------------- what a list takes


@dataclass(frozen=True)
class Choice:
    """A filter value and its label: a catalogue key of :mod:`web.i18n`, or ``labels`` (Chinese, English) for
    labels that live in the policy (pathway titles)."""

    value: str
    label_key: str = ""
    labels: tuple[str, str] | None = None

    def label(self, t: Translator) -> str:
        if self.labels:
            return self.labels[0] if t.lang == "zh" else self.labels[1]
        return t(self.label_key)


@dataclass(frozen=True)
class Filter:
    """One filter parameter of a list: ``kind`` is ``choice`` (one of ``choices``), ``date`` (YYYY-MM-DD),
    ``area`` (a GB/T 2260 code of 2, 4, 6, 9 or 12 digits), ``unit`` (an agency unit code) or ``text``."""

    name: str
    label_key: str
    kind: str = "choice"
    choices: tuple[Choice, ...] = ()
    default: str = ""
    description: str = ""

    def openapi(self) -> dict:
        schema: dict = {"type": "string"}
        if self.kind == "choice":
            schema["enum"] = [c.value for c in self.choices]
        elif self.kind == "date":
            schema["format"] = "date"
        return {"name": self.name, "in": "query", "required": False, "schema": schema,
                "description": self.description or self.label_key}


def yes_no(name: str, label_key: str) -> Filter:
    """A filter answered 是 (``yes``) or 否 (``no``)."""
    return Filter(name, label_key, choices=(Choice("yes", "common.yes"), Choice("no", "common.no")))


def pathway_choices() -> tuple[Choice, ...]:
    """The pathways of the policy (titles from ``policy/pathways/*.yaml``), then ``duty``: a dated duty outside any
    case."""
    pathways = tuple(Choice(key, labels=(p.title_zh, p.title_en or p.title_zh))
                     for key, p in load_policy().pathways.items())
    return pathways + (Choice("duty", "list.duty"),)


@dataclass(frozen=True)
class ListSpec:
    """A list's parameters: its filters, its orders (the first is the default) and the search box (``q``)."""

    filters: tuple[Filter, ...]
    orders: tuple[Order, ...]
    search_hint_key: str = ""

    def openapi_parameters(self) -> list[dict]:
        params = [f.openapi() for f in self.filters]
        if self.search_hint_key:
            params.append({"name": "q", "in": "query", "required": False, "schema": {"type": "string",
                                                                                   "maxLength": 64},
                           "description": "search (see the list's description)"})
        params += [
            {"name": "sort", "in": "query", "required": False,
             "schema": {"type": "string", "enum": [o.key for o in self.orders]}, "description": "order"},
            {"name": "size", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
             "description": f"page size (default {DEFAULT_PAGE_SIZE})"},
            {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"},
             "description": "from the previous answer's next/previous URL"},
        ]
        return params


@dataclass
class ListParams:
    """Validated list parameters: ``filters`` by name (absent when not given), the search text, the page."""

    filters: dict[str, Any]
    q: str
    page: PageRequest
    raw: dict[str, str]


# --------------------------------------------------------------------------------------------- validation


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_AREA = re.compile(r"^(\d{2}|\d{4}|\d{6}|\d{9}|\d{12})$")
_UNIT = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def _text(params: Mapping, name: str) -> str:
    return str(params.get(name, "") or "")


def _refuse_control_characters(params: Mapping, spec: ListSpec, t: Translator) -> None:
    """PostgreSQL refuses NUL in text; no filter value, search, order, size or cursor holds a control character."""
    labels = {f.name: t(f.label_key) for f in spec.filters} | {
        "q": t("list.search"), "sort": t("list.sort"), "size": t("list.size"), "cursor": t("list.cursor")}
    for name, label in labels.items():
        text = _text(params, name)
        if _CONTROL.search(text):
            raise invalid(t, name, label, text.encode("unicode_escape").decode(), t("list.no_control"))


def _filter_value(flt: Filter, text: str, label: str, t: Translator) -> Any:
    """The value of filter ``flt`` typed as ``text`` (stripped, not empty), by its kind."""
    if flt.kind == "choice":
        if text not in {c.value for c in flt.choices}:
            raise invalid(t, flt.name, label, text, t.list_sep.join(c.value + t.paren(c.label(t)) for c in flt.choices))
        return text
    if flt.kind == "date":
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise invalid(t, flt.name, label, text, "YYYY-MM-DD") from None
    if flt.kind == "area":  # a code, or the name of a county, township or village (models.areas)
        code = resolve_area(text) or ""
        if not _AREA.match(code):
            raise invalid(t, flt.name, label, text, t("list.area_hint"))
        return code
    if flt.kind == "unit":
        if not _UNIT.match(text):
            raise invalid(t, flt.name, label, text, t("list.unit_hint"))
        return text
    return text[:64]


def _filter_values(params: Mapping, spec: ListSpec, t: Translator, allowed: set[str] | None
                   ) -> tuple[dict[str, Any], dict[str, str]]:
    """``(values, raw)``: each filter's value (its default when not given) and the text of those given."""
    values: dict[str, Any] = {}
    raw: dict[str, str] = {}
    for flt in spec.filters:
        text = _text(params, flt.name).strip()
        label = t(flt.label_key)
        if not text:
            if flt.default:
                values[flt.name] = flt.default
            continue
        if allowed is not None and flt.name not in allowed:
            raise invalid(t, flt.name, label, text, t("list.not_for_you"))
        raw[flt.name] = text
        values[flt.name] = _filter_value(flt, text, label, t)
    return values, raw


def _search(params: Mapping, t: Translator) -> str:
    q = _text(params, "q").strip()
    if len(q) > 64:
        raise invalid(t, "q", t("list.search"), q, t("list.search_long"))
    return q


def _order(params: Mapping, spec: ListSpec, t: Translator) -> Order:
    sort = _text(params, "sort").strip() or spec.orders[0].key
    orders = {o.key: o for o in spec.orders}
    if sort not in orders:
        raise invalid(t, "sort", t("list.sort"), sort, t.list_sep.join(o.key + t.paren(t(o.label_key))
                                                                        for o in spec.orders))
    return orders[sort]


def _page_size(params: Mapping, t: Translator) -> int:
    size_text = _text(params, "size").strip()
    if not size_text:
        return DEFAULT_PAGE_SIZE
    if not size_text.isdigit() or not 1 <= int(size_text) <= MAX_PAGE_SIZE:
        raise invalid(t, "size", t("list.size"), size_text, f"1–{MAX_PAGE_SIZE}")
    return int(size_text)


def _cursor(params: Mapping, order: Order, t: Translator) -> Cursor | None:
    cursor_text = _text(params, "cursor").strip()
    if not cursor_text:
        return None
    try:
        return Cursor.decode(cursor_text, order)
    except (ValueError, TypeError, KeyError, IndexError, json.JSONDecodeError, UnicodeDecodeError):
        raise invalid(t, "cursor", t("list.cursor"), cursor_text, t("list.cursor_hint")) from None


def parse_list_params(params: Mapping, spec: ListSpec, t: Translator, *, allowed: set[str] | None = None
                      ) -> ListParams:
    """Validate the query parameters ``params`` (a mapping) of a list described by ``spec``.

    ``allowed`` limits which filters this user may use (others are refused, as unknown values would be).

    Raises:
        InvalidParam: naming the field and the value, in the reader's language.
    """
    _refuse_control_characters(params, spec, t)
    values, raw = _filter_values(params, spec, t, allowed)
    q = _search(params, t)
    order = _order(params, spec, t)
    size = _page_size(params, t)
    cursor = _cursor(params, order, t)
    if order.key != spec.orders[0].key:
        raw["sort"] = order.key
    if q:
        raw["q"] = q
    return ListParams(values, q, PageRequest(order, size, cursor), raw)


# --------------------------------------------------------------------------------------------- local days


def day_start(day: dt.date, tz: str) -> dt.datetime:
    """00:00 of ``day`` in time zone ``tz`` (Asia/Shanghai), as an aware UTC datetime: date filters are local days."""
    return dt.datetime.combine(day, dt.time(), ZoneInfo(tz)).astimezone(dt.timezone.utc)


def date_range(column, params: ListParams, start: str, end: str, tz: str) -> list:
    """Conditions for a ``start``..``end`` filter pair of local days (both inclusive) on a UTC time ``column``."""
    conditions = []
    if start in params.filters:
        conditions.append(column >= day_start(params.filters[start], tz))
    if end in params.filters:
        conditions.append(column < day_start(params.filters[end] + dt.timedelta(days=1), tz))
    return conditions
