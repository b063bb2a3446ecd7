"""Glue between the lists (:mod:`web.lists`, :mod:`web.task_list`) and their pages and API endpoints: parse the
query, run the list, render the filter form, the summary 「共 N 条，第 x–y 条」 and the page links; a bad parameter
answers 400 with a message naming the field and the value (the page with its form, or the API's
``{"detail": …}``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from fastapi import HTTPException, Request
from starlette.responses import Response

from web.counts import COUNT_LIMIT
from web.i18n import Translator
from web.list_params import InvalidParam, ListParams, ListSpec, parse_list_params
from web.paging import Page
from web.templating import render, translator


@dataclass
class FilterView:
    """A filter as the form shows it: its label, kind, choices ``(value, label)``, current value and default.

    A choice filter with a default (a case list's 办理中, a task list's 未办结) offers no empty 「不限」 option: the
    empty value means the default, which is not "no restriction"; the default is shown by its own label and the
    list's 「全部」 choice shows everything."""

    name: str
    label: str
    kind: str
    choices: list[tuple[str, str]]
    value: str
    default: str = ""


def form_of(spec: ListSpec, t: Translator, raw: dict[str, str], *, allowed: set[str] | None = None,
            hint_key: str | None = None) -> dict[str, Any]:
    """The template context of a list's filter form (only the filters ``allowed`` for this user)."""
    filters = [FilterView(f.name, t(f.label_key), f.kind, [(c.value, c.label(t)) for c in f.choices],
                          raw.get(f.name, f.default), f.default)
               for f in spec.filters if allowed is None or f.name in allowed]
    return {"filters": filters, "q": raw.get("q", ""), "search_hint": t(hint_key or spec.search_hint_key),
            "sort": raw.get("sort", spec.orders[0].key), "orders": [(o.key, t(o.label_key)) for o in spec.orders],
            "filtered": bool(raw), "filters_set": any(f.name in raw for f in spec.filters) or "sort" in raw}


def summary(page: Page | None, t: Translator) -> str:
    """「共 N 条，第 x–y 条」 (「共 N 条」 on a page without rows); beyond :data:`~web.counts.COUNT_LIMIT` rows
    「约 N 条（估计数）」 or 「超过 1000 条」 and the rows shown. Empty without a page."""
    if page is None:
        return ""
    if not page.total_exact:
        said = t("list.summary_estimated" if page.total_estimated else "list.summary_over", total=page.total,
                 limit=COUNT_LIMIT)
        return said + (t("list.summary_rows", first=page.first, last=page.last) if page.items else "")
    if not page.items:
        return t("list.summary_empty", total=page.total)
    return t("list.summary", total=page.total, first=page.first, last=page.last)


def render_list(request: Request, template: str, spec: ListSpec, run: Callable[[ListParams], tuple[Page, dict]], *,
                allowed: set[str] | None = None, hint_key: str | None = None, context: dict | None = None
                ) -> Response:
    """Render a list page: ``run(params)`` returns the page (items as the template wants them) and extra context.

    The template gets ``page`` (with relative ``next_url``/``previous_url``/``first_url``), ``summary``, the form
    (see :func:`form_of`) and ``errors``; a bad parameter renders the form with the message and no rows (400).
    """
    t = translator(request)
    try:
        params = parse_list_params(request.query_params, spec, t, allowed=allowed)
    except InvalidParam as exc:
        raw = {k: v for k, v in request.query_params.items() if k != "cursor"}
        return render(request, template, {**(context or {}), **form_of(spec, t, raw, allowed=allowed,
                                                                           hint_key=hint_key),
                                          "page": None, "summary": "", "errors": [str(exc)]}, status_code=400)
    page, extra = run(params)
    page.with_links(request.url).relative()
    return render(request, template, {**(context or {}), **extra,
                                      **form_of(spec, t, params.raw, allowed=allowed, hint_key=hint_key),
                                      "page": page, "summary": summary(page, t), "count_limit": COUNT_LIMIT,
                                      "errors": []})


def api_params(request: Request, spec: ListSpec, *, allowed: set[str] | None = None) -> ListParams:
    """The validated list parameters of an API call. Raises HTTPException 400 naming the field and the value."""
    try:
        return parse_list_params(request.query_params, spec, translator(request), allowed=allowed)
    except InvalidParam as exc:
        raise HTTPException(400, str(exc)) from None
