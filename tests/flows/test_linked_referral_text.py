"""How an onward referral reads to the caseworker: started, or pending with the reason it could not start."""
from flows.onward_referral import LinkedPathway
from flows.temporary_assistance import describe_link


def test_a_started_referral_names_the_pathway():
    text = describe_link(LinkedPathway(item=16, pathway="guardianship", status="started", pathway_run_id="x"))
    assert text.startswith("第16项") and "已启动" in text


def test_a_referral_refused_because_the_pathway_is_already_running_says_so():
    reason = "未能启动：该个案的监护干预路径正在进行中（由 lin.fang 于 2026-12-04 18:20（北京时间）发起），结束后方可再次发起"
    text = describe_link(LinkedPathway(item=16, pathway="guardianship", status="pending", reason=reason))
    assert "正在进行中" in text and "暂无可启动" not in text and "请个案社工跟进" in text


def test_a_referral_with_no_pathway_to_start_says_there_is_none():
    text = describe_link(LinkedPathway(item=3, pathway="service_referral", status="pending"))
    assert "暂无可启动的服务路径" in text
