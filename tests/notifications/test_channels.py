"""The channel file: parsing, {unit} substitution, errors that name the place but never a secret."""
from __future__ import annotations

import logging
import pickle
import re
import textwrap

import pytest

from notifications.channel_urls import url_problem
from notifications.channels import ChannelConfigError, load_channels
from notifications.default_channels import DEFAULT_MAILTO, write_default_channels
from notifications.redaction import redact_url, secrets_hidden_in_logs

SINK = "mailto://careflow.local:8025?smtp=127.0.0.1&mode=insecure&from=careflow@careflow.local&to={unit}@careflow.local"


def write(tmp_path, text: str):
    path = tmp_path / "channels.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_units_get_their_own_urls_and_others_the_default_with_unit_substituted(tmp_path):
    path = write(tmp_path, f"""\
        default:
          - {SINK}
        units:
          police-350302:
            - mailtos://duty:pw@smtp.example.gov.cn?to=duty@example.gov.cn
            - json://hooks.example.gov.cn/careflow/{{unit}}
          "350304":
            - {SINK}
        """)
    config = load_channels(path)

    assert config.urls_for("police-350302") == [
        "mailtos://duty:pw@smtp.example.gov.cn?to=duty@example.gov.cn",
        "json://hooks.example.gov.cn/careflow/police-350302",
    ]
    assert config.urls_for("civil_affairs-350304") == [SINK.replace("{unit}", "civil_affairs-350304")]
    assert config.urls_for("caseworker.linwei") == [SINK.replace("{unit}", "caseworker.linwei")]
    assert config.urls_for("350304") == [SINK.replace("{unit}", "350304")]  # a numeric key is a string
    assert config.path == path


def test_without_default_an_unlisted_unit_has_no_urls(tmp_path):
    config = load_channels(write(tmp_path, f"units:\n  police-350302:\n    - {SINK}\n"))
    assert config.urls_for("education-350302") == []
    assert load_channels(write(tmp_path, "# nothing configured yet\n")).urls_for("x") == []


@pytest.mark.parametrize("text, expected", [
    ("default: [\n  - oops", r"channels\.yaml, line \d+, column \d+: not valid YAML"),
    ("- just\n- a list\n", r"line 1, column 1: expected a mapping"),
    (f"default:\n  - {SINK}\nunit:\n  police-1:\n    - {SINK}\n", r"line 3, column 1: unknown key 'unit'"),
    ("units:\n  - police-1\n", r"line 2, column 3: 'units' must map unit codes"),
    (f"units:\n  police-1: {SINK}\n", r"line 2, column 13: unit 'police-1': expected a list of apprise URLs"),
    ("units:\n  police-1: []\n", r"line 2, column 13: unit 'police-1': the list of URLs is empty"),
    (f"units:\n  police-1:\n    - {SINK}\n  police-1:\n    - {SINK}\n", r"line 4, column 3: unit 'police-1' appears twice"),
    ("units:\n  police-1:\n    - {a: b}\n", r"line 3, column 7: unit 'police-1': each entry must be a URL string"),
    ("default:\n  - mailto://x.cn?to={unitt}@x.cn\n", r"line 2, column 5: default: unknown placeholder \{unitt\}"),
    ("units:\n  police-1:\n    - just-a-word\n", r"line 3, column 7: unit 'police-1': invalid URL <not a URL>"),
])
def test_malformed_files_name_file_unit_and_position(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ChannelConfigError) as caught:
        load_channels(path)
    assert re.search(expected, caught.value.text("en"))
    assert str(path) in str(caught.value) and str(path) in caught.value.text("en")
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("text, chinese, english", [
    ("units:\n  police-1: mailto://a.cn\n", "第 2 行第 13 列：单位 'police-1'：应为 apprise URL 列表，或角色（officer、"
     "supervisor、manager）到 URL 列表的映射，而不是 'mailto://a.cn'", "line 2, column 13: unit 'police-1': expected "
     "a list of apprise URLs or a mapping of roles (officer, supervisor, manager) to lists, not 'mailto://a.cn'"),
    ("units:\n  police-1:\n    supervisor: [just-a-word]\n", "第 3 行第 18 列：单位 'police-1' 的角色 'supervisor'："
     "URL <not a URL> 不可用：不是 URL（应为 schema://…）", "line 3, column 18: unit 'police-1' role 'supervisor': "
     "invalid URL <not a URL>: not a URL (expected schema://...)"),
    ("events:\n  task_vanished: [supervisor]\n", "第 2 行第 3 列：events：没有事件 'task_vanished'（可用：task_requested、",
     "line 2, column 3: events: unknown event 'task_vanished' (expected one of task_requested, "),
    ("endpoints:\n  dingtalk: http://oapi.example.cn\n", "第 2 行第 13 列：endpoints 中的 dingtalk：接口地址 "
     "http://oapi.example.cn 不可用：http:// 只能用于本机接收端（127.0.0.1），请用 https://", "line 2, column 13: "
     "endpoints: dingtalk: http://oapi.example.cn: plain http:// is allowed for a loopback receiver only"),
    ("limits:\n  dingtalk: 20 per minute\n", "第 2 行第 13 列：limits 中的 dingtalk：发送频率 '20 per minute' 格式不对",
     "line 2, column 13: limits: dingtalk: rate '20 per minute': expected '<count>/<period>'"),
    ("digest:\n  more_than: many\n", "第 2 行第 14 列：digest 中的 more_than：'many' 不是整数",
     "line 2, column 14: digest: more_than: 'many' is not a whole number"),
    ("digest:\n  daily_at: '8:30'\n", "第 2 行第 13 列：digest 中的 daily_at：应为本地时间 'HH:MM'，而不是 '8:30'",
     "line 2, column 13: digest: daily_at: expected local time 'HH:MM', not '8:30'"),
    ("routing: {}\n", "第 1 行第 1 列：没有 'routing' 这一项（应有 'default' 和/或 'units'，另可有 'events'、'endpoints'、"
     "'limits'、'digest'）", "line 1, column 1: unknown key 'routing' (expected 'default' and/or 'units', and "
     "optionally 'events', 'endpoints', 'limits', 'digest')"),
])
def test_a_malformed_file_is_worded_in_chinese_and_in_english_naming_the_value(tmp_path, text, chinese, english):
    """The channel file's errors were English only (「unit 'police-1': expected a list of apprise URLs」)."""
    path = write(tmp_path, text)
    with pytest.raises(ChannelConfigError) as caught:
        load_channels(path)
    assert str(caught.value).startswith(f"{path} {chinese}")
    assert caught.value.text("zh") == str(caught.value)
    assert caught.value.text("en").startswith(f"{path}, {english}")
    restored = pickle.loads(pickle.dumps(caught.value))  # as a dispatcher process hands it to its parent
    assert (str(restored), restored.text("en")) == (str(caught.value), caught.value.text("en"))


def test_missing_file_is_a_channel_config_error(tmp_path):
    with pytest.raises(ChannelConfigError) as caught:
        load_channels(tmp_path / "absent.yaml")
    assert str(caught.value) == f"{tmp_path / 'absent.yaml'}：无法读取通道文件：文件不存在"
    assert caught.value.text("en") == f"{tmp_path / 'absent.yaml'}: cannot read the channel file: it does not exist"


@pytest.mark.parametrize("url, secrets", [
    ("wecom://ww0a1b2c3d4e5f6a7b/S3cr3tCorpSecretValue0001/1000002", ["S3cr3tCorpSecretValue0001", "ww0a1b2c3d4e5f6a7b"]),
    ("foo://admin:Pa55w0rdXYZ@hooks.example.cn/x?token=T0kenValue987", ["Pa55w0rdXYZ", "T0kenValue987"]),
    ("dingtalk://SignSecret42@bad!token0000111122223333/13800138000", ["SignSecret42", "bad!token0000111122223333",
                                                                       "13800138000"]),
    ("mailtos://duty:Pa55w0rdXYZ@?smtp=smtp.example.gov.cn", ["Pa55w0rdXYZ"]),
])
def test_a_url_apprise_cannot_use_is_an_error_naming_the_unit_without_the_secret(tmp_path, url, secrets, caplog):
    path = write(tmp_path, f"units:\n  police-350302:\n    - {url}\n")
    with caplog.at_level(logging.DEBUG, logger="apprise"), pytest.raises(ChannelConfigError) as caught:
        load_channels(path)
    message = caught.value.text("en")
    assert "unit 'police-350302'" in message and "line 3, column 7" in message and "invalid URL" in message
    for secret in secrets:
        assert secret not in message and secret not in str(caught.value)
        assert secret not in caplog.text  # apprise's own log lines are redacted too
    assert redact_url(url) in message and redact_url(url) in str(caught.value)


def test_wecom_is_explained(tmp_path):
    path = write(tmp_path, "units:\n  civil_affairs-350302:\n    - wecom://corp/secret/1000002\n")
    with pytest.raises(ChannelConfigError, match="wecombot://"):
        load_channels(path)


@pytest.mark.parametrize("url, expected", [
    ("mailtos://duty:Pa55w0rd@smtp.example.gov.cn:465?to=duty@example.gov.cn&from=careflow@example.gov.cn",
     "mailtos://duty:***@smtp.example.gov.cn:465?to=duty@example.gov.cn&from=careflow@example.gov.cn"),
    ("dingtalk://SignSecret42@0123456789abcdef0123456789abcdef/13800138000",
     "dingtalk://***/***"),
    ("wecombot://693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa", "wecombot://***"),
    ("wechat://ww0a1b2c3d4e5f6a7b/CorpSecret/1000002/@all", "wechat://***/***/***/***"),
    ("feishu://b5c3a6f1-2d4e-4f00-9c1a-0a1b2c3d4e5f/", "feishu://***/"),
    ("json://hooks.example.cn/api?token=abc&access_token=def&apikey=ghi&password=jkl&secret=mno&format=text",
     "json://hooks.example.cn/api?token=***&access_token=***&apikey=***&password=***&secret=***&format=text"),
    ("json://hooks.example.cn/v1/AbCdEf0123456789XyZ/send", "json://hooks.example.cn/v1/***/send"),
    ("tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-1001234", "tgram://123456789:***/-1001234"),
    ("mailto://careflow.local:8025?smtp=127.0.0.1&to=police-350302@careflow.local",
     "mailto://careflow.local:8025?smtp=127.0.0.1&to=police-350302@careflow.local"),
    ("json://hooks.example.cn/x#TheFragment", "json://hooks.example.cn/x#***"),
    ("no scheme here Pa55w0rd", "<not a URL>"),
])
def test_redact_url(url, expected):
    assert redact_url(url) == expected


def test_default_file_is_written_once_and_points_at_the_sink(tmp_path):
    path = tmp_path / "home" / "channels.yaml"
    assert write_default_channels(path, 8125) is True
    assert write_default_channels(path, 9999) is False  # an existing file is never replaced
    config = load_channels(path)
    assert config.units == {}
    assert config.urls_for("police-350302") == [
        "mailto://careflow.local:8125?smtp=127.0.0.1&mode=insecure&from=careflow@careflow.local"
        "&to=police-350302@careflow.local"
    ]
    assert DEFAULT_MAILTO.format(port=8125) in path.read_text(encoding="utf-8")
    assert [p.name for p in path.parent.iterdir()] == ["channels.yaml"]  # no temporary file left


def test_existing_file_is_left_alone(tmp_path):
    path = write(tmp_path, "units: {}\n")
    assert write_default_channels(path, 8025) is False
    assert path.read_text(encoding="utf-8") == "units: {}\n"


def test_url_problem():
    assert url_problem(SINK.replace("{unit}", "police-1")) is None
    assert "not a URL" in url_problem("hello")
    assert "cannot parse" in url_problem("foo://bar")


def test_secrets_a_plugin_logs_outside_a_url_are_hidden(caplog):
    url = "dingtalk://SignSecret42@0123456789abcdef0123456789abcdef/13800138000"
    with caplog.at_level(logging.WARNING, logger="apprise"), secrets_hidden_in_logs(url):
        logging.getLogger("apprise").warning("An invalid DingTalk API Token (%s) was specified.",
                                             "0123456789abcdef0123456789abcdef")
        logging.getLogger("apprise").warning("Sending to %s for %s", url, "13800138000")
    logging.getLogger("apprise").warning("outside: %s", "SignSecret42-is-not-known-here")
    assert "0123456789abcdef" not in caplog.text and "13800138000" not in caplog.text
    assert "An invalid DingTalk API Token (***) was specified." in caplog.text
    assert "Sending to dingtalk://***/*** for ***" in caplog.text
