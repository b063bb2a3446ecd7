"""Is the child in the item's target group? Checked when a service-list referral starts (清单转介).

Policy: the annex of 闽民童〔2025〕5号: each item names its 服务对象 (``policy/service_list.yaml`` ``eligibility``,
:mod:`models.eligibility_rules`). :func:`check_referral` runs in :func:`careflow.cases.create_pathway_run`
for the ``service_referral`` pathway, so the web form, the API, the CLI and onward referrals all pass it:

* every rule met → the referral starts;
* a rule not met (a 15-year-old for item 1, a child recorded without disability for item 11, a child who is no
  migrant child) → refused (:class:`NotEligible`, a ValueError) with the reasons in the reader's language
  (``text(lang)``; ``str()`` Chinese);
* a rule unknown (a fact not recorded, or recorded 待核实) → refused (:class:`EligibilityNeedsReason`) unless the
  start parameter ``eligibility_override`` gives a written reason; then the referral starts, the unknown rules
  are stored on the run (parameter ``eligibility_unknown``), the override is audited
  (``referral.eligibility_override``, :func:`record_override`) and the department's task page shows both
  (:mod:`careflow.facts`).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlmodel import Session

from core.audit import record_audit
from core.i18n import gettext
from careflow.child_facts import child_profile, today
from models.case import Case, PathwayRun
from models.child import Child
from models.eligibility_rules import ItemEligibility, evaluate_item
from models.policy import load_policy
from models.policy_lists import ServiceItem
from models.service_list import referral_item

__all__ = ["EligibilityNeedsReason", "NotEligible", "OVERRIDE", "UNKNOWN", "check_referral", "items_eligibility",
           "item_eligibility", "record_override"]

PATHWAY = "service_referral"
#: The start parameter holding the caseworker's written reason to proceed although a condition is unknown.
OVERRIDE = "eligibility_override"
#: The parameter careflow stores with the conditions that could not be confirmed (never typed by a person).
UNKNOWN = "eligibility_unknown"
_TEXT_MAX = 500


class NotEligible(ValueError):
    """The child is not in the item's target group: the item (its number, service and target group) and the rules
    not met with their reasons, worded in the reader's language by :meth:`text` (the web page's, the command
    line's); ``str()`` is the Chinese text. Built with a ready ``message`` and no ``item``, it reads that message."""

    def __init__(self, message: str | None, eligibility: ItemEligibility, item: ServiceItem | None = None):
        self.eligibility, self.item = eligibility, item
        super().__init__(message if message is not None else self.text("zh"))

    def text(self, lang: str) -> str:
        """Why the referral is refused, in ``lang`` (``zh`` or ``en``)."""
        if self.item is None:
            return str(self.args[0])
        return gettext("eligibility.not_eligible", lang, head=_head(self.item, lang),
                       reasons=self.eligibility.reasons(lang, "not_met"))


def _head(item: ServiceItem, lang: str) -> str:
    """「清单第1项…（服务对象：…）」 / ``service list item 1, … (target group: …)``."""
    return gettext("eligibility.item_head", lang, n=item.number, service=item.service_in(lang),
                   target_group=item.target_group_in(lang))


class EligibilityNeedsReason(ValueError):
    """A condition of the item cannot be confirmed; the caseworker may proceed only with a written reason."""

    def __init__(self, message: str, eligibility: ItemEligibility):
        super().__init__(message)
        self.eligibility = eligibility


def item_eligibility(session: Session, child: Child, number: int, on: dt.date | None = None) -> ItemEligibility:
    """Item ``number``'s rules on ``child`` on ``on`` (default today, Asia/Shanghai)."""
    item = load_policy().service_item(number)
    return evaluate_item(number, item.eligibility, child_profile(session, child), on or today())


def items_eligibility(session: Session, child: Child, on: dt.date | None = None) -> list[ItemEligibility]:
    """Every item's rules on ``child`` (one read of the child's facts), in item order."""
    profile, on = child_profile(session, child), on or today()
    return [evaluate_item(n, item.eligibility, profile, on) for n, item in load_policy().service_items.items()]


def _clip(text: str) -> str:
    return text if len(text) <= _TEXT_MAX else text[:_TEXT_MAX - 1] + "…"


def check_referral(session: Session, case: Case, pathway: str, parameters: Mapping[str, Any],
                   on: dt.date | None = None) -> dict[str, Any]:
    """The start ``parameters`` of ``pathway`` on ``case`` after the target-group check (validated parameters in).

    Other pathways pass unchanged. For ``service_referral``: returns the parameters without ``eligibility_override``
    when every rule is met; with it (stripped) and ``eligibility_unknown`` (the unknown conditions, Chinese) when a
    rule is unknown and a reason was given.

    Raises:
        NotEligible: a rule is not met. EligibilityNeedsReason: a rule is unknown and no reason was given.
    """
    values = {k: v for k, v in parameters.items() if k != UNKNOWN}
    if pathway != PATHWAY:
        return values
    item = referral_item(values)
    child = session.get(Child, case.child_id)
    result = item_eligibility(session, child, item.number, on)
    head = f"清单第{item.number}项{item.service}（服务对象：{item.target_group}）"
    override = str(values.pop(OVERRIDE, "") or "").strip()
    if result.status == "not_met":
        raise NotEligible(None, result, item)
    if result.status == "unknown":
        if not override:
            raise EligibilityNeedsReason(  # names the field, so the form marks the reason's input
                f"字段 {OVERRIDE}（资格未确认时继续转介的理由）：{head}以下条件无法确认：{result.reasons_zh('unknown')}。"
                "请先在儿童档案中记录核实情况；确需继续转介的，请在此写明理由", result)
        values[OVERRIDE] = _clip(override)
        values[UNKNOWN] = _clip(result.reasons_zh("unknown"))
    return values


def record_override(session: Session, run: PathwayRun, actor: str) -> None:
    """Audit ``referral.eligibility_override`` when ``run`` started with a written reason (nothing otherwise)."""
    parameters = run.parameters or {}
    if run.pathway != PATHWAY or not parameters.get(OVERRIDE):
        return
    record_audit(session, actor=actor, action="referral.eligibility_override", entity_type="pathway_run",
                 entity_id=run.id, case_id=run.case_id, reason=parameters[OVERRIDE],
                 detail={"item": int(str(parameters.get("item")).strip()), "unknown": parameters.get(UNKNOWN, "")})
