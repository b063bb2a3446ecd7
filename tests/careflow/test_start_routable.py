"""A pathway starts only when the steps it takes first can be given to a unit for the child's area; a run that fails
anyway is explained to people in words, never by the engine's exception text."""
from __future__ import annotations

import asyncio
import uuid
from datetime import date
from types import SimpleNamespace

import pytest
from sqlmodel import select

import careflow.reconcile as reconcile_module
from careflow.cases import PathwayNotRoutable, create_pathway_run, open_case
from careflow.start_routing import first_requests
from careflow.recovery import failure_outcome
from careflow.routing import NoUnitForAgency, gap_outcome, resolve_unit
from core.outcome import shown_outcome
from models.audit import AuditEvent
from models.case import PathwayRun, PathwayStatus
from models.notification import Notification
from tests.factories import make_resident_id

ID_SPACE = ("511321", date(2011, 5, 17))
#: What Prefect stored as the failed state's message of lin.fang's run (the sweeper's verdict quotes it).
RAW = ("流程运行已失败（Failed）：Flow run encountered an exception: NoUnitForAgency: 没有在用的村（居）民委员会单位"
       "（village_committee）负责城厢区龙桥街道（350302001）（村（居）级或以上）：请在承办单位名录（agency_units.yaml）中添加")
RAW_PARTS = ("NoUnitForAgency", "Flow run encountered", "village_committee", "agency_units.yaml", "Failed")


def _case(session, area: str):
    from careflow.registration import register_child

    reg = register_child(session, resident_id=make_resident_id(*ID_SPACE), full_name="路由测试" + uuid.uuid4().hex[:4],
                         hukou_county="511321", residence_county="350302", residence_area_code=area,
                         arrival_date=date(2023, 8, 20), actor="lin.fang")
    session.flush()
    case = open_case(session, child_id=reg.child.id, caseworker="lin.fang")
    session.flush()
    return case


def _runs(session, case) -> list[PathwayRun]:
    return list(session.exec(select(PathwayRun).where(PathwayRun.case_id == case.id)).all())


def test_guardianship_for_a_child_registered_only_to_the_township_is_refused_and_nothing_is_created(session):
    case = _case(session, "350302001")
    with pytest.raises(PathwayNotRoutable) as refused:
        create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="lin.fang")
    chinese = refused.value.text("zh")
    assert chinese == str(refused.value)
    assert chinese == ("该儿童居住地只登记到城厢区龙桥街道（乡镇（街道）一级）；本路径第一步「劝诫、制止」须由村（居）民委员会"
                       "办理，请先补充儿童居住的村（居）后再发起")
    english = refused.value.text("en")
    assert english.startswith("The child's residence is recorded only down to 城厢区龙桥街道 (township level)")
    assert "Village or residents' committee" in english and "village or residents' community" in english
    for text in (chinese, english):
        assert not any(part in text for part in RAW_PARTS), text
    assert _runs(session, case) == []
    assert not session.exec(select(AuditEvent).where(AuditEvent.case_id == case.id,
                                                     AuditEvent.action == "pathway.started")).all()


def test_a_village_without_a_committee_in_the_directory_names_the_gap_and_the_administrator(session):
    case = _case(session, "350302001099")  # a village of 龙桥街道 the directory has no committee for
    with pytest.raises(PathwayNotRoutable) as refused:
        create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="lin.fang")
    chinese = refused.value.text("zh")
    assert "承办单位名录中没有负责城厢区龙桥街道" in chinese and "350302001099" in chinese
    assert "村（居）民委员会" in chinese and "系统管理员" in chinese and "agency_units" not in chinese
    assert "administrator" in refused.value.text("en")
    assert _runs(session, case) == []


def test_what_is_checked_is_what_the_flows_request_first(session):
    assert [(s.key, a) for s, a in first_requests("guardianship", {})] == [("committee_admonition",
                                                                              "village_committee")]
    assert first_requests("psychological_screening", {"screening_result": "normal"}) == []  # no step at all
    assert [a for _s, a in first_requests("service_referral", {"item": 16})]  # the item's departments
    assert first_requests("service_referral", {"item": 18}) == []  # a programme: no department's task
    assert first_requests("service_referral", {"item": 13}) == []  # the registration place: decided on the way
    # a county-only child may start a pathway whose first step its county's units take (the screening's counselling)
    county_only = _case(session, "")
    assert create_pathway_run(session, case_id=county_only.id, pathway="psychological_screening", actor="lin.fang",
                              parameters={"screening_result": "at_risk"}).pathway == "psychological_screening"
    with pytest.raises(PathwayNotRoutable, match="只登记到城厢区（县（区）一级）"):
        create_pathway_run(session, case_id=county_only.id, pathway="guardianship", actor="lin.fang")
    ok = _case(session, "350302001001")
    assert create_pathway_run(session, case_id=ok.id, pathway="guardianship", actor="lin.fang").pathway \
        == "guardianship"


def test_a_flow_that_finds_no_unit_says_so_in_words(session):
    with pytest.raises(NoUnitForAgency) as gap:
        resolve_unit(session, "village_committee", "350302001", level="village")
    outcome = gap_outcome(gap.value, "guardianship", "committee_admonition")
    assert outcome.text() == ("受阻：“劝诫、制止”须由村（居）民委员会办理，但儿童居住地只登记到城厢区龙桥街道，无法交办；"
                              "请补充儿童居住的村（居）后重新发起本路径")
    assert outcome.text("en").startswith("Blocked: “Verify, admonish and stop the conduct” is taken by the Village")
    for text in (outcome.text(), outcome.text("en")):
        assert not any(part in text for part in RAW_PARTS), text


def test_a_run_given_up_after_restarts_tells_people_in_words_and_keeps_the_engine_text_in_the_audit(
        session, monkeypatch):
    case = _case(session, "350302001001")
    run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="lin.fang")
    run.flow_run_id, run.status, run.restart_count = uuid.uuid4(), PathwayStatus.running, 3
    session.commit()
    monkeypatch.setattr(reconcile_module, "_send_now", lambda ids: None)
    row = SimpleNamespace(id=run.id, flow_run_id=run.flow_run_id, restart_count=3)
    assert asyncio.run(reconcile_module._restart_or_give_up(None, row, RAW, 3, None)) == "given_up"
    session.expire_all()
    run = session.get(PathwayRun, run.id)
    assert run.status == PathwayStatus.failed
    chinese = shown_outcome(run.outcome, run.outcome_phrases, "zh")
    english = shown_outcome(run.outcome, run.outcome_phrases, "en")
    assert "承办单位名录中缺少负责该儿童居住地的承办单位" in chinese and "运行中" not in chinese
    assert "the agency directory has no unit for the child's area" in english
    mails = session.exec(select(Notification).where(Notification.case_id == case.id)).all()
    assert len(mails) == 2 and all("【路径失败】" in m.subject for m in mails)
    for text in (chinese, english, *[m.body for m in mails], *[m.subject for m in mails]):
        assert not any(part in text for part in RAW_PARTS), text
    [failed] = session.exec(select(AuditEvent).where(AuditEvent.case_id == case.id,
                                                     AuditEvent.action == "pathway.failed")).all()
    assert failed.detail["engine_reason"] == RAW  # the engine's words, for the administrator


def test_failure_reasons_are_worded_and_careflows_own_verdicts_kept():
    assert failure_outcome(RAW).text() == "承办单位名录中缺少负责该儿童居住地的承办单位，请联系系统管理员"
    assert failure_outcome("流程运行已失败（Failed）：Flow run encountered an exception: KeyError: 'x'").text() == \
        "流程出错（详细原因已记入系统日志）"
    assert failure_outcome("运行流程的进程（host）已不存在（被杀或崩溃）").text() == "运行流程的进程已不存在（被杀或崩溃）"


def test_careflows_own_verdicts_read_in_english_without_the_engines_words():
    """An English dashboard read 「Stopped: 流程运行已崩溃（Crashed）：process kil…」 (a suite run): the sweeper's verdict
    on a crashed run, quoting Prefect's state message, inside an English sentence."""
    from core.outcome import Outcome

    for verdict, english in (("流程运行已崩溃（Crashed）：process killed", "the flow run ended unexpectedly"),
                             ("运行流程的进程（vm:1）已不存在（被杀或崩溃）", "the process running the flow is gone"),
                             ("流程运行已被一个随后停止的运行器（careflow serve 或 careflow worker）领取（Pending），"
                              "现有运行器均在其后启动，视为已中断", "claimed by a runner that then stopped")):
        stopped = Outcome().add("gave_up", times=3, reason=failure_outcome(verdict))
        text = stopped.text("en")
        assert english in text and not any("\u4e00" <= c <= "\u9fff" for c in text), text
        assert "process killed" not in stopped.text() and "Crashed" not in stopped.text()
