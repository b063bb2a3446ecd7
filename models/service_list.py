"""The provincial service list's item a referral is for: which item a ``service_referral`` run refers, and how the
agency reads it.

The provincial list is the annex 《福建省流动儿童在居住地享有关爱服务基础清单》 of 闽民童〔2025〕5号
(``policy/service_list.yaml``, :class:`models.policy_lists.ServiceItem`). A city's own list and its check against the
province's are :mod:`models.city_list`; the dated duties a city list creates are :mod:`models.dated_duties`.

Public API
----------
* :func:`referral_item` — the provincial item a ``service_referral`` pathway run refers (parameter ``item``).
* :func:`referral_text` — the item's service, target group, content and departments, for a message.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.errors import FieldValueError
from models.policy import Policy, load_policy
from models.policy_lists import ServiceItem

__all__ = ["referral_item", "referral_text"]


def referral_item(parameters: Mapping[str, Any], policy: Policy | None = None) -> ServiceItem:
    """The provincial service-list item a referral pathway run is started for.

    ``parameters`` is the pathway run's parameters, e.g. ``{"item": 18}``; the number may be an int or
    digits as text (``"18"``). Only the provincial list's items 1..20 can be referred (a city's extra
    items are not in ``policy/service_list.yaml``).

    Raises:
        ValueError: ``field 'item': ...`` — missing, not a whole number, or not an item of the provincial list.
    """
    policy = policy or load_policy()
    raw = parameters.get("item") if isinstance(parameters, Mapping) else None
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise FieldValueError("item", "problem.item_missing")
    if isinstance(raw, bool) or not (isinstance(raw, int) or (isinstance(raw, str) and raw.strip().isdigit())):
        raise FieldValueError("item", "problem.item_not_number", value=raw)
    number = int(raw)
    if number not in policy.service_items:
        raise FieldValueError("item", "problem.item_not_in_list", value=number, last=len(policy.service_items))
    return policy.service_items[number]


def referral_text(item: ServiceItem, policy: Policy | None = None) -> str:
    """The item as the agency reads it in a referral message (Chinese, several lines)::

        清单第18项（发展保障）：精神文化生活服务
        服务对象：流动儿童
        服务内容：在学校、幼儿园和……
        责任部门：网信办、教育、……（各部门均须答复）
    """
    policy = policy or load_policy()
    names = "、".join(policy.agency(code).name_zh for code in item.departments)
    rule = "各部门均须答复" if item.completion == "all" else "任一部门办结即可"
    return (f"清单第{item.number}项（{item.area}）：{item.service}\n服务对象：{item.target_group}\n"
            f"服务内容：{item.content}\n责任部门：{names}（{rule}）")
