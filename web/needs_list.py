"""The needs list (需求清单, issue 13 item 2): the children of the user's jurisdiction who qualify for a service-list
item today and were never referred for it — the page ``/needs?item=N`` and ``/api/needs?item=N``.

Who qualifies is :mod:`careflow.unreferred` (every rule of the item met in SQL; an unknown rule is not met). The
list pages like the children list (:mod:`web.lists`): caseworkers and managers, scoped by :func:`web.scope.child_in`,
``area`` and ``q`` as there, 50 a page by keyset, a bounded total; the names shown are audited
(``child.list_read``). ``item`` is required: a value that is not an item's number is refused naming the field and
the value (:mod:`web.list_params`).
"""
from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlmodel import Session

from careflow.unreferred import unreferred_children
from models.child import Child
from models.eligibility_rules import age_in_years
from models.policy import load_policy
from models.resident_id import mask_resident_id
from models.user import UserRole, WebUser
from web.list_params import Choice, Filter, InvalidParam, ListParams, ListSpec
from web.list_search import Search, child_search
from web.paging import Order, Page, fetch_page
from web.scope import child_in, require_role

__all__ = ["NEEDS_SPEC", "NeedOut", "item_choices", "list_needs", "missing_item"]


def item_choices() -> tuple[Choice, ...]:
    """The provincial list's items, by number: ``第3项 义务教育服务``."""
    return tuple(Choice(str(n), labels=(f"第{n}项 {item.service}", f"Item {n}: {item.service_in('en')}"))
                 for n, item in load_policy().service_items.items())


NEEDS_SPEC = ListSpec(filters=(
    Filter("item", "needs.item", choices=item_choices(),
           description="the service-list item (1-20) whose target group the children meet; required"),
    Filter("area", "list.area", kind="area", description="county, township or village code of residence"),
), orders=(
    Order("newest", "list.sort_newest", ((Child.created_at, True), (Child.id, True))),
    Order("name", "list.sort_name", ((Child.full_name, False), (Child.id, False))),
), search_hint_key="list.search_children")


class NeedOut(BaseModel):
    """A child who qualifies for the item and was never referred for it: the ID number masked, where the child
    lives, the age in 周岁 on the day of the list."""

    id: uuid.UUID
    full_name: str
    resident_id_masked: str
    residence_county_code: str
    residence_area_code: str
    age: int = Field(description="age in 周岁 (whole years, counted from the day after the birthday) on the list's day")
    key_care: bool


def missing_item(t) -> InvalidParam:
    """The refusal of a list without ``item`` (naming the field)."""
    return InvalidParam(t("needs.item_required"), field_name="item", value="")


def list_needs(session: Session, user: WebUser, params: ListParams, on: dt.date) -> Page[NeedOut]:
    """A page of the children inside the user's jurisdiction who meet every rule of item ``params.filters["item"]``
    on ``on`` and have no referral of it (caseworkers and managers): the page and the bounded count, two statements.
    """
    require_role(user, UserRole.caseworker, UserRole.manager)
    f = params.filters
    scope = [child_in(user.jurisdiction_code)]
    if "area" in f:
        scope.append(child_in(f["area"]))
    if params.q:
        scope.append(child_search(Search.of(params.q)))
    query = unreferred_children(int(f["item"]), on, sa.and_(*scope))
    page = fetch_page(session, query, query, params.page)  # the count reads the same rows, at most 1,001
    return page.map(lambda child: NeedOut(
        id=child.id, full_name=child.full_name, resident_id_masked=mask_resident_id(child.resident_id),
        residence_county_code=child.residence_county_code, residence_area_code=child.residence_area_code,
        age=age_in_years(child.birth_date, on), key_care=bool(child.key_care_criteria)))
