"""The one-click start of a proposed referral (数据比对建议转介): the caseworker starts the item a department's
answer proposed (:mod:`careflow.exchange.proposals`), prefilled with the answer as the referral's note.

The referral goes on the child's open case (the one opened last), or on a new case whose summary is the answer;
it is then an ordinary service-list referral (:func:`careflow.cases.create_pathway_run`: the target group is checked
again, the item may not be open twice on a case), and starting it closes the child's proposals of the item.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlmodel import Session, select

from careflow.cases import open_case, create_pathway_run
from careflow.confidential import confidential_case
from careflow.exchange.proposals import ProposalView, open_proposals
from models.case import Case, CaseStatus, PathwayRun
from models.errors import FieldLookupError

__all__ = ["NoProposal", "ProposedStart", "start_proposed_referral"]

PATHWAY = "service_referral"


class NoProposal(FieldLookupError):
    """The child has no open proposal of the item (already referred, or never proposed): field ``item``,
    ``problem.no_proposal``, worded in the reader's language (a LookupError)."""


@dataclass
class ProposedStart:
    """What the start did: the case used (``case_opened`` when it was made for this), and the pathway run."""

    case: Case
    case_opened: bool
    run: PathwayRun
    proposal: ProposalView


def proposal_of(session: Session, child_id: uuid.UUID, item: int) -> ProposalView:
    """The child's open proposal of ``item`` (the latest answer's). Raises :class:`NoProposal`."""
    for proposal in open_proposals(session, child_id):
        if proposal.item == item:
            return proposal
    raise NoProposal("item", "problem.no_proposal", item=item)


def start_proposed_referral(session: Session, *, child_id: uuid.UUID, item: int, actor: str) -> ProposedStart:
    """Start the referral of ``item`` the child's open proposal calls for, as ``actor`` (the caseworker); the flow
    run is the caller's to create once this is committed.

    Raises:
        NoProposal: no open proposal of the item. ValueError: what :func:`careflow.cases.create_pathway_run` refuses
        (the item open on the case, the child no longer in the target group …), in Chinese.
    """
    proposal = proposal_of(session, child_id, item)
    case = session.exec(select(Case).where(Case.child_id == child_id, Case.status == CaseStatus.open.value,
                                           ~confidential_case())  # never the police's notice (方案 十一)
                        .order_by(Case.opened_at.desc(), Case.id.desc())).first()
    opened = case is None
    if opened:
        case = open_case(session, child_id=child_id, caseworker=actor,
                         summary=f"部门数据比对建议转介：{proposal.reason}"[:500])
        session.flush()
    run = create_pathway_run(session, case_id=case.id, pathway=PATHWAY, actor=actor,
                             parameters={"item": item, "note": proposal.reason[:500]})
    return ProposedStart(case=case, case_opened=opened, run=run, proposal=proposal)
