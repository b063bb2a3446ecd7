"""Every template, every event, every role, both languages -- rendered from a real case -- and the referral letter:
none holds the child's full name or resident ID number (DOMAIN.md §7, §8)."""
from __future__ import annotations

import re

import pytest

from careflow.cases import create_pathway_run, open_case
from careflow.step_tasks import open_step_task
from careflow.tasks import transition_task
from models.policy import load_policy
from models.task import TaskState
from notifications.digest import _items_and_children
from notifications.letters import page_text, referral_letter
from notifications.messages import describe_outcome, enqueue_task_message, task_message_context
from notifications.render import (
    EVENTS, LANGUAGES, DigestContext, assert_no_personal_data, render_digest, render_message,
)
from tests.notifications.conftest import OPENED_AT

ROLES = ("officer", "supervisor", "manager", "caseworker")


@pytest.fixture
def real_case(session, register):
    """A registered child (full name, valid resident ID) with a guardianship pathway and a task for every step."""
    registration = register(full_name="林小雨")
    child = registration.child
    case = open_case(session, child_id=child.id, caseworker="chen.caseworker",
                     summary="祖父母监护，父母在外务工")
    run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="chen.caseworker")
    session.flush()
    steps = [step.key for step in load_policy().pathways["guardianship"].steps]
    tasks = [open_step_task(session, pathway_run_id=run.id, step_key=key, now=OPENED_AT) for key in steps]
    session.flush()
    # One task answered with an outcome, so task_answered carries the outcome text too.
    police = next(t for t in tasks if t.step_key == "police_reprimand")
    transition_task(session, police, TaskState.completed, actor="城厢分局 陈警官",
                    outcome={"reprimanded": True, "family_education_ordered": True, "child_unsafe": False})
    session.flush()
    return child, case, tasks


def assert_clean(text: str, child) -> None:
    assert child.full_name not in text
    assert child.resident_id not in text and child.resident_id[:17] not in text
    assert_no_personal_data(text, child_name=child.full_name, resident_id=child.resident_id)
    # No 15- or 18-digit number at all (an ID in any form).
    assert not re.search(r"(?<!\d)\d{15}(\d{2}[\dXx])?(?!\d)", text)


def test_every_event_for_every_step_role_and_language(session, real_case):
    child, _case, tasks = real_case
    rendered = 0
    for task in tasks:
        for event in EVENTS:
            summary = describe_outcome(session, task) if task.outcome else "逾期未签收"
            for role in ROLES:
                ctx = task_message_context(session, task, event, role=role, outcome_summary=summary)
                for lang in LANGUAGES:
                    message = render_message(ctx, lang)
                    for text in message:
                        assert_clean(text, child)
                    assert ctx.case_reference in message.body
                    rendered += 1
    assert rendered == len(tasks) * len(EVENTS) * len(ROLES) * len(LANGUAGES)


def test_every_stored_message_of_the_case_is_clean(session, real_case):
    """Through the outbox itself (which also runs the check before storing)."""
    child, _case, tasks = real_case
    for task in tasks:
        for event in EVENTS:
            stored = enqueue_task_message(session, task=task, event=event, occasion=f"pd-{event}")
            assert_clean(stored.subject, child)
            assert_clean(stored.body, child)


@pytest.mark.parametrize("kind", ["burst", "daily"])
@pytest.mark.parametrize("lang", LANGUAGES)
def test_digests_of_the_case_are_clean(session, real_case, kind, lang):
    child, _case, tasks = real_case
    items, children = _items_and_children(session, tasks, "task_requested")
    assert [c.id for c in children] == [child.id] * len(tasks)
    message = render_digest(DigestContext(kind=kind, agency_unit_name="莆田市公安局城厢分局", unit_code="police-350302",
                                          items=items, window_minutes=10, date_local="2026-09-30",
                                          link="http://127.0.0.1:4200"), lang)
    for text in message:
        assert_clean(text, child)
    for task in tasks:
        assert task.short_ref in message.body


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_referral_letter_of_every_step_is_clean(session, real_case, lang):
    child, case, tasks = real_case
    for task in tasks:
        page = referral_letter(session, task, lang=lang)
        assert_clean(page, child)
        assert_clean(page_text(page), child)
        assert case.reference in page and task.short_ref in page


def test_a_leak_is_caught_before_anything_is_stored(session, real_case, monkeypatch):
    """If a step's text ever carried the name (a policy typo), the outbox refuses to store the message."""
    from notifications import messages as outbox
    from notifications.render import PersonalDataLeak

    child, _case, tasks = real_case
    original = outbox.task_message_context

    def leaky(*args, **kwargs):
        return original(*args, **kwargs).model_copy(update={"instructions": f"请核查{child.full_name}的情况"})

    monkeypatch.setattr(outbox, "task_message_context", leaky)
    with pytest.raises(PersonalDataLeak):
        enqueue_task_message(session, task=tasks[0], event="task_requested", occasion="leak-test")
