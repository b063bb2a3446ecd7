"""The needs list page (需求清单, issue 13 item 2): for a service-list item, the children of the user's jurisdiction
who meet its target group today and were never referred for it (:mod:`web.needs_list`); caseworkers and managers.
The names shown are audited (``child.list_read``)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from careflow.unreferred import item_rules
from models.policy import load_policy
from web.deps import DbDep, ReaderPage, csrf_protect
from web.list_pages import form_of, render_list
from web.lists import audit_names_shown
from web.needs_list import NEEDS_SPEC, list_needs
from web.templating import render, translator
from web.views import today

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])


@router.get("/needs")
def needs_page(request: Request, db: DbDep, user: ReaderPage) -> Response:
    """Pick an item (``item``, 1-20); the children who qualify and were never referred, 50 a page, with the total;
    ``area`` and ``q`` as on the children list. A bad value is refused (400) naming the field and the value."""
    on = today()
    context = {"on": on, "item": None}
    if not request.query_params.get("item", "").strip():
        raw = {k: v for k, v in request.query_params.items() if k in ("area", "q", "sort")}
        return render(request, "needs_list.html", {**context, **form_of(NEEDS_SPEC, translator(request), raw),
                                                   "page": None, "summary": "", "errors": []})

    def run(params):
        page = list_needs(db, user, params, on)
        audit_names_shown(db, [row.id for row in page.items], actor=user.username, params=params)
        number = int(params.filters["item"])
        return page, {"item": load_policy().service_items[number],
                      "rules": [rule.label_zh for rule in item_rules(number)]}

    return render_list(request, "needs_list.html", NEEDS_SPEC, run, context=context)
