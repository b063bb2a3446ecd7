"""City service lists (市级关爱服务清单, 方案 四) for managers: each city's latest list, its version, when it was
loaded, its filing with the provincial department (未报备 / 已报备待确认 / 已确认 / 逾期) and its differences from the
provincial list (:mod:`careflow.city_list_status`); with ``?city=<code>`` every version of that city, newest first,
20 a page. The provincial manager sees every city; a city's or a county's manager their own city."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from careflow.city_list_status import cities_visible_to, city_list_overview, version_history, version_row
from models.base import utcnow
from models.city_list_version import CityListVersion
from models.regions import load_regions
from web.deps import DbDep, ManagerPage, csrf_protect
from web.list_pages import summary
from web.names import people_names
from web.paging import Cursor, Order, PageRequest, fetch_page
from web.scope import NotVisible
from web.templating import render, translator

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

#: A city's versions, newest first (the version is unique within a city).
NEWEST_FIRST = Order("version", "city_lists.version", ((CityListVersion.version, True),))
HISTORY_PAGE = 20


@router.get("/city-lists")
def city_lists_page(request: Request, db: DbDep, user: ManagerPage) -> Response:
    """One row per city in the manager's jurisdiction (at most the province's ten), from one query; with ``city``
    that city's versions, paged (``cursor``). A bad ``city`` or ``cursor`` is refused (400) naming the field and
    the value; a city outside the manager's jurisdiction is not found (404)."""
    now, visible, t = utcnow(), cities_visible_to(user.jurisdiction_code), translator(request)
    rows = city_list_overview(db, visible, now=now)
    context = {"rows": rows, "city": None, "history": None, "errors": [],
               "names": people_names(db, [r.loaded_by for r in rows if r])}
    code = request.query_params.get("city", "").strip()
    if not code:
        return render(request, "city_lists.html", context)
    if code not in load_regions().cities:
        context["errors"] = [t("city_lists.bad_city", value=code)]
        return render(request, "city_lists.html", context, 400)
    if code not in visible:
        raise NotVisible(code)
    text = request.query_params.get("cursor", "")
    try:
        cursor = Cursor.decode(text, NEWEST_FIRST) if text else None
    except (ValueError, KeyError, TypeError):
        context["errors"] = [t("city_lists.bad_cursor", value=text[:40])]
        return render(request, "city_lists.html", context, 400)
    query, count = version_history(code)
    page = fetch_page(db, query, count, PageRequest(NEWEST_FIRST, HISTORY_PAGE, cursor))
    page = page.map(lambda row: version_row(row, now=now)).with_links(request.url).relative()
    context["names"].update(people_names(db, [r.loaded_by for r in page.items]))
    context.update(city=load_regions().cities[code], history=page,
                   summary=t("city_lists.summary", total=page.total, first=page.first, last=page.last)
                   if page.total_exact else summary(page, t))
    return render(request, "city_lists.html", context)
