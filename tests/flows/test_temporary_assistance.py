"""The temporary-assistance pathway (§4C) on a real Prefect server with a served deployment, on each backend.

End to end: the emergency branch with a small amount and an onward referral that starts the guardianship
pathway on the same case (the demo), and the ordinary branch granted (referred onward: a service-list
referral starts, numbers that cannot be referred are reported) and refused. Without the server: the place of
the emergency is required at start, the small-amount rule, how referred items map to pathways, and a linked
pathway recorded once (or pending when no flow runs it).
"""
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlmodel import select

from careflow.cases import create_pathway_run, open_case

from careflow.registration import register_child
from core.db import session_scope
from entry.demos import temporary_assistance as demo
from flows.onward_referral import record_linked_pathway
from flows.temporary_assistance import parse_yuan, referral_targets, small_amount_yuan
from models.audit import AuditEvent
from models.case import Case, CaseStatus, PathwayRun, PathwayStatus
from tests.conftest import make_resident_id
from tests.flows.support import complete, new_case, notifications_of, pathway_runs_of, tasks_of, wait_for_end

PATHWAY = "temporary_assistance"
XIALIN = "350302002001"  # 霞林街道霞林社区: not where the e2e child lives (龙桥街道凤山社区)


# ------------------------------------------------------------------------------------ without the server


def test_a_pathway_run_needs_the_place_of_the_emergency(session, register):
    case = open_case(session, child_id=register().child.id, caseworker="test.caseworker")

    def start(parameters):
        return create_pathway_run(session, case_id=case.id, pathway=PATHWAY, actor="test.caseworker",
                                  parameters=parameters)

    with pytest.raises(ValueError, match=r"field 'emergency_area_code': required: the township or village"):
        start({"how_found": "request"})
    with pytest.raises(ValueError, match=r"field 'emergency_area_code': '350302' is not a township"):
        start({"emergency_area_code": "350302"})
    with pytest.raises(ValueError, match=r"field 'emergency_area_code': '999999001' is not inside a known county"):
        start({"emergency_area_code": "999999001"})
    with pytest.raises(ValueError, match=r"'how_found': 'phone' is not one of request, discovery"):
        start({"emergency_area_code": XIALIN, "how_found": "phone"})
    session.flush()
    assert session.exec(select(PathwayRun).where(PathwayRun.case_id == case.id)).all() == []
    run = start({"emergency_area_code": f" {XIALIN} ", "how_found": "discovery"})
    assert run.parameters == {"emergency_area_code": XIALIN, "how_found": "discovery"}
    run.status = PathwayStatus.cancelled  # no flow run: keep the sweeper of a served stack from starting it


def test_small_amount_is_cash_in_digits_up_to_the_ceiling():
    assert small_amount_yuan({"help_given": "cash", "amount_yuan": "800"}) == Decimal("800")
    assert small_amount_yuan({"help_given": "several", "amount_yuan": "１，０００元"}) == Decimal("1000")
    assert small_amount_yuan({"help_given": "cash", "amount_yuan": "1000.01"}) is None
    assert small_amount_yuan({"help_given": "cash", "amount_yuan": "1500"}, 2000) == Decimal("1500")
    assert small_amount_yuan({"help_given": "goods", "amount_yuan": "300"}) is None  # no cash given
    assert small_amount_yuan({"help_given": "cash", "amount_yuan": "八百元"}) is None
    assert small_amount_yuan({"help_given": "cash"}) is None
    assert small_amount_yuan({"help_given": "cash", "amount_yuan": "0"}) is None
    assert parse_yuan("¥1,234.50") == Decimal("1234.50") and parse_yuan("") is None and parse_yuan("nan") is None


def test_referred_items_start_their_pathway_or_a_service_list_referral():
    referrals, ignored = referral_targets("第16项、13，17 8 15 99 16", referring_pathway=PATHWAY)
    assert [(r.item, r.pathway, r.parameters) for r in referrals] == [
        (16, "guardianship", {}),                     # its pathway needs no start parameter
        (13, "service_referral", {"item": 13}),       # no pathway of its own
        (17, "service_referral", {"item": 17}),       # psychological screening needs a screening result
        (8, "service_referral", {"item": 8}),
    ]
    assert ignored == ["第15项临时救助服务即本路径，未重复转介", "清单无第99项，未转介"]
    assert referral_targets("无", referring_pathway=PATHWAY) == ([], [])


def _assistance_run() -> tuple[uuid.UUID, str]:
    """A case with a temporary-assistance run recorded (no flow run); returns (case id, run id)."""
    with session_scope() as session:
        child = register_child(session, resident_id=make_resident_id(), full_name="转介" + uuid.uuid4().hex[:4],
                               hukou_county="511321", residence_county="350302",
                               residence_area_code="350302001001", arrival_date=date(2023, 8, 20),
                               actor="test.caseworker").child
        case = open_case(session, child_id=child.id, caseworker="test.caseworker")
        run = create_pathway_run(session, case_id=case.id, pathway=PATHWAY, actor="test.caseworker",
                                 parameters={"emergency_area_code": XIALIN})
        return case.id, str(run.id)


def test_a_linked_pathway_is_recorded_once_on_the_same_case_or_left_pending(database_url):
    case_id, parent = _assistance_run()
    first = record_linked_pathway(parent, 16, "guardianship", {}, "careflow/onward_referral/test")
    again = record_linked_pathway(parent, 16, "guardianship", {}, "careflow/onward_referral/test")
    assert first.status == again.status == "started" and first.pathway_run_id == again.pathway_run_id
    pending = record_linked_pathway(parent, 12, "no_such_pathway", {"item": 12}, "careflow/onward_referral/test")
    record_linked_pathway(parent, 12, "no_such_pathway", {"item": 12}, "careflow/onward_referral/test")
    assert pending.status == "pending" and pending.reason == "暂无可启动的服务路径"  # told in Chinese, kept to retry
    with session_scope() as session:
        runs = session.exec(select(PathwayRun).where(PathwayRun.case_id == case_id)).all()
        assert sorted(r.pathway for r in runs) == ["guardianship", PATHWAY]
        actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.case_id == case_id)).all()]
        for run in runs:  # no flow runs: keep the sweeper of a served stack from starting them
            run.status = PathwayStatus.cancelled
            session.add(run)
    assert actions.count("pathway.linked") == 1 and actions.count("pathway.referral_pending") == 1


# ------------------------------------------------------------------------------------ end to end


@pytest.mark.e2e
@pytest.mark.only_backend("sqlite", why="the flow's branching reads the same rows on both databases; its writes are tested on both")
def test_emergency_helps_first_pays_the_small_amount_and_starts_the_referred_pathway_on_the_same_case(served):
    reference = demo.drive()
    assert demo.check(reference) == []
    assistance, linked = pathway_runs_of(reference)
    assert (assistance.pathway, linked.pathway) == (PATHWAY, "guardianship")
    assert assistance.case_id == linked.case_id
    assert linked.started_by.startswith("careflow/onward_referral/")
    first = tasks_of(linked.id)[0]
    assert (first.step_key, first.unit_code) == ("committee_admonition", "village_committee-350302001001")
    steps = {t.step_key: t for t in tasks_of(assistance.id)}
    assert steps["acknowledgement"].unit_code == "civil_affairs-350302002"  # where it happened, not where he lives
    assert steps["small_amount_payment"].due_at - steps["small_amount_payment"].requested_at >= timedelta(days=3)
    referral_news = [n for n in notifications_of(reference)
                     if n.event == "task_answered" and n.task_id == steps["onward_referral"].id]
    assert len(referral_news) == 1 and "已启动监护干预路径" in referral_news[0].body


@pytest.mark.e2e
@pytest.mark.only_backend("sqlite", why="the flow's branching reads the same rows on both databases; its writes are tested on both")
def test_ordinary_request_granted_is_referred_onward(served):
    reference, run_id, flow_run_id = new_case(PATHWAY, {"emergency_area_code": XIALIN, "how_found": "request"})
    acknowledgement = complete(run_id, flow_run_id, "acknowledgement", {"emergency": "no"})
    review = complete(run_id, flow_run_id, "ordinary_review", {"decision": "granted"})
    complete(run_id, flow_run_id, "onward_referral", {"services": "13、15"})
    run = wait_for_end(run_id)
    assert run.status == PathwayStatus.completed
    assert (acknowledgement.unit_code, review.unit_code) == ("civil_affairs-350302002", "civil_affairs-350302")
    assert [t.step_key for t in tasks_of(run_id)] == ["acknowledgement", "ordinary_review", "onward_referral"]
    assert run.outcome.startswith("普通临时救助：急难发生地已受理；审核审批同意救助；转介：")
    assert "第15项临时救助服务即本路径" in run.outcome
    linked = [r for r in pathway_runs_of(reference) if r.id != run_id]
    assert [(r.pathway, int(r.parameters["item"])) for r in linked] == [("service_referral", 13)]
    assert "第13项最低生活保障服务：已启动" in run.outcome
    assert linked[0].case_id == run.case_id and linked[0].flow_run_id is not None  # its flow run was created


@pytest.mark.e2e
def test_ordinary_request_refused_closes_after_the_review(served):
    reference, run_id, flow_run_id = new_case(PATHWAY, {"emergency_area_code": XIALIN})
    complete(run_id, flow_run_id, "acknowledgement", {"emergency": "no"})
    complete(run_id, flow_run_id, "ordinary_review", {"decision": "refused", "note": "不符合本地临时救助情形"})
    run = wait_for_end(run_id)
    assert (run.status, run.outcome) == (PathwayStatus.completed, "普通临时救助：急难发生地已受理；审核审批不予救助")
    assert [t.step_key for t in tasks_of(run_id)] == ["acknowledgement", "ordinary_review"]
    with session_scope() as session:
        assert session.get(Case, run.case_id).status == CaseStatus.open  # closing is the caseworker's decision
    assert len(pathway_runs_of(reference)) == 1
