"""Keyset pagination, sorting and filter parsing shared by every list page and every JSON API list endpoint.

A list is one SQL query for the page and one bounded ``COUNT`` for the total, whatever the size of the table:

* the page: the list's query, ordered by a sort key whose last column is unique (the id), restricted to the rows
  after (or before) the cursor's key — ``WHERE (due_at, id) > (:due_at, :id) ORDER BY due_at, id LIMIT size + 1``
  — so that page 1,000 costs what page 1 costs (no ``OFFSET``), given an index on the sort key;
* the total: ``SELECT count(*) FROM (SELECT 1 … LIMIT 1001)`` over the same filters — it never reads more than
  :data:`COUNT_LIMIT` + 1 rows, so it never costs a full scan. Up to :data:`COUNT_LIMIT` rows it is exact
  (「共 N 条，第 x–y 条」); beyond, PostgreSQL's planner estimate of the unbounded query stands in (one ``EXPLAIN``,
  no rows read; 「约 N 条（估计数）」), and where there is none (SQLite, or an estimate not above the limit) the
  list says 「超过 1000 条」. :attr:`Page.total_exact` (the API's ``total_exact``) tells which.

A cursor (:class:`Cursor`) is opaque to callers: URL-safe base64 of the boundary row's sort values, the direction,
and the row's position in the list (for 「第 x–y 条」; approximate when rows were added or removed meanwhile).
It is not signed: the scope conditions of the user are applied to every query, so a forged cursor only moves the
window inside what the user may see.

Bad input (an unknown filter value, a malformed date, a forged cursor, a page size out of range) raises
:class:`InvalidParam`, whose message is in the reader's language and names the field and the value; pages answer
400 with the message, the API 400 ``{"detail": message}`` — never a 500.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, Generic, Sequence, TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlmodel import Session
from starlette.datastructures import URL

from models.areas import resolve_area
from web.counts import COUNT_LIMIT, count_rows
from web.i18n import Translator

#: Rows per page unless asked (``size``); at most :data:`MAX_PAGE_SIZE`.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

T = TypeVar("T")


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


# --------------------------------------------------------------------------------------------- sort orders


@dataclass(frozen=True)
class Order:
    """One sort order of a list: ``columns`` are ``(expression, descending)`` pairs; the last must be unique
    (the primary key) so that every row has one place in the order and no row is seen twice across pages."""

    key: str
    label_key: str
    columns: tuple[tuple[Any, bool], ...]

    def order_by(self, reverse: bool = False) -> list:
        return [(expr.asc() if desc == reverse else expr.desc()) for expr, desc in self.columns]

    def after(self, values: Sequence[Any], reverse: bool = False):
        """SQL condition: the row comes after ``values`` in this order (before, with ``reverse``).

        One row-value comparison when every column goes the same way (PostgreSQL walks the index from there);
        otherwise the expanded ``a > x OR (a = x AND b > y) …``.
        """
        exprs = [expr for expr, _ in self.columns]
        directions = {desc != reverse for _, desc in self.columns}
        if len(directions) == 1:
            descending = directions.pop()
            left = sa.tuple_(*exprs)
            right = sa.tuple_(*[sa.literal(v, type_=expr.type) for v, expr in zip(values, exprs)])
            return left < right if descending else left > right
        clauses = []
        for i, (expr, desc) in enumerate(self.columns):
            equal = [self.columns[j][0] == values[j] for j in range(i)]
            step = expr < values[i] if desc != reverse else expr > values[i]
            clauses.append(sa.and_(*equal, step))
        return sa.or_(*clauses)


# --------------------------------------------------------------------------------------------- cursors


def _dump_value(value: Any) -> list:
    if isinstance(value, dt.datetime):
        return ["t", value.isoformat()]
    if isinstance(value, dt.date):
        return ["d", value.isoformat()]
    if isinstance(value, uuid.UUID):
        return ["u", value.hex]
    if isinstance(value, bool) or value is None:
        raise TypeError(f"cannot page on {value!r}")
    if isinstance(value, int):
        return ["i", value]
    return ["s", str(value)]


def _load_value(item: Any) -> Any:
    kind, raw = item
    if kind == "t":
        value = dt.datetime.fromisoformat(raw)
        if value.tzinfo is None:
            raise ValueError("naive time")
        return value
    if kind == "d":
        return dt.date.fromisoformat(raw)
    if kind == "u":
        return uuid.UUID(hex=raw)
    if kind == "i" and isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if kind == "s" and isinstance(raw, str):
        return raw
    raise ValueError(f"bad cursor value {item!r}")


@dataclass(frozen=True)
class Cursor:
    """A page boundary: the sort values of one row, whether to read ``after`` it (next) or before it (previous),
    and that row's 0-based position in the list for a ``next`` cursor's following row / a ``previous`` cursor's row.
    """

    order: str
    values: tuple
    backwards: bool
    position: int

    def encode(self) -> str:
        data = {"o": self.order, "k": [_dump_value(v) for v in self.values], "b": int(self.backwards),
                "p": self.position}
        return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, order: Order) -> "Cursor":
        """Raises ValueError on anything but a cursor this module made for ``order``."""
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("o") != order.key:
            raise ValueError("cursor of another order")
        values = tuple(_load_value(item) for item in data["k"])
        position = data["p"]
        if len(values) != len(order.columns) or not isinstance(position, int) or position < 0:
            raise ValueError("cursor shape")
        return cls(order.key, values, bool(data["b"]), position)


# --------------------------------------------------------------------------------------------- pages


@dataclass
class Page(Generic[T]):
    """One page of a list: ``items`` (whatever the list presents), ``total`` rows matching the filters,
    ``first``/``last`` their 1-based positions (0 and 0 when empty), and cursors to the neighbouring pages.

    ``total_exact`` false: more than :data:`COUNT_LIMIT` rows match, and ``total`` is PostgreSQL's estimate
    (``total_estimated``, rounded to two significant digits, always above the limit) or ``COUNT_LIMIT + 1``
    meaning "more than :data:`COUNT_LIMIT`"."""

    items: list[T]
    total: int
    first: int
    last: int
    size: int
    next_cursor: str | None = None
    previous_cursor: str | None = None
    next_url: str | None = None
    previous_url: str | None = None
    first_url: str | None = None
    total_exact: bool = True
    total_estimated: bool = False

    def with_links(self, url: URL) -> "Page[T]":
        """Fill ``next_url``/``previous_url``/``first_url``: ``url`` with its ``cursor`` parameter replaced."""
        base = url.remove_query_params("cursor")
        self.next_url = str(base.include_query_params(cursor=self.next_cursor)) if self.next_cursor else None
        self.previous_url = (str(base.include_query_params(cursor=self.previous_cursor))
                             if self.previous_cursor else None)
        self.first_url = str(base) if self.previous_cursor else None
        return self

    def relative(self) -> "Page[T]":
        """Links as path + query (what pages put in ``href``)."""
        for name in ("next_url", "previous_url", "first_url"):
            value = getattr(self, name)
            if value:
                parsed = URL(value)
                setattr(self, name, parsed.path + (f"?{parsed.query}" if parsed.query else ""))
        return self

    def map(self, fn) -> "Page":
        return Page([fn(item) for item in self.items], self.total, self.first, self.last, self.size,
                    self.next_cursor, self.previous_cursor, self.next_url, self.previous_url, self.first_url,
                    self.total_exact, self.total_estimated)


class PageOut(BaseModel, Generic[T]):
    """A page of an API list: ``items``, the ``total`` matching the filters (exact when ``total_exact``),
    ``first``–``last`` (1-based positions, 0 when empty) and the URLs of the ``next`` and ``previous`` pages (null
    at either end)."""

    items: list[T]
    total: int = Field(description="rows matching the filters, all pages together; when total_exact is false, more "
                                   f"than {COUNT_LIMIT} match and this is the database's estimate (PostgreSQL) or "
                                   f"{COUNT_LIMIT + 1} meaning 'more than {COUNT_LIMIT}'")
    total_exact: bool = Field(description=f"whether total is exact (it is up to {COUNT_LIMIT} rows)")
    first: int = Field(description="1-based position of the first item (0 when empty)")
    last: int = Field(description="1-based position of the last item (0 when empty)")
    size: int = Field(description="page size asked for (parameter size, at most 200)")
    next: str | None = Field(description="URL of the next page, null on the last")
    previous: str | None = Field(description="URL of the previous page, null on the first")

    @classmethod
    def of(cls, page: Page) -> "PageOut":
        return cls(items=page.items, total=page.total, total_exact=page.total_exact, first=page.first,
                   last=page.last, size=page.size, next=page.next_url, previous=page.previous_url)


@dataclass(frozen=True)
class PageRequest:
    """What the caller asked for: an order, a page size and an optional cursor."""

    order: Order
    size: int = DEFAULT_PAGE_SIZE
    cursor: Cursor | None = None


def fetch_page(session: Session, query, count_query, request: PageRequest) -> Page:
    """Run one page of ``query`` (a ``select`` with the list's filters, without order or limit) and the total
    (:func:`count_rows` of ``count_query``, the list's ``SELECT count(*)``): two SQL statements, three when more
    than :data:`COUNT_LIMIT` rows match on PostgreSQL. ``items`` are the query's result rows
    (:class:`sqlalchemy.Row`), without the sort columns this function adds."""
    order, size, cursor = request.order, request.size, request.cursor
    total, exact, estimated = count_rows(session, count_query)
    n_keys = len(order.columns)
    keyed = query.add_columns(*[expr.label(f"_sort{i}") for i, (expr, _) in enumerate(order.columns)])
    backwards = bool(cursor and cursor.backwards)
    if cursor is not None:
        keyed = keyed.where(order.after(cursor.values, reverse=backwards))
    rows = list(session.execute(keyed.order_by(*order.order_by(reverse=backwards)).limit(size + 1)).all())
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    keys = [tuple(row[-n_keys:]) for row in rows]
    items = [row[:-n_keys] if len(row) > n_keys + 1 else row[0] for row in rows]
    if cursor is None:
        start, has_before, has_after = 0, False, more
    elif backwards:
        start = max(cursor.position - len(rows), 0) if more else 0
        has_before, has_after = more, True
    else:
        start, has_before, has_after = cursor.position, cursor.position > 0, more
    page = Page(items=items, total=total, first=start + 1 if rows else 0, last=start + len(rows),
                size=size, total_exact=exact, total_estimated=estimated)
    if rows and has_after:
        page.next_cursor = Cursor(order.key, keys[-1], False, start + len(rows)).encode()
    if rows and has_before:
        page.previous_cursor = Cursor(order.key, keys[0], True, start).encode()
    return page


# --------------------------------------------------------------------------------------------- filters


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


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_AREA = re.compile(r"^(\d{2}|\d{4}|\d{6}|\d{9}|\d{12})$")
_UNIT = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


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


def parse_list_params(params, spec: ListSpec, t: Translator, *, allowed: set[str] | None = None) -> ListParams:
    """Validate the query parameters ``params`` (a mapping) of a list described by ``spec``.

    ``allowed`` limits which filters this user may use (others are refused, as unknown values would be).

    Raises:
        InvalidParam: naming the field and the value, in the reader's language.
    """
    values: dict[str, Any] = {}
    raw: dict[str, str] = {}
    labels = {f.name: t(f.label_key) for f in spec.filters} | {
        "q": t("list.search"), "sort": t("list.sort"), "size": t("list.size"), "cursor": t("list.cursor")}
    for name, label in labels.items():
        text = str(params.get(name, "") or "")
        if _CONTROL.search(text):  # PostgreSQL refuses NUL in text; no filter value holds a control character
            raise invalid(t, name, label, text.encode("unicode_escape").decode(), t("list.no_control"))
    for flt in spec.filters:
        text = str(params.get(flt.name, "") or "").strip()
        label = t(flt.label_key)
        if not text:
            if flt.default:
                values[flt.name] = flt.default
            continue
        if allowed is not None and flt.name not in allowed:
            raise invalid(t, flt.name, label, text, t("list.not_for_you"))
        raw[flt.name] = text
        if flt.kind == "choice":
            if text not in {c.value for c in flt.choices}:
                raise invalid(t, flt.name, label, text, "、".join(f"{c.value}（{c.label(t)}）" for c in flt.choices))
            values[flt.name] = text
        elif flt.kind == "date":
            try:
                values[flt.name] = dt.date.fromisoformat(text)
            except ValueError:
                raise invalid(t, flt.name, label, text, "YYYY-MM-DD") from None
        elif flt.kind == "area":  # a code, or the name of a county, township or village (models.areas)
            code = resolve_area(text) or ""
            if not _AREA.match(code):
                raise invalid(t, flt.name, label, text, t("list.area_hint"))
            values[flt.name] = code
        elif flt.kind == "unit":
            if not _UNIT.match(text):
                raise invalid(t, flt.name, label, text, t("list.unit_hint"))
            values[flt.name] = text
        else:
            values[flt.name] = text[:64]
    q = str(params.get("q", "") or "").strip()
    if len(q) > 64:
        raise invalid(t, "q", t("list.search"), q, t("list.search_long"))
    sort = str(params.get("sort", "") or "").strip() or spec.orders[0].key
    orders = {o.key: o for o in spec.orders}
    if sort not in orders:
        raise invalid(t, "sort", t("list.sort"), sort, "、".join(f"{o.key}（{t(o.label_key)}）" for o in spec.orders))
    size_text = str(params.get("size", "") or "").strip()
    size = DEFAULT_PAGE_SIZE
    if size_text:
        if not size_text.isdigit() or not 1 <= int(size_text) <= MAX_PAGE_SIZE:
            raise invalid(t, "size", t("list.size"), size_text, f"1–{MAX_PAGE_SIZE}")
        size = int(size_text)
    cursor = None
    cursor_text = str(params.get("cursor", "") or "").strip()
    if cursor_text:
        try:
            cursor = Cursor.decode(cursor_text, orders[sort])
        except (ValueError, TypeError, KeyError, IndexError, json.JSONDecodeError, UnicodeDecodeError):
            raise invalid(t, "cursor", t("list.cursor"), cursor_text, t("list.cursor_hint")) from None
    if sort != spec.orders[0].key:
        raw["sort"] = sort
    if q:
        raw["q"] = q
    return ListParams(values, q, PageRequest(orders[sort], size, cursor), raw)


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
