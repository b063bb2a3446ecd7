"""Routing by role and event in the channel file, backward compatible with the plain default/units shape."""
from __future__ import annotations

import logging
import re
import textwrap
from datetime import timedelta

import pytest

from notifications.channels import ChannelConfigError, load_channels, load_channels_cached
from notifications.limits import PLATFORM_LIMITS, parse_rate
from notifications.routing import channel_key, split_channel_key

SINK = "mailto://careflow.local:8025?smtp=127.0.0.1&mode=insecure&from=careflow@careflow.local&to={unit}@careflow.local"
OFFICER_BOT = "dingtalk://0fficerT0ken00001111222233334444/"
SUPERVISOR_BOT = "dingtalk://SupervisorT0ken0000111122223333/"
WECOM_BOT = "wecombot://693a91f6-7b2c-4bc4-97a0-0ec2b1fa5aaa"


def write(tmp_path, text: str):
    path = tmp_path / "channels.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.mark.parametrize("key, expected", [
    ("police-350302", ("police-350302", "officer")),
    ("police-350302.supervisor", ("police-350302", "supervisor")),
    ("civil_affairs-350302.manager", ("civil_affairs-350302", "manager")),
    ("police-350302.officer", ("police-350302", "officer")),
    ("caseworker.linwei", ("caseworker.linwei", "officer")),
    ("caseworker.test.caseworker", ("caseworker.test.caseworker", "officer")),
])
def test_channel_keys_name_a_unit_and_a_role(key, expected):
    assert split_channel_key(key) == expected
    assert channel_key(*expected) == (key if not key.endswith(".officer") else expected[0])


ROLES_FILE = f"""\
    default:
      - {SINK}
    units:
      police-350302:
        officer:
          - {OFFICER_BOT}
        supervisor:
          - {SUPERVISOR_BOT}
          - {SINK}
      police-350303:
        - {WECOM_BOT}
      civil_affairs-350302:
        manager:
          - json://hooks.example.gov.cn/careflow/{{unit}}
    events:
      task_requested: [supervisor]
      task_escalated: [duty-desk]
      daily_digest: [supervisor, manager]
    """


def test_roles_resolve_through_the_units_role_entry(tmp_path):
    config = load_channels(write(tmp_path, ROLES_FILE))
    # The officer of a unit with roles, and a role suffix resolving through the unit's role entry.
    assert config.urls_for("police-350302") == [OFFICER_BOT]
    assert config.urls_for("police-350302.supervisor") == [
        SUPERVISOR_BOT, SINK.replace("{unit}", "police-350302.supervisor")]
    # A plain list is the officer; a role the unit does not list falls back to its officer channel.
    assert config.urls_for("police-350303") == [WECOM_BOT]
    assert config.urls_for("police-350303.supervisor") == [WECOM_BOT]
    # A unit that lists only a manager: its officer falls back to the default, {unit} = channel key reached.
    assert config.urls_for("civil_affairs-350302.manager") == [
        "json://hooks.example.gov.cn/careflow/civil_affairs-350302.manager"]
    assert config.urls_for("civil_affairs-350302") == [SINK.replace("{unit}", "civil_affairs-350302")]
    # Units and caseworkers without an entry use the default, as before.
    assert config.urls_for("education-350302.supervisor") == [SINK.replace("{unit}", "education-350302.supervisor")]
    assert config.urls_for("caseworker.linwei") == [SINK.replace("{unit}", "caseworker.linwei")]


def test_events_add_roles_and_channel_keys_each_url_once(tmp_path):
    config = load_channels(write(tmp_path, ROLES_FILE))
    # A new task goes to the officers and, by event routing, to the supervisor channels too.
    assert config.urls_for("police-350302", "task_requested") == [
        OFFICER_BOT, SUPERVISOR_BOT, SINK.replace("{unit}", "police-350302.supervisor")]
    # Addressed to the supervisor already: the same URLs are not repeated.
    assert config.urls_for("police-350302.supervisor", "task_requested") == [
        SUPERVISOR_BOT, SINK.replace("{unit}", "police-350302.supervisor")]
    # An event without routing goes to the addressed role only.
    assert config.urls_for("police-350302", "task_reminder") == [OFFICER_BOT]
    # A channel key in the event routing is resolved on its own (here: the default).
    assert config.urls_for("police-350303", "task_escalated") == [WECOM_BOT, SINK.replace("{unit}", "duty-desk")]
    # A unit whose roles all fall back to one channel gets it once.
    assert config.urls_for("police-350303", "daily_digest") == [WECOM_BOT]


def test_the_old_shape_still_loads_and_routes_as_before(tmp_path):
    config = load_channels(write(tmp_path, f"""\
        default:
          - {SINK}
        units:
          police-350302:
            - {OFFICER_BOT}
        """))
    assert config.default == {"officer": (SINK,)}
    assert config.units == {"police-350302": {"officer": (OFFICER_BOT,)}}
    assert config.urls_for("police-350302") == [OFFICER_BOT]
    assert config.urls_for("police-350302.supervisor") == [OFFICER_BOT]
    assert config.urls_for("police-350304.supervisor") == [SINK.replace("{unit}", "police-350304.supervisor")]
    assert config.events == {} and config.endpoints == {} and config.limits == {}
    assert config.digest.enabled and config.digest.more_than == 20


def test_a_default_with_roles(tmp_path):
    config = load_channels(write(tmp_path, f"""\
        default:
          officer: ["{SINK}"]
          supervisor: ["{SINK.replace('{unit}', 'heads')}"]
        """))
    assert config.urls_for("police-350302") == [SINK.replace("{unit}", "police-350302")]
    assert config.urls_for("police-350302.supervisor") == [SINK.replace("{unit}", "heads")]


def test_endpoints_limits_and_digest_sections(tmp_path):
    config = load_channels(write(tmp_path, f"""\
        default: ["{SINK}"]
        endpoints:
          dingtalk: http://127.0.0.1:8931/
          feishu: https://open.feishu.example.gov.cn
        limits:
          dingtalk: 10/min
          mailto: {{rate: 120/min, burst: 30}}
          wecombot: none
        digest:
          events: [task_requested, task_reminder]
          more_than: 5
          within_minutes: 3
          max_items: 20
          daily_at: "08:30"
        """))
    assert config.endpoints == {"dingtalk": "http://127.0.0.1:8931", "feishu": "https://open.feishu.example.gov.cn"}
    assert config.limits == {"dingtalk": parse_rate("10/min"), "mailto": parse_rate("120/min", burst=30),
                             "wecombot": None}
    digest = config.digest
    assert (digest.events, digest.more_than, digest.within, digest.max_items, digest.daily_at) == (
        ("task_requested", "task_reminder"), 5, timedelta(minutes=3), 20, "08:30")
    assert load_channels(write(tmp_path, f"default: ['{SINK}']\ndigest: off\n")).digest.enabled is False


@pytest.mark.parametrize("text, expected", [
    (f"units:\n  police-1:\n    chief: ['{SINK}']\n", r"line 3, column 5: unit 'police-1': unknown role 'chief'"),
    (f"units:\n  police-1:\n    officer: ['{SINK}']\n    officer: ['{SINK}']\n", r"role 'officer' appears twice"),
    ("units:\n  police-1:\n    supervisor: []\n", r"unit 'police-1' role 'supervisor': the list of URLs is empty"),
    ("units:\n  police-1: {}\n", r"unit 'police-1': no roles listed"),
    ("events:\n  task_vanished: [supervisor]\n", r"line 2, column 3: events: unknown event 'task_vanished'"),
    ("events:\n  task_requested: supervisor\n", r"events: 'task_requested': expected a list of roles"),
    ("endpoints:\n  dingtalk: http://oapi.example.cn\n", r"endpoints: dingtalk: .*loopback receiver only"),
    ("endpoints:\n  mailto: https://x.example.cn\n", r"endpoints: mailto: .*only dingtalk"),
    ("limits:\n  dingtalk: 20 per minute\n", r"line 2, column 13: limits: dingtalk: rate '20 per minute'"),
    ("limits:\n  dingtalk: {rate: 20/min, burst: 40}\n", r"burst 40 must be between 1 and 20"),
    ("digest:\n  more_than: many\n", r"digest: more_than"),
    ("digest:\n  daily_at: '8:30'\n", r"digest: daily_at: expected local time 'HH:MM'"),
    ("digest:\n  window: 5\n", r"digest: window: unknown setting"),
    ("digest:\n  events: [task_vanished]\n", r"digest: events: expected a list of events"),
    (f"default: ['{SINK}']\nrouting: {{}}\n", r"unknown key 'routing'"),
])
def test_malformed_new_sections_name_the_place(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ChannelConfigError) as caught:
        load_channels(path)
    assert re.search(expected, caught.value.text("en"))
    assert str(path) in str(caught.value)


def test_a_bad_url_under_a_role_names_unit_and_role_but_not_the_secret(tmp_path, caplog):
    path = write(tmp_path, "units:\n  police-350302:\n    supervisor:\n"
                           "      - dingtalk://SignSecret42@bad!token0000111122223333/13800138000\n")
    with caplog.at_level(logging.DEBUG, logger="apprise"), pytest.raises(ChannelConfigError) as caught:
        load_channels(path)
    message = caught.value.text("en")
    assert "unit 'police-350302' role 'supervisor'" in message and "line 4, column 9" in message
    for secret in ("SignSecret42", "bad!token0000111122223333", "13800138000"):
        assert secret not in message and secret not in str(caught.value) and secret not in caplog.text


def test_the_cached_loader_rereads_a_changed_file(tmp_path):
    path = write(tmp_path, f"default: ['{SINK}']\n")
    first = load_channels_cached(path)
    assert load_channels_cached(path) is first
    write(tmp_path, f"default: ['{SINK}']\nunits:\n  police-1: ['{OFFICER_BOT}']\n")
    assert load_channels_cached(path).urls_for("police-1") == [OFFICER_BOT]


def test_platform_limits_match_the_documented_ones():
    assert PLATFORM_LIMITS["dingtalk"].count == 20 and PLATFORM_LIMITS["dingtalk"].period == 60
    assert PLATFORM_LIMITS["wecombot"].count == 20 and PLATFORM_LIMITS["wecombot"].period == 60
    assert PLATFORM_LIMITS["feishu"].count == 100 and PLATFORM_LIMITS["feishu"].burst == 5
    assert "mailto" not in PLATFORM_LIMITS and "json" not in PLATFORM_LIMITS
