"""City service lists (市级关爱服务清单, 方案 四) for managers: each city's latest list, its version, when it was
loaded, its filing with the provincial department (未报备 / 已报备待确认 / 已确认 / 逾期) and its differences from the
provincial list (:mod:`careflow.city_list_status`). The provincial manager sees every city; a city's or a county's
manager their own city."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from careflow.city_list_status import cities_visible_to, city_list_overview
from models.base import utcnow
from web.deps import DbDep, ManagerPage, csrf_protect
from web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])


@router.get("/city-lists")
def city_lists_page(request: Request, db: DbDep, user: ManagerPage) -> Response:
    """One row per city in the manager's jurisdiction (at most the province's ten), from one query."""
    rows = city_list_overview(db, cities_visible_to(user.jurisdiction_code), now=utcnow())
    return render(request, "city_lists.html", {"rows": rows})
