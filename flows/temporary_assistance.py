"""Temporary assistance where the emergency happens (临时救助, 急难发生地先行救助).

The steps are those of 闽民童〔2025〕5号 section 六, service-list item 15, and DOMAIN.md §4C; their agencies
and default deadlines are data in ``policy/pathways/temporary_assistance.yaml``. Every step is routed by
the place of the emergency (start parameter ``emergency_area_code``, required when the run is created),
not by the child's residence:

1. Civil affairs of the township where the emergency happened acknowledges the request (or the case found)
   and says whether it is an emergency (急难型) — 24 h.
2. Emergency: help first (先行救助: cash, goods, temporary shelter) — 24 h; when the help included a small
   amount of cash (see :func:`small_amount_yuan`), the fast small-amount payment (小额快救) — 3 days; then
   the onward referral; then the review and approval paperwork once the emergency has eased (事后补办) —
   5 working days.
3. Ordinary: review and decision (审核审批) — 10 working days; refused → the pathway closes; granted → the
   onward referral.
4. Onward referral (转介): the agency lists the service-list items it refers the child to (e.g. ``13,16``);
   each starts a pathway for the same case (:func:`referral_targets`), or is recorded as pending and the
   caseworker told when no flow runs that pathway yet.
"""
from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from prefect import flow
from prefect.runtime import flow_run

from flows.onward_referral import LinkedPathway, start_linked_pathway
from flows.steps import (
    PathwayContext, TaskAnswer, begin_pathway, close_pathway, notify_caseworker, record_failure_hook,
)
from flows.waiting import PathwayBlocked, request_step
from models.case import PathwayStatus, clip_text
from models.policy import load_policy

#: Default ceiling of a small amount (小额), in yuan. The plan fixes none (counties set their own, often
#: tied to the local minimum-living standard): a deployment overrides it with the flow parameter
#: ``small_amount_max_yuan``, and each flow run records the value it used.
SMALL_AMOUNT_MAX_YUAN = 1000.0

#: The pathway that refers any one service-list item to its departments (parameter ``item``, DOMAIN.md §4D).
SERVICE_REFERRAL = "service_referral"



def help_zh(value) -> str:
    """救助方式 as the summary reads it: ``several`` → ``多种方式`` (the catalogue's label every page shows,
    :func:`core.i18n.label`), ``救助`` when the answer names none."""
    from core.i18n import label  # start-up: Babel's catalogues, only when a summary is written

    return label(value, "option.help_given") if value else "救助"


class Referral(NamedTuple):
    """One service-list item referred onward: the pathway that delivers it and its start parameters."""

    item: int
    pathway: str
    parameters: dict


@flow(name="temporary-assistance", persist_result=True, retries=2, retry_delay_seconds=10,
      on_failure=[record_failure_hook], on_crashed=[record_failure_hook])
async def temporary_assistance(pathway_run_id: str, small_amount_max_yuan: float = SMALL_AMOUNT_MAX_YUAN) -> str:
    """Run the temporary-assistance pathway for one pathway run (``PathwayRun.id``); returns how it ended.

    ``small_amount_max_yuan``: the largest cash amount (yuan) paid through 小额快救 (default
    :data:`SMALL_AMOUNT_MAX_YUAN`, no law fixes it).
    """
    ctx = begin_pathway(pathway_run_id, flow_run.get_id())
    try:
        outcome = await _assistance_steps(ctx, Decimal(str(small_amount_max_yuan)))
    except PathwayBlocked as blocked:
        return close_pathway(pathway_run_id, f"受阻：{blocked}", PathwayStatus.failed)
    return close_pathway(pathway_run_id, outcome)


async def _assistance_steps(ctx: PathwayContext, small_amount_max: Decimal) -> str:
    acknowledgement = await request_step(ctx, "acknowledgement", "civil_affairs")
    emergency = bool(acknowledgement.outcome.get("emergency"))
    notify_caseworker(ctx, acknowledgement.task_id, "task_answered",
                      "急难发生地已受理：" + ("急难型，先行救助" if emergency else "普通型，审核审批"))
    if emergency:
        done = ["急难型临时救助：急难发生地已受理"]
        help_first = await request_step(ctx, "emergency_help", "civil_affairs")
        notify_caseworker(ctx, help_first.task_id, "task_answered", "已先行救助")
        amount = str(help_first.outcome.get("amount_yuan") or "").strip()
        done.append(f"已先行救助（{help_zh(help_first.outcome.get('help_given'))}"
                    + (f"，{amount}元" if parse_yuan(amount) is not None else "") + "）")
        if small_amount_yuan(help_first.outcome, small_amount_max) is not None:
            payment = await request_step(ctx, "small_amount_payment", "civil_affairs")
            notify_caseworker(ctx, payment.task_id, "task_answered", "小额快救已答复")
            done.append("小额快救已发放" if payment.outcome.get("paid") else "小额快救未发放")
        await _refer_onward(ctx, done)
        paperwork = await request_step(ctx, "paperwork", "civil_affairs")
        done.append("急难缓解后已补齐审核审批手续" if paperwork.outcome.get("completed") else "审核审批手续未补齐")
        return _finish(ctx, paperwork, done)

    done = ["普通临时救助：急难发生地已受理"]
    review = await request_step(ctx, "ordinary_review", "civil_affairs")
    if review.outcome.get("decision") != "granted":
        done.append("审核审批不予救助")
        return _finish(ctx, review, done)
    notify_caseworker(ctx, review.task_id, "task_answered", "审核审批同意救助")
    done.append("审核审批同意救助")
    referral = await _refer_onward(ctx, done)
    return _finish(ctx, referral, done)


async def _refer_onward(ctx: PathwayContext, done: list[str]) -> TaskAnswer:
    """Request the onward referral and start a pathway for each item it lists; add what happened to ``done``."""
    referral = await request_step(ctx, "onward_referral", "civil_affairs")
    referrals, ignored = referral_targets(str(referral.outcome.get("services", "")), referring_pathway=ctx.pathway)
    linked: list[LinkedPathway] = []
    for target in referrals:
        linked.append(await start_linked_pathway(
            ctx.pathway_run_id, target.item, target.pathway, target.parameters,
            started_by=f"careflow/onward_referral/{referral.task_id[:8]}"))
    summary = "；".join([describe_link(link) for link in linked] + ignored) or "无需转介其他服务"
    notify_caseworker(ctx, referral.task_id, "task_answered", summary)
    done.append(f"转介：{summary}")
    return referral


def _finish(ctx: PathwayContext, last: TaskAnswer, done: list[str]) -> str:
    summary = clip_text("；".join(done))  # the length PathwayRun.outcome stores
    notify_caseworker(ctx, last.task_id, "pathway_closed", summary)
    return summary


def parse_yuan(text: object) -> Decimal | None:
    """An amount in yuan written as digits (``800``, ``800元``, ``1,000.50``, full-width digits), else None.

    Amounts in Chinese numerals (``八百元``) are not read and give None.
    """
    cleaned = unicodedata.normalize("NFKC", str(text or "")).replace(",", "").replace("元", "")
    cleaned = cleaned.replace("¥", "").replace("￥", "").strip()
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def small_amount_yuan(help_outcome: dict, max_yuan: Decimal | float = SMALL_AMOUNT_MAX_YUAN) -> Decimal | None:
    """The cash given as emergency help when it is a small amount (小额快救), else None.

    The rule: the help included cash (``help_given`` is ``cash`` or ``several``) and ``amount_yuan``
    reads as a number (:func:`parse_yuan`) with ``0 < amount <= max_yuan``. Help in goods or shelter only,
    a larger amount, or an amount not written in digits goes through the ordinary paperwork instead.
    """
    if help_outcome.get("help_given") not in ("cash", "several"):
        return None
    amount = parse_yuan(help_outcome.get("amount_yuan"))
    if amount is None or not (0 < amount <= Decimal(str(max_yuan))):
        return None
    return amount


def referral_targets(services: str, *, referring_pathway: str) -> tuple[list[Referral], list[str]]:
    """The pathways an onward referral's ``services`` text starts, and the items it cannot refer.

    ``services`` lists service-list item numbers in any separators (``"13,16"``, ``"第13项、第16项"``):
    every run of digits is an item. For each item, in order, once:

    - an item of another pathway's ``service_items`` whose start parameters are all optional starts that
      pathway with no parameters (item 16 → ``guardianship``);
    - any other item — including one whose pathway needs a start parameter the referral cannot give, such
      as items 17 and 8 of ``psychological_screening``, whose ``screening_result`` only a screening can
      tell — starts ``service_referral`` with ``{"item": N}``: the item's departments provide the service
      (e.g. the screening), and the caseworker starts the specific pathway with its result;
    - an item of the referring pathway itself (15 for temporary assistance) or a number not on the list is
      not referred; the second list says why, in Chinese, for the caseworker.

    Returns:
        ``(referrals, ignored)``.
    """
    policy = load_policy()
    referrals: list[Referral] = []
    ignored: list[str] = []
    seen: set[int] = set()
    for digits in re.findall(r"\d+", unicodedata.normalize("NFKC", services)):
        item = int(digits)
        if item in seen:
            continue
        seen.add(item)
        if item not in policy.service_items:
            ignored.append(f"清单无第{item}项，未转介")
            continue
        if item in policy.pathway(referring_pathway).service_items:
            ignored.append(f"第{item}项{policy.service_item(item).service}即本路径，未重复转介")
            continue
        direct = [p.key for p in policy.pathways.values()
                  if item in p.service_items and p.key not in (SERVICE_REFERRAL, referring_pathway)
                  and not any(field.required for field in p.start_parameters)]
        if direct:
            if any(r.pathway == direct[0] for r in referrals):  # one run of that pathway serves both items
                ignored.append(f"第{item}项{policy.service_item(item).service}并入同一服务路径")
                continue
            referrals.append(Referral(item, direct[0], {}))
        else:
            referrals.append(Referral(item, SERVICE_REFERRAL, {"item": item}))
    return referrals, ignored


def describe_link(link: LinkedPathway) -> str:
    """One referral as the caseworker reads it, e.g. ``第16项监护支持干预服务：已启动监护干预路径``, or, when it
    could not start, why (``…：待转介（未能启动：该个案的监护干预路径正在进行中…，请个案社工跟进）``)."""
    policy = load_policy()
    service = f"第{link.item}项{policy.service_item(link.item).service}"
    if link.status == "started":
        title = policy.pathway(link.pathway).title_zh.split("（")[0]
        return f"{service}：已启动{title}路径"
    return f"{service}：待转介（{link.reason or '暂无可启动的服务路径'}，请个案社工跟进）"
