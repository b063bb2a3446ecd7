"""Rendering every event in zh and en, and the personal-data check that guards every message."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import get_settings
from notifications.render import (
    ALL_EVENTS, EVENTS, LANGUAGES, TEMPLATE_DIR, MessageContext, PersonalDataLeak, RenderedMessage,
    assert_no_personal_data, render_message,
)
from tests.notifications.support import CHILD_ID, CHILD_NAME

#: Events about an open task: they must say how to answer.
TASK_EVENTS = ("task_requested", "task_reminder", "task_escalated")
PROVISIONAL = {"zh": "（暂定）", "en": "(provisional)"}


def _context(base: MessageContext, event: str) -> MessageContext:
    updates: dict = {"event": event}
    if event == "task_escalated":
        updates.update(escalation_level=2, outcome_summary="逾期未签收")
    if event == "task_answered":
        updates.update(recipient_role="caseworker", outcome_summary="已核查：祖父母实际监护，已通报民政")
    if event == "pathway_closed":
        updates.update(recipient_role="caseworker", outcome_summary="监护已落实，路径结束")
    if event == "task_rejected":
        updates.update(recipient_role="caseworker", rejected_by="民警 陈强", rejection_kind="need_more_information",
                       rejection_reason="请提供监护人现住址和联系电话")
    return base.model_copy(update=updates)


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("event", EVENTS)
def test_every_event_renders_reference_step_deadline_and_link(context, event, lang):
    ctx = _context(context, event)
    message = render_message(ctx, lang)

    assert isinstance(message, RenderedMessage)
    assert "\n" not in message.subject and message.subject == message.subject.strip()
    assert ctx.case_reference in message.subject
    assert ctx.case_reference in message.body
    assert ctx.due_at_local in message.body
    assert PROVISIONAL[lang] in message.body
    assert ctx.link in message.body
    assert ctx.task_ref in message.body
    if event == "pathway_closed":
        assert ctx.pathway_title in message.subject
        assert ctx.step_title in message.body
    else:
        assert ctx.step_title in message.subject
        assert ctx.step_title in message.body
        assert ctx.agency_unit_name in message.body
        assert ctx.deadline_text in message.body
    if ctx.outcome_summary:
        assert ctx.outcome_summary in message.body
    # The real render carries no personal data.
    for text in message:
        assert_no_personal_data(text, child_name=CHILD_NAME, resident_id=CHILD_ID)


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("event", TASK_EVENTS)
def test_task_events_say_what_to_do_and_how_to_answer(context, event, lang):
    ctx = _context(context, event)
    message = render_message(ctx, lang)

    assert ctx.due_at_local in message.subject
    assert PROVISIONAL[lang] in message.subject
    assert ctx.instructions in message.body
    for command in ctx.answer_commands.values():
        assert command in message.body
    for field in ctx.outcome_fields:
        assert field.label in message.body and field.name in message.body


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_final_deadline_is_not_marked_provisional(context, lang):
    message = render_message(context.model_copy(update={"provisional": False}), lang)
    assert "暂定" not in message.subject + message.body
    assert "provisional" not in message.subject + message.body


def test_chinese_requested_message_reads_naturally(context):
    message = render_message(context, "zh")
    assert message.subject == "【新任务】FJ-350304-2026-0042 公安机关核查监护情况并报告｜截止 2026-10-10 23:59（暂定）"
    assert message.body.startswith("莆田市公安局荔城分局：\n")
    assert "截止时间：2026-10-10 23:59" in message.body
    assert "签收：careflow task ack a1b2c3d4" in message.body
    assert "办结时请填写：" in message.body
    assert "\n\n\n" not in message.body and message.body.endswith("\n")


ACK_LINE = {"zh": "签收时限：2026-09-30 12:00 前签收（北京时间）", "en": "Acknowledge by: 2026-09-30 12:00 (Beijing time)"}


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("event", ("task_requested", "task_reminder"))
def test_acknowledgement_deadline_is_shown_when_the_step_has_one(context, event, lang, monkeypatch):
    monkeypatch.delenv("CAREFLOW_TIMEZONE", raising=False)
    get_settings.cache_clear()
    try:
        ctx = _context(context, event).model_copy(update={"ack_due_at_local": "2026-09-30 12:00"})
        message = render_message(ctx, lang)
    finally:
        get_settings.cache_clear()
    assert ACK_LINE[lang] in message.body.splitlines()
    # The completion deadline is still there, and the acknowledgement deadline comes first.
    assert message.body.index(ACK_LINE[lang]) < message.body.index(ctx.due_at_local)
    assert "\n\n\n" not in message.body


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("event", EVENTS)
def test_no_acknowledgement_line_without_an_acknowledgement_deadline(context, event, lang):
    message = render_message(_context(context, event).model_copy(update={"ack_due_at_local": ""}), lang)
    assert "签收时限" not in message.body and "Acknowledge by" not in message.body


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("event", ("task_escalated", "task_answered", "pathway_closed"))
def test_acknowledgement_deadline_only_appears_in_requests_and_reminders(context, event, lang):
    ctx = _context(context, event).model_copy(update={"ack_due_at_local": "2026-09-30 12:00"})
    message = render_message(ctx, lang)
    assert "签收时限" not in message.body and "Acknowledge by" not in message.body


def test_the_acknowledgement_deadline_is_optional_in_the_context(context):
    data = context.model_dump()
    data.pop("ack_due_at_local")
    assert MessageContext(**data).ack_due_at_local == ""


def test_escalation_to_the_manager_gives_commands_for_reference_only(context):
    ctx = context.model_copy(update={"event": "task_escalated", "recipient_role": "manager",
                                     "escalation_level": 1, "outcome_summary": "退回原因：非本辖区"})
    zh = render_message(ctx, "zh")
    assert "【督办·第1级】" in zh.subject and "莆田市公安局荔城分局" in zh.subject
    assert zh.body.startswith("县（市、区）民政局")
    assert "督办原因：退回原因：非本辖区" in zh.body
    assert "承办单位答复方式（供参考）" in zh.body
    en = render_message(ctx, "en")
    assert en.subject.startswith("[Escalated L1]")
    assert "for reference" in en.body


def test_empty_answer_commands_and_fields_are_left_out(context):
    ctx = context.model_copy(update={"answer_commands": {}, "outcome_fields": []})
    body = render_message(ctx, "zh").body
    assert "如何答复" not in body and "办结时请填写" not in body


def test_long_outcome_is_cut_in_the_subject_but_whole_in_the_body(context):
    summary = "核查" * 60
    ctx = context.model_copy(update={"event": "task_answered", "outcome_summary": summary})
    message = render_message(ctx, "zh")
    assert summary not in message.subject and message.subject.endswith("…")
    assert summary in message.body


def test_deadline_time_zone_is_named(context, monkeypatch):
    monkeypatch.delenv("CAREFLOW_TIMEZONE", raising=False)
    get_settings.cache_clear()
    try:
        assert "（北京时间）" in render_message(context, "zh").body
        assert "(Beijing time)" in render_message(context, "en").body
    finally:
        get_settings.cache_clear()


def test_unknown_event_is_a_value_error_naming_it(context):
    with pytest.raises(ValueError, match="task_vanished"):
        render_message(context.model_copy(update={"event": "task_vanished"}))


def test_unknown_language_is_a_value_error_naming_it(context):
    with pytest.raises(ValueError, match="'fr'"):
        render_message(context, "fr")


def test_every_event_has_a_template_in_every_language():
    names = {p.name for p in Path(TEMPLATE_DIR).glob("*.j2") if not p.name.startswith("_")}
    assert names == {f"{event}.{lang}.j2" for event in ALL_EVENTS for lang in LANGUAGES}


def test_the_context_has_no_place_for_a_name_or_id(context):
    fields = set(MessageContext.model_fields)
    assert not fields & {"child_name", "name", "full_name", "resident_id", "id_number"}
    with pytest.raises(ValueError):
        MessageContext(**context.model_dump(), child_name=CHILD_NAME)


@pytest.mark.parametrize("leak", [
    f"儿童{CHILD_NAME}需核查",
    "儿童 林 小雨 需核查",
    f"身份证号 {CHILD_ID}",
    f"身份证号 {CHILD_ID.lower()}",
    f"身份证号 {CHILD_ID[:6]} {CHILD_ID[6:14]} {CHILD_ID[14:]}",
    f"前17位 {CHILD_ID[:17]}",
    f"旧证号 {CHILD_ID[:6] + CHILD_ID[8:17]}",
])
def test_personal_data_is_caught(leak):
    with pytest.raises(PersonalDataLeak) as caught:
        assert_no_personal_data(leak, child_name=CHILD_NAME, resident_id=CHILD_ID)
    # The error is safe to log: it never repeats the value.
    assert CHILD_NAME not in str(caught.value) and CHILD_ID[:15] not in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_personal_data_check_passes_clean_text_and_ignores_empty_values():
    assert_no_personal_data("案件 FJ-350304-2026-0042：林老师请签收", child_name=CHILD_NAME, resident_id=CHILD_ID)
    assert_no_personal_data("任何文字", child_name="", resident_id="")
    assert_no_personal_data("任何文字", child_name=CHILD_NAME, resident_id=None)  # a child without an ID number


def test_personal_data_leak_in_a_render_is_caught(context):
    leaky = context.model_copy(update={"instructions": f"请核查{CHILD_NAME}的监护情况"})
    with pytest.raises(PersonalDataLeak):
        assert_no_personal_data(render_message(leaky).body, child_name=CHILD_NAME, resident_id=CHILD_ID)


# --- a rejection (【退回】) is its own message, not an escalation ------------------------------------------

#: What a caseworker is told to do, by the rejection's kind (zh, en); ``named`` is a kind with a unit named.
REJECTION_STEPS = {
    "need_more_information": ("补充所需信息", "Add the information"),
    "not_ours": ("选择应承办的单位", "Choose the unit"),
    "named": ("无需操作：任务将改派莆田市公安局城厢分局龙桥派出所", "Nothing: the task is redirected to 莆田市公安局城厢分局龙桥派出所"),
    "other": ("按儿童所在辖区重新交办", "reissued to the unit of the child's area"),
}


def _rejected(context: MessageContext, kind: str = "need_more_information", **updates) -> MessageContext:
    """The police's rejection of a step whose answer has a checklist (已予以训诫：是／否), told to the caseworker."""
    fields = [{"name": "reprimanded", "label": "已予以训诫", "choices": {"yes": "是", "no": "否"}}]
    return context.model_copy(update={
        "event": "task_rejected", "recipient_role": "caseworker", "outcome_fields": fields, "step_title": "公安机关训诫",
        "rejected_by": "民警 陈强", "rejection_kind": kind, "rejection_reason": "请提供监护人现住址和联系电话",
        **updates})


def test_a_rejection_is_a_returned_message_with_its_category_and_text_not_an_escalation(context):
    zh = render_message(_rejected(context), "zh")
    assert zh.subject == "【退回】FJ-350304-2026-0042 公安机关训诫｜莆田市公安局荔城分局：需补充信息"
    assert zh.body.startswith("个案社工：")
    assert "莆田市公安局荔城分局（民警 陈强）退回了案件 FJ-350304-2026-0042 的任务“公安机关训诫”。" in zh.body
    assert "退回原因类别：需补充信息\n退回说明：请提供监护人现住址和联系电话" in zh.body
    assert "请您：\n  按退回说明补充所需信息，在个案页面填写补充信息后，任务将重新交办莆田市公安局荔城分局。" in zh.body
    for absent in ("督办", "办结时请填写", "已予以训诫", "need_more_information", "careflow task"):
        assert absent not in zh.subject + zh.body, absent

    en = render_message(_rejected(context), "en")
    assert en.subject == "[Returned] FJ-350304-2026-0042 公安机关训诫 | 莆田市公安局荔城分局: More information needed"
    assert "Reason category: More information needed\nReason given: 请提供监护人现住址和联系电话" in en.body
    assert "莆田市公安局荔城分局 (民警 陈强) returned the task" in en.body
    for absent in ("Escalat", "To fill in when completing", "已予以训诫", "need_more_information", "careflow task"):
        assert absent not in en.subject + en.body, absent


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("kind", sorted(REJECTION_STEPS))
def test_a_rejection_says_what_the_caseworker_does_next_by_its_kind(context, kind, lang):
    named = {"rejection_kind": "wrong_area", "reroute_unit_name": "莆田市公安局城厢分局龙桥派出所"} if kind == "named" else {}
    message = render_message(_rejected(context, kind, **named), lang)
    assert REJECTION_STEPS[kind][LANGUAGES.index(lang)] in message.body
    if kind == "named":
        assert ("退回单位建议改由：" if lang == "zh" else "Suggested unit instead: ") + "莆田市公安局城厢分局龙桥派出所" in message.body


def test_a_rejection_without_a_category_says_so_and_shows_no_code(context):
    zh = render_message(_rejected(context, ""), "zh")
    assert zh.subject.endswith("｜莆田市公安局荔城分局") and "退回原因类别：未选择" in zh.body
    assert "Reason category: not given" in render_message(_rejected(context, ""), "en").body


def test_the_managers_copy_of_a_rejection_is_for_coordination_and_a_blocked_step_is_not_reissued(context):
    manager = render_message(_rejected(context, recipient_role="manager"), "zh")
    assert manager.body.startswith("县（市、区）民政局（协调部门）：")
    assert "供您掌握和协调" in manager.body and "个案社工的后续办理：" in manager.body and "请您：" not in manager.body
    assert "What the caseworker does next:" in render_message(_rejected(context, recipient_role="manager"), "en").body
    blocked = render_message(_rejected(context, blocked=True), "zh")
    assert "已达退回次数上限，不再重新交办" in blocked.body and "重新交办莆田市" not in blocked.body
