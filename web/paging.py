"""Keyset pagination shared by every list page and every JSON API list endpoint: sort orders, cursors, pages.

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
window inside what the user may see. :meth:`Cursor.decode` raises ``ValueError`` on one; the list's parameters
(:mod:`web.list_params`) turn that into a 400 naming the field.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any, Generic, Sequence, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlmodel import Session
from starlette.datastructures import URL

from web.counts import COUNT_LIMIT, count_rows

#: Rows per page unless asked (``size``); at most :data:`MAX_PAGE_SIZE`.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

T = TypeVar("T")


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
