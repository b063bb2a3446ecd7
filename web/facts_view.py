"""The need-to-know facts of a task (:mod:`careflow.facts`) labelled in the reader's language for the task
page, the API and the printable letter: no raw codes (choices and key care grounds by their labels, yes/no as
是/否, the unit's name instead of its code)."""
from __future__ import annotations

import uuid

from careflow.facts import FactsNotVisible, ParameterFact, TaskFacts, person_fact, task_facts
from web.i18n import Translator
from web.inputs import SEXES
from web.names import area_label
from web.outputs import AnswerFactOut, CaseworkerOut, FactRowOut, GuardianOut, TaskFactsOut, TaskOut
from web.scope import NotVisible, visible_task
from web.views import audit_task_view, task_out


def value_text(fact: ParameterFact, t: Translator) -> str:
    """A recorded value as a reader sees it: 是/否 for a bool, a choice's label, a place by name, text as typed."""
    if fact.type == "bool" or isinstance(fact.value, bool):
        return t.yes_no(bool(fact.value))
    if fact.type in ("choice", "service_item", "service_items"):  # service-list items by name, none as 无需转介
        return t.option(fact.name, str(fact.value))
    if fact.type == "area":  # a place by name (the school's, 方案 十一), never its code
        return area_label(str(fact.value)) or str(fact.value)
    return str(fact.value)


def _sex(sex: str, t: Translator) -> str:
    """男/女 as stored, in the reader's language."""
    return t(SEXES[sex]) if sex in SEXES else sex


def _rows(values: list[ParameterFact], t: Translator) -> list[FactRowOut]:
    return [FactRowOut(key=v.name, label=t.pick(v, "label"), value=value_text(v, t)) for v in values]


def facts_out(facts: TaskFacts, t: Translator) -> TaskFactsOut:
    """``facts`` labelled in ``t``'s language, in the order a unit reads them (child, place, report)."""
    rows: list[FactRowOut] = []

    def add(key: str, value: str) -> None:
        if key in facts.shows:
            rows.append(FactRowOut(key=key, label=t(f"fact.{key}"), value=value or "—"))

    add("child_name", facts.child_name)
    add("sex", _sex(facts.sex, t))
    if facts.age is not None:
        add("age", t("fact.age_value", age=facts.age, birth=facts.birth_date.isoformat()))
    add("address", facts.address)
    add("hukou", facts.hukou)
    add("key_care", t.list_sep.join(t.label(c, "key_care") for c in facts.key_care) or t("common.none"))
    add("report", facts.report_summary)
    if "report" in facts.shows:
        rows.extend(_rows(facts.parameters, t))
    return TaskFactsOut(
        items=rows, shows_guardians="guardians" in facts.shows,
        guardians=[GuardianOut(full_name=g.name, relation=g.relation, phone=g.phone) for g in facts.guardians],
        answers=[AnswerFactOut(step_key=a.step_key, step_title=t.pick(a, "step_title"), unit_name=a.unit_name,
                               answered_at=a.answered_at, items=_rows(a.values, t)) for a in facts.answers],
        caseworker=CaseworkerOut(name=facts.caseworker.name, phone=facts.caseworker.phone),
    )


def task_with_facts(db, user, task_id: uuid.UUID, t: Translator, purpose: str = "page") -> TaskOut:
    """The task ``task_id`` as ``user`` sees it, with the child's facts its step shows (audited ``task.viewed``
    and ``task.child_facts_viewed``). Raises :class:`web.scope.NotVisible` outside the user's scope."""
    task = visible_task(db, user, task_id)
    audit_task_view(db, task, actor=user.username)
    out = task_out(db, task, t)
    try:
        facts = task_facts(db, task, user, purpose=purpose)
    except FactsNotVisible:
        raise NotVisible(f"no task {task_id}") from None
    out.facts = facts_out(facts, t) if facts is not None else None
    if task.answered_by:  # a person signs with a name, not a login (issue 12 item 7)
        out.answered_by_name = person_fact(db, task.answered_by).name
    return out


__all__ = ["facts_out", "task_with_facts", "value_text"]
