"""The notice of a suspected offence or serious misconduct (涉罪或严重不良行为通报, 闽民童〔2025〕5号 measure 十一).

检察院、公安等部门要及时通报流动儿童的涉罪或严重不良行为情况: the police or the procuratorate record the notice
(:func:`careflow.misconduct.start_notice`: the child, the suspected conduct, its date); the steps and their default
deadlines are data in ``policy/pathways/misconduct_notice.yaml``:

1. civil affairs of the child's county and the education bureau of the child's school (the county of the school
   the notice names, else of the child's residence) each get a task at once: acknowledge within 24 h, record the
   follow-up within 5 working days (guardianship support; the school's measures; a psychological screening);
2. a follow-up that screened the child at risk or high risk starts the psychological-screening pathway on the same
   case (service-list item 17, :func:`flows.onward_referral.start_linked_pathway`) with the higher of the results;
3. the notifying officer (the case's holder) is told of each answer and of the end.

The pathway is ``confidential``: no message says the conduct or what was answered, only the step and the link
(:func:`notifications.messages.enqueue_task_message`). The outcome recorded says only which follow-ups were done.
"""
from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run

from core.outcome import Outcome
from flows.onward_referral import pending_reason, start_linked_pathway
from flows.steps import PathwayContext, begin_pathway, close_pathway, notify_caseworker, record_failure_hook
from flows.waiting import PathwayBlocked, request_steps
from models.case import PathwayStatus

#: The two follow-ups, requested together: (step, agency type).
FOLLOW_UPS = [("civil_affairs_followup", "civil_affairs"), ("education_followup", "education")]

#: Screening results that start the psychological-screening pathway, highest first.
RISKS = ("high_risk", "at_risk")

#: The service-list item the psychological-screening pathway delivers (心理健康服务).
SCREENING_ITEM = 17


@flow(name="misconduct-notice", persist_result=True, retries=2, retry_delay_seconds=10,
      on_failure=[record_failure_hook], on_crashed=[record_failure_hook])
async def misconduct_notice(pathway_run_id: str) -> str:
    """Run the misconduct notice for one pathway run (``PathwayRun.id``); returns how it ended (no conduct in it)."""
    ctx = begin_pathway(pathway_run_id, flow_run.get_id())
    try:
        outcome = await _notice_steps(ctx)
    except PathwayBlocked as blocked:
        return close_pathway(pathway_run_id, blocked.outcome, PathwayStatus.failed)
    return close_pathway(pathway_run_id, outcome)


async def _notice_steps(ctx: PathwayContext) -> Outcome:
    answers = await request_steps(ctx, FOLLOW_UPS)
    civil = answers["civil_affairs_followup/civil_affairs"]
    school = answers["education_followup/education"]
    notify_caseworker(ctx, civil.task_id, "task_answered", "民政部门已登记跟进情况")
    notify_caseworker(ctx, school.task_id, "task_answered", "教育部门已登记跟进情况")
    outcome = Outcome()
    outcome.add("misconduct.civil_support" if civil.outcome.get("guardianship_support")
                else "misconduct.civil_no_support")
    outcome.add("misconduct.school_measures" if school.outcome.get("school_measures")
                else "misconduct.school_no_measures")
    results = {civil.outcome.get("screening_result"), school.outcome.get("screening_result")}
    risk = next((r for r in RISKS if r in results), None)
    if risk is not None:
        by = "civil_affairs" if civil.outcome.get("screening_result") == risk else "education"
        linked = await start_linked_pathway(
            ctx.pathway_run_id, SCREENING_ITEM, "psychological_screening",
            {"screening_result": risk, "screened_by": "school" if by == "education" else "other"},
            started_by=f"careflow/misconduct_notice/{ctx.pathway_run_id[:8]}")
        if linked.status == "started":
            outcome.add("misconduct.screening_started")
        else:
            outcome.add("misconduct.screening_pending", reason=pending_reason(linked.reason))
    elif "normal" in results:
        outcome.add("misconduct.screening_normal")
    notify_caseworker(ctx, school.task_id, "pathway_closed", outcome.text())
    return outcome
