"""What the child's page shows of the data exchanges (方案 一（三）): the departments' answers with their date and
source (department, file, line), and the referrals they propose with the one-click start
(``POST /children/{id}/proposals/start``, :func:`start_proposal_as`)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlmodel import Session, select

from careflow.exchange.proposals import ProposalView, gap_field, open_proposals
from careflow.exchange.start import ProposedStart, start_proposed_referral
from models.child import Child
from models.data_exchange import DepartmentAnswer
from models.user import UserRole, WebUser
from web.scope import NotVisible, can_read_child, require_role

__all__ = ["ANSWERS_SHOWN", "AnswerRow", "exchange_context", "start_proposal_as"]

log = logging.getLogger(__name__)

#: The latest answers shown on the child's page.
ANSWERS_SHOWN = 20


@dataclass(frozen=True)
class AnswerRow:
    """One department answer on the child's page: ``values`` are ``(field, text as written, is a gap)``."""

    department: str
    received_on: str
    file_name: str
    line: int
    values: list[tuple[str, str, bool]]


def exchange_context(session: Session, child: Child) -> dict:
    """``exchange_answers`` (the latest :data:`ANSWERS_SHOWN`, newest first) and ``proposals`` (open, one per item)
    for ``child_detail.html``: two statements."""
    rows = session.exec(select(DepartmentAnswer).where(DepartmentAnswer.child_id == child.id)
                        .order_by(DepartmentAnswer.received_at.desc(), DepartmentAnswer.id.desc())
                        .limit(ANSWERS_SHOWN)).all()
    answers = []
    for row in rows:
        gaps = {gap_field(row.department, item, row.answers) for item in range(1, 21)} - {""}
        answers.append(AnswerRow(department=row.department, received_on=row.received_on.isoformat(),
                                 file_name=row.file_name, line=row.line,
                                 values=[(k, v, k in gaps) for k, v in (row.answers or {}).items()]))
    proposals: list[ProposalView] = open_proposals(session, child.id)
    return {"exchange_answers": answers, "proposals": proposals}


def start_proposal_as(session: Session, user: WebUser, child: Child, item: int, starter) -> ProposedStart:
    """The caseworker starts the proposed referral of ``item`` for ``child`` (commits), then its flow run; a flow run
    that cannot be created now is started by the sweeper.

    Raises:
        NotAllowed / NotVisible: not a caseworker, or the child outside the jurisdiction. NoProposal, ValueError:
        nothing to start, or the start refused (:func:`careflow.exchange.start.start_proposed_referral`).
    """
    require_role(user, UserRole.caseworker)
    if not can_read_child(user, child):
        raise NotVisible(f"no child {child.id}")
    started = start_proposed_referral(session, child_id=child.id, item=item, actor=user.username)
    session.commit()
    try:
        starter(started.run.id)
    except Exception as exc:  # the run is stored; the sweeper starts it later
        log.warning("starting the flow of pathway run %s failed: %s", started.run.id, exc)
    return started
