"""Starting a service-list referral checks the item's target group (careflow/referral_eligibility.py), on both
databases: refused with Chinese reasons when a rule is not met (a 15-year-old for items 1 and 2, a child recorded
without disability for item 11, a child who is no migrant child); an unknown fact needs a written reason, which
is audited and shown to the department on its task page; facts are recorded with source and date, latest wins."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import select

from careflow.cases import create_pathway_run, open_case
from careflow.child_facts import latest_facts, record_child_fact, today
from careflow.facts import task_facts
from careflow.referral_eligibility import EligibilityNeedsReason, NotEligible, items_eligibility
from careflow.step_tasks import open_step_task
from models.audit import AuditEvent
from models.case import PathwayRun, PathwayStatus
from models.eligibility import add_months
from models.user import UserRole
from tests.factories import make_resident_id
from web.users import create_user

CASEWORKER = "elig.caseworker"


@pytest.fixture
def new_case(session, register):
    """A case on a new migrant child born ``birth`` (default eleven years ago) in 城厢区."""
    def _new(birth: date | None = None, **overrides):
        birth = birth or add_months(today(), -11 * 12)
        child = register(resident_id=make_resident_id("511321", birth), actor=CASEWORKER, **overrides).child
        return open_case(session, child_id=child.id, caseworker=CASEWORKER)

    return _new


def _start(session, case, item, **extra):
    return create_pathway_run(session, case_id=case.id, pathway="service_referral", actor=CASEWORKER,
                              parameters={"item": item, **extra})


def _runs(session, case):
    session.flush()
    return session.exec(select(PathwayRun).where(PathwayRun.case_id == case.id)).all()


def _cancel(session, *runs):  # no flow run here: keep a served stack's sweeper from starting them
    for run in runs:
        run.status = PathwayStatus.cancelled
        session.add(run)


def test_a_fifteen_year_old_is_refused_items_1_and_2_with_chinese_reasons(session, new_case):
    case = new_case(add_months(today(), -15 * 12 - 1))
    for item, service in ((1, "健康和托育(3岁以下)服务"), (2, "学前教育服务")):
        with pytest.raises(NotEligible) as refused:
            _start(session, case, item, eligibility_override="家长要求")  # no reason overrides a rule not met
        message = str(refused.value)
        assert message.startswith(f"清单第{item}项{service}")
        assert "该儿童不符合服务对象条件，不能转介" in message and "周岁" in message
        english = refused.value.text("en")
        assert english.startswith(f"service list item {item}, ") and "cannot be referred" in english
        assert "age: " in english and "周岁" not in english and "不符合" not in english
    assert _runs(session, case) == []
    _cancel(session, _start(session, case, 18))  # open to every migrant child


def test_a_refusal_names_the_item_and_the_reason_in_chinese_and_in_english_on_request(session, new_case):
    case = new_case()
    record_child_fact(session, child_id=case.child_id, key="disability", value="no", source="department",
                      source_detail="城厢区残联", established_on=date(2026, 11, 2), actor=CASEWORKER)
    with pytest.raises(NotEligible) as refused:
        _start(session, case, 11, eligibility_override="试试")
    chinese, english = str(refused.value), refused.value.text("en")
    assert chinese.startswith("清单第11项") and "该儿童不符合服务对象条件，不能转介。" in chinese
    assert chinese.endswith("残疾儿童：不符合。已记录“残疾儿童”：否（部门答复：城厢区残联，2026-11-02）")
    assert english.startswith("service list item 11, Rehabilitation aid for disabled children")
    assert english.endswith("(target group: Migrant children with disabilities): the child is not in the target "
                            "group and cannot be referred. Disabled child: not met. recorded “Disabled child”: no "
                            "(a department's answer: 城厢区残联, 2026-11-02)")
    assert _runs(session, case) == []


def test_item_11_needs_a_recorded_disability(session, new_case):
    case = new_case()
    with pytest.raises(EligibilityNeedsReason, match="残疾儿童：待核实。儿童档案未记录“残疾儿童”"):
        _start(session, case, 11)
    record_child_fact(session, child_id=case.child_id, key="disability", value="no", source="department",
                      source_detail="城厢区残联", established_on=today() - timedelta(days=30), actor=CASEWORKER)
    with pytest.raises(NotEligible, match=r"残疾儿童：不符合。已记录“残疾儿童”：否（部门答复：城厢区残联，"):
        _start(session, case, 11, eligibility_override="试试")
    assert _runs(session, case) == []
    # a later record wins: the federation issued a disability certificate
    record_child_fact(session, child_id=case.child_id, key="disability", value="yes", source="department",
                      source_detail="残疾人证", established_on=today(), actor=CASEWORKER)
    assert latest_facts(session, case.child_id)["disability"].value == "yes"
    run = _start(session, case, 11, eligibility_override="不需要了")
    assert run.parameters == {"item": "11"}  # every rule met: no override is stored or audited
    assert not session.exec(select(AuditEvent).where(AuditEvent.action == "referral.eligibility_override",
                                                     AuditEvent.case_id == case.id)).all()
    facts = session.exec(select(AuditEvent).where(AuditEvent.action == "child.fact_recorded",
                                                  AuditEvent.entity_id == str(case.child_id))).all()
    assert [e.detail["value"] for e in facts] == ["no", "yes"]
    _cancel(session, run)


def test_an_unknown_fact_proceeds_only_with_a_reason_audited_and_shown_to_the_department(session, new_case):
    case = new_case()
    with pytest.raises(EligibilityNeedsReason) as needs:
        _start(session, case, 13, eligibility_override="   ")
    assert "符合最低生活保障条件（低保）：待核实" in str(needs.value)
    assert "资格未确认时继续转介的理由" in str(needs.value)
    run = _start(session, case, 13, eligibility_override="家庭收入证明正在户籍地开具，先行转介")
    assert run.parameters["eligibility_override"] == "家庭收入证明正在户籍地开具，先行转介"
    assert "符合最低生活保障条件（低保）：待核实" in run.parameters["eligibility_unknown"]
    session.flush()
    audit = session.exec(select(AuditEvent).where(AuditEvent.action == "referral.eligibility_override",
                                                  AuditEvent.case_id == case.id)).one()
    assert (audit.actor, audit.entity_id, audit.reason) == (CASEWORKER, str(run.id), "家庭收入证明正在户籍地开具，先行转介")
    assert audit.detail["item"] == 13 and "低保" in audit.detail["unknown"]
    # the department (the residence county's civil affairs, forwarding to 四川省南部县: 跨省通办) reads it on its
    # task page
    task = open_step_task(session, pathway_run_id=run.id, step_key="registration_forwarding",
                          agency_type="civil_affairs")
    officer = create_user(session, username=f"officer.{run.id.hex[:8]}", password="x" * 12,
                          role=UserRole.agency_officer, actor="fixture", unit_code=task.unit_code)
    shown = {p.name: (p.label_zh, p.value) for p in task_facts(session, task, officer).parameters}
    assert shown["eligibility_override"] == ("资格未确认时继续转介的理由（仅在服务对象条件无法确认时填写）",
                                             "家庭收入证明正在户籍地开具，先行转介")
    assert shown["eligibility_unknown"][0] == "未能确认的服务对象条件"
    assert "低保" in shown["eligibility_unknown"][1]
    _cancel(session, run)


def test_a_child_who_is_no_migrant_child_is_refused(session, new_case):
    case = new_case(arrival_date=today() - timedelta(days=40))  # not yet six months in 城厢区
    with pytest.raises(NotEligible, match="流动儿童：不符合。自 .* 起在居住地生活，至 .* 才满 6 个月"):
        _start(session, case, 18)
    assert _runs(session, case) == []


def test_a_typed_eligibility_unknown_is_ignored_and_every_item_is_evaluated(session, new_case):
    case = new_case()
    run = _start(session, case, 18)
    assert "eligibility_unknown" not in run.parameters
    _cancel(session, run)
    from models.child import Child

    results = items_eligibility(session, session.get(Child, case.child_id))
    assert [r.item for r in results] == list(range(1, 21))
    by_item = {r.item: r.status for r in results}
    assert (by_item[1], by_item[3], by_item[11], by_item[18]) == ("not_met", "met", "unknown", "met")
