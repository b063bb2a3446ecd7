"""Guardianship intervention, from warning to police report (监护干预).

The steps are those of 闽民童〔2025〕5号 section 七 and DOMAIN.md §4A; their agencies and default
deadlines are data in ``policy/pathways/guardianship.yaml``:

1. The village/residents' committee verifies, admonishes and stops the conduct (劝诫、制止; 未成年人保护法 第十一条).
2. If serious (情节严重) or the child is in danger, it reports to the police at once; the police
   reprimand the guardian (训诫) and may order family-education guidance (家庭教育促进法 第四十九条).
   A child in danger is placed in temporary guardianship (临时监护) by the minor rescue and protection
   centre at the same time, not after the reprimand.
3. Family-education guidance by the women's federation (or education), when the police ordered it.
4. Civil affairs puts the child into the family guardianship assessment (困境儿童家庭监护评估); where
   guardianship is missing or unsafe, temporary guardianship follows, and long-term guardianship goes
   through the court (未成年人保护法 第九十四条).
"""
from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run

from core.outcome import Outcome
from flows.steps import PathwayContext, begin_pathway, close_pathway, notify_caseworker, record_failure_hook
from flows.waiting import PathwayBlocked, request_step, request_steps
from models.case import PathwayStatus


@flow(name="guardianship-intervention", persist_result=True, retries=2, retry_delay_seconds=10,
      on_failure=[record_failure_hook], on_crashed=[record_failure_hook])
async def guardianship_intervention(pathway_run_id: str) -> str:
    """Run the guardianship pathway for one pathway run (``PathwayRun.id``); returns how it ended."""
    ctx = begin_pathway(pathway_run_id, flow_run.get_id())
    try:
        outcome = await _guardianship_steps(ctx)
    except PathwayBlocked as blocked:
        return close_pathway(pathway_run_id, blocked.outcome, PathwayStatus.failed)
    return close_pathway(pathway_run_id, outcome)


async def _guardianship_steps(ctx: PathwayContext) -> Outcome:
    outcome = Outcome()
    admonition = await request_step(ctx, "committee_admonition", "village_committee")
    notify_caseworker(ctx, admonition.task_id, "task_answered", "村（居）委会已劝诫、制止")
    outcome.add("guardianship.admonished")
    in_danger = bool(admonition.outcome.get("child_in_danger"))
    if not (admonition.outcome.get("serious") or in_danger):
        return outcome.add("guardianship.not_serious")

    first_response = [("police_reprimand", "police")]
    if in_danger:
        first_response.append(("temporary_guardianship", "rescue_centre"))
    answers = await request_steps(ctx, first_response)
    police = answers["police_reprimand/police"]
    notify_caseworker(ctx, police.task_id, "task_answered", "公安机关已处理报告")
    outcome.add("guardianship.reprimanded" if police.outcome.get("reprimanded") else "guardianship.not_reprimanded")
    placement = answers.get("temporary_guardianship/rescue_centre")
    if placement:
        outcome.add("guardianship.placed" if placement.outcome.get("placed") else "guardianship.not_placed")

    if police.outcome.get("family_education_ordered"):
        guidance = await request_step(ctx, "family_education_guidance", "womens_federation")
        notify_caseworker(ctx, guidance.task_id, "task_answered", "家庭教育指导已开始")
        outcome.add("guardianship.guidance")

    assessment = await request_step(ctx, "guardianship_assessment", "civil_affairs")
    notify_caseworker(ctx, assessment.task_id, "task_answered", "家庭监护评估已完成")
    outcome.add("guardianship.assessed")
    unsafe = assessment.outcome.get("guardianship_missing_or_unsafe") or police.outcome.get("child_unsafe")
    if unsafe and placement is None:
        placement = await request_step(ctx, "temporary_guardianship", "rescue_centre")
        outcome.add("guardianship.placed" if placement.outcome.get("placed") else "guardianship.not_placed")
    last = assessment
    if assessment.outcome.get("long_term_guardianship_needed"):
        last = await request_step(ctx, "long_term_guardianship", "court")
        outcome.add("guardianship.long_term", ruling=last.outcome.get("ruling"))
    notify_caseworker(ctx, last.task_id, "pathway_closed", outcome.text())
    return outcome
