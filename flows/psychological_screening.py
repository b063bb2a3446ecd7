"""Psychological screening to medical referral (心理健康筛查—心理辅导—转介就医).

The steps are those of 闽民童〔2025〕5号 section 八, service-list items 17 and 8, and DOMAIN.md §4B; their
agencies and default deadlines are data in ``policy/pathways/psychological_screening.yaml``. The screening
itself (by a school, health or a social worker) is recorded by the caseworker when the pathway starts
(start parameter ``screening_result``), not requested as a task:

1. ``normal``: nothing to do; the pathway closes.
2. ``at_risk``: counselling and emotional support (心理辅导、情绪疏导) by a social-work organisation, and the
   guardians informed and involved in the intervention (配合监护人采取干预措施) by the township station,
   requested together. If the counsellor still finds the child at risk, referral to a medical institution
   (转介就医) through the prevention-referral-intervention channel — 3 working days, or the step's urgent
   24 h when the counsellor found high risk; if the risk is resolved, the pathway closes.
3. ``high_risk``: the medical referral at once with its urgent deadline (24 h), with counselling and guardian
   involvement at the same time; the pathway waits for all three.
4. A severe mental disorder diagnosed (``severe_mental_disorder``): health management by the health
   commission and community rehabilitation (精神障碍社区康复服务) by civil affairs — one task for each agency
   the step names, requested together.
"""
from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run

from core.outcome import Outcome
from flows.steps import (
    PathwayContext, TaskAnswer, begin_pathway, close_pathway, error_reason, notify_caseworker, record_failure_hook,
)
from flows.waiting import PathwayBlocked, request_step, request_steps
from models.case import PathwayStatus
from models.policy import load_policy


#: What each agency's enrolment in the community-rehabilitation step means, in the policy's words (the caseworker's
#: message; the outcome words it with ``outcome.rehab.<agency>``).
REHABILITATION_ZH = {"health": "健康管理", "civil_affairs": "精神障碍社区康复服务"}


@flow(name="psychological-screening", persist_result=True, retries=2, retry_delay_seconds=10,
      on_failure=[record_failure_hook], on_crashed=[record_failure_hook])
async def psychological_screening(pathway_run_id: str) -> str:
    """Run the psychological-screening pathway for one pathway run (``PathwayRun.id``); returns how it ended.

    The run's ``screening_result`` parameter (``normal`` | ``at_risk`` | ``high_risk``) chooses the branch;
    a run without a valid one closes as failed at once, naming the field.
    """
    ctx = begin_pathway(pathway_run_id, flow_run.get_id())
    try:
        screening = load_policy().pathway(ctx.pathway).validate_parameters(ctx.parameters)["screening_result"]
    except ValueError as exc:
        return close_pathway(pathway_run_id, Outcome().add("invalid_start", error=error_reason(exc)), PathwayStatus.failed)
    try:
        outcome = await _screening_steps(ctx, screening)
    except PathwayBlocked as blocked:
        return close_pathway(pathway_run_id, blocked.outcome, PathwayStatus.failed)
    return close_pathway(pathway_run_id, outcome)


async def _screening_steps(ctx: PathwayContext, screening: str) -> Outcome:
    if screening == "normal":
        return Outcome().add("screening.normal")
    outcome = Outcome().add("screening.result", screening=screening)
    high_risk = screening == "high_risk"

    first = [("counselling", "social_work"), ("guardian_involvement", "township_station")]
    if high_risk:
        first.insert(0, ("medical_referral", "medical_institution", True))  # at once, urgent deadline (24 h)
    answers = await request_steps(ctx, first)
    counselling = answers["counselling/social_work"]
    notify_caseworker(ctx, counselling.task_id, "task_answered", "心理辅导、情绪疏导已答复")
    outcome.add("screening.counselling" if counselling.outcome.get("started") else "screening.no_counselling")
    guardians = answers["guardian_involvement/township_station"]
    notify_caseworker(ctx, guardians.task_id, "task_answered", "监护人告知和配合干预已答复")
    outcome.add("screening.guardians" if guardians.outcome.get("guardians_informed") else "screening.no_guardians")

    referral = answers.get("medical_referral/medical_institution")
    if referral is None:
        risk_after = counselling.outcome.get("risk_after")
        if risk_after == "resolved":
            outcome.add("screening.resolved")
            return _finish(ctx, counselling, outcome)
        urgent = risk_after == "high_risk"
        referral = await request_step(ctx, "medical_referral", "medical_institution", urgent=urgent)
        outcome.add("screening.referred_urgent" if urgent else "screening.referred", risk=risk_after)
    else:
        outcome.add("screening.referred_at_once")
    notify_caseworker(ctx, referral.task_id, "task_answered", "医疗机构已答复转介就医")
    outcome.add("screening.seen" if referral.outcome.get("seen") else "screening.not_seen")
    if not referral.outcome.get("severe_mental_disorder"):
        outcome.add("screening.no_disorder")
        return _finish(ctx, referral, outcome)

    outcome.add("screening.disorder")
    agencies = load_policy().pathway(ctx.pathway).step("community_rehabilitation").agencies  # health, civil affairs
    rehabilitation = await request_steps(ctx, [("community_rehabilitation", agency) for agency in agencies])
    for agency in agencies:
        answer = rehabilitation[f"community_rehabilitation/{agency}"]
        service = REHABILITATION_ZH.get(agency, load_policy().agency(agency).name_zh + "管理或康复服务")
        notify_caseworker(ctx, answer.task_id, "task_answered", f"{service}已答复")
        outcome.add("screening.enrolled" if answer.outcome.get("enrolled") else "screening.not_enrolled", rehab=agency)
    return _finish(ctx, answer, outcome)


def _finish(ctx: PathwayContext, last: TaskAnswer, outcome: Outcome) -> Outcome:
    notify_caseworker(ctx, last.task_id, "pathway_closed", outcome.text())
    return outcome
