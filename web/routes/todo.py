"""The caseworker's inbox (待我处理, issue 12): late and escalated tasks, rejected tasks, and cases whose pathways
ended awaiting the closing decision — three tabs, each a keyset-paged list with a bounded count
(:mod:`web.caseworker_inbox`). Tasks link to their place on the case page; ended cases to the case page, where the
caseworker closes the case with a reason."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from careflow.exchange.proposals import proposal_views
from careflow.facts import unit_names
from core.outcome import shown_outcome
from models.base import utcnow
from web.case_marks import escalated_text, late_text
from web.caseworker_inbox import KINDS, inbox_counts, list_inbox, spec
from web.deps import CaseworkerPage, DbDep, csrf_protect
from web.list_pages import render_list
from web.templating import redirect, translator
from web.views import pathway_title, task_out

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])


@router.get("/todo")
def todo(request: Request, db: DbDep, user: CaseworkerPage) -> Response:
    """One tab of the inbox (``show``: late, rejected, ended, proposals), with the tabs' counts."""
    t, now = translator(request), utcnow()
    counts = inbox_counts(db, user, now=now)
    if "show" not in request.query_params:  # open on the first tab that holds something (never an empty list
        first = next((k for k in KINDS if counts[k][0]), "late")  # under a tab that counts 1)
        if first != "late":
            return redirect(f"/todo?show={first}")
    kind = request.query_params.get("show", "") or "late"
    kind = kind if kind in KINDS else "late"  # an unknown value is refused by the list's own check

    def run(params):
        page = list_inbox(db, user, params, now=now)
        if kind == "proposals":  # a department's answer revealed a gap: start the item in one click
            return page, {"proposals": proposal_views(page.items)}
        if kind == "ended":
            rows = [{"reference": case.reference, "pathway": pathway_title(run.pathway, t) if run else "",
                     "status": str(run.status) if run else "", "ended_at": run.ended_at if run else None,
                     "outcome": shown_outcome(run.outcome, run.outcome_phrases, t.lang) if run else ""}
                    for case, run in page.items]
            return page, {"ended": rows}
        names = unit_names(db, [row[0].unit_code for row in page.items])
        rows = []
        for task, reference, pathway, level in page.items:
            out = task_out(db, task, t, now, case_reference=reference, pathway=pathway or "",
                           unit_name=names.get(task.unit_code, ""))
            late = late_text(task.due_at, task.deadline_text, now, t) if out.overdue else ""
            rows.append({"task": out, "late": late, "escalated": escalated_text(level, t)})
        return page, {"tasks": rows}

    return render_list(request, "todo.html", spec(kind), run,
                       context={"kind": kind, "kinds": KINDS, "counts": counts})
