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

from core.outcome import Outcome
from flows.onward_referral import LinkedPathway, pending_reason, start_linked_pathway
from flows.steps import (
    PathwayContext, TaskAnswer, begin_pathway, close_pathway, notify_caseworker, record_failure_hook,
)
from flows.waiting import PathwayBlocked, request_step
from models.case import PathwayStatus
from models.policy import load_policy

#: Default ceiling of a small amount (小额), in yuan. The plan fixes none (counties set their own, often
#: tied to the local minimum-living standard): a deployment overrides it with the flow parameter
#: ``small_amount_max_yuan``, and each flow run records the value it used.
SMALL_AMOUNT_MAX_YUAN = 1000.0

#: The pathway that refers any one service-list item to its departments (parameter ``item``, DOMAIN.md §4D).
SERVICE_REFERRAL = "service_referral"



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
        return close_pathway(pathway_run_id, blocked.outcome, PathwayStatus.failed)
    return close_pathway(pathway_run_id, outcome)


async def _assistance_steps(ctx: PathwayContext, small_amount_max: Decimal) -> Outcome:
    acknowledgement = await request_step(ctx, "acknowledgement", "civil_affairs")
    emergency = bool(acknowledgement.outcome.get("emergency"))
    notify_caseworker(ctx, acknowledgement.task_id, "task_answered",
                      "急难发生地已受理：" + ("急难型，先行救助" if emergency else "普通型，审核审批"))
    if emergency:
        outcome = Outcome().add("assistance.emergency")
        help_first = await request_step(ctx, "emergency_help", "civil_affairs")
        notify_caseworker(ctx, help_first.task_id, "task_answered", "已先行救助")
        amount = str(help_first.outcome.get("amount_yuan") or "").strip()
        helped = help_first.outcome.get("help_given")
        if parse_yuan(amount) is not None:
            outcome.add("assistance.helped_amount", help=helped, amount=amount)
        else:
            outcome.add("assistance.helped", help=helped)
        if small_amount_yuan(help_first.outcome, small_amount_max) is not None:
            payment = await request_step(ctx, "small_amount_payment", "civil_affairs")
            notify_caseworker(ctx, payment.task_id, "task_answered", "小额快救已答复")
            outcome.add("assistance.paid" if payment.outcome.get("paid") else "assistance.not_paid")
        await _refer_onward(ctx, outcome)
        paperwork = await request_step(ctx, "paperwork", "civil_affairs")
        outcome.add("assistance.paperwork" if paperwork.outcome.get("completed") else "assistance.no_paperwork")
        return _finish(ctx, paperwork, outcome)

    outcome = Outcome().add("assistance.ordinary")
    review = await request_step(ctx, "ordinary_review", "civil_affairs")
    if review.outcome.get("decision") != "granted":
        outcome.add("assistance.refused")
        return _finish(ctx, review, outcome)
    notify_caseworker(ctx, review.task_id, "task_answered", "审核审批同意救助")
    outcome.add("assistance.granted")
    referral = await _refer_onward(ctx, outcome)
    return _finish(ctx, referral, outcome)


async def _refer_onward(ctx: PathwayContext, outcome: Outcome) -> TaskAnswer:
    """Request the onward referral and start a pathway for each item it lists; add what happened to ``outcome``."""
    referral = await request_step(ctx, "onward_referral", "civil_affairs")
    referrals, ignored = referral_plan(str(referral.outcome.get("services", "")), referring_pathway=ctx.pathway)
    said = Outcome()
    for target in referrals:
        said.extend(link_outcome(await start_linked_pathway(
            ctx.pathway_run_id, target.item, target.pathway, target.parameters,
            started_by=f"careflow/onward_referral/{referral.task_id[:8]}")))
    said.extend(ignored)
    if not said:
        said.add("assistance.nothing_to_refer")
    notify_caseworker(ctx, referral.task_id, "task_answered", said.text())
    outcome.add("assistance.referred", referrals=said)
    return referral


def _finish(ctx: PathwayContext, last: TaskAnswer, outcome: Outcome) -> Outcome:
    notify_caseworker(ctx, last.task_id, "pathway_closed", outcome.text())  # the length PathwayRun.outcome stores
    return outcome


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
    """:func:`referral_plan` with the items it cannot refer in Chinese, one text each."""
    referrals, ignored = referral_plan(services, referring_pathway=referring_pathway)
    return referrals, ignored.texts()


def referral_plan(services: str, *, referring_pathway: str) -> tuple[list[Referral], Outcome]:
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
      not referred; the second result says why, one phrase per item (``link.not_on_list`` …).

    Returns:
        ``(referrals, ignored)``.
    """
    policy = load_policy()
    referrals: list[Referral] = []
    ignored = Outcome()
    seen: set[int] = set()
    for digits in re.findall(r"\d+", unicodedata.normalize("NFKC", services)):
        item = int(digits)
        if item in seen:
            continue
        seen.add(item)
        if item not in policy.service_items:
            ignored.add("link.not_on_list", item=item)
            continue
        if item in policy.pathway(referring_pathway).service_items:
            ignored.add("link.same_pathway", item=item, service=item)
            continue
        direct = [p.key for p in policy.pathways.values()
                  if item in p.service_items and p.key not in (SERVICE_REFERRAL, referring_pathway)
                  and not any(field.required for field in p.start_parameters)]
        if direct:
            if any(r.pathway == direct[0] for r in referrals):  # one run of that pathway serves both items
                ignored.add("link.merged", item=item, service=item)
                continue
            referrals.append(Referral(item, direct[0], {}))
        else:
            referrals.append(Referral(item, SERVICE_REFERRAL, {"item": item}))
    return referrals, ignored


def describe_link(link: LinkedPathway) -> str:
    """One referral as the caseworker reads it, e.g. ``第16项监护支持干预服务：已启动监护干预路径``, or, when it
    could not start, why (``…：待转介（未能启动：该个案的监护干预路径正在进行中…，请个案社工跟进）``)."""
    return link_outcome(link).text()


def link_outcome(link: LinkedPathway) -> Outcome:
    """One referral as a phrase: ``link.started`` (the pathway), or ``link.pending`` with why
    (:func:`flows.onward_referral.pending_reason`)."""
    if link.status == "started":
        return Outcome().add("link.started", item=link.item, service=link.item, pathway=link.pathway)
    return Outcome().add("link.pending", item=link.item, service=link.item, reason=pending_reason(link.reason))
