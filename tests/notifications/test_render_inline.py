"""The message templates' partials are inlined when loaded (notifications.render._InliningLoader, for the sweep's
speed): every event, language and kind of context renders exactly as with Jinja's own include."""
from __future__ import annotations

import itertools

import jinja2

from notifications import render
from notifications.render import EVENTS, LANGUAGES, TEMPLATE_DIR, MessageContext


def test_inlined_partials_render_exactly_as_jinja_includes(monkeypatch):
    plain = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), undefined=jinja2.StrictUndefined,
                               autoescape=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    inlined = render._env
    rendered = 0
    for event, lang, provisional, ack, role, summary, commands in itertools.product(
            EVENTS, LANGUAGES, (True, False), ("", "2026-10-01 11:00"), ("officer", "caseworker", "manager"),
            ("", "退回原因：该户已搬离"), ({}, {"acknowledge": "careflow task ack a1b2c3d4", "complete": "c"})):
        ctx = MessageContext(event=event, case_reference="FJ-350302-2026-0042", pathway_title="监护干预",
                             step_title="公安训诫", agency_unit_name="城厢分局", task_ref="a1b2c3d4",
                             due_at_local="2026-10-10 23:59", ack_due_at_local=ack, deadline_text="3个工作日",
                             provisional=provisional, instructions="第一行\n第二行",
                             outcome_fields=[{"name": "done", "label": "已办结"}], answer_commands=commands,
                             link="http://127.0.0.1/runs/1", escalation_level=1, recipient_role=role,
                             outcome_summary=summary)
        monkeypatch.setattr(render, "_env", inlined)
        fast = render.render_message(ctx, lang)
        monkeypatch.setattr(render, "_env", plain)
        assert render.render_message(ctx, lang) == fast, (event, lang)
        rendered += 1
    assert rendered == len(EVENTS) * len(LANGUAGES) * 48
    assert "{% include" not in inlined.loader.get_source(inlined, "task_reminder.zh.j2")[0]
