"""The printable referral letter (转介单) and the ``careflow notify`` commands."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from entry.cli import app
from notifications.default_channels import DEFAULT_MAILTO
from notifications.letters import LetterContext, page_text, render_referral_letter
from notifications.sink import MailSink, read_mailbox
from tests.notifications.conftest import token

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def police_task(open_tasks):
    [task] = open_tasks(1)
    return task


def test_the_letter_carries_what_the_agency_needs_on_paper(context):
    ctx = LetterContext(m=context.model_copy(update={"ack_due_at_local": "2026-09-30 12:00",
                                                      "instructions": "核查监护情况\n必要时采取<临时保护>措施"}),
                        letter_no="FJ-350304-2026-0042-a1b2c3d4", issued_at_local="2026-09-30 10:05",
                        issuer="莆田市荔城区民政局", caseworker="lin.wei")
    page = render_referral_letter(ctx, "zh")
    text = page_text(page)
    assert page.startswith("<!DOCTYPE html>") and "@page { size: A4" in page
    for expected in ("流动儿童关爱保护转介单", "编号：FJ-350304-2026-0042-a1b2c3d4", "莆田市荔城区民政局",
                     "莆田市公安局荔城分局", "FJ-350304-2026-0042", "a1b2c3d4", "公安机关核查监护情况并报告",
                     "2026-09-30 12:00 前签收", "3个工作日，截止 2026-10-10 23:59", "（暂定", "核查结论", "已采取措施",
                     "签收人", "单位（盖章）", "不载儿童姓名、身份证号"):
        assert expected in text, expected
    # Values are escaped; line breaks of the instructions become <br>.
    assert "&lt;临时保护&gt;" in page and "核查监护情况<br>" in page
    en = page_text(render_referral_letter(ctx, "en"))
    assert "Referral for the care and protection of a migrant child" in en and "Acknowledge by" in en
    with pytest.raises(ValueError, match="'fr'"):
        render_referral_letter(ctx, "fr")


def test_notify_letter_writes_the_file(database_url, session, police_task, tmp_path):
    session.commit()
    out = tmp_path / "letters" / "referral.html"
    result = invoke("notify", "letter", police_task.short_ref, "--out", out)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out)
    page = out.read_text(encoding="utf-8")
    assert police_task.short_ref in page and "莆田市公安局城厢分局" in page
    default = invoke("notify", "letter", police_task.short_ref, "--lang", "en")
    assert default.exit_code == 0 and default.output.strip().endswith(f"referral-{police_task.short_ref}.en.html")
    missing = invoke("notify", "letter", "ffff0000")
    assert missing.exit_code == 2 and "任务：没有任务 'ffff0000'" in missing.output


def test_notify_channels_shows_where_messages_go_without_secrets(channel_file, port):
    bot = token("ding")
    channel_file({"default": [DEFAULT_MAILTO.format(port=port)],
                  "units": {"police-350302": {"officer": [f"dingtalk://{bot}/"],
                                              "supervisor": ["mailtos://duty:Pa55w0rdXYZ@smtp.example.gov.cn"
                                                             "?to=duty@example.gov.cn"]}},
                  "events": {"task_requested": ["supervisor"]}})
    result = invoke("notify", "channels", "police-350302", "--event", "task_requested")
    assert result.exit_code == 0, result.output
    assert "dingtalk://***/  限流：20/min (burst 5)" in result.output
    assert "mailtos://duty:***@smtp.example.gov.cn" in result.output
    assert bot not in result.output and "Pa55w0rdXYZ" not in result.output
    assert "police-350302 (task_requested) 共有 2 个通道地址" in result.output


def test_notify_test_reports_each_channel_and_fails_on_a_refusal(channel_file, receiver, tmp_path, port):
    good, refusing = token("ding"), token("ding")
    receiver.script(refusing, "refuse")
    channel_file({"default": [DEFAULT_MAILTO.format(port=port)],
                  "units": {"police-350302": [f"dingtalk://{good}/", DEFAULT_MAILTO.format(port=port)],
                            "police-350823": [f"dingtalk://{refusing}/"]},
                  "endpoints": receiver.endpoints()})
    with MailSink(tmp_path / "mailbox", port=port):
        ok = invoke("notify", "test", "police-350302")
        refused = invoke("notify", "test", "police-350823")
    assert ok.exit_code == 0, ok.output
    assert ok.output.count("成功 ") == 2
    assert [m.to for m in read_mailbox(tmp_path / "mailbox")] == ["police-350302@careflow.local"]
    assert "【测试】" in receiver.messages(token=good)[0].text
    assert refused.exit_code == 1
    assert "失败     dingtalk://***/: refused with errcode 310000" in refused.output
    assert refusing not in refused.output


def test_notify_dispatch_sends_what_is_due(database_url, quiet_outbox, session, police_task, channel_file, tmp_path,
                                           port):
    from notifications.messages import enqueue_task_message

    channel_file({"default": [DEFAULT_MAILTO.format(port=port)]})
    enqueue_task_message(session, task=police_task, event="task_requested")
    session.commit()
    with MailSink(tmp_path / "mailbox", port=port):
        result = invoke("notify", "dispatch")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "通知：已发送 1"
    assert len(read_mailbox(tmp_path / "mailbox")) == 1


def test_a_broken_channel_file_is_a_user_error_in_chinese_and_in_english(channel_file):
    """It printed English (「unknown role 'chief' (expected officer, supervisor, manager)」) on the Chinese command
    line."""
    path = channel_file({"units": {"police-350302": {"chief": ["json://x.example.cn"]}}})
    result = invoke("notify", "channels", "police-350302")
    assert result.exit_code == 2 and result.output.strip() == (
        f"错误：{path} 第 3 行第 5 列：单位 'police-350302'：没有角色 'chief'（可用：officer、supervisor、manager）")
    english = subprocess.run([sys.executable, "-m", "entry.cli", "notify", "channels", "police-350302"],
                             capture_output=True, text=True, env={**os.environ, "CAREFLOW_LANG": "en"}, timeout=120)
    assert english.returncode == 2 and english.stderr.strip() == (
        f"error: {path}, line 3, column 5: unit 'police-350302': unknown role 'chief' "
        "(expected officer, supervisor, manager)")


def test_sweep_names_a_broken_channel_file(database_url, channel_file):
    """``careflow sweep`` ended in a traceback of the channel file's error."""
    path = channel_file({"digest": {"daily_at": "8:30"}})
    result = invoke("sweep")
    assert result.exit_code == 2 and result.output.strip().splitlines()[-1] == (
        f"错误：{path} 第 2 行第 13 列：digest 中的 daily_at：应为本地时间 'HH:MM'，而不是 '8:30'")
