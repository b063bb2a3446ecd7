"""A pathway's outcome as phrases (core.outcome): each flow, driven with representative answers, records the Chinese
text it always recorded (the audit's and older rows' words) and the same outcome in English on request; every phrase a
flow or careflow records has both translations, with the same fields."""
from __future__ import annotations

import ast
import re
from decimal import Decimal
from pathlib import Path

import pytest

from core.i18n import catalogue, has_message
from core.outcome import Outcome, shown_outcome
from core.paths import PROJECT_ROOT
from flows import guardianship, misconduct_notice, psychological_screening, service_referral, temporary_assistance
from flows.onward_referral import LinkedPathway, pending_reason
from flows.waiting import MAX_ATTEMPTS, PathwayBlocked, _step_title
from models.case import clip_text
from models.policy import load_policy
from tests.flows.fake_steps import context, drive, started

REFUSED = ("未能启动：该个案的监护干预路径正在进行中（由 lin.fang 于 2026-12-04 18:20（北京时间）发起），"
           "结束后方可再次发起")


def pending(reason: str):
    return lambda item, pathway: LinkedPathway(item=item, pathway=pathway, status="pending", reason=reason)


GUARDIANSHIP_WHOLE_WAY = {
    "committee_admonition": {"serious": True, "child_in_danger": True},
    "police_reprimand": {"reprimanded": True, "family_education_ordered": True, "child_unsafe": False},
    "temporary_guardianship": {"placed": True}, "family_education_guidance": {"guidance_started": True},
    "guardianship_assessment": {"guardianship_missing_or_unsafe": True, "long_term_guardianship_needed": True},
    "long_term_guardianship": {"ruling": "petition_dismissed"}}

#: name → (flow module, steps function, pathway, extra argument, answers, onward referral's end, Chinese as recorded
#: before phrases existed: the strings the flows built).
CASES = {
    "guardianship_not_serious": (
        guardianship, "_guardianship_steps", "guardianship", None,
        {"committee_admonition": {"serious": False, "child_in_danger": False}}, started,
        "村（居）委会已劝诫、制止；情节不严重，未报告公安机关"),
    "guardianship_whole_way": (
        guardianship, "_guardianship_steps", "guardianship", None, GUARDIANSHIP_WHOLE_WAY, started,
        "村（居）委会已劝诫、制止；公安机关已训诫；已临时监护；已开展家庭教育指导；已完成家庭监护评估；长期监护经法院处理（驳回申请）"),
    "guardianship_unsafe_later": (
        guardianship, "_guardianship_steps", "guardianship", None,
        {"committee_admonition": {"serious": True, "child_in_danger": False},
         "police_reprimand": {"reprimanded": False, "family_education_ordered": False, "child_unsafe": True},
         "temporary_guardianship": {"placed": False},
         "guardianship_assessment": {"guardianship_missing_or_unsafe": False, "long_term_guardianship_needed": False}},
        started, "村（居）委会已劝诫、制止；公安机关已处理（未训诫）；已完成家庭监护评估；救助保护机构未安置"),
    "screening_normal": (
        psychological_screening, "_screening_steps", "psychological_screening", "normal", {}, started,
        "心理健康筛查结果正常，无需干预"),
    "screening_resolved": (
        psychological_screening, "_screening_steps", "psychological_screening", "at_risk",
        {"counselling": {"started": True, "risk_after": "resolved"},
         "guardian_involvement": {"guardians_informed": False}}, started,
        "心理健康筛查结果有风险；已开始心理辅导、情绪疏导；未能告知监护人；辅导后风险已解除，未转介就医"),
    "screening_still_high": (
        psychological_screening, "_screening_steps", "psychological_screening", "at_risk",
        {"counselling": {"started": False, "risk_after": "high_risk"},
         "guardian_involvement": {"guardians_informed": True},
         "medical_referral": {"seen": True, "severe_mental_disorder": True},
         ("community_rehabilitation", "health"): {"enrolled": True},
         ("community_rehabilitation", "civil_affairs"): {"enrolled": False}}, started,
        "心理健康筛查结果有风险；心理辅导未能开始；已告知并配合监护人采取干预措施；辅导后仍高风险，已转介就医（加急，24小时）；"
        "医疗机构已接诊；诊断为严重精神障碍；已纳入健康管理；未纳入精神障碍社区康复服务"),
    "screening_still_at_risk": (
        psychological_screening, "_screening_steps", "psychological_screening", "at_risk",
        {"counselling": {"started": True, "risk_after": "at_risk"},
         "guardian_involvement": {"guardians_informed": True},
         "medical_referral": {"seen": False, "severe_mental_disorder": False}}, started,
        "心理健康筛查结果有风险；已开始心理辅导、情绪疏导；已告知并配合监护人采取干预措施；辅导后仍有风险，已转介就医；医疗机构未接诊；"
        "未诊断为严重精神障碍"),
    "screening_high_at_once": (
        psychological_screening, "_screening_steps", "psychological_screening", "high_risk",
        {"counselling": {"started": True}, "guardian_involvement": {"guardians_informed": True},
         "medical_referral": {"seen": True, "severe_mental_disorder": False}}, started,
        "心理健康筛查结果高风险；已开始心理辅导、情绪疏导；已告知并配合监护人采取干预措施；已加急转介就医（24小时）；医疗机构已接诊；"
        "未诊断为严重精神障碍"),
    "assistance_emergency": (
        temporary_assistance, "_assistance_steps", "temporary_assistance", Decimal("1000"),
        {"acknowledgement": {"emergency": True}, "emergency_help": {"help_given": "several", "amount_yuan": "800"},
         "small_amount_payment": {"paid": True}, "onward_referral": {"services": "16，15、99 13"},
         "paperwork": {"completed": True}}, started,
        "急难型临时救助：急难发生地已受理；已先行救助（多种方式，800元）；小额快救已发放；转介：第16项监护支持干预服务：已启动监护干预路径；"
        "第13项最低生活保障服务：已启动关爱服务清单转介路径；第15项临时救助服务即本路径，未重复转介；清单无第99项，未转介；"
        "急难缓解后已补齐审核审批手续"),
    "assistance_goods_pending": (
        temporary_assistance, "_assistance_steps", "temporary_assistance", Decimal("1000"),
        {"acknowledgement": {"emergency": True}, "emergency_help": {"help_given": "goods"},
         "onward_referral": {"services": "16,8"}, "paperwork": {"completed": False}}, pending(REFUSED),
        f"急难型临时救助：急难发生地已受理；已先行救助（实物）；转介：第16项监护支持干预服务：待转介（{REFUSED}，请个案社工跟进）；"
        f"第8项健康管理服务：待转介（{REFUSED}，请个案社工跟进）；审核审批手续未补齐"),
    "assistance_no_help_named": (
        temporary_assistance, "_assistance_steps", "temporary_assistance", Decimal("1000"),
        {"acknowledgement": {"emergency": True}, "emergency_help": {"amount_yuan": "八百"},
         "onward_referral": {"services": "12"}, "paperwork": {"completed": True}}, pending("暂无可启动的服务路径"),
        "急难型临时救助：急难发生地已受理；已先行救助（救助）；转介：第12项残疾儿童教育服务：待转介（暂无可启动的服务路径，请个案社工跟进）；"
        "急难缓解后已补齐审核审批手续"),
    "assistance_refused": (
        temporary_assistance, "_assistance_steps", "temporary_assistance", Decimal("1000"),
        {"acknowledgement": {"emergency": False}, "ordinary_review": {"decision": "refused"}}, started,
        "普通临时救助：急难发生地已受理；审核审批不予救助"),
    "assistance_granted_nothing": (
        temporary_assistance, "_assistance_steps", "temporary_assistance", Decimal("1000"),
        {"acknowledgement": {"emergency": False}, "ordinary_review": {"decision": "granted"},
         "onward_referral": {"services": "none"}}, started,
        "普通临时救助：急难发生地已受理；审核审批同意救助；转介：无需转介其他服务"),
    "misconduct_started": (
        misconduct_notice, "_notice_steps", "misconduct_notice", None,
        {"civil_affairs_followup": {"guardianship_support": True, "screening_result": "normal"},
         "education_followup": {"school_measures": True, "screening_result": "at_risk"}}, started,
        "民政部门已跟进，已提供监护支持；教育部门已跟进，学校已采取教育帮扶措施；已启动心理健康筛查路径"),
    "misconduct_pending": (
        misconduct_notice, "_notice_steps", "misconduct_notice", None,
        {"civil_affairs_followup": {"guardianship_support": False, "screening_result": "high_risk"},
         "education_followup": {"school_measures": False}}, pending(REFUSED),
        f"民政部门已跟进，未提供监护支持；教育部门已跟进，学校未采取措施；心理健康筛查路径待启动：{REFUSED}"),
    "misconduct_normal": (
        misconduct_notice, "_notice_steps", "misconduct_notice", None,
        {"civil_affairs_followup": {"guardianship_support": False, "screening_result": "normal"},
         "education_followup": {"school_measures": False, "screening_result": "not_screened"}}, started,
        "民政部门已跟进，未提供监护支持；教育部门已跟进，学校未采取措施；心理健康筛查结果正常"),
    "referral_item_5": (
        service_referral, "_referral_steps", "service_referral", 5,
        {"service_referral": {"service_provided": True, "measures": "发放助学金", "note": "不显示"}}, started,
        "清单第5项中等职业教育助学服务：2个责任部门均已答复。教育（已提供服务：是，服务措施：发放助学金）；人社（已提供服务：是，服务措施：发放助学金）"),
    "referral_cross_province": (
        service_referral, "_referral_steps", "service_referral", 13,
        {"registration_forwarding": {"forwarded_to": "南部县民政局", "forwarded_on": "2026-03-04"},
         "minimum_living_reply": {"decision": "approved", "replied_on": "2026-04-01"}}, started,
        "清单第13项最低生活保障服务（跨省通办）。转递户籍地（跨省通办）：转递的户籍地部门：南部县民政局；转递日期：2026-03-04。"
        "记录户籍地审核确认结果（最低生活保障，跨省通办）：户籍地审核确认结果：审核通过；户籍地答复日期：2026-04-01"),
}

#: Chinese a reader of English may still see: what a person typed or another system wrote, and the service list's
#: names (the annex names its services in Chinese only).
TYPED = [REFUSED.removeprefix("未能启动："), "南部县民政局", "发放助学金",
         *(item.service for item in load_policy().service_items.values())]
CJK = re.compile(r"[\u4e00-\u9fff]")


def run_case(monkeypatch, name: str) -> tuple[Outcome, list[tuple[str, str]]]:
    module, steps, pathway, extra, answers, link, _ = CASES[name]
    if pathway == "service_referral":
        args = (context(pathway, {"item": extra}), load_policy().service_item(extra))
    else:
        args = (context(pathway),) + (() if extra is None else (extra,))
    route = "cross_province" if name == "referral_cross_province" else "registration_place"
    return drive(monkeypatch, module, steps, *args, answers=answers, link=link, route=route)


@pytest.mark.parametrize("name", CASES)
def test_a_flow_records_the_chinese_it_always_did_and_english_on_request(monkeypatch, name):
    outcome, told = run_case(monkeypatch, name)
    chinese = CASES[name][-1]
    assert outcome.text() == chinese
    assert [summary for event, summary in told if event == "pathway_closed"] in ([], [chinese])  # the caseworker's
    english = outcome.text("en")
    assert outcome.known("en") and "outcome." not in english
    for typed in sorted(TYPED, key=len, reverse=True):
        english = english.replace(typed, "")
    assert not CJK.search(english), english
    stored = Outcome.from_json(outcome.to_json())  # as read back from the JSON column
    assert stored.text() == chinese and shown_outcome(chinese, outcome.to_json(), "en") == outcome.text("en")


def test_the_english_outcome_words_each_value_by_its_label(monkeypatch):
    outcome, _ = run_case(monkeypatch, "guardianship_whole_way")
    assert outcome.to_json()[-1] == {"key": "guardianship.long_term", "values": {"ruling": "petition_dismissed"}}
    assert outcome.text("en") == (
        "The village/residents' committee admonished and stopped the conduct; The police reprimanded the guardian; "
        "Placed in temporary guardianship; Family-education guidance given; Family guardianship assessment completed; "
        "Long-term guardianship dealt with by the court (petition dismissed)")


@pytest.mark.parametrize("pathway", sorted(load_policy().pathways))
def test_a_blocked_end_frames_the_reason_as_the_agency_wrote_it(pathway):
    for step in load_policy().pathway(pathway).steps:
        for reason in ("材料不全，请补充监护人联系方式", "x" * 600):
            blocked = PathwayBlocked(step.key, reason, _step_title(pathway, step.key), pathway)
            assert blocked.outcome.text() == clip_text(f"受阻：{blocked}")  # as recorded before phrases
            english = blocked.outcome.text("en")
            assert english.startswith(f"Blocked: “{step.title_en}” was sent back {MAX_ATTEMPTS} times")
    blocked = PathwayBlocked("gone", "原因", "", pathway)  # a step the policy no longer names: its key
    assert blocked.outcome.text() == f"受阻：{blocked}" and "“gone”" in blocked.outcome.text("en")


def test_start_errors_restarts_and_pending_reasons_translate_only_their_frame():
    assert Outcome().add("invalid_start", error="字段 screening_result").text() == "启动参数无效：字段 screening_result"
    assert Outcome().add("bad_parameter", error="清单无第99项").text("en") == "Parameter error: 清单无第99项"
    assert Outcome().add("gave_up", times=3, reason="流程运行已崩溃").text() == \
        "已停止：流程运行已崩溃（流程反复中断，自动重启 3 次仍未恢复）"
    assert pending_reason("").text() == pending_reason("暂无可启动的服务路径").text() == "暂无可启动的服务路径"
    assert pending_reason(REFUSED).text() == REFUSED
    assert pending_reason(REFUSED).text("en").startswith("could not start: ")
    assert pending_reason("另有原因").text("en") == "另有原因"


def test_a_row_without_phrases_shows_its_text_and_chinese_readers_the_stored_text():
    assert shown_outcome("路径办结", None, "en") == "路径办结"
    assert shown_outcome("已改写的中文", [{"key": "guardianship.assessed"}], "zh") == "已改写的中文"
    assert shown_outcome("旧文本", [{"key": "no.such.phrase"}], "en") == "旧文本"  # a phrase this version lacks


def _keys(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    return _keys(node.body) | _keys(node.orelse) if isinstance(node, ast.IfExp) else set()


def _recorded_keys() -> set[str]:
    """Every phrase key the code names in an ``….add("…")`` call (or either branch of ``"a" if … else "b"``) of a
    module that uses :class:`core.outcome.Outcome` (flows/, careflow/)."""
    keys = set()
    for folder in ("flows", "careflow"):
        for path in Path(PROJECT_ROOT, folder).rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            if "from core.outcome import" in source:
                keys |= {key for node in ast.walk(ast.parse(source))
                         if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add" and node.args
                         for key in _keys(node.args[0])}
    return keys


def test_every_recorded_phrase_has_both_translations_with_the_same_fields():
    keys = _recorded_keys()
    assert {"guardianship.admonished", "link.pending", "blocked", "field", "programme.invited"} <= keys
    fields = re.compile(r"{(\w+)}")
    for key in keys:
        assert has_message(f"outcome.{key}", "zh") and has_message(f"outcome.{key}", "en"), key
    zh, en = ({k: v for k, v in catalogue(lang).items() if k.startswith("outcome.")} for lang in ("zh", "en"))
    assert sorted(zh) == sorted(en)
    for key, text in zh.items():
        assert sorted(fields.findall(text)) == sorted(fields.findall(en[key])), key


def test_a_flow_words_a_bad_start_parameter_in_chinese_in_a_fresh_process():
    """A flow-run process has not loaded the catalogues when a start parameter fails: the stored reason still names
    the field and the value in Chinese, never ``problem.item_not_in_list {…}``."""
    import subprocess
    import sys

    from core.paths import PROJECT_ROOT

    code = ("import flows.service_referral as f; from models.service_list import referral_item\n"
            "try:\n    referral_item({'item': 99})\n"
            "except ValueError as exc:\n    print(f.error_reason(exc))")
    reason = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    assert "99" in reason and "problem." not in reason and any("\u4e00" <= c <= "\u9fff" for c in reason)
