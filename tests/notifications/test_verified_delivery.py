"""Verified delivery against a real local HTTP receiver that answers like DingTalk, WeCom and Feishu.

The apprise plugins build and post the real payloads; only their hard-coded API host is re-pointed to the
receiver on 127.0.0.1 (``endpoints:``). An error code in an HTTP 200 answer, a 500, a non-JSON page and no
answer in time are each a failure; apprise alone counts the first as sent.
"""
from __future__ import annotations

import logging
import time

import apprise
import pytest

from notifications.deliver import deliver
from notifications.receiver import HttpReceiver
from notifications.verify import OFFICIAL_HOSTS, capturing, endpoint_refusal
from tests.notifications.conftest import token


def url_for(platform: str, secret: str, query: str = "") -> str:
    """An apprise URL of ``platform`` whose token (corp id for WeCom apps) is ``secret``."""
    q = f"?{query}" if query else ""
    return {
        "dingtalk": f"dingtalk://{secret}/{q}",
        "wecombot": f"wecombot://{secret}{q}",
        "wechat": f"wechat://{secret}:CorpSecretValue0001@1000002/@all{q}",
        "feishu": f"feishu://{secret}/{q}",
        "lark": f"lark://{secret}/{q}",
    }[platform]


PLATFORMS = ("dingtalk", "wecombot", "wechat", "feishu", "lark")


def test_apprise_alone_counts_an_error_code_in_a_200_answer_as_sent(receiver):
    """The trap of DOMAIN.md §7, shown on the real plugins: the receiver refuses, apprise says sent."""
    for platform in ("dingtalk", "wecombot", "feishu"):
        secret = token(platform)
        receiver.script(secret, "refuse")
        instance = apprise.Apprise()
        assert instance.add(url_for(platform, secret))
        with capturing(platform, receiver.endpoints()) as capture:
            assert bool(instance.notify(body="正文", title="主题")) is True
        assert capture.exchanges[-1].status == 200 and b"code" in capture.exchanges[-1].body
        assert [m.mode for m in receiver.received if m.token == secret] == ["refuse"]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_an_accepted_message_is_verified(receiver, platform):
    secret = token(platform)
    result = deliver([url_for(platform, secret)], "【新任务】FJ-350304-2026-0042", "请签收。",
                     endpoints=receiver.endpoints())
    [item] = result.per_url
    assert result.ok and item.ok and item.verified and item.error == ""
    [message] = receiver.messages(token=secret)
    assert "FJ-350304-2026-0042" in message.text and "请签收。" in message.text


#: What the stored error starts with. apprise's own WeCom app plugin already reads ``errcode`` and fails
#: first, with its own words; careflow's verifier catches the other platforms.
EXPECTED_ERRORS = {
    "refuse": {"*": "refused with", "wechat": "Failed to send WeChat (WeCom) notification: errcode=60020"},
    "error": {"*": "HTTP 500", "wechat": "HTTP 500"},
    "html": {"*": "HTTP 200 but the answer is not JSON",
             "wechat": "Failed to send WeChat (WeCom) notification: errcode=-1"},
}


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("mode", ["refuse", "error", "html"])
def test_a_refusal_is_a_failure_with_the_reason_and_without_the_token(receiver, platform, mode, caplog):
    secret = token(platform)
    receiver.script(secret, mode)
    with caplog.at_level(logging.DEBUG):
        result = deliver([url_for(platform, secret)], "主题", "正文", endpoints=receiver.endpoints())
    [item] = result.per_url
    assert not result.ok and not item.ok and not item.uncertain
    expected = EXPECTED_ERRORS[mode]
    assert item.error.startswith(expected.get(platform, expected["*"])), item.error
    assert secret not in item.error and secret not in item.url_redacted
    assert secret not in caplog.text  # apprise's and urllib3's debug lines are redacted too
    assert [m.mode for m in receiver.messages(token=secret, accepted_only=False)] == [mode]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_no_answer_in_time_is_a_failure_marked_uncertain(platform):
    with HttpReceiver(slow_seconds=1.5) as slow:
        secret = token(platform)
        slow.script(secret, "slow")
        started = time.monotonic()
        result = deliver([url_for(platform, secret, "rto=0.4")], "主题", "正文", endpoints=slow.endpoints())
        assert time.monotonic() - started < 1.4  # the client gave up; it did not wait for the answer
    [item] = result.per_url
    assert not item.ok and item.uncertain
    assert "no answer in time" in item.error and "duplicate is possible" in item.error
    assert secret not in item.error


def test_dingtalk_error_codes_are_explained(receiver):
    secret = token("ding")
    receiver.script(secret, "refuse")
    [item] = deliver([url_for("dingtalk", secret)], "主题", "正文", endpoints=receiver.endpoints()).per_url
    assert item.error == ("refused with errcode 310000: keywords not in content: refused by the robot's security "
                          "settings (keyword, signature or IP allow-list)")


def test_a_dingtalk_robot_muted_for_sending_too_fast_is_a_failure():
    with HttpReceiver(enforce_limits=True) as strict:
        secret = token("ding")
        results = [deliver([url_for("dingtalk", secret)], "主题", f"第{i}条", endpoints=strict.endpoints(),
                           limits={"dingtalk": None}).per_url[0] for i in range(21)]
    assert all(r.ok for r in results[:20])
    assert not results[20].ok and "errcode 130101" in results[20].error and "20 messages a minute" in results[20].error


def test_without_an_endpoint_nothing_is_re_pointed():
    with capturing("dingtalk", {}) as capture:
        assert capture.rewrites == {}
    with capturing("mailto", {"mailto": "http://127.0.0.1:1"}) as capture:
        assert capture.rewrites == {}


def test_the_official_hosts_are_those_of_the_installed_plugins():
    """If apprise moves a platform's host, re-pointing would silently stop working: catch it here."""
    from apprise.plugins import dingtalk, feishu, lark, wechat, wecombot

    assert dingtalk.NotifyDingTalk.notify_url.startswith(OFFICIAL_HOSTS["dingtalk"] + "/")
    assert wecombot.NotifyWeComBot.notify_url.startswith(OFFICIAL_HOSTS["wecombot"] + "/")
    assert wechat.NotifyWeChat.notify_url.startswith(OFFICIAL_HOSTS["wechat"] + "/")
    assert wechat.NotifyWeChat.token_url.startswith(OFFICIAL_HOSTS["wechat"] + "/")
    assert feishu.NotifyFeishu.notify_url.startswith(OFFICIAL_HOSTS["feishu"] + "/")
    assert lark.NotifyLark.notify_url.startswith(OFFICIAL_HOSTS["lark"] + "/")


@pytest.mark.parametrize("schema, endpoint, ok", [
    ("dingtalk", "http://127.0.0.1:8931", True),
    ("dingtalk", "http://localhost:8931/prefix", True),
    ("dingtalk", "https://oapi.dingtalk.example.gov.cn", True),
    ("dingtalk", "http://oapi.dingtalk.example.gov.cn", False),
    ("dingtalk", "https://user:pw@oapi.example.cn", False),
    ("dingtalk", "https://oapi.example.cn/?token=x", False),
    ("json", "https://hooks.example.cn", False),
])
def test_endpoint_checks(schema, endpoint, ok):
    assert (endpoint_refusal(schema, endpoint) is None) is ok


def test_apprises_fixed_wait_between_sends_is_off():
    """The WeCom app plugin throttles before its token request and again before the send: 5.5 s by default."""
    with HttpReceiver() as fast:
        url = url_for("wechat", token("ww"))
        started = time.monotonic()
        for _ in range(3):
            assert deliver([url], "主题", "正文", endpoints=fast.endpoints()).ok
        assert time.monotonic() - started < 3.0
        assert len(fast.messages(platform="wechat")) == 3
