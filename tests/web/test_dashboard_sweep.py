"""The manager's dashboard says when the deadline engine last swept and whether it left anything unprocessed."""
import re

from careflow.escalation import sweep_deadlines


def test_the_dashboard_shows_the_last_sweep(web_app, clients):
    report = sweep_deadlines()
    assert not report.skipped
    page = clients["mgr_a"].get("/dashboard").text
    line = re.search(r'<p class="muted" id="deadline-engine">([^<]*)</p>', page).group(1)
    assert re.fullmatch(r"期限引擎：上次巡检 \d+ 秒前（用时 \d+\.\d 秒(，触发提醒或升级 \d+ 次)?），无积压逾期未处理", line), line
    english = clients["mgr_a"].get("/dashboard?lang=en").text
    assert "Deadline engine: last sweep" in english
    clients["mgr_a"].get("/dashboard?lang=zh")


def test_the_dashboard_says_how_many_tasks_could_not_be_escalated(web_app, clients):
    from core.db import session_scope
    from models.base import utcnow
    from models.sweep import SweepRun

    with session_scope() as session:
        session.add(SweepRun(at=utcnow(), finished_at=utcnow(), duration_s=0.1, fired=0, backlog=0, failed=2))
    page = clients["mgr_a"].get("/dashboard").text
    line = re.search(r'<p class="overdue" id="deadline-engine-failed">([^<]*)</p>', page).group(1)
    assert re.fullmatch(r"\d+ 项任务升级失败（已暂缓，1 小时后自动重试；详见审计日志）", line), line
