"""Real delivery: apprise mailto:// into a real local MailSink, read back from the mailbox; failures reported."""
from __future__ import annotations

import base64
import socket
import time

import pytest

from notifications.channels import load_channels
from notifications.default_channels import DEFAULT_MAILTO, write_default_channels
from notifications.deliver import RESPONSE_VERIFIERS, DeliveryResult, deliver
from notifications.render import assert_no_personal_data, render_message
from notifications.sink import MailSink, read_mailbox
from tests.notifications.support import CHILD_ID, CHILD_NAME, free_port


def sink_url(port: int, unit: str) -> str:
    return DEFAULT_MAILTO.format(port=port).replace("{unit}", unit)


def test_chinese_message_arrives_in_the_mailbox(tmp_path, port):
    subject = "【新任务】FJ-350304-2026-0042 公安机关核查监护情况并报告｜截止 2026-10-10 23:59（暂定）"
    body = "莆田市公安局荔城分局：\n\n请在截止时间前签收并办理。\n签收：careflow task ack a1b2c3d4 --unit police-350304\n" + "长" * 300
    with MailSink(tmp_path / "mailbox", port=port) as sink:
        assert sink.running
        result = deliver([sink_url(port, "police-350304")], subject, body)

    assert isinstance(result, DeliveryResult)
    assert result.ok, result
    assert [(r.ok, r.error) for r in result.per_url] == [(True, "")]
    messages = read_mailbox(tmp_path / "mailbox")
    assert len(messages) == 1
    message = messages[0]
    assert message.to == "police-350304@careflow.local"
    assert message.subject == subject
    assert message.body.replace("\r\n", "\n").rstrip("\n") == body.rstrip("\n")
    assert message.path.suffix == ".eml" and message.path.parent == tmp_path / "mailbox"


def test_rendered_message_through_the_default_channel_file(tmp_path, port, context):
    """The whole path a notification takes: render, check, channel file, deliver, mailbox."""
    channels = tmp_path / "channels.yaml"
    write_default_channels(channels, port)
    config = load_channels(channels)
    rendered = render_message(context, "zh")
    for text in rendered:
        assert_no_personal_data(text, child_name=CHILD_NAME, resident_id=CHILD_ID)
    with MailSink(tmp_path / "mailbox", port=port):
        police = deliver(config.urls_for("police-350304"), rendered.subject, rendered.body)
        caseworker = deliver(config.urls_for("caseworker.linwei"), "【答复】FJ-350304-2026-0042", "已办结")

    assert police.ok and caseworker.ok
    by_to = {m.to: m for m in read_mailbox(tmp_path / "mailbox")}
    assert set(by_to) == {"police-350304@careflow.local", "caseworker.linwei@careflow.local"}
    received = by_to["police-350304@careflow.local"]
    assert received.subject == rendered.subject
    for expected in (context.case_reference, context.step_title, "2026-10-10 23:59（北京时间）（暂定）",
                     context.answer_commands["complete"]):
        assert expected in received.body


def test_delivery_to_a_closed_port_fails_without_raising(tmp_path):
    closed = free_port()  # nothing listens there
    started = time.monotonic()
    result = deliver([sink_url(closed, "police-350304")], "主题", "正文")
    assert time.monotonic() - started < 10
    assert result.ok is False
    [url_result] = result.per_url
    assert url_result.ok is False and url_result.error
    assert "127.0.0.1" in url_result.error
    assert f":{closed}" in url_result.url_redacted


def test_one_failed_channel_makes_the_delivery_fail_but_the_other_is_sent(tmp_path, port):
    with MailSink(tmp_path / "mailbox", port=port):
        result = deliver([sink_url(port, "police-350304"), sink_url(free_port(), "police-350304")], "主题", "正文")
    assert result.ok is False
    assert [r.ok for r in result.per_url] == [True, False]
    assert len(read_mailbox(tmp_path / "mailbox")) == 1


def test_no_urls_is_a_failed_delivery_with_a_reason():
    result = deliver([], "主题", "正文")
    assert result.ok is False
    assert result.per_url[0].url_redacted == "(none)" and "no channel" in result.per_url[0].error


def test_an_unparsable_url_raises_value_error_without_the_secret_and_sends_nothing(tmp_path, port):
    bad = "dingtalk://SignSecret42@bad!token0000111122223333/13800138000"
    with MailSink(tmp_path / "mailbox", port=port):
        with pytest.raises(ValueError) as caught:
            deliver([sink_url(port, "police-350304"), bad], "主题", "正文")
    for secret in ("SignSecret42", "bad!token0000111122223333", "13800138000"):
        assert secret not in str(caught.value)
    assert "dingtalk://***" in str(caught.value)
    assert read_mailbox(tmp_path / "mailbox") == []


def test_chat_bot_schemas_have_a_verifier_that_reads_the_error_code_of_a_200_answer():
    from notifications.verify import HttpExchange

    assert {"dingtalk", "wecombot", "wechat", "feishu", "lark"} <= set(RESPONSE_VERIFIERS)
    refused = {"dingtalk": b'{"errcode":310000,"errmsg":"keywords not in content"}',
               "wecombot": b'{"errcode":93000,"errmsg":"invalid webhook url"}',
               "wechat": b'{"errcode":60020,"errmsg":"not allow to access from your ip"}',
               "feishu": b'{"code":19024,"msg":"Key Words Not Found"}',
               "lark": b'{"code":19021,"msg":"sign match fail"}'}
    fine = {"dingtalk": b'{"errcode":0,"errmsg":"ok"}', "wecombot": b'{"errcode":0,"errmsg":"ok"}',
            "wechat": b'{"errcode":0,"errmsg":"ok"}', "feishu": b'{"StatusCode":0,"code":0,"msg":"success"}',
            "lark": b'{"code":0,"msg":"success"}'}
    for schema, verifier in RESPONSE_VERIFIERS.items():
        assert verifier([HttpExchange("POST", "/x", 200, fine[schema])]) == (True, "")
        verified, error = verifier([HttpExchange("POST", "/x", 200, refused[schema])])
        assert verified and error.startswith("refused with"), (schema, error)
        assert verifier([]) == (False, "")  # nothing was read: unverified, not failed
        assert "not JSON" in verifier([HttpExchange("POST", "/x", 200, b"<html>")])[1]


def test_sink_on_a_busy_port_is_an_os_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"127.0.0.1:{busy}"):
            MailSink(tmp_path, port=busy).start()


def test_sink_can_stop_and_start_again(tmp_path, port):
    sink = MailSink(tmp_path / "mailbox", port=port)
    sink.start()
    sink.stop()
    sink.stop()  # idempotent
    assert not sink.running
    with sink:
        assert deliver([sink_url(port, "police-1")], "再次启动", "正文").ok
    assert [m.subject for m in read_mailbox(tmp_path / "mailbox")] == ["再次启动"]


def test_read_mailbox_decodes_base64_and_rfc2047(tmp_path):
    box = tmp_path / "mailbox"
    box.mkdir()
    subject = "=?utf-8?b?" + base64.b64encode("【督办】案件 FJ-350304-2026-0042".encode()).decode() + "?="
    body = base64.b64encode("请立即办理。\n截止 2026-10-10 23:59".encode("utf-8")).decode()
    (box / "20261010T000000.000000Z-1-000001.eml").write_bytes(
        (f"To: =?utf-8?b?{base64.b64encode('民政局'.encode()).decode()}?= <civil_affairs-350304@careflow.local>\r\n"
         f"Subject: {subject}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
         f"Content-Transfer-Encoding: base64\r\n\r\n{body}\r\n").encode("ascii"))
    (box / "notes.txt").write_text("not a message")

    [message] = read_mailbox(box)
    assert message.subject == "【督办】案件 FJ-350304-2026-0042"
    assert message.to == "民政局 <civil_affairs-350304@careflow.local>"
    assert message.body.splitlines() == ["请立即办理。", "截止 2026-10-10 23:59"]


def test_read_mailbox_of_a_missing_directory_is_empty(tmp_path):
    assert read_mailbox(tmp_path / "nowhere") == []


def test_a_response_verifier_can_turn_a_sent_message_into_a_failure(tmp_path, port, monkeypatch):
    from notifications import deliver as deliver_module

    monkeypatch.setitem(deliver_module.RESPONSE_VERIFIERS, "mailto",
                        lambda exchanges: (True, f"errcode 310000 keywords not in content ({sink_url(port, 'x')})"))
    with MailSink(tmp_path / "mailbox", port=port):
        result = deliver([sink_url(port, "police-350304")], "主题", "正文")
    [url_result] = result.per_url
    assert not result.ok and not url_result.ok and url_result.verified
    assert url_result.error.startswith("errcode 310000")


def test_an_unverifiable_schema_is_sent_but_marked_unverified(tmp_path, port, monkeypatch):
    from notifications import deliver as deliver_module

    monkeypatch.setitem(deliver_module.RESPONSE_VERIFIERS, "mailto", deliver_module.RESPONSE_VERIFIERS["dingtalk"])
    with MailSink(tmp_path / "mailbox", port=port):
        result = deliver([sink_url(port, "police-350304")], "主题", "正文")
    assert result.ok and result.per_url[0].verified is False and result.per_url[0].error == ""
